// Package agenttest holds what the end-to-end tests of the command and the
// torture suite share to run the real audittail binary: building it once,
// collecting its output safely, and reading its peak memory. It is for tests
// only.
package agenttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Build compiles the audittail command in pkgDir (a path to cmd/audittail)
// into a new temporary directory and returns the binary's path and a function
// that removes the directory.
func Build(pkgDir string) (binary string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "audittail-bin-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { os.RemoveAll(dir) }
	binary = filepath.Join(dir, "audittail")
	if out, err := exec.Command("go", "build", "-o", binary, pkgDir).CombinedOutput(); err != nil {
		cleanup()
		return "", nil, fmt.Errorf("build audittail: %v\n%s", err, out)
	}
	return binary, cleanup, nil
}

// Main is a TestMain for packages that run the binary: it builds the
// command in pkgDir into *binary, runs the tests, removes the binary and
// exits with the tests' code.
func Main(m *testing.M, pkgDir string, binary *string) {
	bin, cleanup, err := Build(pkgDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*binary = bin
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// Buffer collects a process's output; it is safe to read while it is written.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PeakRSS returns the peak resident set size (VmHWM) of a live process, in
// bytes, or 0 if it cannot be read.
func PeakRSS(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb << 10
			}
		}
	}
	return 0
}

// Tail returns the last n bytes of s, marked as cut when it is longer.
func Tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// WaitCompressed waits until lumberjack's background goroutine has gzipped
// every backup in dir (no plain audit-*.log is left), so that it does not
// write into a directory a test is removing. lumberjack's Close does not wait
// for it. It gives up after timeout and says what is left.
func WaitCompressed(dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		plain, _ := filepath.Glob(filepath.Join(dir, "audit-*.log"))
		if len(plain) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("lumberjack still has %d backups to gzip after %s: %v", len(plain), timeout, plain)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
