// Command audittail ships the Kubernetes API server's audit log to a GELF
// server (OVHcloud Logs Data Platform or Graylog), event by event, without
// losing any across rotations, crashes or server outages.
//
// Exit codes: 0 after a clean shutdown (SIGTERM, SIGINT), 2 for a usage or
// configuration error, 1 for a runtime failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/secret"
	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/pkg/pipeline"
	"github.com/audittail/audittail/shipper"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise
// the module version from the build info is used.
var version = ""

const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2

	// shutdownBudget bounds how long a shutdown waits for the server to
	// confirm what was sent, so the process exits within 10 s of SIGTERM.
	shutdownBudget = 7 * time.Second
	statsInterval  = time.Minute
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake in the flags or the configuration (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "check" {
		return runCheck(args[1:], stdout, stderr)
	}
	set, err := loadConfig(args, stderr, nil)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "audittail: %v\n", err)
		return exitUsage
	}
	cfg := set.cfg
	if set.showVersion {
		fmt.Fprintf(stdout, "audittail %s\n", buildVersion())
		return exitOK
	}
	out, err := openLogOutput(cfg.Log.File, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "audittail: %v\n", err)
		return exitUsage
	}
	defer out.Close()
	log := newLogger(cfg.Log, out)
	if os.Getenv("GOGC") == "" { // an operator's GOGC wins
		debug.SetGCPercent(gcPercent)
	}
	if path := os.Getenv("AUDITTAIL_CPUPROFILE"); path != "" {
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(stderr, "audittail: %v\n", err)
			return exitUsage
		}
		defer stop()
	}
	if err := serve(set, log, out); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			log.Error().Err(err).Msg("invalid configuration")
			return exitUsage
		}
		log.Error().Err(err).Msg("audittail stopped")
		return exitRuntime
	}
	return exitOK
}

// settings is what the command line asks for: the configuration, and
// where its sensitive parts came from (for the warnings of securityWarnings).
type settings struct {
	cfg         config.Config
	showVersion bool
	configFile  string      // --config, "" if none
	tokenFrom   tokenSource // where the stream token came from
}

// loadConfig builds the configuration: defaults, then the --config file, then
// the environment, then flags. It validates the result. extra, if not nil,
// registers more flags (the check subcommand's) before parsing.
func loadConfig(args []string, stderr io.Writer, extra func(*flag.FlagSet)) (settings, error) {
	var set settings
	cfg, err := set.load(args, stderr, extra)
	set.cfg = cfg
	return set, err
}

func (st *settings) load(args []string, stderr io.Writer, extra func(*flag.FlagSet)) (config.Config, error) {
	var cfg config.Config
	name := "audittail"
	if extra != nil {
		name = "audittail check"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if extra != nil {
			fmt.Fprint(stderr, checkUsage)
		} else {
			fmt.Fprint(stderr, usage)
		}
		fs.PrintDefaults()
	}
	if extra != nil {
		extra(fs)
	}
	var (
		configFile  = fs.String("config", "", "YAML configuration `file`; flags override it")
		path        = fs.String("path", tailer.DefaultPath, "audit log `file` written by kube-apiserver (--audit-log-path)")
		stream      = fs.String("stream", "", "LDP stream write `token`, sent as _X-OVH-TOKEN (prefer --stream-file or $AUDITTAIL_STREAM: flags are visible in the process list)")
		streamFile  = fs.String("stream-file", "", "`file` holding the LDP stream token")
		endpoint    = fs.String("endpoint", "", "GELF server `URL`: tls://HOST[:PORT] (default port 12202), tcp://HOST[:PORT] (2202), udp://HOST[:PORT] (2202, no delivery guarantee), http(s)://HOST[:PORT][/PATH] (path /gelf), or - for standard output")
		ckptPath    = fs.String("checkpoint", checkpoint.DefaultPath, "checkpoint `file`")
		startAt     = fs.String("start-at", string(tailer.StartBeginning), "where to start in a file the checkpoint does not know: beginning or end")
		host        = fs.String("host", "", "GELF host `name` (default: this node's hostname)")
		caCert      = fs.String("ca-cert", "", "PEM `file` of CA certificates trusted besides the system roots")
		clientCert  = fs.String("client-cert", "", "PEM client certificate `file` for mutual TLS")
		clientKey   = fs.String("client-key", "", "PEM client key `file` for mutual TLS")
		serverName  = fs.String("tls-server-name", "", "`name` to verify in the server certificate (default: the endpoint's host)")
		metricsAddr = fs.String("metrics-addr", "", "serve Prometheus /metrics, /healthz and /readyz on `HOST:PORT` (default: off)")
		logFile     = fs.String("log-file", "", "write the log to this `file` instead of standard error; SIGHUP re-opens it")
		logLevel    = fs.String("log-level", "info", "log `level`: trace, debug, info, warn, error")
		logFormat   = fs.String("log-format", string(config.LogJSON), "log format: json or console")
		showVersion = fs.Bool("version", false, "print the version and exit")
	)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if *showVersion {
		st.showVersion = true
		return cfg, nil
	}
	if *configFile != "" {
		if err := config.Load(*configFile, &cfg); err != nil {
			return cfg, err
		}
		st.configFile = *configFile
		if cfg.GELF.Stream != "" {
			st.tokenFrom = tokenConfig
		}
	}
	if tok, ok := os.LookupEnv("AUDITTAIL_STREAM"); ok && tok != "" {
		cfg.GELF.Stream, cfg.GELF.StreamFile = tok, ""
		st.tokenFrom = tokenEnv
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["path"] {
		cfg.Tail.Path = *path
	}
	if set["start-at"] {
		if err := cfg.Tail.StartAt.UnmarshalText([]byte(*startAt)); err != nil {
			return cfg, fmt.Errorf("--start-at: %w", err)
		}
	}
	if set["checkpoint"] {
		cfg.Checkpoint.Path = *ckptPath
	}
	if set["stream-file"] {
		cfg.GELF.Stream, cfg.GELF.StreamFile = "", *streamFile
	}
	if set["stream"] {
		cfg.GELF.Stream, cfg.GELF.StreamFile = *stream, ""
		st.tokenFrom = tokenFlag
	}
	if set["host"] {
		cfg.GELF.Host = *host
	}
	if set["endpoint"] {
		cfg.Output.Endpoint = *endpoint
	}
	if set["ca-cert"] {
		cfg.Output.CACert = *caCert
	}
	if set["client-cert"] {
		cfg.Output.ClientCert = *clientCert
	}
	if set["client-key"] {
		cfg.Output.ClientKey = *clientKey
	}
	if set["tls-server-name"] {
		cfg.Output.ServerName = *serverName
	}
	if set["metrics-addr"] {
		cfg.Metrics.Addr = *metricsAddr
	}
	if set["log-file"] {
		cfg.Log.File = *logFile
	}
	if set["log-level"] {
		cfg.Log.Level = *logLevel
	}
	if set["log-format"] {
		if err := cfg.Log.Format.UnmarshalText([]byte(*logFormat)); err != nil {
			return cfg, fmt.Errorf("--log-format: %w", err)
		}
	}
	cfg.SetDefaults()
	if cfg.Output.Endpoint == "" {
		return cfg, errors.New("no endpoint: set --endpoint (e.g. tls://gra1.logs.ovh.com:12202, or - for standard output) or output.endpoint in the config file")
	}
	if cfg.GELF.StreamFile != "" {
		tok, err := readStreamFile(cfg.GELF.StreamFile)
		if err != nil {
			return cfg, err
		}
		cfg.GELF.Stream = tok
		st.tokenFrom = tokenFile
	}
	if cfg.GELF.Stream == "" {
		st.tokenFrom = tokenNone
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

const usage = `Usage: audittail --path FILE --stream-file FILE --endpoint URL --checkpoint FILE
                 [--stream TOKEN] [--start-at beginning|end] [--config FILE] [--host NAME]
                 [--ca-cert FILE] [--client-cert FILE --client-key FILE] [--tls-server-name NAME]
                 [--metrics-addr HOST:PORT] [--log-file FILE]
                 [--log-level LEVEL] [--log-format json|console] [--version]
       audittail check [the same flags] [--send-test]

Ships every Kubernetes API server audit event to a GELF server (OVHcloud Logs
Data Platform or Graylog). Flags override the --config file. SIGHUP re-opens
--log-file and re-reads --stream-file.

`

// readStreamFile reads the stream token from path: the file's content
// without surrounding white space. The error never shows the content.
func readStreamFile(path string) (string, error) {
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

// gcPercent is the agent's GOGC, unless the environment sets one. The
// steady state allocates little (the replay window's blocks, the read
// buffer and the encoder's buffers are reused), so even a margin of 10 %
// instead of Go's 100 % means few collections: about 5 a second in the
// 1M-event benchmark, 1.5 ms of CPU each. In exchange the heap, and so the
// peak RSS, stays close to what is live, which is mostly the replay window
// (16 MiB): in make bench over tls://, 43 MiB of peak RSS instead of 55,
// and 58 instead of 65 with 10 MiB lines in the mix.
const gcPercent = 10

// startCPUProfile writes a CPU profile to path until the returned function
// is called (at exit). It is for the benchmarks (AUDITTAIL_CPUPROFILE),
// to profile the agent as it runs, not a test build of it.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("AUDITTAIL_CPUPROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("AUDITTAIL_CPUPROFILE: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func newLogger(c config.Log, w io.Writer) zerolog.Logger {
	lvl, _ := zerolog.ParseLevel(c.Level)
	if c.Format == config.LogConsole {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// serve runs the agent until SIGTERM or SIGINT, then shuts down in order:
// stop reading, wait (bounded) for the server to confirm what was sent,
// write the checkpoint.
func serve(set settings, log zerolog.Logger, logOut *logOutput) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	cfg := set.cfg
	for _, f := range securityWarnings(set) {
		log.Warn().Str("check", f.what).Msg(f.msg)
	}
	secrets := secretsOf(cfg)
	if printsToStdout(cfg) && cfg.GELF.Stream != "" {
		log.Info().Msg("the endpoint is standard output: messages are printed without _X-OVH-TOKEN, so that the token stays out of journald and kubectl logs")
		cfg.GELF.Stream, cfg.GELF.StreamFile = "", ""
	}

	ckpt, err := checkpoint.Open(cfg.Checkpoint, log.With().Str("component", "checkpoint").Logger())
	if err != nil {
		return err
	}
	start, savedAt, _ := ckpt.Loaded()

	// The shipper comes first: its transport may bound the message size
	// (an HTTP input's body limit, 128 uncompressed UDP chunks), which then
	// caps the encoder. onConfirm is only called once Run runs, after pipe
	// is set.
	var pipe *pipeline.Pipeline
	sh, err := shipper.New(cfg.Output, log, func(seq uint64) { pipe.OnConfirm(seq) })
	if err != nil {
		return usageError{err}
	}
	sh.RedactWith(secrets)
	enc, err := newEncoder(cfg.GELF, sh, log)
	if err != nil {
		return usageError{err}
	}
	tl, err := tailer.New(ctx, cfg.Tail, start, savedAt, log.With().Str("component", "tailer").Logger())
	if err != nil {
		return err
	}
	defer tl.Close()
	if !ckpt.Existed() {
		// Record at once where this first run starts, so that a crash before
		// the first periodic write cannot skip what rotates meanwhile.
		pos, _ := tl.StartPosition()
		if err := ckpt.Init(pos); err != nil {
			return fmt.Errorf("write initial checkpoint: %w", err)
		}
	}

	pipe = pipeline.New(tl, enc, sh.NewBatch(), ckpt, log.With().Str("component", "pipeline").Logger())

	var metrics *metricsServer
	if cfg.Metrics.Addr != "" {
		snapshot := func() agentStats {
			return agentStats{Pipeline: pipe.Stats(), Shipper: sh.Stats(), Tailer: tl.Stats(), Checkpoint: ckpt.Stats()}
		}
		if metrics, err = newMetricsServer(cfg.Metrics.Addr, cfg.Metrics.StallTimeout, snapshot, log); err != nil {
			return err
		}
		go func() {
			if err := metrics.Serve(); err != nil {
				log.Error().Err(err).Str("component", "metrics").Msg("metrics server stopped")
			}
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = metrics.Shutdown(sctx)
			cancel()
		}()
	}

	log.Info().
		Str("version", buildVersion()).
		Str("path", cfg.Tail.Path).
		Str("start_at", string(cfg.Tail.StartAt)).
		Str("checkpoint", cfg.Checkpoint.Path).
		Str("endpoint", sh.Endpoint()).
		Str("metrics_addr", cfg.Metrics.Addr).
		Str("host", enc.Host()).
		Bool("stream_token_set", cfg.GELF.Stream != "").
		Str("full_message", string(cfg.GELF.FullMessage)).
		Int("max_message_bytes", cfg.GELF.MaxMessageBytes).
		Int("window_bytes", cfg.Output.WindowBytes).
		Str("ca_cert", cfg.Output.CACert).
		Bool("client_cert", cfg.Output.ClientCert != "").
		Interface("resume_from", resumeInfo(start)).
		Msg("audittail starting")

	// One connection attempt before anything else, for a clear first error
	// (wrong certificate, unreachable host); Run then keeps retrying.
	connectCtx, cancelConnect := context.WithTimeout(ctx, cfg.Output.DialTimeout)
	if err := sh.Connect(connectCtx); err != nil && ctx.Err() == nil {
		log.Error().Err(err).Msg("cannot reach the log server yet; events wait in the audit log and are sent once it answers")
	}
	cancelConnect()

	// The shipper and the checkpoint writer outlive the read loop: they drain
	// and record what is in flight after reading stops.
	shipCtx, cancelShip := context.WithCancel(context.Background())
	defer cancelShip()
	shipDone := make(chan error, 1)
	go func() { shipDone <- sh.Run(shipCtx) }()
	ckptCtx, stopCkpt := context.WithCancel(context.Background())
	defer stopCkpt()
	ckptStopped := make(chan struct{})
	go func() { _ = ckpt.Run(ckptCtx); close(ckptStopped) }()

	statsDone := make(chan struct{})
	go logStats(log, pipe, tl, sh, ckpt, statsDone)
	go reloadOnHUP(hup, statsDone, cfg, enc, secrets, logOut, log)

	runErr := pipe.Run(ctx)
	if errors.Is(runErr, context.Canceled) && ctx.Err() != nil {
		runErr = nil
		log.Info().Msg("shutting down: waiting for the server to confirm what was sent")
	}

	closeCtx, cancelClose := context.WithTimeout(context.Background(), shutdownBudget)
	closeErr := sh.Close(closeCtx)
	cancelClose()
	cancelShip()
	<-shipDone
	close(statsDone)
	stopCkpt()
	<-ckptStopped
	if closeErr != nil {
		log.Warn().Err(closeErr).Msg("not every event was confirmed before shutdown; they will be sent again at the next start")
	}
	if err := ckpt.Close(); err != nil {
		return errors.Join(runErr, fmt.Errorf("write final checkpoint: %w", err))
	}
	logStatsLine(log.Info(), pipe, tl, sh, ckpt).Msg("audittail stopped")
	return runErr
}

// reloadOnHUP handles SIGHUP until done is closed: it re-opens the log file
// (after logrotate moved it) and re-reads the stream token file (token
// rotation). Reading position and connection are untouched. A token file
// that cannot be read or holds an invalid token keeps the current token.
// The new token joins secrets; the old one stays there, so that neither
// can appear in an error.
func reloadOnHUP(hup <-chan os.Signal, done <-chan struct{}, cfg config.Config, enc *gelf.Encoder, secrets *secret.Set, out *logOutput, log zerolog.Logger) {
	for {
		select {
		case <-done:
			return
		case <-hup:
		}
		ev := log.Info()
		if err := out.Reopen(); err != nil {
			log.Error().Err(err).Msg("SIGHUP: cannot re-open the log file; still writing to the old one")
		} else if cfg.Log.File != "" {
			ev = ev.Str("log_file", cfg.Log.File)
		}
		if cfg.GELF.StreamFile != "" {
			tok, err := readStreamFile(cfg.GELF.StreamFile)
			if err == nil {
				secrets.Add(tok)
				old := enc.Stream()
				if err = enc.SetStream(tok); err == nil {
					ev = ev.Bool("stream_token_changed", tok != old)
				}
			}
			if err != nil {
				log.Error().Err(err).Str("stream_file", cfg.GELF.StreamFile).Msg("SIGHUP: stream token not reloaded; keeping the current one")
			}
		}
		ev.Msg("SIGHUP: reloaded")
	}
}

// newEncoder builds the GELF encoder, its message cap lowered to what the
// shipper's transport carries (an HTTP input's body limit, 128
// uncompressed UDP chunks), if that is smaller.
func newEncoder(gc gelf.Config, sh *shipper.Shipper, log zerolog.Logger) (*gelf.Encoder, error) {
	if m := sh.MaxMessageBytes(); m > 0 && m < gc.MaxMessageBytes {
		gc.MaxMessageBytes = max(m, gelf.MinMaxMessageBytes)
		log.Info().Int("max_message_bytes", gc.MaxMessageBytes).Str("endpoint", sh.Endpoint()).
			Msg("gelf.max_message_bytes lowered to what the transport carries")
	}
	return gelf.NewEncoder(gc)
}

func resumeInfo(p checkpoint.Position) map[string]any {
	if p.IsZero() {
		return nil
	}
	return map[string]any{"file": p.Path, "inode": p.Inode, "offset": p.Offset}
}

func logStats(log zerolog.Logger, pipe *pipeline.Pipeline, tl *tailer.Tailer, sh *shipper.Shipper, ckpt *checkpoint.Store, done <-chan struct{}) {
	t := time.NewTicker(statsInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			logStatsLine(log.Info(), pipe, tl, sh, ckpt).Msg("stats")
		}
	}
}

func logStatsLine(e *zerolog.Event, pipe *pipeline.Pipeline, tl *tailer.Tailer, sh *shipper.Shipper, ckpt *checkpoint.Store) *zerolog.Event {
	ps, ts, ss, cs := pipe.Stats(), tl.Stats(), sh.Stats(), ckpt.Stats()
	return e.
		Uint64("events_read", ps.Lines).
		Uint64("events_sent", ps.Sent).
		Uint64("events_shipped", ps.Confirmed).
		Uint64("bytes_sent", ps.Bytes).
		Uint64("parse_errors", ps.ParseErrors).
		Uint64("partial_lines", ps.Partial).
		Uint64("long_lines", ps.LongLines).
		Uint64("truncated_messages", ps.Truncated).
		Int64("lag_bytes", ts.LagBytes).
		Uint64("rotations", ts.Rotations).
		Uint64("truncations", ts.Truncations).
		Uint64("lost_files", ts.LostFiles).
		Uint64("lost_bytes", ts.LostBytes).
		Bool("polling", ts.Polling).
		Uint64("reconnects", ss.Reconnects).
		Bool("connected", ss.Connected).
		Uint64("checkpoint_writes", cs.Writes).
		Uint64("checkpoint_errors", cs.Errors)
}
