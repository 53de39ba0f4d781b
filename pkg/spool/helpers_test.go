package spool

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/rs/zerolog"
)

// fakePositions is a checkpoint store whose positions the test sets.
type fakePositions struct {
	mu           sync.Mutex
	pos, durable checkpoint.Position
}

func (f *fakePositions) Position() checkpoint.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pos
}

func (f *fakePositions) Durable() checkpoint.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.durable
}

func (f *fakePositions) setPosition(p checkpoint.Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pos = p
}

func (f *fakePositions) setDurable(p checkpoint.Position) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.durable = p
}

// lockedBuffer collects log output written from other goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func testLog(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel)
}

// openSpool opens a spool for the test and closes it at its end.
func openSpool(t testing.TB, cfg Config, pos positions) *Spool {
	t.Helper()
	return openSpoolLog(t, cfg, pos, testLog(t))
}

func openSpoolLog(t testing.TB, cfg Config, pos positions, log zerolog.Logger) *Spool {
	t.Helper()
	s, err := Open(cfg, pos, log)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustAppend(t testing.TB, s *Spool, data []byte) {
	t.Helper()
	if err := s.Append(data); err != nil {
		t.Fatalf("Append(%d bytes): %v", len(data), err)
	}
}

// tenByteLines returns n lines of 10 bytes each, numbered from first.
func tenByteLines(first, n int) []byte {
	var b []byte
	for i := range n {
		b = fmt.Appendf(b, "%09d\n", first+i)
	}
	return b
}

// posIn is a checkpoint position at offset off of the file at path, named
// by inode only.
func posIn(t testing.TB, path string, off int64) checkpoint.Position {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	k := keyOf(fi)
	return checkpoint.Position{Path: path, Dev: k.dev, Inode: k.ino, Offset: off}
}

// spoolFiles returns the spool's files in the order they were written:
// the backups by name, then the live file.
func spoolFiles(t testing.TB, dir string) []string {
	t.Helper()
	backups, err := filepath.Glob(filepath.Join(dir, "audit-*.log"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(backups)
	return append(backups, filepath.Join(dir, LiveName))
}

// contents reads every file in dir into a map of base name to content.
func contents(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseLumberjack parses a backup's base name with lumberjack's format.
func parseLumberjack(t testing.TB, base string) time.Time {
	t.Helper()
	const prefix, ext = "audit-", ".log"
	if len(base) < len(prefix)+len(ext) || base[:len(prefix)] != prefix || base[len(base)-len(ext):] != ext {
		t.Fatalf("backup name %q is not audit-<time>.log", base)
	}
	ts, err := time.Parse("2006-01-02T15-04-05.000", base[len(prefix):len(base)-len(ext)])
	if err != nil {
		t.Fatalf("backup name %q: %v", base, err)
	}
	return ts
}

// execSelf returns a command that runs the tests matching pattern in a
// child process of the test binary, with env added to its environment.
func execSelf(t testing.TB, pattern string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run="+pattern, "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), env...)
	return cmd
}
