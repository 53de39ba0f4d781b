package process

import (
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/gelf"
)

// mix is 2,000 lines of the generated mix (85 % Metadata).
func mix(b *testing.B) [][]byte {
	g := auditgen.New(auditgen.Config{Seed: 3})
	at := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	lines := make([][]byte, 2000)
	for i := range lines {
		lines[i] = g.Append(nil, int64(i), at)
	}
	return lines
}

// benchStage measures parse, the stage (if s is not nil) and encode per
// event of the mix: the pipeline's work per line.
func benchStage(b *testing.B, s *Stage) {
	lines := mix(b)
	enc, err := gelf.NewEncoder(gelf.Config{Host: "cp-1"})
	if err != nil {
		b.Fatal(err)
	}
	var ev audit.Event
	var dst []byte
	var size int64
	for _, l := range lines {
		size += int64(len(l))
	}
	b.SetBytes(size / int64(len(lines)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		l := lines[i%len(lines)]
		if audit.Parse(l, &ev) != nil {
			b.Fatal("parse")
		}
		out, keep := l, true
		if s != nil {
			out, keep = s.Process(l, &ev)
		}
		if keep {
			dst, _ = enc.Encode(dst[:0], &gelf.Record{Line: out, Event: &ev})
		}
	}
}

func BenchmarkPipelineNoStage(b *testing.B)   { benchStage(b, nil) }
func BenchmarkPipelineRedaction(b *testing.B) { benchStage(b, New(nil, true)) }
func BenchmarkPipelinePolicy(b *testing.B)    { benchStage(b, New(loadPolicy(b, "policy.yaml"), true)) }
