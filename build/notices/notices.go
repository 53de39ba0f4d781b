// Package notices writes THIRD_PARTY_NOTICES: the licence texts of the Go
// toolchain's standard library and of every module linked into the audittail
// binary. The licences of these modules (BSD, MIT, Apache-2.0) ask that their
// notice go with every copy of the binary, so the image, the packages and the
// archives carry this file beside audittail's own LICENSE.
//
// The list comes from the go command (go list -deps of ./cmd/audittail for
// each release architecture), so a new dependency is covered without anyone
// editing a list; a linked module with no licence file fails the build.
package notices

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// mainModule is audittail's own module: its LICENSE is shipped on its own.
const mainModule = "github.com/audittail/audittail"

// licenceFile matches the files of a module's root directory that carry its
// licence terms.
var licenceFile = regexp.MustCompile(`(?i)^(licen[cs]e|copying|notice|patents)(\.(txt|md))?$`)

// Module is one linked module.
type Module struct {
	Path, Version, Dir string
}

// Modules lists the modules linked into ./cmd/audittail for linux on each
// of arches, sorted by path, without the main module.
func Modules(repoRoot, goCmd string, arches []string) ([]Module, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	seen := map[string]Module{}
	for _, arch := range arches {
		cmd := exec.Command(goCmd, "list", "-deps", "-f", "{{with .Module}}{{.Path}}\t{{.Version}}\t{{.Dir}}{{end}}", "./cmd/audittail")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("list the modules of audittail for linux/%s: %w\n%s", arch, err, stderr.Bytes())
		}
		for line := range strings.SplitSeq(string(out), "\n") {
			f := strings.Split(line, "\t")
			if len(f) != 3 || f[0] == mainModule {
				continue
			}
			seen[f[0]] = Module{Path: f[0], Version: f[1], Dir: f[2]}
		}
	}
	mods := make([]Module, 0, len(seen))
	for _, m := range seen {
		mods = append(mods, m)
	}
	slices.SortFunc(mods, func(a, b Module) int { return strings.Compare(a.Path, b.Path) })
	return mods, nil
}

// Generate returns the text of THIRD_PARTY_NOTICES for the binary built from
// repoRoot: the standard library's licence, then each module's licence files.
func Generate(repoRoot, goCmd string, arches []string) ([]byte, error) {
	if goCmd == "" {
		goCmd = "go"
	}
	mods, err := Modules(repoRoot, goCmd, arches)
	if err != nil {
		return nil, err
	}
	goroot, err := exec.Command(goCmd, "env", "GOROOT").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT: %w", err)
	}
	goversion, err := exec.Command(goCmd, "env", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOVERSION: %w", err)
	}
	var b bytes.Buffer
	b.WriteString("audittail is licensed under the Apache License 2.0 (LICENSE). Its binary also\n" +
		"contains the Go standard library and the Go modules below, under the\n" +
		"licences that follow each name.\n")
	all := append([]Module{{Path: "Go standard library", Version: strings.TrimSpace(string(goversion)), Dir: strings.TrimSpace(string(goroot))}}, mods...)
	for _, m := range all {
		files, err := licenceFiles(m.Dir)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", m.Path, m.Version, err)
		}
		fmt.Fprintf(&b, "\n%s\n%s %s\n", strings.Repeat("=", 78), m.Path, m.Version)
		for _, f := range files {
			text, err := os.ReadFile(filepath.Join(m.Dir, f))
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", m.Path, m.Version, err)
			}
			fmt.Fprintf(&b, "\n--- %s ---\n\n%s", f, text)
			if !bytes.HasSuffix(text, []byte("\n")) {
				b.WriteByte('\n')
			}
		}
	}
	return b.Bytes(), nil
}

// licenceFiles names the licence files at the root of dir, sorted.
func licenceFiles(dir string) ([]string, error) {
	if dir == "" {
		return nil, errors.New("the module is not in the module cache (go mod download)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && licenceFile.MatchString(e.Name()) {
			files = append(files, e.Name())
		}
	}
	if !slices.ContainsFunc(files, func(f string) bool {
		return !strings.HasPrefix(strings.ToLower(f), "notice") && !strings.HasPrefix(strings.ToLower(f), "patents")
	}) {
		return nil, fmt.Errorf("no licence file in %s", dir)
	}
	return files, nil
}
