package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/tls"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/audittail/audittail/build/binaries"
	"github.com/audittail/audittail/build/notices"
	"github.com/audittail/audittail/internal/gelftest"
	cranecmd "github.com/google/go-containerregistry/cmd/crane/cmd"
	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// testCreated is the commit time given to every test build.
var testCreated = time.Date(2026, 12, 6, 12, 20, 56, 0, time.UTC)

const testVersion = "v0.1.0"

var (
	sharedDir string
	build     struct {
		sync.Once
		bins map[string]string
		err  error
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "audittail-image-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testBinaries compiles both binaries once, with the release flags.
func testBinaries(t *testing.T) map[string]string {
	t.Helper()
	build.Do(func() {
		root, err := filepath.Abs("../..")
		if err != nil {
			build.err = err
			return
		}
		build.bins = map[string]string{}
		for _, arch := range binaries.Arches {
			out := filepath.Join(sharedDir, "bin-"+arch, "audittail")
			if build.err = binaries.Compile(binaries.Options{RepoRoot: root, Version: testVersion, Arch: arch, Out: out}); build.err != nil {
				return
			}
			build.bins[arch] = out
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bins
}

func testOptions(t *testing.T, out string) Options {
	return Options{
		Repository: "ghcr.io/audittail/audittail",
		Version:    testVersion,
		Revision:   "0123456789abcdef0123456789abcdef01234567",
		Source:     "https://github.com/audittail/audittail",
		Created:    testCreated,
		Binaries:   testBinaries(t),
		License:    "../../LICENSE",
		Notices:    testNotices(t),
		Out:        out,
	}
}

var notice struct {
	sync.Once
	path string
	err  error
}

// testNotices is THIRD_PARTY_NOTICES, generated once.
func testNotices(t *testing.T) string {
	t.Helper()
	notice.Do(func() {
		root, _ := filepath.Abs("../..")
		var text []byte
		if text, notice.err = notices.Generate(root, "", binaries.Arches); notice.err == nil {
			notice.path = filepath.Join(sharedDir, "THIRD_PARTY_NOTICES")
			notice.err = os.WriteFile(notice.path, text, 0o644)
		}
	})
	if notice.err != nil {
		t.Fatal(notice.err)
	}
	return notice.path
}

var archive struct {
	sync.Once
	path   string
	digest v1.Hash
	err    error
}

// testArchive is the archive of testOptions, built once.
func testArchive(t *testing.T) (string, v1.Hash) {
	t.Helper()
	o := testOptions(t, filepath.Join(sharedDir, "image", "audittail_oci.tar"))
	archive.Do(func() {
		archive.path = o.Out
		archive.digest, archive.err = Build(o)
	})
	if archive.err != nil {
		t.Fatalf("Build: %v", archive.err)
	}
	return archive.path, archive.digest
}

func fileSum(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// Two builds of the same commit give the same bytes; a different commit
// time gives a different index.
func TestReproducible(t *testing.T) {
	first, digest := testArchive(t)
	o := testOptions(t, filepath.Join(t.TempDir(), "again.tar"))
	again, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if again != digest {
		t.Errorf("index digest %s, then %s", digest, again)
	}
	if fileSum(t, first) != fileSum(t, o.Out) {
		t.Error("the two archives differ")
	}
	o.Created = o.Created.Add(time.Second)
	o.Out = filepath.Join(t.TempDir(), "later.tar")
	later, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if later == digest {
		t.Error("a different commit time gave the same index digest: the time is not in the image")
	}
}

// unpack extracts a tar into dir, checking that every entry is owned by
// root, has the given time and comes in sorted order.
func unpack(t *testing.T, r io.Reader, dir string, mtime time.Time) []string {
	t.Helper()
	tr := tar.NewReader(r)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: owner %d:%d (%q:%q), want 0:0", h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(mtime) {
			t.Errorf("%s: time %s, want %s", h.Name, h.ModTime, mtime)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, os.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, os.FileMode(h.Mode)); err != nil {
				t.Fatal(err)
			}
		default:
			t.Errorf("%s: entry type %c", h.Name, h.Typeflag)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("entries not sorted: %q", names)
	}
	return names
}

// openLayout unpacks the archive and returns the layout's directory.
func openLayout(t *testing.T) string {
	t.Helper()
	path, _ := testArchive(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	names := unpack(t, f, dir, testCreated)
	for _, want := range []string{"oci-layout", "index.json", "blobs/", "blobs/sha256/"} {
		if !slices.Contains(names, want) {
			t.Errorf("archive has no %s: %q", want, names)
		}
	}
	return dir
}

func TestIndex(t *testing.T) {
	dir := openLayout(t)
	_, digest := testArchive(t)
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	topManifest, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(topManifest.Manifests) != 1 {
		t.Fatalf("index.json lists %d entries, want the one image index", len(topManifest.Manifests))
	}
	d := topManifest.Manifests[0]
	if d.MediaType != types.OCIImageIndex || d.Digest != digest {
		t.Errorf("index.json entry %s %s, want %s %s", d.MediaType, d.Digest, types.OCIImageIndex, digest)
	}
	for k, want := range map[string]string{keyRefName: "ghcr.io/audittail/audittail:v0.1.0", keyContainerdName: "ghcr.io/audittail/audittail:v0.1.0"} {
		if d.Annotations[k] != want {
			t.Errorf("index.json annotation %s = %q, want %q", k, d.Annotations[k], want)
		}
	}
	idx, err := top.ImageIndex(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Errorf("validate the image index: %v", err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIImageIndex || m.Annotations[keyVersion] != testVersion || m.Annotations[keyLicenses] != "Apache-2.0" {
		t.Errorf("image index %s, annotations %v", m.MediaType, m.Annotations)
	}
	var platforms []string
	for _, md := range m.Manifests {
		if md.Platform == nil {
			t.Fatalf("manifest %s has no platform", md.Digest)
		}
		platforms = append(platforms, md.Platform.String())
		if md.MediaType != types.OCIManifestSchema1 {
			t.Errorf("%s: media type %s", md.Platform, md.MediaType)
		}
		img, err := idx.Image(md.Digest)
		if err != nil {
			t.Fatal(err)
		}
		checkImage(t, img, md.Platform.Architecture)
	}
	if want := []string{"linux/amd64", "linux/arm64"}; !slices.Equal(platforms, want) {
		t.Errorf("platforms %q, want %q", platforms, want)
	}
}

// checkImage checks one platform's image: its config and its only layer.
func checkImage(t *testing.T, img v1.Image, arch string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != arch || !cf.Created.Time.Equal(testCreated) {
		t.Errorf("%s: config %s/%s created %s", arch, cf.OS, cf.Architecture, cf.Created)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/usr/bin/audittail"}) || cf.Config.Cmd != nil || cf.Config.User != "0:0" {
		t.Errorf("%s: entrypoint %q, cmd %q, user %q", arch, cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User)
	}
	if len(cf.Config.Env) != 0 {
		t.Errorf("%s: environment %q, want none", arch, cf.Config.Env)
	}
	wantLabels := map[string]string{
		"org.opencontainers.image.source":   "https://github.com/audittail/audittail",
		"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.version":  "v0.1.0",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  "2026-12-06T12:20:56Z",
		"org.opencontainers.image.title":    "audittail",
	}
	for k, v := range wantLabels {
		if cf.Config.Labels[k] != v {
			t.Errorf("%s: label %s = %q, want %q", arch, k, cf.Config.Labels[k], v)
		}
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%s: %d layers, want 1", arch, len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("%s: layer media type %s", arch, mt)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	root := t.TempDir()
	names := unpack(t, rc, root, testCreated)
	want := []string{"usr/", "usr/bin/", "usr/bin/audittail", "usr/share/", "usr/share/licenses/", "usr/share/licenses/audittail/",
		"usr/share/licenses/audittail/LICENSE", "usr/share/licenses/audittail/THIRD_PARTY_NOTICES"}
	if !slices.Equal(names, want) {
		t.Errorf("%s: layer holds %q, want %q", arch, names, want)
	}
	for _, f := range []struct{ in, from string }{{"LICENSE", "../../LICENSE"}, {"THIRD_PARTY_NOTICES", testNotices(t)}} {
		got, _ := os.ReadFile(filepath.Join(root, "usr/share/licenses/audittail", f.in))
		want, _ := os.ReadFile(f.from)
		if len(want) == 0 || !bytes.Equal(got, want) {
			t.Errorf("%s: %s is not the one given", arch, f.in)
		}
	}
	bin := filepath.Join(root, "usr/bin/audittail")
	if fi, err := os.Stat(bin); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("%s: binary %v %v", arch, fi, err)
	}
	got, _ := os.ReadFile(bin)
	if wantBin, _ := os.ReadFile(testBinaries(t)[arch]); !bytes.Equal(got, wantBin) {
		t.Errorf("%s: the binary in the image is not the one built", arch)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]; f.Machine != machine {
		t.Errorf("%s: the binary is for %s, want %s", arch, f.Machine, machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: the binary is dynamically linked", arch)
		}
	}
}

// rootfs unpacks the amd64 image's layers, in order, into a directory.
func rootfs(t *testing.T) string {
	t.Helper()
	dir := openLayout(t)
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	tm, _ := top.IndexManifest()
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := idx.IndexManifest()
	root := t.TempDir()
	for _, md := range m.Manifests {
		if md.Platform.Architecture != "amd64" {
			continue
		}
		img, err := idx.Image(md.Digest)
		if err != nil {
			t.Fatal(err)
		}
		layers, _ := img.Layers()
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				t.Fatal(err)
			}
			zr, err := gzip.NewReader(rc)
			if err != nil {
				t.Fatal(err)
			}
			unpack(t, zr, root, testCreated)
			rc.Close()
		}
		return root
	}
	t.Fatal("no amd64 image")
	return ""
}

// runner runs the image's binary with the root filesystem as its root:
// chroot(2) when the test runs as root, unshare -r --root when user
// namespaces are allowed, and otherwise the binary directly, with
// SSL_CERT_FILE and SSL_CERT_DIR naming nothing so that, as in the image,
// the system has no CA bundle. path maps a path of the root filesystem to
// the one the binary sees.
type runner struct {
	root string
	how  string
}

func newRunner(t *testing.T, root string) runner {
	t.Helper()
	var tried []string
	for _, how := range []string{"chroot", "unshare"} {
		if how == "chroot" && os.Geteuid() != 0 {
			continue
		}
		r := runner{root, how}
		out, err := r.command("--version").CombinedOutput()
		if err == nil {
			return r
		}
		tried = append(tried, fmt.Sprintf("%s: %v %s", how, err, bytes.TrimSpace(out)))
	}
	t.Logf("cannot run the binary inside its root filesystem (%s): running it outside, with no CA bundle", strings.Join(tried, "; "))
	return runner{root, "direct"}
}

func (r runner) path(p string) string {
	if r.how == "direct" {
		return filepath.Join(r.root, p)
	}
	return p
}

func (r runner) command(args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	switch r.how {
	case "chroot":
		cmd = exec.Command("/usr/bin/audittail", args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: r.root}
		cmd.Dir = "/"
	case "unshare":
		cmd = exec.Command("unshare", append([]string{"-r", "--root=" + r.root, "/usr/bin/audittail"}, args...)...)
	default:
		cmd = exec.Command(filepath.Join(r.root, "usr/bin/audittail"), args...)
	}
	cmd.Env = []string{"SSL_CERT_FILE=/nonexistent/ca.pem", "SSL_CERT_DIR=/nonexistent"}
	return cmd
}

func (r runner) run(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := r.command(args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %q: %v", args, err)
	}
	return string(out), code
}

// The binary runs from the image's root filesystem, and verifies a TLS
// server there: with no CA bundle, the embedded Mozilla roots are used,
// plus the ca_cert given.
func TestRunFromRootFilesystem(t *testing.T) {
	root := rootfs(t)
	r := newRunner(t, root)
	t.Logf("running the binary by %s", r.how)

	out, code := r.run(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "audittail v0.1.0") {
		t.Fatalf("--version: exit %d: %s", code, out)
	}

	pki := gelftest.NewPKI(t)
	srv := gelftest.NewServer(t, gelftest.Options{TLS: pki.ServerTLS(tls.NoClientCert)})
	work := filepath.Join(root, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	sample, err := os.ReadFile("../../examples/sample-audit.log")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "audit.log"), sample, 0o600); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(pki.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"check", "--path", r.path("/work/audit.log"), "--checkpoint", r.path("/work/state/checkpoint.json"),
		"--endpoint", srv.Endpoint(), "--host", "image-test", "--send-test"}

	out, code = r.run(t, append(args, "--ca-cert", r.path("/work/ca.pem"))...)
	roots := regexp.MustCompile(`(?m)^ok +trusted roots +no CA bundle on this system: the (\d+) Mozilla roots embedded in the binary, and ` + regexp.QuoteMeta(r.path("/work/ca.pem")) + `$`)
	mm := roots.FindStringSubmatch(out)
	if code != 0 || mm == nil || !regexp.MustCompile(`(?m)^all \d+ checks passed$`).MatchString(out) {
		t.Fatalf("check with the test CA: exit %d:\n%s", code, out)
	}
	if n := mm[1]; len(n) < 3 {
		t.Errorf("only %s embedded roots", n)
	}
	frames := srv.WaitForCount(t, 1, 10*time.Second)
	var msg map[string]any
	if err := json.Unmarshal(frames[0], &msg); err != nil || msg["host"] != "image-test" {
		t.Errorf("test message %s: %v", frames[0], err)
	}

	// Without the test CA, the embedded roots alone do not trust the test
	// server: verification is on, and nothing is sent.
	out, code = r.run(t, args...)
	if code != 1 || !strings.Contains(out, "certificate signed by unknown authority") {
		t.Errorf("check without the test CA: exit %d:\n%s", code, out)
	}
	if srv.Count() != 1 {
		t.Errorf("server has %d messages, want the 1 of the first check", srv.Count())
	}
}

// podman, where installed, loads the archive and names the image.
func TestPodmanLoad(t *testing.T) {
	podman, err := exec.LookPath("podman")
	if err != nil {
		if os.Getenv("AUDITTAIL_REQUIRE_TOOLS") == "1" {
			t.Fatal("podman not found and AUDITTAIL_REQUIRE_TOOLS=1: apt-get install podman")
		}
		t.Skip("podman not found (apt-get install podman): the archive is not loaded into a container engine; set AUDITTAIL_REQUIRE_TOOLS=1 to make this a failure")
	}
	path, _ := testArchive(t)
	store := t.TempDir()
	base := []string{"--root", filepath.Join(store, "root"), "--runroot", filepath.Join(store, "run"), "--storage-driver", "vfs"}
	pm := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(podman, append(base, args...)...)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+store, "XDG_CONFIG_HOME="+store, "HOME="+store)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	out := pm("load", "-i", path)
	if !strings.Contains(out, "Loaded image: ghcr.io/audittail/audittail:v0.1.0") {
		t.Errorf("podman load:\n%s", out)
	}
	out = pm("image", "inspect", "ghcr.io/audittail/audittail:v0.1.0")
	var inspect []struct {
		Architecture, Os string
		Config           struct {
			Entrypoint []string
			User       string
			Labels     map[string]string
		}
	}
	if err := json.Unmarshal([]byte(out), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect: %v\n%s", err, out)
	}
	got := inspect[0]
	if got.Os != "linux" || got.Architecture != "amd64" || !slices.Equal(got.Config.Entrypoint, []string{"/usr/bin/audittail"}) ||
		got.Config.User != "0:0" || got.Config.Labels["org.opencontainers.image.version"] != "v0.1.0" {
		t.Errorf("podman image inspect: %+v", got)
	}
	// Podman takes a platform from the index: the host's.
	t.Cleanup(func() { exec.Command(podman, append(base, "system", "reset", "--force")...).Run() })
}

func TestBuildRejects(t *testing.T) {
	bins := testBinaries(t)
	for name, mutate := range map[string]func(*Options){
		"no version":       func(o *Options) { o.Version = "" },
		"no time":          func(o *Options) { o.Created = time.Time{} },
		"no binary":        func(o *Options) { o.Binaries = nil },
		"no notices":       func(o *Options) { o.Notices = "" },
		"binaries swapped": func(o *Options) { o.Binaries = map[string]string{"amd64": bins["arm64"], "arm64": bins["amd64"]} },
		"unknown arch":     func(o *Options) { o.Binaries = map[string]string{"riscv64": bins["amd64"]} },
		"dynamic binary":   func(o *Options) { o.Binaries = map[string]string{"amd64": "/bin/sh"} },
	} {
		t.Run(name, func(t *testing.T) {
			o := testOptions(t, filepath.Join(t.TempDir(), "x.tar"))
			mutate(&o)
			if _, err := Build(o); err == nil {
				t.Fatal("Build succeeded")
			} else {
				t.Log(err)
			}
			if _, err := os.Stat(o.Out); !os.IsNotExist(err) {
				t.Errorf("%s written", o.Out)
			}
		})
	}
}

// crane push, given the unpacked archive, pushes the index with both
// platforms to a registry (go-containerregistry's registry, on 127.0.0.1),
// and the registry serves back the same digests.
func TestCranePush(t *testing.T) {
	dir := openLayout(t)
	_, digest := testArchive(t)
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	ref := strings.TrimPrefix(reg.URL, "http://") + "/ops/audittail:v0.1.0"

	push := cranecmd.NewCmdPush(&[]crane.Option{crane.Insecure})
	var out bytes.Buffer
	push.SetOut(&out)
	push.SetErr(&out)
	push.SetArgs([]string{dir, ref})
	if err := push.Execute(); err != nil {
		t.Fatalf("crane push %s %s: %v\n%s", dir, ref, err, out.String())
	}

	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := idx.Digest(); got != digest {
		t.Errorf("the registry has index %s, the archive %s", got, digest)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := remote.Image(r, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: arch}))
		if err != nil {
			t.Fatalf("pull linux/%s: %v", arch, err)
		}
		checkImage(t, img, arch)
	}
}
