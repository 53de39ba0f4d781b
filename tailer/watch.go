package tailer

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/fsnotify/fsnotify"
	"github.com/rs/zerolog"
)

// watcher turns inotify events on the log's directory into wake-ups. It is
// only a hint: the tailer re-derives the truth with stat and fstat, and also
// wakes on its poll timer, so a lost or overflowed event costs latency, not
// data. When inotify cannot be used (for example fs.inotify.max_user_instances
// is exhausted), the tailer runs on the poll timer alone.
type watcher struct {
	dir  string
	log  zerolog.Logger
	w    *fsnotify.Watcher
	wake chan struct{}
	done chan struct{}

	added     atomic.Bool
	overflows atomic.Uint64
	closeOnce sync.Once
}

func newWatcher(dir string, log zerolog.Logger) *watcher {
	wt := &watcher{dir: dir, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		log.Warn().Err(err).Msg("inotify is unavailable; falling back to polling (raise fs.inotify.max_user_instances to get inotify back)")
		return wt
	}
	wt.w = w
	wt.tryAdd()
	go wt.loop()
	return wt
}

// tryAdd adds the directory watch if it is not in place yet (the directory
// may not exist when the agent starts).
func (wt *watcher) tryAdd() {
	if wt.w == nil || wt.added.Load() {
		return
	}
	if err := wt.w.Add(wt.dir); err != nil {
		wt.log.Debug().Err(err).Str("dir", wt.dir).Msg("cannot watch directory yet; polling")
		return
	}
	wt.added.Store(true)
}

// loop drains Events and Errors; it never blocks on anything else, since
// fsnotify blocks its reader goroutine until Errors is read.
func (wt *watcher) loop() {
	for {
		select {
		case <-wt.done:
			return
		case _, ok := <-wt.w.Events:
			if !ok {
				return
			}
			wt.poke()
		case err, ok := <-wt.w.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				wt.overflows.Add(1)
				wt.log.Warn().Msg("inotify queue overflowed; rescanning")
			} else {
				wt.log.Warn().Err(err).Msg("inotify error; rescanning")
			}
			wt.poke()
		}
	}
}

func (wt *watcher) poke() {
	select {
	case wt.wake <- struct{}{}:
	default:
	}
}

func (wt *watcher) close() {
	wt.closeOnce.Do(func() {
		close(wt.done)
		if wt.w != nil {
			wt.w.Close()
		}
	})
}
