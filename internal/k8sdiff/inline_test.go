package k8sdiff

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/audittail/audittail/pkg/auditpolicy"
)

// scalarValues are YAML scalars written where a policy expects a string or
// a boolean: YAML 1.1 booleans and numbers in every notation
// go.yaml.in/yaml/v2 reads (kube-apiserver's YAML reader), null, quoting,
// block scalars, tags, and strings that look like neither.
var scalarValues = []string{
	"yes", "Yes", "YES", "y", "Y", "n", "on", "On", "off", "OFF", "no", "true", "True", "TRUE", "tRue", "false",
	"null", "Null", "~", "", "1", "0", "0x1F", "1_000", "0b101", "-0b1", "0o17", "017", "1e3", ".5", "0.", "+.5",
	"1_0.5", "0x_1", ".inf", "-.Inf", ".nan", "+1", "-1", "9223372036854775808", "18446744073709551616",
	"1.2.3", "2001-12-14", "2001-12-14T21:59:43.10Z", "12:30", "1:20", "-", "+", ".", "-.", "0b", "0b2", "1e",
	"'1'", `"yes"`, "!!str 1", "!!str yes", "! 1", "! yes", "!!int 1", "!!bool yes", "!!null ''", "!!binary aGVsbG8=", "!foo x",
	"a b", `"\u00e9"`, `"a\tb"`, "'it''s'", "x #c", "=", "%x", "@x", "`x", "&a x", "[a]", "{a: b}",
	"|\n    x", ">-\n    x\n",
}

// scalarTemplates place a value (%s) in every kind of field.
var scalarTemplates = []string{
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: [%s]\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users:\n  - %s\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nomitManagedFields: %s\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  omitManagedFields: %s\n",
	"apiVersion: audit.k8s.io/v1\nkind: %s\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata:\n  name: %s\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata:\n  generation: %s\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata:\n  creationTimestamp: %s\nrules:\n- level: Metadata\n",
}

// inlineDocuments are whole documents: JSON or YAML detection, byte order
// marks, white space, escapes, document markers, keys, metadata.
var inlineDocuments = []string{
	`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"le\u0076el":"Metadata"}]}`,
	"\ufeff{\"apiVersion\":\"audit.k8s.io/v1\",\"kind\":\"Policy\",\"rules\":[{\"level\":\"Metadata\"}]}",
	"\ufeffapiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
	"\u00a0{\"apiVersion\":\"audit.k8s.io/v1\",\"kind\":\"Policy\",\"rules\":[{\"level\":\"Metadata\"}]}",
	" \n\t{\"apiVersion\":\"audit.k8s.io/v1\",\"kind\":\"Policy\",\"rules\":[{\"level\":\"Metadata\"}]}\n\n",
	`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata"}], "metadata": null, "omitStages": null, "omitManagedFields": null}`,
	`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[null]}`,
	`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata","resources":[null]}]}`,
	`{"apiVersion":"audit.k8s.io/v1","kind":null,"rules":[{"level":"Metadata"}]}`,
	`{"apiVersion":"audit.k8s.io/v1","kind":"","rules":[{"level":"Metadata"}]}`,
	`{"apiVersion":"audit.k8s.io/v1","rules":[{"level":"Metadata", "omitManagedFields": 0}]}`,
	`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata"}]}garbage`,
	`{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"Metadata","users":["\ud800"]}]}`,
	`{"apiVersion": "audit.k8s.io/v1", "metadata": {"generation": 1e3}, "rules": [{"level": "None"}]}`,
	`{"apiVersion": "audit.k8s.io/v1", "metadata": {"generation": 10}, "rules": [{"level": "None"}]}`,
	"---\napiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
	"%YAML 1.1\n---\napiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n...\n--- [\n",
	"# only a comment\n",
	"---\n",
	"null\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: [a, b]\n\t\n",
	"apiVersion: audit.k8s.io/v1\r\nkind: Policy\r\nrules:\r\n- level: Metadata\r\n  users: [! 1]\r\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: [a,\n    b c\n    d]\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: [\"a\\x41\\u00e9\\U0001F600\\N\\_\"]\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: ['a\n\n   b']\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: [a&b, a*b, a!b, \"a#b\", a #b\n   ]\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\n? rules\n: - level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\nnull: x\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  omitStages: [RequestReceived]\nomitStages: !!seq [Panic]\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {creationTimestamp: '2001-12-14T00:00:00Z', generation: 1.5}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {creationTimestamp: ''}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {generation: 0x10, labels: {a: ~}}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {generation: 1e21, deletionGracePeriodSeconds: 9223372036854775807}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {generation: 1e20, deletionGracePeriodSeconds: -0b1}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {generation: 9223372036854775808}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {labels: {a: 1}}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {ownerReferences: [1]}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nmetadata: {ownerReferences: [{}], managedFields: [{manager: x}]}\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: PolicyList\nrules:\n- level: Metadata\n",
	"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  users: &a [x, *a]\n",
	"apiVersion: 'audit.k8s.io/v1'\nkind: !!str Policy\nrules: !!seq\n- !!map {level: Metadata}\n",
}

// synthNames are user names the policies of scalarTemplates are evaluated
// on: what each value may have been read as.
var synthUserNames = []string{"yes", "1", "0x1F", "1_000", "a b", "é", "x", "a\tb", "it's", "0o17", "017", "1:20", "12:30",
	"2001-12-14", "", "1.2.3", "-", "+", ".", "0b2", "1e", "=", "<<", "a: b", "aAé😀\u0085\u00a0", "a\nb", "a b c d", "a&b", "a*b", "a!b", "a#b", "a"}

// TestInlineAcceptance requires both loaders to accept or refuse each
// inline document alike, and when they accept it, both evaluators to agree
// on users named like the values. The intended differences are refused by
// audittail only: explicit tags other than !!str, !!seq and !!map, and
// unknown fields (see TestLenientDifference).
func TestInlineAcceptance(t *testing.T) {
	var docs []string
	for _, tmpl := range scalarTemplates {
		for _, v := range scalarValues {
			docs = append(docs, fmt.Sprintf(tmpl, v))
		}
	}
	docs = append(docs, inlineDocuments...)
	for _, doc := range docs {
		ours, oerr := auditpolicy.Parse([]byte(doc))
		theirs, terr := policy.LoadPolicyFromBytes([]byte(doc))
		if (oerr == nil) != (terr == nil) {
			if oerr != nil && intended(oerr) {
				continue
			}
			t.Errorf("%q:\n\taudittail: %v\n\tkube-apiserver: %v", doc, oerr, terr)
			continue
		}
		if oerr != nil {
			continue
		}
		p := pair{ours: ours, theirs: policy.NewPolicyRuleEvaluator(theirs)}
		for _, u := range synthUserNames {
			a := auditpolicy.Attributes{Authenticated: true, User: u, Verb: "get", Path: "/"}
			k := authorizer.AttributesRecord{User: &user.DefaultInfo{Name: u}, Verb: "get", Path: "/"}
			if d := agree(p, &a, k); d != "" {
				t.Errorf("%q, user %q: %s", doc, u, d)
			}
		}
	}
	t.Logf("%d documents", len(docs))
}

// intended reports whether audittail's error is one of the intended
// differences.
func intended(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "unsupported YAML tag") || strings.Contains(msg, "unknown field")
}
