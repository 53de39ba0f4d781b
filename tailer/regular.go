package tailer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// notRegularError is a path that names something other than a regular file
// (a named pipe, a device, a directory, ...), or a file that kept being
// replaced while it was opened. The tailer never reads such a thing: a named
// pipe would block the open, /dev/zero would be read forever.
type notRegularError struct {
	path string
	what string  // "is a named pipe (FIFO), not a regular file"
	key  fileKey // the file's device and inode, when known
}

func (e *notRegularError) Error() string { return e.path + " " + e.what }

func newNotRegular(path string, fi fs.FileInfo) *notRegularError {
	d, i := fileID(fi)
	return &notRegularError{path: path, what: "is " + fileType(fi.Mode()) + ", not a regular file", key: fileKey{d, i}}
}

// fileType names the type of a file that is not regular.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	default:
		return fmt.Sprintf("a file of type %s", m.Type())
	}
}

// openRegular opens path for reading if, and only if, it is a regular file,
// and returns the descriptor's FileInfo. It never blocks in open(2): the path
// is checked with stat first and anything else is refused without being
// opened; the open itself uses O_NONBLOCK, with which opening a named pipe
// swapped in after the check returns at once instead of waiting for a writer
// (fifo(7)); and fstat of the descriptor then confirms it is the file that was
// checked. O_NONBLOCK has no effect on reads of a regular file (open(2)), and
// Go's runtime poller does not take regular files, so reads stay ordinary
// blocking reads. A file replaced between the check and the open is checked
// again; errors from stat and open keep their fs.ErrNotExist.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	for attempt := 0; ; attempt++ {
		fi, err := os.Stat(path)
		if err != nil {
			return nil, nil, err
		}
		if !fi.Mode().IsRegular() {
			return nil, nil, newNotRegular(path, fi)
		}
		f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, nil, err
		}
		ffi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("stat %s: %w", path, err)
		}
		if !ffi.Mode().IsRegular() {
			f.Close()
			return nil, nil, newNotRegular(path, ffi)
		}
		if os.SameFile(fi, ffi) {
			return f, ffi, nil
		}
		f.Close()
		if attempt == 2 {
			return nil, nil, &notRegularError{path: path, what: "was replaced by another file while being opened, three times in a row"}
		}
	}
}

// discard reads and drops up to n bytes of r (all of it when n < 0), checking
// ctx before every read, so that decompressing a large or hostile gzip stream
// (a few KiB can expand to many GiB) stops when ctx ends. It returns the
// bytes read; the end of r is not an error.
func discard(ctx context.Context, r io.Reader, n int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var done int64
	for n < 0 || done < n {
		if err := ctx.Err(); err != nil {
			return done, err
		}
		b := buf
		if n >= 0 {
			b = b[:min(int64(len(b)), n-done)]
		}
		k, err := r.Read(b)
		done += int64(k)
		if errors.Is(err, io.EOF) {
			return done, nil
		}
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
