package tailer

import (
	"compress/gzip"
	"context"
	"encoding/json"
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
)

// containerLog is a container's log as the runtime writes it and kubelet
// rotates it: <dir>/<restart>.log, opened O_CREATE|O_APPEND|O_WRONLY and
// written one line per write(2) (containerd's openLogFile and
// redirectLogs), rotated by rotate, which does what kubelet's rotateLog
// (pkg/kubelet/logs/container_log_manager.go) does, step by step.
type containerLog struct {
	t        testing.TB
	dir      string
	restart  int
	maxFiles int       // containerLogMaxFiles
	clock    time.Time // kubelet's clock: backups are named from it, in local time
	f        *os.File  // the runtime's open log
}

func newContainerLog(t testing.TB, dir string, maxFiles int) *containerLog {
	t.Helper()
	c := &containerLog{t: t, dir: dir, maxFiles: maxFiles, clock: time.Now().Truncate(time.Second)}
	c.open()
	t.Cleanup(func() { c.f.Close() })
	return c
}

func (c *containerLog) path() string {
	return filepath.Join(c.dir, strconv.Itoa(c.restart)+".log")
}

// open opens the live log as containerd's openLogFile does.
func (c *containerLog) open() {
	c.t.Helper()
	f, err := os.OpenFile(c.path(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640)
	if err != nil {
		c.t.Fatal(err)
	}
	c.f = f
}

// write writes lines to the runtime's open log, one write(2) each.
func (c *containerLog) write(lines ...string) {
	c.t.Helper()
	writeTo(c.t, c.f, lines...)
}

func writeTo(t testing.TB, f *os.File, lines ...string) {
	t.Helper()
	for _, l := range lines {
		if _, err := f.WriteString(l); err != nil {
			t.Fatal(err)
		}
	}
}

// rotate rotates the log as kubelet's rotateLog does: cleanupUnusedLogs,
// removeExcessLogs, compressLog of every rotated file not yet gzipped
// (through <file>.tmp), rotateLatestLog (rename to <log>.<YYYYMMDD-hhmmss>),
// then the runtime's ReopenContainerLog. Before the reopen, the runtime
// still writes before to the renamed file; the reopen creates the new log,
// then the old logger writes flush to the old file (containerd's last P
// line) and closes it. It returns the backup's path.
func (c *containerLog) rotate(before, flush []string) string {
	c.t.Helper()
	log := c.path()
	logs, err := filepath.Glob(log + ".*")
	if err != nil {
		c.t.Fatal(err)
	}
	// cleanupUnusedLogs
	var inuse []string
	for _, l := range logs {
		unused := strings.HasSuffix(l, ".tmp")
		for _, other := range logs {
			unused = unused || !strings.HasSuffix(l, ".gz") && l+".gz" == other
		}
		if unused {
			if err := os.Remove(l); err != nil {
				c.t.Fatal(err)
			}
		} else {
			inuse = append(inuse, l)
		}
	}
	// removeExcessLogs
	sort.Strings(inuse)
	keep := max(c.maxFiles-2, 0)
	for len(inuse) > keep {
		if err := os.Remove(inuse[0]); err != nil {
			c.t.Fatal(err)
		}
		inuse = inuse[1:]
	}
	// compressLog
	for _, l := range inuse {
		if !strings.HasSuffix(l, ".gz") {
			kubeletCompress(c.t, l)
		}
	}
	// rotateLatestLog
	rotated := log + "." + c.clock.Format(kubeletTimeFormat)
	c.clock = c.clock.Add(time.Second)
	if err := os.Rename(log, rotated); err != nil {
		c.t.Fatal(err)
	}
	c.write(before...)
	// ReopenContainerLog
	old := c.f
	c.open()
	writeTo(c.t, old, flush...)
	old.Close()
	return rotated
}

// kubeletCompress is kubelet's compressLog: gzip l to l.tmp, rename it to
// l.gz, remove l.
func kubeletCompress(t testing.TB, l string) {
	t.Helper()
	r, err := os.Open(l)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tmp := l + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	w := gzip.NewWriter(f)
	if _, err := io.Copy(w, r); err != nil {
		t.Fatal(err)
	}
	w.Close()
	f.Close()
	if err := os.Rename(tmp, l+".gz"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(l); err != nil {
		t.Fatal(err)
	}
}

// restartContainer starts the container's next instance, whose log is
// <restart+1>.log, and returns the old instance's open log, for the
// caller to write its last lines and close.
func (c *containerLog) restartContainer() *os.File {
	c.t.Helper()
	old := c.f
	c.restart++
	c.open()
	c.t.Cleanup(func() { old.Close() })
	return old
}

func kubeletConfig(t *testing.T, path string) Config {
	t.Helper()
	c := Config{Path: path, PollInterval: 20 * time.Millisecond, Rotation: RotationKubelet}
	c.SetDefaults()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKubeletBackupNames(t *testing.T) {
	n := newNaming("/var/log/pods/ns_pod_uid/c/0.log", RotationKubelet)
	for name, want := range map[string]bool{
		"0.log.20261206-100000":         true,
		"0.log.20261206-100000.gz":      true,
		"0.log.20261206-100000.tmp":     false, // kubelet's gzip being written
		"0.log.20261206-100000.gz.tmp":  false,
		"0.log.tmp":                     false, // conmon's reopened log
		"1.log.20261206-100000":         false, // another instance's
		"10.log.20261206-100000":        false,
		"0.log.2026-12-06T10-00-00.000": false,
		"0.log.20261306-100000":         false, // month 13
		"0.log.2026120-1000000":         false,
		"0.log":                         false,
	} {
		ts, gz, ok := n.parse(name)
		if ok != want {
			t.Errorf("parse(%q) ok = %v, want %v", name, ok, want)
		}
		if ok && (!ts.Equal(time.Date(2026, 12, 6, 10, 0, 0, 0, time.Local)) || gz != strings.HasSuffix(name, ".gz")) {
			t.Errorf("parse(%q) = %s gz %v", name, ts, gz)
		}
	}
	for base, want := range map[string]int{"0.log": 0, "12.log": 12, "3.log.20261206-100000.gz": 3} {
		if n, ok := restartOf(base); !ok || n != want {
			t.Errorf("restartOf(%q) = %d %v", base, n, ok)
		}
	}
	for _, base := range []string{"audit.log", ".log", "1.logx", "x1.log"} {
		if _, ok := restartOf(base); ok {
			t.Errorf("restartOf(%q) ok", base)
		}
	}
	if _, ok := liveRestart("1.log.20261206-100000"); ok {
		t.Error("a backup taken for a live log")
	}
}

// kubelet renames 0.log, the runtime writes a little more to the renamed
// file, reopens a new 0.log and flushes a last line to the old one; the
// next rotation gzips that backup (through a .tmp) before renaming the
// live file again. Every line comes once, in order, with its offsets in
// its file.
func TestKubeletRotation(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("a", 12)
	c.write(lines[:3]...)
	live := fileFrom(t, c.path(), lines[0])
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	expectLines(t, tl, live, lines[:3], 0)

	backup := c.rotate(lines[3:4], lines[4:5])
	c.write(lines[5:7]...)
	expectLines(t, tl, from{path: backup, ino: live.ino, first: lines[0]}, lines[3:5], size(lines[:3]))
	live2 := fileFrom(t, c.path(), lines[5])
	expectLines(t, tl, live2, lines[5:7], 0)

	backup2 := c.rotate(nil, nil)
	if _, err := os.Stat(backup + ".gz"); err != nil {
		t.Fatalf("the first backup was not gzipped: %v", err)
	}
	c.write(lines[7:9]...)
	expectLines(t, tl, fileFrom(t, c.path(), lines[7]), lines[7:9], 0)
	if st := tl.Stats(); st.Rotations != 2 || st.LostFiles != 0 || st.Restarts != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := os.Stat(backup2); err != nil {
		t.Fatal(err)
	}
}

// containerd's old logger may write its last line after the new log got
// one: the rotated file is read until it settled.
func TestKubeletRotationLateWriteToOldFile(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("b", 6)
	c.write(lines[0])
	live := fileFrom(t, c.path(), lines[0])
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	expectLines(t, tl, live, lines[:1], 0)

	old := c.f
	backup := c.path() + "." + c.clock.Format(kubeletTimeFormat)
	if err := os.Rename(c.path(), backup); err != nil {
		t.Fatal(err)
	}
	writeTo(t, old, lines[1])
	expectLines(t, tl, from{path: backup, ino: live.ino, first: lines[0]}, lines[1:2], size(lines[:1]))
	c.open()
	c.write(lines[3]) // the new logger is quicker
	time.Sleep(5 * time.Millisecond)
	writeTo(t, old, lines[2])
	old.Close()
	expectLines(t, tl, from{path: backup, ino: live.ino, first: lines[0]}, lines[2:3], size(lines[:2]))
	expectLines(t, tl, fileFrom(t, c.path(), lines[3]), lines[3:4], 0)
}

// With cri-dockerd, ReopenContainerLog fails and kubelet renames the file
// back: it is the live file again, read once.
func TestKubeletRenamedBack(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("c", 5)
	c.write(lines[0])
	live := fileFrom(t, c.path(), lines[0])
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	expectLines(t, tl, live, lines[:1], 0)
	backup := c.path() + "." + c.clock.Format(kubeletTimeFormat)
	if err := os.Rename(c.path(), backup); err != nil {
		t.Fatal(err)
	}
	c.write(lines[1])
	renamed := from{path: backup, ino: live.ino, first: lines[0]}
	expectLines(t, tl, renamed, lines[1:2], size(lines[:1]))
	c.write(lines[2])
	expectLines(t, tl, renamed, lines[2:3], size(lines[:2]))
	expectNothing(t, tl) // waits for the reopen
	if err := os.Rename(backup, c.path()); err != nil {
		t.Fatal(err)
	}
	expectNothing(t, tl) // sees it back
	c.write(lines[3:]...)
	expectLines(t, tl, live, lines[3:], size(lines[:3]))
	expectNothing(t, tl)
	if st := tl.Stats(); st.Rotations != 0 || st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// kubeletEvent is a sequenced line of a container log.
func kubeletEvent(seq int, pad string) string {
	return fmt.Sprintf(`{"seq":%d,"pad":"%s"}`+"\n", seq, pad[:seq%len(pad)])
}

// A writer rotates the log as kubelet does, gzipping and pruning backups,
// with writes before and after the reopen, while the tailer follows:
// every line once, in order, with exact offsets.
func TestKubeletRotationStorm(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	pad := strings.Repeat("p", 700)
	c.write(kubeletEvent(0, pad))
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	rng := rand.New(rand.NewPCG(3, 4))
	var wg sync.WaitGroup
	wg.Add(1)
	rotations := 0
	// kubelet keeps containerLogMaxFiles-2 = 3 backups before it renames
	// the live file again: the writer does not rotate while the tailer is
	// more than two backups behind, or kubelet would delete one unread
	// (which real rotations, 10 MiB and 10 s apart, never come near).
	var progress atomic.Int64 // lines read
	var rotatedAt []int       // the sequence number after each rotation's last write to the old file
	stop := make(chan struct{})
	defer func() {
		close(stop)
		wg.Wait() // the writer fails the test from its goroutine: not after the test ended
	}()
	go func() {
		defer wg.Done()
		for seq := 1; seq < n; {
			select {
			case <-stop:
				return
			default:
			}
			burst := 1 + rng.IntN(300)
			for ; burst > 0 && seq < n; burst-- {
				c.write(kubeletEvent(seq, pad))
				seq++
			}
			if seq < n && rng.IntN(3) == 0 {
				var before, flush []string
				for k := rng.IntN(3); k > 0 && seq < n; k-- {
					before = append(before, kubeletEvent(seq, pad))
					seq++
				}
				for k := rng.IntN(2); k > 0 && seq < n; k-- {
					flush = append(flush, kubeletEvent(seq, pad))
					seq++
				}
				if k := len(rotatedAt) - 2; k >= 0 {
					for progress.Load() < int64(rotatedAt[k]) {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
					}
				}
				c.rotate(before, flush)
				rotatedAt = append(rotatedAt, seq)
				rotations++
			}
			time.Sleep(time.Millisecond)
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	lastOffset := map[string]int64{} // by fingerprint: inodes are reused
	type srcRun struct {
		src   string
		first int
		start int64
	}
	var trail []srcRun
	for want := 0; want < n; want++ {
		l, err := nextWithin(ctx, tl)
		if err != nil {
			t.Fatalf("after %d of %d lines: %v", want, n, err)
		}
		var ev struct{ Seq int }
		if err := json.Unmarshal(l.Text, &ev); err != nil || l.Partial || l.Truncated {
			t.Fatalf("line %d: %q (partial %v): %v", want, l.Text, l.Partial, err)
		}
		if len(trail) == 0 || trail[len(trail)-1].src != l.Source {
			trail = append(trail, srcRun{l.Source, ev.Seq, l.Start})
		}
		if ev.Seq != want {
			for _, r := range trail[max(len(trail)-8, 0):] {
				t.Logf("from %d (start %d): %s", r.first, r.start, r.src)
			}
			t.Fatalf("got line %d, want %d (source %s)", ev.Seq, want, l.Source)
		}
		if l.Pos.Offset != l.Start+l.Size+1 || l.Start != lastOffset[l.Pos.Fingerprint] {
			t.Fatalf("line %d: start %d size %d offset %d, previous end %d in %s", want, l.Start, l.Size, l.Pos.Offset, lastOffset[l.Pos.Fingerprint], l.Source)
		}
		lastOffset[l.Pos.Fingerprint] = l.Pos.Offset
		progress.Store(int64(want + 1))
	}
	wg.Wait()
	expectNothing(t, tl)
	st := tl.Stats()
	gz, _ := filepath.Glob(filepath.Join(dir, "*.gz"))
	t.Logf("%d lines, %d rotations (%d seen), %d gzipped backups left", n, rotations, st.Rotations, len(gz))
	if rotations < 5 || len(gz) == 0 || st.LostFiles != 0 || int(st.Rotations) != rotations {
		t.Fatalf("rotations %d, stats %+v, %d gz", rotations, st, len(gz))
	}
}

// Stopped across rotations (one backup gzipped, one still plain), the
// tailer resumes from its checkpoint in the gzipped backup and reads the
// rest, then the newer backup, then the live file.
func TestKubeletCatchUpAfterDowntime(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("d", 12)
	c.write(lines[:4]...)
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	live := fileFrom(t, c.path(), lines[0])
	pos := expectLines(t, tl, live, lines[:2], 0)
	tl.Close()
	saved := time.Now()

	b1 := c.rotate(lines[4:5], nil)
	c.write(lines[5:8]...)
	b2 := c.rotate(nil, nil) // gzips b1
	c.write(lines[8:]...)
	if _, err := os.Stat(b1 + ".gz"); err != nil {
		t.Fatal(err)
	}
	tl = newTailer(t, kubeletConfig(t, dir), pos, saved)
	expectLines(t, tl, from{path: b1 + ".gz", ino: inodeOf(t, b1+".gz"), first: lines[0]}, lines[2:5], size(lines[:2]))
	expectLines(t, tl, fileFrom(t, b2, lines[5]), lines[5:8], 0)
	expectLines(t, tl, fileFrom(t, c.path(), lines[8]), lines[8:], 0)
	if st := tl.Stats(); st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// The agent stopped after kubelet renamed the log and before the runtime
// reopened it: at the restart the checkpointed file is a plain backup,
// which still gets the runtime's writes until the reopen.
func TestKubeletResumeInBackupBeforeReopen(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("e", 6)
	c.write(lines[:2]...)
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	live := fileFrom(t, c.path(), lines[0])
	pos := expectLines(t, tl, live, lines[:1], 0)
	tl.Close()
	backup := c.path() + "." + c.clock.Format(kubeletTimeFormat)
	if err := os.Rename(c.path(), backup); err != nil {
		t.Fatal(err)
	}
	tl = newTailer(t, kubeletConfig(t, dir), pos, time.Now())
	src := from{path: backup, ino: live.ino, first: lines[0]}
	expectLines(t, tl, src, lines[1:2], size(lines[:1]))
	c.write(lines[2]) // still to the renamed file
	expectLines(t, tl, src, lines[2:3], size(lines[:2]))
	old := c.f
	c.open()
	writeTo(t, old, lines[3])
	old.Close()
	c.write(lines[4:]...)
	expectLines(t, tl, src, lines[3:4], size(lines[:3]))
	expectLines(t, tl, fileFrom(t, c.path(), lines[4]), lines[4:], 0)
}

// A restart of the container writes <n+1>.log: the tailer, given the
// directory, reads <n>.log to its end, then goes on with the new one.
func TestKubeletFollowsContainerRestart(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("f", 10)
	c.write(lines[:2]...)
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	l0 := fileFrom(t, c.path(), lines[0])
	expectLines(t, tl, l0, lines[:1], 0)
	old := c.restartContainer()
	c.write(lines[3:5]...)
	writeTo(t, old, lines[2]) // the old instance's last line comes late
	expectLines(t, tl, l0, lines[1:3], size(lines[:1]))
	l1 := fileFrom(t, c.path(), lines[3])
	expectLines(t, tl, l1, lines[3:5], 0)
	// The new instance's log rotates as any.
	b := c.rotate(nil, nil)
	c.write(lines[5:7]...)
	expectLines(t, tl, fileFrom(t, c.path(), lines[5]), lines[5:7], 0)
	if st := tl.Stats(); st.Restarts != 1 || st.Rotations != 2 || st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if filepath.Base(b) != "1.log."+filepath.Base(b)[len("1.log."):] {
		t.Fatalf("backup %s", b)
	}
}

// Given one <n>.log rather than the directory, the tailer follows the
// later instances too.
func TestKubeletFileFollowsContainerRestart(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("g", 4)
	c.write(lines[0])
	tl := newTailer(t, kubeletConfig(t, c.path()), checkpoint.Position{}, time.Time{})
	expectLines(t, tl, fileFrom(t, c.path(), lines[0]), lines[:1], 0)
	c.restartContainer().Close()
	c.restartContainer().Close() // 1.log stays empty: that instance died at once
	c.write(lines[1])
	expectLines(t, tl, fileFrom(t, c.path(), lines[1]), lines[1:2], 0)
	if st := tl.Stats(); st.Restarts != 2 {
		t.Fatalf("stats = %+v", st)
	}
}

// In lumberjack mode (the default) a <n+1>.log is no business of the
// tailer's.
func TestLumberjackIgnoresRestartLogs(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendFile(t, path, "a\n")
	cfg := testConfig(t, dir)
	cfg.Path = path
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	next(t, tl)
	appendFile(t, filepath.Join(dir, "1.log"), "b\n")
	expectNothing(t, tl)
}

// Resumed from a checkpoint in an older instance's log, the tailer reads
// its rest, then every later instance's log, backups first.
func TestKubeletResumeAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("h", 10)
	c.write(lines[:3]...)
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	l0 := fileFrom(t, c.path(), lines[0])
	pos := expectLines(t, tl, l0, lines[:1], 0)
	tl.Close()
	saved := time.Now()
	c.restartContainer().Close()
	c.write(lines[3:5]...)
	l1 := fileFrom(t, c.path(), lines[3])
	c.restartContainer().Close()
	c.write(lines[5:7]...)
	b := c.rotate(nil, nil)
	c.write(lines[7:]...)

	tl = newTailer(t, kubeletConfig(t, dir), pos, saved)
	expectLines(t, tl, l0, lines[1:3], size(lines[:1]))
	expectLines(t, tl, l1, lines[3:5], 0)
	expectLines(t, tl, fileFrom(t, b, lines[5]), lines[5:7], 0)
	expectLines(t, tl, fileFrom(t, c.path(), lines[7]), lines[7:], 0)
	if st := tl.Stats(); st.Restarts != 2 || st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// Given a directory that does not exist yet (the pod is not there), the
// tailer waits for the container's log, and a fresh start follows the
// newest instance's log.
func TestKubeletDirectoryAppears(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ns_pod_uid", "kube-apiserver")
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	expectNothing(t, tl)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := newContainerLog(t, dir, 5)
	c.restartContainer().Close() // 0.log empty, the container at its second instance
	lines := seqLines("i", 2)
	c.write(lines...)
	expectLines(t, tl, fileFrom(t, c.path(), lines[0]), lines, 0)

	// A fresh start with instances 0 and 1 there: 1.log, from its start.
	tl2 := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	expectLines(t, tl2, fileFrom(t, c.path(), lines[0]), lines, 0)
	if p, ok := tl2.StartPosition(); !ok || p.Path != c.path() {
		t.Fatalf("start position %+v %v", p, ok)
	}
}

// The container died while its log was renamed: ReopenContainerLog fails
// and kubelet renames the file back, before the tailer left the file for
// the next instance's log or after: its lines come once either way.
func TestKubeletRenamedBackAfterRestart(t *testing.T) {
	for _, late := range []bool{false, true} {
		t.Run(fmt.Sprint("late=", late), func(t *testing.T) {
			dir := t.TempDir()
			c := newContainerLog(t, dir, 5)
			lines := seqLines("j", 4)
			c.write(lines[0])
			l0 := fileFrom(t, c.path(), lines[0])
			tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
			expectLines(t, tl, l0, lines[:1], 0)
			live0 := c.path()
			backup := live0 + "." + c.clock.Format(kubeletTimeFormat)
			if err := os.Rename(live0, backup); err != nil {
				t.Fatal(err)
			}
			c.write(lines[1])
			c.restartContainer().Close()
			expectLines(t, tl, from{path: backup, ino: l0.ino, first: lines[0]}, lines[1:2], size(lines[:1]))
			c.write(lines[2:]...)
			l1 := fileFrom(t, c.path(), lines[2])
			if late {
				expectLines(t, tl, l1, lines[2:3], 0)
			}
			if err := os.Rename(backup, live0); err != nil {
				t.Fatal(err)
			}
			if !late {
				expectLines(t, tl, l1, lines[2:3], 0)
			}
			expectLines(t, tl, l1, lines[3:], size(lines[2:3]))
			expectNothing(t, tl)
			if st := tl.Stats(); st.Restarts != 1 || st.LostFiles != 0 {
				t.Fatalf("stats = %+v", st)
			}
		})
	}
}

// An old instance that writes after the tailer moved on to the next
// instance's log: those bytes are not read, and are counted as lost (and
// logged), never dropped silently.
func TestKubeletLateWriteAfterLeavingIsCountedLost(t *testing.T) {
	dir := t.TempDir()
	c := newContainerLog(t, dir, 5)
	lines := seqLines("g", 6)
	c.write(lines[:1]...)
	tl := newTailer(t, kubeletConfig(t, dir), checkpoint.Position{}, time.Time{})
	l0 := fileFrom(t, c.path(), lines[0])
	expectLines(t, tl, l0, lines[:1], 0)
	old := c.restartContainer()
	c.write(lines[1:3]...)
	expectLines(t, tl, fileFrom(t, c.path(), lines[1]), lines[1:3], 0) // the tailer left 0.log
	if st := tl.Stats(); st.LostBytes != 0 {
		t.Fatalf("lost %d bytes before any late write", st.LostBytes)
	}
	writeTo(t, old, lines[3]) // far too late: the tailer is in 1.log
	c.write(lines[4])
	expectLines(t, tl, fileFrom(t, c.path(), lines[1]), lines[4:5], size(lines[1:3]))
	deadline := time.Now().Add(5 * time.Second)
	for tl.Stats().LostBytes != uint64(len(lines[3])) {
		if time.Now().After(deadline) {
			t.Fatalf("lost bytes %d, want %d (the late line)", tl.Stats().LostBytes, len(lines[3]))
		}
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		if l, err := tl.Next(ctx); err == nil {
			t.Fatalf("unexpected line %q", l.Text)
		}
		_ = tl.Wait(ctx)
		cancel()
	}
}
