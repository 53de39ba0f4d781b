package tailer

import (
	"context"
	"time"
)

// wake is what ended a wait of the watcher.
type wake struct {
	// event is true when inotify reported a change that matters (a write to
	// the live file, or a change in the directory): writes that follow it
	// closely are let accumulate (Config.Linger).
	event bool
	// dir is true when the directory may have changed: inotify reported
	// something other than a write to the live file (a file created,
	// removed or renamed, a queue overflow, the watch gone), the poll
	// interval passed, or the watch was just put in place. Only then, or
	// when the last check is older than the poll interval, does Next look
	// whether the path still names the file it reads.
	dir bool
}

// Wait blocks until the log may have changed: inotify reports a write to
// the live file or a file created, removed or renamed in its directory (or
// its queue overflowed), the directory is watched again after it was gone
// (what happened meanwhile was not reported), or the poll interval passes
// (the safety net, and the only wake-up when inotify is unusable or the
// directory does not exist). It returns ctx.Err() as soon as ctx ends, also
// while it lingers; what it learnt before is kept for the next Next.
//
// While the log is busy (the last Wait ended with a change inotify
// reported), Wait first lets Config.Linger pass, so that the writes of that
// time are read as one batch: their inotify events are then already
// queued, and reading them costs no wake-up of their own. At a steady rate
// that makes one wake-up per batch. After a quiet spell, the first change
// is returned at once, so a lone event is not delayed by the linger.
//
// Wait is to be called when Next returned io.EOF; calling it at other times
// only delays the caller. It holds no thread and keeps no goroutine while it
// blocks: it parks in the Go runtime's network poller (when ctx ends, a
// function registered with context.AfterFunc wakes it, and has run to its
// end when Wait returns). Next, Wait and Close must be called from a single
// goroutine.
func (t *Tailer) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if t.busy && t.cfg.Linger > 0 {
		if err := sleep(ctx, t.cfg.Linger, t.timer); err != nil {
			return err
		}
	}
	w, err := t.watch.wait(ctx, t.cfg.PollInterval, t.timer)
	if w.dir {
		t.dirChanged = true
	}
	t.busy = w.event
	return err
}

// sleep waits for d to pass on timer, or returns ctx.Err() when ctx ends first.
func sleep(ctx context.Context, d time.Duration, timer *time.Timer) error {
	timer.Reset(d)
	select {
	case <-ctx.Done():
		timer.Stop()
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
