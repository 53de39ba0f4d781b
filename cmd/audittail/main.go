// Command audittail ships the Kubernetes API server's audit log to a GELF
// server (OVHcloud Logs Data Platform or Graylog), event by event, without
// losing any across rotations, crashes or server outages. It parses its
// flags into a configuration and runs package agent with it.
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
	"strconv"
	"strings"
	"syscall"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/pkg/agent"
	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/tailer"
)

// version is set at build time with -ldflags "-X main.version=..."; otherwise
// the module version from the build info is used.
var version = ""

const (
	exitOK      = 0
	exitRuntime = 1
	exitUsage   = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "policy" {
		return runPolicy(args[1:], stdout, stderr)
	}
	check := len(args) > 0 && args[0] == "check"
	if check {
		args = args[1:]
	}
	l, err := parse(args, stderr, check)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case err != nil && check:
		agent.CheckConfigFailed(stdout, buildVersion(), err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "audittail: %v\n", err)
		return exitUsage
	case l.showVersion:
		fmt.Fprintf(stdout, "audittail %s\n", buildVersion())
		return exitOK
	case check:
		if !agent.Check(stdout, l.cfg, l.opts, l.sendTest) {
			return exitRuntime
		}
		return exitOK
	}

	out, err := agent.OpenLogOutput(l.cfg.Log.File, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "audittail: %v\n", err)
		return exitUsage
	}
	defer out.Close()
	l.opts.Log, l.opts.LogOutput = agent.NewLogger(l.cfg.Log, out), out
	log := l.opts.Log
	if os.Getenv("GOGC") == "" { // an operator's GOGC wins
		debug.SetGCPercent(gcPercent)
	}
	if path := os.Getenv("AUDITTAIL_CPUPROFILE"); path != "" { // for the benchmarks
		stop, err := startCPUProfile(path)
		if err != nil {
			fmt.Fprintf(stderr, "audittail: %v\n", err)
			return exitUsage
		}
		defer stop()
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	a, err := agent.New(ctx, l.cfg, l.opts)
	if err != nil {
		var ce *agent.ConfigError
		if errors.As(err, &ce) {
			log.Error().Err(err).Msg("invalid configuration")
			return exitUsage
		}
		log.Error().Err(err).Msg("audittail stopped")
		return exitRuntime
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			a.Reload()
		}
	}()
	if err := a.Run(ctx); err != nil {
		log.Error().Err(err).Msg("audittail stopped")
		return exitRuntime
	}
	return exitOK
}

// loaded is what the command line asks for.
type loaded struct {
	cfg         config.Config
	opts        agent.Options // Version, ConfigFile and TokenFrom
	showVersion bool
	sendTest    bool // check --send-test
	pathSet     bool // --path given once already
}

// flagDef is one flag that sets the configuration: its name, default and
// help, and how its value goes into the configuration.
type flagDef struct {
	name, def, usage string
	set              func(l *loaded, v string) error
}

// repeatable are the flags that may be given several times: set is called
// with each value, in order.
var repeatable = map[string]bool{"path": true}

// repeated collects the values of a flag given several times.
type repeated struct {
	vals []string
	def  string
}

func (r *repeated) String() string {
	if r == nil || len(r.vals) == 0 {
		if r == nil {
			return ""
		}
		return r.def
	}
	return strings.Join(r.vals, ",")
}

func (r *repeated) Set(v string) error { r.vals = append(r.vals, v); return nil }

// flags are the flags that set the configuration. They override the
// configuration file, which overrides the defaults; the help of each names
// its YAML key where it has one.
var flags = []flagDef{
	{"path", tailer.DefaultPath, "audit log `file` written by kube-apiserver (--audit-log-path); give it several times to follow several logs (tail.paths); with --webhook-listen and no --path, no file is followed; tail.path",
		func(l *loaded, v string) error {
			switch {
			case len(l.cfg.Tail.Paths) > 0:
				l.cfg.Tail.Paths = append(l.cfg.Tail.Paths, v)
			case l.pathSet:
				l.cfg.Tail.Paths, l.cfg.Tail.Path = []string{l.cfg.Tail.Path, v}, ""
			default:
				l.cfg.Tail.Path, l.cfg.Tail.Paths = v, nil
			}
			l.pathSet = true
			return nil
		}},
	{"preset", "", "follow the audit logs where this distribution writes them, unless --path is given: kubeadm, k3s, rke2, openshift, talos or kind (README \"Distributions\"); preset",
		func(l *loaded, v string) error { l.cfg.Preset = v; return nil }},
	{"format", tailer.FormatAudit, "line `format` of --path: audit (one audit event per line, kube-apiserver's log file), cri (a container log of containerd or CRI-O, for --audit-log-path=-: --path is then the container's log directory under /var/log/pods) or docker-json (cri-dockerd); tail.format",
		func(l *loaded, v string) error { l.cfg.Tail.Format = v; return nil }},
	{"start-at", string(tailer.StartBeginning), "where to start in a file the checkpoint does not know: beginning or end; tail.start_at",
		func(l *loaded, v string) error { return l.cfg.Tail.StartAt.UnmarshalText([]byte(v)) }},
	{"checkpoint", checkpoint.DefaultPath, "checkpoint `file`; checkpoint.path",
		func(l *loaded, v string) error { l.cfg.Checkpoint.Path = v; return nil }},
	{"stream-file", "", "`file` holding the LDP stream token; gelf.stream_file",
		func(l *loaded, v string) error { l.cfg.GELF.Stream, l.cfg.GELF.StreamFile = "", v; return nil }},
	{"stream", "", "LDP stream write `token`, sent as _X-OVH-TOKEN (prefer --stream-file or $AUDITTAIL_STREAM: flags are visible in the process list); gelf.stream",
		func(l *loaded, v string) error {
			l.cfg.GELF.Stream, l.cfg.GELF.StreamFile = v, ""
			l.opts.TokenFrom = agent.TokenFlag
			return nil
		}},
	{"host", "", "GELF host `name` (default: this node's hostname); gelf.host",
		func(l *loaded, v string) error { l.cfg.GELF.Host = v; return nil }},
	{"endpoint", "", "GELF server `URL`: tls://HOST[:PORT] (default port 12202), tcp://HOST[:PORT] (2202), udp://HOST[:PORT] (2202, no delivery guarantee), http(s)://HOST[:PORT][/PATH] (path /gelf), or - for standard output; output.endpoint",
		func(l *loaded, v string) error { l.cfg.Output.Endpoint = v; return nil }},
	{"ca-cert", "", "PEM `file` of CA certificates trusted besides the system roots; output.ca_cert",
		func(l *loaded, v string) error { l.cfg.Output.CACert = v; return nil }},
	{"client-cert", "", "PEM client certificate `file` for mutual TLS; output.client_cert",
		func(l *loaded, v string) error { l.cfg.Output.ClientCert = v; return nil }},
	{"client-key", "", "PEM client key `file` for mutual TLS; output.client_key",
		func(l *loaded, v string) error { l.cfg.Output.ClientKey = v; return nil }},
	{"tls-server-name", "", "`name` to verify in the server certificate (default: the endpoint's host); output.tls_server_name",
		func(l *loaded, v string) error { l.cfg.Output.ServerName = v; return nil }},
	{"policy", "", "audit.k8s.io/v1 Policy `file` applied to every event before it is shipped, as kube-apiserver applies --audit-policy-file; policy.file",
		func(l *loaded, v string) error { l.cfg.Policy.File = v; return nil }},
	{"redact-secrets", "true", "replace the values of Secrets, TokenRequest and TokenReview tokens in request and response objects with a hash: true or false; redact.secrets",
		func(l *loaded, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%q: want true or false", v)
			}
			l.cfg.Redact.Secrets = &b
			return nil
		}},
	{"webhook-listen", "", "receive kube-apiserver's audit webhook (EventList batches over HTTPS) on `HOST:PORT`, beside or instead of --path; webhook.listen",
		func(l *loaded, v string) error { l.cfg.Webhook.Listen = v; return nil }},
	{"webhook-cert", "", "PEM certificate `file` of the webhook receiver; webhook.cert_file",
		func(l *loaded, v string) error { l.cfg.Webhook.CertFile = v; return nil }},
	{"webhook-key", "", "PEM private key `file` of the webhook receiver; webhook.key_file",
		func(l *loaded, v string) error { l.cfg.Webhook.KeyFile = v; return nil }},
	{"webhook-client-ca", "", "PEM CA `file` that must have signed the sender's client certificate; webhook.client_ca_file",
		func(l *loaded, v string) error { l.cfg.Webhook.ClientCAFile = v; return nil }},
	{"webhook-token-file", "", "`file` holding the bearer token the sender must present; webhook.token_file",
		func(l *loaded, v string) error { l.cfg.Webhook.TokenFile = v; return nil }},
	{"spool-dir", "", "`directory` where received batches are written and synced before the receiver answers 200 (default /var/lib/audittail/spool); spool.dir",
		func(l *loaded, v string) error { l.cfg.Spool.Dir = v; return nil }},
	{"metrics-addr", "", "serve Prometheus /metrics, /healthz and /readyz on `HOST:PORT` (default: off); metrics.addr",
		func(l *loaded, v string) error { l.cfg.Metrics.Addr = v; return nil }},
	{"log-file", "", "write the log to this `file` instead of standard error; SIGHUP re-opens it; log.file",
		func(l *loaded, v string) error { l.cfg.Log.File = v; return nil }},
	{"log-level", "info", "log `level`: trace, debug, info, warn, error; log.level",
		func(l *loaded, v string) error { l.cfg.Log.Level = v; return nil }},
	{"log-format", string(config.LogJSON), "log format: json or console; log.format",
		func(l *loaded, v string) error { return l.cfg.Log.Format.UnmarshalText([]byte(v)) }},
}

// parse builds the configuration: defaults, then the --config file, then
// $AUDITTAIL_STREAM, then flags. It validates the result. check adds the
// check subcommand's --send-test.
func parse(args []string, stderr io.Writer, check bool) (loaded, error) {
	l := loaded{opts: agent.Options{Version: buildVersion()}}
	fs := flag.NewFlagSet("audittail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		if check {
			fmt.Fprint(stderr, checkUsage)
		} else {
			fmt.Fprint(stderr, usage)
		}
		fs.PrintDefaults()
	}
	configFile := fs.String("config", "", "YAML configuration `file`; flags override it")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if check {
		fs.BoolVar(&l.sendTest, "send-test", false, "also send one test message (not an audit event) and wait for the server to confirm it")
	}
	values := make(map[string]*string, len(flags))
	multi := make(map[string]*repeated)
	for _, f := range flags {
		if repeatable[f.name] {
			multi[f.name] = &repeated{def: f.def}
			fs.Var(multi[f.name], f.name, f.usage)
			continue
		}
		values[f.name] = fs.String(f.name, f.def, f.usage)
	}
	if err := fs.Parse(args); err != nil {
		return l, err
	}
	if fs.NArg() > 0 {
		return l, fmt.Errorf("unexpected argument %q (see --help)", fs.Arg(0))
	}
	if l.showVersion = *showVersion; l.showVersion {
		return l, nil
	}
	if *configFile != "" {
		if err := config.Load(*configFile, &l.cfg); err != nil {
			return l, err
		}
		l.opts.ConfigFile = *configFile
		if l.cfg.GELF.Stream != "" {
			l.opts.TokenFrom = agent.TokenConfig
		}
	}
	if tok := os.Getenv("AUDITTAIL_STREAM"); tok != "" {
		l.cfg.GELF.Stream, l.cfg.GELF.StreamFile = tok, ""
		l.opts.TokenFrom = agent.TokenEnv
	}
	var ferr error
	fs.Visit(func(fl *flag.Flag) {
		for _, f := range flags {
			if f.name != fl.Name || ferr != nil {
				continue
			}
			vals := []string{}
			if repeatable[f.name] {
				vals = multi[f.name].vals
			} else {
				vals = append(vals, *values[f.name])
			}
			for _, v := range vals {
				if err := f.set(&l, v); err != nil {
					ferr = fmt.Errorf("--%s: %w", f.name, err)
					break
				}
			}
		}
	})
	if ferr != nil {
		return l, ferr
	}
	l.cfg.SetDefaults()
	if l.cfg.Output.Endpoint == "" {
		return l, errors.New("no endpoint: set --endpoint (e.g. tls://gra1.logs.ovh.com:12202, or - for standard output) or output.endpoint in the config file")
	}
	if l.cfg.GELF.StreamFile != "" {
		tok, err := agent.ReadStreamFile(l.cfg.GELF.StreamFile)
		if err != nil {
			return l, err
		}
		l.cfg.GELF.Stream = tok
		l.opts.TokenFrom = agent.TokenFile
	}
	if l.cfg.GELF.Stream == "" {
		l.opts.TokenFrom = agent.TokenNone
	}
	return l, l.cfg.Validate()
}

const usage = `Usage: audittail --path FILE --stream-file FILE --endpoint URL --checkpoint FILE
                 [--stream TOKEN] [--start-at beginning|end] [--config FILE] [--host NAME]
                 [--ca-cert FILE] [--client-cert FILE --client-key FILE] [--tls-server-name NAME]
                 [--policy FILE] [--redact-secrets=false]
                 [--webhook-listen HOST:PORT --webhook-cert FILE --webhook-key FILE
                  [--webhook-client-ca FILE] [--webhook-token-file FILE] [--spool-dir DIR]]
                 [--metrics-addr HOST:PORT] [--log-file FILE]
                 [--log-level LEVEL] [--log-format json|console] [--version]
       audittail check [the same flags] [--send-test]
       audittail policy test --policy FILE LOG...

Ships every Kubernetes API server audit event to a GELF server (OVHcloud Logs
Data Platform or Graylog), read from the audit log file (--path), received
from kube-apiserver's audit webhook (--webhook-listen), or both. Flags
override the --config file. SIGHUP re-opens --log-file and re-reads
--stream-file and the webhook's certificate, key and token file.

`

const checkUsage = `Usage: audittail check [the agent's flags] [--send-test]

Checks that audittail can run here, with these settings, as this user,
without shipping any audit event: the configuration; the audit log and its
directory (readable); the checkpoint (readable, its directory writable);
the stream token; the endpoint (resolved, connected, TLS handshake). With
--send-test it also sends one test message (not an audit event) and waits
for the server to confirm it. Prints one line per check; the exit code is 0
only if every check passed, 1 if one failed, 2 for a configuration error.

`

const policyUsage = `Usage: audittail policy test --policy FILE [--redact-secrets=false] LOG...

The dry run of an audit Policy: reads the audit logs (plain, or .gz as
kube-apiserver rotates them), applies the policy exactly as the agent would
with --policy, and prints, per rule, the events kept, reduced and dropped,
the bytes of the log lines and of what would be shipped of them, and the
GELF bytes without and with the policy. Ships nothing. Exit code 0, 1 if a
log cannot be read, 2 for a bad policy or usage.

`

// runPolicy runs the policy subcommand.
func runPolicy(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "test" {
		fmt.Fprint(stderr, policyUsage)
		return exitUsage
	}
	fs := flag.NewFlagSet("audittail policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage); fs.PrintDefaults() }
	policy := fs.String("policy", "", "audit.k8s.io/v1 Policy `file`")
	redact := fs.Bool("redact-secrets", true, "redact secrets as the agent does (redact.secrets)")
	host := fs.String("host", "", "GELF host `name` in the messages measured (default: this node's hostname)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if *policy == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "audittail policy test: --policy FILE and at least one LOG are required (see --help)")
		return exitUsage
	}
	err := agent.PolicyTest(stdout, *policy, *redact, fs.Args(), gelf.Config{Host: *host})
	var ce *agent.ConfigError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(stderr, "audittail: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "audittail: %v\n", err)
		return exitRuntime
	}
	return exitOK
}

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

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
