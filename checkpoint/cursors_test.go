package checkpoint

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/rs/zerolog"
)

func posOf(path string, ino uint64, off int64) Position {
	return Position{Path: path, Dev: 1, Inode: ino, Fingerprint: "ab", FingerprintLen: 10, Offset: off}
}

// onDisk decodes the current generation.
func onDisk(t *testing.T, path string) state {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// A version 1 checkpoint (one log) goes to the log whose files it names
// when there are several; the first write with several logs upgrades the
// file to version 2, which keeps each log's position and previous one.
func TestCursorsUpgradeVersion1(t *testing.T) {
	cfg := testConfig(t)
	const a, b = "/logs/kube-apiserver/audit.log", "/logs/oauth-apiserver/audit.log"
	old := posOf("/logs/kube-apiserver/audit-2026-12-06T10-00-00.000.log", 7, 300)
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	s.Mark(old)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := onDisk(t, cfg.Path); st.Version != 1 || st.File == nil || *st.File != old {
		t.Fatalf("one log is written as version 1: %+v", st)
	}

	s2, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cs := s2.Cursors([]string{b, a})
	if sv := cs[0].Saved(); sv.Found {
		t.Fatalf("%s got %+v from a checkpoint naming only %s's files", b, sv, a)
	}
	if sv := cs[1].Saved(); !sv.Found || sv.Position != old {
		t.Fatalf("%s: %+v, want the version 1 position", a, sv)
	}
	if err := cs[0].Init(posOf(b, 9, 0)); err != nil { // a log the checkpoint did not know starts fresh
		t.Fatal(err)
	}
	st := onDisk(t, cfg.Path)
	if st.Version != 2 || st.File != nil || st.Files[a] != old || st.Files[b] != posOf(b, 9, 0) {
		t.Fatalf("after the first write with two logs: %+v", st)
	}
	cs[1].Mark(posOf(a, 8, 50))
	cs[0].Mark(posOf(b, 9, 70))
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := ReadAll(cfg.Path)
	if err != nil || all[a].Position != posOf(a, 8, 50) || all[b].Position != posOf(b, 9, 70) {
		t.Fatalf("ReadAll: %+v, %v", all, err)
	}

	// A restart: each log resumes at its position, and knows its previous
	// one at once (the previous generation).
	s3, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cs = s3.Cursors([]string{a, b})
	if cs[0].Position() != posOf(a, 8, 50) || cs[1].Position() != posOf(b, 9, 70) {
		t.Fatalf("resumed at %+v and %+v", cs[0].Position(), cs[1].Position())
	}
	if d := cs[0].Durable(); d != old {
		t.Fatalf("%s's durable position %+v, want %+v (the previous generation)", a, d, old)
	}
	if d := cs[1].Durable(); d != posOf(b, 9, 0) {
		t.Fatalf("%s's durable position %+v, want its first one", b, d)
	}
}

// One log takes a version 1 checkpoint whatever file it names (as before
// several logs existed), and its own entry of a version 2 one; it is
// written back as version 1.
func TestCursorsOneLog(t *testing.T) {
	cfg := testConfig(t)
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	cs := s.Cursors([]string{"/x/audit.log", "/y/audit.log"})
	cs[0].Mark(posOf("/x/audit.log", 1, 10))
	cs[1].Mark(posOf("/y/audit.log", 2, 20))
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	c := s2.Cursors([]string{"/y/audit.log"})[0]
	if sv := c.Saved(); !sv.Found || sv.Position != posOf("/y/audit.log", 2, 20) {
		t.Fatalf("one log out of a version 2 checkpoint: %+v", sv)
	}
	c.Mark(posOf("/y/audit.log", 2, 30))
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	if st := onDisk(t, cfg.Path); st.Version != 1 || *st.File != posOf("/y/audit.log", 2, 30) {
		t.Fatalf("one log written as %+v", st)
	}
	// Moved elsewhere: the one log still takes the version 1 position; the
	// tailer then finds the file by inode and fingerprint, or reports it lost.
	s3, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if sv := s3.Cursors([]string{"/z/audit.log"})[0].Saved(); sv.Position != posOf("/y/audit.log", 2, 30) {
		t.Fatalf("one log, renamed: %+v", sv)
	}
}

func TestNamesFileOf(t *testing.T) {
	for _, c := range []struct {
		file string
		want bool
	}{
		{"/l/audit.log", true},
		{"/l/audit-2026-12-06T10-00-00.000.log", true},
		{"/l/audit-2026-12-06T10-00-00.000.log.gz", true},
		{"/l/audit.log.1", true},
		{"/l/audit.log-20261206.gz", true},
		{"/m/audit.log", false},
		{"/l/other.log", false},
		{"", false},
	} {
		if got := namesFileOf(c.file, "/l/audit.log"); got != c.want {
			t.Errorf("namesFileOf(%q) = %v, want %v", c.file, got, c.want)
		}
	}
}
