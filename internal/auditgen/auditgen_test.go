package auditgen_test

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/audittail/audittail/internal/auditgen"
	"github.com/audittail/audittail/pkg/audit"
)

// gen returns n lines (each with its '\n') of a generator for cfg.
func gen(cfg auditgen.Config, n int) [][]byte {
	g := auditgen.New(cfg)
	lines := make([][]byte, n)
	var buf []byte
	for i := range lines {
		buf = g.Append(buf[:0], int64(i), auditgen.StartTime.Add(time.Duration(i)*time.Millisecond))
		lines[i] = bytes.Clone(buf)
	}
	return lines
}

// checkLine asserts what every line must satisfy and returns the parsed event.
func checkLine(t *testing.T, i int, line []byte, ev *audit.Event) {
	t.Helper()
	if len(line) == 0 || line[len(line)-1] != '\n' || bytes.IndexByte(line[:len(line)-1], '\n') >= 0 {
		t.Fatalf("line %d: not exactly one line ending in newline", i)
	}
	body := line[:len(line)-1]
	if !utf8.Valid(body) {
		t.Fatalf("line %d: invalid UTF-8", i)
	}
	// encoding/json escapes these inside strings, and a JSON line has no other place for them.
	if k := bytes.IndexAny(body, "<>&\u2028\u2029\r\t"); k >= 0 {
		t.Fatalf("line %d: unescaped %q at byte %d: ...%s...", i, body[k], k, body[max(0, k-60):min(len(body), k+20)])
	}
	if !json.Valid(body) {
		t.Fatalf("line %d: invalid JSON", i)
	}
	if err := audit.Parse(body, ev); err != nil {
		t.Fatalf("line %d: audit.Parse: %v\n%.600s", i, err, body)
	}
	if ev.Kind != audit.KindEvent || ev.APIVersion != audit.APIVersionV1 {
		t.Fatalf("line %d: kind/apiVersion %q %q", i, ev.Kind, ev.APIVersion)
	}
	if seq, ok := auditgen.SeqOf(ev.AuditID); !ok || seq != int64(i) {
		t.Fatalf("line %d: SeqOf(%q) = %d, %v", i, ev.AuditID, seq, ok)
	}
	if ev.StageTimestamp.Before(ev.RequestReceivedTimestamp) || ev.StageTimestamp.Sub(ev.RequestReceivedTimestamp) > time.Second {
		t.Fatalf("line %d: timestamps %v %v", i, ev.RequestReceivedTimestamp, ev.StageTimestamp)
	}
	if ev.Level == "" || ev.Verb == "" || ev.RequestURI == "" || len(ev.SourceIPs) == 0 {
		t.Fatalf("line %d: missing level, verb, requestURI or sourceIPs", i)
	}
	if ev.Stage == audit.StageRequestReceived {
		if ev.ResponseStatus != nil || len(ev.Annotations) > 0 || ev.ImpersonatedUser != nil || !ev.StageTimestamp.Equal(ev.RequestReceivedTimestamp) {
			t.Fatalf("line %d: RequestReceived with response data", i)
		}
	} else if ev.ResponseStatus == nil || ev.ResponseStatus.Code == 0 {
		t.Fatalf("line %d: no responseStatus", i)
	}
	if (len(ev.RequestObject) > 0 || len(ev.ResponseObject) > 0) && ev.Level == audit.LevelMetadata {
		t.Fatalf("line %d: body at level Metadata", i)
	}
	if len(ev.ResponseObject) > 0 && ev.Level != audit.LevelRequestResponse {
		t.Fatalf("line %d: responseObject at level %s", i, ev.Level)
	}
}

func sameRef(a, b *audit.ObjectReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Resource == b.Resource && a.Namespace == b.Namespace && a.Name == b.Name &&
		a.APIGroup == b.APIGroup && a.APIVersion == b.APIVersion && a.Subresource == b.Subresource
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

func pct(sorted []int, p float64) int {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]
}

// TestMix parses 20,000 lines of the default configuration with the agent's
// parser and checks the shape of the mix.
func TestMix(t *testing.T) {
	const n = 20000
	cfg := auditgen.Config{}
	lines := gen(cfg, n)

	var (
		evs                                                            = make([]audit.Event, n)
		levels                                                         = map[string]int{}
		codes                                                          = map[int32]int{}
		verbs                                                          = map[string]int{}
		bodySizes                                                      []int
		total                                                          int
		unicodeUser, unicodeUA, unicodeAnn, unicodeName, unicodeBody   int
		imp, ipv4, ipv6, xff, extraCred                                int
		longAnn, psa, forbidReason, watchPairs, deletePairs, execPairs int
		uriLabel, uriRV, uriTimeout, uriWatch                          int
		ids                                                            = map[string]bool{}
	)
	for i, line := range lines {
		ev := &evs[i]
		checkLine(t, i, line, ev)
		total += len(line)
		levels[ev.Level]++
		verbs[ev.Verb]++
		if ids[ev.AuditID] {
			t.Fatalf("line %d: duplicate auditID %s", i, ev.AuditID)
		}
		ids[ev.AuditID] = true
		if ev.ResponseStatus != nil {
			codes[ev.ResponseStatus.Code]++
		}
		for _, b := range [][]byte{ev.RequestObject, ev.ResponseObject} {
			if len(b) > 0 {
				bodySizes = append(bodySizes, len(b))
				if len(b) > 1<<20 {
					t.Fatalf("line %d: body of %d bytes > MaxBodyBytes", i, len(b))
				}
				if hasNonASCII(string(b)) {
					unicodeBody++
				}
			}
		}
		if hasNonASCII(ev.User.Username) || slices.ContainsFunc(ev.User.Groups, hasNonASCII) {
			unicodeUser++
		}
		if hasNonASCII(ev.UserAgent) {
			unicodeUA++
		}
		if ev.ObjectRef != nil && hasNonASCII(ev.ObjectRef.Name) {
			unicodeName++
		}
		for k, v := range ev.Annotations {
			if hasNonASCII(v) {
				unicodeAnn++
			}
			if len(v) >= 2048 {
				longAnn++
			}
			if k == "pod-security.kubernetes.io/audit-violations" {
				psa++
			}
		}
		if ev.ImpersonatedUser != nil {
			imp++
		}
		if len(ev.User.Extra["authentication.kubernetes.io/credential-id"]) > 0 {
			extraCred++
		}
		if len(ev.SourceIPs) > 1 {
			xff++
		}
		for _, ip := range ev.SourceIPs {
			if strings.Contains(ip, ":") {
				ipv6++
			} else {
				ipv4++
			}
		}
		u := ev.RequestURI
		if strings.Contains(u, "labelSelector=") {
			uriLabel++
		}
		if strings.Contains(u, "resourceVersion=") {
			uriRV++
		}
		if strings.Contains(u, "timeout=") {
			uriTimeout++
		}
		if strings.Contains(u, "watch=true") {
			uriWatch++
		}

		if ev.ResponseStatus != nil {
			switch ev.ResponseStatus.Code {
			case 401:
				if ev.User.Username != "" || ev.ObjectRef != nil || ev.Stage != audit.StageResponseStarted || len(ev.Annotations) > 0 {
					t.Fatalf("line %d: 401 should have an empty user, no objectRef, stage ResponseStarted: %s", i, line)
				}
			case 403:
				if ev.Annotations["authorization.k8s.io/decision"] != "forbid" {
					t.Fatalf("line %d: 403 without decision forbid", i)
				}
				if _, ok := ev.Annotations["authorization.k8s.io/reason"]; !ok {
					t.Fatalf("line %d: 403 without reason annotation", i)
				}
				if ev.Annotations["authorization.k8s.io/reason"] != "" {
					forbidReason++
				}
			}
		}
	}

	// Stage pairs: the first line of a long-running request (ResponseStarted)
	// or of a delete logged at RequestReceived is followed by its
	// ResponseComplete line: same request, next seq, same auditID suffix.
	for i := 0; i+1 < n; i++ {
		a, b := &evs[i], &evs[i+1]
		first := (a.Stage == audit.StageResponseStarted && a.ResponseStatus.Code != 401) || a.Stage == audit.StageRequestReceived
		if !first {
			continue
		}
		if b.Stage != audit.StageResponseComplete || a.Verb != b.Verb || a.RequestURI != b.RequestURI ||
			a.User.Username != b.User.Username || !sameRef(a.ObjectRef, b.ObjectRef) ||
			!a.RequestReceivedTimestamp.Equal(b.RequestReceivedTimestamp) || a.AuditID[28:] != b.AuditID[28:] {
			t.Fatalf("line %d/%d: broken stage pair:\n%s%s", i, i+1, lines[i], lines[i+1])
		}
		switch {
		case a.Verb == "watch":
			watchPairs++
		case a.Stage == audit.StageRequestReceived:
			deletePairs++
		case a.ObjectRef != nil && a.ObjectRef.Subresource == "exec":
			execPairs++
		}
		i++
	}

	frac := func(k int) float64 { return float64(k) / n }
	avg := float64(total) / n
	slices.Sort(bodySizes)
	t.Logf("levels: Metadata %.3f Request %.3f RequestResponse %.3f; avg line %.0f B", frac(levels["Metadata"]), frac(levels["Request"]), frac(levels["RequestResponse"]), avg)
	t.Logf("codes: %v", codes)
	t.Logf("verbs: %v", verbs)
	t.Logf("bodies: %d, p50 %d p90 %d p99 %d max %d", len(bodySizes), pct(bodySizes, .5), pct(bodySizes, .9), pct(bodySizes, .99), pct(bodySizes, 1))
	t.Logf("pairs: watch %d delete %d exec %d; impersonation %d; unicode user %d UA %d name %d annotation %d body %d; long annotations %d; PSA %d",
		watchPairs, deletePairs, execPairs, imp, unicodeUser, unicodeUA, unicodeName, unicodeAnn, unicodeBody, longAnn, psa)

	if f := frac(levels["Metadata"]); f < 0.80 || f > 0.90 {
		t.Errorf("Metadata fraction %.3f, want about 0.85", f)
	}
	if f := frac(levels["Request"] + levels["RequestResponse"]); f < 0.10 || f > 0.20 {
		t.Errorf("Request+RequestResponse fraction %.3f, want about 0.15", f)
	}
	if f := frac(levels["RequestResponse"]); f < 0.03 {
		t.Errorf("RequestResponse fraction %.3f, want > 0.03", f)
	}
	if f := frac(codes[200] + codes[201]); f < 0.95 {
		t.Errorf("200/201 fraction %.3f, want > 0.95", f)
	}
	for _, c := range []int32{101, 200, 201, 401, 403, 404, 409, 422, 500} {
		if codes[c] == 0 {
			t.Errorf("no response code %d", c)
		}
	}
	for _, v := range []string{"get", "list", "watch", "update", "patch", "create", "delete"} {
		if verbs[v] == 0 {
			t.Errorf("no verb %s", v)
		}
	}
	if len(bodySizes) == 0 || pct(bodySizes, .5) > 4096 || pct(bodySizes, .5) < 300 || pct(bodySizes, 0) < 100 {
		t.Errorf("body sizes not skewed towards a few hundred bytes: p0 %d p50 %d", pct(bodySizes, 0), pct(bodySizes, .5))
	}
	if avg < 1200 || avg > 2600 { // the tail makes 20k-line averages noisy; TestMillionAverage is strict
		t.Errorf("average line %.0f B", avg)
	}
	for name, k := range map[string]int{
		"watch pairs": watchPairs, "RequestReceived/ResponseComplete pairs": deletePairs, "exec pairs": execPairs,
		"impersonation": imp, "unicode user": unicodeUser, "unicode user agent": unicodeUA, "unicode object name": unicodeName,
		"unicode annotation": unicodeAnn, "unicode body": unicodeBody, "long (>=2 KiB) annotation": longAnn,
		"pod-security audit-violations": psa, "403 with a reason": forbidReason, "IPv4 source": ipv4, "IPv6 source": ipv6,
		"X-Forwarded-For chain": xff, "labelSelector": uriLabel, "resourceVersion": uriRV, "timeout": uriTimeout, "watch=true": uriWatch,
	} {
		if k == 0 {
			t.Errorf("no %s in %d lines", name, n)
		}
	}
	if f := frac(watchPairs * 2); f < 0.05 {
		t.Errorf("watch pair lines %.3f, want > 0.05", f)
	}
	if f := frac(extraCred); f < 0.5 {
		t.Errorf("user.extra credential-id in %.2f of lines, want most", f)
	}
	if f := frac(unicodeUser + unicodeUA + unicodeName); f > 0.1 {
		t.Errorf("unicode in %.2f of lines, want only sometimes", f)
	}
}

// TestHugeLines checks lines padded to HugeLineBytes (64 KiB, 1 in 100).
func TestHugeLines(t *testing.T) {
	const n, huge = 3000, 64 << 10
	lines := gen(auditgen.Config{Seed: 3, HugeLineBytes: huge, HugeEvery: 100}, n)
	var ev audit.Event
	count := 0
	for i, line := range lines {
		checkLine(t, i, line, &ev)
		if len(line) == huge {
			count++
			if ev.Level != audit.LevelRequestResponse || ev.Verb != "list" || !bytes.HasPrefix(ev.ResponseObject, []byte(`{"kind":"PodList"`)) {
				t.Fatalf("line %d: huge line is not a pod list response", i)
			}
		}
	}
	if count < n/100-2 || count > n/100+2 {
		t.Errorf("%d lines of exactly %d bytes in %d, want about %d", count, huge, n, n/100)
	}

	// 10 MiB lines, exact too.
	const tenMiB = 10 << 20
	lines = gen(auditgen.Config{Seed: 4, HugeLineBytes: tenMiB, HugeEvery: 4}, 12)
	count = 0
	for i, line := range lines {
		checkLine(t, i, line, &ev)
		if len(line) == tenMiB {
			count++
		}
	}
	if count < 2 {
		t.Errorf("%d lines of 10 MiB in 12 with HugeEvery 4", count)
	}
}

// TestSmallMaxBody checks that bodies respect a smaller MaxBodyBytes.
func TestSmallMaxBody(t *testing.T) {
	const maxBody = 16 << 10
	lines := gen(auditgen.Config{Seed: 5, MaxBodyBytes: maxBody}, 20000)
	var ev audit.Event
	largest := 0
	for i, line := range lines {
		checkLine(t, i, line, &ev)
		largest = max(largest, len(ev.RequestObject), len(ev.ResponseObject))
	}
	if largest > maxBody || largest < maxBody*9/10 {
		t.Errorf("largest body %d, want <= %d and close to it", largest, maxBody)
	}
}

// TestMillionAverage generates 1,000,000 events of the default configuration
// (in memory, reusing one buffer): average line size, size percentiles, and
// the largest body, which must reach about MaxBodyBytes.
func TestMillionAverage(t *testing.T) {
	if testing.Short() {
		t.Skip("1M events")
	}
	const n = 1_000_000
	const maxBody = 1 << 20
	g := auditgen.New(auditgen.Config{})
	sizes := make([]int, n)
	var total int64
	var buf []byte
	var ev audit.Event
	largestBody, metadata := 0, 0
	start := time.Now()
	for i := range sizes {
		buf = g.Append(buf[:0], int64(i), auditgen.StartTime.Add(time.Duration(i)*time.Millisecond))
		sizes[i] = len(buf)
		total += int64(len(buf))
		if bytes.HasPrefix(buf[56:], []byte(`Metadata"`)) {
			metadata++
		}
		if len(buf) > maxBody*9/10 { // only these can hold a body of about MaxBodyBytes
			if err := audit.Parse(buf, &ev); err != nil {
				t.Fatalf("line %d: %v", i, err)
			}
			largestBody = max(largestBody, len(ev.RequestObject), len(ev.ResponseObject))
			if len(ev.RequestObject) > maxBody || len(ev.ResponseObject) > maxBody {
				t.Fatalf("line %d: body larger than MaxBodyBytes", i)
			}
		}
	}
	elapsed := time.Since(start)
	slices.Sort(sizes)
	avg := float64(total) / n
	t.Logf("1M events: %.1f MB, average %.0f B, Metadata %.3f; p50 %d p90 %d p99 %d p99.9 %d p99.99 %d max %d; largest body %d; %.0f MB/s",
		float64(total)/1e6, avg, float64(metadata)/n, pct(sizes, .5), pct(sizes, .9), pct(sizes, .99), pct(sizes, .999), pct(sizes, .9999), sizes[n-1],
		largestBody, float64(total)/1e6/elapsed.Seconds())
	if avg < 1600 || avg > 1800 {
		t.Errorf("average line %.0f B, want 1,600–1,800", avg)
	}
	if largestBody < maxBody*95/100 {
		t.Errorf("largest body %d, want about MaxBodyBytes (%d)", largestBody, maxBody)
	}
	if med := pct(sizes, .5); med < 900 || med > 1600 {
		t.Errorf("median line %d B, want a Metadata-sized line", med)
	}
}

func TestDeterminism(t *testing.T) {
	a := gen(auditgen.Config{Seed: 7}, 5000)
	b := gen(auditgen.Config{Seed: 7}, 5000)
	c := gen(auditgen.Config{Seed: 8}, 5000)
	differ := 0
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			t.Fatalf("line %d differs for the same seed", i)
		}
		if !bytes.Equal(a[i], c[i]) {
			differ++
		}
	}
	if differ < 4000 {
		t.Errorf("only %d of 5000 lines differ between seeds 7 and 8", differ)
	}
	// Seed 0 is the default, 1.
	d, e := gen(auditgen.Config{}, 100), gen(auditgen.Config{Seed: 1}, 100)
	for i := range d {
		if !bytes.Equal(d[i], e[i]) {
			t.Fatalf("Seed 0 and Seed 1 differ at line %d", i)
		}
	}
}

func TestSeqOf(t *testing.T) {
	g := auditgen.New(auditgen.Config{})
	var ev audit.Event
	for _, seq := range []int64{0, 1, 42, 1<<31 - 1, 1 << 31, 1<<32 - 1, 1 << 32, 1<<47 + 3, 1 << 48, 1<<60 + 9, math.MaxInt64, -1, math.MinInt64} {
		line := g.Append(nil, seq, auditgen.StartTime)
		if err := audit.Parse(line, &ev); err != nil {
			t.Fatal(err)
		}
		if len(ev.AuditID) != 36 {
			t.Fatalf("auditID %q is not UUID shaped", ev.AuditID)
		}
		got, ok := auditgen.SeqOf(ev.AuditID)
		if !ok || got != seq {
			t.Errorf("SeqOf(%q) = %d, %v; want %d", ev.AuditID, got, ok, seq)
		}
		// Any single-character change is rejected or decodes to another seq.
		id := []byte(ev.AuditID)
		for i := range id {
			if id[i] == '-' {
				continue
			}
			orig := id[i]
			id[i] = "0123456789abcdef"[(strings.IndexByte("0123456789abcdef", orig)+1)%16]
			if s, ok := auditgen.SeqOf(string(id)); ok && s == seq && i < 28 {
				t.Errorf("SeqOf accepted %q as %d", id, s)
			}
			id[i] = orig
		}
		if _, ok := auditgen.SeqOf(strings.ToUpper(ev.AuditID)); ok {
			t.Errorf("SeqOf accepted upper case %q", ev.AuditID)
		}
	}
	// Real apiserver auditIDs (from the samples) are not ours.
	for _, id := range []string{"033d17af-082d-4b24-aa22-627752e83d71", "d857fef6-5a24-4889-9597-ffbcb6108444",
		"a362d22b-db3c-4590-9505-23782f12925f", "155b887c-c27c-4fdb-9667-999f74512d0a", "", "not-an-id",
		"00000000-0000-4000-a000-000000000000"} {
		if s, ok := auditgen.SeqOf(id); ok {
			t.Errorf("SeqOf(%q) = %d, true", id, s)
		}
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	const n = 3000
	written, err := auditgen.WriteFile(path, n, auditgen.Config{Seed: 9})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(data)) != written {
		t.Fatalf("WriteFile returned %d, file has %d bytes", written, len(data))
	}
	var joined []byte
	for _, l := range gen(auditgen.Config{Seed: 9}, n) {
		joined = append(joined, l...)
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("WriteFile output differs from Append with the same seed")
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	lines = lines[:len(lines)-1]
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	var ev audit.Event
	var prev time.Time
	for i, line := range lines {
		checkLine(t, i, line, &ev)
		// Every line is stamped at StartTime + i ms, except the second line of a
		// stage pair, which repeats its first line's requestReceivedTimestamp.
		want := auditgen.StartTime.Add(time.Duration(i) * time.Millisecond)
		if !ev.RequestReceivedTimestamp.Equal(want) && !(ev.Stage == audit.StageResponseComplete && ev.RequestReceivedTimestamp.Equal(prev)) {
			t.Fatalf("line %d: requestReceivedTimestamp %v, want %v", i, ev.RequestReceivedTimestamp, want)
		}
		prev = ev.RequestReceivedTimestamp
	}
}

func benchAppend(b *testing.B, cfg auditgen.Config) {
	g := auditgen.New(cfg)
	buf := make([]byte, 0, 4<<20)
	at := auditgen.StartTime
	var total int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf = g.Append(buf[:0], int64(i), at)
		total += int64(len(buf))
		at = at.Add(time.Millisecond)
	}
	b.SetBytes(total / int64(b.N))
	b.ReportMetric(float64(total)/float64(b.N), "B/line")
}

// BenchmarkAppend measures the default mix (MB/s is the generator's output rate).
func BenchmarkAppend(b *testing.B) { benchAppend(b, auditgen.Config{}) }

// BenchmarkAppendHuge adds a 10 MiB line every 10,000 lines.
func BenchmarkAppendHuge(b *testing.B) {
	benchAppend(b, auditgen.Config{HugeLineBytes: 10 << 20})
}

// BenchmarkWriteFile writes 200,000 events to a temporary file.
func BenchmarkWriteFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "audit.log")
	var total int64
	for i := 0; i < b.N; i++ {
		n, err := auditgen.WriteFile(path, 200_000, auditgen.Config{Seed: int64(i + 1)})
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	b.SetBytes(total / int64(b.N))
}
