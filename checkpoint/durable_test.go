package checkpoint

import (
	"os"
	"testing"

	"github.com/rs/zerolog"
)

// Durable is the oldest position a restart may resume from: zero until
// two generations are known, then the one before the last write; after a
// restart, what the previous generation holds.
func TestDurable(t *testing.T) {
	cfg := testConfig(t)
	pos := func(off int64) Position {
		return Position{Path: "/spool/audit.log", Dev: 1, Inode: 2, Fingerprint: "ab", FingerprintLen: 10, Offset: off}
	}
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Durable(); !d.IsZero() {
		t.Fatalf("a first start: Durable %+v, want zero", d)
	}
	for _, c := range []struct{ mark, durable int64 }{{100, -1}, {200, 100}, {300, 200}} {
		s.Mark(pos(c.mark))
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		d := s.Durable()
		switch {
		case c.durable < 0 && !d.IsZero():
			t.Fatalf("after one write: Durable %+v, want zero (the previous generation is unknown)", d)
		case c.durable >= 0 && d != pos(c.durable):
			t.Fatalf("after writing %d: Durable offset %d, want %d", c.mark, d.Offset, c.durable)
		}
	}
	// Marked but not written: Durable does not move.
	s.Mark(pos(400))
	if d := s.Durable(); d != pos(200) {
		t.Fatalf("after a mark without a write: Durable offset %d, want 200", d.Offset)
	}

	// A restart knows both generations at once: 300 current, 200 previous.
	s2, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if d := s2.Durable(); d != pos(200) {
		t.Fatalf("after a restart: Durable offset %d, want 200 (the previous generation)", d.Offset)
	}
	s2.Mark(pos(500))
	if err := s2.Flush(); err != nil {
		t.Fatal(err)
	}
	if d := s2.Durable(); d != pos(300) {
		t.Fatalf("after a restart and a write: Durable offset %d, want 300", d.Offset)
	}

	// The current generation unreadable: the previous one is used, and
	// nothing older than it is known to be safe until the next write.
	if err := os.WriteFile(cfg.Path, []byte("{torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	s3, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if sv := s3.Saved(); !sv.FromPrev || sv.Position != pos(300) {
		t.Fatalf("Saved %+v, want the previous generation at 300", sv)
	}
	if d := s3.Durable(); !d.IsZero() {
		t.Fatalf("resumed from the previous generation: Durable %+v, want zero", d)
	}
	s3.Mark(pos(600))
	if err := s3.Flush(); err != nil {
		t.Fatal(err)
	}
	if d := s3.Durable(); d != pos(300) {
		t.Fatalf("after the next write: Durable offset %d, want 300", d.Offset)
	}
}
