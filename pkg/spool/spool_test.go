package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

func TestConfig(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.MaxBytes != 1<<30 || c.FileBytes != 64<<20 || c.Dir != "/var/lib/audittail/spool" {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if got := c.LivePath(); got != "/var/lib/audittail/spool/audit.log" {
		t.Fatalf("LivePath = %q", got)
	}
	if got := c.CheckpointPath(); got != "/var/lib/audittail/spool/checkpoint.json" {
		t.Fatalf("CheckpointPath = %q", got)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{FileBytes: 1 << 20, MaxBytes: 1 << 20}, "spool.dir: must not be empty when the webhook receiver is on"},
		{Config{Dir: "spool", FileBytes: 1<<20 - 1, MaxBytes: 1 << 30}, "spool.file_bytes: 1048575 is below the minimum 1048576 (1 MiB)"},
		{Config{Dir: "spool", FileBytes: 2 << 20, MaxBytes: 2<<20 - 1}, "spool.max_bytes: 2097151 is below spool.file_bytes (2097152)"},
		{Config{Dir: "spool", FileBytes: 1 << 20, MaxBytes: 1 << 20}, ""},
	} {
		err := tc.cfg.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && err.Error() != tc.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestAppendRotateSequence pins the layout the tailer follows: the live
// file is rotated before an append that would take it past FileBytes (not
// at exactly FileBytes), a batch larger than FileBytes goes alone into a
// fresh file, every backup name parses with lumberjack's format and the
// names increase in the order the files were written.
func TestAppendRotateSequence(t *testing.T) {
	cfg := Config{Dir: filepath.Join(t.TempDir(), "spool"), FileBytes: 100, MaxBytes: 1 << 20}
	s := openSpool(t, cfg, &fakePositions{})
	if fi, err := os.Stat(cfg.Dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("spool directory: %v, %v; want mode 0700", fi, err)
	}
	batches := []struct{ first, n int }{
		{0, 3},   // live 30
		{3, 4},   // live 70
		{7, 3},   // live 100: exactly FileBytes, no rotation
		{10, 1},  // 110 would pass it: rotate, live 10
		{11, 15}, // 150 > FileBytes: rotate, alone in a fresh file
		{26, 2},  // rotate again, live 20
	}
	for _, b := range batches {
		mustAppend(t, s, tenByteLines(b.first, b.n))
	}
	want := []string{
		string(tenByteLines(0, 10)),
		string(tenByteLines(10, 1)),
		string(tenByteLines(11, 15)),
		string(tenByteLines(26, 2)),
	}
	files := spoolFiles(t, cfg.Dir)
	if len(files) != len(want) {
		t.Fatalf("files %q, want %d", files, len(want))
	}
	var last string
	for i, f := range files {
		if got := readFile(t, f); got != want[i] {
			t.Errorf("%s holds %d bytes %q, want %d bytes %q", f, len(got), got, len(want[i]), want[i])
		}
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", f, fi, err)
		}
		base := filepath.Base(f)
		if i == len(files)-1 {
			if base != "audit.log" {
				t.Errorf("live file %s", base)
			}
			continue
		}
		ts := parseLumberjack(t, base)
		if last != "" && !ts.After(parseLumberjack(t, last)) {
			t.Errorf("backup %s is not after %s", base, last)
		}
		last = base
	}
	st := s.Stats()
	if st.Files != 4 || st.Bytes != 280 || st.Rotations != 3 || st.Appends != 6 || st.AppendedBytes != 280 || st.Errors != 0 {
		t.Fatalf("stats %+v", st)
	}

	// Open again: the spool counts its files, and goes on in the live file.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, cfg, &fakePositions{})
	if st := s.Stats(); st.Files != 4 || st.Bytes != 280 {
		t.Fatalf("stats after Open %+v", st)
	}
	mustAppend(t, s, tenByteLines(28, 8)) // 100: no rotation
	mustAppend(t, s, tenByteLines(36, 1)) // rotation
	files = spoolFiles(t, cfg.Dir)
	if len(files) != 5 || readFile(t, files[3]) != string(tenByteLines(26, 10)) || readFile(t, files[4]) != string(tenByteLines(36, 1)) {
		t.Fatalf("after reopening: files %q", files)
	}
	if !parseLumberjack(t, filepath.Base(files[3])).After(parseLumberjack(t, filepath.Base(files[2]))) {
		t.Fatalf("backup %s is not after %s", files[3], files[2])
	}
}

// TestBackupNamesIncreaseWhenClockIsBehind: a backup newer than the clock
// (the clock went back) is followed by one a millisecond after it, never by
// an older name, which the tailer would take for a file it already read.
func TestBackupNamesIncreaseWhenClockIsBehind(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 10, MaxBytes: 1 << 20}
	future := filepath.Join(cfg.Dir, "audit-2999-12-31T23-59-59.998.log")
	if err := os.WriteFile(future, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openSpool(t, cfg, &fakePositions{})
	for i := range 3 {
		mustAppend(t, s, tenByteLines(i, 1)) // each rotates but the first
	}
	files := spoolFiles(t, cfg.Dir)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f))
	}
	want := []string{"audit-2999-12-31T23-59-59.998.log", "audit-2999-12-31T23-59-59.999.log", "audit-3000-01-01T00-00-00.000.log", "audit.log"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("files %q, want %q", names, want)
	}
}

// TestTornTailCutAtOpen: a live file ending in an unterminated line (a
// crash in the middle of an append) is cut to just after its last newline,
// with a warning that says how much was cut; backups are left alone; the
// next Open finds nothing to cut.
func TestTornTailCutAtOpen(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		size          int64
	}{
		{"partial last line", "line1\nline2\n{\"kind\":\"Ev", 12},
		{"no newline at all", "{\"kind\":", 0},
		{"complete", "line1\nline2\n", 12},
		{"empty", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Dir: t.TempDir(), FileBytes: 1 << 20, MaxBytes: 1 << 30}
			backup := filepath.Join(cfg.Dir, "audit-2026-01-01T00-00-00.000.log")
			if err := os.WriteFile(backup, []byte("torn"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg.LivePath(), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs lockedBuffer
			s, err := Open(cfg, &fakePositions{}, zerolog.New(&logs))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			cut := int64(len(tc.content)) - tc.size
			warned := strings.Contains(logs.String(), `"level":"warn"`)
			if cut > 0 && (!warned || !strings.Contains(logs.String(), fmt.Sprintf(`"cut_bytes":%d,"size":%d`, cut, tc.size))) {
				t.Fatalf("no warning with the bytes cut: %s", logs.String())
			}
			if cut == 0 && warned {
				t.Fatalf("warning without a cut: %s", logs.String())
			}
			if got := readFile(t, cfg.LivePath()); got != tc.content[:tc.size] {
				t.Fatalf("live file %q after Open, want %q", got, tc.content[:tc.size])
			}
			if got := readFile(t, backup); got != "torn" {
				t.Fatalf("backup changed: %q", got)
			}
			if st := s.Stats(); st.Bytes != tc.size+4 || st.Files != 2 {
				t.Fatalf("stats %+v", st)
			}
			mustAppend(t, s, []byte("next\n"))
			if got := readFile(t, cfg.LivePath()); got != tc.content[:tc.size]+"next\n" {
				t.Fatalf("live file %q after Append", got)
			}
			s.Close()
			logs = lockedBuffer{}
			s2, err := Open(cfg, &fakePositions{}, zerolog.New(&logs))
			if err != nil {
				t.Fatal(err)
			}
			defer s2.Close()
			if strings.Contains(logs.String(), `"level":"warn"`) {
				t.Fatalf("warning at the next Open: %s", logs.String())
			}
		})
	}
}

// TestErrFull: an append is refused with ErrFull, writing nothing, exactly
// when it would take the spool past MaxBytes; it is taken again once
// pruning freed the space.
func TestErrFull(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 50, MaxBytes: 100}
	pos := &fakePositions{}
	s := openSpool(t, cfg, pos)
	for i := range 9 {
		mustAppend(t, s, tenByteLines(i, 1))
	}
	before := contents(t, cfg.Dir)
	err := s.Append([]byte("0123456789\n")) // 90 + 11 > 100
	if !errors.Is(err, ErrFull) {
		t.Fatalf("Append past MaxBytes: %v, want ErrFull", err)
	}
	if after := contents(t, cfg.Dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused append changed the files:\n%q\n%q", before, after)
	}
	mustAppend(t, s, tenByteLines(9, 1)) // 90 + 10 = 100: at MaxBytes, not past it
	if err := s.Append([]byte("\n")); !errors.Is(err, ErrFull) {
		t.Fatalf("Append at MaxBytes: %v, want ErrFull", err)
	}
	st := s.Stats()
	if st.RefusedFull != 2 || !st.Full || st.Errors != 0 || st.Appends != 10 || st.Bytes != 100 || st.Files != 2 {
		t.Fatalf("stats %+v", st)
	}

	// The tailer is past the backup: pruning deletes it, and appends are taken again.
	pos.setDurable(posIn(t, cfg.LivePath(), 10))
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Bytes != 50 || st.Files != 1 || st.RemovedFiles != 1 || st.RemovedBytes != 50 || st.Full {
		t.Fatalf("stats after pruning %+v", st)
	}
	mustAppend(t, s, tenByteLines(10, 5))
	if err := s.Append(tenByteLines(15, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append past MaxBytes after pruning: %v, want ErrFull", err)
	}
}

// TestFullSpoolTakesBatchOnceEverythingConfirmed: with MaxBytes as small as
// FileBytes, a full live file would never be rotated, so never pruned, if
// the spool refused appends once the log server has confirmed all of it.
func TestFullSpoolTakesBatchOnceEverythingConfirmed(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 50, MaxBytes: 50}
	pos := &fakePositions{}
	s := openSpool(t, cfg, pos)
	mustAppend(t, s, tenByteLines(0, 5))
	if err := s.Append(tenByteLines(5, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append: %v, want ErrFull", err)
	}
	pos.setPosition(posIn(t, cfg.LivePath(), 40)) // not all of it
	if err := s.Append(tenByteLines(5, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append: %v, want ErrFull", err)
	}
	pos.setPosition(posIn(t, cfg.LivePath(), 50))
	if !s.Stats().Full {
		t.Fatal("Stats.Full not set by a refusal")
	}
	mustAppend(t, s, tenByteLines(5, 1))
	if st := s.Stats(); st.Bytes != 60 || st.Files != 2 || st.Rotations != 1 || st.Full {
		t.Fatalf("stats %+v", st)
	}
	pos.setDurable(posIn(t, cfg.LivePath(), 0))
	if err := s.prune(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Bytes != 10 || st.Files != 1 {
		t.Fatalf("stats after pruning %+v", st)
	}
}

// TestEmptySpoolTakesBatchLargerThanMax: a batch alone larger than
// MaxBytes is taken by an empty spool, else it could never be.
func TestEmptySpoolTakesBatchLargerThanMax(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 50, MaxBytes: 100}
	s := openSpool(t, cfg, &fakePositions{})
	mustAppend(t, s, tenByteLines(0, 15))
	if err := s.Append(tenByteLines(15, 1)); !errors.Is(err, ErrFull) {
		t.Fatalf("Append: %v, want ErrFull", err)
	}
	if got := readFile(t, cfg.LivePath()); got != string(tenByteLines(0, 15)) {
		t.Fatalf("live file %q", got)
	}
}

func TestAppendRejectsIncompleteData(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 50, MaxBytes: 100}
	s := openSpool(t, cfg, &fakePositions{})
	for _, d := range []string{"", "{}", "{}\n{}"} {
		if err := s.Append([]byte(d)); err == nil || errors.Is(err, ErrFull) {
			t.Errorf("Append(%q) = %v, want an error", d, err)
		}
	}
	if got := readFile(t, cfg.LivePath()); got != "" {
		t.Fatalf("live file %q", got)
	}
	if st := s.Stats(); st.Errors != 3 || st.Appends != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOpenRefusesWhatIsNotADirectoryOrFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "spool")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: file, FileBytes: 1, MaxBytes: 1}, &fakePositions{}, zerolog.Nop()); err == nil ||
		!strings.Contains(err.Error(), "not a directory") || !strings.Contains(err.Error(), file) {
		t.Fatalf("Open on a file: %v", err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, LiveName), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir, FileBytes: 1, MaxBytes: 1}, &fakePositions{}, zerolog.Nop()); err == nil ||
		!strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Open with a directory at the live path: %v", err)
	}
	if _, err := Open(Config{Dir: t.TempDir()}, &fakePositions{}, zerolog.Nop()); err == nil {
		t.Fatal("Open without sizes: no error")
	}
}

func TestAppendAfterClose(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 50, MaxBytes: 100}
	s := openSpool(t, cfg, &fakePositions{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]byte("x\n")); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestWriteFailureTruncatedBack makes a write fail for real: the test runs
// itself again in a child process whose file size limit (RLIMIT_FSIZE,
// which applies to that process only) stops the write of a batch in its
// middle, with EFBIG. The spool truncates the file back, so the part
// written is gone, and takes the next batch that fits.
func TestWriteFailureTruncatedBack(t *testing.T) {
	const limit = 1000
	if dir := os.Getenv("SPOOL_TEST_FSIZE_DIR"); dir != "" {
		writeFailureChild(t, dir, limit)
		return
	}
	dir := t.TempDir()
	cmd := execSelf(t, "^TestWriteFailureTruncatedBack$", "SPOOL_TEST_FSIZE_DIR="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := string(tenByteLines(0, 90)) + string(tenByteLines(90, 10))
	if got := readFile(t, filepath.Join(dir, LiveName)); got != want {
		t.Fatalf("live file holds %d bytes, want %d", len(got), len(want))
	}
}

func writeFailureChild(t *testing.T, dir string, limit uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	rl.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &rl); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Dir: dir, FileBytes: 1 << 20, MaxBytes: 1 << 30}
	s := openSpool(t, cfg, &fakePositions{})
	mustAppend(t, s, tenByteLines(0, 90))
	err := s.Append(tenByteLines(90, 20)) // 900 + 200: the write stops at 1000
	if !errors.Is(err, syscall.EFBIG) || errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "truncated back to 900 bytes") {
		t.Fatalf("Append past the size limit: %v", err)
	}
	if got := readFile(t, cfg.LivePath()); got != string(tenByteLines(0, 90)) {
		t.Fatalf("live file holds %d bytes after the failed write, want 900", len(got))
	}
	mustAppend(t, s, tenByteLines(90, 10)) // exactly up to the limit
	if st := s.Stats(); st.Errors != 1 || st.Appends != 2 || st.Bytes != 1000 || st.Broken {
		t.Fatalf("stats %+v", st)
	}
}

// TestSyncFailureTruncatedBack: the seam makes fdatasync fail once (an I/O
// error cannot be made for real without a faulty device); the batch, which
// was written whole, is truncated away and the error says so.
func TestSyncFailureTruncatedBack(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 1 << 20, MaxBytes: 1 << 30}
	s := openSpool(t, cfg, &fakePositions{})
	mustAppend(t, s, tenByteLines(0, 3))
	fail := true
	s.sync = func(f *os.File) error {
		if fail {
			fail = false
			return os.NewSyscallError("fdatasync", syscall.EIO)
		}
		return datasync(f)
	}
	err := s.Append(tenByteLines(3, 4))
	if !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "fdatasync 40 bytes") || !strings.Contains(err.Error(), "truncated back to 30 bytes") {
		t.Fatalf("Append with a failing sync: %v", err)
	}
	if got := readFile(t, cfg.LivePath()); got != string(tenByteLines(0, 3)) {
		t.Fatalf("live file %q", got)
	}
	mustAppend(t, s, tenByteLines(3, 4))
	if got := readFile(t, cfg.LivePath()); got != string(tenByteLines(0, 7)) {
		t.Fatalf("live file %q", got)
	}
	if st := s.Stats(); st.Errors != 1 || st.Appends != 2 || st.Bytes != 70 || st.Broken {
		t.Fatalf("stats %+v", st)
	}
}

// TestBrokenWhenUndoFails: the seam closes the file's descriptor and fails
// the write, so the truncation back fails for real: the spool is broken,
// and every later Append fails at once, without touching the file.
func TestBrokenWhenUndoFails(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 1 << 20, MaxBytes: 1 << 30}
	var logs lockedBuffer
	s := openSpoolLog(t, cfg, &fakePositions{}, zerolog.New(&logs))
	mustAppend(t, s, tenByteLines(0, 3))
	writes := 0
	s.write = func(f *os.File, b []byte) (int, error) {
		writes++
		f.Close()
		return 0, os.NewSyscallError("write", syscall.EIO)
	}
	err := s.Append(tenByteLines(3, 1))
	if !errors.Is(err, errBroken) || !strings.Contains(err.Error(), "input/output error") || !strings.Contains(err.Error(), "truncating the file back to 30 bytes failed too") {
		t.Fatalf("Append with a failing write and undo: %v", err)
	}
	if !strings.Contains(logs.String(), `"level":"error"`) {
		t.Fatalf("no error logged: %s", logs.String())
	}
	if err := s.Append(tenByteLines(4, 1)); !errors.Is(err, errBroken) || writes != 1 {
		t.Fatalf("Append on a broken spool: %v (%d writes)", err, writes)
	}
	if st := s.Stats(); !st.Broken || st.Errors != 2 || st.Appends != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := readFile(t, cfg.LivePath()); got != string(tenByteLines(0, 3)) {
		t.Fatalf("live file %q", got)
	}
}

// TestReserveFailureWritesNothing: when the space cannot be reserved (the
// seam stands for a full disk), nothing is written and the error is not
// ErrFull: the disk is the problem, not the backlog.
func TestReserveFailureWritesNothing(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 1 << 20, MaxBytes: 1 << 30}
	s := openSpool(t, cfg, &fakePositions{})
	mustAppend(t, s, tenByteLines(0, 3))
	s.reserve = func(*os.File, int64, int64) error { return os.NewSyscallError("fallocate", syscall.ENOSPC) }
	s.write = func(*os.File, []byte) (int, error) { t.Fatal("write after a failed reservation"); return 0, nil }
	err := s.Append(tenByteLines(3, 1))
	if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFull) || !strings.Contains(err.Error(), "reserve 10 bytes") {
		t.Fatalf("Append on a full disk: %v", err)
	}
	if got := readFile(t, cfg.LivePath()); got != string(tenByteLines(0, 3)) {
		t.Fatalf("live file %q", got)
	}
	if st := s.Stats(); st.Errors != 1 || st.Broken || st.Bytes != 30 {
		t.Fatalf("stats %+v", st)
	}
}

// TestConcurrentAppends: batches appended from many goroutines at once
// (run with -race) all land whole, never interleaved, each once, in each
// goroutine's order, across rotations.
func TestConcurrentAppends(t *testing.T) {
	cfg := Config{Dir: t.TempDir(), FileBytes: 2048, MaxBytes: 1 << 30}
	s := openSpool(t, cfg, &fakePositions{})
	const writers, batches = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	var want int64
	for w := range writers {
		for b := range batches {
			want += int64(len(testBatch(w, b)))
		}
		wg.Go(func() {
			for b := range batches {
				if err := s.Append(testBatch(w, b)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var all []string
	for _, f := range spoolFiles(t, cfg.Dir) {
		c := readFile(t, f)
		if int64(len(c)) > cfg.FileBytes {
			t.Errorf("%s holds %d bytes, more than FileBytes", f, len(c))
		}
		all = append(all, strings.SplitAfter(c, "\n")...)
		all = all[:len(all)-1] // the empty string after the last newline
	}
	checkBatches(t, all, writers, batches)
	if st := s.Stats(); st.Bytes != want || st.Appends != writers*batches || st.AppendedBytes != uint64(want) || st.Errors != 0 {
		t.Fatalf("stats %+v, want %d bytes", st, want)
	}
}

// testBatch is batch b of writer w: 1 to 5 JSON lines of varying length.
func testBatch(w, b int) []byte {
	n := 1 + (w+b)%5
	var out []byte
	for l := range n {
		out = fmt.Appendf(out, `{"w":%d,"b":%d,"l":%d,"n":%d,"pad":"%s"}`+"\n", w, b, l, n, strings.Repeat("x", (w*7+b*13+l)%90))
	}
	return out
}

// checkBatches checks lines, as read in order, against what the writers
// appended: every line exactly once, each batch's lines together and in
// order, and each writer's batches in order.
func checkBatches(t *testing.T, lines []string, writers, batches int) {
	t.Helper()
	next := make([]int, writers) // the batch expected next from each writer
	for i := 0; i < len(lines); {
		var w, b, l, n int
		if _, err := fmt.Sscanf(lines[i], `{"w":%d,"b":%d,"l":%d,"n":%d`, &w, &b, &l, &n); err != nil {
			t.Fatalf("line %d %q: %v", i, lines[i], err)
		}
		if w >= writers || b != next[w] {
			t.Fatalf("line %d: batch %d of writer %d, want batch %d", i, b, w, next[w])
		}
		want := strings.SplitAfter(string(testBatch(w, b)), "\n")
		want = want[:len(want)-1]
		if i+len(want) > len(lines) || strings.Join(lines[i:i+len(want)], "") != strings.Join(want, "") {
			t.Fatalf("line %d: batch %d of writer %d is not whole", i, b, w)
		}
		next[w]++
		i += len(want)
	}
	for w, b := range next {
		if b != batches {
			t.Fatalf("writer %d: %d batches read, want %d", w, b, batches)
		}
	}
}
