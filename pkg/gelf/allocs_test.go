package gelf

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/pkg/audit"
)

// TestParseEncodeAllocs checks the steady state of the agent's hot path:
// once its buffers have grown, parsing a line into a reused Event and
// encoding it into a reused buffer allocates nothing, for every level
// (bodies included) of the generated mix, and in particular for Metadata.
func TestParseEncodeAllocs(t *testing.T) {
	g := auditgen.New(auditgen.Config{MaxBodyBytes: 64 << 10})
	var lines [][]byte
	for i := range 3000 {
		lines = append(lines, bytes.TrimSuffix(g.Append(nil, int64(i), auditgen.StartTime.Add(time.Duration(i)*time.Millisecond)), []byte("\n")))
	}
	e := newTestEncoder(t, testConfig())
	var (
		ev  audit.Event
		buf []byte
	)
	run := func(line []byte) {
		r := Record{Line: line, Source: "audit.log"}
		if err := audit.Parse(line, &ev); err != nil {
			t.Fatalf("Parse: %v", err)
		}
		r.Event = &ev
		buf, _ = e.Encode(buf[:0], &r)
	}
	for _, l := range lines { // warm up: buffers, maps, name cache
		run(l)
	}
	levels := map[string]int{}
	for _, l := range lines[:1000] {
		if n := testing.AllocsPerRun(3, func() { run(l) }); n != 0 {
			t.Fatalf("parse+encode allocated %v times for %.300s", n, l)
		}
		levels[strings.Clone(ev.Level)]++ // ev's strings are reused by the next Parse
	}
	if levels[audit.LevelMetadata] < 500 || levels[audit.LevelRequest] == 0 || levels[audit.LevelRequestResponse] == 0 {
		t.Errorf("levels covered: %v", levels)
	}
}
