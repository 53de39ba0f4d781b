package auditgen

import (
	"errors"
	"math/rand/v2"
	"os"
	"sort"
	"time"
)

// Config shapes the stream. Zero values take the defaults.
type Config struct {
	// Seed makes the output deterministic: the same Seed and the same sequence
	// of Append arguments give the same bytes (default 1).
	Seed int64
	// MaxBodyBytes is the largest requestObject/responseObject (default 1 MiB,
	// the size of the largest ConfigMap etcd accepts). Values below 4 KiB are
	// raised to 4 KiB. Bodies are drawn from a skewed distribution between a few
	// hundred bytes and MaxBodyBytes (median about 1.1 KB); bodies of about
	// MaxBodyBytes are rare (10–15 bodies of 900 KB or more per million lines).
	MaxBodyBytes int
	// HugeLineBytes, if > 0, makes about one line in HugeEvery a list response
	// (RequestResponse "list pods" across all namespaces) whose line is exactly
	// HugeLineBytes long, newline included (values below 16 KiB are raised to
	// 16 KiB). MaxBodyBytes does not apply to these lines.
	HugeLineBytes int
	// HugeEvery is the period of huge lines (default 10000).
	HugeEvery int
}

const (
	defaultMaxBody   = 1 << 20
	minMaxBody       = 4 << 10
	minHugeLine      = 16 << 10
	defaultHugeEvery = 10000
)

// Audit levels and stages, as written.
const (
	lvMetadata        = "Metadata"
	lvRequest         = "Request"
	lvRequestResponse = "RequestResponse"

	stReceived = "RequestReceived"
	stStarted  = "ResponseStarted"
	stComplete = "ResponseComplete"
)

// Generator produces audit event lines. It is not safe for concurrent use;
// use one Generator per goroutine (each with its own Seed for distinct
// streams).
type Generator struct {
	cfg     Config
	r       *rand.Rand
	p       *pools
	f       *fillers
	maxBody int

	slots   [2]ev
	cur     int  // slot the next new request is generated into
	pending bool // slots[1-cur] holds the first line of a pair whose second line is due

	lines    int64 // lines produced
	nextHuge int64
	rv       int64
	tmp      []byte // scratch for body tails and line tails
	tmp2     []byte
}

// New returns a Generator for cfg.
func New(cfg Config) *Generator {
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = defaultMaxBody
	}
	if cfg.MaxBodyBytes < minMaxBody {
		cfg.MaxBodyBytes = minMaxBody
	}
	if cfg.HugeEvery <= 0 {
		cfg.HugeEvery = defaultHugeEvery
	}
	if cfg.HugeLineBytes > 0 && cfg.HugeLineBytes < minHugeLine {
		cfg.HugeLineBytes = minHugeLine
	}
	g := &Generator{
		cfg:     cfg,
		r:       rand.New(rand.NewPCG(uint64(cfg.Seed), 0x617564697467656e)),
		p:       getPools(),
		f:       getFillers(cfg.MaxBodyBytes),
		maxBody: cfg.MaxBodyBytes,
	}
	g.rv = 48213375 + int64(g.r.IntN(1<<20))
	if cfg.HugeLineBytes > 0 {
		g.nextHuge = int64(g.r.IntN(cfg.HugeEvery))
	}
	return g
}

// Append appends one event line (a JSON object and '\n') to dst and returns
// the extended slice.
//
// seq is stamped into the line's auditID (see [SeqOf]); give every line its own
// seq (0, 1, 2, ...). at is the line's requestReceivedTimestamp; its
// stageTimestamp is a few milliseconds later (for a RequestReceived line it is
// equal).
//
// Every line has its own auditID, unlike a real apiserver, which writes the
// stages of one request with the same auditID. Requests logged at two stages
// (watch and exec: ResponseStarted then ResponseComplete; some deletes:
// RequestReceived then ResponseComplete) come out as two consecutive lines,
// produced by two consecutive calls of Append: same verb, requestURI, user and
// objectRef, the second line's requestReceivedTimestamp equal to the first's,
// and auditIDs ending with the same 8 hex digits. So a receiver counts distinct
// lines by SeqOf(auditID) and can still pair stages by objectRef and the
// auditID suffix. A stream that stops right after the first line of a pair
// leaves that pair incomplete, as a rotated real log can.
func (g *Generator) Append(dst []byte, seq int64, at time.Time) []byte {
	g.lines++
	if g.pending {
		g.pending = false
		e := &g.slots[1-g.cur]
		sts := at.Add(e.delay2)
		if sts.Before(e.rrt) {
			sts = e.rrt
		}
		return g.write(dst, e, e.stage2, seq, e.rrt, sts)
	}
	e := &g.slots[g.cur]
	e.reset()
	e.rrt = at
	e.tag = g.r.Uint32()
	if g.cfg.HugeLineBytes > 0 && g.lines > g.nextHuge {
		g.nextHuge += int64(g.cfg.HugeEvery)
		opHugeList(g, e)
	} else {
		g.pick()(g, e)
	}
	if e.delay == 0 {
		e.delay = g.latency()
	}
	sts := at.Add(e.delay)
	if e.stage1 == stReceived {
		sts = at
	}
	if e.stage2 != "" {
		g.pending = true
		g.cur = 1 - g.cur
		if e.delay2 == 0 {
			e.delay2 = g.latency()
		}
	}
	return g.write(dst, e, e.stage1, seq, at, sts)
}

// latency draws a request latency: mostly 0.3–5 ms, sometimes up to ~40 ms.
func (g *Generator) latency() time.Duration {
	u := g.r.Float64()
	us := 300 + int64(4700*u*u)
	if g.r.IntN(20) == 0 {
		us += int64(g.r.IntN(35000))
	}
	return time.Duration(us)*time.Microsecond + time.Duration(g.r.IntN(1000))*time.Nanosecond
}

var (
	opCum   []int
	opFns   []opFn
	opTotal int
)

func init() {
	for _, o := range ops {
		opTotal += o.w
		opCum = append(opCum, opTotal)
		opFns = append(opFns, o.fn)
	}
}

func (g *Generator) pick() opFn {
	x := g.r.IntN(opTotal)
	return opFns[sort.SearchInts(opCum, x+1)]
}

// kv is one annotation; the value is v, or annBuf[lo:hi] when v is empty.
type kv struct {
	k      string
	v      string
	lo, hi int32
}

// body describes a requestObject or responseObject to write.
type body struct {
	kind   uint8
	server bool // the object as stored (uid, resourceVersion, status...)
	size   int  // target size of sized kinds
	exact  int  // if > 0, size the body so that the whole line is exact bytes
}

// ev is one request being written: everything but the stage and timestamps.
// All strings are JSON-escaped already.
type ev struct {
	level          string
	stage1, stage2 string // stage2 != "": a second line is written by the next Append
	verb           string
	uri            []byte
	hasQ           bool
	who            *actor
	ua, ips        string
	imp            *impersonation

	hasObj                            bool
	resource, ns, group, version, sub string
	name                              []byte
	uriName                           string // path segment when the name needs percent-encoding
	uid                               []byte
	rv                                int64

	code   int
	status []byte // error responseStatus object; empty: success {"metadata":{},"code":N}

	req, resp body
	ann       []kv
	annBuf    []byte

	pod *pod

	delay, delay2 time.Duration
	rrt           time.Time
	tag           uint32
}

func (e *ev) reset() {
	*e = ev{uri: e.uri[:0], name: e.name[:0], uid: e.uid[:0], status: e.status[:0],
		ann: e.ann[:0], annBuf: e.annBuf[:0], code: 200, stage1: stComplete}
}

func (e *ev) addAnn(k, v string) { e.ann = append(e.ann, kv{k: k, v: v}) }

// addAnnBuf adds an annotation whose value is annBuf[lo:].
func (e *ev) addAnnBuf(k string, lo int) {
	e.ann = append(e.ann, kv{k: k, lo: int32(lo), hi: int32(len(e.annBuf))})
}

func (e *ev) allow(reason string) {
	e.addAnn("authorization.k8s.io/decision", "allow")
	e.addAnn("authorization.k8s.io/reason", reason)
}

// write appends the line for e at stage.
func (g *Generator) write(dst []byte, e *ev, stage string, seq int64, rrt, sts time.Time) []byte {
	start := len(dst)
	received := stage == stReceived
	dst = append(dst, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"`...)
	dst = append(dst, e.level...)
	dst = append(dst, `","auditID":"`...)
	dst = appendAuditID(dst, seq, e.tag)
	dst = append(dst, `","stage":"`...)
	dst = append(dst, stage...)
	dst = append(dst, `","requestURI":"`...)
	dst = append(dst, e.uri...)
	dst = append(dst, `","verb":"`...)
	dst = append(dst, e.verb...)
	dst = append(dst, `","user":`...)
	dst = append(dst, e.who.user...)
	if e.imp != nil && !received {
		dst = append(dst, `,"impersonatedUser":`...)
		dst = append(dst, e.imp.user...)
	}
	dst = append(dst, `,"sourceIPs":[`...)
	dst = append(dst, e.ips...)
	dst = append(dst, ']')
	if e.ua != "" {
		dst = append(dst, `,"userAgent":"`...)
		dst = append(dst, e.ua...)
		dst = append(dst, '"')
	}
	if e.hasObj {
		dst = append(dst, `,"objectRef":{"resource":"`...)
		dst = append(dst, e.resource...)
		if e.ns != "" {
			dst = append(dst, `","namespace":"`...)
			dst = append(dst, e.ns...)
		}
		if len(e.name) > 0 {
			dst = append(dst, `","name":"`...)
			dst = append(dst, e.name...)
		}
		if len(e.uid) > 0 && !received {
			dst = append(dst, `","uid":"`...)
			dst = append(dst, e.uid...)
		}
		if e.group != "" {
			dst = append(dst, `","apiGroup":"`...)
			dst = append(dst, e.group...)
		}
		dst = append(dst, `","apiVersion":"`...)
		dst = append(dst, e.version...)
		if e.rv > 0 && !received {
			dst = append(dst, `","resourceVersion":"`...)
			dst = appendInt(dst, e.rv)
		}
		if e.sub != "" {
			dst = append(dst, `","subresource":"`...)
			dst = append(dst, e.sub...)
		}
		dst = append(dst, `"}`...)
	}
	if !received {
		dst = append(dst, `,"responseStatus":`...)
		if len(e.status) > 0 {
			dst = append(dst, e.status...)
		} else {
			dst = append(dst, `{"metadata":{},"code":`...)
			dst = appendInt(dst, int64(e.code))
			dst = append(dst, '}')
		}
		if stage == stComplete {
			if e.req.kind != 0 {
				dst = append(dst, `,"requestObject":`...)
				dst = g.appendBody(dst, e, &e.req)
			}
			if e.resp.kind != 0 {
				dst = append(dst, `,"responseObject":`...)
				if e.resp.exact > 0 {
					// Size the body so that the whole line is exactly e.resp.exact bytes.
					g.tmp2 = g.appendLineTail(g.tmp2[:0], e, received, rrt, sts)
					b := e.resp
					b.size = b.exact - (len(dst) - start) - len(g.tmp2)
					dst = g.appendBody(dst, e, &b)
					return append(dst, g.tmp2...)
				}
				dst = g.appendBody(dst, e, &e.resp)
			}
		}
	}
	return g.appendLineTail(dst, e, received, rrt, sts)
}

// appendLineTail appends the timestamps, the annotations and the end of the line.
func (g *Generator) appendLineTail(dst []byte, e *ev, received bool, rrt, sts time.Time) []byte {
	dst = append(dst, `,"requestReceivedTimestamp":"`...)
	dst = appendMicroTime(dst, rrt)
	dst = append(dst, `","stageTimestamp":"`...)
	dst = appendMicroTime(dst, sts)
	dst = append(dst, '"')
	if !received && len(e.ann) > 0 {
		// encoding/json writes map keys sorted; there are at most a handful.
		a := e.ann
		for i := 1; i < len(a); i++ {
			for j := i; j > 0 && a[j].k < a[j-1].k; j-- {
				a[j], a[j-1] = a[j-1], a[j]
			}
		}
		dst = append(dst, `,"annotations":{`...)
		for i := range a {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = append(dst, a[i].k...)
			dst = append(dst, `":"`...)
			if a[i].v != "" || a[i].hi == 0 {
				dst = append(dst, a[i].v...)
			} else {
				dst = append(dst, e.annBuf[a[i].lo:a[i].hi]...)
			}
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, '}', '\n')
}

// auditID layout (UUID shaped, 36 characters):
//
//	SSSSSSSS-SSSS-4SSS-aSCC-CCCCTTTTTTTT
//
// S: the 64 bits of seq (bits 0–31 first, so that small seqs read directly);
// C: a 24-bit check of seq, so SeqOf rejects auditIDs that Append did not
// produce (a random v4 UUID passes with probability 2^-26); T: 32 random bits
// naming the request, shared by the two lines of a stage pair.
func appendAuditID(dst []byte, seq int64, tag uint32) []byte {
	u := uint64(seq)
	c := seqCheck(u)
	dst = appendHex(dst, u, 8)
	dst = append(dst, '-')
	dst = appendHex(dst, u>>32, 4)
	dst = append(dst, '-', '4')
	dst = appendHex(dst, u>>48, 3)
	dst = append(dst, '-', 'a')
	dst = appendHex(dst, u>>60, 1)
	dst = appendHex(dst, c>>16, 2)
	dst = append(dst, '-')
	dst = appendHex(dst, c, 4)
	return appendHex(dst, uint64(tag), 8)
}

func seqCheck(u uint64) uint64 {
	z := u ^ 0x6175646974746169
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return z >> 40
}

// SeqOf returns the seq that Append stamped into auditID. ok is false when
// auditID was not produced by Append (wrong shape or failed check).
func SeqOf(auditID string) (seq int64, ok bool) {
	s := auditID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || s[14] != '4' || s[19] != 'a' {
		return 0, false
	}
	hex := func(from, to int) (uint64, bool) {
		var v uint64
		for i := from; i < to; i++ {
			c := s[i]
			switch {
			case c >= '0' && c <= '9':
				v = v<<4 | uint64(c-'0')
			case c >= 'a' && c <= 'f':
				v = v<<4 | uint64(c-'a'+10)
			default:
				return 0, false
			}
		}
		return v, true
	}
	lo, ok1 := hex(0, 8)
	mid, ok2 := hex(9, 13)
	hi, ok3 := hex(15, 18)
	top, ok4 := hex(20, 21)
	c1, ok5 := hex(21, 23)
	c2, ok6 := hex(24, 28)
	_, ok7 := hex(28, 36)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) {
		return 0, false
	}
	u := lo | mid<<32 | hi<<48 | top<<60
	if seqCheck(u) != c1<<16|c2 {
		return 0, false
	}
	return int64(u), true
}

// StartTime is the requestReceivedTimestamp of the first event WriteFile writes.
var StartTime = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// WriteFile writes n events to path (created or truncated, mode 0644): seqs 0
// to n-1, timestamped from StartTime, 1 ms apart. It writes in chunks of about
// 4 MiB and returns the number of bytes written.
func WriteFile(path string, n int, cfg Config) (int64, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	g := New(cfg)
	const chunk = 4 << 20
	buf := make([]byte, 0, chunk+chunk/4)
	var written int64
	flush := func() error {
		k, err := f.Write(buf)
		written += int64(k)
		buf = buf[:0]
		return err
	}
	for i := 0; i < n; i++ {
		buf = g.Append(buf, int64(i), StartTime.Add(time.Duration(i)*time.Millisecond))
		if len(buf) >= chunk {
			if err := flush(); err != nil {
				f.Close()
				return written, err
			}
		}
	}
	err = flush()
	return written, errors.Join(err, f.Close())
}
