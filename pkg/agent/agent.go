// Package agent builds the parts of a running audittail from a
// configuration and runs them until the context ends: the inputs (the
// audit log file, and the webhook receiver with its spool, each followed
// by a tailer with its own checkpoint), the pipeline, its tracker, the
// shipper, the metrics server and the periodic stats log. It is what
// cmd/audittail runs, and what the `audittail check` subcommand checks
// (Check).
//
// # Lifecycle
//
// New builds every part, in the order of their dependencies (shipper,
// encoder, inputs with their checkpoints, tracker, pipeline, webhook
// listener, metrics listener), so that a configuration that cannot work
// fails before anything runs. Run starts them with golang.org/x/sync/errgroup
// and stops them in this order when its context ends:
//
//  1. reading stops (the pipeline returns) and the webhook receiver stops
//     taking batches (what it answered 200 is in the spool);
//  2. the shipper gets ShutdownBudget (7 s) to have what was sent
//     confirmed by the server;
//  3. the shipper's driver, the checkpoint writers, the spool's pruner,
//     the stats log and the metrics server stop;
//  4. the last confirmed positions are written to the checkpoints.
//
// What was not confirmed by then is sent again at the next start. A part
// that fails (the metrics server cannot serve, a read of the audit log
// fails) stops the others in the same order, and Run returns its error.
package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/roots"
	"github.com/audittail/audittail/internal/secret"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/pkg/pipeline"
	"github.com/audittail/audittail/pkg/process"
	"github.com/audittail/audittail/pkg/spool"
	"github.com/audittail/audittail/pkg/webhook"
	"github.com/audittail/audittail/shipper"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"
)

// ShutdownBudget bounds how long Run waits for the server to confirm what
// was sent once reading stopped, so that the process exits within 10 s of
// SIGTERM.
const ShutdownBudget = 7 * time.Second

// statsInterval is how often the stats line is logged.
const statsInterval = time.Minute

// Options are what the agent needs besides its configuration.
type Options struct {
	// Version is the agent's version, in logs and metrics.
	Version string
	// ConfigFile is the configuration file given, "" if none (its
	// permissions are checked when it holds the stream token).
	ConfigFile string
	// TokenFrom says where the stream token came from (see TokenSource).
	TokenFrom TokenSource
	// Log is the root logger; each part adds its component.
	Log zerolog.Logger
	// LogOutput is where Log writes, re-opened by Reload; nil: nothing to
	// re-open.
	LogOutput *LogOutput
}

// ConfigError is a configuration that New found could not work (a setting
// valid on its own that a part refuses): the command's exit code 2.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Agent is a running audittail: every part, built by New and run by Run.
type Agent struct {
	cfg     config.Config
	opts    Options
	log     zerolog.Logger
	secrets *secret.Set

	inputs  []*input // the audit log file, then the webhook's spool, as configured
	tracker *pipeline.Tracker
	shipper *shipper.Shipper
	enc     *gelf.Encoder
	pipe    *pipeline.Pipeline
	recv    *webhook.Receiver // nil without webhook.listen
	spool   *spool.Spool      // the receiver's spool, nil without it
	metrics *metricsServer    // nil without metrics.addr
	roots   roots.Source      // the TLS roots trusted, for a tls:// or https:// endpoint
	stage   *process.Stage    // policy and redaction, between parse and encode
}

// New builds the parts of an agent from cfg (defaulted and validated): it
// opens the checkpoint, positions the tailer (which may read the audit log:
// ctx bounds it), and listens on the metrics address. It logs the security
// warnings of cfg (see securityWarnings). Close releases what it opened
// when Run is not called.
func New(ctx context.Context, cfg config.Config, opts Options) (*Agent, error) {
	log := opts.Log
	a := &Agent{cfg: cfg, opts: opts, log: log}
	for _, f := range securityWarnings(cfg, opts) {
		log.Warn().Str("check", f.what).Msg(f.msg)
	}
	a.secrets = secretsOf(cfg)
	if printsToStdout(cfg) && cfg.GELF.Stream != "" {
		log.Info().Msg("the endpoint is standard output: messages are printed without _X-OVH-TOKEN, so that the token stays out of journald and kubectl logs")
		a.cfg.GELF.Stream, a.cfg.GELF.StreamFile = "", ""
	}
	cfg = a.cfg
	if usesTLS(cfg) {
		a.roots = roots.Install()
		if a.roots.Embedded {
			log.Info().Int("roots", a.roots.Count).AnErr("system_roots_error", a.roots.Err).
				Msg("no CA bundle on this system: trusting the Mozilla roots embedded in the binary")
		}
	}

	var err error
	if a.stage, err = process.Load(cfg.Policy, cfg.Redact); err != nil {
		return nil, &ConfigError{err}
	}
	if a.shipper, err = shipper.New(cfg.Output, log, func(seq uint64) { a.tracker.Confirm(seq) }); err != nil {
		return nil, &ConfigError{err}
	}
	a.shipper.RedactWith(a.secrets)
	if a.enc, err = newEncoder(cfg, log); err != nil {
		return nil, &ConfigError{err}
	}
	if err := a.openInputs(ctx, cfg, log); err != nil {
		a.Close()
		return nil, err
	}
	var srcs []pipeline.Input
	var ckpts []pipeline.Marker
	for _, in := range a.inputs {
		pi := pipeline.Input{Source: in.lines}
		if len(a.inputs) > 1 { // an agent of one log does not say which
			pi.Log = in.log
		}
		srcs, ckpts = append(srcs, pi), append(ckpts, in.ckpt)
	}
	a.tracker = pipeline.NewTracker(ckpts...)
	// The stage only when it has something to do (a policy, or redaction).
	var stage interface {
		Process(line []byte, ev *audit.Event) ([]byte, bool)
	}
	if a.stage.Active() {
		stage = a.stage
	}
	a.pipe = pipeline.New(srcs, stage, a.enc, a.shipper.NewBatch(), a.tracker, component(log, "pipeline"))
	if cfg.Metrics.Addr != "" {
		if a.metrics, err = newMetricsServer(cfg.Metrics.Addr, opts.Version, cfg.Metrics.StallTimeout, a.Stats, log); err != nil {
			a.Close()
			return nil, err
		}
	}
	return a, nil
}

// openInputs opens the audit log files' inputs (tail.path or tail.paths,
// their positions in the one checkpoint file) and the webhook receiver's
// (webhook.listen), as configured, into a.inputs.
func (a *Agent) openInputs(ctx context.Context, cfg config.Config, log zerolog.Logger) error {
	if paths := cfg.Tail.Logs(); len(paths) > 0 {
		store, err := openCheckpoint("file", cfg.Checkpoint, log)
		if err != nil {
			return err
		}
		for i, c := range store.Cursors(paths) {
			tc := cfg.Tail
			tc.Path, tc.Paths = paths[i], nil
			in, err := follow(ctx, "file", tc, c, false, log)
			if err != nil {
				return err
			}
			in.log, in.store = paths[i], store
			a.inputs = append(a.inputs, in)
		}
	}
	if cfg.Webhook.Enabled() {
		in, err := a.openReceiver(ctx, cfg, log)
		if err != nil {
			return err
		}
		a.inputs = append(a.inputs, in)
	}
	return nil
}

func component(log zerolog.Logger, name string) zerolog.Logger {
	return log.With().Str("component", name).Logger()
}

// newEncoder builds the GELF encoder, its message cap lowered to what the
// transport carries (an HTTP input's body limit, 128 uncompressed UDP
// chunks), if that is smaller.
func newEncoder(cfg config.Config, log zerolog.Logger) (*gelf.Encoder, error) {
	gc := cfg.GELF
	if m := cfg.Output.MaxMessageBytes(); m > 0 && m < gc.MaxMessageBytes {
		gc.MaxMessageBytes = max(m, gelf.MinMaxMessageBytes)
		log.Info().Int("max_message_bytes", gc.MaxMessageBytes).Str("endpoint", cfg.Output.Endpoint).
			Msg("gelf.max_message_bytes lowered to what the transport carries")
	}
	return gelf.NewEncoder(gc)
}

// Stats returns a snapshot of every part's counters. Safe for concurrent
// use.
//
// Tailer and Checkpoint add up the inputs' counters (LagBytes and
// FilesOpen too).
func (a *Agent) Stats() Stats {
	s := Stats{
		Pipeline: a.pipe.Stats(),
		Tracker:  a.tracker.Stats(),
		Shipper:  a.shipper.Stats(),
		Process:  a.stage.Stats(),
	}
	for _, in := range a.inputs {
		t := in.tail.Stats()
		s.Logs = append(s.Logs, LogStats{Log: in.log, Tailer: t})
		s.Tailer.Add(t)
	}
	for _, st := range a.stores() {
		c := st.Stats()
		s.Checkpoint.Writes += c.Writes
		s.Checkpoint.Errors += c.Errors
	}
	if a.recv != nil {
		w, sp := a.recv.Stats(), a.spool.Stats()
		s.Webhook, s.Spool = &w, &sp
	}
	return s
}

// MetricsAddr is the address the metrics server listens on ("" when off),
// with the actual port when metrics.addr asked for port 0.
func (a *Agent) MetricsAddr() string {
	if a.metrics == nil {
		return ""
	}
	return a.metrics.Addr()
}

// Run runs the agent until ctx ends, then stops it in the order the package
// documentation gives. It returns nil after a clean stop, or the error of
// the part that failed (joined with a failed final checkpoint write). Call
// it once.
func (a *Agent) Run(ctx context.Context) error {
	defer a.closeInputs()
	cfg, log := a.cfg, a.log
	start := log.Info().
		Str("version", a.opts.Version).
		Strs("paths", cfg.Tail.Logs()).
		Str("start_at", string(cfg.Tail.StartAt)).
		Str("endpoint", a.shipper.Endpoint()).
		Str("metrics_addr", cfg.Metrics.Addr).
		Str("host", a.enc.Host()).
		Bool("stream_token_set", cfg.GELF.Stream != "").
		Str("full_message", string(cfg.GELF.FullMessage)).
		Int("max_message_bytes", cfg.GELF.MaxMessageBytes).
		Int("window_bytes", cfg.Output.WindowBytes).
		Str("ca_cert", cfg.Output.CACert).
		Str("tls_roots", a.tlsRoots()).
		Str("policy", cfg.Policy.File).
		Bool("redact_secrets", cfg.Redact.Enabled()).
		Bool("client_cert", cfg.Output.ClientCert != "")
	if cfg.TailsFile() {
		start = start.Str("checkpoint", cfg.Checkpoint.Path)
	}
	for _, in := range a.inputs {
		key := "resume_from" // the audit log file's
		switch {
		case in.name != "file":
			key += "_" + in.name
		case len(cfg.Tail.Paths) > 0:
			key += "_" + in.log
		}
		start = start.Interface(key, resumeInfo(in.ckpt.Saved().Position))
	}
	if a.recv != nil {
		start = start.Str("webhook_listen", a.recv.Addr()).Str("spool_dir", cfg.Spool.Dir)
	}
	start.Msg("audittail starting")

	// One connection attempt before anything else, for a clear first error
	// (wrong certificate, unreachable host); the shipper then keeps trying.
	connectCtx, cancelConnect := context.WithTimeout(ctx, cfg.Output.DialTimeout)
	if err := a.shipper.Connect(connectCtx); err != nil && ctx.Err() == nil {
		where := "in the audit log"
		if !cfg.TailsFile() {
			where = "in the spool"
		}
		log.Error().Err(err).Msg("cannot reach the log server yet; events wait " + where + " and are sent once it answers")
	}
	cancelConnect()

	// The parts that outlive reading: they drain and record what is in
	// flight after it stops (step 3 stops them).
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	g, gctx := errgroup.WithContext(bg)
	g.Go(func() error { return ended(a.shipper.Run(gctx)) })
	for _, st := range a.stores() {
		g.Go(func() error { return ended(st.Run(gctx)) })
	}
	if a.spool != nil {
		g.Go(func() error { return ended(a.spool.Run(gctx)) })
	}
	g.Go(func() error { return a.logStats(gctx) })
	if a.metrics != nil {
		g.Go(func() error { return a.metrics.Run(gctx) })
	}

	// 1. Reading (and receiving), until ctx ends or a part fails.
	readCtx, stopRead := context.WithCancel(ctx)
	stopOnFailure := context.AfterFunc(gctx, stopRead)
	rg, rctx := errgroup.WithContext(readCtx)
	rg.Go(func() error { return a.pipe.Run(rctx) })
	if a.recv != nil {
		rg.Go(func() error { return a.recv.Run(rctx) })
	}
	readErr := rg.Wait()
	stopOnFailure()
	stopRead()
	if errors.Is(readErr, context.Canceled) {
		readErr = nil // ctx ended, or a part failed: g.Wait says which
		log.Info().Msg("shutting down: waiting for the server to confirm what was sent")
	}

	// 2. The shipper drains what was sent.
	closeCtx, cancelClose := context.WithTimeout(context.Background(), ShutdownBudget)
	if err := a.shipper.Close(closeCtx); err != nil {
		log.Warn().Err(err).Msg("not every event was confirmed before shutdown; they will be sent again at the next start")
	}
	cancelClose()

	// 3. The other parts stop.
	stopBG()
	bgErr := g.Wait()

	// 4. The last confirmed positions.
	var ckptErr error
	for _, st := range a.stores() {
		if err := st.Close(); err != nil {
			ckptErr = errors.Join(ckptErr, fmt.Errorf("write final checkpoint: %w", err))
		}
	}
	a.statsLine(log.Info()).Msg("audittail stopped")
	return errors.Join(readErr, bgErr, ckptErr)
}

// usesTLS reports whether the endpoint speaks TLS (tls://, https://).
func usesTLS(cfg config.Config) bool {
	e := cfg.Output.Endpoint
	return strings.HasPrefix(e, "tls://") || strings.HasPrefix(e, "https://")
}

// tlsRoots names the roots trusted, "" without TLS.
func (a *Agent) tlsRoots() string {
	if !usesTLS(a.cfg) {
		return ""
	}
	return a.roots.String()
}

// ended is nil for the error a part returns when it was told to stop.
func ended(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, shipper.ErrClosed) {
		return nil
	}
	return err
}

// Close releases what New opened, for an agent that is not run.
func (a *Agent) Close() {
	a.closeInputs()
	if a.recv != nil {
		a.recv.Close()
	}
	if a.metrics != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = a.metrics.Shutdown(ctx)
		cancel()
	}
}

// stores are the checkpoint files of the inputs, each once.
func (a *Agent) stores() []*checkpoint.Store {
	var out []*checkpoint.Store
	for _, in := range a.inputs {
		if len(out) == 0 || out[len(out)-1] != in.store {
			out = append(out, in.store)
		}
	}
	return out
}

// closeInputs closes the inputs' files and the spool.
func (a *Agent) closeInputs() {
	for _, in := range a.inputs {
		in.tail.Close()
	}
	if a.spool != nil {
		a.spool.Close()
	}
}

// Reload is what SIGHUP asks for: it re-opens the log file (after
// logrotate moved it) and reads the stream token file again (token
// rotation). The reading position and the connection are untouched. A
// token file that cannot be read, or holds an invalid token, keeps the
// current token. The new token joins the secrets kept out of errors; the
// old one stays there. Safe to call while Run runs.
func (a *Agent) Reload() {
	cfg, log := a.cfg, a.log
	ev := log.Info()
	if a.opts.LogOutput != nil {
		if err := a.opts.LogOutput.Reopen(); err != nil {
			log.Error().Err(err).Msg("SIGHUP: cannot re-open the log file; still writing to the old one")
		} else if cfg.Log.File != "" {
			ev = ev.Str("log_file", cfg.Log.File)
		}
	}
	if cfg.GELF.StreamFile != "" {
		tok, err := ReadStreamFile(cfg.GELF.StreamFile)
		if err == nil {
			a.secrets.Add(tok)
			old := a.enc.Stream()
			if err = a.enc.SetStream(tok); err == nil {
				ev = ev.Bool("stream_token_changed", tok != old)
			}
		}
		if err != nil {
			log.Error().Err(err).Str("stream_file", cfg.GELF.StreamFile).Msg("SIGHUP: stream token not reloaded; keeping the current one")
		}
	}
	if a.recv != nil {
		if err := a.recv.Reload(); err != nil {
			log.Error().Err(err).Msg("SIGHUP: webhook certificate or token not reloaded; keeping the current ones")
		} else {
			ev = ev.Bool("webhook_reloaded", true)
		}
	}
	ev.Msg("SIGHUP: reloaded")
}

// ReadStreamFile reads the stream token from path: the file's content
// without surrounding white space. The error never shows the content.
func ReadStreamFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read stream token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("stream token file %s is empty", path)
	}
	return tok, nil
}

func resumeInfo(p checkpoint.Position) map[string]any {
	if p.IsZero() {
		return nil
	}
	return map[string]any{"file": p.Path, "inode": p.Inode, "offset": p.Offset}
}

// logStats logs the stats line every statsInterval until ctx ends.
func (a *Agent) logStats(ctx context.Context) error {
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			a.statsLine(a.log.Info()).Msg("stats")
		}
	}
}

// statsLine adds the counters to e. The names are those of the metrics
// without the audittail_ prefix and the _total suffix.
func (a *Agent) statsLine(e *zerolog.Event) *zerolog.Event {
	s := a.Stats()
	return e.
		Uint64("events_read", s.Pipeline.Read).
		Uint64("events_sent", s.Pipeline.Sent).
		Uint64("events_confirmed", s.Tracker.Confirmed).
		Uint64("events_dropped", s.Pipeline.Dropped).
		Uint64("redactions", s.Process.Redactions()).
		Uint64("sent_bytes", s.Pipeline.Bytes).
		Uint64("parse_errors", s.Pipeline.ParseErrors).
		Uint64("partial_lines", s.Pipeline.Partial).
		Uint64("long_lines", s.Pipeline.LongLines).
		Uint64("events_truncated", s.Pipeline.Truncated).
		Int64("lag_bytes", s.Tailer.LagBytes).
		Uint64("rotations", s.Tailer.Rotations).
		Uint64("truncations", s.Tailer.Truncations).
		Uint64("lost_files", s.Tailer.LostFiles).
		Uint64("lost_bytes", s.Tailer.LostBytes).
		Bool("polling", s.Tailer.Polling).
		Uint64("reconnects", s.Shipper.Reconnects).
		Bool("output_connected", s.Shipper.Connected).
		Uint64("checkpoint_writes", s.Checkpoint.Writes).
		Uint64("checkpoint_errors", s.Checkpoint.Errors)
}
