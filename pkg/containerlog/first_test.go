package containerlog

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestFirstLine(t *testing.T) {
	for _, c := range []struct {
		name, in string
		f        Format
		want     string
		err      string
	}{
		{"cri joined after stderr", "2026-12-06T10:00:00.1Z stderr F E1206 klog\n2026-12-06T10:00:00.2Z stdout P {\"a\":\n2026-12-06T10:00:00.3Z stdout F 1}\n", CRI, `{"a":1}`, ""},
		{"docker partial", `{"log":"{\"a\":","stream":"stdout","time":"2026-12-06T10:00:00Z"}` + "\n" + `{"log":"1}\n","stream":"stdout","time":"2026-12-06T10:00:00Z"}` + "\n", DockerJSON, `{"a":1}`, ""},
		{"not cri", "{\"kind\":\"Event\"}\n", CRI, "", "not in the cri format"},
		{"only stderr", "2026-12-06T10:00:00.1Z stderr F E1206 klog\n", CRI, "", "EOF"},
	} {
		got, err := FirstLine(strings.NewReader(c.in), c.f, 1<<20)
		switch {
		case c.err == "EOF" && !errors.Is(err, io.EOF):
			t.Errorf("%s: %q, %v; want io.EOF", c.name, got, err)
		case c.err != "" && c.err != "EOF" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		case c.err == "" && (err != nil || string(got) != c.want):
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}
