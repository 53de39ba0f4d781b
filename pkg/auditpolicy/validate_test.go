package auditpolicy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const header = "apiVersion: audit.k8s.io/v1\nkind: Policy\n"

// TestValidation checks every rejection of kube-apiserver's validation
// (k8s.io/apiserver pkg/apis/audit/validation/validation.go and
// pkg/audit/policy/reader.go) with its exact message.
func TestValidation(t *testing.T) {
	long := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 62)
	cases := []struct {
		name, doc string
		want      []string // the lines of the error, without "policy: "
	}{
		{"level required", header + "rules:\n- users: [alice]\n",
			[]string{"rules[0].level: required, one of None, Metadata, Request, RequestResponse"}},
		{"level null", header + "rules:\n- level: null\n",
			[]string{"rules[0].level: required, one of None, Metadata, Request, RequestResponse"}},
		{"level unknown", header + "rules:\n- level: None\n- level: Everything\n",
			[]string{`rules[1].level: "Everything": must be None, Metadata, Request or RequestResponse`}},
		{"level case", header + "rules:\n- level: metadata\n",
			[]string{`rules[0].level: "metadata": must be None, Metadata, Request or RequestResponse`}},
		{"policy omitStages", header + "omitStages: [RequestReceived, ResponseCompleted]\nrules:\n- level: None\n",
			[]string{`omitStages[1]: "ResponseCompleted": must be RequestReceived, ResponseStarted, ResponseComplete or Panic`}},
		{"rule omitStages", header + "rules:\n- level: None\n  omitStages: [\"\"]\n",
			[]string{`rules[0].omitStages[0]: "": must be RequestReceived, ResponseStarted, ResponseComplete or Panic`}},
		{"url without slash", header + "rules:\n- level: None\n- level: None\n- level: None\n- level: None\n  nonResourceURLs: [healthz]\n",
			[]string{`rules[3].nonResourceURLs[0]: "healthz": must start with "/"`}},
		{"empty url", header + "rules:\n- level: None\n  nonResourceURLs: ['/ok', '']\n",
			[]string{`rules[0].nonResourceURLs[1]: "": must start with "/"`}},
		{"star inside", header + "rules:\n- level: None\n  nonResourceURLs: ['/logs/*/x']\n",
			[]string{`rules[0].nonResourceURLs[0]: "/logs/*/x": "*" may only be the last character`}},
		{"two stars", header + "rules:\n- level: None\n  nonResourceURLs: ['**']\n",
			[]string{`rules[0].nonResourceURLs[0]: "**": must start with "/"`, `rules[0].nonResourceURLs[0]: "**": "*" may only be the last character`}},
		{"urls and resources", header + "rules:\n- level: None\n  nonResourceURLs: [/healthz]\n  resources: [{group: ''}]\n",
			[]string{"rules[0].nonResourceURLs: a rule cannot have nonResourceURLs together with resources or namespaces"}},
		{"urls and namespaces", header + "rules:\n- level: None\n  nonResourceURLs: ['*']\n  namespaces: ['']\n",
			[]string{"rules[0].nonResourceURLs: a rule cannot have nonResourceURLs together with resources or namespaces"}},
		{"group upper case", header + "rules:\n- level: None\n  resources: [{group: Apps}]\n",
			[]string{`rules[0].resources[0].group: "Apps": ` + reasonGroup}},
		{"group with version", header + "rules:\n- level: None\n  resources: [{group: apps}, {group: rbac.authorization.k8s.io/v1, resources: [roles]}]\n",
			[]string{`rules[0].resources[1].group: "rbac.authorization.k8s.io/v1": ` + reasonGroup}},
		{"group too long", header + "rules:\n- level: None\n  resources: [{group: " + long + "}]\n",
			[]string{`rules[0].resources[0].group: "` + long + `": ` + reasonGroup}},
		{"group empty label", header + "rules:\n- level: None\n  resources: [{group: apps.}]\n",
			[]string{`rules[0].resources[0].group: "apps.": ` + reasonGroup}},
		{"group wildcard prefix", header + "rules:\n- level: None\n  resources: [{group: '*.k8s.io'}]\n",
			[]string{`rules[0].resources[0].group: "*.k8s.io": ` + reasonGroup}},
		{"group leading dash", header + "rules:\n- level: None\n  resources: [{group: -apps}]\n",
			[]string{`rules[0].resources[0].group: "-apps": ` + reasonGroup}},
		{"resourceNames alone", header + "rules:\n- level: None\n  resources: [{group: '', resourceNames: [foo]}]\n",
			[]string{"rules[0].resources[0].resourceNames: resourceNames requires at least one resource"}},
		{"no rules", header + "rules: []\n", []string{"rules: a policy needs at least one rule"}},
		{"rules absent", header + "omitStages: [RequestReceived]\n", []string{"rules: a policy needs at least one rule"}},
		{"apiVersion v1beta1", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: None\n",
			[]string{`apiVersion: "audit.k8s.io/v1beta1": must be audit.k8s.io/v1`}},
		{"apiVersion absent", "kind: Policy\nrules:\n- level: None\n", []string{"apiVersion: required, audit.k8s.io/v1"}},
		{"kind", "apiVersion: audit.k8s.io/v1\nkind: Event\nrules:\n- level: None\n", []string{`kind: "Event": must be Policy`}},
		{"every problem", "apiVersion: v1\nkind: Policy\nomitStages: [x]\nrules:\n- level: x\n  nonResourceURLs: [a]\n  namespaces: [default]\n  resources: [{group: A, resourceNames: [b]}]\n  omitStages: [z]\n- level: None\n",
			[]string{
				`apiVersion: "v1": must be audit.k8s.io/v1`,
				`omitStages[0]: "x": must be RequestReceived, ResponseStarted, ResponseComplete or Panic`,
				`rules[0].level: "x": must be None, Metadata, Request or RequestResponse`,
				`rules[0].nonResourceURLs[0]: "a": must start with "/"`,
				`rules[0].resources[0].group: "A": ` + reasonGroup,
				"rules[0].resources[0].resourceNames: resourceNames requires at least one resource",
				`rules[0].omitStages[0]: "z": must be RequestReceived, ResponseStarted, ResponseComplete or Panic`,
				"rules[0].nonResourceURLs: a rule cannot have nonResourceURLs together with resources or namespaces",
			}},
	}
	for _, c := range cases {
		checkError(t, c.name, c.doc, c.want)
	}
}

// TestDecodingErrors checks the problems found before validation: syntax,
// unknown and repeated fields, wrong types (typed as kube-apiserver's YAML
// reader types them), unsupported YAML.
func TestDecodingErrors(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"unknown field", header + "rules:\n- level: None\n  user: [alice]\n", []string{"line 5: rules[0].user: unknown field"}},
		{"field names are case-sensitive", header + "Rules: []\nrules:\n- level: None\n", []string{"line 3: Rules: unknown field"}},
		{"unknown field in resources", header + "rules:\n- level: None\n  resources:\n  - group: ''\n    resource: [pods]\n",
			[]string{"line 7: rules[0].resources[0].resource: unknown field"}},
		{"unknown field in metadata", header + "metadata:\n  name: p\n  title: t\nrules:\n- level: None\n", []string{"line 5: metadata.title: unknown field"}},
		{"odd key", header + "rules:\n- level: None\n'a b': 1\n", []string{`line 5: ["a b"]: unknown field`}},
		{"duplicate field", header + "rules:\n- level: None\n  level: Metadata\n", []string{"line 5: rules[0].level: duplicate field"}},
		{"every unknown field", header + "a: 1\nrules:\n- level: None\n  b: 2\n", []string{"line 3: a: unknown field", "line 6: rules[0].b: unknown field"}},
		{"number for a string", header + "rules:\n- level: 1\n", []string{"line 4: rules[0].level: expected a string, got a number"}},
		{"YAML 1.1 boolean for a string", header + "rules:\n- level: None\n  users: [alice, yes]\n",
			[]string{"line 5: rules[0].users[1]: expected a string, got a boolean"}},
		{"YAML 1.1 number for a string", header + "rules:\n- level: None\n  users: [0x1F, 1_000]\n",
			[]string{"line 5: rules[0].users[0]: expected a string, got a number", "line 5: rules[0].users[1]: expected a string, got a number"}},
		{"string for a list", header + "rules:\n- level: None\n  verbs: get\n", []string{"line 5: rules[0].verbs: expected a list of strings, got a string"}},
		{"string for a boolean", header + "omitManagedFields: 'true'\nrules:\n- level: None\n", []string{"line 3: omitManagedFields: expected true or false, got a string"}},
		{"number for a boolean", header + "rules:\n- level: None\n  omitManagedFields: 1\n", []string{"line 5: rules[0].omitManagedFields: expected true or false, got a number"}},
		{"mapping for a list", header + "rules:\n  level: None\n", []string{"line 4: rules: expected a list of rules, got a mapping"}},
		{"list for a mapping", header + "rules:\n- [level, None]\n", []string{"line 4: rules[0]: expected a mapping, got a list"}},
		{"metadata types", header + "metadata: {name: 1, generation: 1.5, creationTimestamp: 2001-12-14, labels: {a: yes}, ownerReferences: [1]}\nrules:\n- level: None\n",
			[]string{
				"line 3: metadata.name: expected a string, got a number",
				"line 3: metadata.generation: expected an integer, got a number",
				`line 3: metadata.creationTimestamp: "2001-12-14": not an RFC 3339 time`,
				"line 3: metadata.labels.a: expected a string, got a boolean",
				"line 3: metadata.ownerReferences[0]: expected a mapping, got a number",
			}},
		{"not a mapping", "- a\n- b\n", []string{"line 1: expected a mapping (a Policy object), got a list"}},
		{"scalar document", "hello\n", []string{"line 1: expected a mapping (a Policy object), got a string"}},
		{"empty", "", []string{"empty document"}},
		{"only a comment", "# nothing\n", []string{"empty document"}},
		{"YAML syntax", header + "rules:\n- level: None\n users: [a\n", []string{"invalid YAML: line 4: did not find expected key"}},
		{"merge key", header + "rules:\n- &a {level: None}\n- <<: *a\n  verbs: [get]\n", []string{"line 5: YAML merge keys (<<) are not supported"}},
		{"tag", header + "rules:\n- level: !!binary Tm9uZQ==\n", []string{`line 4: unsupported YAML tag "!!binary"`}},
		{"recursive alias", header + "rules:\n- level: None\n  users: &a [x, *a]\n", []string{"line 5: YAML alias *a is inside its own anchor"}},
		{"JSON syntax", `{"apiVersion": "audit.k8s.io/v1", "rules": [{"level": "None"},]}`,
			[]string{"line 1: invalid JSON: invalid character ']' looking for beginning of value"}},
		{"JSON trailing data", "{\"apiVersion\": \"audit.k8s.io/v1\", \"rules\": [{\"level\": \"None\"}]}\n{}",
			[]string{"line 2: unexpected data after the JSON object"}},
		{"JSON truncated", "{\"apiVersion\": \"audit.k8s.io/v1\",\n \"rules\": [{\"level\": \"None\"}", []string{"line 2: invalid JSON: unexpected end of the document"}},
		{"JSON duplicate", "{\"apiVersion\": \"audit.k8s.io/v1\",\n\"apiVersion\": \"audit.k8s.io/v1\", \"rules\": [{\"level\": \"None\"}]}",
			[]string{"line 2: apiVersion: duplicate field"}},
		{"JSON number", "{\"apiVersion\": \"audit.k8s.io/v1\", \"rules\": [{\"level\": \"None\",\n\"verbs\": [1]}]}",
			[]string{"line 2: rules[0].verbs[0]: expected a string, got a number"}},
		{"flow YAML starting with { is read as JSON", "{apiVersion: audit.k8s.io/v1, rules: [{level: None}]}",
			[]string{"line 1: invalid JSON: invalid character 'a' looking for beginning of object key string"}},
		{"nested too deeply", header + "rules:\n- level: None\n  users: " + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n",
			[]string{"line 5: nested too deeply"}},
	}
	for _, c := range cases {
		checkError(t, c.name, c.doc, c.want)
	}
}

// TestAliasBomb checks that YAML aliases cannot make Parse expand a
// document without bound.
func TestAliasBomb(t *testing.T) {
	doc := header + "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i <= 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		doc += "a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n"
	}
	doc += "rules:\n- level: None\n"
	_, err := Parse([]byte(doc))
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Errorf("Parse of 10^10 aliased values: %v", err)
	}
}

func checkError(t *testing.T, name, doc string, want []string) {
	t.Helper()
	p, err := Parse([]byte(doc))
	if err == nil {
		t.Errorf("%s: Parse accepts it (%d rules)", name, p.Len())
		return
	}
	var perr *Error
	if !errors.As(err, &perr) {
		t.Errorf("%s: error %T %v, want *Error", name, err, err)
		return
	}
	for i := range want {
		want[i] = "policy: " + want[i]
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("%s:\ngot:\n%s\nwant:\n%s", name, got, strings.Join(want, "\n"))
	}
	if len(perr.Errs) != len(want) {
		t.Errorf("%s: %d problems, want %d", name, len(perr.Errs), len(want))
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	doc := header + "rules:\n- level: None\n  verbs: [get]\n- level: Metadata\n- level: Metadata\n- level: None\n  nonResourceURLs: [healthz, /x*y]\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := "policy " + path + `: rules[3].nonResourceURLs[0]: "healthz": must start with "/"` + "\n" +
		"policy " + path + `: rules[3].nonResourceURLs[1]: "/x*y": "*" may only be the last character`
	if err == nil || err.Error() != want {
		t.Fatalf("Load:\n%v\nwant:\n%s", err, want)
	}
	var perr *Error
	if !errors.As(err, &perr) || perr.File != path || len(perr.Errs) != 2 {
		t.Fatalf("Load: %#v", err)
	}
	fe := perr.Errs[0]
	if fe.Field != "rules[3].nonResourceURLs[0]" || fe.Line != 0 || fe.Reason != `"healthz": must start with "/"` {
		t.Errorf("first problem: %+v", fe)
	}
	var fe2 *FieldError
	if !errors.As(err, &fe2) || fe2 != fe {
		t.Errorf("errors.As(*FieldError) = %v", fe2)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}

	ok := filepath.Join(dir, "ok.yaml")
	if err := os.WriteFile(ok, []byte(header+"rules:\n- level: Metadata\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Load(ok)
	if err != nil || p.Len() != 1 {
		t.Errorf("Load: %v", err)
	}
}

// TestAccepted checks documents kube-apiserver accepts that might look
// wrong: they load.
func TestAccepted(t *testing.T) {
	for name, doc := range map[string]string{
		"no kind (kube-apiserver takes Policy)": "apiVersion: audit.k8s.io/v1\nrules:\n- level: None\n",
		"resources are not validated":           header + "rules:\n- level: None\n  resources: [{resources: [replicacontrollers, 'Pods', '', '*/*']}]\n",
		"group *":                               header + "rules:\n- level: None\n  resources: [{group: '*'}]\n",
		"url *":                                 header + "rules:\n- level: None\n  nonResourceURLs: ['*', '/a*', '/']\n",
		"null lists":                            header + "omitStages: ~\nrules:\n- level: None\n  users: ~\n  resources: [~]\n",
		"quoted YAML 1.1 words":                 header + "rules:\n- level: None\n  users: ['yes', \"1\", ! 2, !!str 3]\n",
		"YAML 1.1 booleans":                     header + "omitManagedFields: yes\nrules:\n- level: None\n  omitManagedFields: Off\n",
		"metadata":                              header + "metadata:\n  name: p\n  labels: {a: b}\n  creationTimestamp: null\n  generation: 0x10\nrules:\n- level: None\n",
		"JSON":                                  "\n {\"apiVersion\": \"audit.k8s.io/v1\", \"kind\": \"Policy\", \"rules\": [{\"level\": \"None\", \"users\": [null]}]}\n",
		"a second YAML document is ignored":     header + "rules:\n- level: None\n---\nkind: Other\n",
		"a long valid group":                    header + "rules:\n- level: None\n  resources: [{group: " + strings.Repeat("a", 253) + "}]\n",
	} {
		if _, err := Parse([]byte(doc)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}

	// Values as kube-apiserver reads them.
	p := mustParse(t, header+"omitManagedFields: on\nrules:\n- level: Request\n  users: ['yes', ! 2, !!str 3, ~, \"\\u00e9\"]\n")
	for _, u := range []string{"yes", "2", "3", "", "é"} {
		a := Attributes{Authenticated: true, User: u}
		if r := p.Evaluate(&a); r.Rule != 0 || !r.OmitManagedFields {
			t.Errorf("user %q: %+v", u, r)
		}
	}
}

func TestDNS1123Subdomain(t *testing.T) {
	for s, want := range map[string]bool{
		"apps": true, "rbac.authorization.k8s.io": true, "a": true, "0": true, "a-b.c-d": true, "x--y": true,
		strings.Repeat("a", 253): true, strings.Repeat("a", 254): false, strings.Repeat("a", 100) + ".b": true,
		"": false, "A": false, "-a": false, "a-": false, "a..b": false, ".a": false, "a.": false, "a_b": false, "a/b": false, "é": false,
	} {
		if got := isDNS1123Subdomain(s); got != want {
			t.Errorf("isDNS1123Subdomain(%q) = %v", s, got)
		}
	}
}
