//go:build !linux

package tailer

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// watcher has no change notification outside Linux: Wait runs on the poll
// interval alone, and Stats reports Polling.
type watcher struct {
	overflows atomic.Uint64 // always 0
}

func newWatcher(dir, live string, log zerolog.Logger) *watcher {
	log.Info().Str("dir", dir).Msg("inotify is Linux only; polling")
	return &watcher{}
}

// wait waits for poll to pass, or returns ctx.Err() when ctx ends first.
func (wt *watcher) wait(ctx context.Context, poll time.Duration, timer *time.Timer) (wake, error) {
	return wake{dir: true}, sleep(ctx, poll, timer)
}

func (wt *watcher) polling() bool { return true }

func (wt *watcher) setLive(string) {}

func (wt *watcher) setDir(string, string) {}

func (wt *watcher) close() {}
