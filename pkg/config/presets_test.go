package config

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/audittail/audittail/tailer"
)

var presetNames = []string{"kubeadm", "k3s", "rke2", "openshift", "talos", "kind"}

func TestPresetsOrderAndNames(t *testing.T) {
	var got []string
	for _, p := range Presets() {
		got = append(got, p.Name)
	}
	if !slices.Equal(got, presetNames) {
		t.Fatalf("Presets() names = %v, want %v", got, presetNames)
	}
}

func TestPresetsAreComplete(t *testing.T) {
	for _, p := range Presets() {
		t.Run(p.Name, func(t *testing.T) {
			if len(p.Paths) == 0 {
				t.Fatal("no Paths")
			}
			seen := map[string]bool{}
			for _, path := range p.Paths {
				if !filepath.IsAbs(path) || filepath.Clean(path) != path {
					t.Errorf("path %q is not a clean absolute path", path)
				}
				if !strings.HasSuffix(path, ".log") {
					t.Errorf("path %q does not end in .log", path)
				}
				if seen[path] {
					t.Errorf("path %q listed twice", path)
				}
				seen[path] = true
			}
			if p.PolicyPath != "" && !filepath.IsAbs(p.PolicyPath) {
				t.Errorf("PolicyPath %q is not absolute", p.PolicyPath)
			}
			if strings.TrimSpace(p.Source) == "" {
				t.Error("Source is empty")
			}
			if strings.TrimSpace(p.Rotation) == "" {
				t.Error("Rotation is empty")
			}
			if !p.ByDefault && strings.TrimSpace(p.Enable) == "" {
				t.Error("ByDefault is false but Enable does not say what to set")
			}
		})
	}
}

// TestPresetFacts pins the facts an operator acts on, so that an edit of the
// table that changes one is a deliberate one.
func TestPresetFacts(t *testing.T) {
	byDefault := map[string]bool{"openshift": true, "talos": true}
	for _, p := range Presets() {
		if p.ByDefault != byDefault[p.Name] {
			t.Errorf("%s: ByDefault = %v, want %v", p.Name, p.ByDefault, byDefault[p.Name])
		}
	}
	ocp, err := LookupPreset("openshift")
	if err != nil {
		t.Fatal(err)
	}
	// Four servers, four directories, every file named audit.log: the
	// directory is what tells them apart.
	if len(ocp.Paths) != 4 {
		t.Fatalf("openshift: %d paths, want 4 (kube-apiserver, openshift-apiserver, oauth-apiserver, oauth-server)", len(ocp.Paths))
	}
	dirs := map[string]bool{}
	for _, p := range ocp.Paths {
		dirs[filepath.Dir(p)] = true
	}
	if len(dirs) != len(ocp.Paths) {
		t.Errorf("openshift: paths share a directory: %v", ocp.Paths)
	}
	if kubeadm, _ := LookupPreset("kubeadm"); kubeadm.Paths[0] != tailer.DefaultPath {
		t.Errorf("kubeadm path %q is not tailer.DefaultPath %q, the path audittail's README documents", kubeadm.Paths[0], tailer.DefaultPath)
	}
}

func TestPresetPathsPassTailerValidate(t *testing.T) {
	for _, p := range Presets() {
		for _, path := range p.Paths {
			c := tailer.Config{Path: path}
			c.SetDefaults()
			if err := c.Validate(); err != nil {
				t.Errorf("%s: %s: %v", p.Name, path, err)
			}
			if c.Path != path {
				t.Errorf("%s: SetDefaults changed the path %q to %q", p.Name, path, c.Path)
			}
		}
	}
}

func TestLookupPreset(t *testing.T) {
	for _, name := range presetNames {
		p, err := LookupPreset(name)
		if err != nil {
			t.Fatalf("LookupPreset(%q): %v", name, err)
		}
		if p.Name != name {
			t.Fatalf("LookupPreset(%q) returned %q", name, p.Name)
		}
	}
	for _, name := range []string{"", "k8s", "K3s", "openshift4", " kind"} {
		_, err := LookupPreset(name)
		if err == nil {
			t.Fatalf("LookupPreset(%q) succeeded", name)
		}
		for _, known := range presetNames {
			if !strings.Contains(err.Error(), known) {
				t.Errorf("LookupPreset(%q) error %q does not list %q", name, err, known)
			}
		}
		if !strings.Contains(err.Error(), "\""+name+"\"") {
			t.Errorf("LookupPreset(%q) error %q does not quote the name asked for", name, err)
		}
	}
}

func TestPresetsReturnCopies(t *testing.T) {
	ps := Presets()
	ps[0].Paths[0] = "/changed.log"
	ps[0].Name = "changed"
	p, err := LookupPreset("kubeadm")
	if err != nil {
		t.Fatal(err)
	}
	p.Paths[0] = "/changed-again.log"
	if again := Presets(); again[0].Name != "kubeadm" || again[0].Paths[0] != tailer.DefaultPath {
		t.Fatalf("the table changed through a returned value: %+v", again[0])
	}
}
