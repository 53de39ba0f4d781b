package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/pkg/containerlog"
	"github.com/audittail/audittail/pkg/pipeline"
	"github.com/audittail/audittail/pkg/spool"
	"github.com/audittail/audittail/pkg/webhook"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// input is one log the pipeline reads, with the checkpoint of its
// position: the audit log file (tail.path), or the spool the webhook
// receiver writes. Each is followed by its own tailer and keeps its own
// checkpoint file; the pipeline, the shipper and its connection are
// shared.
type input struct {
	name  string             // "file" or "webhook", in logs
	log   string             // what its messages carry in _log when there are several inputs: the path, or "webhook"
	ckpt  *checkpoint.Cursor // its position
	store *checkpoint.Store  // the checkpoint file it is in, shared by the audit log files
	tail  *tailer.Tailer
	// lines is what the pipeline reads: the tailer, or a container log's
	// decoder over it (tail.format cri or docker-json).
	lines pipeline.Source
}

// openCheckpoint opens the checkpoint cc of the input name.
func openCheckpoint(name string, cc checkpoint.Config, log zerolog.Logger) (*checkpoint.Store, error) {
	return checkpoint.Open(cc, component(log, "checkpoint").With().Str("input", name).Logger())
}

// follow positions a tailer on tc from the checkpoint ckpt. A first start
// records at once where it starts, so that a crash before the first
// periodic write cannot skip what rotates meanwhile. With all, a
// checkpoint that names no file (a first start, or one that handled no
// line yet) reads every backup there is, then the live file: the spool's
// files are all to be shipped, whatever their age.
func follow(ctx context.Context, name string, tc tailer.Config, ckpt *checkpoint.Cursor, all bool, log zerolog.Logger) (*input, error) {
	saved := ckpt.Saved()
	if all && saved.Position.IsZero() {
		saved.SavedAt = time.Unix(0, 0).UTC() // every backup was rotated after this "earlier start"
	}
	tl, err := tailer.New(ctx, tc, saved.Position, saved.SavedAt, component(log, "tailer").With().Str("input", name).Str("log", tc.Path).Logger())
	if err != nil {
		return nil, err
	}
	if !saved.Found {
		pos, _ := tl.StartPosition()
		if err := ckpt.Init(pos); err != nil {
			tl.Close()
			return nil, fmt.Errorf("write initial checkpoint: %w", err)
		}
	}
	in := &input{name: name, ckpt: ckpt, tail: tl, lines: tl}
	switch tc.Format {
	case tailer.FormatCRI, tailer.FormatDockerJSON:
		f, err := containerlog.ParseFormat(tc.Format)
		if err != nil {
			tl.Close()
			return nil, err
		}
		in.lines = containerlog.New(tl, f, tc.MaxLineBytes)
	}
	return in, nil
}

// openReceiver opens the spool, its input (read from the spool's
// beginning, with its checkpoint in the spool directory) and the webhook
// receiver that writes to it.
func (a *Agent) openReceiver(ctx context.Context, cfg config.Config, log zerolog.Logger) (*input, error) {
	tc := cfg.Tail
	tc.Path, tc.Paths, tc.StartAt = cfg.Spool.LivePath(), nil, tailer.StartBeginning
	tc.Format, tc.Rotation = tailer.FormatAudit, tailer.RotationLumberjack // the spool is written as kube-apiserver writes its log
	cc := cfg.Checkpoint
	cc.Path = cfg.Spool.CheckpointPath()
	// The spool first: it creates its directory and live file, which the
	// tailer opens, and prunes what the checkpoint has durably left behind.
	store, err := openCheckpoint("webhook", cc, log) // creates the spool directory too
	if err != nil {
		return nil, err
	}
	ckpt := store.Cursors([]string{tc.Path})[0]
	if a.spool, err = spool.Open(cfg.Spool, ckpt, component(log, "spool")); err != nil {
		return nil, err
	}
	in, err := follow(ctx, "webhook", tc, ckpt, true, log)
	if err != nil {
		a.spool.Close()
		return nil, err
	}
	in.log, in.store = "webhook", store
	isFull := func(err error) bool { return errors.Is(err, spool.ErrFull) }
	if a.recv, err = webhook.New(cfg.Webhook, a.spool, isFull, component(log, "webhook")); err != nil {
		in.tail.Close()
		a.spool.Close()
		return nil, &ConfigError{err}
	}
	return in, nil
}
