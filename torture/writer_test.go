package torture

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/agenttest"
	"gopkg.in/natefinch/lumberjack.v2"
)

// eventLine is a realistic Metadata event (about 1.2 KB); %08d is its
// sequence number, carried in auditID.
const eventLine = `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"seq-%08d","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/kube-system/secrets/bootstrap-token-abcdef","verb":"get","user":{"username":"system:serviceaccount:kube-system:generic-garbage-collector","uid":"d5b8c6f4-1f0e-4b1e-9a49-6f6b3b1f4a1e","groups":["system:serviceaccounts","system:serviceaccounts:kube-system","system:authenticated"],"extra":{"authentication.kubernetes.io/credential-id":["JTI=2f4c1c5e-7a39-4b5e-8d5a-0f1e2d3c4b5a"]}},"sourceIPs":["10.0.0.12"],"userAgent":"kube-controller-manager/v1.31.2 (linux/amd64) kubernetes/5864a46/system:serviceaccount:kube-system:generic-garbage-collector","objectRef":{"resource":"secrets","namespace":"kube-system","name":"bootstrap-token-abcdef","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-11-21T10:00:00.123456Z","stageTimestamp":"2026-11-21T10:00:00.125790Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"system:controller:generic-garbage-collector\" of ClusterRole \"system:controller:generic-garbage-collector\" to ServiceAccount \"generic-garbage-collector/kube-system\""}}` + "\n"

// burst is how many events are written between two sleeps: sleeps shorter
// than a millisecond are unreliable on a loaded machine, so the writer
// writes in bursts and sleeps between them.
const burst = 100

// writer produces the audit log. With lumberjack (lj != nil) it writes as
// kube-apiserver does: one Write per event, lumberjack rotating to
// audit-<UTC time>.log and gzipping the backups. Without, it appends to the
// file with O_APPEND (the copytruncate scenario).
//
// Like the end-to-end tests it never lets lumberjack rotate twice in the same
// millisecond: backup names have millisecond precision and a second
// rotation in the same millisecond would overwrite the first backup
// (lumberjack's own loss, impossible with kube-apiserver's 100 MB files).
//
// One goroutine writes; the counters are atomics so that the test goroutine
// can watch them.
type writer struct {
	lj      *lumberjack.Logger
	f       *os.File
	maxSize int64 // lumberjack's MaxSize in bytes
	size    int64 // size of lumberjack's current file
	lastRot int64 // UnixMilli of the last rotation
	rate    int   // events per second
	buf     []byte

	// hostile, when set, is called every hostileEvery events for a
	// hostile line to write (see hostile.go); it gets the hostile line's
	// number.
	hostile      func(k int) []byte
	hostileEvery int

	// post, when set, sends the events as webhook batches (one per burst)
	// instead of writing a log; batch is the one being built.
	post  *poster
	batch []byte

	// cri, when set, writes the events as a container log (see criLog),
	// the container restarting at restartAt.
	cri       *criLog
	restartAt time.Time

	// logs, when set, are several logs written in turn, one burst each:
	// lj, size and lastRot are those of logs[cur] while it is written.
	logs []ljState
	cur  int

	seq       atomic.Int64 // events written (the next sequence number)
	hostileN  atomic.Int64 // hostile lines written
	bytes     atomic.Int64 // bytes written
	rotations atomic.Int64 // rotations lumberjack did
	err       atomic.Pointer[error]
}

// newLumberjackWriter writes path through lumberjack with maxMB MB files and gzip.
func newLumberjackWriter(path string, maxMB, rate int) *writer {
	return &writer{
		lj:      &lumberjack.Logger{Filename: path, MaxSize: maxMB, Compress: true},
		maxSize: int64(maxMB) << 20,
		rate:    rate,
	}
}

// ljState is one log of a writer of several.
type ljState struct {
	lj      *lumberjack.Logger
	size    int64
	lastRot int64
}

// newSeveralWriter writes the paths in turn, a burst each, through
// lumberjack with maxMB MB files and gzip; the sequence numbers run across
// them.
func newSeveralWriter(paths []string, maxMB, rate int) *writer {
	w := &writer{maxSize: int64(maxMB) << 20, rate: rate}
	for _, p := range paths {
		w.logs = append(w.logs, ljState{lj: &lumberjack.Logger{Filename: p, MaxSize: maxMB, Compress: true}})
	}
	w.lj = w.logs[0].lj
	return w
}

// next moves a writer of several logs to the next one.
func (w *writer) next() {
	if len(w.logs) == 0 {
		return
	}
	w.logs[w.cur] = ljState{lj: w.lj, size: w.size, lastRot: w.lastRot}
	w.cur = (w.cur + 1) % len(w.logs)
	st := w.logs[w.cur]
	w.lj, w.size, w.lastRot = st.lj, st.size, st.lastRot
}

// newAppendWriter appends to path with O_APPEND, without rotation.
func newAppendWriter(path string, rate int) (*writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	return &writer{f: f, rate: rate}, nil
}

// line writes one line with one Write call (or, with post, adds it to the
// batch, as kube-apiserver's webhook backend sends it).
func (w *writer) line(b []byte) error {
	if w.cri != nil {
		n, err := w.cri.line(b, w.seq.Load())
		w.bytes.Add(int64(n))
		return err
	}
	if w.post != nil {
		if len(w.batch) == 0 {
			w.batch = append(w.batch, eventListHead...)
		} else {
			w.batch = append(w.batch, ',')
		}
		w.batch = append(w.batch, '{')
		w.batch = append(w.batch, bytes.TrimSuffix(b[len(eventItemPrefix):], []byte("\n"))...)
		return nil
	}
	if w.lj == nil {
		if _, err := w.f.Write(b); err != nil {
			return err
		}
		w.bytes.Add(int64(len(b)))
		return nil
	}
	if w.size+int64(len(b)) > w.maxSize { // lumberjack rotates before this write
		for time.Now().UnixMilli() == w.lastRot {
			time.Sleep(time.Millisecond)
		}
		w.lastRot, w.size = time.Now().UnixMilli(), 0
		w.rotations.Add(1)
	}
	if _, err := w.lj.Write(b); err != nil {
		return err
	}
	w.size += int64(len(b))
	w.bytes.Add(int64(len(b)))
	return nil
}

// event writes the next event, and a hostile line after it when one is due.
func (w *writer) event() error {
	n := w.seq.Load()
	w.buf = fmt.Appendf(w.buf[:0], eventLine, n)
	if err := w.line(w.buf); err != nil {
		return err
	}
	w.seq.Add(1)
	if w.hostile != nil && (n+1)%int64(w.hostileEvery) == 0 {
		k := int(w.hostileN.Load())
		if err := w.line(w.hostile(k)); err != nil {
			return err
		}
		w.hostileN.Add(1)
	}
	return nil
}

// run writes events at w.rate, in bursts, until stop is closed or until
// (when not zero) is reached. It records its error in w.err.
func (w *writer) run(until time.Time, stop <-chan struct{}) {
	p := pacer{start: time.Now(), rate: w.rate}
	for {
		select {
		case <-stop:
			return
		default:
		}
		if !until.IsZero() && !time.Now().Before(until) {
			return
		}
		if w.cri != nil {
			// Before a burst, never after the last one: a rotation leaves an
			// empty live file, which holds no position to end at.
			rotated, err := w.cri.maybeRotate(w.restartAt)
			if err != nil {
				w.err.Store(&err)
				return
			}
			if rotated {
				w.rotations.Add(1)
			}
		}
		for range burst {
			if err := w.event(); err != nil {
				w.err.Store(&err)
				return
			}
		}
		if w.post != nil {
			w.batch = append(w.batch, "]}"...)
			if err := w.post.send(w.batch); err != nil {
				w.err.Store(&err)
				return
			}
			w.bytes.Add(int64(len(w.batch)))
			w.batch = w.batch[:0]
		}
		w.next()
		p.wait(burst)
	}
}

// runFor writes for d (the copytruncate scenario, on the test goroutine).
func (w *writer) runFor(d time.Duration) error {
	w.run(time.Now().Add(d), nil)
	return w.error()
}

func (w *writer) error() error {
	if p := w.err.Load(); p != nil {
		return *p
	}
	return nil
}

func (w *writer) close() error {
	if w.post != nil {
		return nil
	}
	if w.cri != nil {
		return w.cri.f.Close()
	}
	if len(w.logs) > 0 {
		w.next() // save the current one's state
		var err error
		for _, l := range w.logs {
			err = errors.Join(err, l.lj.Close())
		}
		return err
	}
	if w.lj != nil {
		return w.lj.Close()
	}
	return w.f.Close()
}

// pacer keeps a writer at its rate: after each burst it sleeps until the
// burst is due, at least 1 ms. When the writer falls behind (a loaded
// machine) it does not try to catch up more than one second.
type pacer struct {
	start time.Time
	rate  int
	n     int
}

func (p *pacer) wait(n int) {
	p.n += n
	due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second)))
	d := time.Until(due)
	if d < -time.Second {
		p.start, p.n = time.Now(), 0
	}
	time.Sleep(max(d, time.Millisecond))
}

// settle waits (at most 60 s) until lumberjack has gzipped every backup.
func settle(t *testing.T, dir string) {
	if err := agenttest.WaitCompressed(dir, 60*time.Second); err != nil {
		t.Log(err)
	}
}

var seqRE = regexp.MustCompile(`(seq-|HOSTILE_)(\d+)`)

// dumpDir logs, for each file of the log directory, its size, its line
// count and the first and last sequence numbers it holds, to tell a lost
// generation from a lost line.
func dumpDir(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "audit*"))
	sort.Strings(files)
	t.Logf("log directory %s: %d files (name: size, lines, first and last sequence numbers)", dir, len(files))
	for _, f := range files {
		t.Log(describeFile(f))
	}
}

func describeFile(f string) string {
	fr := scanFile(f)
	s := fmt.Sprintf("%s: size %d, lines %d, seq %s..%s", fr.name, fr.size, fr.lines, fr.first, fr.last)
	if fr.hostile > 0 {
		s += fmt.Sprintf(", %d hostile", fr.hostile)
	}
	if fr.err != nil {
		s += fmt.Sprintf(", read error: %v", fr.err)
	}
	return s
}

// fileRange is what one file of the log directory holds.
type fileRange struct {
	name        string
	size        int64
	lines       int
	first, last string // sequence numbers, as written
	hostile     int
	err         error
	lo, hi      int // first and last as numbers, -1 if none
}

// whereAre names the files holding sequence numbers from..to.
func whereAre(files []fileRange, from, to int) string {
	var in []string
	for _, f := range files {
		if f.lo >= 0 && f.lo <= to && f.hi >= from {
			in = append(in, f.name)
		}
	}
	if len(in) == 0 {
		return "in no file"
	}
	return "in " + strings.Join(in, ", ")
}

// scanDir scans every file of the log directory.
func scanDir(dir string) []fileRange {
	files, _ := filepath.Glob(filepath.Join(dir, "audit*"))
	sort.Strings(files)
	out := make([]fileRange, 0, len(files))
	for _, f := range files {
		out = append(out, scanFile(f))
	}
	return out
}

func scanFile(f string) fileRange {
	fr := fileRange{name: filepath.Base(f), lo: -1, hi: -1}
	fh, err := os.Open(f)
	if err != nil {
		fr.err = err
		return fr
	}
	defer fh.Close()
	fi, _ := fh.Stat()
	fr.size = fi.Size()
	var r io.Reader = fh
	if strings.HasSuffix(f, ".gz") {
		zr, err := gzip.NewReader(fh)
		if err != nil {
			fr.err = err
			return fr
		}
		r = zr
	}
	br := bufio.NewReaderSize(r, 64<<10)
	first, last, lines, hostile := "", "", 0, 0
	var rerr error
	for {
		// Only the start of a line is looked at; long lines are skipped.
		head, err := br.ReadSlice('\n')
		if len(head) > 0 {
			lines++
			if m := seqRE.FindSubmatch(head[:min(len(head), 200)]); m != nil {
				if string(m[1]) == "HOSTILE_" {
					hostile++
				} else {
					if first == "" {
						first = string(m[2])
					}
					last = string(m[2])
				}
			}
		}
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = br.ReadSlice('\n')
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			}
			break
		}
	}
	fr.lines, fr.first, fr.last, fr.hostile, fr.err = lines, first, last, hostile, rerr
	if first != "" {
		fr.lo, _ = strconv.Atoi(first)
		fr.hi, _ = strconv.Atoi(last)
	}
	return fr
}

// hostileLines makes the hostile lines of the hostile-lines scenario. Each
// one carries HOSTILE_NNNNNN near its start, so that the message it
// produces can be recognised (a marker that the test's directory name, which
// the message carries in _source_file, cannot contain), and each one is a complete line (ends with
// \n): a fragment without \n would be glued to the next event, as a failed
// write really does, and that event would be lost by kube-apiserver, not by
// the agent.
type hostileLines struct {
	big   int // the hostile line number that is the 64 MiB one
	mib1  []byte
	mib10 []byte
	mib64 []byte
	bad16 []byte
	kinds []string
}

// hostileKinds names the kinds of hostile lines, cycled through.
var hostileKinds = []string{"1MiB", "invalid-utf8", "nul-bytes", "json-array", "kind-0", "10MiB"}

// hostileOnce are hostile lines written once, at these numbers, instead of
// the kind the cycle gives (the 64 MiB line is at big): two 16 MiB lines
// whose user name is invalid UTF-8 (a complete event, max_line_bytes
// long), and events with 100,000 annotations and 100,000 user.extra keys.
// All four are valid events: they must arrive as events, not flagged.
var hostileOnce = map[int]string{
	3:  "16MiB-invalid-utf8",
	4:  "16MiB-invalid-utf8",
	9:  "100k-annotations",
	10: "100k-user-extra",
}

func newHostileLines(big int) *hostileLines {
	return &hostileLines{big: big, kinds: hostileKinds}
}

// event reports whether hostile line k is a valid audit event, which
// arrives as a message that is not flagged.
func (h *hostileLines) event(k int) bool { _, ok := hostileOnce[k]; return ok && k != h.big }

// longLine is an audit event cut short, padded to size bytes with the
// newline: valid JSON up to the cut, then the end of the object missing.
func longLine(size int) []byte {
	b := make([]byte, 0, size)
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"HOSTILE_000000","stage":"ResponseComplete","responseObject":{"data":"`...)
	b = append(b, bytes.Repeat([]byte("QUJD"), (size-len(b)-1)/4)...)
	b = append(b, bytes.Repeat([]byte("A"), size-len(b)-1)...)
	return append(b, '\n')
}

func setMarker(b []byte, k int) []byte {
	i := bytes.Index(b, []byte("HOSTILE_"))
	copy(b[i+8:i+14], fmt.Sprintf("%06d", k))
	return b
}

// kind returns the kind of hostile line k.
func (h *hostileLines) kind(k int) string {
	if k == h.big {
		return "64MiB"
	}
	if kind, ok := hostileOnce[k]; ok {
		return kind
	}
	return h.kinds[k%len(h.kinds)]
}

// bigMap is an event whose annotations (or user.extra) hold n keys.
func bigMap(id string, n int, extra bool) []byte {
	b := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"` + id +
		`","stage":"ResponseComplete","requestURI":"/api/v1/namespaces","verb":"list","user":{"username":"hostile"`)
	if extra {
		b = append(b, `,"extra":{`...)
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `"x%06d":["v"]`, i)
		}
		b = append(b, "}},"...)
	} else {
		b = append(b, "},"...)
	}
	b = append(b, `"sourceIPs":["10.0.0.1"],"responseStatus":{"code":200}`...)
	if !extra {
		b = append(b, `,"annotations":{`...)
		for i := range n {
			if i > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `"k%06d":"v"`, i)
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// invalidUTF8Line is a complete event of size bytes with its newline,
// whose user name is all bytes that are not UTF-8.
func invalidUTF8Line(size int) []byte {
	head := `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"HOSTILE_000000","stage":"ResponseComplete","verb":"get","user":{"username":"`
	tail := `"},"sourceIPs":["10.0.0.1"]}` + "\n"
	b := make([]byte, 0, size)
	b = append(b, head...)
	b = append(b, bytes.Repeat([]byte{0xff}, size-len(head)-len(tail))...)
	return append(b, tail...)
}

func (h *hostileLines) line(k int) []byte {
	id := fmt.Sprintf("HOSTILE_%06d", k)
	switch h.kind(k) {
	case "64MiB":
		if h.mib64 == nil {
			h.mib64 = longLine(64 << 20)
		}
		return setMarker(h.mib64, k)
	case "1MiB":
		if h.mib1 == nil {
			h.mib1 = longLine(1 << 20)
		}
		return setMarker(h.mib1, k)
	case "10MiB":
		if h.mib10 == nil {
			h.mib10 = longLine(10 << 20)
		}
		return setMarker(h.mib10, k)
	case "16MiB-invalid-utf8":
		if h.bad16 == nil {
			h.bad16 = invalidUTF8Line(16 << 20) // max_line_bytes with the newline: not cut
		}
		return setMarker(h.bad16, k)
	case "100k-annotations":
		return bigMap(id, 100_000, false)
	case "100k-user-extra":
		return bigMap(id, 100_000, true)
	case "invalid-utf8":
		return []byte("\xff\xfe" + `{"kind":"Event","auditID":"` + id + `","user":{"username":"` + "\xc3\x28\xa0\xa1\xe2\x82" + `"}}` + "\n")
	case "nul-bytes":
		return []byte(`{"kind":"Event","auditID":"` + id + `","verb":"get` + "\x00\x00" + `"}` + "\x00\n")
	case "json-array":
		return []byte(`[{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"` + id + `"}]` + "\n")
	case "kind-0":
		return []byte(`{"kind":0,"auditID":"` + id + `"}` + "\n")
	}
	panic("unknown hostile kind")
}

// parseMarker returns the number after prefix in b, or -1.
func parseMarker(b []byte, prefix []byte) int {
	i := bytes.Index(b, prefix)
	if i < 0 {
		return -1
	}
	rest := b[i+len(prefix):]
	j := 0
	for j < len(rest) && j < 12 && rest[j] >= '0' && rest[j] <= '9' {
		j++
	}
	n, err := strconv.Atoi(string(rest[:j]))
	if err != nil {
		return -1
	}
	return n
}
