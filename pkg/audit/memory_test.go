package audit

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"
)

// ordinaryLine is a Metadata event with every map and list the Event keeps
// for reuse, impersonation included, in the apiserver's key order.
const ordinaryLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"4c2b1a0e-9d8c-4b7a-8f6e-5d4c3b2a1f0e","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{"username":"alice","uid":"u1","groups":["dev","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["X509SHA256=ab12"]}},"impersonatedUser":{"username":"bob","groups":["ops"],"extra":{"scopes.authorization.openshift.io":["user:full"]}},"sourceIPs":["10.0.0.1","192.168.1.2"],"userAgent":"kubectl/v1.31.0","objectRef":{"resource":"pods","namespace":"default","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-21T10:00:00.100000Z","stageTimestamp":"2026-11-21T10:00:00.102000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":""}}`

// hugeMapsLine is an event with n annotations, n user.extra keys, n
// impersonatedUser.extra keys, and lists of n/20 groups and source IPs.
func hugeMapsLine(n int) []byte {
	var b bytes.Buffer
	list := func(format string, k int) {
		b.WriteByte('[')
		for i := range k {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, format, i)
		}
		b.WriteByte(']')
	}
	object := func(format string) {
		b.WriteByte('{')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, format, i)
		}
		b.WriteByte('}')
	}
	b.WriteString(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"b","stage":"ResponseComplete","verb":"get","user":{"username":"mallory","groups":`)
	list(`"group-%d"`, n/20)
	b.WriteString(`,"extra":`)
	object(`"example.com/extra-%d":["v"]`)
	b.WriteString(`},"impersonatedUser":{"username":"eve","groups":`)
	list(`"imp-group-%d"`, n/20)
	b.WriteString(`,"extra":`)
	object(`"example.com/imp-extra-%d":["w"]`)
	b.WriteString(`},"sourceIPs":`)
	list(`"10.0.%d.1"`, n/20)
	b.WriteString(`,"annotations":`)
	object(`"example.com/note-%d":"x"`)
	b.WriteString(`}`)
	return b.Bytes()
}

// mapID identifies the storage of a map (nil for a nil map).
func mapID[V any](m map[string]V) uintptr { return uintptr(reflect.ValueOf(m).UnsafePointer()) }

// TestResetLetsGoOfHugeMaps: after one event with 100,000 annotations and
// user.extra keys, the next event gets new maps (a cleared Go map keeps its
// storage, which every range over it walks) and lists of bounded capacity,
// while maps and lists of ordinary size are reused from one event to the
// next.
func TestResetLetsGoOfHugeMaps(t *testing.T) {
	var ev Event
	parse := func(line []byte) {
		t.Helper()
		if err := Parse(line, &ev); err != nil {
			t.Fatalf("Parse: %v", err)
		}
	}
	ids := func() [3]uintptr {
		return [3]uintptr{mapID(ev.Annotations), mapID(ev.User.Extra), mapID(ev.spare.impersonated.Extra)}
	}
	ordinary := []byte(ordinaryLine)

	parse(ordinary)
	small := ids()
	parse(ordinary)
	if got := ids(); got != small || small[0] == 0 || small[1] == 0 || small[2] == 0 {
		t.Fatalf("ordinary maps not reused: %x, then %x", small, got)
	}
	if ev.ImpersonatedUser != &ev.spare.impersonated {
		t.Fatal("the ordinary line was not read by the fast decoder")
	}

	const n = 9000 // as many as a line of up to 1 MiB holds, all kept (see MaxKeptElements)
	line := hugeMapsLine(n)
	if len(line) > maxFallbackLine {
		t.Fatalf("test line is %d bytes: over maxFallbackLine, Parse would not keep every element", len(line))
	}
	parse(line)
	if len(ev.Annotations) != n || len(ev.User.Extra) != n || len(ev.ImpersonatedUser.Extra) != n ||
		len(ev.User.Groups) != n/20 || len(ev.ImpersonatedUser.Groups) != n/20 || len(ev.SourceIPs) != n/20 {
		t.Fatalf("huge event: %d annotations, %d and %d extra keys, %d and %d groups, %d source IPs",
			len(ev.Annotations), len(ev.User.Extra), len(ev.ImpersonatedUser.Extra),
			len(ev.User.Groups), len(ev.ImpersonatedUser.Groups), len(ev.SourceIPs))
	}
	huge := ids()

	parse(ordinary)
	after := ids()
	for i, name := range []string{"annotations", "user.extra", "impersonatedUser.extra"} {
		if after[i] == huge[i] {
			t.Errorf("%s: the map of the huge event is reused", name)
		}
	}
	if c := cap(ev.User.Groups); c > keepListCap {
		t.Errorf("cap(User.Groups) = %d, want at most %d", c, keepListCap)
	}
	if c := cap(ev.spare.impersonated.Groups); c > keepListCap {
		t.Errorf("cap(ImpersonatedUser.Groups) = %d, want at most %d", c, keepListCap)
	}
	if c := cap(ev.SourceIPs); c > keepListCap {
		t.Errorf("cap(SourceIPs) = %d, want at most %d", c, keepListCap)
	}
	var want Event
	if err := decodeJSON(ordinary, &want); err != nil {
		t.Fatal(err)
	}
	if diff := sameEvent(&ev, &want); diff != "" {
		t.Errorf("ordinary event after the huge one:\n%s", diff)
	}

	// The new maps are ordinary and reused again, without allocating.
	parse(ordinary)
	if got := ids(); got != after {
		t.Errorf("maps made after the huge event not reused: %x, then %x", after, got)
	}
	if allocs := testing.AllocsPerRun(10, func() { parse(ordinary) }); allocs != 0 {
		t.Errorf("Parse allocates %v times per ordinary event after the huge one", allocs)
	}
}

// TestParseFallbackZeroesKeptLists: encoding/json decodes an array into the
// kept backing array of a list and leaves an element it reads from null as it
// was, so the lists must be zeroed, or a group or source IP of an earlier
// event would show through.
func TestParseFallbackZeroesKeptLists(t *testing.T) {
	var ev Event
	if err := Parse([]byte(ordinaryLine), &ev); err != nil {
		t.Fatal(err)
	}
	// null inside an array: the fast decoder leaves it to encoding/json.
	line := `{"auditID":"a","stage":"s","user":{"groups":[null,null]},"impersonatedUser":{"groups":[null]},"sourceIPs":["10.9.9.9",null]}`
	if err := Parse([]byte(line), &ev); err != nil {
		t.Fatal(err)
	}
	got := [][]string{ev.User.Groups, ev.ImpersonatedUser.Groups, ev.SourceIPs}
	if want := [][]string{{"", ""}, {""}, {"10.9.9.9", ""}}; !reflect.DeepEqual(got, want) {
		t.Errorf("groups, impersonated groups, source IPs = %q, want %q", got, want)
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

// longLine is an event of about size bytes: the given members, then a
// requestObject that fills the rest (kept as raw JSON, never copied).
func longLine(size int, members string) []byte {
	head := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Request","auditID":"a","stage":"ResponseComplete"` + members + `,"requestObject":{"data":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", max(size-len(head)-len(tail), 0)) + tail)
}

// refusedReason is the reason Parse gives for a line over maxFallbackLine
// that the fast decoder gave up on, for why, at the first byte of mark.
func refusedReason(line []byte, why, mark string) string {
	at := bytes.Index(line, []byte(mark))
	return fmt.Sprintf("line of %d bytes needs encoding/json (%s, at byte %d: %q...), which Parse runs only on lines up to 1048576 bytes",
		len(line), why, at, line[at:at+maxExcerpt])
}

// TestParseLongLineMemory bounds what Parse allocates for a 16 MiB line: at
// most about the line's size when a decoded string fills it (invalid UTF-8
// is copied as it is, a lone surrogate escape shrinks to U+FFFD), one slice
// of string headers for a long array, and a few KiB when the line is valid
// JSON that the fast decoder leaves to encoding/json or is not valid JSON:
// such a line is refused without a second decode.
func TestParseLongLineMemory(t *testing.T) {
	const size = 16 << 20
	const slack = 64 << 10
	bad := strings.Repeat("\xff", size)
	const emptyStrings = size/3 - 16
	dup := longLine(size, `,"verb":"get","verb":"list"`)
	null := longLine(size, `,"user":{"groups":["a",null]}`)
	key := longLine(size, ",\"annotations\":{\"k\xff\":\"v\"}")
	tests := []struct {
		name   string
		line   []byte
		limit  uint64 // bytes Parse may allocate
		reason string // "" for a valid event
		check  func(ev *Event) bool
	}{
		{
			name:  "username of invalid UTF-8",
			line:  []byte(`{"auditID":"a","stage":"s","user":{"username":"` + bad + `","groups":["g"]},"verb":"get"}`),
			limit: size + size/10 + slack,
			check: func(ev *Event) bool { return ev.User.Username == bad && ev.Verb == "get" },
		},
		{
			name:  "requestURI of lone surrogates",
			line:  []byte(`{"auditID":"a","stage":"s","requestURI":"` + strings.Repeat(`\ud800`, size/6) + `","userAgent":"k"}`),
			limit: size + size/10 + slack,
			check: func(ev *Event) bool {
				return ev.RequestURI == strings.Repeat("\uFFFD", size/6) && ev.UserAgent == "k"
			},
		},
		{
			// 16 bytes of string header for each 3 bytes of the line, were
			// they all kept: the first MaxKeptElements are, in one slice.
			name:  "sourceIPs of empty strings",
			line:  []byte(`{"auditID":"a","stage":"s","sourceIPs":[""` + strings.Repeat(`,""`, emptyStrings) + `],"verb":"get"}`),
			limit: 16*MaxKeptElements + slack,
			check: func(ev *Event) bool {
				return len(ev.SourceIPs) == MaxKeptElements && ev.Omitted == emptyStrings+1-MaxKeptElements &&
					ev.OmittedBytes == 2*ev.Omitted && ev.Verb == "get" // "" each, commas not counted
			},
		},
		{
			// A map entry costs more than a string header: the first
			// MaxKeptElements entries of annotations and user.extra in all.
			name:  "annotations and user.extra of many keys",
			line:  manyKeysLine(size),
			limit: 200*MaxKeptElements + slack,
			check: func(ev *Event) bool {
				kept := len(ev.Annotations) + len(ev.User.Extra) + len(ev.User.Groups)
				for _, vs := range ev.User.Extra {
					kept += len(vs)
				}
				return kept == MaxKeptElements && ev.Omitted > 500_000 && ev.Verb == "get" &&
					ev.ObjectRef != nil && ev.ObjectRef.Name == "after-the-maps" && ev.User.Username == "mallory"
			},
		},
		{
			name:   "key written twice",
			line:   dup,
			limit:  slack,
			reason: refusedReason(dup, "a key written twice", `"verb":"list"`),
		},
		{
			name:   "null in groups",
			line:   null,
			limit:  slack,
			reason: refusedReason(null, "an array element that is not a string", `null]`),
		},
		{
			name:   "invalid UTF-8 in an annotation key",
			line:   key,
			limit:  slack,
			reason: refusedReason(key, "invalid UTF-8 in a map key", "\"k\xff\""),
		},
		{
			name:   "not valid JSON",
			line:   longLine(size, `,"verb":"get"`)[:size-1],
			limit:  slack,
			reason: "invalid JSON at byte 16777215: unexpected end of JSON input",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.line) < size-256 || len(tt.line) > size+256 {
				t.Fatalf("test line is %d bytes, want about %d", len(tt.line), size)
			}
			var ev Event
			if err := Parse([]byte(ordinaryLine), &ev); err != nil { // warm storage, as in the agent
				t.Fatal(err)
			}
			var err error
			n := allocated(func() { err = Parse(tt.line, &ev) })
			t.Logf("Parse allocated %d bytes for a line of %d", n, len(tt.line))
			if n > tt.limit {
				t.Errorf("Parse allocated %d bytes for a line of %d, want at most %d", n, len(tt.line), tt.limit)
			}
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if !tt.check(&ev) {
					t.Errorf("wrong event: %.200q", ev.User.Username+ev.RequestURI)
				}
				return
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v, want a *ParseError", err)
			}
			if pe.Reason != tt.reason {
				t.Errorf("Reason = %q\n             want %q", pe.Reason, tt.reason)
			}
		})
	}
}

// manyKeysLine is an event of about size bytes whose user.extra and
// annotations hold as many short keys as fit, followed by an objectRef.
func manyKeysLine(size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"auditID":"a","stage":"s","verb":"get","user":{"username":"mallory","groups":["g"],"extra":{`)
	for i := 0; b.Len() < size/2; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"x%d":["v"]`, i)
	}
	b.WriteString(`}},"annotations":{`)
	for i := 0; b.Len() < size-100; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":""`, i)
	}
	b.WriteString(`},"objectRef":{"resource":"pods","name":"after-the-maps"}}`)
	return b.Bytes()
}

// TestParseKeepsDuplicateKeysPastTheBound: past MaxKeptElements, an
// annotation whose key is already kept is still updated (the last value
// wins, as with encoding/json), and a new key is omitted.
func TestParseKeepsDuplicateKeysPastTheBound(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"auditID":"a","stage":"s","annotations":{"first":"old"`)
	for i := 0; i < MaxKeptElements; i++ {
		fmt.Fprintf(&b, `,"k%d":"%s"`, i, strings.Repeat("x", 64))
	}
	b.WriteString(`,"first":"new","late":"dropped"}}`)
	var ev Event
	if err := Parse(b.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if b.Len() <= maxFallbackLine {
		t.Fatalf("test line is %d bytes: not over maxFallbackLine", b.Len())
	}
	if ev.Annotations["first"] != "new" || len(ev.Annotations) != MaxKeptElements {
		t.Errorf("first = %q, %d annotations", ev.Annotations["first"], len(ev.Annotations))
	}
	if _, ok := ev.Annotations["late"]; ok || ev.Omitted != 2 { // k16383 and late
		t.Errorf("late kept %v, Omitted %d, want 2", ok, ev.Omitted)
	}
}

// TestParseFallbackLimit: a line the fast decoder leaves to encoding/json is
// decoded again up to maxFallbackLine bytes, and refused above.
func TestParseFallbackLimit(t *testing.T) {
	for _, size := range []int{maxFallbackLine, maxFallbackLine + 1} {
		line := longLine(size, `,"verb":"get","verb":"list"`)
		if len(line) != size {
			t.Fatalf("test line is %d bytes, want %d", len(line), size)
		}
		body := line[bytes.Index(line, []byte(`{"data"`)) : len(line)-1]
		var ev Event
		err := Parse(line, &ev)
		if size <= maxFallbackLine {
			if err != nil || ev.Verb != "list" || !bytes.Equal(ev.RequestObject, body) {
				t.Errorf("%d bytes: err %v, verb %q, %d bytes of requestObject; want the last verb and the body", size, err, ev.Verb, len(ev.RequestObject))
			}
			continue
		}
		var pe *ParseError
		want := refusedReason(line, "a key written twice", `"verb":"list"`)
		if !errors.As(err, &pe) || pe.Reason != want {
			t.Errorf("%d bytes: err %v, want reason %q", size, err, want)
		}
	}
}

// TestRefusedReasons covers the reason of every kind of line the fast
// decoder gives up on, for a line too long for encoding/json: where it
// stopped and why, at most a few hundred bytes of valid UTF-8.
func TestRefusedReasons(t *testing.T) {
	body := `,"requestObject":"` + strings.Repeat("x", maxFallbackLine) + `"}`
	tests := []struct {
		members, why string
		at           string // what the line holds where the decoder stopped
		skip         int    // bytes of at to skip
	}{
		{`,"AuditID":"b"`, "a key in another letter case", `"AuditID"`, 0},
		{`,"audit\u0049D":"b"`, "a key with escapes or non-ASCII characters", `"audit\u0049D"`, 0},
		{",\"\xffkey\":1", "a key with escapes or non-ASCII characters", "\"\xffkey\"", 0},
		{`,"stage":"t"`, "a key written twice", `"stage":"t"`, 0},
		{`,"objectRef":{"NAME":"n"}`, "a key in another letter case", `"NAME"`, 0},
		{`,"user":"alice"`, "a value that is not an object", `"alice"`, 0},
		{`,"user":{"username":1}`, "a value that is not a string", `1}`, 0},
		{`,"sourceIPs":"10.0.0.1"`, "a value that is not an array", `"10.0.0.1"`, 0},
		{`,"sourceIPs":[1]`, "an array element that is not a string", `1]`, 0},
		{`,"annotations":{"k":null}`, "an annotation value that is not a string", `null}`, 0},
		{`,"user":{"extra":{"k":null}}`, "a user.extra value that is not an array", `null}`, 0},
		{",\"user\":{\"extra\":{\"\xc3\":[]}}", "invalid UTF-8 in a map key", "\"\xc3\"", 0},
		{`,"responseStatus":{"code":200.0}`, "a code that is not an int32 integer", `200.0`, 0},
		{`,"responseStatus":{"code":-2147483649}`, "a code that is not an int32 integer", `-2147483649`, 0},
		{`,"stageTimestamp":1`, "a timestamp that is not a string", `1`, 0},
		{`,"stageTimestamp":"yesterday"`, "a timestamp that is not RFC 3339", `"yesterday"`, 0},
		{`,"x":` + strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1), "objects or arrays nested too deep", `[[`, maxDepth},
	}
	for _, tt := range tests {
		line := []byte(`{"auditID":"a","stage":"s"` + tt.members + body)
		var ev Event
		err := Parse(line, &ev)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: err = %v, want a *ParseError", tt.members, err)
			continue
		}
		at := bytes.Index(line, []byte(tt.at)) + tt.skip
		want := fmt.Sprintf("line of %d bytes needs encoding/json (%s, at byte %d: %q...), which Parse runs only on lines up to 1048576 bytes",
			len(line), tt.why, at, line[at:at+maxExcerpt])
		if pe.Reason != want {
			t.Errorf("%s:\nReason = %q\n  want   %q", tt.members, pe.Reason, want)
		}
		if len(pe.Reason) > 512 || !utf8.ValidString(pe.Reason) {
			t.Errorf("%s: reason too long or not valid UTF-8: %q", tt.members, pe.Reason)
		}
	}
}

// TestParseManyShortArrays: the values of user.extra share one slice, which
// many short arrays fill bit by bit; it must grow geometrically, like
// append, whatever the length of each array.
func TestParseManyShortArrays(t *testing.T) {
	const n = 20000
	var b bytes.Buffer
	b.WriteString(`{"auditID":"a","stage":"s","user":{"extra":{`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"k%d":["v"]`, i)
	}
	b.WriteString(`}}}`)
	var ev Event
	var err error
	got := allocated(func() { err = Parse(b.Bytes(), &ev) })
	if err != nil || len(ev.User.Extra) != n || ev.User.Extra["k7"][0] != "v" {
		t.Fatalf("Parse: %v, %d extra keys", err, len(ev.User.Extra))
	}
	t.Logf("Parse allocated %d bytes for %d user.extra keys", got, n)
	// The map, the keys' text and 5 times the final strs (append's growth).
	if limit := uint64(8 << 20); got > limit {
		t.Errorf("Parse allocated %d bytes for %d user.extra keys, want at most %d", got, n, limit)
	}
}
