package auditpolicy

import (
	"bufio"
	"os"
	"testing"

	"github.com/audittail/audittail/pkg/audit"
)

// largestSample is the sample policy with the most rules (17).
const largestSample = "testdata/policies/gce-gci-configure-helper-audit-policy.yaml"

func BenchmarkAttributesOf(b *testing.B) {
	ev := parseEvent(b, resourceLine)
	var a Attributes
	b.ReportAllocs()
	for b.Loop() {
		a = AttributesOf(ev)
	}
	_ = a
}

// BenchmarkEvaluate evaluates the largest sample policy on a resource
// request that reaches the last rules.
func BenchmarkEvaluate(b *testing.B) {
	p, err := Load(largestSample)
	if err != nil {
		b.Fatal(err)
	}
	a := AttributesOf(parseEvent(b, resourceLine))
	var r Result
	b.ReportAllocs()
	for b.Loop() {
		r = p.Evaluate(&a)
	}
	b.ReportMetric(float64(r.Rule), "rule")
}

// BenchmarkEvaluateSampleLog evaluates the largest sample policy on every
// event of examples/sample-audit.log in turn (ns/op is per event).
func BenchmarkEvaluateSampleLog(b *testing.B) {
	p, err := Load(largestSample)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Open("../../examples/sample-audit.log")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var attrs []Attributes
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		ev := &audit.Event{} // one per line: the attributes share its strings
		if audit.Parse(sc.Bytes(), ev) == nil {
			attrs = append(attrs, AttributesOf(ev))
		}
	}
	if len(attrs) == 0 {
		b.Fatal("no event")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_ = p.Evaluate(&attrs[i])
		if i++; i == len(attrs) {
			i = 0
		}
	}
}

func BenchmarkParse(b *testing.B) {
	data, err := os.ReadFile(largestSample)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
