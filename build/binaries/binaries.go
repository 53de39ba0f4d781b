// Package binaries compiles the audittail binaries that the image, the
// packages and the release archives are made of, once per architecture.
//
// Every binary is built the same way, so that the same commit gives the same
// bytes on any machine with the same Go toolchain (Go's reproducible builds,
// https://go.dev/blog/rebuild): CGO_ENABLED=0 for a static binary that needs
// no C library (the image has none), -trimpath so that no path of the build
// machine is recorded, -buildid= so that no build ID is, and -s -w to leave
// out the symbol table and DWARF data an operator does not need.
package binaries

import (
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Arches are the architectures audittail is built for: Kubernetes control
// planes run on both.
var Arches = []string{"amd64", "arm64"}

// Options say what to compile.
type Options struct {
	RepoRoot string // the repository checkout (the agent's module)
	Version  string // what audittail --version prints (main.version)
	Arch     string // "amd64" or "arm64"
	Out      string // the binary's path; its directory is created
	Go       string // the go command; "go" when empty
}

// Flags are the go build flags of a release binary, after "go build".
func Flags(version string) []string {
	return []string{"-trimpath", "-ldflags", "-s -w -buildid= -X main.version=" + version}
}

// Compile builds the linux/o.Arch audittail binary into o.Out.
func Compile(o Options) error {
	if o.RepoRoot == "" || o.Out == "" || o.Version == "" {
		return errors.New("compile: RepoRoot, Version and Out must all be set")
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return fmt.Errorf("compile: unsupported architecture %q: want amd64 or arm64", o.Arch)
	}
	if strings.ContainsAny(o.Version, " \t\n'\"") {
		return fmt.Errorf("compile: version %q contains a space or a quote", o.Version)
	}
	if err := os.MkdirAll(filepath.Dir(o.Out), 0o755); err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	gocmd := o.Go
	if gocmd == "" {
		gocmd = "go"
	}
	out, err := filepath.Abs(o.Out)
	if err != nil {
		return fmt.Errorf("compile: %w", err)
	}
	args := append([]string{"build"}, Flags(o.Version)...)
	args = append(args, "-o", out, "./cmd/audittail")
	cmd := exec.Command(gocmd, args...)
	cmd.Dir = o.RepoRoot
	// The instruction set levels are the defaults, named so that a
	// GOAMD64 or GOARM64 of the build machine's environment cannot change
	// what runs on the nodes.
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+o.Arch, "CGO_ENABLED=0", "GOAMD64=v1", "GOARM64=v8.0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build for linux/%s: %w\n%s", o.Arch, err, b)
	}
	return nil
}

// Machines maps each of Arches to the ELF machine of its binaries.
var Machines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64,
	"arm64": elf.EM_AARCH64,
}

// Check fails unless path is a statically linked ELF executable for arch:
// the image has no C library and no dynamic loader, and the packages
// declare no dependency.
func Check(path, arch string) error {
	machine, ok := Machines[arch]
	if !ok {
		return fmt.Errorf("unsupported architecture %q: want amd64 or arm64", arch)
	}
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read binary %s: %w", path, err)
	}
	defer f.Close()
	if f.Machine != machine {
		return fmt.Errorf("binary %s is for %s, not %s", path, f.Machine, machine)
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("binary %s is not an executable (ELF type %s)", path, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	return nil
}
