// Package image builds the audittail container image: an OCI image index
// for linux/amd64 and linux/arm64, written as an OCI archive (a tar of an
// OCI image layout, https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
// that podman load, skopeo copy oci-archive:..., ctr image import and, once
// unpacked into a directory, crane push accept.
//
// The image is assembled from an empty image with go-containerregistry, with
// no container daemon and no base image to download. Each platform's image
// has one layer holding /usr/bin/audittail, the static binary, and the
// licences that must go with it (/usr/share/licenses/audittail: LICENSE and
// THIRD_PARTY_NOTICES); nothing else: no shell, no C library, no CA bundle
// (the binary embeds Mozilla's roots and uses them when the system has none). The entrypoint is the
// binary; the image runs as uid 0 and gid 0, as the example manifests'
// securityContext does (runAsUser: 0, runAsGroup: 0, every capability
// dropped but CAP_DAC_READ_SEARCH in the DaemonSet, none in the static pod):
// the audit log is readable by root only (kube-apiserver creates it with mode
// 0600).
//
// The same Options give the same bytes, hence the same index digest: every
// time stored in the image and the archive is Options.Created (the commit
// time), every owner is 0, entries are sorted, and the layer is compressed
// with no name or time in its gzip header.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/audittail/audittail/build/binaries"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where the binary is in the image, and what runs.
const (
	BinaryPath = "/usr/bin/audittail"
	User       = "0:0"
	LicenseDir = "/usr/share/licenses/audittail"
)

// Options say what to build.
type Options struct {
	Repository  string            // e.g. ghcr.io/audittail/audittail: the image is named Repository:Version
	Version     string            // the tag and the version label, e.g. v0.1.0 (git describe)
	Revision    string            // the commit the binaries were built from
	Source      string            // the repository's URL, for the source label
	Created     time.Time         // every time in the image and the archive (the commit time)
	Binaries    map[string]string // static linux binaries by Go architecture: "amd64" and "arm64"
	License     string            // audittail's LICENSE file
	Notices     string            // THIRD_PARTY_NOTICES (build/notices)
	Out         string            // the OCI archive to write
	Description string            // the description label; a default when empty
}

// Label and annotation keys of the OCI image spec (annotations.md).
const (
	keyCreated     = "org.opencontainers.image.created"
	keySource      = "org.opencontainers.image.source"
	keyURL         = "org.opencontainers.image.url"
	keyRevision    = "org.opencontainers.image.revision"
	keyVersion     = "org.opencontainers.image.version"
	keyLicenses    = "org.opencontainers.image.licenses"
	keyTitle       = "org.opencontainers.image.title"
	keyDescription = "org.opencontainers.image.description"
	// keyRefName names the image in an OCI layout's index.json: podman
	// load and skopeo use it as the image's name, ctr image import as its
	// name when io.containerd.image.name is absent.
	keyRefName = "org.opencontainers.image.ref.name"
	// keyContainerdName is the full name ctr image import gives the image
	// (containerd's images/archive package, AnnotationImageName).
	keyContainerdName = "io.containerd.image.name"
)

const defaultDescription = "Ships the Kubernetes audit log to Graylog / OVHcloud Logs Data Platform as GELF, losing no event"

// Name is the image's full name, Repository:Version.
func (o Options) Name() string { return o.Repository + ":" + o.Version }

// Labels are the OCI labels of every image of the index.
func (o Options) Labels() map[string]string {
	d := o.Description
	if d == "" {
		d = defaultDescription
	}
	return map[string]string{
		keyCreated:     o.Created.UTC().Format(time.RFC3339),
		keySource:      o.Source,
		keyURL:         o.Source,
		keyRevision:    o.Revision,
		keyVersion:     o.Version,
		keyLicenses:    "Apache-2.0",
		keyTitle:       "audittail",
		keyDescription: d,
	}
}

func (o Options) check() error {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"Repository", o.Repository}, {"Version", o.Version}, {"Revision", o.Revision},
		{"Source", o.Source}, {"Out", o.Out}, {"License", o.License}, {"Notices", o.Notices},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if o.Created.IsZero() {
		missing = append(missing, "Created")
	}
	if len(missing) > 0 {
		return fmt.Errorf("image options: %s not set", strings.Join(missing, ", "))
	}
	if len(o.Binaries) == 0 {
		return errors.New("image options: no binary")
	}
	for arch, path := range o.Binaries {
		if err := binaries.Check(path, arch); err != nil {
			return err
		}
	}
	return nil
}

// Build writes the OCI archive o.Out (under a temporary name, renamed when
// complete) and returns the digest of the image index.
func Build(o Options) (v1.Hash, error) {
	if err := o.check(); err != nil {
		return v1.Hash{}, err
	}
	idx, err := Index(o)
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("digest of the image index: %w", err)
	}
	work, err := os.MkdirTemp("", "audittail-image-")
	if err != nil {
		return v1.Hash{}, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(work)
	p, err := layout.Write(work, empty.Index)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("write OCI layout: %w", err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		keyRefName:        o.Name(),
		keyContainerdName: o.Name(),
	})); err != nil {
		return v1.Hash{}, fmt.Errorf("write OCI layout: %w", err)
	}
	if err := writeArchive(work, o.Out, o.Created); err != nil {
		return v1.Hash{}, err
	}
	return digest, nil
}

// Index assembles the image index in memory, platforms in a fixed order.
func Index(o Options) (v1.ImageIndex, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	arches := make([]string, 0, len(o.Binaries))
	for a := range o.Binaries {
		arches = append(arches, a)
	}
	slices.Sort(arches)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range arches {
		img, err := platformImage(o, arch)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add: img,
			Descriptor: v1.Descriptor{
				Platform: &v1.Platform{OS: "linux", Architecture: arch},
			},
		})
	}
	ann := o.Labels()
	delete(ann, keyDescription)
	annotated, ok := mutate.Annotations(idx, ann).(v1.ImageIndex)
	if !ok {
		return nil, errors.New("annotate the image index: unexpected type")
	}
	return annotated, nil
}

// platformImage is the image for one architecture: one layer, the config.
func platformImage(o Options, arch string) (v1.Image, error) {
	var files [3][]byte
	for i, p := range []string{o.Binaries[arch], o.License, o.Notices} {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("image for %s: %w", arch, err)
		}
		files[i] = b
	}
	layerTar, err := binaryLayer(files[0], files[1], files[2], o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression))
	if err != nil {
		return nil, fmt.Errorf("layer for %s: %w", arch, err)
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	created := v1.Time{Time: o.Created.UTC()}
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		MediaType: types.OCILayer,
		History: v1.History{
			Created:   created,
			CreatedBy: "audittail build/image: " + BinaryPath + " (" + o.Version + ", linux/" + arch + ")",
		},
	})
	if err != nil {
		return nil, fmt.Errorf("image for %s: %w", arch, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image for %s: %w", arch, err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = arch, "linux", created
	cf.Config = v1.Config{
		Entrypoint: []string{BinaryPath},
		User:       User,
		WorkingDir: "/",
		Labels:     o.Labels(),
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image for %s: %w", arch, err)
	}
	return img, nil
}

// binaryLayer is the uncompressed layer: the binary and the licences, and
// the directories leading to them, owned by root, every time mtime.
func binaryLayer(bin, license, notices []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime = mtime.UTC().Truncate(time.Second)
	lic := strings.TrimPrefix(LicenseDir, "/")
	entries := []struct {
		name string
		mode int64
		data []byte
	}{
		{"usr/", 0o755, nil},
		{"usr/bin/", 0o755, nil},
		{strings.TrimPrefix(BinaryPath, "/"), 0o755, bin},
		{"usr/share/", 0o755, nil},
		{"usr/share/licenses/", 0o755, nil},
		{lic + "/", 0o755, nil},
		{lic + "/LICENSE", 0o644, license},
		{lic + "/THIRD_PARTY_NOTICES", 0o644, notices},
	}
	for _, e := range entries {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(e.data)), ModTime: mtime, Format: tar.FormatUSTAR}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("layer: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	return buf.Bytes(), nil
}

// writeArchive tars the OCI layout in dir into out: entries sorted, owned
// by root, every time mtime, no compression (an OCI archive is a plain tar,
// and its blobs are compressed already).
func writeArchive(dir, out string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read OCI layout: %w", err)
	}
	slices.Sort(paths)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".audittail-image-*.tar")
	if err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	tw := tar.NewWriter(tmp)
	mtime = mtime.UTC().Truncate(time.Second)
	for _, p := range paths {
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return fmt.Errorf("read OCI layout: %w", err)
		}
		h := &tar.Header{Name: rel, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case fi.IsDir():
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, rel+"/", 0o755
		case fi.Mode().IsRegular():
			h.Typeflag, h.Mode, h.Size = tar.TypeReg, 0o644, fi.Size()
		default:
			return fmt.Errorf("read OCI layout: %s is neither a file nor a directory", p)
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("write %s: %w", out, err)
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return fmt.Errorf("read OCI layout: %w", err)
			}
			_, err = io.Copy(tw, f)
			f.Close()
			if err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}
