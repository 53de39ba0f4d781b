//go:build linux

package tailer

import (
	"io"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The live file is read, sized and checked with raw system calls
// (unix.RawSyscall) instead of os.File's methods. A system call made the
// usual way (syscall.Syscall) enters the Go runtime's syscall path, which
// wakes the runtime's monitor thread, sysmon, when it sleeps
// (runtime/proc.go, entersyscallWakeSysmon), and sysmon then looks at the
// program every 20 µs until it has been idle for a while (proc.go, sysmon:
// "start with 20us sleep"), a context switch each time. A live tail wakes
// up for a batch, makes a few system calls, and sleeps again: each batch
// would put sysmon back to 20 µs. The live file was just written, so it is
// in the page cache and these calls return at once, which is what a raw
// call requires (the runtime cannot hand the thread's work to another
// while it is in one). Backups and copies, read when catching up, may come
// from the disk: they use os.File as usual.

// rawFile reads a regular file with raw read(2) and pread(2) calls. It
// does not own the descriptor: the *os.File it comes from does, and must
// stay open while it is used.
type rawFile struct {
	fd int
	f  *os.File // keeps the descriptor alive
}

func newRawFile(f *os.File) rawFile {
	var fd int
	if rc, err := f.SyscallConn(); err == nil {
		_ = rc.Control(func(d uintptr) { fd = int(d) })
	}
	return rawFile{fd: fd, f: f}
}

// Read reads like os.File.Read: io.EOF at the end of the file.
func (r rawFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(r.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, &os.PathError{Op: "read", Path: r.f.Name(), Err: e}
		case n == 0:
			return 0, io.EOF
		}
		return int(n), nil
	}
}

// ReadAt reads like os.File.ReadAt: it fills p unless the file ends first
// (io.EOF).
func (r rawFile) ReadAt(p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, _, e := unix.RawSyscall6(unix.SYS_PREAD64, uintptr(r.fd), uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done), uintptr(off+int64(done)), 0, 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return done, &os.PathError{Op: "read", Path: r.f.Name(), Err: e}
		case n == 0:
			return done, io.EOF
		}
		done += int(n)
	}
	return done, nil
}

// Size returns the file's size (fstat(2)).
func (r rawFile) Size() (int64, error) {
	var st unix.Stat_t
	for {
		_, _, e := unix.RawSyscall(unix.SYS_FSTAT, uintptr(r.fd), uintptr(unsafe.Pointer(&st)), 0)
		switch {
		case e == unix.EINTR:
			continue
		case e != 0:
			return 0, &os.PathError{Op: "stat", Path: r.f.Name(), Err: syscall.Errno(e)}
		}
		return st.Size, nil
	}
}
