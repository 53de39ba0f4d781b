package examples

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeSearchesUseRealFields checks the example searches of the
// README's "Graylog and LDP" section against the messages the agent really
// sends: every field a search names (field:value), and every field named on
// its own in backquotes, must appear in pkg/gelf's golden messages, less the
// leading underscore that Graylog and LDP strip.
func TestReadmeSearchesUseRealFields(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := between(string(readme), "\n## Graylog and LDP\n", "\n## ")
	searching := between(section, "\n### Searching\n", "\n### ")
	if searching == "" {
		t.Fatal(`README.md: no "### Searching" in "## Graylog and LDP"`)
	}

	// Graylog stores host as source and short_message as message.
	known := map[string]bool{"source": true, "message": true, "full_message": true, "timestamp": true, "level": true}
	golden, err := filepath.Glob("../pkg/gelf/testdata/golden/*.golden")
	if err != nil || len(golden) == 0 {
		t.Fatalf("no golden messages: %v", err)
	}
	for _, g := range golden {
		data, err := os.ReadFile(g)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			var msg map[string]any
			if json.Unmarshal([]byte(line), &msg) != nil {
				continue
			}
			for k := range msg {
				known[strings.TrimPrefix(k, "_")] = true
			}
		}
	}

	span := regexp.MustCompile("`([^`]+)`")
	searchField := regexp.MustCompile(`(?:^|[\s(])([A-Za-z_][A-Za-z0-9_]*):[^/]`)
	bareField := regexp.MustCompile(`^[a-z][A-Za-z0-9_]*$`)
	checked := 0
	for _, m := range span.FindAllStringSubmatch(searching, -1) {
		code := m[1]
		var names []string
		for _, f := range searchField.FindAllStringSubmatch(code+" ", -1) {
			names = append(names, f[1])
		}
		if len(names) == 0 {
			for _, part := range strings.Split(code, "/") {
				if bareField.MatchString(part) {
					names = append(names, part)
				}
			}
		}
		for _, name := range names {
			checked++
			if !known[name] {
				t.Errorf("README.md search %q: field %q is in no golden message (pkg/gelf/testdata/golden)", code, name)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d field names found in the README's searches: is the section still there?", checked)
	}
}

// between is the part of s after the first from and before the next to
// (or the end).
func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	if i := strings.Index(rest, to); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
