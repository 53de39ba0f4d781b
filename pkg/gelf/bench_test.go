package gelf

import (
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// BenchmarkEncodeMetadata is the steady-state cost per typical Metadata event:
// audit.Parse into a reused Event, then Encode into a reused buffer.
func BenchmarkEncodeMetadata(b *testing.B) {
	e := newTestEncoder(b, testConfig())
	line := []byte(metadataLine)
	var ev audit.Event
	r := Record{Line: line, Event: &ev}
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if err := audit.Parse(line, &ev); err != nil {
			b.Fatal(err)
		}
		buf, _ = e.Encode(buf[:0], &r)
	}
}

// BenchmarkEncodeOnlyMetadata is Encode alone on an already parsed event.
func BenchmarkEncodeOnlyMetadata(b *testing.B) {
	e := newTestEncoder(b, testConfig())
	r := record([]byte(metadataLine), "audit.log", 0)
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(r.Line)))
	for b.Loop() {
		buf, _ = e.Encode(buf[:0], r)
	}
}

// BenchmarkEncodeTruncated1MiB is the slow path: a 1 MiB RequestResponse event
// cut by step 1 under the default cap.
func BenchmarkEncodeTruncated1MiB(b *testing.B) {
	line, _ := bigLine(300<<10, map[string]string{"authorization.k8s.io/decision": "allow"})
	e := newTestEncoder(b, testConfig())
	r := record([]byte(line), "audit.log", 0)
	var buf []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		var res Result
		buf, res = e.Encode(buf[:0], r)
		if !res.Truncated {
			b.Fatal("not truncated")
		}
	}
}
