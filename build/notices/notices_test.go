package notices

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	root, _ := filepath.Abs("../..")
	text, err := Generate(root, "", []string{"amd64", "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	mods, err := Modules(root, "", []string{"amd64", "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, m := range mods {
		paths = append(paths, m.Path)
		if !strings.Contains(string(text), "\n"+m.Path+" "+m.Version+"\n") {
			t.Errorf("no notice for %s %s", m.Path, m.Version)
		}
	}
	// The modules the agent is known to link; a new one is fine, a missing
	// one means the list is not the binary's.
	for _, want := range []string{"github.com/rs/zerolog", "github.com/prometheus/client_golang", "go.yaml.in/yaml/v3",
		"golang.org/x/sys", "golang.org/x/sync", "golang.org/x/crypto/x509roots/fallback"} {
		if !slices.Contains(paths, want) {
			t.Errorf("%s is not listed: %q", want, paths)
		}
	}
	if slices.Contains(paths, mainModule) {
		t.Error("the main module is listed")
	}
	// Test-only dependencies are not linked.
	for _, p := range paths {
		if strings.Contains(p, "goleak") || strings.Contains(p, "lumberjack") {
			t.Errorf("%s is a test dependency", p)
		}
	}
	if !strings.Contains(string(text), "Go standard library go1.") || !strings.Contains(string(text), "--- NOTICE ---") {
		t.Errorf("notices:\n%.2000s", text)
	}
}

func TestLicenceFiles(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "NOTICE"), []byte("n"), 0o644)
	if _, err := licenceFiles(dir); err == nil {
		t.Error("a module with a NOTICE and no licence passed")
	}
	os.WriteFile(filepath.Join(dir, "LICENSE.txt"), []byte("l"), 0o644)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("r"), 0o644)
	files, err := licenceFiles(dir)
	if err != nil || !slices.Equal(files, []string{"LICENSE.txt", "NOTICE"}) {
		t.Errorf("%q %v", files, err)
	}
	if _, err := licenceFiles(""); err == nil {
		t.Error("no directory passed")
	}
}
