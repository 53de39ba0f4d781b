package archives

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var testMTime = time.Date(2026, 12, 6, 12, 20, 56, 0, time.UTC)

func testOptions(t *testing.T) Options {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "audittail")
	if err := os.WriteFile(bin, []byte("\x7fELF a binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	notices := filepath.Join(t.TempDir(), "THIRD_PARTY_NOTICES")
	if err := os.WriteFile(notices, []byte("the notices"), 0o644); err != nil {
		t.Fatal(err)
	}
	return Options{
		Notices: notices, Version: "v0.2.0-3-gabc1234", Arch: "arm64", Binary: bin, RepoRoot: root,
		OutDir: t.TempDir(), MTime: testMTime, Image: "registry.example/ops/audittail:v0.2.0-3-gabc1234",
	}
}

type entry struct {
	mode int64
	data []byte
}

func read(t *testing.T, path string) ([]string, map[string]entry) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header name %q, time %s: want neither", zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names []string
	entries := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || !h.ModTime.Equal(testMTime) {
			t.Errorf("%s: owner %d:%d %q, time %s", h.Name, h.Uid, h.Gid, h.Uname, h.ModTime)
		}
		b, _ := io.ReadAll(tr)
		names = append(names, h.Name)
		entries[h.Name] = entry{h.Mode, b}
	}
	return names, entries
}

func TestBuild(t *testing.T) {
	o := testOptions(t)
	path, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "audittail_v0.2.0-3-gabc1234_linux_arm64.tar.gz" {
		t.Errorf("archive %s", path)
	}
	names, entries := read(t, path)
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %q", names)
	}
	top := "audittail_v0.2.0-3-gabc1234_linux_arm64/"
	for _, n := range names {
		if !strings.HasPrefix(n, top) {
			t.Errorf("%s is outside %s", n, top)
		}
		if strings.HasSuffix(n, "_test.go") || strings.HasSuffix(n, "/go.mod") || strings.HasSuffix(n, "/go.sum") {
			t.Errorf("%s is in the archive", n)
		}
	}
	for n, mode := range map[string]int64{
		"audittail": 0o755, "README.md": 0o644, "LICENSE": 0o644, "examples/config.yaml": 0o644,
		"examples/systemd/audittail.service": 0o644, "examples/kubernetes/daemonset.yaml": 0o644,
		"examples/kubernetes/static-pod-sidecar.yaml": 0o644, "examples/sample-audit.log": 0o644,
		"examples/": 0o755, "THIRD_PARTY_NOTICES": 0o644, "examples/systemd/verify.sh": 0o755,
	} {
		e, ok := entries[top+n]
		if !ok {
			t.Errorf("no %s", n)
			continue
		}
		if e.mode != mode {
			t.Errorf("%s: mode %o, want %o", n, e.mode, mode)
		}
	}
	if got := entries[top+"audittail"].data; string(got) != "\x7fELF a binary" {
		t.Errorf("binary %q", got)
	}
	if got := entries[top+"THIRD_PARTY_NOTICES"].data; string(got) != "the notices" {
		t.Errorf("notices %q", got)
	}
	license, _ := os.ReadFile("../../LICENSE")
	if !bytes.Equal(entries[top+"LICENSE"].data, license) {
		t.Error("LICENSE differs from the repository's")
	}
	imageLine := regexp.MustCompile(`(?m)^\s*image:\s*(\S+)`)
	for _, m := range []string{"daemonset.yaml", "static-pod-sidecar.yaml"} {
		var ours []string
		for _, im := range imageLine.FindAllStringSubmatch(string(entries[top+"examples/kubernetes/"+m].data), -1) {
			if strings.Contains(im[1], "audittail") {
				ours = append(ours, im[1])
			}
		}
		if !slices.Equal(ours, []string{o.Image}) {
			t.Errorf("%s names %q, want %q", m, ours, o.Image)
		}
		// Nothing else changed.
		orig, _ := os.ReadFile("../../examples/kubernetes/" + m)
		back := strings.ReplaceAll(string(entries[top+"examples/kubernetes/"+m].data), o.Image, "X")
		want := regexp.MustCompile(`ghcr\.io/audittail/audittail:[A-Za-z0-9_.-]+`).ReplaceAllString(string(orig), "X")
		if back != want {
			t.Errorf("%s: more than the image changed", m)
		}
	}

	// The same options give the same bytes.
	first, _ := os.ReadFile(path)
	o.OutDir = t.TempDir()
	again, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(again)
	if !bytes.Equal(first, second) {
		t.Error("two builds differ")
	}
}

func TestBuildRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Options){
		"no version":   func(o *Options) { o.Version = "" },
		"no time":      func(o *Options) { o.MTime = time.Time{} },
		"no notices":   func(o *Options) { o.Notices = "" },
		"unknown arch": func(o *Options) { o.Arch = "386" },
		"image digest": func(o *Options) { o.Image = "ghcr.io/audittail/audittail@sha256:00" },
		"not a repo":   func(o *Options) { o.RepoRoot = t.TempDir() },
	} {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t)
			mutate(&o)
			if _, err := Build(o); err == nil {
				t.Fatal("Build succeeded")
			} else {
				t.Log(err)
			}
			if names, _ := os.ReadDir(o.OutDir); len(names) != 0 {
				t.Errorf("wrote %v", names)
			}
		})
	}
}
