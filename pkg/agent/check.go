package agent

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/roots"
	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/pkg/containerlog"
	"github.com/audittail/audittail/pkg/webhook"
	"github.com/audittail/audittail/shipper"
	"github.com/audittail/audittail/tailer"
	"github.com/rs/zerolog"
)

// checkReport prints one line per check and counts failures.
type checkReport struct {
	w              io.Writer
	passed, failed int
}

func (r *checkReport) line(status, what, detail string) {
	fmt.Fprintf(r.w, "%-5s %-14s %s\n", status, what, detail)
}

func (r *checkReport) ok(what, format string, args ...any) {
	r.passed++
	r.line("ok", what, fmt.Sprintf(format, args...))
}

// warn is a check that passed with something worth knowing.
func (r *checkReport) warn(what, format string, args ...any) {
	r.passed++
	r.line("warn", what, fmt.Sprintf(format, args...))
}

func (r *checkReport) fail(what, format string, args ...any) {
	r.failed++
	r.line("FAIL", what, fmt.Sprintf(format, args...))
}

// Check is `audittail check`: it checks, as the user it runs as and
// without shipping any audit event, that an agent with cfg and opts can run
// here, and prints one line per check to w (ok, warn or FAIL, the check,
// the details): the audit log and its directory (readable), the checkpoint
// (readable, its directory writable), the stream token, what the agent
// warns about at start-up (securityWarnings), the endpoint (resolved,
// connected, TLS handshake) and, with sendTest, one test message (not an
// audit event) confirmed by the server. It reports whether every check
// passed.
func Check(w io.Writer, cfg config.Config, opts Options, sendTest bool) bool {
	r := &checkReport{w: w}
	fmt.Fprintf(w, "audittail %s check\n", opts.Version)
	if logs := cfg.Tail.Logs(); len(logs) > 0 {
		r.ok("configuration", "valid (endpoint %s, audit log %s, checkpoint %s)", cfg.Output.Endpoint, strings.Join(logs, ", "), cfg.Checkpoint.Path)
		for _, l := range logs {
			if f := cfg.Tail.Format; f == tailer.FormatCRI || f == tailer.FormatDockerJSON {
				checkContainerLog(r, l, f)
				continue
			}
			checkAuditLog(r, l)
		}
		checkCheckpoint(r, cfg.Checkpoint.Path)
	} else {
		r.ok("configuration", "valid (endpoint %s, no audit log file: webhook receiver only)", cfg.Output.Endpoint)
	}
	if cfg.Webhook.Enabled() {
		checkWebhook(r, cfg, time.Now())
		checkCheckpoint(r, cfg.Spool.CheckpointPath()) // and the spool directory it is in
	}
	checkToken(r, cfg)
	checkSecurity(r, cfg, opts)
	checkEndpoint(r, cfg, sendTest)

	total := r.passed + r.failed
	if r.failed > 0 {
		fmt.Fprintf(w, "%d of %d checks failed\n", r.failed, total)
		return false
	}
	fmt.Fprintf(w, "all %d checks passed\n", total)
	return true
}

// checkWebhook checks the receiver's certificate and key (they load, match
// and are valid now), its client CA and token file.
func checkWebhook(r *checkReport, cfg config.Config, now time.Time) {
	const what = "webhook TLS"
	notAfter, err := webhook.CheckCert(cfg.Webhook, now)
	switch {
	case err != nil:
		r.fail(what, "%v", err)
	case notAfter.Sub(now) < 30*24*time.Hour:
		r.warn(what, "%s and %s load and match; the certificate expires on %s, in less than 30 days",
			cfg.Webhook.CertFile, cfg.Webhook.KeyFile, notAfter.UTC().Format(time.RFC3339))
	default:
		r.ok(what, "%s and %s load and match; the certificate is valid until %s",
			cfg.Webhook.CertFile, cfg.Webhook.KeyFile, notAfter.UTC().Format(time.RFC3339))
	}
}

// CheckConfigFailed is what `audittail check` prints when the
// configuration itself is wrong: nothing else can be checked.
func CheckConfigFailed(w io.Writer, version string, err error) {
	r := &checkReport{w: w}
	fmt.Fprintf(w, "audittail %s check\n", version)
	r.fail("configuration", "%v", err)
	fmt.Fprintln(w, "configuration error: nothing else was checked")
}

// checkContainerLog checks a container log (tail.format cri or
// docker-json): the container's log directory, or one <n>.log in it, is
// readable, and the first stdout line of its newest <n>.log is an audit
// event.
func checkContainerLog(r *checkReport, path, format string) {
	const what = "container log"
	if strings.ContainsAny(path, "*?[") { // the pods' directories by pattern: the last one matching
		dirs, _ := filepath.Glob(path)
		if len(dirs) == 0 {
			r.warn(what, "%s matches no directory yet; audittail waits for one", path)
			return
		}
		path = dirs[len(dirs)-1]
	}
	file := path
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		ents, err := os.ReadDir(path)
		if err != nil {
			r.fail(what, "cannot list directory %s: %v%s", path, err, permissionHint(err))
			return
		}
		best := -1
		for _, e := range ents {
			if n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log")); err == nil && strings.HasSuffix(e.Name(), ".log") && n > best {
				best, file = n, filepath.Join(path, e.Name())
			}
		}
		if best < 0 {
			r.warn(what, "%s holds no <n>.log yet; audittail waits for the container's log (is this /var/log/pods/<namespace>_<pod>_<uid>/<container>?)", path)
			return
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		r.warn(what, "%s does not exist yet; audittail waits for it", path)
		return
	}
	f, err := os.Open(file)
	if err != nil {
		r.fail(what, "cannot open %s: %v%s", file, err, permissionHint(err))
		return
	}
	defer f.Close()
	cf, _ := containerlog.ParseFormat(format)
	line, err := containerlog.FirstLine(f, cf, 1<<20)
	switch {
	case errors.Is(err, io.EOF):
		r.ok(what, "%s readable (no complete stdout line yet)", file)
		return
	case err != nil:
		r.fail(what, "%s: %v (is tail.format right?)", file, err)
		return
	}
	var ev audit.Event
	if err := audit.Parse(line, &ev); err != nil {
		r.warn(what, "%s readable, but its first stdout line is not an audit event (%v): does kube-apiserver run with --audit-log-path=-?", file, err)
		return
	}
	r.ok(what, "%s readable (%s; first event %s, %s)", file, format, printable(ev.AuditID), ev.Time().UTC().Format(time.RFC3339))
}

// checkAuditLog checks that this process can list the log's directory (to
// find rotated generations) and read the log, and that its first line is
// an audit event.
func checkAuditLog(r *checkReport, path string) {
	const what = "audit log"
	dir := filepath.Dir(path)
	if _, err := os.ReadDir(dir); err != nil {
		r.fail(what, "cannot list directory %s: %v%s", dir, err, permissionHint(err))
		return
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		r.warn(what, "%s does not exist yet; the directory is readable, and audittail waits for the file (is kube-apiserver's --audit-log-path this file?)", path)
		return
	}
	if err != nil {
		r.fail(what, "cannot open %s: %v%s", path, err, permissionHint(err))
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		r.fail(what, "stat %s: %v", path, err)
		return
	}
	if !fi.Mode().IsRegular() {
		r.fail(what, "%s is not a regular file (%s)", path, fi.Mode().Type())
		return
	}
	br := bufio.NewReaderSize(f, 64<<10)
	line, err := br.ReadSlice('\n')
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		r.fail(what, "read %s: %v%s", path, err, permissionHint(err))
		return
	}
	if len(line) == 0 {
		r.ok(what, "%s readable (empty)", path)
		return
	}
	var ev audit.Event
	if err := audit.Parse(line, &ev); err != nil {
		r.warn(what, "%s readable (%d bytes), but its first line is not an audit event (%v): is this the audit log?", path, fi.Size(), err)
		return
	}
	r.ok(what, "%s readable (%d bytes; first event %s, %s)", path, fi.Size(), printable(ev.AuditID), ev.Time().UTC().Format(time.RFC3339))
}

// printable is s as it is when it is text, else Go-quoted: an audit log
// line may hold invalid UTF-8 or control characters, which are not for a
// terminal.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strconv.Quote(s)
}

// checkCheckpoint checks the saved position can be read and that the
// checkpoint directory is writable, without changing the checkpoint.
func checkCheckpoint(r *checkReport, path string) {
	const what = "checkpoint"
	saved, err := checkpoint.Read(path)
	if err != nil {
		r.fail(what, "%v", err)
		return
	}
	dir := filepath.Dir(path)
	state := "none yet: a first start"
	switch {
	case saved.Found && saved.Position.IsZero():
		state = fmt.Sprintf("saved %s, no file yet", saved.SavedAt.UTC().Format(time.RFC3339))
	case saved.Found:
		state = fmt.Sprintf("resumes %s at offset %d (saved %s)", saved.Position.Path, saved.Position.Offset, saved.SavedAt.UTC().Format(time.RFC3339))
	}
	if saved.FromPrev {
		state += "; the current generation is unreadable, the previous one is used"
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		parent := filepath.Dir(dir)
		if err := probeWritable(parent); err != nil {
			r.fail(what, "%s does not exist and cannot be created in %s: %v%s", dir, parent, err, permissionHint(err))
			return
		}
		r.ok(what, "%s; directory %s will be created", state, dir)
		return
	}
	if err := probeWritable(dir); err != nil {
		r.fail(what, "directory %s is not writable: %v%s", dir, err, permissionHint(err))
		return
	}
	r.ok(what, "%s; directory %s writable", state, dir)
}

// probeWritable creates and removes a temporary file in dir.
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".audittail-check-*")
	if err != nil {
		return err
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func permissionHint(err error) string {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Sprintf(" (uid %d: run as root, or with CAP_DAC_READ_SEARCH as the systemd unit in examples/ does)", os.Getuid())
	}
	return ""
}

// checkToken reports whether a stream token is set, never its value, and
// flags the combinations that cannot work on LDP.
func checkToken(r *checkReport, cfg config.Config) {
	const what = "stream token"
	host := endpointHost(cfg.Output.Endpoint)
	ldp := strings.HasSuffix(host, ".logs.ovh.com")
	from := "flag, config or $AUDITTAIL_STREAM"
	if cfg.GELF.StreamFile != "" {
		from = cfg.GELF.StreamFile
	}
	switch {
	case cfg.GELF.Stream == "" && ldp:
		r.fail(what, "not set, but %s is Logs Data Platform, which routes messages by their stream token: set --stream-file", host)
	case cfg.GELF.Stream == "":
		r.ok(what, "not set (no _X-OVH-TOKEN: fine for a Graylog input)")
	default: // a token sent in clear is reported by checkSecurity
		r.ok(what, "set (%d characters, from %s)", len(cfg.GELF.Stream), from)
	}
}

// checkSecurity reports what the agent warns about at start-up (see
// securityWarnings), one warn line each, or one ok line.
func checkSecurity(r *checkReport, cfg config.Config, opts Options) {
	fs := securityWarnings(cfg, opts)
	for _, f := range fs {
		r.warn(f.what, "%s", f.msg)
	}
	if len(fs) == 0 {
		r.ok("permissions", "the files holding secrets and the checkpoint directory are private to their owner")
	}
}

// endpointHost is the host of a (validated) endpoint URL, "" for stdout.
func endpointHost(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || endpoint == shipper.StdoutEndpoint {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// caCertNote says that output.ca_cert is trusted too, when set.
func caCertNote(cfg config.Config) string {
	if cfg.Output.CACert == "" {
		return ""
	}
	return ", and " + cfg.Output.CACert
}

// checkEndpoint resolves and connects to the endpoint, and with sendTest
// sends one test message.
func checkEndpoint(r *checkReport, cfg config.Config, sendTest bool) {
	if cfg.Output.Endpoint == shipper.StdoutEndpoint {
		r.ok("endpoint", "standard output: nothing to connect to")
		if sendTest {
			r.ok("test message", "skipped: standard output")
		}
		return
	}
	if usesTLS(cfg) {
		if src := roots.Install(); src.Embedded {
			r.ok("trusted roots", "no CA bundle on this system: the %d Mozilla roots embedded in the binary%s", src.Count, caCertNote(cfg))
		} else {
			r.ok("trusted roots", "the system's CA bundle%s", caCertNote(cfg))
		}
	}
	host := endpointHost(cfg.Output.Endpoint)
	if net.ParseIP(host) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Output.DialTimeout)
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		cancel()
		if err != nil {
			r.fail("resolve", "%s: %v", host, err)
			return
		}
		r.ok("resolve", "%s: %s", host, strings.Join(addrs, ", "))
	}

	confirmed := make(chan uint64, 1)
	sh, err := shipper.New(cfg.Output, zerolog.Nop(), func(seq uint64) {
		select {
		case confirmed <- seq:
		default:
		}
	})
	if err != nil { // cannot happen: the configuration was validated
		r.fail("connect", "%v", err)
		return
	}
	sh.RedactWith(secretsOf(cfg))
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Output.DialTimeout)
	err = sh.Connect(ctx)
	cancel()
	if err != nil {
		r.fail("connect", "%v", err)
		closeQuietly(sh)
		return
	}
	scheme, _, _ := strings.Cut(sh.Endpoint(), "://")
	switch scheme {
	case "udp":
		r.warn("connect", "%s: socket open; UDP has no handshake, so whether a server listens cannot be checked", sh.Endpoint())
	case "tls", "https":
		r.ok("connect", "%s: TCP connection and TLS handshake succeeded", sh.Endpoint())
	default:
		r.ok("connect", "%s: TCP connection succeeded", sh.Endpoint())
	}
	if !sendTest {
		closeQuietly(sh)
		return
	}
	sendTestMessage(r, cfg, sh, confirmed)
}

// sendTestMessage sends one test message through sh and waits for its
// confirmation.
func sendTestMessage(r *checkReport, cfg config.Config, sh *shipper.Shipper, confirmed <-chan uint64) {
	const what = "test message"
	enc, err := newEncoder(cfg, zerolog.Nop())
	if err != nil {
		r.fail(what, "%v", err)
		closeQuietly(sh)
		return
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	id := hex.EncodeToString(idb[:])
	msg := enc.TestMessage(nil, id, time.Now())

	budget := cfg.Output.DialTimeout + cfg.Output.WriteTimeout
	ctx, cancel := context.WithTimeout(context.Background(), budget)
	defer cancel()
	runDone := make(chan error, 1)
	go func() { runDone <- sh.Run(ctx) }()
	if _, err := sh.Send(ctx, msg); err != nil {
		r.fail(what, "send: %v", err)
		cancel()
		<-runDone
		closeQuietly(sh)
		return
	}
	select {
	case <-confirmed:
	case <-ctx.Done():
	}
	st := sh.Stats()
	cctx, ccancel := context.WithTimeout(context.Background(), time.Second)
	_ = sh.Close(cctx)
	ccancel()
	cancel()
	<-runDone
	if st.Confirmed < 1 {
		reason := "no confirmation"
		if st.LastError != "" {
			reason = st.LastError
		}
		r.fail(what, "not confirmed within %s: %s", budget, reason)
		return
	}
	search := fmt.Sprintf("search for check_id:%s (host %s)", id, enc.Host())
	scheme, _, _ := strings.Cut(sh.Endpoint(), "://")
	switch scheme {
	case "udp":
		r.warn(what, "sent; UDP cannot confirm delivery: %s", search)
	case "http", "https":
		r.ok(what, "accepted by the server (2xx); %s", search)
	default:
		r.ok(what, "received by the server's TCP stack; %s", search)
	}
}

func closeQuietly(sh *shipper.Shipper) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = sh.Close(ctx)
}
