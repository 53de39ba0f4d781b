package torture

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/internal/gelftest"
)

// Settings from the environment.

// duration is how long the writer runs in each scenario: TORTURE_DURATION
// (a Go duration), 6 s by default.
func duration(t *testing.T) time.Duration {
	if s := os.Getenv("TORTURE_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("TORTURE_DURATION=%q: want a positive Go duration such as 60s", s)
		}
		return d
	}
	return 6 * time.Second
}

// rate is the writer's rate in events per second: TORTURE_RATE, 5000 by
// default (about 6 MB/s, six 1 MB rotations a second).
func rate(t *testing.T) int {
	if s := os.Getenv("TORTURE_RATE"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			t.Fatalf("TORTURE_RATE=%q: want an integer >= 100", s)
		}
		return n
	}
	return 5000
}

// seed is the seed of the random choices: TORTURE_SEED, else the clock. It is
// logged so that a run can be repeated.
func seed(t *testing.T) uint64 {
	if s := os.Getenv("TORTURE_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("TORTURE_SEED=%q: want an unsigned integer", s)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// tally counts what the server received. It is updated incrementally, inside
// the server's WaitFor (under the server's lock, so it calls no server
// method), from the test goroutine only.
type tally struct {
	done        int      // frames looked at
	counts      []uint16 // copies received per sequence number
	distinct    int      // sequence numbers received at least once
	frames      int
	flagged     int          // frames flagged _parse_error or _line_truncated_bool
	hostile     map[int]int  // copies received flagged, per hostile line
	hostileCut  map[int]bool // hostile lines received flagged _line_truncated_bool
	hostileEv   map[int]int  // copies received as events (not flagged), per hostile line
	flaggedGood int          // flagged frames that name an event (a good event shipped as unparsable)
	other       int          // frames that are neither
}

var (
	auditIDKey   = []byte(`"_auditID":"seq-`)
	hostileKey   = []byte("HOSTILE_")
	parseErrKey  = []byte(`"_parse_error":`)
	lineTruncKey = []byte(`"_line_truncated_bool":"true"`)
)

func (tl *tally) update(frames [][]byte) {
	if tl.hostile == nil {
		tl.hostile, tl.hostileCut, tl.hostileEv = map[int]int{}, map[int]bool{}, map[int]int{}
	}
	for _, f := range frames[tl.done:] {
		tl.frames++
		cut := bytes.Contains(f, lineTruncKey)
		flagged := cut || bytes.Contains(f, parseErrKey)
		if flagged {
			tl.flagged++
		}
		if n := parseMarker(f, auditIDKey); n >= 0 && !flagged {
			for n >= len(tl.counts) {
				tl.counts = append(tl.counts, make([]uint16, max(len(tl.counts), 1<<16))...)
			}
			if tl.counts[n] == 0 {
				tl.distinct++
			}
			if tl.counts[n] < 0xffff {
				tl.counts[n]++
			}
			continue
		}
		if h := parseMarker(f, hostileKey); h >= 0 {
			if flagged {
				tl.hostile[h]++
				tl.hostileCut[h] = tl.hostileCut[h] || cut
			} else {
				tl.hostileEv[h]++
			}
			continue
		}
		if flagged && bytes.Contains(f, []byte("seq-")) {
			tl.flaggedGood++
			continue
		}
		tl.other++
	}
	tl.done = len(frames)
}

// hostileSeen is how many distinct hostile lines arrived, flagged or as
// events.
func (tl *tally) hostileSeen() int {
	n := len(tl.hostile)
	for h := range tl.hostileEv {
		if tl.hostile[h] == 0 {
			n++
		}
	}
	return n
}

// received returns how many event messages arrived (copies included).
func (tl *tally) received() int {
	n := 0
	for _, c := range tl.counts {
		n += int(c)
	}
	return n
}

// missing returns the sequence numbers below n that never arrived, as
// ranges [from, to].
func (tl *tally) missing(n int) (count int, ranges [][2]int) {
	for i := 0; i < n; i++ {
		if i < len(tl.counts) && tl.counts[i] > 0 {
			continue
		}
		count++
		if k := len(ranges); k > 0 && ranges[k-1][1] == i-1 {
			ranges[k-1][1] = i
		} else {
			ranges = append(ranges, [2]int{i, i})
		}
	}
	return count, ranges
}

// scenario is one run: its directory, server, agents, writer and tally.
type scenario struct {
	t       *testing.T
	name    string
	dir     string
	logPath string
	// logPaths, when set, are the several logs one agent follows, whose
	// positions are in the version 2 checkpoint ckpt.
	logPaths []string
	ckpt     string
	srv      *gelftest.Server
	ag       *agents
	w        *writer
	tl       tally
	begin    time.Time
	notes    []string      // extra fields for the summary line
	extra    func() string // more, computed when the summary is printed
	wrDone   chan struct{}
	timeout  time.Duration // bound of the final wait
}

// newScenario makes the directory and the server (TLS when tlsOn) and
// prepares the agents' flags: the same for every start of this scenario.
func newScenario(t *testing.T, name string, tlsOn bool) *scenario {
	if testing.Short() {
		t.Skip("torture scenarios are long; run make torture-short or make torture")
	}
	dir := t.TempDir()
	s := &scenario{
		t:       t,
		name:    name,
		dir:     dir,
		logPath: filepath.Join(dir, "audit.log"),
		ckpt:    filepath.Join(dir, "ckpt.json"),
		begin:   time.Now(),
		timeout: 120*time.Second + 3*duration(t),
	}
	opts := gelftest.Options{}
	var extra []string
	if tlsOn {
		pki := gelftest.NewPKI(t)
		opts.TLS = pki.ServerTLS(tls.NoClientCert)
		extra = []string{"--ca-cert", pki.CAFile}
	}
	s.srv = gelftest.NewServer(t, opts)
	// --log-level info: the start-up line tells when the first agent holds
	// its start position (with no checkpoint it starts in the live file and
	// does not read backups that already exist, so the writer must wait for
	// it), and the resume and stats lines help when a scenario fails.
	args := append([]string{"--path", s.logPath, "--endpoint", s.srv.Endpoint(),
		"--checkpoint", s.ckpt, "--log-level", "info"}, extra...)
	s.ag = newAgents(t, args...)
	t.Cleanup(func() {
		if s.w != nil && s.w.lj != nil {
			settle(t, dir)
		}
		if t.Failed() {
			dumpDir(t, dir)
		}
	})
	return s
}

// firstStart starts the first agent and waits for its start-up line.
func (s *scenario) firstStart() *agentRun {
	a := s.ag.start()
	s.ag.waitStarted(a)
	return a
}

// goWrite runs s.w on its own goroutine until until (if not zero) or stop
// is closed.
func (s *scenario) goWrite(until time.Time, stop <-chan struct{}) {
	s.wrDone = make(chan struct{})
	go func() { defer close(s.wrDone); s.w.run(until, stop) }()
}

func (s *scenario) writing() bool {
	select {
	case <-s.wrDone:
		return false
	default:
		return true
	}
}

// waitWriter waits for the writer goroutine to end, keeping the tally up to
// date, and closes the writer.
func (s *scenario) waitWriter() {
	for s.writing() {
		s.sleep(50 * time.Millisecond)
	}
	if err := s.w.error(); err != nil {
		s.t.Errorf("writer: %v", err)
	}
	if err := s.w.close(); err != nil {
		s.t.Errorf("close writer: %v", err)
	}
}

// poll brings the tally up to date with what the server received.
func (s *scenario) poll() {
	s.srv.WaitFor(s.t, time.Minute, "tally", func(frames [][]byte) bool {
		s.tl.update(frames)
		return true
	})
}

// sleep waits d, keeping the tally up to date (in small steps, so that the
// server's lock is never held long).
func (s *scenario) sleep(d time.Duration) {
	deadline := time.Now().Add(d)
	for {
		s.poll()
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		time.Sleep(min(left, 20*time.Millisecond))
	}
}

// complete reports whether every event (and every hostile line) written
// so far has arrived.
func (s *scenario) complete() bool {
	return s.tl.distinct >= int(s.w.seq.Load()) && s.tl.hostileSeen() >= int(s.w.hostileN.Load())
}

// waitComplete waits until everything written has arrived, at most timeout,
// and at most 60 s without any message arriving (the writer is not writing
// when it is called: a minute without anything new means that what is missing
// will not come). It returns an error saying what is missing otherwise, or
// when the agent died.
func (s *scenario) waitComplete(timeout time.Duration) error {
	const stall = 60 * time.Second
	deadline := time.Now().Add(timeout)
	frames, moved := s.tl.frames, time.Now()
	for {
		s.poll()
		if s.complete() {
			return nil
		}
		if s.tl.frames != frames {
			frames, moved = s.tl.frames, time.Now()
		}
		if time.Since(moved) > stall {
			return fmt.Errorf("nothing arrived for %v: %d of %d events and %d of %d hostile lines received",
				stall, s.tl.distinct, s.w.seq.Load(), s.tl.hostileSeen(), s.w.hostileN.Load())
		}
		a := s.ag.cur()
		if !a.running() {
			return fmt.Errorf("agent #%d exited (%v) with %d of %d events received", a.n, a.cmd.ProcessState, s.tl.distinct, s.w.seq.Load())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %v: %d of %d events and %d of %d hostile lines received",
				timeout, s.tl.distinct, s.w.seq.Load(), s.tl.hostileSeen(), s.w.hostileN.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish waits until everything written has arrived (the writer has ended),
// stops the last agent with SIGTERM (exit code 0 expected), prints the
// summary line and fails on any missing event.
func (s *scenario) finish() {
	t := s.t
	werr := s.waitComplete(s.timeout)
	if werr != nil {
		t.Errorf("not everything arrived: %v", werr)
	}
	if a := s.ag.cur(); a.running() {
		// A SIGTERM that comes before the agent has set up its signal
		// handling (a few milliseconds after exec) kills it; wait for its
		// start-up line, logged after that.
		s.ag.waitStarted(a)
		// Everything has arrived, but a final agent started a moment ago
		// may still be re-reading what its predecessor had sent and not
		// yet checkpointed: let it reach the end of the live file.
		if werr == nil {
			s.waitFinalCheckpoint()
		}
		code := s.ag.stop(a, syscall.SIGTERM)
		if code != 0 {
			t.Errorf("agent #%d: exit code %d after SIGTERM, want 0", a.n, code)
		}
		if st := agentStats(a); st != "" {
			s.notes = append(s.notes, st)
		}
		if code == 0 && werr == nil {
			s.checkFinalCheckpoint()
		}
	}
	s.poll()
	s.report()
}

// report logs and prints the figures and fails on missing events.
func (s *scenario) report() {
	t := s.t
	n := int(s.w.seq.Load())
	miss, ranges := s.tl.missing(n)
	dups := s.tl.received() - s.tl.distinct
	line := fmt.Sprintf("TORTURE %-33s written=%d distinct=%d missing=%d duplicated=%d restarts=%d peak_rss=%.1fMiB rotations=%d frames=%d flagged=%d elapsed=%.1fs",
		s.name, n, s.tl.distinct, miss, dups, s.ag.restarts(), s.ag.peakMiB(), s.w.rotations.Load(),
		s.tl.frames, s.tl.flagged, time.Since(s.begin).Seconds())
	notes := s.notes
	if s.extra != nil {
		notes = append(notes, s.extra())
	}
	if len(notes) > 0 {
		line += " " + strings.Join(notes, " ")
	}
	t.Log(line)
	fmt.Println(line)
	if s.tl.flaggedGood > 0 {
		t.Errorf("%d events were shipped flagged as unparsable (a line cut or glued to another)", s.tl.flaggedGood)
	}
	if s.tl.other > 0 && s.w.hostile == nil {
		t.Errorf("%d frames are neither events nor hostile lines", s.tl.other)
	}
	if miss > 0 {
		var first []string
		for _, r := range ranges {
			for i := r[0]; i <= r[1] && len(first) < 20; i++ {
				first = append(first, fmt.Sprintf("seq-%08d", i))
			}
		}
		files := scanDir(s.dir)
		var rs []string
		for i, r := range ranges {
			if i == 30 {
				rs = append(rs, fmt.Sprintf("... %d more ranges", len(ranges)-30))
				break
			}
			rs = append(rs, fmt.Sprintf("%d-%d (%d events) %s", r[0], r[1], r[1]-r[0]+1, whereAre(files, r[0], r[1])))
		}
		t.Errorf("%d of %d events MISSING; first %v; missing ranges:\n%s", miss, n, first, strings.Join(rs, "\n"))
	}
}

// checkpointAtEnd says whether the checkpoint is at the end of the live file.
func (s *scenario) checkpointAtEnd() error {
	if len(s.logPaths) > 0 { // several logs: a version 2 checkpoint, one position each
		all, err := checkpoint.ReadAll(s.ckpt)
		if err != nil {
			return err
		}
		for _, p := range s.logPaths {
			if err := atEnd(all[p].Position.Inode, all[p].Position.Offset, all[p].Position.Path, p); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		}
		return nil
	}
	c, err := readCheckpoint(s.ckpt)
	if err != nil {
		return err
	}
	return atEnd(c.Inode, c.Offset, c.Path, s.logPath)
}

// atEnd says whether inode and offset (of file) are the end of the live
// file at path.
func atEnd(inode uint64, offset int64, file, path string) error {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return err
	}
	if inode != st.Ino || offset != st.Size {
		return fmt.Errorf("checkpoint at inode %d offset %d (%s); the live file is inode %d, %d bytes",
			inode, offset, file, st.Ino, st.Size)
	}
	return nil
}

// waitFinalCheckpoint waits (bounded) until the running agent's checkpoint
// (written every second while it moves) is at the end of the live file.
func (s *scenario) waitFinalCheckpoint() {
	deadline := time.Now().Add(s.timeout)
	for {
		err := s.checkpointAtEnd()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Errorf("everything arrived but after %v the agent's checkpoint is not at the end of the live file: %v", s.timeout, err)
			return
		}
		s.sleep(50 * time.Millisecond)
	}
}

// checkFinalCheckpoint checks that after a clean shutdown with everything
// received, the checkpoint is at the end of the live file.
func (s *scenario) checkFinalCheckpoint() {
	if err := s.checkpointAtEnd(); err != nil {
		s.t.Errorf("after SIGTERM: %v", err)
	}
}

// agentStats returns the counters of the agent's final stats line
// ("audittail stopped"), or "".
func agentStats(a *agentRun) string {
	for _, l := range strings.Split(a.stderr.String(), "\n") {
		if !strings.Contains(l, `"audittail stopped"`) {
			continue
		}
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) != nil {
			return ""
		}
		var out []string
		for _, k := range []string{"rotations", "truncations", "lost_files", "reconnects", "parse_errors", "long_lines", "partial_lines"} {
			if v, ok := m[k].(float64); ok && (v != 0 || k == "rotations") {
				out = append(out, fmt.Sprintf("agent_%s=%d", k, int64(v)))
			}
		}
		return strings.Join(out, " ")
	}
	return ""
}

// ckptFile reads the checkpoint's file position.
type ckptFile struct {
	Path   string `json:"path"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

func readCheckpoint(path string) (ckptFile, error) {
	var c struct {
		File *ckptFile `json:"file"`
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ckptFile{}, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return ckptFile{}, fmt.Errorf("%s: %v", path, err)
	}
	if c.File == nil {
		return ckptFile{}, fmt.Errorf("%s names no file: %s", path, b)
	}
	return *c.File, nil
}

// plainWithInode returns the plain (not gzipped) file of dir with this
// inode, or "".
func plainWithInode(dir string, ino uint64) string {
	files, _ := filepath.Glob(filepath.Join(dir, "audit*.log"))
	for _, f := range files {
		var st syscall.Stat_t
		if syscall.Stat(f, &st) == nil && st.Ino == ino {
			return f
		}
	}
	return ""
}

// killWhileWriting kills the agent with SIGKILL every 1 to 3 s (from rng)
// and starts it again, while the writer runs; once, a third of the way
// in, the log server is down for outage (none when 0).
func (s *scenario) killWhileWriting(rng *rand.Rand, outage time.Duration) {
	t := s.t
	serverStopped := outage == 0
	for s.writing() {
		d := time.Second + time.Duration(rng.Int64N(int64(2*time.Second)))
		for end := time.Now().Add(d); s.writing() && time.Now().Before(end); {
			s.sleep(20 * time.Millisecond)
		}
		if !serverStopped && time.Since(s.begin) > duration(t)/3 {
			serverStopped = true
			s.srv.Stop()
			t.Logf("log server stopped for %v: %d events written, %d received", outage, s.w.seq.Load(), s.tl.distinct)
			time.Sleep(outage)
			s.srv.Restart(t)
		}
		a := s.ag.cur()
		s.ag.stop(a, syscall.SIGKILL)
		t.Logf("killed agent #%d after %v: %d events written, %d received", a.n, d.Round(time.Millisecond), s.w.seq.Load(), s.tl.distinct)
		s.ag.start()
	}
}
