package auditgen

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestEscapeLikeEncodingJSON checks appendEscaped against encoding/json.
func TestEscapeLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " backslash \ slash /`, "<b>&amp;</b>", "tab\tnl\ncr\rbs\bff\f",
		"\x00\x01\x1f\x7f", "ñ 日本 🚀 é", "line\u2028sep\u2029", "bad \xff utf8 \xc3", "RBAC: allowed by ClusterRoleBinding \"x\""} {
		want, _ := json.Marshal(s)
		if got := `"` + esc(s) + `"`; got != string(want) {
			t.Errorf("esc(%q) = %s, want %s", s, got, want)
		}
	}
}

// TestAppendFitExact checks that bodies cut from every filler have the exact
// size asked for and are valid JSON.
func TestAppendFitExact(t *testing.T) {
	f := getFillers(1 << 20)
	r := rand.New(rand.NewPCG(1, 2))
	for name, x := range map[string]*filler{"containers": f.containers, "pods": f.pods, "cmData": f.cmData,
		"crdProps": f.crdProps, "images": f.images, "endpoints": f.endpoints} {
		open, close := "[", "]"
		if name == "cmData" || name == "crdProps" {
			open, close = "{", "}"
		}
		var b []byte
		for k := 0; k < 150; k++ {
			budget := x.minSkel + r.IntN(3<<20) // beyond the filler: wraps around
			if k < 100 {
				budget = x.minSkel + r.IntN(20000)
			}
			b = append(b[:0], open...)
			b = x.appendFit(b, budget, x.start(budget, r.Uint32()))
			if len(b)-1 != budget {
				t.Fatalf("%s: budget %d, got %d", name, budget, len(b)-1)
			}
			b = append(b, close...)
			if k%5 == 0 && !json.Valid(b) {
				t.Fatalf("%s: invalid JSON for budget %d", name, budget)
			}
		}
	}
}
