package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// A release built twice from the same commit is the same, file for file,
// and holds what the README says.
func TestReleaseReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a release twice")
	}
	var sums [2]string
	for i := range sums {
		dist := t.TempDir()
		err := run([]string{"-repo", "../../..", "-dist", dist, "-version", "v0.1.0", "-revision", "0123456789abcdef0123456789abcdef01234567",
			"-epoch", "1796560856", "release"})
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = string(b)
		if i == 0 {
			var names []string
			for _, l := range strings.Split(strings.TrimSpace(sums[i]), "\n") {
				if !regexp.MustCompile(`^[0-9a-f]{64}  \S+$`).MatchString(l) {
					t.Errorf("SHA256SUMS line %q", l)
				}
				names = append(names, l[66:])
			}
			want := []string{
				"audittail-0.1.0-1.aarch64.rpm", "audittail-0.1.0-1.x86_64.rpm",
				"audittail_0.1.0-1_amd64.deb", "audittail_0.1.0-1_arm64.deb",
				"audittail_v0.1.0_linux_amd64.tar.gz", "audittail_v0.1.0_linux_arm64.tar.gz",
				"audittail_v0.1.0_oci.tar",
			}
			if !slices.Equal(names, want) {
				t.Errorf("SHA256SUMS names %q, want %q", names, want)
			}
			for _, f := range []string{"linux_amd64/audittail", "linux_arm64/audittail", "THIRD_PARTY_NOTICES"} {
				if _, err := os.Stat(filepath.Join(dist, f)); err != nil {
					t.Error(err)
				}
			}
		}
	}
	if sums[0] != sums[1] {
		t.Errorf("two releases differ:\n%s\n%s", sums[0], sums[1])
	}
}

func TestRunRejects(t *testing.T) {
	for _, args := range [][]string{
		{"release"},
		{"-version", "v0.1.0", "-revision", "x", "-epoch", "soon", "release"},
		{"-version", "v0.1.0", "-revision", "x", "-epoch", "1", "deploy"},
		{"-version", "v0.1.0", "-revision", "x", "-epoch", "1"},
	} {
		if err := run(args); err == nil {
			t.Errorf("dist %q succeeded", args)
		}
	}
}
