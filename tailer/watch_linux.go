//go:build linux

package tailer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// watcher reads inotify events on the log's directory (inotify(7),
// https://man7.org/linux/man-pages/man7/inotify.7.html) and turns them into
// wake-ups for Wait. It is only a hint: the tailer re-derives the truth with
// fstat, stat and the directory listing, and also wakes when the poll
// interval passes, so a lost or overflowed event costs latency, not data.
//
// The inotify descriptor is non-blocking and wrapped in an *os.File, which
// registers it with the Go runtime's network poller: a Wait with nothing to
// read parks its goroutine there, and no goroutine or thread of the watcher's
// own exists. The descriptor is read only while Wait runs, all queued
// events at once, so that while the caller works on a batch the kernel
// queues the events and merges identical consecutive ones (inotify(7)):
// the thousands of writes of a burst cost one read.
//
// When inotify cannot be used (fs.inotify.max_user_instances is exhausted,
// or the descriptor fails), Wait runs on the poll interval alone.
type watcher struct {
	dir  string // the directory watched
	live string // base name of the live file, whose writes wake Wait
	log  zerolog.Logger

	f   *os.File        // the inotify instance; nil when inotify is unusable
	rc  syscall.RawConn // f's descriptor, read and used without leaving the poller
	wd  int             // the directory's watch descriptor while added
	buf []byte

	added     atomic.Bool // the watch is in place (and f usable)
	overflows atomic.Uint64
}

// inotifyMask selects the events that can matter (inotify(7)): writes (and
// truncations) show as IN_MODIFY, lumberjack's rotation as IN_MOVED_FROM
// and IN_MOVED_TO of the live file then IN_CREATE of the new one, its gzip
// of a backup as IN_CREATE of the .gz and IN_DELETE of the plain file,
// copytruncate's copies as IN_CREATE or IN_MOVED_TO. IN_DELETE_SELF and
// IN_MOVE_SELF say the directory itself went away.
const inotifyMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// inotifyBufSize is the room for the events one read returns: at least
// 16 bytes each (unix.SizeofInotifyEvent) plus the name, NUL-padded to a
// multiple of 16 bytes (round_event_name_len in the kernel's
// fs/notify/inotify/inotify_user.c), so some thousand events at once.
const inotifyBufSize = 64 << 10

func newWatcher(dir, live string, log zerolog.Logger) *watcher {
	wt := &watcher{dir: dir, live: live, log: log, wd: -1}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		log.Warn().Err(fmt.Errorf("inotify_init1: %w", err)).
			Msg("inotify is unavailable; falling back to polling (raise fs.inotify.max_user_instances to get inotify back)")
		return wt
	}
	// With O_NONBLOCK set, os.NewFile registers the descriptor with the
	// runtime poller, which is what makes read deadlines work on it.
	wt.f = os.NewFile(uintptr(fd), "inotify")
	if wt.rc, err = wt.f.SyscallConn(); err != nil {
		wt.fail(fmt.Errorf("inotify descriptor: %w", err))
		return wt
	}
	wt.buf = make([]byte, inotifyBufSize)
	wt.tryAdd()
	return wt
}

// tryAdd puts the directory watch in place if it is not (the directory may
// not exist yet, or may have been removed or moved away), and reports
// whether it did so now.
func (wt *watcher) tryAdd() bool {
	if wt.f == nil || wt.added.Load() {
		return false
	}
	var wd int
	var err error
	if cerr := wt.rc.Control(func(fd uintptr) { wd, err = unix.InotifyAddWatch(int(fd), wt.dir, inotifyMask) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		wt.log.Debug().Err(fmt.Errorf("inotify_add_watch %s: %w", wt.dir, err)).Str("dir", wt.dir).Msg("cannot watch directory yet; polling")
		return false
	}
	wt.wd = wd
	wt.added.Store(true)
	return true
}

// wait blocks until inotify reports an event that matters (see parse), poll
// passes, or ctx ends (ctx.Err()). A watch put in place now ends it at once
// as a directory change: what happened before it was not reported.
func (wt *watcher) wait(ctx context.Context, poll time.Duration, timer *time.Timer) (wake, error) {
	if wt.f == nil {
		return wake{dir: true}, sleep(ctx, poll, timer)
	}
	if wt.tryAdd() {
		return wake{dir: true}, nil
	}
	if err := wt.f.SetReadDeadline(time.Now().Add(poll)); err != nil {
		wt.fail(fmt.Errorf("set a read deadline on the inotify descriptor: %w", err))
		return wake{dir: true}, nil
	}
	if ctx.Done() != nil {
		// Cancellation moves the deadline to the past, which wakes the read.
		// If the function has started when wait returns, wait lets it finish
		// first, so that the deadline it sets cannot reach a later wait. It
		// holds f itself: fail may close the watcher's meanwhile, and
		// setting a deadline on a closed file only returns an error.
		f, fired := wt.f, make(chan struct{})
		stop := context.AfterFunc(ctx, func() {
			f.SetReadDeadline(time.Unix(1, 0))
			close(fired)
		})
		defer func() {
			if !stop() {
				<-fired
			}
		}()
	}
	for {
		n, err := wt.read()
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if cerr := ctx.Err(); cerr != nil {
				return wake{}, cerr
			}
			return wake{dir: true}, nil // the poll interval passed
		case err != nil:
			wt.fail(fmt.Errorf("read the inotify descriptor: %w", err))
			return wake{dir: true}, nil
		}
		if w := wt.parse(wt.buf[:n]); w.event {
			return w, nil
		}
	}
}

// read reads the queued events into buf, waiting in the runtime poller,
// until the read deadline, while there are none.
func (wt *watcher) read() (n int, err error) {
	rerr := wt.rc.Read(func(fd uintptr) bool {
		for {
			// A raw read: it never blocks (the descriptor is non-blocking),
			// and does not wake the runtime's sysmon (see rawio_linux.go).
			r, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&wt.buf[0])), uintptr(len(wt.buf)))
			n, err = int(r), nil
			if e != 0 {
				n, err = 0, e
			}
			if err != unix.EINTR {
				break
			}
		}
		return err != unix.EAGAIN
	})
	if rerr != nil {
		return 0, rerr
	}
	if err == nil && n <= 0 {
		err = fmt.Errorf("read returned %d bytes", n) // never: a read returns whole events, or fails
	}
	return n, err
}

// parse reads the events in b, as the kernel lays them out: a struct
// inotify_event (unix.InotifyEvent), then its name, NUL-padded. An event
// matters (event) when it is a write to the live file, or changes the
// directory (dir): a file created, removed or renamed, the watch gone, a
// queue overflow. Writes to other files, such as lumberjack's many writes
// of a .gz backup, do not: on their own they leave event false.
func (wt *watcher) parse(b []byte) (w wake) {
	for len(b) >= unix.SizeofInotifyEvent {
		// The kernel returns whole events, each a multiple of 16 bytes long,
		// so the header is aligned as buf is.
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
		end := min(unix.SizeofInotifyEvent+int(ev.Len), len(b))
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[end:]
		switch mask := ev.Mask; {
		case mask&unix.IN_Q_OVERFLOW != 0:
			// Events were dropped (fs.inotify.max_queued_events): anything
			// may have happened.
			wt.overflows.Add(1)
			wt.log.Warn().Msg("inotify queue overflowed; rescanning")
			w.event, w.dir = true, true
		case int(ev.Wd) != wt.wd:
			// From a watch given up earlier (see drop), up to its IN_IGNORED.
		case mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF) != 0:
			wt.drop(mask)
			w.event, w.dir = true, true
		case mask&(unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO) != 0:
			w.event, w.dir = true, true
		case mask&unix.IN_MODIFY != 0 && string(name) == wt.live:
			w.event = true
		}
	}
	return w
}

// drop gives up the directory's watch, which is gone: the directory was
// removed, or its file system unmounted (IN_IGNORED follows, inotify(7)),
// or it was moved, in which case the watch follows it to where it went and
// is removed here. The next wait watches the path again once a directory
// is there.
func (wt *watcher) drop(mask uint32) {
	if mask&unix.IN_MOVE_SELF != 0 {
		wd := wt.wd
		wt.rc.Control(func(fd uintptr) { unix.InotifyRmWatch(int(fd), uint32(wd)) })
	}
	wt.wd = -1
	wt.added.Store(false)
	wt.log.Debug().Str("dir", wt.dir).Msg("the watched directory was removed or moved; watching it again when it is back")
}

// fail gives up inotify after an unexpected error: the tailer goes on with
// the poll interval alone.
func (wt *watcher) fail(err error) {
	wt.log.Warn().Err(err).Msg("inotify failed; falling back to polling")
	wt.close()
}

// setLive names the live file whose writes wake Wait from now on (the log
// of a container's next instance: see followRestart).
func (wt *watcher) setLive(name string) { wt.live = name }

// setDir watches dir instead, with live the live file in it (a new pod's
// container log directory: see followPod). The next wait puts the watch in
// place; the old one's events are ignored up to its IN_IGNORED (parse).
func (wt *watcher) setDir(dir, live string) {
	wt.live = live
	if dir == wt.dir {
		return
	}
	if wt.f != nil && wt.added.Load() {
		wd := wt.wd
		wt.rc.Control(func(fd uintptr) { unix.InotifyRmWatch(int(fd), uint32(wd)) })
	}
	wt.dir, wt.wd = dir, -1
	wt.added.Store(false)
}

// polling reports whether only the poll interval wakes Wait.
func (wt *watcher) polling() bool { return !wt.added.Load() }

// close releases the inotify instance, and with it the watch (inotify(7)).
func (wt *watcher) close() {
	wt.added.Store(false)
	if wt.f != nil {
		wt.f.Close()
		wt.f, wt.rc = nil, nil
	}
}
