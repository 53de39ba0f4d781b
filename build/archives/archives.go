// Package archives builds the release archives,
// audittail_<version>_linux_<arch>.tar.gz: the binary, the README, the
// licence, the third-party notices and the examples, in a directory of the same name as the archive.
//
// The examples are the ones tracked by git (without the Go module that tests
// them), so that what is in the archive
// does not depend on the files lying around the checkout; in the Kubernetes
// manifests, the image is renamed to the one the release builds
// (Options.Image), so that the manifests of an archive run that archive's
// version.
//
// The same Options give the same bytes: entries sorted, owned by root, every
// time Options.MTime, a gzip header with no name and no time.
package archives

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ManifestRepository is the image repository the manifests of
// examples/kubernetes name.
const ManifestRepository = "ghcr.io/audittail/audittail"

// Options say what to archive.
type Options struct {
	Version  string    // e.g. v0.1.0 (git describe)
	Arch     string    // "amd64" or "arm64"
	Binary   string    // the static linux/<Arch> binary
	RepoRoot string    // the git checkout the README, LICENSE and examples/ come from
	OutDir   string    // where the archive is written
	MTime    time.Time // every time in the archive (the commit time)
	Notices  string    // THIRD_PARTY_NOTICES (build/notices), put beside LICENSE
	// Image is the image the manifests of the archive name, e.g.
	// ghcr.io/audittail/audittail:v0.1.0: every "image: ManifestRepository:<tag>"
	// line of examples/kubernetes is rewritten to it.
	Image string
}

// Name is the archive's file name, without directory.
func (o Options) Name() string {
	return fmt.Sprintf("audittail_%s_linux_%s.tar.gz", o.Version, o.Arch)
}

// Build writes the archive into o.OutDir (under a temporary name, renamed
// when complete) and returns its path.
func Build(o Options) (string, error) {
	if o.Version == "" || o.Binary == "" || o.RepoRoot == "" || o.OutDir == "" || o.Image == "" || o.Notices == "" || o.MTime.IsZero() {
		return "", errors.New("archive options: Version, Binary, RepoRoot, OutDir, Image, Notices and MTime must all be set")
	}
	if o.Arch != "amd64" && o.Arch != "arm64" {
		return "", fmt.Errorf("archive options: unsupported architecture %q: want amd64 or arm64", o.Arch)
	}
	if !strings.Contains(o.Image, ":") || strings.Contains(o.Image, "@") {
		return "", fmt.Errorf("archive options: image %q is not repository:tag", o.Image)
	}
	docs, err := tracked(o.RepoRoot, "README.md", "LICENSE", "examples")
	if err != nil {
		return "", err
	}
	top := strings.TrimSuffix(o.Name(), ".tar.gz")
	files := map[string]file{}
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return "", fmt.Errorf("read binary: %w", err)
	}
	files["audittail"] = file{data: bin, mode: 0o755}
	notices, err := os.ReadFile(o.Notices)
	if err != nil {
		return "", fmt.Errorf("read notices: %w", err)
	}
	files["THIRD_PARTY_NOTICES"] = file{data: notices, mode: 0o644}
	imageLine := regexp.MustCompile(`(?m)^(\s*-?\s*image:\s*)` + regexp.QuoteMeta(ManifestRepository) + `:[A-Za-z0-9_.-]+`)
	for _, rel := range docs {
		data, err := os.ReadFile(filepath.Join(o.RepoRoot, rel))
		if err != nil {
			return "", fmt.Errorf("read %s: %w", rel, err)
		}
		if strings.HasPrefix(rel, "examples/kubernetes/") && strings.HasSuffix(rel, ".yaml") {
			data = imageLine.ReplaceAll(data, []byte("${1}"+o.Image))
		}
		mode := int64(0o644)
		if fi, err := os.Stat(filepath.Join(o.RepoRoot, rel)); err == nil && fi.Mode()&0o111 != 0 {
			mode = 0o755 // examples/systemd/verify.sh
		}
		files[rel] = file{data: data, mode: mode}
	}
	out := filepath.Join(o.OutDir, o.Name())
	if err := write(out, top, files, o.MTime); err != nil {
		return "", err
	}
	return out, nil
}

type file struct {
	data []byte
	mode int64
}

// tracked lists the files git tracks under the given paths, sorted.
func tracked(root string, paths ...string) ([]string, error) {
	cmd := exec.Command("git", append([]string{"-C", root, "ls-files", "-z", "--"}, paths...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the files git tracks in %s: %w: %s", root, err, strings.TrimSpace(stderr.String()))
	}
	var files []string
	for f := range strings.SplitSeq(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	files = slices.DeleteFunc(files, func(f string) bool {
		// examples/ is also the module of the manifests' tests: not for operators.
		b := path.Base(f)
		return strings.HasSuffix(b, "_test.go") || b == "go.mod" || b == "go.sum"
	})
	if !slices.Contains(files, "LICENSE") || !slices.Contains(files, "README.md") {
		return nil, fmt.Errorf("%s: README.md or LICENSE is not tracked by git", root)
	}
	slices.Sort(files)
	return files, nil
}

// write writes the tar.gz: the top directory, then every file and the
// directories leading to it, in sorted order.
func write(out, top string, files map[string]file, mtime time.Time) error {
	mtime = mtime.UTC().Truncate(time.Second)
	names := make([]string, 0, len(files))
	dirs := map[string]bool{top + "/": true}
	for n := range files {
		names = append(names, top+"/"+n)
		for d := path.Dir(n); d != "."; d = path.Dir(d) {
			dirs[top+"/"+d+"/"] = true
		}
	}
	for d := range dirs {
		names = append(names, d)
	}
	slices.Sort(names)

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, n := range names {
		h := &tar.Header{Name: n, ModTime: mtime, Format: tar.FormatPAX}
		var data []byte
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode = tar.TypeDir, 0o755
		} else {
			f := files[strings.TrimPrefix(n, top+"/")]
			h.Typeflag, h.Mode, h.Size, data = tar.TypeReg, f.mode, int64(len(f.data)), f.data
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
		if _, err := tw.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return writeFile(out, buf.Bytes())
}

// writeFile writes data to path under a temporary name and renames it.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
