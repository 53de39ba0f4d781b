package containerlog

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// runtimeLog is a container's log as containerd writes it and kubelet
// rotates it (see tailer's kubelet_test.go for the step-by-step
// rotation): <dir>/<restart>.log, one write(2) per physical line.
type runtimeLog struct {
	t        testing.TB
	dir      string
	restart  int
	maxFiles int
	clock    time.Time
	f        *os.File
	size     int64
}

func (c *runtimeLog) path() string { return filepath.Join(c.dir, strconv.Itoa(c.restart)+".log") }

func (c *runtimeLog) open() {
	f, err := os.OpenFile(c.path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		c.t.Fatal(err)
	}
	c.f, c.size = f, 0
}

func (c *runtimeLog) write(lines [][]byte) {
	for _, l := range lines {
		if _, err := c.f.Write(l); err != nil {
			c.t.Fatal(err)
		}
		c.size += int64(len(l))
	}
}

// rotate is kubelet's rotateLog: prune to maxFiles-2 backups, gzip the
// plain ones through .tmp, rename the live log, then ReopenContainerLog:
// a new log, and the old logger's last fragments (flush) to the old file.
func (c *runtimeLog) rotate(flush [][]byte) {
	log := c.path()
	logs, _ := filepath.Glob(log + ".*")
	sort.Strings(logs)
	for len(logs) > c.maxFiles-2 {
		os.Remove(logs[0])
		logs = logs[1:]
	}
	for _, l := range logs {
		if strings.HasSuffix(l, ".gz") {
			continue
		}
		b, err := os.ReadFile(l)
		if err != nil {
			c.t.Fatal(err)
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		if err := os.WriteFile(l+".tmp", buf.Bytes(), 0o640); err != nil {
			c.t.Fatal(err)
		}
		if err := os.Rename(l+".tmp", l+".gz"); err != nil {
			c.t.Fatal(err)
		}
		os.Remove(l)
	}
	if err := os.Rename(log, log+"."+c.clock.Format("20060102-150405")); err != nil {
		c.t.Fatal(err)
	}
	c.clock = c.clock.Add(time.Second)
	old := c.f
	c.open()
	for _, l := range flush {
		if _, err := old.Write(l); err != nil {
			c.t.Fatal(err)
		}
	}
	old.Close()
}

// restartContainer: the instance died (its last output, if any, written),
// the next one logs to <restart+1>.log.
func (c *runtimeLog) restartContainer() {
	c.f.Close()
	c.restart++
	c.open()
}

// tortureEvent is event seq of the test, with a size that varies: now and
// then one of 100 KiB (7 fragments) or 40 KiB (3 fragments).
func tortureEvent(seq int) []byte {
	size := 600 + seq*37%2500
	switch {
	case seq%97 == 0:
		size = 100 << 10
	case seq%31 == 0:
		size = 40 << 10
	}
	ev := auditEvent(fmt.Sprintf("seq-%d", seq), size)
	return bytes.Replace(ev, []byte(`"verb":"get"`), fmt.Appendf(nil, `"verb":"get","seq":%d`, seq), 1)
}

// An agent's view of an audit log written to kube-apiserver's standard
// output under containerd and kubelet: events cut into 16 KiB fragments,
// klog lines on stderr among them, rotations every 256 KiB (backups
// gzipped, pruned beyond 5 files) with a line being written cut across
// the rotation, two restarts of the container (one dying in the middle of
// a line), and the agent itself killed every few hundred lines and
// restarted from a checkpoint lagging behind what it had handed on. Every
// event must come out whole at least once, the dead line flagged Partial,
// and nothing else.
func TestTortureWithTailer(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 1000
	}
	dir := filepath.Join(t.TempDir(), "kube-system_kube-apiserver-cp1_uid", "kube-apiserver")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	rt := &runtimeLog{t: t, dir: dir, maxFiles: 5, clock: time.Now().Truncate(time.Second)}
	rt.open()
	t.Cleanup(func() { rt.f.Close() })
	clk := newClock(time.UTC)

	var progress atomic.Int64 // the highest event read whole
	var rotations, restarts int
	deadSeq := n / 2 / 97 * 97 // an event of 100 KiB
	deadText := tortureEvent(deadSeq)[:50000]
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(5, 6))
		var rotatedAt []int
		for seq := 0; seq < n; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			if seq == deadSeq {
				// The instance dies while writing this line: containerd
				// writes what it has as P lines, without an F.
				rt.write(containerdLines(clk, "stdout", deadText, 16384))
				rt.restartContainer()
				restarts++
				continue
			}
			frags := containerdLines(clk, "stdout", append(tortureEvent(seq), '\n'), 16384)
			if rt.size > 256<<10 {
				// Not more than two backups behind the reader, or kubelet
				// would prune one unread.
				if k := len(rotatedAt) - 2; k >= 0 {
					for progress.Load() < int64(rotatedAt[k]) {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}
				// The line being written is cut across the rotation: its
				// first fragments in the old file, before the rename or
				// (the old logger's last P) after the new file exists.
				cut := rng.IntN(len(frags))
				if rng.IntN(2) == 0 {
					rt.write(frags[:cut])
					rt.rotate(nil)
				} else {
					rt.rotate(frags[:cut])
				}
				frags = frags[cut:]
				rotatedAt = append(rotatedAt, seq)
				rotations++
			}
			for i, f := range frags {
				rt.write([][]byte{f})
				if rng.IntN(8) == 0 && i < len(frags)-1 {
					rt.write(containerdLines(clk, "stderr", append(klogLine(seq), '\n'), 16384))
				}
			}
			if rng.IntN(5) == 0 {
				rt.write(containerdLines(clk, "stderr", append(klogLine(seq), '\n'), 16384))
			}
			if seq == n/4 {
				rt.restartContainer() // a clean restart, between lines
				restarts++
			}
			if seq%200 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}()

	cfg := tailer.Config{Path: dir, PollInterval: 20 * time.Millisecond, Rotation: tailer.RotationKubelet, MaxLineBytes: 1 << 20}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	open := func(p checkpoint.Position, saved time.Time) (*tailer.Tailer, *Reader) {
		tl, err := tailer.New(t.Context(), cfg, p, saved, log)
		if err != nil {
			t.Fatal(err)
		}
		return tl, New(tl, CRI, cfg.MaxLineBytes)
	}
	tl, r := open(checkpoint.Position{}, time.Time{})
	defer func() { tl.Close() }()

	seen := make([]int, n)
	var partials, dups, kills int
	type mark struct {
		pos checkpoint.Position
		at  time.Time
	}
	var handed []mark // positions handed on since the last restart of the agent
	rng := rand.New(rand.NewPCG(7, 8))
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	missing := func() int {
		m := 0
		for seq, c := range seen {
			if c == 0 && seq != deadSeq {
				m++
			}
		}
		return m
	}
	for lines := 0; missing() > 0 || partials == 0; {
		l, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			if err := r.Wait(ctx); err != nil {
				t.Fatalf("%d events missing: %v", missing(), err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		lines++
		handed = append(handed, mark{l.Pos, time.Now()})
		if l.Pos.IsZero() {
			t.Fatalf("a line without a position: %s", describe(l))
		}
		switch {
		case len(l.Text) == 0:
		case l.Partial:
			if !bytes.Equal(l.Text, deadText) {
				t.Fatalf("unexpected partial line %s", describe(l))
			}
			partials++
		default:
			var ev struct{ Seq int }
			if err := json.Unmarshal(l.Text, &ev); err != nil || ev.Seq < 0 || ev.Seq >= n || !bytes.Equal(l.Text, tortureEvent(ev.Seq)) {
				t.Fatalf("line %s is not a whole event: %v", describe(l), err)
			}
			if seen[ev.Seq]++; seen[ev.Seq] > 1 {
				dups++
			}
			if int64(ev.Seq) > progress.Load() {
				progress.Store(int64(ev.Seq))
			}
		}
		if lines%300 == 0 {
			// Kill the agent: the checkpoint had a position some lines back.
			back := min(rng.IntN(50), len(handed)-1)
			m := handed[len(handed)-1-back]
			tl.Close()
			tl, r = open(m.pos, m.at)
			handed = nil
			kills++
		}
	}
	wg.Wait()
	if st := tl.Stats(); st.LostFiles != 0 {
		t.Fatalf("the tailer lost files: %+v", st)
	}
	t.Logf("%d events, %d rotations, %d restarts of the container, %d kills of the agent, %d duplicates, %d partial",
		n, rotations, restarts, kills, dups, partials)
	if rotations < 10 || kills < 5 || partials == 0 {
		t.Fatalf("the test did not exercise enough: %d rotations, %d kills, %d partial lines", rotations, kills, partials)
	}
}
