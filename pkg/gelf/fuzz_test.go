package gelf

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// FuzzEncode feeds random lines through Parse and Encode, with random record
// flags and caps, and checks every documented property of the message
// (checkMessage): valid JSON and UTF-8, at most the cap, non-empty
// short_message, key names, value types, level, _auditID and _stage.
func FuzzEncode(f *testing.F) {
	paths, _ := filepath.Glob("../audit/testdata/samples/*/*")
	synthetic, _ := filepath.Glob("testdata/synthetic/*.json")
	paths = append(paths, synthetic...)
	for _, p := range paths {
		for i, r := range fileRecords(f, p, filepath.Base(p)) {
			if i < 20 {
				f.Add(r.Line, uint8(i), uint16(i*97))
			}
		}
	}
	big, _ := bigLine(20000, map[string]string{"a.b/c_int": strings.Repeat("\x01", 3000)})
	for _, s := range []string{
		"", "\x00", "\xff", "[]", `{"kind":0}`, "{", `{"auditID":"a","stage":"s"}`,
		`{"auditID":"` + strings.Repeat("\"", 3000) + `","stage":"s","user":{"username":"` + strings.Repeat("\\u0000", 2000) + `"}}`,
		`{"auditID":"a","stage":"s","annotations":{"":"x","_":"y","_int":"z","a":""},"sourceIPs":["x"]}`,
		`{"auditID":"a","stage":"s","requestObject":null,"responseObject":{"requestObject":1}}`,
		"{\"auditID\":\"a\xff\",\"stage\":\"s\xc3\",\"verb\":\"\xff\",\"user\":{\"username\":\"" + strings.Repeat("\xfe", 150) + "\"},\"objectRef\":{\"resource\":\"namespaces\",\"namespace\":\"n\xff\",\"name\":\"n\xfe\"},\"annotations\":{\"k\":\"\\ud800\xff\"}}",
		big, metadataLine,
	} {
		f.Add([]byte(s), uint8(0), uint16(0))
	}
	f.Fuzz(func(t *testing.T, line []byte, flags uint8, capSel uint16) {
		cfg := Config{Host: "node-1", Stream: "test-token"}
		switch capSel % 4 {
		case 0: // defaults
		case 1:
			cfg.MaxMessageBytes = MinMaxMessageBytes
			cfg.MaxFieldBytes = MinMaxFieldBytes
		case 2:
			cfg.MaxMessageBytes = MinMaxMessageBytes + int(capSel)
			cfg.FullMessage = FullMessageNone
		case 3:
			cfg.MaxMessageBytes = MinMaxMessageBytes + int(capSel)%2000
			cfg.MaxFieldBytes = 300 + int(capSel)%2000
			cfg.Cluster = "c\"\\é"
		}
		e := newTestEncoder(t, cfg)
		orig := bytes.Clone(line)
		r := &Record{Line: line, Source: "fuzz.log", Offset: int64(flags) * 1000,
			Partial: flags&1 != 0, LineTruncated: flags&2 != 0, LineSize: int64(len(line)) + int64(flags)}
		var ev audit.Event
		if err := audit.Parse(line, &ev); err != nil {
			r.ParseErr = err
		} else {
			r.Event = &ev
		}
		prefix := []byte("keep")
		out, res := e.Encode(prefix, r)
		if string(out[:4]) != "keep" {
			t.Fatal("prefix of dst overwritten")
		}
		checkMessage(t, e.Config(), r, out[4:], res)
		if !bytes.Equal(line, orig) {
			t.Fatal("Encode modified the record's line")
		}
		// Deterministic: encoding again gives the same bytes.
		again, _ := e.Encode(nil, r)
		if !bytes.Equal(again, out[4:]) {
			t.Fatal("second Encode differs")
		}
	})
}
