package containerlog

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/audittail/audittail/tailer"
)

// loopSource hands out its lines again and again.
type loopSource struct {
	lines []tailer.Line
	i     int
}

func (s *loopSource) Next(context.Context) (tailer.Line, error) {
	l := s.lines[s.i%len(s.lines)]
	s.i++
	return l, nil
}

func (s *loopSource) Wait(context.Context) error { return nil }

// benchReader reads lines made from events (each a line of the
// container's stdout), written by write, and reports the throughput in
// bytes of physical lines.
func benchReader(b *testing.B, format Format, write func(c *clock, out []byte) [][]byte, events [][]byte) {
	c := newClock(time.UTC)
	f := &file{source: "/var/log/pods/ns_pod_uid/c/0.log", ino: 1}
	for _, ev := range events {
		for _, l := range write(c, append(bytes.Clone(ev), '\n')) {
			f.data = append(f.data, l...)
		}
	}
	phys := f.lines(false, 0)
	r := New(&loopSource{lines: phys}, format, tailer.DefaultMaxLineBytes)
	b.SetBytes(int64(len(f.data)) / int64(len(events)))
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := r.Next(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func smallEvents() [][]byte {
	var evs [][]byte
	for i := range 64 {
		evs = append(evs, auditEvent("bench", 1000+i*30))
	}
	return evs
}

func BenchmarkReaderCRI(b *testing.B) {
	benchReader(b, CRI, func(c *clock, out []byte) [][]byte { return containerdLines(c, "stdout", out, 16384) }, smallEvents())
}

func BenchmarkReaderCRI100KiB(b *testing.B) {
	benchReader(b, CRI, func(c *clock, out []byte) [][]byte { return containerdLines(c, "stdout", out, 16384) },
		[][]byte{auditEvent("big", 100<<10)})
}

func BenchmarkReaderDockerJSON(b *testing.B) {
	benchReader(b, DockerJSON, func(c *clock, out []byte) [][]byte { return dockerLines(c, "stdout", out) }, smallEvents())
}
