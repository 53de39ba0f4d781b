package gelf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// manyKeysLine is an event with n annotations and n user.extra keys.
func manyKeysLine(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b","stage":"ResponseComplete","verb":"get","user":{"username":"mallory","extra":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"example.com/extra-%d":["v"]`, i)
	}
	b.WriteString(`}},"annotations":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"example.com/note-%d":"x"`, i)
	}
	b.WriteString(`}}`)
	return b.Bytes()
}

// TestEncoderScratchBounded: after an event with 9,000 annotations and
// user.extra keys (a line under 1 MiB, from which the parser keeps every
// element), the encoder keeps no scratch space sized for it, and
// parsing and encoding ordinary events allocates nothing again once one of
// them has been through.
func TestEncoderScratchBounded(t *testing.T) {
	e := newTestEncoder(t, testConfig())
	var (
		ev  audit.Event
		buf []byte
	)
	run := func(line []byte) Result {
		t.Helper()
		if err := audit.Parse(line, &ev); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		var res Result
		buf, res = e.Encode(buf[:0], &Record{Line: line, Event: &ev})
		return res
	}
	ordinary := []byte(metadataLine)
	run(ordinary)

	huge := manyKeysLine(9000)
	if len(huge) > 1<<20 {
		t.Fatalf("test line is %d bytes: over 1 MiB, the parser would not keep every element", len(huge))
	}
	r := record(huge, "audit.log", 0)
	out, res := e.Encode(nil, r)
	m := checkMessage(t, e.Config(), r, out, res)
	if !res.Truncated || m.str("_annotations_example_com_note_0") != "x" || m.str("_user_extra_example_com_extra_0") != "v" {
		t.Fatalf("huge event: Truncated %v, fields %v", res.Truncated, m.keys)
	}
	if c := cap(e.annotations); c > keepEntries {
		t.Errorf("cap(annotations) = %d after the huge event, want at most %d", c, keepEntries)
	}
	if c := cap(e.extra); c > keepEntries {
		t.Errorf("cap(extra) = %d after the huge event, want at most %d", c, keepEntries)
	}
	// At most maxAnnotations names of at most maxKeyName bytes, a prefix and
	// a suffix ("_str" or a collision number).
	if c := cap(e.names); c > 2*maxAnnotations*(len("_annotations_")+maxKeyName+8) {
		t.Errorf("cap(names) = %d", c)
	}
	if c := cap(e.nameEnds); c > 2*maxAnnotations {
		t.Errorf("cap(nameEnds) = %d", c)
	}

	run(ordinary) // one warm-up: new maps in the Event, new scratch slices
	if allocs := testing.AllocsPerRun(10, func() { run(ordinary) }); allocs != 0 {
		t.Errorf("parse+encode allocates %v times per ordinary event after the huge one", allocs)
	}
}

// allocated returns how many bytes f allocates on the heap.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestEncodeLongLineMemory bounds what the agent's hot path allocates for a
// 16 MiB line: parse and encode cost at most about the line's size (the copy
// of a decoded string), and encoding alone costs in proportion to the
// message cap, not to the line.
func TestEncodeLongLineMemory(t *testing.T) {
	const size = 16 << 20
	const slack = 1 << 20
	head := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a","stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/default/configmaps","objectRef":{"resource":"configmaps","namespace":"default","name":"x"},"requestObject":{"kind":"ConfigMap"}`
	tests := []struct {
		name        string
		line        string
		parseEncode uint64 // bytes parse and encode may allocate
		encode      uint64 // bytes encode alone may allocate
	}{
		// The username is 16 MiB of invalid UTF-8: the fast decoder copies
		// it as it is, the encoder writes its start as U+FFFD.
		{"invalid UTF-8", head + `,"user":{"username":"` + strings.Repeat("\xff", size) + `"}}`, size + size/10 + slack, slack},
		// Small bodies, a long annotation: step 1 strips the bodies from a
		// 16 MiB line, but copies only what can fit in a message.
		{"long annotation", head + `,"annotations":{"note":"` + strings.Repeat("a", size) + `"}}`, size + size/10 + slack, slack},
		// A key written twice and a 16 MiB body: refused without a second
		// decode, which would copy the body; the message carries the start
		// of the raw line.
		{"key written twice", head + `,"verb":"get","responseObject":{"data":"` + strings.Repeat("a", size) + `"}}`, slack, slack},
		// A key with an escape, of almost 1 MiB: encoding/json decodes the
		// line (which costs it about 24 times the key: see
		// audit.maxFallbackLine), but step 1 does not unescape a key too
		// long to name a body.
		{"long escaped key", head + `,"\u0061` + strings.Repeat("\xff", 1<<20-len(head)-16) + `":1}`, 32 << 20, slack},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := []byte(tt.line)
			if len(line) > size+1024 {
				t.Fatalf("test line is %d bytes", len(line))
			}
			e := newTestEncoder(t, testConfig())
			var ev audit.Event
			buf := make([]byte, 0, 64<<10)
			encode := func(line []byte) (*Record, Result) {
				r := &Record{Line: line, Source: "audit.log", LineSize: int64(len(line))}
				if err := audit.Parse(line, &ev); err != nil {
					r.ParseErr = err
				} else {
					r.Event = &ev
				}
				var res Result
				buf, res = e.Encode(buf[:0], r)
				return r, res
			}
			encode([]byte(metadataLine)) // warm up, as in the agent

			var (
				r   *Record
				res Result
			)
			n := allocated(func() { r, res = encode(line) })
			t.Logf("parse and encode allocated %d bytes for a line of %d", n, len(line))
			if n > tt.parseEncode {
				t.Errorf("parse and encode allocated %d bytes for a line of %d, want at most %d", n, len(line), tt.parseEncode)
			}
			m := checkMessage(t, e.Config(), r, buf, res)
			if !res.Truncated || m.str("_auditID") != "a" && r.ParseErr == nil {
				t.Errorf("Truncated %v, _auditID %q", res.Truncated, m.str("_auditID"))
			}

			msg := bytes.Clone(buf)
			n = allocated(func() { buf, res = e.Encode(buf[:0], r) })
			t.Logf("encode allocated %d bytes", n)
			if n > tt.encode {
				t.Errorf("encode allocated %d bytes for a line of %d, want at most %d", n, len(line), tt.encode)
			}
			if !bytes.Equal(buf, msg) {
				t.Error("encoding the record again gives another message")
			}
		})
	}
}

// jsonEvent decodes line with encoding/json, which replaces each invalid
// UTF-8 byte with U+FFFD, into the Event audit.Parse would give (the lines
// of the test have UTC timestamps and no null body).
func jsonEvent(t *testing.T, line []byte) *audit.Event {
	t.Helper()
	var ev audit.Event
	if err := json.Unmarshal(line, &ev); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return &ev
}

// TestEncodeInvalidUTF8LikeJSON: audit.Parse keeps invalid UTF-8 in strings
// as it is, where encoding/json writes U+FFFD for each invalid byte; the
// message must be byte for byte the one encoded from encoding/json's
// decoding, with every cut (short_message parts, fields, map fan-out) and
// comparison made as if on U+FFFD.
func TestEncodeInvalidUTF8LikeJSON(t *testing.T) {
	bad := func(n int) string { return strings.Repeat("\xff", n) }
	var ann, extra []string
	for i := range maxAnnotations + 3 {
		ann = append(ann, fmt.Sprintf("\"example.com/note-%02d\":\"v%s\"", i, bad(i)))
		extra = append(extra, fmt.Sprintf("\"example.com/extra-%02d\":[\"w%s\",\"\xc3\"]", i, bad(i)))
	}
	lines := []string{
		// A username of 100 invalid bytes is 300 bytes of U+FFFD: over the
		// 128 of its short_message part.
		`{"auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"` + bad(100) + `","groups":["g` + bad(3) + "\",\"\xe2\x82\"]},\"sourceIPs\":[\"fe80::1%" + bad(2) + "\",\"10.0.0.1\xc3\"]}",
		// A namespace named like itself once read as U+FFFD.
		"{\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"delete\",\"objectRef\":{\"resource\":\"namespaces\",\"namespace\":\"ns\xff\",\"name\":\"ns\xfe\"},\"responseStatus\":{\"code\":200,\"message\":\"m" + bad(5) + `"}}`,
		// Parts and fields cut in the middle of invalid bytes and of valid
		// sequences.
		`{"auditID":"a` + bad(20) + "\",\"stage\":\"ResponseComplete\",\"verb\":\"list\xf0\x9f\",\"requestURI\":\"/api/" + bad(20000) + `","userAgent":"` + strings.Repeat("é\xff", 9000) +
			`","objectRef":{"resource":"pods` + bad(127) + "\",\"subresource\":\"\xc3\xa9" + bad(200) + `","namespace":"` + strings.Repeat("\xed\xa0\x80", 50) + `","name":"` + strings.Repeat("x", 126) + "\xff\"}}",
		// More annotations and user.extra keys than are sent: what is left
		// out counts towards _original_size_int.
		`{"auditID":"a","stage":"ResponseComplete","verb":"get","user":{"username":"u","extra":{` + strings.Join(extra, ",") + `}},"annotations":{` + strings.Join(ann, ",") + `},"requestReceivedTimestamp":"2026-11-21T10:00:00.100000Z","stageTimestamp":"2026-11-21T10:00:00.250000Z"}`,
		// Derived fields: an exec command whose %-escapes sit next to raw
		// invalid bytes (which must not combine into a character), the
		// parts of a service account name, impersonation, the peer address
		// and the aliases of annotations.
		"{\"auditID\":\"a\",\"stage\":\"ResponseStarted\",\"verb\":\"create\",\"requestURI\":\"/api/v1/namespaces/n/pods/p/exec?command=%E2\x82\xac&command=\xe2%82%AC\xff%C3&container=c\xff\"," +
			"\"user\":{\"username\":\"system:serviceaccount:n\xff:s\xfe\"},\"impersonatedUser\":{\"username\":\"b\xff\"},\"sourceIPs\":[\"1.2.3.4\",\"fe80::1%\xff\"]," +
			"\"objectRef\":{\"resource\":\"pods\",\"subresource\":\"exec\",\"namespace\":\"n\",\"name\":\"p\"},\"annotations\":{\"authorization.k8s.io/decision\":\"forbid\xff\",\"k8s.io/removed-release\":\"1.\xff\"}}",
		// A short_message of a verb that is one invalid byte and a blank
		// username: U+FFFD is not blank.
		"{\"auditID\":\"a\",\"stage\":\"ResponseComplete\",\"verb\":\"\xff\",\"user\":{\"username\":\" \xa0\"}}",
	}
	configs := []Config{
		testConfig(),
		{Host: "node-1", MaxMessageBytes: MinMaxMessageBytes, MaxFieldBytes: MinMaxFieldBytes},
		{Host: "node-1", MaxMessageBytes: 20000, MaxFieldBytes: 300, FullMessage: FullMessageNone},
	}
	for i, l := range lines {
		line := []byte(l)
		var ev audit.Event
		if err := audit.Parse(line, &ev); err != nil {
			t.Fatalf("line %d: Parse: %v", i, err)
		}
		ref := jsonEvent(t, line)
		if a, _ := json.Marshal(&ev); string(a) == string(mustMarshal(t, ref)) {
			t.Fatalf("line %d: Parse gave encoding/json's event: it does not keep invalid bytes, or the line has none", i)
		}
		for _, cfg := range configs {
			e := newTestEncoder(t, cfg)
			r := &Record{Line: line, Source: "audit.log", Event: &ev}
			got, gotRes := e.Encode(nil, r)
			checkMessage(t, e.Config(), r, got, gotRes)
			want, wantRes := e.Encode(nil, &Record{Line: line, Source: "audit.log", Event: ref})
			if !bytes.Equal(got, want) || gotRes != wantRes {
				t.Errorf("line %d, cap %d: message from Parse's event:\n%.3000s\n%+v\nfrom encoding/json's:\n%.3000s\n%+v",
					i, cfg.MaxMessageBytes, got, gotRes, want, wantRes)
			}
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStripBodiesLimit: with a limit, stripBodies appends the first limit
// bytes of what it appends without one, and reports the same ok.
func TestStripBodiesLimit(t *testing.T) {
	line, _ := bigLine(3000, map[string]string{"k": strings.Repeat("é\"", 100)})
	lines := []string{line, metadataLine, `{}`, ` { "requestObject" : {} , "a":1 } `, `{"a":1`, `[]`}
	for _, l := range lines {
		whole, wholeOK := stripBodies([]byte("x"), []byte(l), unlimited)
		for limit := -1; limit <= len(whole)+2; limit++ {
			got, ok := stripBodies([]byte("x"), []byte(l), limit)
			want := whole
			if wholeOK {
				want = whole[:1+min(max(limit, 0), len(whole)-1)]
			}
			if ok != wholeOK || !bytes.Equal(got, want) {
				t.Fatalf("stripBodies(%.50s, %d) = %.80q, %v; want %.80q, %v", l, limit, got, ok, want, wholeOK)
			}
		}
	}
}

// FuzzAppendPart checks appendPart and sameText on any bytes against their
// definition: what the version for valid UTF-8 gives on the string with each
// invalid byte replaced by U+FFFD (sanitize), as encoding/json decodes it.
func FuzzAppendPart(f *testing.F) {
	for _, s := range escapeSeeds() {
		f.Add(s, s+"\xff", 8)
	}
	f.Add(strings.Repeat("\xff", 200), strings.Repeat("\xfe", 200), maxShortPart)
	f.Add("ns\xff", "ns\xfe", 3)
	f.Add("a\xe2\x82", "a\xef\xbf\xbd\xef\xbf\xbd", 4)
	f.Fuzz(func(t *testing.T, s, other string, max int) {
		max = max & 0x1ff
		clean := sanitize(s)
		want := []byte("#" + clean)
		if len(clean) > max {
			want = append([]byte("#"), cutUTF8(clean, max)+"..."...)
		}
		if got := appendPart([]byte("#"), s, max); !bytes.Equal(got, want) {
			t.Fatalf("appendPart(%q, %d) = %q, want %q", s, max, got, want)
		}
		if got, want := sameText(s, other), clean == sanitize(other); got != want {
			t.Fatalf("sameText(%q, %q) = %v, want %v", s, other, got, want)
		}
	})
}

// TestEncodeFlagsOmittedElements: an event whose parser left elements out
// (a line over 1 MiB with more than MaxKeptElements of them) is flagged
// _truncated_bool, with the omitted bytes in _original_size_int.
func TestEncodeFlagsOmittedElements(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"omit","stage":"ResponseComplete","verb":"get","sourceIPs":["10.0.0.1"`)
	for b.Len() < 2<<20 {
		b.WriteString(`,"10.0.0.2"`)
	}
	b.WriteString(`],"user":{"username":"mallory"}}`)
	var ev audit.Event
	if err := audit.Parse(b.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Omitted == 0 {
		t.Fatal("nothing omitted: the line does not exceed MaxKeptElements")
	}
	enc := newTestEncoder(t, Config{FullMessage: FullMessageNone})
	msg, res := enc.Encode(nil, &Record{Line: b.Bytes(), Event: &ev})
	m, err := decodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Truncated || m.str("_truncated_bool") != "true" || m.str("_user_username") != "mallory" {
		t.Fatalf("result %+v, message %.300s", res, msg)
	}
	if res.OriginalSize < len(msg)+ev.OmittedBytes {
		t.Errorf("original size %d, want at least %d + %d omitted bytes", res.OriginalSize, len(msg), ev.OmittedBytes)
	}
}
