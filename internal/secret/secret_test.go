package secret

import (
	"encoding/json"
	"net/url"
	"strings"
	"sync"
	"testing"
)

func TestRedactEveryForm(t *testing.T) {
	const tok = "a1b2-c3d4/e5<f6>&g7"
	var s Set
	s.Add(tok)
	jsonForm, _ := json.Marshal(tok)
	for _, text := range []string{
		"token " + tok + " echoed",
		"body: " + string(jsonForm),
		`{"_X-OVH-TOKEN":"` + strings.ReplaceAll(tok, "/", `\/`) + `"}`,
		"GET /?t=" + url.QueryEscape(tok),
		"GET /" + url.PathEscape(tok),
	} {
		got := s.Redact(text)
		if !strings.Contains(got, Redacted) {
			t.Errorf("Redact(%q) = %q: nothing redacted", text, got)
		}
		for _, part := range []string{"a1b2-c3d4", "e5", "g7"} {
			if strings.Contains(got, part) {
				t.Errorf("Redact(%q) = %q: still contains %q", text, got, part)
			}
		}
	}
}

func TestRedactKeepsPreviousValues(t *testing.T) {
	var s Set
	s.Add("first-token-value")
	s.Add("second-token-value")
	got := s.Redact("old first-token-value new second-token-value")
	if got != "old [redacted] new [redacted]" {
		t.Fatalf("got %q", got)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d", s.Len())
	}
	s.Add("second-token-value") // known: not added twice
	if s.Len() != 2 {
		t.Fatalf("Len after a repeated Add = %d", s.Len())
	}
}

func TestShortValuesIgnored(t *testing.T) {
	var s Set
	s.Add("abc")
	s.Add("")
	if got := s.Redact("abc abc"); got != "abc abc" {
		t.Fatalf("got %q", got)
	}
	var nilSet *Set
	if got := nilSet.Redact("x"); got != "x" {
		t.Fatalf("nil set: %q", got)
	}
}

func TestLongestFirst(t *testing.T) {
	var s Set
	s.Add("secret")
	s.Add("secret-and-more")
	if got := s.Redact("secret-and-more"); got != Redacted {
		t.Fatalf("got %q, want the longer value replaced whole", got)
	}
}

func TestBounded(t *testing.T) {
	var s Set
	for i := range 2 * maxValues {
		s.Add(strings.Repeat("x", MinLen) + string(rune('A'+i)))
	}
	if s.Len() != maxValues {
		t.Fatalf("Len = %d, want %d", s.Len(), maxValues)
	}
	if got := s.Redact("xxxxxxA"); got != "xxxxxxA" {
		t.Errorf("the oldest value is still redacted: %q", got)
	}
}

func TestConcurrent(t *testing.T) {
	var s Set
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() { defer wg.Done(); s.Add(strings.Repeat("k", MinLen+i)) }()
		go func() { defer wg.Done(); _ = s.Redact("kkkkkkkkkk") }()
	}
	wg.Wait()
}
