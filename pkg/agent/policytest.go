package agent

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/audittail/audittail/pkg/audit"
	"github.com/audittail/audittail/pkg/auditpolicy"
	"github.com/audittail/audittail/pkg/gelf"
	"github.com/audittail/audittail/pkg/process"
)

// policyTestMaxLine bounds one line of a log read by PolicyTest, as
// tail.max_line_bytes bounds it for the agent (its default).
const policyTestMaxLine = 16 << 20

// ruleTally is what one rule did in a dry run.
type ruleTally struct {
	events, kept, reduced, dropped, wantedMore int
	logIn, logOut                              int64 // bytes of the lines, and of what is shipped of them
	gelfBefore, gelfAfter                      int64 // bytes of the GELF messages without and with the policy
}

func (t *ruleTally) add(o ruleTally) {
	t.events += o.events
	t.kept += o.kept
	t.reduced += o.reduced
	t.dropped += o.dropped
	t.wantedMore += o.wantedMore
	t.logIn += o.logIn
	t.logOut += o.logOut
	t.gelfBefore += o.gelfBefore
	t.gelfAfter += o.gelfAfter
}

// PolicyTest is the dry run of a policy: it reads the audit logs (plain,
// or gzip-compressed as rotated by kube-apiserver), applies the policy of
// policyPath and, if redact, the redaction, exactly as the agent would, and
// writes to w, per rule, the events and bytes kept, reduced and dropped, and
// the GELF bytes the messages take without and with the policy (encoded
// with gcfg). Lines that are not audit events are counted apart: the agent
// ships them flagged, whatever the policy. A policy that does not load is a
// *ConfigError.
func PolicyTest(w io.Writer, policyPath string, redact bool, logs []string, gcfg gelf.Config) error {
	pol, err := auditpolicy.Load(policyPath)
	if err != nil {
		return &ConfigError{err}
	}
	gcfg.SetDefaults()
	enc, err := gelf.NewEncoder(gcfg)
	if err != nil {
		return &ConfigError{err}
	}
	stage := process.New(pol, redact)
	tallies := make([]ruleTally, pol.Len()+1) // tallies[0]: no rule matched; tallies[1+i]: rule i
	var ev audit.Event
	var attrs auditpolicy.Attributes
	var msg []byte
	unparsed, lines := 0, 0
	for _, path := range logs {
		err := eachLine(path, func(line []byte) {
			lines++
			if len(bytes.TrimSpace(line)) == 0 {
				return
			}
			if audit.Parse(line, &ev) != nil {
				unparsed++
				return
			}
			attrs = auditpolicy.AttributesOf(&ev)
			r := pol.Evaluate(&attrs)
			t := &tallies[r.Rule+1]
			t.events++
			t.logIn += int64(len(line)) + 1
			msg, _ = enc.Encode(msg[:0], &gelf.Record{Line: line, Event: &ev, Source: path, LineSize: int64(len(line))})
			t.gelfBefore += int64(len(msg))
			recorded := ev.Level
			out, keep := stage.Process(line, &ev)
			if !keep {
				t.dropped++
				return
			}
			switch {
			case ev.Level != recorded:
				t.reduced++
			case levelRank(r.Level) > levelRank(recorded):
				t.wantedMore++
				t.kept++
			default:
				t.kept++
			}
			t.logOut += int64(len(out)) + 1
			msg, _ = enc.Encode(msg[:0], &gelf.Record{Line: out, Event: &ev, Source: path, LineSize: int64(len(line))})
			t.gelfAfter += int64(len(msg))
		})
		if err != nil {
			return err
		}
	}

	var total ruleTally
	for _, t := range tallies {
		total.add(t)
	}
	fmt.Fprintf(w, "policy %s: %d rules; %d logs, %d lines, %d events", policyPath, pol.Len(), len(logs), lines, total.events)
	if unparsed > 0 {
		fmt.Fprintf(w, " (%d lines are not audit events: shipped flagged, whatever the policy)", unparsed)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "rule\tevents\tkept\treduced\tdropped\twanted more\tlog bytes\tshipped\tGELF bytes before\tafter\tsaved\t")
	row := func(name string, t ruleTally) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", name, t.events, t.kept, t.reduced, t.dropped, t.wantedMore,
			t.logIn, t.logOut, t.gelfBefore, t.gelfAfter, percent(t.gelfBefore-t.gelfAfter, t.gelfBefore))
	}
	for i, t := range tallies {
		if t.events == 0 {
			continue
		}
		name := "no rule (None)" // tallies[0]: the events no rule matched
		if i > 0 {
			name = pol.RuleName(i - 1)
		}
		row(name, t)
	}
	row("total", total)
	if err := tw.Flush(); err != nil {
		return err
	}
	st := stage.Stats()
	fmt.Fprintf(w, "\nGELF bytes saved: %d of %d (%s); values redacted: %d\n",
		total.gelfBefore-total.gelfAfter, total.gelfBefore, percent(total.gelfBefore-total.gelfAfter, total.gelfBefore), st.Redactions())
	if total.wantedMore > 0 {
		fmt.Fprintf(w, "%d events were recorded at a lower level than the policy wants: they are shipped as recorded "+
			"(what kube-apiserver did not write cannot be added).\n", total.wantedMore)
	}
	return nil
}

func levelRank(l string) int {
	switch l {
	case audit.LevelMetadata:
		return 1
	case audit.LevelRequest:
		return 2
	case audit.LevelRequestResponse:
		return 3
	}
	return 0
}

func percent(part, whole int64) string {
	if whole == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f %%", 100*float64(part)/float64(whole))
}

// eachLine calls fn with each line of the file at path (without its
// newline), decompressing it when it starts with gzip's magic bytes.
func eachLine(path string, fn func(line []byte)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read audit log: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return fmt.Errorf("read audit log %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), policyTestMaxLine)
	for sc.Scan() {
		fn(sc.Bytes())
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read audit log %s: %w", path, err)
	}
	return nil
}
