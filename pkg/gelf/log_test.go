package gelf

import (
	"encoding/json"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// _log names the input when the record says it, escaped like any string,
// and is absent otherwise (an agent of one input pays nothing for it).
func TestLogField(t *testing.T) {
	line := []byte(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/pods","verb":"list","user":{"username":"alice"},"requestReceivedTimestamp":"2026-11-21T10:00:00.000001Z","stageTimestamp":"2026-11-21T10:00:00.000201Z"}`)
	var ev audit.Event
	if err := audit.Parse(line, &ev); err != nil {
		t.Fatal(err)
	}
	var e Encoder
	for _, c := range []struct{ log, want string }{
		{"", ""},
		{"/var/log/kube-apiserver/audit.log", "/var/log/kube-apiserver/audit.log"},
		{`/var/log/a "quoted"\dir/audit.log`, `/var/log/a "quoted"\dir/audit.log`},
		{"webhook", "webhook"},
	} {
		msg, _ := e.Encode(nil, &Record{Line: line, Event: &ev, Log: c.log})
		var m map[string]any
		if err := json.Unmarshal(msg, &m); err != nil {
			t.Fatalf("%q: not JSON: %v", c.log, err)
		}
		got, ok := m["_log"]
		switch {
		case c.want == "" && ok:
			t.Fatalf("_log %v without a log", got)
		case c.want != "" && got != c.want:
			t.Fatalf("_log %v, want %q", got, c.want)
		}
	}
}
