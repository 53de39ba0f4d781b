package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	c := Config{Path: filepath.Join(t.TempDir(), "state", "checkpoint.json")}
	c.SetDefaults()
	return c
}

func TestMissingFileStartsEmpty(t *testing.T) {
	cfg := testConfig(t)
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if sv := s.Saved(); sv.Found || !sv.Position.IsZero() {
		t.Fatalf("Saved() on a missing file = %+v, want nothing found", sv)
	}
	fi, err := os.Stat(filepath.Dir(cfg.Path))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("checkpoint directory mode %v, want 0700", fi.Mode().Perm())
	}
}

func TestRoundTrip(t *testing.T) {
	cfg := testConfig(t)
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	want := Position{Path: "/var/log/audit.log", Dev: 2049, Inode: 1234, Fingerprint: "abcd", FingerprintLen: 300, Offset: 4567}
	s.Mark(want)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("checkpoint mode %v, want 0600", fi.Mode().Perm())
	}
	before := time.Now().Add(-time.Minute)
	s2, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	sv := s2.Saved()
	got, at, ok := sv.Position, sv.SavedAt, sv.Found
	if !ok || got != want {
		t.Fatalf("Saved() = %+v; want %+v", sv, want)
	}
	if at.Before(before) {
		t.Errorf("saved time %v is too old", at)
	}
	// No temporary files are left behind.
	ents, _ := os.ReadDir(filepath.Dir(cfg.Path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the checkpoint", len(ents))
	}
}

func TestFlushOnlyWhenMoved(t *testing.T) {
	cfg := testConfig(t)
	s, _ := Open(cfg, zerolog.Nop())
	p := Position{Path: "a", Inode: 1, Fingerprint: "f", Offset: 10}
	s.Mark(p)
	for range 3 {
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	s.Mark(p)
	_ = s.Flush()
	if got := s.Stats().Writes; got != 1 {
		t.Fatalf("writes = %d, want 1", got)
	}
	p.Offset = 20
	s.Mark(p)
	_ = s.Flush()
	if got := s.Stats().Writes; got != 2 {
		t.Fatalf("writes = %d, want 2", got)
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"empty", "", "file is empty"},
		{"garbage", "{not json", "decode JSON"},
		{"truncated", `{"version":1,"file":{"path":"a","offset":`, "decode JSON"},
		{"future version", `{"version":99}`, "version 99 is not supported"},
		{"negative offset", `{"version":1,"file":{"path":"a","fingerprint":"x","offset":-1}}`, "negative offset"},
		{"offset without fingerprint", `{"version":1,"file":{"path":"a","offset":5}}`, "offset without a file fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			os.MkdirAll(filepath.Dir(cfg.Path), 0o700)
			if err := os.WriteFile(cfg.Path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(cfg, zerolog.Nop())
			if err == nil {
				t.Fatal("Open succeeded on a bad checkpoint")
			}
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("error %v does not wrap ErrCorrupt", err)
			}
			for _, s := range []string{tc.want, cfg.Path, "mv "} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
}

func TestWriteErrorKeepsDirty(t *testing.T) {
	cfg := testConfig(t)
	s, _ := Open(cfg, zerolog.Nop())
	s.Mark(Position{Path: "a", Inode: 1, Fingerprint: "f", Offset: 1})
	dir := filepath.Dir(cfg.Path)
	// Make the directory unwritable; root ignores permissions, so replace it by a file instead.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(); err == nil {
		t.Fatal("Flush succeeded into a missing directory")
	}
	if s.Stats().Errors != 1 {
		t.Fatalf("errors = %d, want 1", s.Stats().Errors)
	}
	os.Remove(dir)
	os.MkdirAll(dir, 0o700)
	if err := s.Flush(); err != nil {
		t.Fatalf("retry after the directory came back: %v", err)
	}
	s2, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if p := s2.Saved().Position; p.Offset != 1 {
		t.Fatalf("offset %d after retry, want 1", p.Offset)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"version":1,"updated":"2026-11-21T10:00:00Z","file":{"path":"/a","dev":1,"inode":2,"fingerprint":"ab","fingerprint_len":3,"offset":4}}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(``))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"version":2,"updated":"2026-11-21T10:00:00Z","files":{"/a/audit.log":{"path":"/a/audit.log","dev":1,"inode":2,"fingerprint":"ab","fingerprint_len":3,"offset":4},"/b/audit.log":{"path":"","dev":0,"inode":0,"offset":0}}}`))
	f.Add([]byte(`{"version":2,"file":{"path":"/a","offset":0}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := decode(b)
		if err != nil {
			return
		}
		switch {
		case st.Version == 1 && st.Files != nil, st.Version == 2 && st.File != nil:
			t.Fatalf("accepted version %d with the other version's key", st.Version)
		case st.Version != 1 && st.Version != 2:
			t.Fatalf("accepted version %d", st.Version)
		}
		bad := func(p Position) bool { return p.Offset < 0 || (p.Offset > 0 && p.Fingerprint == "") }
		if st.File != nil && bad(*st.File) {
			t.Fatalf("accepted invalid position %+v", *st.File)
		}
		for k, p := range st.Files {
			if bad(p) {
				t.Fatalf("accepted invalid position of %s: %+v", k, p)
			}
		}
	})
}

func TestInitRecordsAStartWithoutFile(t *testing.T) {
	cfg := testConfig(t)
	s, _ := Open(cfg, zerolog.Nop())
	if s.Saved().Found {
		t.Fatal("Existed on first start")
	}
	if err := s.Init(Position{}); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	sv := s2.Saved()
	if !sv.Position.IsZero() || sv.SavedAt.IsZero() || !sv.Found {
		t.Fatalf("after Init with no file: %+v", sv)
	}
}

// writeTwice leaves generation 1 in .prev and generation 2 current.
func writeTwice(t *testing.T, cfg Config) (first, second Position) {
	t.Helper()
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	first = Position{Path: "/a", Inode: 7, Fingerprint: "f", FingerprintLen: 1, Offset: 100}
	second = first
	second.Offset = 200
	for _, p := range []Position{first, second} {
		s.Mark(p)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	return first, second
}

func loadedOffset(t *testing.T, cfg Config) int64 {
	t.Helper()
	s, err := Open(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	p := s.Saved().Position
	if p.IsZero() {
		t.Fatal("no position loaded")
	}
	return p.Offset
}

func TestPreviousGenerationKept(t *testing.T) {
	cfg := testConfig(t)
	first, second := writeTwice(t, cfg)
	if got := loadedOffset(t, cfg); got != second.Offset {
		t.Fatalf("current offset %d, want %d", got, second.Offset)
	}
	st, found, err := load(prevPath(cfg.Path))
	if err != nil || !found || st.File.Offset != first.Offset {
		t.Fatalf("previous generation: %+v found %v err %v", st.File, found, err)
	}
}

func TestCrashRecovery(t *testing.T) {
	for _, tc := range []struct {
		name  string
		crash func(t *testing.T, path string) // what a crash or power cut left behind
	}{
		{"between the two renames", func(t *testing.T, path string) {
			os.Remove(path)
			os.WriteFile(path+".tmp-123", []byte(`{"version":1,"file":{"path":"/a","fingerprint":"f","offset":300}}`), 0o600)
		}},
		{"zero-length current file", func(t *testing.T, path string) { os.WriteFile(path, nil, 0o600) }},
		{"torn current file", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			os.WriteFile(path, b[:len(b)/2], 0o600)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			first, _ := writeTwice(t, cfg)
			tc.crash(t, cfg.Path)
			if got := loadedOffset(t, cfg); got != first.Offset {
				t.Fatalf("offset %d, want the previous generation's %d", got, first.Offset)
			}
			if tmps, _ := filepath.Glob(cfg.Path + ".tmp-*"); len(tmps) != 0 {
				t.Fatalf("temporary files left: %v", tmps)
			}
		})
	}
	t.Run("current missing, previous unreadable", func(t *testing.T) {
		cfg := testConfig(t)
		writeTwice(t, cfg)
		os.Remove(cfg.Path)
		os.WriteFile(prevPath(cfg.Path), []byte("{"), 0o600)
		if _, err := Open(cfg, zerolog.Nop()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Open: %v; want ErrCorrupt rather than a silent fresh start", err)
		}
	})
	t.Run("both generations unreadable", func(t *testing.T) {
		cfg := testConfig(t)
		writeTwice(t, cfg)
		os.WriteFile(cfg.Path, []byte("{"), 0o600)
		os.WriteFile(prevPath(cfg.Path), nil, 0o600)
		_, err := Open(cfg, zerolog.Nop())
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), cfg.Path) {
			t.Fatalf("Open: %v", err)
		}
	})
}

// TestRead: Read sees what Open sees, falls back to the previous generation
// the same way, and changes nothing on disk.
func TestRead(t *testing.T) {
	cfg := testConfig(t)
	if got, err := Read(cfg.Path); err != nil || got.Found {
		t.Fatalf("Read of a missing checkpoint: %+v, %v", got, err)
	}
	if _, err := os.Stat(filepath.Dir(cfg.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Read created the directory: %v", err)
	}
	first, second := writeTwice(t, cfg)
	got, err := Read(cfg.Path)
	if err != nil || !got.Found || got.FromPrev || got.Position != second || got.SavedAt.IsZero() {
		t.Fatalf("Read: %+v, %v; want %+v", got, err, second)
	}
	tmp := cfg.Path + ".tmp-42"
	os.WriteFile(tmp, []byte("{"), 0o600)
	os.WriteFile(cfg.Path, []byte("{"), 0o600) // torn
	got, err = Read(cfg.Path)
	if err != nil || !got.FromPrev || got.Position != first {
		t.Fatalf("Read with a torn current generation: %+v, %v; want the previous %+v", got, err, first)
	}
	if _, err := os.Stat(tmp); err != nil {
		t.Fatalf("Read removed a temporary file: %v", err)
	}
	os.WriteFile(prevPath(cfg.Path), nil, 0o600)
	if _, err := Read(cfg.Path); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), cfg.Path) {
		t.Fatalf("Read with both generations unreadable: %v", err)
	}
}

// TestRunWritesOnlyWhenMoved runs the writer on fake time: no write while
// the position does not move, one write per FlushInterval however many
// marks come in it, and a mark after a quiet spell is written FlushInterval
// later.
func TestRunWritesOnlyWhenMoved(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := Config{Path: filepath.Join(t.TempDir(), "ckpt.json"), FlushInterval: time.Second}
		s, err := Open(cfg, zerolog.Nop())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Run(ctx) }()

		time.Sleep(10 * time.Second)
		synctest.Wait()
		if w := s.Stats().Writes; w != 0 {
			t.Fatalf("%d writes with nothing marked", w)
		}
		p := Position{Path: "/a", Inode: 1, Fingerprint: "f", FingerprintLen: 1}
		for i := range 50 { // 2.5 s of marks, every 50 ms
			p.Offset = int64(i + 1)
			s.Mark(p)
			time.Sleep(50 * time.Millisecond)
		}
		synctest.Wait()
		if w := s.Stats().Writes; w < 2 || w > 3 {
			t.Fatalf("%d writes for 2.5 s of marks, want one per second", w)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		w := s.Stats().Writes
		if got, err := Read(cfg.Path); err != nil || got.Position != p {
			t.Fatalf("on disk %+v, %v; want the last mark %+v", got.Position, err, p)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if s.Stats().Writes != w {
			t.Fatalf("writes went on without marks: %d then %d", w, s.Stats().Writes)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Run returned %v", err)
		}
	})
}
