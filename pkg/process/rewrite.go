package process

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/audittail/audittail/internal/jsonbytes"
)

// edit replaces src[start:end] with repl[rs:re] of the rewriter.
type edit struct {
	start, end int
	rs, re     int
}

// rewriter collects edits of one line, then applies them. Edits never
// overlap: a deletion covers whole members (with one of their commas), a
// replacement one value, and nothing is edited inside what is deleted or
// replaced. The scratch space is kept from one line to the next.
type rewriter struct {
	src   []byte
	edits []edit
	repl  []byte // replacement bytes of the edits, back to back
	del   []jsonbytes.Member
	flags []bool

	// what the edits did, by kind
	redacted [numRedactions]int
}

func (w *rewriter) reset(src []byte) {
	w.src = src
	w.edits = w.edits[:0]
	w.repl = w.repl[:0]
	w.redacted = [numRedactions]int{}
}

// replace replaces the value src[start:end] with text.
func (w *rewriter) replace(start, end int, text ...[]byte) {
	rs := len(w.repl)
	for _, t := range text {
		w.repl = append(w.repl, t...)
	}
	w.edits = append(w.edits, edit{start: start, end: end, rs: rs, re: len(w.repl)})
}

// redact replaces the value src[start:end] with "<redacted sha256:XXXXXXXX>":
// the first 8 hex digits of the SHA-256 of the value (of a string's
// content, unescaped; of the JSON text of any other value), so that a
// change of the value is visible without the value.
//
// An empty string, null or an empty object holds nothing and is left as it
// is.
func (w *rewriter) redact(start, end int, kind redaction) {
	v, ok := jsonbytes.StringValue(w.src, start, end)
	if !ok {
		v = w.src[start:end]
		if empty(v) {
			return
		}
	} else if len(v) == 0 {
		return
	}
	sum := sha256.Sum256(v)
	var hexd [8]byte
	hex.Encode(hexd[:], sum[:4])
	w.replace(start, end, []byte(`"<redacted sha256:`), hexd[:], []byte(`>"`))
	w.redacted[kind]++
}

// deleteMembers walks the object at src[i] and deletes the members for
// which drop returns true, with the right commas: the object stays valid
// JSON, and the other members keep their bytes. keep is called for each
// member that stays (it may add edits inside that member's value).
func (w *rewriter) deleteMembers(i int, drop func(m jsonbytes.Member) bool, keep func(m jsonbytes.Member)) bool {
	mark := len(w.del)
	_, ok := jsonbytes.Members(w.src, i, func(m jsonbytes.Member) bool {
		w.del = append(w.del, m)
		d := drop(m)
		w.flags = append(w.flags, d)
		if !d && keep != nil {
			keep(m)
		}
		return true
	})
	ms, fl := w.del[mark:], w.flags[mark:]
	if ok {
		for a := 0; a < len(ms); a++ {
			if !fl[a] {
				continue
			}
			b := a
			for b+1 < len(ms) && fl[b+1] {
				b++
			}
			switch {
			case a > 0: // after a kept member: from its end, through the run
				w.replace(ms[a-1].ValueEnd, ms[b].ValueEnd)
			case b+1 < len(ms): // a leading run: up to the next member
				w.replace(ms[a].Start, ms[b+1].Start)
			default: // every member
				w.replace(ms[a].Start, ms[b].ValueEnd)
			}
			a = b
		}
	}
	w.del, w.flags = w.del[:mark], w.flags[:mark]
	return ok
}

// apply writes src with the edits applied to dst.
func (w *rewriter) apply(dst []byte) []byte {
	slices.SortFunc(w.edits, func(a, b edit) int { return a.start - b.start })
	prev := 0
	for _, e := range w.edits {
		if e.start < prev { // cannot happen (edits do not overlap); never corrupt the line
			continue
		}
		dst = append(dst, w.src[prev:e.start]...)
		dst = append(dst, w.repl[e.rs:e.re]...)
		prev = e.end
	}
	return append(dst, w.src[prev:]...)
}

// moved returns where src offset off is after the edits (off must not be
// inside an edit).
func (w *rewriter) moved(off int) int {
	d := 0
	for _, e := range w.edits {
		if e.end <= off {
			d += (e.re - e.rs) - (e.end - e.start)
		}
	}
	return off + d
}

func (w *rewriter) key(m jsonbytes.Member, name string) bool {
	return jsonbytes.KeyIs(w.src[m.KeyStart:m.KeyEnd], name)
}

func isObject(b []byte, i int) bool { return i < len(b) && b[i] == '{' }
func isArray(b []byte, i int) bool  { return i < len(b) && b[i] == '[' }

// empty reports whether a JSON value holds nothing: null, {} or [].
func empty(v []byte) bool {
	switch string(bytes.TrimSpace(v)) {
	case "null", "{}", "[]":
		return true
	}
	t := bytes.TrimSpace(v)
	if len(t) >= 2 && (t[0] == '{' || t[0] == '[') && len(bytes.TrimSpace(t[1:len(t)-1])) == 0 {
		return true
	}
	return false
}

// jsonMember is one member of an object, as offsets into the line.
type jsonMember = jsonbytes.Member

// containsString reports whether b contains s.
func containsString(b []byte, s string) bool { return bytes.Contains(b, []byte(s)) }

// hasPrefixKey reports whether the raw key starts with prefix (exactly,
// as kube-apiserver writes annotation keys).
func hasPrefixKey(raw []byte, prefix string) bool { return bytes.HasPrefix(raw, []byte(prefix)) }
