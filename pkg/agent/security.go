package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/audittail/audittail/internal/secret"
	"github.com/audittail/audittail/pkg/config"
	"github.com/audittail/audittail/shipper"
)

// TokenSource says where the stream token came from, for the warnings
// about it.
type TokenSource string

// Values of TokenSource.
const (
	TokenNone   TokenSource = ""
	TokenFlag   TokenSource = "--stream"
	TokenEnv    TokenSource = "$AUDITTAIL_STREAM"
	TokenFile   TokenSource = "stream_file"
	TokenConfig TokenSource = "gelf.stream in the config file"
)

// finding is something unsafe in a valid configuration: not wrong enough to
// refuse to start, but worth a warning at every start (and a warn line in
// audittail check). what is the check it belongs to.
type finding struct {
	what, msg string
}

// securityWarnings lists what a security reviewer would object to in cfg
// and opts: a token visible in the process list, a token or the audit trail
// sent in clear, and files holding secrets (or the checkpoint's directory)
// that group or others can read. Files that do not exist are left to the
// checks that need them.
func securityWarnings(cfg config.Config, opts Options) []finding {
	var out []finding
	if opts.TokenFrom == TokenFlag {
		out = append(out, finding{"stream token", "the stream token is given with --stream: every user of this node can read it " +
			"in the process list (ps, /proc/PID/cmdline); give it with --stream-file or $AUDITTAIL_STREAM instead"})
	}
	if cfg.Output.Cleartext() {
		scheme, _, _ := strings.Cut(cfg.Output.Endpoint, "://")
		if cfg.GELF.Stream != "" {
			out = append(out, finding{"endpoint", fmt.Sprintf("%s sends the stream token and the audit trail in clear: "+
				"anyone on the network path can read both, and ship to your stream with the token; use tls:// or https://", scheme+"://")})
		} else {
			out = append(out, finding{"endpoint", fmt.Sprintf("%s sends the audit trail in clear: "+
				"use tls:// or https:// unless every network on the way is trusted", scheme+"://")})
		}
	}
	if f := cfg.GELF.StreamFile; f != "" {
		out = appendLoose(out, "stream token file", f, false)
	}
	if opts.TokenFrom == TokenConfig && opts.ConfigFile != "" {
		out = appendLoose(out, "config file (it holds gelf.stream)", opts.ConfigFile, false)
	}
	if k := cfg.Output.ClientKey; k != "" {
		out = appendLoose(out, "client key", k, false)
	}
	if cfg.TailsFile() && cfg.Checkpoint.Path != "" {
		out = appendLoose(out, "checkpoint directory", filepath.Dir(cfg.Checkpoint.Path), true)
	}
	if cfg.Webhook.Enabled() {
		// The spool's checkpoint is in the spool directory (created 0700).
		out = appendLoose(out, spoolDirectory, cfg.Spool.Dir, true)
		if k := cfg.Webhook.KeyFile; k != "" {
			out = appendLoose(out, "webhook key", k, false)
		}
		if f := cfg.Webhook.TokenFile; f != "" {
			out = appendLoose(out, "webhook token file", f, false)
		}
	}
	return out
}

const spoolDirectory = "spool directory"

// appendLoose adds a finding when path (a file, or a directory when dir)
// is open to group or others. A checkpoint directory others can write to
// lets them replace the checkpoint, and so make the agent skip events.
func appendLoose(out []finding, what, path string, dir bool) []finding {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err != nil {
		return out
	}
	perm := fi.Mode().Perm()
	if perm&0o077 == 0 {
		return out
	}
	mode := fmt.Sprintf("%04o", perm)
	var msg string
	switch {
	case what == spoolDirectory && perm&0o022 != 0:
		msg = fmt.Sprintf("%s %s is writable by group or others (mode %s): they can add, change or remove the audit events waiting in it; chmod 700 %s", what, path, mode, path)
	case what == spoolDirectory:
		msg = fmt.Sprintf("%s %s is readable by group or others (mode %s): they can read the audit events waiting in it; chmod 700 %s", what, path, mode, path)
	case dir && perm&0o022 != 0:
		msg = fmt.Sprintf("%s %s is writable by group or others (mode %s): they can replace the checkpoint and make the agent skip events; chmod 700 %s", what, path, mode, path)
	case dir:
		msg = fmt.Sprintf("%s %s is readable by group or others (mode %s): they can see which audit log file is read and how far; chmod 700 %s", what, path, mode, path)
	case perm&0o022 != 0:
		msg = fmt.Sprintf("%s %s is writable by group or others (mode %s): they can replace it; chmod 600 %s", what, path, mode, path)
	default:
		msg = fmt.Sprintf("%s %s is readable by group or others (mode %s): chmod 600 %s", what, path, mode, path)
	}
	return append(out, finding{"permissions", msg})
}

// secretsOf registers the secrets of cfg: the stream token and the values
// of output.http_headers (whole, and the credential after an
// authorization scheme such as "Bearer ").
func secretsOf(cfg config.Config) *secret.Set {
	s := &secret.Set{}
	s.Add(cfg.GELF.Stream)
	for _, v := range cfg.Output.HTTPHeaders {
		s.Add(v)
		if _, cred, ok := strings.Cut(strings.TrimSpace(v), " "); ok {
			s.Add(strings.TrimSpace(cred))
		}
	}
	return s
}

// printsToStdout reports whether the messages go to standard output, where
// they end up in journald or kubectl logs: the stream token is then left
// out of them.
func printsToStdout(cfg config.Config) bool { return cfg.Output.Endpoint == shipper.StdoutEndpoint }
