package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// audittail policy test reads plain and gzip logs and reports per rule;
// a bad policy is exit 2 with the file, the rule and the reason.
func TestPolicyTestCommand(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile("../../examples/sample-audit.log")
	if err != nil {
		t.Fatal(err)
	}
	gz := filepath.Join(dir, "audit-2026-11-21T10-00-00.000.log.gz")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write(sample)
	zw.Close()
	if err := os.WriteFile(gz, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policy, []byte(`apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  verbs: ["watch", "get", "list"]
- level: Metadata
`), 0o600)
	var out, errOut bytes.Buffer
	code := run([]string{"policy", "test", "--policy", policy, "../../examples/sample-audit.log", gz}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out.String(), errOut.String())
	}
	text := out.String()
	lines := strings.Count(string(sample), "\n")
	for _, re := range []string{
		`(?m)^policy .*policy.yaml: 2 rules; 2 logs, ` + strconv.Itoa(2*lines) + ` lines`,
		`(?m)^ +rules\[0\] \(None\) +\d+ +0 +0 +\d+ `,
		`(?m)^ +rules\[1\] \(Metadata\) +\d+ `,
		`(?m)^GELF bytes saved: \d+ of \d+ \(\d+\.\d %\)`,
	} {
		if !regexp.MustCompile(re).MatchString(text) {
			t.Errorf("output does not match %s:\n%s", re, text)
		}
	}

	os.WriteFile(policy, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n- level: Metadata\n  nonResourceURLs: [\"healthz\"]\n"), 0o600)
	out.Reset()
	errOut.Reset()
	if code := run([]string{"policy", "test", "--policy", policy, gz}, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), `rules[1].nonResourceURLs[0]: "healthz"`) {
		t.Errorf("bad policy: exit %d: %s", code, errOut.String())
	}
	// The agent refuses it too, before reading anything.
	out.Reset()
	errOut.Reset()
	if code := run([]string{"--policy", policy, "--endpoint", "-", "--path", gz, "--checkpoint", filepath.Join(dir, "c.json")}, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), "healthz") {
		t.Errorf("agent with a bad policy: exit %d: %s", code, errOut.String())
	}
}
