package gelftest

import (
	"bytes"
	"math"
	"strconv"
	"time"
)

// appendLatency appends arrived minus the time frame's "timestamp" field
// states to lats when on is set and the frame has one.
func appendLatency(lats []time.Duration, on bool, frame []byte, arrived time.Time) []time.Duration {
	if !on {
		return lats
	}
	if t, ok := frameTime(frame); ok {
		lats = append(lats, arrived.Sub(t))
	}
	return lats
}

var timestampKey = []byte(`"timestamp"`)

// frameTime returns the time stated by the first "timestamp" key of a GELF
// JSON frame (seconds since the epoch, a JSON number; decimals beyond the
// nanosecond are dropped) and whether there is one.
//
// It scans instead of decoding, so that a benchmark's server costs next to
// nothing per frame. The first key found is the top-level one: a GELF
// message is a flat object, and a quote inside a JSON string is escaped, so
// "timestamp" followed by a colon can only be a key, except when a string
// ends in \"timestamp — which the backslash before the match gives away.
func frameTime(frame []byte) (time.Time, bool) {
	for off := 0; ; {
		i := bytes.Index(frame[off:], timestampKey)
		if i < 0 {
			return time.Time{}, false
		}
		i += off
		off = i + len(timestampKey)
		if i > 0 && frame[i-1] == '\\' {
			continue // inside a string
		}
		rest := skipSpace(frame[off:])
		if len(rest) == 0 || rest[0] != ':' {
			continue // a value, not a key
		}
		rest = skipSpace(rest[1:])
		n := 0
		for n < len(rest) && bytes.IndexByte([]byte("0123456789+-.eE"), rest[n]) >= 0 {
			n++
		}
		return parseSeconds(rest[:n])
	}
}

func skipSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\n' || b[0] == '\r') {
		b = b[1:]
	}
	return b
}

// parseSeconds parses a JSON number of seconds since the epoch: exactly
// when it is [-]digits[.digits] (what GELF clients write), else as a
// float64.
func parseSeconds(num []byte) (time.Time, bool) {
	if len(num) == 0 {
		return time.Time{}, false
	}
	whole, frac, _ := bytes.Cut(num, []byte("."))
	neg := whole[0] == '-'
	if sec, err := strconv.ParseInt(string(whole), 10, 64); err == nil && (len(whole) > 1 || !neg) && digits(frac) {
		var ns int64
		for i := range 9 {
			ns *= 10
			if i < len(frac) {
				ns += int64(frac[i] - '0')
			}
		}
		if neg {
			ns = -ns
		}
		return time.Unix(sec, ns), true
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil || math.IsInf(f, 0) || math.Abs(f) > 1<<62/1e9 {
		return time.Time{}, false
	}
	sec := math.Floor(f)
	return time.Unix(int64(sec), int64((f-sec)*1e9)), true
}

// digits reports whether b is only ASCII digits (true when empty).
func digits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
