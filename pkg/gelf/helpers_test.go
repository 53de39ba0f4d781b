package gelf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/audittail/audittail/pkg/audit"
)

// fixedNow is the clock of every test encoder.
var fixedNow = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// testConfig is the configuration of the golden files.
func testConfig() Config {
	return Config{Host: "node-1", Stream: "test-token"}
}

func newTestEncoder(tb testing.TB, cfg Config) *Encoder {
	tb.Helper()
	e, err := NewEncoder(cfg)
	if err != nil {
		tb.Fatalf("NewEncoder: %v", err)
	}
	e.now = func() time.Time { return fixedNow }
	return e
}

// record parses line the way the pipeline does and returns its Record.
func record(line []byte, source string, offset int64) *Record {
	r := &Record{Line: line, Source: source, Offset: offset, LineSize: int64(len(line))}
	ev := new(audit.Event)
	if err := audit.Parse(line, ev); err != nil {
		r.ParseErr = err
	} else {
		r.Event = ev
	}
	return r
}

// fileRecords splits a sample file into lines like the tailer does (on '\n',
// the newline excluded, a last fragment without newline kept as a line).
func fileRecords(tb testing.TB, path, source string) []*Record {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read sample: %v", err)
	}
	var recs []*Record
	var off int64
	for len(data) > 0 {
		line := data
		n := len(data)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, n = data[:i], i+1
		}
		recs = append(recs, record(line, source, off))
		off += int64(n)
		data = data[n:]
	}
	return recs
}

var (
	keyRE       = regexp.MustCompile(`^_?[A-Za-z0-9_]+$`)
	timestampRE = regexp.MustCompile(`^-?[0-9]+\.[0-9]{6}$`)
	reserved    = map[string]bool{
		"_id": true, "_source": true, "_message": true, "_full_message": true, "_timestamp": true,
		"_level": true, "_line": true, "_file": true, "_facility": true, "_version": true, "_host": true,
		"_short_message": true, "_streams": true, "_X-OVH-CONTENT-SIZE": true, "_X-OVH-TO-FREEZE": true,
		"_all": true, "_index": true, "_type": true, "_score": true, "_ttl": true,
	}
)

// message is a decoded GELF message: every top-level value, as a string or a
// json.Number, in order.
type message struct {
	keys   []string
	fields map[string]any
}

func (m message) str(k string) string { s, _ := m.fields[k].(string); return s }

// decodeMessage decodes msg and fails on anything GELF receivers would
// mishandle: invalid JSON or UTF-8, duplicate keys, values other than strings
// and numbers, trailing data.
func decodeMessage(msg []byte) (message, error) {
	m := message{fields: map[string]any{}}
	if !utf8.Valid(msg) {
		return m, errors.New("not valid UTF-8")
	}
	if !json.Valid(msg) {
		return m, errors.New("not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(msg))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return m, fmt.Errorf("does not start with an object: %v %v", tok, err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return m, err
		}
		k := tok.(string)
		if _, dup := m.fields[k]; dup {
			return m, fmt.Errorf("duplicate key %q", k)
		}
		v, err := dec.Token()
		if err != nil {
			return m, err
		}
		switch v.(type) {
		case string, json.Number:
		default:
			return m, fmt.Errorf("key %q: value %v (%T) is not a string or number", k, v, v)
		}
		m.keys = append(m.keys, k)
		m.fields[k] = v
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return m, fmt.Errorf("does not end the object: %v %v", tok, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return m, fmt.Errorf("trailing data: %v", err)
	}
	return m, nil
}

// checkMessage asserts every property the package documents for one message.
func checkMessage(tb testing.TB, cfg Config, r *Record, msg []byte, res Result) message {
	tb.Helper()
	fail := func(format string, args ...any) {
		tb.Helper()
		tb.Fatalf("%s: "+format+"\nmessage: %.2000s", append([]any{r.Source}, append(args, msg)...)...)
	}
	if len(msg) > cfg.MaxMessageBytes {
		fail("%d bytes, over the cap %d", len(msg), cfg.MaxMessageBytes)
	}
	m, err := decodeMessage(msg)
	if err != nil {
		fail("%v", err)
	}
	for _, k := range m.keys {
		if k == "_X-OVH-TOKEN" {
			continue
		}
		if !keyRE.MatchString(k) {
			fail("key %q does not match %s", k, keyRE)
		}
		if reserved[k] || strings.HasPrefix(k, "_gl2_") {
			fail("reserved key %q", k)
		}
		v := m.fields[k]
		switch {
		case k == "timestamp" || k == "level":
		case strings.HasSuffix(k, "_int") || strings.HasSuffix(k, "_long"):
			n, ok := v.(json.Number)
			if _, err := n.Int64(); !ok || err != nil {
				fail("%s = %v, want an integer", k, v)
			}
		case strings.HasSuffix(k, "_num") || strings.HasSuffix(k, "_float") || strings.HasSuffix(k, "_double"):
			n, ok := v.(json.Number)
			if _, err := n.Float64(); !ok || err != nil {
				fail("%s = %v, want a number", k, v)
			}
		case strings.HasSuffix(k, "_bool"):
			if v != "true" && v != "false" {
				fail("%s = %v, want \"true\" or \"false\"", k, v)
			}
		case strings.HasSuffix(k, "_date"):
			s, _ := v.(string)
			if _, err := time.Parse("2006-01-02T15:04:05.000Z", s); err != nil {
				fail("%s = %v, want an ISO 8601 UTC date with ms: %v", k, v, err)
			}
		case strings.HasSuffix(k, "_ip"):
			s, _ := v.(string)
			if _, err := netip.ParseAddr(s); err != nil {
				fail("%s = %v, want an IP address", k, v)
			}
		case strings.HasSuffix(k, "_geolocation"):
			fail("unexpected %s", k)
		default:
			s, ok := v.(string)
			if !ok {
				fail("%s = %v: an unsuffixed field must be a string (LDP types it so)", k, v)
			}
			if s == "" && k != "short_message" {
				fail("%s is empty", k)
			}
		}
	}
	if m.fields["version"] != "1.1" {
		fail("version = %v", m.fields["version"])
	}
	if h := m.str("host"); strings.TrimSpace(h) == "" || h != cfg.Host {
		fail("host = %q, want %q", h, cfg.Host)
	}
	if s := m.str("short_message"); strings.TrimSpace(s) == "" || len(s) > maxShortBytes {
		fail("short_message %q empty or over %d bytes", s, maxShortBytes)
	}
	ts, _ := m.fields["timestamp"].(json.Number)
	if !timestampRE.MatchString(string(ts)) {
		fail("timestamp %q, want seconds with 6 decimals", ts)
	}
	lvl, _ := m.fields["level"].(json.Number)
	if l, err := lvl.Int64(); err != nil || l < 2 || l > 6 {
		fail("level %v, want 2..6", lvl)
	}
	if tok, ok := m.fields["_X-OVH-TOKEN"]; ok != (cfg.Stream != "") || ok && tok != cfg.Stream {
		fail("_X-OVH-TOKEN = %v, want %q", tok, cfg.Stream)
	}
	if m.fields["_agent"] != "audittail" {
		fail("_agent = %v", m.fields["_agent"])
	}
	for _, k := range []string{"_requestObject", "_responseObject"} {
		for _, mk := range m.keys {
			if strings.HasPrefix(mk, k) {
				fail("body flattened into %s", mk)
			}
		}
	}

	bad := r.ParseErr != nil || r.Event == nil
	if bad {
		if lvl != "4" {
			fail("level %v for an unparsable line, want 4", lvl)
		}
		if m.str("_parse_error") == "" {
			fail("no _parse_error")
		}
		if _, ok := m.fields["_auditID"]; ok {
			fail("_auditID on an unparsable line")
		}
	} else {
		// Each invalid byte is sent as U+FFFD.
		id, stage := sanitize(r.Event.AuditID), sanitize(r.Event.Stage)
		if res.Truncated {
			// Step 3 may cut them; they stay prefixes.
			if !strings.HasPrefix(id, m.str("_auditID")) || m.str("_auditID") == "" ||
				!strings.HasPrefix(stage, m.str("_stage")) || m.str("_stage") == "" {
				fail("_auditID/_stage = %q/%q, want prefixes of %q/%q", m.str("_auditID"), m.str("_stage"), id, stage)
			}
		} else if !hasControl(id+stage) && (m.str("_auditID") != id || m.str("_stage") != stage) {
			fail("_auditID/_stage = %q/%q, want %q/%q", m.str("_auditID"), m.str("_stage"), id, stage)
		}
	}
	if flagged := bad || r.Partial || r.LineTruncated; flagged {
		if _, ok := m.fields["_source_offset_int"]; !ok {
			fail("flagged record without _source_offset_int")
		}
	}

	_, truncated := m.fields["_truncated_bool"]
	if truncated != res.Truncated {
		fail("_truncated_bool present = %v, Result.Truncated = %v", truncated, res.Truncated)
	}
	if res.Truncated {
		n, _ := m.fields["_original_size_int"].(json.Number)
		if orig, err := n.Int64(); err != nil || int(orig) != res.OriginalSize || res.OriginalSize <= len(msg)-trailerMax {
			fail("_original_size_int = %v, Result.OriginalSize = %d, message %d bytes", n, res.OriginalSize, len(msg))
		}
		if m.keys[len(m.keys)-1] != "_original_size_int" {
			fail("trailer is not last")
		}
	} else {
		if res.OriginalSize != len(msg) {
			fail("Result.OriginalSize = %d, message %d bytes", res.OriginalSize, len(msg))
		}
		if _, ok := m.fields["_original_size_int"]; ok {
			fail("_original_size_int without truncation")
		}
		// full_message is the raw line, exactly, when nothing was cut.
		wantFull := bad || cfg.FullMessage != FullMessageNone
		if got, ok := m.fields["full_message"]; ok != (wantFull && len(r.Line) > 0) {
			fail("full_message present = %v, want %v", ok, wantFull)
		} else if ok && utf8.Valid(r.Line) && got != string(r.Line) {
			fail("full_message differs from the raw line")
		}
	}
	return m
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 })
}
