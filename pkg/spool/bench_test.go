package spool

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/audittail/audittail/checkpoint"
	"github.com/rs/zerolog"
)

// caughtUp is a checkpoint store whose positions are always at the end of
// the live file: the log server keeps up, and every backup can go.
type caughtUp struct{ path string }

func (c caughtUp) Position() checkpoint.Position {
	fi, err := os.Stat(c.path)
	if err != nil {
		return checkpoint.Position{}
	}
	k := keyOf(fi)
	return checkpoint.Position{Path: c.path, Dev: k.dev, Inode: k.ino, Offset: fi.Size()}
}

func (c caughtUp) Durable() checkpoint.Position { return c.Position() }

// BenchmarkAppend measures Append, whose cost is the fdatasync of each
// batch: kube-apiserver's default webhook batch (400 events of about
// 1.7 KB), and a batch of one event, the floor. Run prunes as the agent's
// does, so the disk use stays at about two files.
func BenchmarkAppend(b *testing.B) {
	for _, lines := range []int{1, 400} {
		b.Run(fmt.Sprintf("lines=%d", lines), func(b *testing.B) {
			line := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","pad":"` + strings.Repeat("x", 1600) + `"}` + "\n"
			batch := []byte(strings.Repeat(line, lines))
			cfg := Config{Dir: b.TempDir()}
			cfg.SetDefaults()
			cfg.MaxBytes = 1 << 62
			s, err := Open(cfg, caughtUp{cfg.LivePath()}, zerolog.Nop())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			defer func() { cancel(); <-done }()
			b.SetBytes(int64(len(batch)))
			b.ResetTimer()
			for range b.N {
				if err := s.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "batches/s")
		})
	}
}
