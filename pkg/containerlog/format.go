package containerlog

import (
	"bytes"
	"fmt"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Format is the layout of the container log's physical lines.
type Format string

// Values of Format.
const (
	// CRI is the CRI logging format that containerd and CRI-O (conmon,
	// conmon-rs) write: "<RFC 3339 time> <stdout|stderr> <P|F> <text>".
	CRI Format = "cri"
	// DockerJSON is the json-file log driver of Docker:
	// {"log":"<text>\n","stream":"stdout","time":"<RFC 3339 time>"}.
	// cri-dockerd makes kubelet's <n>.log a symbolic link to the
	// container's <id>-json.log (Mirantis/cri-dockerd@246bd657
	// core/logs.go, createContainerLogSymlink).
	DockerJSON Format = "docker-json"
)

// ParseFormat returns the Format named s, or an error naming the values
// accepted.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case CRI, DockerJSON:
		return f, nil
	default:
		return "", fmt.Errorf("container log format %q: want %q or %q", s, CRI, DockerJSON)
	}
}

// UnmarshalText accepts only the known values, so a typo in the
// configuration is an error.
func (f *Format) UnmarshalText(b []byte) error {
	v, err := ParseFormat(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// stream is the standard stream a physical line came from.
type stream uint8

const (
	stdout stream = iota + 1
	stderr
)

// record is one physical line decoded: its stream, whether it is a
// fragment to be continued (P, or a Docker "log" without its final
// newline), and where its text is.
type record struct {
	stream  stream
	partial bool
	// CRI: text is the line's text, a part of the physical line starting
	// at offset off. DockerJSON: raw is the "log" string's contents as
	// written, escapes and all, to be unescaped (appendLog).
	text []byte
	off  int
	raw  []byte
}

// parseCRI decodes a physical line of the CRI logging format. The format
// is defined by the CRI API and written by the runtimes (read at
// containerd/containerd@301026e5, containers/conmon@c3f70a38,
// containers/conmon-rs@3f0abb3a):
//
//   - containerd (internal/cri/io/logger.go, redirectLogs): the time is
//     time.Now().Format(time.RFC3339Nano), in the runtime's local zone, so
//     its length varies (trailing zeros of the fraction are dropped, and
//     "Z" or "+hh:mm" ends it); then the stream ("stdout" or "stderr"), the
//     tag runtimeapi.LogTagPartial "P" or LogTagFull "F", each followed by
//     one space, then the text and "\n", written with one write(2). The
//     text of a line of the container's output is cut into P lines of
//     exactly max_container_log_line_size bytes (16384 by default,
//     internal/cri/config/config_unix.go) and ends with an F line of 1 to
//     16384 bytes; a trailing "\r" of the line is dropped; the end of
//     output without a newline is written as a P line with no F after it;
//     an empty line of output is written "<time> stdout F " and "\n".
//   - conmon for CRI-O (src/ctr_logging.c, write_k8s_log): the same, with
//     the time always "%d-%02d-%02dT%02d:%02d:%02d.%09ld+hh:mm" in local
//     time; a P line is whatever one read(2) of the container's pipe
//     returned without a newline (at most STDIO_BUF_SIZE, 8192 bytes, and
//     possibly a few bytes only), so P lines have no fixed size.
//   - conmon-rs (conmon-rs/server/src/container_log/cri.rs): the same,
//     RFC 3339 local time.
//
// kubelet's own reader (pkg/kubelet/kuberuntime/logs/logs.go, parseCRILog)
// splits the tag at runtimeapi.LogTagDelimiter ":" to stay forward
// compatible, and so does parseCRI: "P:x" is a P tag. A tag followed by the
// end of the line is taken as an empty text (kubelet would refuse it; no
// runtime writes it). The time must be valid RFC 3339, as
// time.Time.UnmarshalText checks it.
//
// ok is false for a line not in the format.
func parseCRI(b []byte) (rec record, ok bool) {
	sp := bytes.IndexByte(b, ' ')
	if sp < 0 || !validTime(b[:sp]) {
		return record{}, false
	}
	rest := b[sp+1:]
	switch {
	case bytes.HasPrefix(rest, []byte("stdout ")):
		rec.stream = stdout
	case bytes.HasPrefix(rest, []byte("stderr ")):
		rec.stream = stderr
	default:
		return record{}, false
	}
	rest = rest[len("stdout "):]
	tag, off := rest, len(b)
	if i := bytes.IndexByte(rest, ' '); i >= 0 {
		tag = rest[:i]
		off = len(b) - len(rest) + i + 1
	}
	if i := bytes.IndexByte(tag, ':'); i >= 0 {
		tag = tag[:i]
	}
	switch string(tag) {
	case "P":
		rec.partial = true
	case "F":
	default:
		return record{}, false
	}
	rec.text, rec.off = b[off:], off
	return rec, true
}

// validTime reports whether b is an RFC 3339 time, as
// time.Time.UnmarshalText reads it (without allocating, for the forms the
// runtimes write).
func validTime(b []byte) bool {
	var t time.Time
	return t.UnmarshalText(b) == nil
}

// parseDocker decodes a physical line of Docker's json-file log driver
// (read at moby/moby@b985e231): one JSON object per line
// (daemon/logger/jsonfilelog/jsonfilelog.go,
// marshalMessage, and jsonlog/jsonlogbytes.go, MarshalJSONBuf, in
// moby/moby), {"log":...,"stream":...,"attrs":...,"time":...}. "log" holds
// the text with its "\n", except for a partial message: Docker's copier
// (daemon/logger/copier.go) cuts a line longer than its 16 KiB buffer
// into messages of 16384 bytes whose "log" has no "\n", the last one
// having it; the end of output without a newline is a partial message
// too. "log" is left out when empty (omitempty), "stream" is "stdout" or
// "stderr", "time" is RFC 3339 with nanoseconds in UTC.
//
// The line must be one valid JSON object (as encoding/json reads it),
// with "stream" and "time" strings and "log" a string if present; the
// last of duplicate keys counts, as in encoding/json; other keys are
// skipped. ok is false otherwise.
func parseDocker(b []byte) (rec record, ok bool) {
	s := jsonScan{b: b}
	s.ws()
	if !s.byte('{') {
		return record{}, false
	}
	var streamText, timeText []byte
	var haveLog bool
	s.ws()
	if !s.byte('}') {
		for {
			s.ws()
			key, esc, ok := s.str()
			if !ok {
				return record{}, false
			}
			s.ws()
			if !s.byte(':') {
				return record{}, false
			}
			s.ws()
			field := string(decoded(key, esc)) // no allocation when not escaped
			switch field {
			case "log", "stream", "time":
				// A value that is not a string makes the line malformed,
				// unless a later duplicate key replaces it (as
				// encoding/json would): nil stands for it.
				var v []byte
				if s.i < len(s.b) && s.b[s.i] == '"' {
					raw, esc, ok := s.str()
					if !ok {
						return record{}, false
					}
					v = raw // "log" is unescaped later, into the line
					if field != "log" {
						v = decoded(raw, esc)
					}
					if v == nil {
						v = []byte{}
					}
				} else if !s.skipValue() {
					return record{}, false
				}
				switch field {
				case "log":
					rec.raw, haveLog = v, true
				case "stream":
					streamText = v
				case "time":
					timeText = v
				}
			default:
				if !s.skipValue() {
					return record{}, false
				}
			}
			s.ws()
			if s.byte('}') {
				break
			}
			if !s.byte(',') {
				return record{}, false
			}
		}
	}
	s.ws()
	if s.i != len(b) || streamText == nil || timeText == nil || haveLog && rec.raw == nil || !validTime(timeText) {
		return record{}, false
	}
	switch string(streamText) {
	case "stdout":
		rec.stream = stdout
	case "stderr":
		rec.stream = stderr
	default:
		return record{}, false
	}
	rec.partial = !logEndsWithNewline(rec.raw)
	return rec, true
}

// logEndsWithNewline reports whether the JSON string contents raw decode
// to text ending with "\n".
func logEndsWithNewline(raw []byte) bool {
	if bytes.HasSuffix(raw, []byte(`\n`)) {
		// An escaped newline, unless its backslash is itself escaped.
		n := 0
		for i := len(raw) - 2; i >= 0 && raw[i] == '\\'; i-- {
			n++
		}
		return n%2 == 1
	}
	if bytes.HasSuffix(raw, []byte(`\u000a`)) || bytes.HasSuffix(raw, []byte(`\u000A`)) {
		n := 0
		for i := len(raw) - 6; i >= 0 && raw[i] == '\\'; i-- {
			n++
		}
		return n%2 == 1
	}
	return false
}

// textOut collects decoded text: at most limit bytes of it in dst, while
// size and last follow all of it.
type textOut struct {
	dst   []byte
	limit int
	size  int64
	last  byte
}

func (o *textOut) put(b []byte) {
	o.size += int64(len(b))
	o.last = b[len(b)-1]
	if n := min(o.limit, len(b)); n > 0 {
		o.dst = append(o.dst, b[:n]...)
		o.limit -= n
	}
}

func (o *textOut) putRune(r rune) {
	var rb [utf8.UTFMax]byte
	o.put(rb[:utf8.EncodeRune(rb[:], r)])
}

// appendUnescaped appends the text of the JSON string contents raw (valid,
// as jsonScan.str checked them) to dst, at most limit bytes of it, and
// returns the text's full size and its last byte. It decodes as
// encoding/json does: a lone or invalid surrogate escape, and each byte of
// invalid UTF-8, become U+FFFD.
func appendUnescaped(dst, raw []byte, limit int) (out []byte, size int64, last byte) {
	o := textOut{dst: dst, limit: limit}
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			if c < utf8.RuneSelf {
				// A run of plain ASCII at once.
				j := i + 1
				for j < len(raw) && raw[j] != '\\' && raw[j] < utf8.RuneSelf {
					j++
				}
				o.put(raw[i:j])
				i = j
				continue
			}
			r, n := utf8.DecodeRune(raw[i:])
			if r == utf8.RuneError && n == 1 {
				o.putRune(unicode.ReplacementChar)
			} else {
				o.put(raw[i : i+n])
			}
			i += n
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			e = '\b'
		case 'f':
			e = '\f'
		case 'n':
			e = '\n'
		case 'r':
			e = '\r'
		case 't':
			e = '\t'
		case 'u':
			r := hex4(raw[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(raw[i+2:])); dec != unicode.ReplacementChar {
						i += 6
						o.putRune(dec)
						continue
					}
				}
				r = unicode.ReplacementChar
			}
			o.putRune(r)
			continue
		}
		o.put([]byte{e}) // '"', '\\' and '/' stand for themselves
	}
	return o.dst, o.size, o.last
}

// decoded returns the text of the JSON string contents raw: raw itself
// when it holds no escape (esc false).
func decoded(raw []byte, esc bool) []byte {
	if !esc {
		return raw
	}
	out, _, _ := appendUnescaped(nil, raw, 3*len(raw))
	return out
}

// hex4 decodes four hex digits (checked by jsonScan.str).
func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// jsonScan checks JSON (RFC 8259, as encoding/json accepts it) in b from
// offset i, without building anything.
type jsonScan struct {
	b     []byte
	i     int
	stack []byte // open containers while skipping a value: '{' or '['
}

// maxDepth is encoding/json's bound on nesting, the object of the line
// included.
const maxDepth = 10000

func (s *jsonScan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// byte consumes c if it comes next.
func (s *jsonScan) byte(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// str consumes a string and returns its raw contents (between the quotes)
// and whether it holds escapes.
func (s *jsonScan) str() (raw []byte, esc, ok bool) {
	if !s.byte('"') {
		return nil, false, false
	}
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			raw = s.b[start:s.i]
			s.i++
			return raw, esc, true
		case c == '\\':
			esc = true
			if s.i+1 >= len(s.b) {
				return nil, false, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					return nil, false, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				s.i += 6
			default:
				return nil, false, false
			}
		case c < 0x20:
			return nil, false, false
		default:
			s.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// skipValue consumes one value of any kind, nested ones included, without
// recursion.
func (s *jsonScan) skipValue() bool {
	s.stack = s.stack[:0]
	for {
		// A value.
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch c := s.b[s.i]; {
		case c == '{' || c == '[':
			if len(s.stack)+1 >= maxDepth {
				return false
			}
			s.i++
			s.ws()
			if s.byte(closer(c)) {
				break // empty
			}
			s.stack = append(s.stack, c)
			if c == '{' && !s.key() {
				return false
			}
			continue
		case c == '"':
			if _, _, ok := s.str(); !ok {
				return false
			}
		case c == '-' || c >= '0' && c <= '9':
			if !s.number() {
				return false
			}
		default:
			if !s.literal() {
				return false
			}
		}
		// After a value: close containers, or go on to the next element.
		for {
			if len(s.stack) == 0 {
				return true
			}
			s.ws()
			top := s.stack[len(s.stack)-1]
			if s.byte(closer(top)) {
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if !s.byte(',') {
				return false
			}
			if top == '{' && !s.key() {
				return false
			}
			break
		}
	}
}

func closer(open byte) byte {
	if open == '{' {
		return '}'
	}
	return ']'
}

// key consumes an object member's key and its colon.
func (s *jsonScan) key() bool {
	s.ws()
	if _, _, ok := s.str(); !ok {
		return false
	}
	s.ws()
	return s.byte(':')
}

func (s *jsonScan) number() bool {
	s.byte('-')
	switch {
	case s.byte('0'):
	case s.i < len(s.b) && s.b[s.i] >= '1' && s.b[s.i] <= '9':
		s.digits()
	default:
		return false
	}
	if s.byte('.') {
		if s.digits() == 0 {
			return false
		}
	}
	if s.byte('e') || s.byte('E') {
		if !s.byte('+') {
			s.byte('-')
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

func (s *jsonScan) digits() int {
	n := 0
	for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

func (s *jsonScan) literal() bool {
	for _, lit := range []string{"true", "false", "null"} {
		if bytes.HasPrefix(s.b[s.i:], []byte(lit)) {
			s.i += len(lit)
			return true
		}
	}
	return false
}
