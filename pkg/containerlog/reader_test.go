package containerlog

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/tailer"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// containerdScenario is the output of a kube-apiserver as containerd logs
// it (max_container_log_line_size 16384): events on stdout, one of 100 KiB
// (6 P lines of 16384 bytes and an F line of 4096), klog lines on stderr,
// some of them between the fragments of that event, one of them long
// enough to be cut itself; an empty line; events of exactly 16384 and
// 16385 bytes. It returns the file and the events (the stdout lines).
func containerdScenario(zone *time.Location) (f *file, events [][]byte, fragsOf100K int) {
	c := newClock(zone)
	f = &file{source: "/var/log/pods/kube-system_kube-apiserver-cp1_0f1e/kube-apiserver/0.log", ino: 42}
	add := func(lines [][]byte) {
		for _, l := range lines {
			f.data = append(f.data, l...)
		}
	}
	stdout := func(ev []byte) [][]byte {
		events = append(events, ev)
		return containerdLines(c, "stdout", append(bytes.Clone(ev), '\n'), 16384)
	}
	stderr := func(n int) [][]byte { return containerdLines(c, "stderr", append(klogLine(n), '\n'), 16384) }

	add(stdout(auditEvent("e1", 1200)))
	add(stderr(1))
	big := stdout(auditEvent("e2-100k", 100<<10))
	fragsOf100K = len(big)
	add(big[:3])
	add(stderr(2))
	add(containerdLines(c, "stderr", append(bytes.Repeat([]byte("W"), 20000), '\n'), 16384)) // a long stderr line: P + F
	add(big[3:])
	add(stdout(nil)) // an empty line: "<time> stdout F "
	add(stdout(auditEvent("e3-16384", 16384)))
	add(stderr(3))
	add(stdout(auditEvent("e4-16385", 16385)))
	add(stdout(auditEvent("e5", 700)))
	return f, events, fragsOf100K
}

func TestContainerdFragmentsJoined(t *testing.T) {
	for _, zone := range []*time.Location{time.UTC, time.FixedZone("CET", 3600)} {
		t.Run(zone.String(), func(t *testing.T) {
			f, events, frags := containerdScenario(zone)
			if frags != 7 {
				t.Fatalf("the 100 KiB event took %d physical lines; containerd writes 7", frags)
			}
			phys := f.lines(false, 0)
			src := &fakeSource{lines: phys}
			r := New(src, CRI, tailer.DefaultMaxLineBytes)
			got := readAll(t, r, src)

			var texts [][]byte
			for _, l := range got {
				if len(l.Text) > 0 {
					texts = append(texts, l.Text)
				}
			}
			var want [][]byte
			for _, ev := range events {
				if len(ev) > 0 {
					want = append(want, ev)
				}
			}
			if len(texts) != len(want) {
				t.Fatalf("%d lines with text, want %d:\n%s", len(texts), len(want), describeAll(got))
			}
			for i := range want {
				if !bytes.Equal(texts[i], want[i]) {
					t.Errorf("line %d = %s, want the event of %d bytes", i, describe(tailer.Line{Text: texts[i]}), len(want[i]))
				}
			}
			// Exact positions: e1 at the first line; the stderr line after it
			// a blank with its own position; the 100 KiB event from its first
			// P to its F, the stderr lines among its fragments swallowed.
			if got[0].Start != 0 || got[0].Pos.Offset != phys[0].Pos.Offset || got[0].Size != 1200 {
				t.Errorf("e1 = %s", describe(got[0]))
			}
			if len(got[1].Text) != 0 || got[1].Partial || got[1].Pos != phys[1].Pos {
				t.Errorf("the stderr line = %s, want a blank line at %d", describe(got[1]), phys[1].Pos.Offset)
			}
			big := got[2]
			lastFrag := phys[2+3+1+2+3] // e1, stderr, 3 P, stderr, long stderr (P+F), 3 fragments more
			if big.Start != phys[2].Start || big.Pos != lastFrag.Pos || big.Size != 100<<10 || big.Partial || big.Truncated {
				t.Errorf("100 KiB event = %s, want start %d pos %d", describe(big), phys[2].Start, lastFrag.Pos.Offset)
			}
			if len(got) != 1+1+1+1+1+1+1+1 {
				t.Errorf("%d lines, want 8 (5 events, 2 stderr blanks, the empty line):\n%s", len(got), describeAll(got))
			}
			st := r.Stats()
			if st.Joined != 2 || st.Stderr != 5 || st.Malformed != 0 || st.Lines != 6 || st.Truncated != 0 || st.Unfinished != 0 {
				t.Errorf("stats = %+v", st)
			}
		})
	}
}

// The golden file pins every line of the containerd scenario: position,
// start, size, flags and a digest of the text (go test -update rewrites it).
func TestContainerdGolden(t *testing.T) {
	f, _, _ := containerdScenario(time.UTC)
	src := &fakeSource{lines: f.lines(false, 0)}
	got := readAll(t, New(src, CRI, 64<<10), src)
	var b strings.Builder
	for _, l := range got {
		sum := sha256.Sum256(l.Text)
		head := string(l.Text[:min(len(l.Text), 40)])
		fmt.Fprintf(&b, "start=%d size=%d len=%d pos=%d partial=%v truncated=%v sha256=%s head=%q\n",
			l.Start, l.Size, len(l.Text), l.Pos.Offset, l.Partial, l.Truncated, hex.EncodeToString(sum[:8]), head)
	}
	golden := filepath.Join("testdata", "containerd.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("lines differ from %s (go test -update rewrites it):\ngot:\n%s\nwant:\n%s", golden, b.String(), want)
	}
}

// A checkpoint taken after any line handed on never skips a fragment:
// restarting from it (reading the physical lines from its offset on) gives
// every event not handed on before, whole.
func TestRestartFromAnyCheckpointLosesNothing(t *testing.T) {
	f, events, _ := containerdScenario(time.UTC)
	// Lines not in the format among the fragments too.
	phys := f.lines(false, 0)
	var data []byte
	for i, l := range phys {
		data = append(data, l.Text...)
		data = append(data, '\n')
		if i == 4 || i == 7 {
			data = append(data, "garbage without a time\n"...)
		}
	}
	f.data = data
	phys = f.lines(false, 0)
	src := &fakeSource{lines: phys}
	all := readAll(t, New(src, CRI, 1<<20), src)
	for k := range all {
		ckpt := all[k].Pos
		var rest []tailer.Line
		for _, l := range phys {
			if l.Start >= ckpt.Offset {
				rest = append(rest, l)
			}
		}
		src := &fakeSource{lines: rest}
		after := readAll(t, New(src, CRI, 1<<20), src)
		seen := map[string]bool{}
		for _, l := range append(all[:k+1:k+1], after...) {
			seen[string(l.Text)] = true
		}
		for _, ev := range events {
			if !seen[string(ev)] {
				t.Fatalf("restart from the position of line %d (offset %d) lost the event of %d bytes; lines after the restart:\n%s",
					k, ckpt.Offset, len(ev), describeAll(after))
			}
		}
		if ckpt.Offset != phys[len(phys)-1].Pos.Offset && len(after) == 0 {
			t.Fatalf("restart from line %d gave nothing", k)
		}
	}
}

// io.EOF between any two physical lines (the runtime has not written the
// rest yet) changes nothing: fragments stay pending.
func TestEOFBetweenFragments(t *testing.T) {
	f, _, _ := containerdScenario(time.UTC)
	phys := f.lines(false, 0)
	src := &fakeSource{lines: phys}
	want := readAll(t, New(src, CRI, 1<<20), src)
	eofs := map[int]bool{}
	for i := range phys {
		eofs[i] = true
	}
	src = &fakeSource{lines: phys, eofBefore: eofs}
	r := New(src, CRI, 1<<20)
	got := readAll(t, r, src)
	if describeAll(got) != describeAll(want) {
		t.Fatalf("with io.EOF between lines:\n%s\nwant:\n%s", describeAll(got), describeAll(want))
	}
	if src.waits < len(phys) {
		t.Errorf("Wait reached the source %d times, want %d", src.waits, len(phys))
	}
}

func TestMalformedLinesPassedAsIs(t *testing.T) {
	c := newClock(time.UTC)
	f := &file{source: "/pods/x/c/0.log", ino: 7}
	malformed := []string{
		"no time here",
		"2026-12-06T10:00:00Z stdout X a bad tag",
		"2026-12-06T10:00:00Z stdin F a bad stream",
		"2026-13-06T10:00:00Z stdout F a bad month",
		"2026-12-06 10:00:00Z stdout F a space in the time",
		"",
	}
	for _, m := range malformed {
		f.data = append(f.data, m+"\n"...)
	}
	ev := auditEvent("joined", 40000)
	frags := containerdLines(c, "stdout", append(bytes.Clone(ev), '\n'), 16384)
	f.data = append(f.data, frags[0]...)
	f.data = append(f.data, "in the middle\n"...)
	for _, l := range frags[1:] {
		f.data = append(f.data, l...)
	}
	phys := f.lines(false, 0)
	src := &fakeSource{lines: phys}
	r := New(src, CRI, 1<<20)
	got := readAll(t, r, src)
	if len(got) != len(malformed)+2 {
		t.Fatalf("%d lines:\n%s", len(got), describeAll(got))
	}
	for i, m := range malformed {
		if string(got[i].Text) != m || got[i].Pos != phys[i].Pos || got[i].Start != phys[i].Start {
			t.Errorf("malformed line %d = %s, want %q as it is", i, describe(got[i]), m)
		}
	}
	// The one among the fragments goes out at once, with the position
	// just before the first fragment: a checkpoint there keeps them.
	mid := got[len(malformed)]
	firstFrag := phys[len(malformed)]
	if string(mid.Text) != "in the middle" || mid.Pos.Offset != firstFrag.Start || mid.Pos.Inode != 7 {
		t.Errorf("malformed line among fragments = %s, want its position at %d", describe(mid), firstFrag.Start)
	}
	if j := got[len(got)-1]; !bytes.Equal(j.Text, ev) || j.Pos != phys[len(phys)-1].Pos {
		t.Errorf("joined line = %s", describe(j))
	}
	if st := r.Stats(); st.Malformed != uint64(len(malformed)+1) {
		t.Errorf("stats = %+v", st)
	}
}

// A joined line longer than the limit is cut to it, and memory stays
// bounded by the limit however many fragments follow.
func TestLongJoinedLineCutAndBounded(t *testing.T) {
	c := newClock(time.UTC)
	const limit = 64 << 10
	f := &file{source: "/pods/x/c/0.log", ino: 7}
	ev := auditEvent("huge", 4<<20) // 256 fragments
	for _, l := range containerdLines(c, "stdout", append(bytes.Clone(ev), '\n'), 16384) {
		f.data = append(f.data, l...)
	}
	after := auditEvent("after", 500)
	for _, l := range containerdLines(c, "stdout", append(bytes.Clone(after), '\n'), 16384) {
		f.data = append(f.data, l...)
	}
	phys := f.lines(false, 0)
	src := &fakeSource{lines: phys}
	r := New(src, CRI, limit)
	l, err := r.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !l.Truncated || len(l.Text) != limit || !bytes.Equal(l.Text, ev[:limit]) || l.Size != int64(len(ev)) || l.Partial {
		t.Fatalf("long line = %s", describe(l))
	}
	if c := cap(r.buf); c > 2*limit {
		t.Errorf("join buffer grew to %d bytes for a limit of %d", c, limit)
	}
	l, err = r.Next(context.Background())
	if err != nil || !bytes.Equal(l.Text, after) || l.Truncated {
		t.Fatalf("line after = %s, %v", describe(l), err)
	}
	if st := r.Stats(); st.Truncated != 1 || st.Joined != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// A physical line the tailer cut (longer than its MaxLineBytes) gives a
// line flagged Truncated with the line's full size, in one piece or
// joined.
func TestPhysicalLineCutByTailer(t *testing.T) {
	c := newClock(time.UTC)
	f := &file{source: "/pods/x/c/0.log", ino: 7}
	one := bytes.Repeat([]byte("a"), 300)
	f.data = append(f.data, containerdLines(c, "stdout", append(bytes.Clone(one), '\n'), 16384)[0]...)
	two := bytes.Repeat([]byte("b"), 500)
	for _, l := range containerdLines(c, "stdout", append(bytes.Clone(two), '\n'), 200) {
		f.data = append(f.data, l...)
	}
	phys := f.lines(false, 100) // the tailer cuts at 100 bytes
	src := &fakeSource{lines: phys}
	got := readAll(t, New(src, CRI, 1<<20), src)
	if len(got) != 2 {
		t.Fatalf("%d lines:\n%s", len(got), describeAll(got))
	}
	if l := got[0]; !l.Truncated || l.Size != 300 || !bytes.Equal(l.Text, one[:len(l.Text)]) {
		t.Errorf("line in one piece = %s", describe(l))
	}
	if l := got[1]; !l.Truncated || l.Size != 500 || !bytes.Equal(l.Text, two[:len(l.Text)]) {
		t.Errorf("joined line = %s", describe(l))
	}
}

// The unterminated end of a rotated file (tailer.Line.Partial) ends the
// line it is part of, flagged Partial.
func TestUnterminatedEndOfRotatedFile(t *testing.T) {
	c := newClock(time.UTC)
	f := &file{source: "/pods/x/c/0.log.20261206-100000", ino: 7}
	ev := auditEvent("torn", 20000)
	lines := containerdLines(c, "stdout", append(bytes.Clone(ev), '\n'), 16384)
	f.data = append(f.data, lines[0]...)
	f.data = append(f.data, lines[1][:len(lines[1])-1000]...) // torn: the writer stopped in the middle
	phys := f.lines(true, 0)
	src := &fakeSource{lines: phys}
	r := New(src, CRI, 1<<20)
	got := readAll(t, r, src)
	if len(got) != 1 || !got[0].Partial || !bytes.HasPrefix(ev, got[0].Text) || got[0].Pos != phys[1].Pos {
		t.Fatalf("got:\n%s", describeAll(got))
	}
	// In one piece.
	f.data = lines[1][:len(lines[1])-1000]
	phys = f.lines(true, 0)
	src = &fakeSource{lines: phys}
	got = readAll(t, New(src, CRI, 1<<20), src)
	if len(got) != 1 || !got[0].Partial || !bytes.Contains(ev, got[0].Text) || len(got[0].Text) != 20000-16384-1000+1 {
		t.Fatalf("got:\n%s", describeAll(got))
	}
	if st := r.Stats(); st.Unfinished != 1 {
		t.Errorf("stats = %+v", st)
	}
}

// containerd writes the end of a line being written when kubelet has the
// log reopened to the new file: the fragments join across the rotation.
// A restart of the container (the next <restart>.log) ends a pending line
// instead: its F never comes.
func TestFragmentsAcrossRotationAndRestart(t *testing.T) {
	c := newClock(time.UTC)
	dir := "/var/log/pods/ns_pod_uid/kube-apiserver/"
	ev := auditEvent("across", 40000)
	frags := containerdLines(c, "stdout", append(bytes.Clone(ev), '\n'), 16384) // P P F
	live := &file{source: dir + "0.log", ino: 1, data: frags[0]}
	rotated := &file{source: dir + "0.log.20261206-100000", ino: 1, data: append(bytes.Clone(frags[0]), frags[1]...)}
	next := &file{source: dir + "0.log", ino: 2, data: frags[2]}
	var phys []tailer.Line
	phys = append(phys, live.lines(false, 0)...)
	phys = append(phys, rotated.lines(false, 0)[1:]...) // read after the rotation was seen
	phys = append(phys, next.lines(false, 0)...)

	dead := auditEvent("dead", 30000)
	deadFrags := containerdLines(c, "stdout", dead, 16384) // no newline: the container died, P P
	restart0 := &file{source: dir + "0.log", ino: 2, data: append(bytes.Clone(frags[2]), bytes.Join(deadFrags, nil)...)}
	phys = append(phys, restart0.lines(false, 0)[1:]...)
	fresh := auditEvent("fresh", 100)
	restart1 := &file{source: dir + "1.log", ino: 3, data: containerdLines(c, "stdout", append(bytes.Clone(fresh), '\n'), 16384)[0]}
	phys = append(phys, restart1.lines(false, 0)...)

	src := &fakeSource{lines: phys}
	got := readAll(t, New(src, CRI, 1<<20), src)
	if len(got) != 3 {
		t.Fatalf("%d lines:\n%s", len(got), describeAll(got))
	}
	if l := got[0]; !bytes.Equal(l.Text, ev) || l.Source != dir+"0.log" || l.Start != 0 || l.Pos.Inode != 2 || l.Partial {
		t.Errorf("line across the rotation = %s", describe(l))
	}
	if l := got[1]; !bytes.Equal(l.Text, dead) || !l.Partial || l.Pos.Inode != 2 || l.Pos.Offset != int64(len(restart0.data)) {
		t.Errorf("line of the dead instance = %s", describe(l))
	}
	if l := got[2]; !bytes.Equal(l.Text, fresh) || l.Source != dir+"1.log" {
		t.Errorf("first line of the next instance = %s", describe(l))
	}
}

// conmon (CRI-O) cuts lines wherever a read of the pipe ends, in pieces of
// any size up to 8192 bytes, and stamps times with nanoseconds and an
// offset.
func TestConmonFragments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := newClock(time.FixedZone("", -5*3600))
	f := &file{source: "/pods/x/c/3.log", ino: 9}
	var events [][]byte
	var out []byte
	for i := range 200 {
		ev := auditEvent(fmt.Sprintf("ev-%d", i), 50+rng.IntN(30000))
		events = append(events, ev)
		out = append(out, ev...)
		out = append(out, '\n')
	}
	reads := []int{}
	for range 1000 {
		reads = append(reads, 1+rng.IntN(8192))
	}
	for _, l := range conmonLines(c, "stdout", out, reads) {
		f.data = append(f.data, l...)
		if rng.IntN(4) == 0 {
			f.data = append(f.data, conmonLines(c, "stderr", append(klogLine(rng.IntN(1000)), '\n'), []int{8192})[0]...)
		}
	}
	if !bytes.Contains(f.data, []byte("-05:00 stdout P ")) {
		t.Fatal("no P line in the conmon log")
	}
	src := &fakeSource{lines: f.lines(false, 0)}
	got := readAll(t, New(src, CRI, 1<<20), src)
	var texts [][]byte
	for _, l := range got {
		if len(l.Text) > 0 {
			texts = append(texts, l.Text)
		}
	}
	if len(texts) != len(events) {
		t.Fatalf("%d lines, want %d", len(texts), len(events))
	}
	for i := range events {
		if !bytes.Equal(texts[i], events[i]) {
			t.Fatalf("line %d = %s, want %d bytes", i, describe(tailer.Line{Text: texts[i]}), len(events[i]))
		}
	}
}

func TestDockerJSON(t *testing.T) {
	c := newClock(time.UTC)
	f := &file{source: "/var/lib/docker/containers/abc/abc-json.log", ino: 5}
	var events [][]byte
	add := func(lines [][]byte) {
		for _, l := range lines {
			f.data = append(f.data, l...)
		}
	}
	special := []byte(`{"kind":"Event","auditID":"esc","annotations":{"q":"say \"hi\" <b>&amp;</b> é ✓ 𝄞 \u2028"}}`)
	for i, ev := range [][]byte{auditEvent("small", 300), auditEvent("40k", 40000), special, auditEvent("exact", 16384), nil} {
		events = append(events, ev)
		add(dockerLines(c, "stdout", append(bytes.Clone(ev), '\n')))
		add(dockerLines(c, "stderr", append(klogLine(i), '\n')))
	}
	f.data = append(f.data, `{"log":"with attrs\n","stream":"stdout","attrs":{"tag":["a",1,-2.5e3,true,null,{}]},"time":"2026-12-06T10:00:00.5Z"}`+"\n"...)
	events = append(events, []byte("with attrs"))
	malformed := []string{
		`{"log":"no time\n","stream":"stdout"}`,
		`{"log":"bad stream\n","stream":"stdin","time":"2026-12-06T10:00:00Z"}`,
		`{"log":"cut`,
		`not json at all`,
	}
	for _, m := range malformed {
		f.data = append(f.data, m+"\n"...)
	}
	phys := f.lines(false, 0)
	src := &fakeSource{lines: phys}
	r := New(src, DockerJSON, 1<<20)
	got := readAll(t, r, src)
	var texts []string
	for _, l := range got {
		if len(l.Text) > 0 {
			texts = append(texts, string(l.Text))
		}
	}
	var want []string
	for _, ev := range events {
		if len(ev) > 0 {
			want = append(want, string(ev))
		}
	}
	want = append(want, malformed...)
	if len(texts) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(texts), len(want), describeAll(got))
	}
	for i := range want {
		if texts[i] != want[i] {
			t.Errorf("line %d = %s, want %q", i, describe(tailer.Line{Text: []byte(texts[i])}), want[i][:min(len(want[i]), 80)])
		}
	}
	if st := r.Stats(); st.Joined != 2 || st.Stderr != 5 || st.Malformed != uint64(len(malformed)) {
		t.Errorf("stats = %+v", st)
	}
}

func TestWaitAndErrorsComeFromTheSource(t *testing.T) {
	src := &fakeSource{}
	r := New(src, CRI, 0)
	if err := r.Wait(context.Background()); err != nil || src.waits != 1 {
		t.Fatalf("Wait = %v, source waits %d", err, src.waits)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Next(ctx); err != context.Canceled {
		t.Fatalf("Next after cancel = %v", err)
	}
	if r.maxLine != tailer.DefaultMaxLineBytes {
		t.Fatalf("maxLine = %d", r.maxLine)
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"cri", "docker-json"} {
		var f Format
		if err := f.UnmarshalText([]byte(s)); err != nil || string(f) != s {
			t.Errorf("%q: %v", s, err)
		}
	}
	for _, s := range []string{"", "CRI", "json", "docker"} {
		if _, err := ParseFormat(s); err == nil || !strings.Contains(err.Error(), `"cri"`) {
			t.Errorf("%q: %v", s, err)
		}
	}
}

func TestInstanceOf(t *testing.T) {
	for src, want := range map[string]string{
		"/p/c/0.log":                                "/p/c/0",
		"/p/c/12.log":                               "/p/c/12",
		"/p/c/0.log.20261206-100000":                "/p/c/0",
		"/p/c/0.log.20261206-100000.gz":             "/p/c/0",
		"/var/lib/docker/containers/a/a-json.log":   "/var/lib/docker/containers/a/",
		"/var/lib/docker/containers/a/a-json.log.1": "/var/lib/docker/containers/a/",
		"/var/log/kubernetes/audit/audit.log":       "",
		"":                                          "",
	} {
		if got := instanceOf(src); got != want {
			t.Errorf("instanceOf(%q) = %q, want %q", src, got, want)
		}
	}
}

// Blank lines carry the positions of stderr lines, moving the checkpoint
// past them, only when nothing is pending.
func TestBlankLinesCarryPositionsOnlyWhenNothingPending(t *testing.T) {
	c := newClock(time.UTC)
	f := &file{source: "/p/c/0.log", ino: 1}
	ev := auditEvent("x", 20000)
	frags := containerdLines(c, "stdout", append(bytes.Clone(ev), '\n'), 16384)
	f.data = append(f.data, containerdLines(c, "stderr", append(klogLine(1), '\n'), 16384)[0]...)
	f.data = append(f.data, frags[0]...)
	f.data = append(f.data, containerdLines(c, "stderr", append(klogLine(2), '\n'), 16384)[0]...)
	f.data = append(f.data, frags[1]...)
	f.data = append(f.data, containerdLines(c, "stderr", append(klogLine(3), '\n'), 16384)[0]...)
	phys := f.lines(false, 0)
	src := &fakeSource{lines: phys}
	got := readAll(t, New(src, CRI, 1<<20), src)
	want := []checkpoint.Position{phys[0].Pos, phys[3].Pos, phys[4].Pos}
	if len(got) != len(want) {
		t.Fatalf("got:\n%s", describeAll(got))
	}
	for i := range want {
		if got[i].Pos != want[i] {
			t.Errorf("line %d = %s, want position %d", i, describe(got[i]), want[i].Offset)
		}
	}
	if len(got[0].Text) != 0 || got[0].Partial || len(got[2].Text) != 0 {
		t.Errorf("stderr lines not blank:\n%s", describeAll(got))
	}
}
