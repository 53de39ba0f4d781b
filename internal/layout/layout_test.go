// Package layout_test checks the rule of the README's Layout section: where a
// package lives says what it may import and who may import it. A package
// that fits no place of the rule fails the test, so the rule and the README
// are updated together when one is added.
package layout_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/audittail/audittail"

// place is where a package of the module lives, per the README's rule.
type place int

const (
	binary     place = iota // cmd/...: a program; nothing imports it
	part                    // tailer, checkpoint, shipper: usable alone
	format                  // pkg/audit, pkg/gelf, pkg/auditpolicy, pkg/process: formats and processing of events, no part
	assembly                // pkg/pipeline, pkg/config, pkg/agent, pkg/containerlog: built on the parts
	input                   // pkg/webhook, pkg/spool: inputs besides the audit log file
	helper                  // internal/...: not API, used by production code
	testHelper              // internal/...: imported by tests only
	testOnly                // packages of tests (torture, this one)
)

var testHelpers = []string{"internal/gelftest", "internal/agenttest", "internal/auditgen"}

func placeOf(rel string) (place, bool) {
	switch {
	case strings.HasPrefix(rel, "cmd/"):
		return binary, true
	case rel == "tailer" || rel == "checkpoint" || rel == "shipper":
		return part, true
	case rel == "pkg/audit" || rel == "pkg/gelf" || rel == "pkg/auditpolicy" || rel == "pkg/process":
		return format, true
	case rel == "pkg/pipeline" || rel == "pkg/config" || rel == "pkg/agent" || rel == "pkg/containerlog":
		return assembly, true
	case rel == "pkg/webhook" || rel == "pkg/spool":
		return input, true
	case slices.Contains(testHelpers, rel):
		return testHelper, true
	case rel == "internal/layout" || rel == "torture":
		return testOnly, true
	case strings.HasPrefix(rel, "internal/"):
		return helper, true
	}
	return 0, false
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// list runs go list on the whole module: each package's imports and
// dependencies, test files excluded.
func list(t *testing.T) map[string]pkg {
	t.Helper()
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the layout test runs go list: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goCmd, "list", "-e", "-json=ImportPath,Imports,Deps", module+"/...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		pkgs[strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")] = p
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found %d packages of %s; run from inside the module", len(pkgs), module)
	}
	return pkgs
}

// local returns the module's packages among paths, relative to the module.
func local(paths []string) []string {
	var rel []string
	for _, p := range paths {
		if r, ok := strings.CutPrefix(p, module+"/"); ok {
			rel = append(rel, r)
		}
	}
	return rel
}

func TestLayout(t *testing.T) {
	pkgs := list(t)
	for rel, p := range pkgs {
		pl, ok := placeOf(rel)
		if !ok {
			t.Errorf("%s fits no place of the layout rule: put it where the README's Layout section says, or state the new place there and in this test", rel)
			continue
		}
		for _, imp := range local(p.Imports) {
			ipl, ok := placeOf(imp)
			if !ok {
				continue // reported on its own
			}
			if why := forbidden(rel, pl, imp, ipl); why != "" {
				t.Errorf("%s imports %s: %s", rel, imp, why)
			}
		}
	}
}

// forbidden says why a package at from may not import one at to, or "".
func forbidden(from string, fpl place, to string, tpl place) string {
	switch {
	case tpl == binary:
		return "nothing imports a program"
	case tpl == testOnly:
		return "a package of tests is imported by nothing"
	case tpl == testHelper && fpl != testHelper && fpl != testOnly:
		return "production code imports no test helper"
	case to == "pkg/agent" && fpl != binary && fpl != testOnly:
		return "only programs assemble an agent"
	}
	switch fpl {
	case part:
		if tpl != helper && !(from == "tailer" && to == "checkpoint") {
			return "a part imports only internal helpers (and the tailer the checkpoint's position type), never another part or pkg/"
		}
	case format:
		if tpl != helper && tpl != format {
			return "a format imports no part"
		}
	case input:
		if (tpl == input) || (tpl != helper && tpl != format && to != "checkpoint") {
			return "an input imports formats, internal helpers and the checkpoint's position type; the receiver reaches the spool through an interface it declares"
		}
	case assembly:
		if from == "pkg/pipeline" && to == "shipper" {
			return "the pipeline reaches the shipper through an interface it declares"
		}
	case helper:
		if tpl != helper {
			return "an internal helper imports only other internal helpers"
		}
	case testHelper:
		if tpl != helper && tpl != testHelper && tpl != format {
			return "a test helper builds on formats and helpers only, so that any part's tests can use it"
		}
	}
	return ""
}

// TestBinaryCarriesNoTestCode checks what the audittail binary links: no
// package of the testing framework and no test helper.
func TestBinaryCarriesNoTestCode(t *testing.T) {
	pkgs := list(t)
	bin, ok := pkgs["cmd/audittail"]
	if !ok {
		t.Fatal("cmd/audittail not found")
	}
	for _, d := range bin.Deps {
		if d == "testing" || strings.HasPrefix(d, "testing/") {
			t.Errorf("cmd/audittail links %s", d)
		}
		if r, ok := strings.CutPrefix(d, module+"/"); ok && slices.Contains(testHelpers, r) {
			t.Errorf("cmd/audittail links the test helper %s", r)
		}
	}
}

// TestRuleRejects runs the rule on imports it must refuse, so that a rule
// that allows everything fails here.
func TestRuleRejects(t *testing.T) {
	for _, c := range [][2]string{
		{"tailer", "shipper"},
		{"shipper", "tailer"},
		{"shipper", "checkpoint"},
		{"tailer", "pkg/audit"},
		{"checkpoint", "internal/gelftest"},
		{"pkg/gelf", "shipper"},
		{"pkg/pipeline", "shipper"},
		{"pkg/config", "pkg/agent"},
		{"internal/fifo", "tailer"},
		{"pkg/agent", "cmd/audittail"},
		{"internal/gelftest", "shipper"},
		{"pkg/webhook", "pkg/spool"},
		{"pkg/spool", "tailer"},
		{"pkg/webhook", "pkg/pipeline"},
	} {
		fpl, _ := placeOf(c[0])
		tpl, _ := placeOf(c[1])
		if forbidden(c[0], fpl, c[1], tpl) == "" {
			t.Errorf("the rule lets %s import %s", c[0], c[1])
		}
	}
	if _, ok := placeOf(filepath.Join("newtop", "x")); ok {
		t.Error("a package outside the stated places fits the rule")
	}
}
