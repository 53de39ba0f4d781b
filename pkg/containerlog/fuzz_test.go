package containerlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
	"github.com/audittail/audittail/tailer"
)

// refParse is the reference decoder of one physical line, written for
// clarity: the CRI format split with strings.SplitN, Docker's with
// encoding/json. It returns the stream, whether the line is a fragment to
// be continued, its whole text (for CRI as far as the physical line has
// it) and the text's full size.
func refParse(format Format, pl tailer.Line) (stream string, partial bool, text []byte, size int64, ok bool) {
	validTime := func(s string) bool {
		var t time.Time
		return t.UnmarshalText([]byte(s)) == nil
	}
	if format == CRI {
		parts := strings.SplitN(string(pl.Text), " ", 4)
		if len(parts) < 3 || !validTime(parts[0]) || parts[1] != "stdout" && parts[1] != "stderr" {
			return "", false, nil, 0, false
		}
		tag, _, _ := strings.Cut(parts[2], ":")
		if tag != "P" && tag != "F" {
			return "", false, nil, 0, false
		}
		off := len(pl.Text)
		if len(parts) == 4 {
			text = []byte(parts[3])
			off = len(pl.Text) - len(parts[3])
		}
		return parts[1], tag == "P", text, pl.Size - int64(off), true
	}
	if t := bytes.TrimLeft(pl.Text, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return "", false, nil, 0, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(pl.Text, &m) != nil {
		return "", false, nil, 0, false
	}
	str := func(key string, must bool) (string, bool) {
		raw, present := m[key]
		if !present {
			return "", !must
		}
		var s string
		if raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
			return "", false
		}
		return s, true
	}
	log, ok1 := str("log", false)
	stream, ok2 := str("stream", true)
	ts, ok3 := str("time", true)
	if !ok1 || !ok2 || !ok3 || !validTime(ts) || stream != "stdout" && stream != "stderr" {
		return "", false, nil, 0, false
	}
	partial = !strings.HasSuffix(log, "\n")
	if !partial {
		log = log[:len(log)-1]
	}
	return stream, partial, []byte(log), int64(len(log)), true
}

// refRead is the reference Reader: what New(src, format, maxLine) must
// hand on for the physical lines phys, the whole text of a line collected
// first and cut at the end.
func refRead(format Format, phys []tailer.Line, maxLine int) []tailer.Line {
	var out []tailer.Line
	var (
		pending         bool
		text            []byte
		size            int64
		cut             bool
		first           tailer.Line
		before, last    checkpoint.Position
		pendingInstance string
	)
	flush := func(partial bool) {
		l := first
		l.Text, l.Size, l.Pos, l.Partial = text, size, last, partial
		if len(l.Text) > maxLine {
			l.Text = l.Text[:maxLine]
		}
		l.Truncated = cut || l.Size > int64(len(l.Text))
		out = append(out, l)
		pending, text, size, cut = false, nil, 0, false
	}
	for _, pl := range phys {
		stream, partial, t, n, ok := refParse(format, pl)
		if !ok {
			if pending {
				pl.Pos = before
			}
			out = append(out, pl)
			continue
		}
		if inst := instanceOf(pl.Source); pending && inst != "" && pendingInstance != "" && inst != pendingInstance {
			flush(true)
		}
		if stream == "stderr" {
			if !pending {
				out = append(out, tailer.Line{Text: []byte{}, Source: pl.Source, Start: pl.Start, Pos: pl.Pos})
			}
			continue
		}
		if !pending {
			pending, first, before = true, pl, pl.Pos
			first.Text = nil
			before.Offset = pl.Start
			pendingInstance = instanceOf(pl.Source)
		}
		text = append(text, t...)
		size += n
		cut = cut || pl.Truncated
		last = pl.Pos
		if !partial || pl.Partial {
			flush(pl.Partial)
		}
	}
	return out
}

// fuzzLines turns the fuzzer's bytes into physical lines as a tailer
// hands them out: split at "\n", the offsets of each file; a line
// "#rotate" rotates the file (the lines after it come from the renamed
// file, then a new file of the same instance), "#restart" starts the log
// of the container's next instance; an unterminated end is a Partial
// line; lines longer than cut (when cut > 0) are cut and flagged
// Truncated.
func fuzzLines(data []byte, cut int) []tailer.Line {
	const dir = "/var/log/pods/ns_kube-apiserver_uid/kube-apiserver/"
	restart, ino := 0, uint64(1)
	source := func() string { return fmt.Sprintf("%s%d.log", dir, restart) }
	cur := source()
	var start int64
	var out []tailer.Line
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line, partial := data, true
		if i >= 0 {
			line, partial = data[:i], false
			data = data[i+1:]
		} else {
			data = nil
		}
		switch string(line) {
		case "#rotate":
			if cur == source() {
				cur = source() + ".20261206-100000" // seen rotated: the rest of it
			} else {
				cur, start = source(), 0 // the new file
				ino++
			}
			continue
		case "#restart":
			restart++
			cur, start = source(), 0
			ino++
			continue
		}
		l := tailer.Line{Text: line, Source: cur, Start: start, Size: int64(len(line)), Partial: partial}
		end := start + int64(len(line))
		if !partial {
			end++
		}
		l.Pos = checkpoint.Position{Path: cur, Inode: ino, Fingerprint: "fp", FingerprintLen: 2, Offset: end, Size: end}
		if cut > 0 && len(l.Text) > cut {
			l.Text, l.Truncated = l.Text[:cut], true
		}
		out = append(out, l)
		start = end
	}
	return out
}

func fuzzReader(t *testing.T, format Format, data []byte, maxLine uint16, cut uint8, eofEvery uint8) {
	limit := 1 + int(maxLine)%400
	phys := fuzzLines(data, int(cut))
	want := refRead(format, phys, limit)
	src := &fakeSource{lines: phys, eofBefore: map[int]bool{}}
	if eofEvery > 0 {
		for i := 0; i < len(phys); i += int(eofEvery) {
			src.eofBefore[i] = true
		}
	}
	r := New(src, format, limit)
	got := readAll(t, r, src)
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d\ngot:\n%s\nwant:\n%s", len(got), len(want), describeAll(got), describeAll(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if !bytes.Equal(g.Text, w.Text) || g.Source != w.Source || g.Start != w.Start || g.Size != w.Size ||
			g.Pos != w.Pos || g.Partial != w.Partial || g.Truncated != w.Truncated {
			t.Fatalf("line %d = %s\nwant     %s", i, describe(g), describe(w))
		}
	}
}

func FuzzReaderCRI(f *testing.F) {
	c := newClock(time.FixedZone("", 3600))
	var seed []byte
	for _, l := range containerdLines(c, "stdout", []byte(`{"a":"`+strings.Repeat("x", 50)+`"}`+"\n\n"), 16) {
		seed = append(seed, l...)
	}
	seed = append(seed, containerdLines(c, "stderr", append(klogLine(1), '\n'), 30)[0]...)
	f.Add(seed, uint16(40), uint8(0), uint8(0))
	f.Add(seed, uint16(1000), uint8(60), uint8(2))
	var conmon []byte
	for _, l := range conmonLines(c, "stdout", []byte("one\ntwo three\nfour"), []int{5, 3}) {
		conmon = append(conmon, l...)
	}
	f.Add(conmon, uint16(7), uint8(0), uint8(1))
	f.Add([]byte("2026-12-06T10:00:00Z stdout P ab\n#rotate\n2026-12-06T10:00:00Z stdout P cd\n#rotate\n2026-12-06T10:00:00Z stdout F ef\n"+
		"2026-12-06T10:00:00Z stdout P gh\n#restart\n2026-12-06T10:00:00Z stderr F x\n2026-12-06T10:00:00Z stdout F:x ij\n"+
		"garbage\n2026-12-06T10:00:00.5+01:00 stdout P k\nbad\n2026-12-06T10:00:00Z stdout F"), uint16(3), uint8(0), uint8(3))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16, cut uint8, eofEvery uint8) {
		fuzzReader(t, CRI, data, maxLine, cut, eofEvery)
	})
}

func FuzzReaderDockerJSON(f *testing.F) {
	c := newClock(time.UTC)
	var seed []byte
	for _, l := range dockerLines(c, "stdout", []byte(`{"a":"say \"hi\" <&> é `+strings.Repeat("x", 20000)+`"}`+"\n\n")) {
		seed = append(seed, l...)
	}
	seed = append(seed, dockerLines(c, "stderr", append(klogLine(1), '\n'))[0]...)
	f.Add(seed, uint16(100), uint8(0), uint8(0))
	f.Add([]byte(`{"log":"a","stream":"stdout","time":"2026-12-06T10:00:00Z"}`+"\n#rotate\n"+
		`{"log":"\ud83d\ude00\ud800\u00e9\\\"\/\b\f\r\t","stream":"stdout","time":"2026-12-06T10:00:00Z"}`+"\n"+
		`{"log":"b\n","stream":"stdout","time":"2026-12-06T10:00:00Z","log":5}`+"\n"+
		`{"log":7,"log":"c\u000a","stream":"std\u006fut","attrs":{"x":[1,-0.5e+3,true,false,null,"s"]},"time":"2026-12-06T10:00:00Z"}`+"\n"+
		`{"log":"d\n","stream":"stderr","time":"2026-12-06T10:00:00Z"}`+"\n"+
		" {\"stream\":\"stdout\",\"time\":\"2026-12-06T10:00:00Z\"} \n"+
		"{\"log\":\"\xff\\\\n\",\"stream\":\"stdout\",\"time\":\"2026-12-06T10:00:00Z\"}\n"+
		`{"log":"e\n","stream":"stdout","time":"2026-12-06T10:00:00Z"} x`+"\n"), uint16(5), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, maxLine uint16, cut uint8, eofEvery uint8) {
		fuzzReader(t, DockerJSON, data, maxLine, cut, eofEvery)
	})
}
