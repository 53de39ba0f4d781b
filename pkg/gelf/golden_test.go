package gelf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "regenerate testdata/golden")

// auditRBACGoldenLines is how many lines of the audit2rbac log go into its golden
// file (the whole log, 757 lines, is checked by TestSampleProperties).
const auditRBACGoldenLines = 50

type goldenCase struct {
	name    string // golden file: testdata/golden/<name>.golden
	path    string
	source  string
	maxLine int // 0 = every line
}

func goldenCases(tb testing.TB) []goldenCase {
	tb.Helper()
	falco, err := filepath.Glob("../audit/testdata/samples/falco-k8s-audit-traces/*.json")
	if err != nil || len(falco) != 47 {
		tb.Fatalf("found %d Falco samples (%v), want 47", len(falco), err)
	}
	var cases []goldenCase
	for _, p := range falco {
		cases = append(cases, goldenCase{
			name: filepath.Base(p), path: p,
			source: "falco-k8s-audit-traces/" + filepath.Base(p),
		})
	}
	cases = append(cases, goldenCase{
		name:    "demo-2017-v1beta1.log",
		path:    "../audit/testdata/samples/audit2rbac/demo-2017-v1beta1.log",
		source:  "audit2rbac/demo-2017-v1beta1.log",
		maxLine: auditRBACGoldenLines,
	})
	// Events no recorded sample has (see testdata/README.md), named so.
	synthetic, err := filepath.Glob("testdata/synthetic/*.json")
	if err != nil || len(synthetic) != syntheticFiles {
		tb.Fatalf("found %d synthetic events (%v), want %d", len(synthetic), err, syntheticFiles)
	}
	for _, p := range synthetic {
		cases = append(cases, goldenCase{
			name: "synthetic_" + filepath.Base(p), path: p,
			source: "synthetic/" + filepath.Base(p),
		})
	}
	return cases
}

// syntheticFiles is how many files testdata/synthetic holds, one event each.
const syntheticFiles = 6

// TestGolden encodes every sample line with testConfig and a fixed clock and
// compares the messages, one per line, with testdata/golden. Run
// `go test ./pkg/gelf -run TestGolden -update` to regenerate them.
func TestGolden(t *testing.T) {
	cfg := testConfig()
	e := newTestEncoder(t, cfg)
	cfg = e.Config()
	seen := map[string]bool{}
	for _, c := range goldenCases(t) {
		t.Run(c.name, func(t *testing.T) {
			recs := fileRecords(t, c.path, c.source)
			if c.maxLine > 0 {
				recs = recs[:c.maxLine]
			}
			var got []byte
			for _, r := range recs {
				start := len(got)
				var res Result
				got, res = e.Encode(got, r)
				checkMessage(t, cfg, r, got[start:], res)
				got = append(got, '\n')
			}
			golden := filepath.Join("testdata", "golden", c.name+".golden")
			seen[filepath.Base(golden)] = true
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("line %d differs (run with -update if intended)\n got: %s\nwant: %s", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("got %d lines, want %d (run with -update if intended)", len(gl), len(wl))
			}
		})
	}
	// No stale golden files.
	files, _ := filepath.Glob("testdata/golden/*.golden")
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("stale golden file %s", f)
		}
	}
}

// TestSampleProperties checks every line of every sample, including all 757
// lines of the audit2rbac log, under a few configurations.
func TestSampleProperties(t *testing.T) {
	configs := map[string]Config{
		"default":   testConfig(),
		"graylog":   {Host: "graylog-node", FullMessage: FullMessageNone, Cluster: "prod-1"},
		"small cap": {Host: "node-1", Stream: "test-token", MaxMessageBytes: MinMaxMessageBytes, MaxFieldBytes: MinMaxFieldBytes},
		"4 KiB cap": {Host: "node-1", MaxMessageBytes: 4096, MaxFieldBytes: 1024},
	}
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			e := newTestEncoder(t, cfg)
			cfg := e.Config()
			var buf []byte
			n := 0
			for _, c := range goldenCases(t) {
				for _, r := range fileRecords(t, c.path, c.source) {
					var res Result
					buf, res = e.Encode(buf[:0], r)
					m := checkMessage(t, cfg, r, buf, res)
					if cfg.Cluster != "" && m.fields["_cluster"] != cfg.Cluster {
						t.Fatalf("_cluster = %v", m.fields["_cluster"])
					}
					n++
				}
			}
			if n != 812+syntheticFiles {
				t.Errorf("checked %d lines, want %d", n, 812+syntheticFiles)
			}
		})
	}
}
