package spool

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// reserve allocates the n bytes after off in f without changing its size
// (fallocate with FALLOC_FL_KEEP_SIZE), so that a full disk refuses a batch
// before any byte of it is written, not in the middle of it. A file system
// that cannot preallocate (EOPNOTSUPP) is not an error: the write then
// finds out, and is truncated back.
func reserve(f *os.File, off, n int64) error {
	err := onFD(f, "fallocate", func(fd int) error {
		return unix.Fallocate(fd, unix.FALLOC_FL_KEEP_SIZE, off, n)
	})
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOTSUP) {
		return nil
	}
	return err
}

// datasync flushes f's data, and the metadata needed to read it back (its
// size), to the disk: fdatasync(2).
func datasync(f *os.File) error {
	return onFD(f, "fdatasync", unix.Fdatasync)
}

// onFD runs call on f's descriptor, again when a signal interrupts it, and
// names the system call in its error.
func onFD(f *os.File, name string, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		for {
			cerr = call(int(fd))
			if cerr != unix.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	if cerr != nil {
		return os.NewSyscallError(name, cerr)
	}
	return nil
}
