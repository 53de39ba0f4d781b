package spool

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestReserveKeepsSize: reserve allocates the blocks for a batch without
// changing the file's size, so the tailer sees nothing until the write.
func TestReserveKeepsSize(t *testing.T) {
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("a\n"); err != nil {
		t.Fatal(err)
	}
	if err := reserve(f, 2, 1<<20); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	blocks := fi.Sys().(*syscall.Stat_t).Blocks * 512
	if fi.Size() != 2 {
		t.Fatalf("size %d after reserving, want 2", fi.Size())
	}
	if blocks < 1<<20 {
		t.Skipf("this file system does not preallocate (%d bytes allocated)", blocks)
	}
	if err := datasync(f); err != nil {
		t.Fatal(err)
	}
}
