// Command dist builds what a release of audittail is made of, into dist/:
//
//	dist/linux_<arch>/audittail                    the binaries, compiled once (binaries)
//	dist/audittail_<version>_oci.tar               the image, linux/amd64 and linux/arm64 (image)
//	dist/audittail_<deb version>_<arch>.deb, .rpm  the packages (packages)
//	dist/audittail_<version>_linux_<arch>.tar.gz   the archives (archives)
//	dist/SHA256SUMS                                checksums of all of the above but the bare binaries (sums)
//	dist/THIRD_PARTY_NOTICES                       the licences of the code linked into the binary, in all of the above
//
// "release" does all of it. The Makefile runs it with the version from git
// describe and the commit's time (make image, make packages, make release);
// the same commit gives the same files.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/audittail/audittail/build/archives"
	"github.com/audittail/audittail/build/binaries"
	"github.com/audittail/audittail/build/image"
	"github.com/audittail/audittail/build/notices"
	"github.com/audittail/audittail/build/packages"
)

type options struct {
	repo, dist, version, revision, repository, source string
	created                                           time.Time
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "dist:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("dist", flag.ContinueOnError)
	var o options
	var epoch string
	fs.StringVar(&o.repo, "repo", "..", "the repository checkout")
	fs.StringVar(&o.dist, "dist", "../dist", "the output directory")
	fs.StringVar(&o.version, "version", "", "the version (git describe --tags --match 'v[0-9]*' --dirty)")
	fs.StringVar(&o.revision, "revision", "", "the commit (git rev-parse HEAD)")
	fs.StringVar(&epoch, "epoch", os.Getenv("SOURCE_DATE_EPOCH"), "the commit's time in seconds since 1970 (git log -1 --format=%ct); default $SOURCE_DATE_EPOCH")
	fs.StringVar(&o.repository, "repository", "ghcr.io/audittail/audittail", "the image's repository")
	fs.StringVar(&o.source, "source", "https://github.com/audittail/audittail", "the source repository's URL")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: dist [flags] binaries|image|packages|archives|sums|release ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errors.New("no target")
	}
	if o.version == "" || o.revision == "" || epoch == "" {
		return errors.New("-version, -revision and -epoch (or SOURCE_DATE_EPOCH) are required")
	}
	sec, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || sec <= 0 {
		return fmt.Errorf("-epoch %q: not a positive number of seconds", epoch)
	}
	o.created = time.Unix(sec, 0).UTC()
	for _, target := range fs.Args() {
		var err error
		switch target {
		case "binaries":
			err = o.binaries()
		case "image":
			err = o.image()
		case "packages":
			err = o.packages()
		case "archives":
			err = o.archives()
		case "sums":
			err = o.sums()
		case "release":
			for _, step := range []func() error{o.binaries, o.image, o.packages, o.archives, o.sums} {
				if err = step(); err != nil {
					break
				}
			}
		default:
			return fmt.Errorf("unknown target %q", target)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (o options) binary(arch string) string {
	return filepath.Join(o.dist, "linux_"+arch, "audittail")
}

// binaries compiles both architectures. The go command's build cache makes
// a second call cheap, so image, packages and archives can each ask for
// them and still compile once.
func (o options) binaries() error {
	for _, arch := range binaries.Arches {
		out := o.binary(arch)
		if err := binaries.Compile(binaries.Options{RepoRoot: o.repo, Version: o.version, Arch: arch, Out: out}); err != nil {
			return err
		}
		fmt.Println(out)
	}
	return nil
}

// notices writes dist/THIRD_PARTY_NOTICES, which the image, the packages
// and the archives carry, and returns its path.
func (o options) notices() (string, error) {
	text, err := notices.Generate(o.repo, "", binaries.Arches)
	if err != nil {
		return "", err
	}
	p := filepath.Join(o.dist, "THIRD_PARTY_NOTICES")
	if err := os.MkdirAll(o.dist, 0o755); err != nil {
		return "", err
	}
	return p, os.WriteFile(p, text, 0o644)
}

func (o options) imageOptions() image.Options {
	bins := map[string]string{}
	for _, arch := range binaries.Arches {
		bins[arch] = o.binary(arch)
	}
	return image.Options{
		Repository: o.repository, Version: o.version, Revision: o.revision, Source: o.source,
		Created: o.created, Binaries: bins, License: filepath.Join(o.repo, "LICENSE"),
		Notices: filepath.Join(o.dist, "THIRD_PARTY_NOTICES"),
		Out:     filepath.Join(o.dist, "audittail_"+o.version+"_oci.tar"),
	}
}

func (o options) image() error {
	if _, err := o.notices(); err != nil {
		return err
	}
	opts := o.imageOptions()
	digest, err := image.Build(opts)
	if err != nil {
		return err
	}
	fmt.Printf("%s (%s, index %s)\n", opts.Out, opts.Name(), digest)
	return nil
}

func (o options) packages() error {
	notices, err := o.notices()
	if err != nil {
		return err
	}
	for _, arch := range binaries.Arches {
		paths, err := packages.Build(packages.Options{
			Version: o.version, Arch: arch, Binary: o.binary(arch), RepoRoot: o.repo, OutDir: o.dist, MTime: o.created,
			Notices: notices,
		})
		if err != nil {
			return err
		}
		for _, p := range paths {
			fmt.Println(p)
		}
	}
	return nil
}

func (o options) archives() error {
	notices, err := o.notices()
	if err != nil {
		return err
	}
	for _, arch := range binaries.Arches {
		p, err := archives.Build(archives.Options{
			Version: o.version, Arch: arch, Binary: o.binary(arch), RepoRoot: o.repo, OutDir: o.dist,
			MTime: o.created, Image: o.imageOptions().Name(), Notices: notices,
		})
		if err != nil {
			return err
		}
		fmt.Println(p)
	}
	return nil
}

// sums writes SHA256SUMS (the format of sha256sum, checked with
// sha256sum -c SHA256SUMS) for the release files in o.dist: the image
// archives, the packages and the release archives. make release empties
// dist/ first, so that they are those of one version.
func (o options) sums() error {
	entries, err := os.ReadDir(o.dist)
	if err != nil {
		return fmt.Errorf("read %s: %w", o.dist, err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.Type().IsRegular() && !strings.HasPrefix(n, ".") && releaseFile(n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		return fmt.Errorf("%s holds no release file", o.dist)
	}
	var b strings.Builder
	for _, n := range names {
		f, err := os.Open(filepath.Join(o.dist, n))
		if err != nil {
			return err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", n, err)
		}
		fmt.Fprintf(&b, "%s  %s\n", hex.EncodeToString(h.Sum(nil)), n)
	}
	out := filepath.Join(o.dist, "SHA256SUMS")
	if err := os.WriteFile(out+".tmp", []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := os.Rename(out+".tmp", out); err != nil {
		return err
	}
	fmt.Println(out)
	return nil
}

// releaseFile reports whether a file of dist/ belongs in SHA256SUMS.
func releaseFile(name string) bool {
	return strings.HasSuffix(name, ".deb") || strings.HasSuffix(name, ".rpm") ||
		strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, "_oci.tar")
}
