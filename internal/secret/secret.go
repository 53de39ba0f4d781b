// Package secret keeps the values audittail must never write in clear
// anywhere but to the log server: the LDP stream token (the current one and
// those it replaced at a reload) and the values of output.http_headers
// (an Authorization header, for example). Text that comes from outside and
// goes into an error, a log line or /readyz (a server's answer that echoes
// the request, say) passes through [Set.Redact] first.
package secret

import (
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// Redacted replaces every secret found by [Set.Redact].
const Redacted = "[redacted]"

// MinLen is the length below which a value is not registered: replacing a
// short, common string everywhere would garble text, and a value that
// short is no secret (LDP tokens are UUIDs, 36 characters).
const MinLen = 6

// maxValues bounds how many values a Set remembers; the oldest are
// forgotten first (a token replaced many reloads ago).
const maxValues = 32

// Set is a set of secrets. The zero value is empty and ready to use; a Set
// is safe for concurrent use.
type Set struct {
	mu    sync.RWMutex
	forms []string // every registered value in each form it may take, longest first
	vals  []string // registered values, oldest first
}

// Add registers v, unless it is shorter than MinLen or already known. Later
// calls to Redact remove v, and the forms v takes once escaped in JSON
// (as Go's encoding/json writes <, > and & as \u003c, \u003e, \u0026, and
// other encoders write / as \/) or in a URL (query or path escaping).
func (s *Set) Add(v string) {
	if len(v) < MinLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, old := range s.vals {
		if old == v {
			return
		}
	}
	s.vals = append(s.vals, v)
	if len(s.vals) > maxValues {
		s.vals = s.vals[len(s.vals)-maxValues:]
	}
	s.forms = s.forms[:0]
	for _, v := range s.vals {
		s.forms = appendForms(s.forms, v)
	}
	// Longest first, so that a value containing another is replaced whole.
	slices.SortStableFunc(s.forms, func(a, b string) int { return len(b) - len(a) })
}

// Redact returns text with every form of every registered value replaced by
// Redacted. A nil *Set redacts nothing.
func (s *Set) Redact(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, f := range s.forms {
		if strings.Contains(text, f) {
			text = strings.ReplaceAll(text, f, Redacted)
		}
	}
	return text
}

// Len returns how many values are registered.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.vals)
}

// appendForms appends v and its distinct escaped forms to dst.
func appendForms(dst []string, v string) []string {
	add := func(f string) {
		if f == "" {
			return
		}
		for _, d := range dst {
			if d == f {
				return
			}
		}
		dst = append(dst, f)
	}
	add(v)
	if b, err := json.Marshal(v); err == nil {
		add(string(b[1 : len(b)-1]))
	}
	add(strings.ReplaceAll(v, "/", `\/`))
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	return dst
}
