package packages

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/build/binaries"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// testMTime is the time given to every test build.
var testMTime = time.Date(2026, 12, 6, 12, 20, 56, 0, time.UTC)

// keptWarnings are the lintian warnings the .deb is allowed to have, each
// with the reason it is kept. A warning not listed here fails the test, and
// so does a listed one that lintian no longer reports.
var keptWarnings = map[string]string{
	"no-manual-page":                    "audittail has no manual page; --help and the README document it",
	"initial-upload-closes-no-bugs":     "the package is not uploaded to Debian, so there is no ITP bug to close",
	"maintainer-script-calls-systemctl": "the scripts serve the .rpm too, where deb-systemd-helper/deb-systemd-invoke do not exist",
	"non-standard-dir-perm":             "/var/lib/audittail holds the checkpoint and is 0700 like the unit's StateDirectoryMode=",
}

// expectedDebEntries are all the entries of the .deb's data.tar: path, type
// and mode.
var expectedDebEntries = map[string]tarEntry{
	"./etc/":                      {tar.TypeDir, 0o755},
	"./etc/audittail/":            {tar.TypeDir, 0o755},
	"./etc/audittail/config.yaml": {tar.TypeReg, 0o644},
	"./usr/":                      {tar.TypeDir, 0o755},
	"./usr/bin/":                  {tar.TypeDir, 0o755},
	"./usr/bin/audittail":         {tar.TypeReg, 0o755},
	"./usr/lib/":                  {tar.TypeDir, 0o755},
	"./usr/lib/systemd/":          {tar.TypeDir, 0o755},
	"./usr/lib/systemd/system/":   {tar.TypeDir, 0o755},
	"./usr/lib/systemd/system/audittail.service":    {tar.TypeReg, 0o644},
	"./usr/lib/sysusers.d/":                         {tar.TypeDir, 0o755},
	"./usr/lib/sysusers.d/audittail.conf":           {tar.TypeReg, 0o644},
	"./usr/share/":                                  {tar.TypeDir, 0o755},
	"./usr/share/doc/":                              {tar.TypeDir, 0o755},
	"./usr/share/doc/audittail/":                    {tar.TypeDir, 0o755},
	"./usr/share/doc/audittail/README.md":           {tar.TypeReg, 0o644},
	"./usr/share/doc/audittail/THIRD_PARTY_NOTICES": {tar.TypeReg, 0o644},
	"./usr/share/doc/audittail/changelog.Debian.gz": {tar.TypeReg, 0o644},
	"./usr/share/doc/audittail/copyright":           {tar.TypeReg, 0o644},
	"./usr/share/lintian/":                          {tar.TypeDir, 0o755},
	"./usr/share/lintian/overrides/":                {tar.TypeDir, 0o755},
	"./usr/share/lintian/overrides/audittail":       {tar.TypeReg, 0o644},
	"./var/":               {tar.TypeDir, 0o755},
	"./var/lib/":           {tar.TypeDir, 0o755},
	"./var/lib/audittail/": {tar.TypeDir, 0o700},
}

// expectedRPMFiles are all the files of the .rpm, as rpm -qp --qf
// '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' lists them.
var expectedRPMFiles = []string{
	"drwxr-xr-x root root /etc/audittail",
	"-rw-r--r-- root root /etc/audittail/config.yaml",
	"-rwxr-xr-x root root /usr/bin/audittail",
	"-rw-r--r-- root root /usr/lib/systemd/system/audittail.service",
	"-rw-r--r-- root root /usr/lib/sysusers.d/audittail.conf",
	"drwxr-xr-x root root /usr/share/doc/audittail",
	"-rw-r--r-- root root /usr/share/doc/audittail/README.md",
	"drwxr-xr-x root root /usr/share/licenses/audittail",
	"-rw-r--r-- root root /usr/share/licenses/audittail/LICENSE",
	"-rw-r--r-- root root /usr/share/licenses/audittail/THIRD_PARTY_NOTICES",
	"drwx------ root root /var/lib/audittail",
}

type tarEntry struct {
	typ  byte
	mode int64
}

// sharedDir holds the binaries and packages several tests share; TestMain
// removes it.
var sharedDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "audittail-packages-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sharedDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// once is a result computed by the first test that needs it.
type once struct {
	sync.Once
	paths []string
	err   error
}

var (
	builtBinaries = map[string]*once{"amd64": {}, "arm64": {}}
	packages      once // the amd64 packages
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// binary returns the static linux/arch audittail binary, built once with the
// release flags.
func binary(t *testing.T, arch string) string {
	t.Helper()
	b := builtBinaries[arch]
	b.Do(func() {
		out := filepath.Join(sharedDir, "bin-"+arch, "audittail")
		b.err = binaries.Compile(binaries.Options{RepoRoot: repoRoot(t), Version: "v0.1.0", Arch: arch, Out: out})
		b.paths = []string{out}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.paths[0]
}

// testNoticesText stands for THIRD_PARTY_NOTICES (build/notices tests the
// real one).
const testNoticesText = "the licences of the modules linked into audittail\n"

// testNotices is a THIRD_PARTY_NOTICES file.
func testNotices(t *testing.T) string {
	t.Helper()
	p := filepath.Join(sharedDir, "THIRD_PARTY_NOTICES")
	if err := os.WriteFile(p, []byte(testNoticesText), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func options(t *testing.T, arch, outDir string) Options {
	t.Helper()
	return Options{
		Version:  "v0.1.0",
		Arch:     arch,
		Binary:   binary(t, arch),
		RepoRoot: repoRoot(t),
		OutDir:   outDir,
		MTime:    testMTime,
		Notices:  testNotices(t),
	}
}

// amd64Packages returns the .deb and the .rpm of v0.1.0 for amd64, built once.
func amd64Packages(t *testing.T) (debPath, rpmPath string) {
	t.Helper()
	o := options(t, "amd64", filepath.Join(sharedDir, "packages-amd64"))
	packages.Do(func() {
		packages.paths, packages.err = Build(o)
		if packages.err == nil && len(packages.paths) != 2 {
			packages.err = fmt.Errorf("Build returned %q, want a .deb and a .rpm", packages.paths)
		}
	})
	if packages.err != nil {
		t.Fatalf("Build: %v", packages.err)
	}
	return packages.paths[0], packages.paths[1]
}

// requireTool returns the path of an external tool, or skips the test when
// it is missing, unless AUDITTAIL_REQUIRE_TOOLS=1 (CI), where it fails.
func requireTool(t *testing.T, name, aptPackage string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("AUDITTAIL_REQUIRE_TOOLS") == "1" {
		t.Fatalf("%s not found and AUDITTAIL_REQUIRE_TOOLS=1: apt-get install %s", name, aptPackage)
	}
	t.Skipf("%s not found (apt-get install %s); set AUDITTAIL_REQUIRE_TOOLS=1 to make this a failure", name, aptPackage)
	return ""
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

func TestFileNames(t *testing.T) {
	t.Parallel()
	debPath, rpmPath := amd64Packages(t)
	if got, want := filepath.Base(debPath), "audittail_0.1.0-1_amd64.deb"; got != want {
		t.Errorf("deb file %s, want %s", got, want)
	}
	if got, want := filepath.Base(rpmPath), "audittail-0.1.0-1.x86_64.rpm"; got != want {
		t.Errorf("rpm file %s, want %s", got, want)
	}
	entries, err := os.ReadDir(filepath.Dir(debPath))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("output directory holds %d files, want the 2 packages only", len(entries))
	}
}

func TestReproducible(t *testing.T) {
	t.Parallel()
	debA, rpmA := amd64Packages(t)
	paths, err := Build(options(t, "amd64", filepath.Join(t.TempDir(), "again")))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for i, a := range []string{debA, rpmA} {
		b := paths[i]
		if filepath.Base(a) != filepath.Base(b) {
			t.Errorf("file names differ: %s and %s", a, b)
		}
		da, err := os.ReadFile(a)
		if err != nil {
			t.Fatal(err)
		}
		db, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(da, db) {
			t.Errorf("%s: two builds with the same options differ", filepath.Base(a))
		}
	}
}

// arMember is one file of an ar archive.
type arMember struct {
	name string
	data []byte
}

// readAr parses the common ar format of a .deb (deb(5), ar(5)).
func readAr(data []byte) ([]arMember, error) {
	const magic = "!<arch>\n"
	if !bytes.HasPrefix(data, []byte(magic)) {
		return nil, errors.New("no ar magic")
	}
	data = data[len(magic):]
	var members []arMember
	for len(data) > 0 {
		if len(data) < 60 {
			return nil, errors.New("truncated ar header")
		}
		h := data[:60]
		if string(h[58:60]) != "`\n" {
			return nil, fmt.Errorf("bad ar header terminator in %q", h)
		}
		name := strings.TrimSuffix(strings.TrimRight(string(h[0:16]), " "), "/")
		size, err := strconv.ParseInt(strings.TrimRight(string(h[48:58]), " "), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ar member %s: size: %w", name, err)
		}
		data = data[60:]
		if int64(len(data)) < size {
			return nil, fmt.Errorf("ar member %s truncated", name)
		}
		members = append(members, arMember{name, data[:size]})
		data = data[size:]
		if size%2 == 1 && len(data) > 0 {
			data = data[1:]
		}
	}
	return members, nil
}

// tarFile is one entry of a tar archive, with its content.
type tarFile struct {
	hdr  *tar.Header
	data []byte
}

func readTarGz(data []byte) (map[string]tarFile, []string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, nil, err
	}
	tr := tar.NewReader(zr)
	files := map[string]tarFile{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, order, nil
		}
		if err != nil {
			return nil, nil, err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, err
		}
		files[h.Name] = tarFile{h, b}
		order = append(order, h.Name)
	}
}

// debParts returns the control and data archives of a .deb, checking the ar
// layout deb(5) requires.
func debParts(t *testing.T, path string) (control, data map[string]tarFile) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	members, err := readAr(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var names []string
	for _, m := range members {
		names = append(names, m.name)
	}
	if want := []string{"debian-binary", "control.tar.gz", "data.tar.gz"}; !slices.Equal(names, want) {
		t.Fatalf("ar members %q, want %q", names, want)
	}
	if got := string(members[0].data); got != "2.0\n" {
		t.Errorf("debian-binary %q, want 2.0", got)
	}
	control, _, err = readTarGz(members[1].data)
	if err != nil {
		t.Fatalf("control.tar.gz: %v", err)
	}
	data, _, err = readTarGz(members[2].data)
	if err != nil {
		t.Fatalf("data.tar.gz: %v", err)
	}
	return control, data
}

// controlFields parses a deb control file (deb-control(5)); continuation
// lines are kept, joined with "\n".
func controlFields(t *testing.T, text string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	var last string
	for _, l := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if strings.HasPrefix(l, " ") {
			fields[last] += "\n" + l
			continue
		}
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("control line %q", l)
		}
		fields[k] = v
		last = k
	}
	return fields
}

func readRepoFile(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDebContents(t *testing.T) {
	t.Parallel()
	debPath, _ := amd64Packages(t)
	control, data := debParts(t, debPath)

	// The control archive.
	fields := controlFields(t, string(control["./control"].data))
	for k, want := range map[string]string{
		"Package":      "audittail",
		"Version":      "0.1.0-1",
		"Architecture": "amd64",
		"Section":      "admin",
		"Priority":     "optional",
		"Maintainer":   maintainer,
		"Homepage":     homepage,
	} {
		if fields[k] != want {
			t.Errorf("control %s: %q, want %q", k, fields[k], want)
		}
	}
	if _, ok := fields["Depends"]; ok {
		t.Errorf("control has Depends: %q; the static binary needs none", fields["Depends"])
	}
	if !strings.HasPrefix(fields["Description"], "Kubernetes audit log shipper to Graylog / OVHcloud Logs Data Platform\n ") {
		t.Errorf("Description %q lacks the synopsis and an extended description", fields["Description"])
	}
	if got := string(control["./conffiles"].data); got != "/etc/audittail/config.yaml\n" {
		t.Errorf("conffiles %q, want /etc/audittail/config.yaml", got)
	}
	for name, want := range map[string][]byte{
		"./postinst": postInstallScript,
		"./prerm":    preRemoveScript,
		"./postrm":   postRemoveScript,
	} {
		f, ok := control[name]
		if !ok {
			t.Errorf("control archive has no %s", name)
			continue
		}
		if f.hdr.Mode != 0o755 || !bytes.Equal(f.data, want) {
			t.Errorf("%s: mode %o, content equal to the script: %v", name, f.hdr.Mode, bytes.Equal(f.data, want))
		}
	}
	if _, ok := control["./preinst"]; ok {
		t.Error("control archive has a preinst; none is expected")
	}

	// The data archive: exactly the expected entries, all root's, all at MTime.
	var names []string
	for name := range data {
		names = append(names, name)
	}
	slices.Sort(names)
	var want []string
	for name := range expectedDebEntries {
		want = append(want, name)
	}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("data.tar entries:\n%s\nwant:\n%s", strings.Join(names, "\n"), strings.Join(want, "\n"))
	}
	for name, f := range data {
		h := f.hdr
		if e, ok := expectedDebEntries[name]; ok && (h.Typeflag != e.typ || h.Mode != e.mode) {
			t.Errorf("%s: type %c mode %o, want type %c mode %o", name, h.Typeflag, h.Mode, e.typ, e.mode)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "root" || h.Gname != "root" {
			t.Errorf("%s: owner %d:%d %s:%s, want 0:0 root:root", name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(testMTime) {
			t.Errorf("%s: time %v, want %v", name, h.ModTime, testMTime)
		}
	}

	// md5sums lists every regular file with its digest (deb-md5sums(5)).
	sums := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(control["./md5sums"].data)), "\n") {
		sum, p, ok := strings.Cut(l, "  ")
		if !ok {
			t.Fatalf("md5sums line %q", l)
		}
		sums["./"+p] = sum
	}
	for name, f := range data {
		if f.hdr.Typeflag != tar.TypeReg {
			continue
		}
		d := md5.Sum(f.data)
		if sums[name] != hex.EncodeToString(d[:]) {
			t.Errorf("md5sums: %s has %q, want %x", name, sums[name], d)
		}
		delete(sums, name)
	}
	if len(sums) != 0 {
		t.Errorf("md5sums lists files not in data.tar: %v", sums)
	}

	// File contents.
	bin, err := os.ReadFile(binary(t, "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string][]byte{
		"./usr/bin/audittail":                           bin,
		"./etc/audittail/config.yaml":                   readRepoFile(t, "examples/config.yaml"),
		"./usr/lib/sysusers.d/audittail.conf":           readRepoFile(t, "examples/systemd/audittail.sysusers.conf"),
		"./usr/share/doc/audittail/README.md":           readRepoFile(t, "README.md"),
		"./usr/share/doc/audittail/THIRD_PARTY_NOTICES": []byte(testNoticesText),
	} {
		if !bytes.Equal(data[name].data, want) {
			t.Errorf("%s differs from its source", name)
		}
	}
	checkUnit(t, data["./usr/lib/systemd/system/audittail.service"].data)

	copyright := string(data["./usr/share/doc/audittail/copyright"].data)
	for _, s := range []string{
		"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n",
		"\nFiles: *\nCopyright: 2026 The audittail authors\nLicense: Apache-2.0\n",
		"/usr/share/common-licenses/Apache-2.0",
	} {
		if !strings.Contains(copyright, s) {
			t.Errorf("copyright lacks %q:\n%s", s, copyright)
		}
	}

	zr, err := gzip.NewReader(bytes.NewReader(data["./usr/share/doc/audittail/changelog.Debian.gz"].data))
	if err != nil {
		t.Fatalf("changelog.Debian.gz: %v", err)
	}
	changelog, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("changelog.Debian.gz: %v", err)
	}
	first, _, _ := strings.Cut(string(changelog), "\n")
	if want := "audittail (" + fields["Version"] + ") unstable; urgency=medium"; first != want {
		t.Errorf("changelog starts with %q, want %q", first, want)
	}
	if !strings.Contains(string(changelog), "\n -- "+maintainer+"  Sun, 06 Dec 2026 12:20:56 +0000") {
		t.Errorf("changelog lacks the trailer line:\n%s", changelog)
	}
}

// checkUnit checks the packaged systemd unit.
func checkUnit(t *testing.T, unit []byte) {
	t.Helper()
	text := string(unit)
	var execStart []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "ExecStart=") {
			execStart = append(execStart, l)
		}
	}
	want := "ExecStart=/usr/bin/audittail --config=/etc/audittail/config.yaml --stream-file=${CREDENTIALS_DIRECTORY}/stream-token"
	if len(execStart) != 1 || execStart[0] != want {
		t.Errorf("ExecStart lines %q, want %q", execStart, want)
	}
	for _, bad := range []string{"/usr/local/bin", "Install (as root", "install -m 0755 bin/audittail"} {
		if strings.Contains(text, bad) {
			t.Errorf("unit still contains %q", bad)
		}
	}
	for _, s := range append(packagedInstructions, "[Service]", "User=audittail", "LoadCredential=stream-token:/etc/audittail/stream-token") {
		if !strings.Contains(text, s) {
			t.Errorf("unit lacks %q", s)
		}
	}
}

func TestDpkgDeb(t *testing.T) {
	t.Parallel()
	dpkgDeb := requireTool(t, "dpkg-deb", "dpkg")
	debPath, _ := amd64Packages(t)

	info := run(t, dpkgDeb, "--info", debPath)
	for _, s := range []string{
		" Package: audittail\n", " Version: 0.1.0-1\n", " Architecture: amd64\n",
		" conffiles", " postinst", " prerm", " postrm",
	} {
		if !strings.Contains(info, s) {
			t.Errorf("dpkg-deb --info lacks %q:\n%s", s, info)
		}
	}
	if conffiles := run(t, dpkgDeb, "--ctrl-tarfile", debPath); !strings.Contains(conffiles, "/etc/audittail/config.yaml") {
		t.Error("dpkg-deb --ctrl-tarfile: conffiles does not name /etc/audittail/config.yaml")
	}

	// dpkg-deb --contents prints tar tv lines: perms owner/group size date time path.
	contents := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(run(t, dpkgDeb, "--contents", debPath)), "\n") {
		f := strings.Fields(l)
		if len(f) != 6 {
			t.Fatalf("dpkg-deb --contents line %q", l)
		}
		contents[f[5]] = f[0] + " " + f[1]
	}
	for name, e := range expectedDebEntries {
		want := fs.FileMode(e.mode).String()[1:]
		if e.typ == tar.TypeDir {
			want = "d" + want
		} else {
			want = "-" + want
		}
		if got := contents[name]; got != want+" root/root" {
			t.Errorf("dpkg-deb --contents %s: %q, want %q", name, got, want+" root/root")
		}
	}
	if len(contents) != len(expectedDebEntries) {
		t.Errorf("dpkg-deb --contents lists %d entries, want %d", len(contents), len(expectedDebEntries))
	}

	// Unpacked into a throw-away root.
	root := t.TempDir()
	run(t, dpkgDeb, "-x", debPath, root)
	for name, e := range expectedDebEntries {
		fi, err := os.Lstat(filepath.Join(root, name))
		if err != nil {
			t.Errorf("unpacked: %v", err)
			continue
		}
		if fi.IsDir() != (e.typ == tar.TypeDir) || int64(fi.Mode().Perm()) != e.mode {
			t.Errorf("unpacked %s: mode %v, want %o", name, fi.Mode(), e.mode)
		}
	}
	unit, err := os.ReadFile(filepath.Join(root, "usr/lib/systemd/system/audittail.service"))
	if err != nil {
		t.Fatal(err)
	}
	checkUnit(t, unit)
}

// lintianLine matches a lintian tag line: "W: audittail: tag-name [details]".
var lintianLine = regexp.MustCompile(`^([EWIPX]): audittail(?: [a-z]+)?: (\S+)`)

func TestLintian(t *testing.T) {
	t.Parallel()
	lintian := requireTool(t, "lintian", "lintian")
	debPath, _ := amd64Packages(t)

	// --tag-display-limit 0: every occurrence (lintian 2.116 deprecates
	// --no-tag-display-limit for it). Not --show-overrides: with it, the
	// overridden statically-linked-binary error would count for --fail-on.
	cmd := exec.Command(lintian, "--fail-on", "error", "--tag-display-limit", "0", debPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	t.Logf("lintian output:\n%s", out)

	seen := map[string]bool{}
	var errs int
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := lintianLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		switch kind, tag := m[1], m[2]; kind {
		case "E":
			errs++
			t.Errorf("lintian error: %s", sc.Text())
		case "W":
			if _, ok := keptWarnings[tag]; !ok {
				t.Errorf("lintian warning not in keptWarnings (fix it, or keep it with a reason): %s", sc.Text())
			}
			seen[tag] = true
		}
	}
	if err != nil && errs == 0 {
		t.Fatalf("lintian failed without reporting an error: %v\n%s", err, stderr.Bytes())
	}
	for tag := range keptWarnings {
		if !seen[tag] {
			t.Errorf("keptWarnings lists %s, which lintian no longer reports: remove it", tag)
		}
	}
}

func TestRPM(t *testing.T) {
	t.Parallel()
	rpmTool := requireTool(t, "rpm", "rpm")
	_, rpmPath := amd64Packages(t)

	files := strings.Split(strings.TrimSpace(run(t, rpmTool, "-qpl", rpmPath)), "\n")
	var want []string
	for _, l := range expectedRPMFiles {
		want = append(want, l[strings.LastIndexByte(l, ' ')+1:])
	}
	if !slices.Equal(files, want) {
		t.Errorf("rpm -qpl:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(want, "\n"))
	}

	modes := strings.Split(strings.TrimSpace(run(t, rpmTool, "-qp", "--qf",
		`[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]`, rpmPath)), "\n")
	if !slices.Equal(modes, expectedRPMFiles) {
		t.Errorf("rpm file modes and owners:\n%s\nwant:\n%s", strings.Join(modes, "\n"), strings.Join(expectedRPMFiles, "\n"))
	}

	if got, want := run(t, rpmTool, "-qp", "--qf", `%{LICENSE} %{ARCH} %{VERSION} %{RELEASE} %{BUILDTIME} %{BUILDHOST}`, rpmPath),
		fmt.Sprintf("Apache-2.0 x86_64 0.1.0 1 %d reproducible", testMTime.Unix()); got != want {
		t.Errorf("rpm header: %q, want %q", got, want)
	}
	if got, want := run(t, rpmTool, "-qp", "--qf", `%{SUMMARY}|%{URL}|%{VENDOR}|%{PACKAGER}`, rpmPath),
		"Kubernetes audit log shipper to Graylog / OVHcloud Logs Data Platform|"+homepage+"|audittail|"+maintainer; got != want {
		t.Errorf("rpm header: %q, want %q", got, want)
	}
	if got := run(t, rpmTool, "-qpc", rpmPath); got != "/etc/audittail/config.yaml\n" {
		t.Errorf("rpm -qpc: %q, want /etc/audittail/config.yaml", got)
	}
	// %config(noreplace): FILEFLAGS has RPMFILE_CONFIG (c) and RPMFILE_NOREPLACE (n).
	flags := run(t, rpmTool, "-qp", "--qf", `[%{FILEFLAGS:fflags} %{FILENAMES}\n]`, rpmPath)
	for _, l := range []string{"cn /etc/audittail/config.yaml", "d /usr/share/doc/audittail/README.md", "l /usr/share/licenses/audittail/LICENSE", "l /usr/share/licenses/audittail/THIRD_PARTY_NOTICES"} {
		if !strings.Contains(flags, "\n"+l+"\n") && !strings.HasPrefix(flags, l+"\n") {
			t.Errorf("rpm file flags lack %q:\n%s", l, flags)
		}
	}

	scripts := run(t, rpmTool, "-qp", "--scripts", rpmPath)
	for _, s := range []string{
		"postinstall scriptlet (using /bin/sh):\n" + string(postInstallScript),
		"preuninstall scriptlet (using /bin/sh):\n" + string(preRemoveScript),
		"postuninstall scriptlet (using /bin/sh):\n" + string(postRemoveScript),
	} {
		if !strings.Contains(scripts, s) {
			first, _, _ := strings.Cut(s, "\n")
			t.Errorf("rpm --scripts lacks the %s", first)
		}
	}
	if strings.Contains(scripts, "preinstall scriptlet") {
		t.Error("rpm has a preinstall scriptlet; none is expected")
	}
	if got := run(t, rpmTool, "-qp", "--changelog", rpmPath); !strings.HasPrefix(got, "* Sun Dec 06 2026 "+maintainer+" - 0.1.0-1\n") {
		t.Errorf("rpm changelog:\n%s", got)
	}
	if got := run(t, rpmTool, "-K", "--nosignature", rpmPath); !strings.Contains(got, "digests OK") {
		t.Errorf("rpm -K: %s", got)
	}

	// Installed, without scripts, into a throw-away root (rpm sets owners,
	// which needs root).
	if os.Geteuid() != 0 {
		return
	}
	root := t.TempDir()
	run(t, rpmTool, "--root", root, "--dbpath", "/rpmdb", "--initdb")
	run(t, rpmTool, "--root", root, "--dbpath", "/rpmdb", "-i", "--nodeps", "--noscripts", rpmPath)
	for _, l := range expectedRPMFiles {
		f := strings.Fields(l)
		fi, err := os.Lstat(filepath.Join(root, f[3]))
		if err != nil {
			t.Errorf("installed: %v", err)
			continue
		}
		if got := fi.Mode().String(); got != f[0] {
			t.Errorf("installed %s: mode %s, want %s", f[3], got, f[0])
		}
	}
}

// scriptRun is the result of running a maintainer script with stub commands.
type scriptRun struct {
	calls []string // one line per stub call: the command and its arguments
	err   error
}

// runScript runs script with args under /bin/sh, with a PATH holding only
// stub commands that log their arguments: systemctl, systemd-sysusers (if
// sysusers), useradd, getent (exit status getentStatus) and rm. systemdRunning
// decides whether the directory the scripts test for systemd exists.
func runScript(t *testing.T, script []byte, sysusers, systemdRunning bool, getentStatus int, failing string, args ...string) scriptRun {
	t.Helper()
	dir := t.TempDir()
	stubs := filepath.Join(dir, "bin")
	if err := os.Mkdir(stubs, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "calls.log")
	names := []string{"systemctl", "useradd", "getent", "rm"}
	if sysusers {
		names = append(names, "systemd-sysusers")
	}
	for _, name := range names {
		status := "0"
		if name == "getent" {
			status = strconv.Itoa(getentStatus)
		}
		if name == failing {
			status = "1"
		}
		stub := fmt.Sprintf("#!/bin/sh\necho \"%s $*\" >>\"$STUB_LOG\"\nexit %s\n", name, status)
		if err := os.WriteFile(filepath.Join(stubs, name), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "script.sh")
	if err := os.WriteFile(path, script, 0o644); err != nil {
		t.Fatal(err)
	}
	systemdDir := filepath.Join(dir, "run-systemd-system")
	if systemdRunning {
		if err := os.Mkdir(systemdDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.Command("/bin/sh", append([]string{path}, args...)...)
	cmd.Env = []string{"PATH=" + stubs, "STUB_LOG=" + log, "AUDITTAIL_SYSTEMD_RUN=" + systemdDir}
	out, err := cmd.CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, out)
	}
	var calls []string
	if b, rerr := os.ReadFile(log); rerr == nil {
		calls = strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	return scriptRun{calls, err}
}

func TestScriptsSyntax(t *testing.T) {
	t.Parallel()
	shells := []string{"/bin/sh"}
	for _, sh := range []string{"dash", "bash", "busybox"} {
		if p, err := exec.LookPath(sh); err == nil {
			shells = append(shells, p)
		}
	}
	for name, script := range map[string][]byte{
		"postinstall.sh": postInstallScript,
		"preremove.sh":   preRemoveScript,
		"postremove.sh":  postRemoveScript,
	} {
		if !bytes.HasPrefix(script, []byte("#!/bin/sh\n")) {
			t.Errorf("%s does not start with #!/bin/sh", name)
		}
		if !bytes.Contains(script, []byte("\nset -e\n")) {
			t.Errorf("%s lacks set -e", name)
		}
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, script, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, sh := range shells {
			args := []string{"-n", path}
			if strings.HasSuffix(sh, "bash") {
				args = []string{"--posix", "-n", path}
			}
			if strings.HasSuffix(sh, "busybox") {
				args = append([]string{"sh"}, args...)
			}
			if out, err := exec.Command(sh, args...).CombinedOutput(); err != nil {
				t.Errorf("%s %s: %v\n%s", sh, strings.Join(args, " "), err, out)
			}
		}
	}
}

func TestPostInstall(t *testing.T) {
	t.Parallel()
	const (
		sysusers   = "systemd-sysusers audittail.conf"
		reload     = "systemctl daemon-reload"
		tryRestart = "systemctl try-restart audittail.service"
		useradd    = "useradd --system --user-group --no-create-home --home-dir /var/lib/audittail --shell /usr/sbin/nologin audittail"
	)
	for _, tc := range []struct {
		name           string
		args           []string
		sysusers       bool
		systemdRunning bool
		getentStatus   int
		failing        string
		want           []string
	}{
		{"deb install", []string{"configure", ""}, true, true, 2, "", []string{sysusers, reload}},
		{"deb install without version", []string{"configure"}, true, true, 2, "", []string{sysusers, reload}},
		{"deb upgrade", []string{"configure", "0.0.9-1"}, true, true, 2, "", []string{sysusers, reload, tryRestart}},
		{"deb abort-upgrade", []string{"abort-upgrade", "0.2.0-1"}, true, true, 2, "", []string{sysusers, reload}},
		{"deb triggered", []string{"triggered", "x"}, true, true, 2, "", nil},
		{"rpm install", []string{"1"}, true, true, 2, "", []string{sysusers, reload}},
		{"rpm upgrade", []string{"2"}, true, true, 2, "", []string{sysusers, reload, tryRestart}},
		{"rpm upgrade, systemd not running", []string{"2"}, true, false, 2, "", []string{sysusers}},
		{"deb upgrade, systemd not running", []string{"configure", "0.0.9-1"}, true, false, 2, "", []string{sysusers}},
		{"no sysusers, no user", []string{"1"}, false, true, 2, "", []string{"getent passwd audittail", useradd, reload}},
		{"no sysusers, user exists", []string{"configure", "0.0.9-1"}, false, true, 0, "", []string{"getent passwd audittail", reload, tryRestart}},
		{"rpm upgrade, systemctl fails", []string{"2"}, true, true, 2, "systemctl", []string{sysusers, reload, tryRestart}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runScript(t, postInstallScript, tc.sysusers, tc.systemdRunning, tc.getentStatus, tc.failing, tc.args...)
			if r.err != nil {
				t.Fatalf("postinstall %q: %v", tc.args, r.err)
			}
			if !slices.Equal(r.calls, tc.want) {
				t.Errorf("postinstall %q called:\n%s\nwant:\n%s", tc.args, strings.Join(r.calls, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, c := range r.calls {
				f := strings.Fields(c)
				if f[0] == "systemctl" && len(f) > 1 && f[1] != "daemon-reload" && f[1] != "try-restart" {
					t.Errorf("postinstall ran %q: it must never enable, start or restart the service", c)
				}
			}
		})
	}
	t.Run("user creation fails", func(t *testing.T) {
		t.Parallel()
		// Without its user the service cannot run: the installation fails.
		if r := runScript(t, postInstallScript, true, true, 2, "systemd-sysusers", "1"); r.err == nil {
			t.Errorf("postinstall succeeded after systemd-sysusers failed; calls %q", r.calls)
		}
	})
}

func TestPreRemove(t *testing.T) {
	t.Parallel()
	stopDisable := []string{"systemctl stop audittail.service", "systemctl disable audittail.service"}
	for _, tc := range []struct {
		name           string
		args           []string
		systemdRunning bool
		failing        string
		want           []string
	}{
		{"deb remove", []string{"remove"}, true, "", stopDisable},
		{"deb remove, systemctl fails", []string{"remove"}, true, "systemctl", stopDisable},
		{"deb remove, systemd not running", []string{"remove"}, false, "", nil},
		{"deb upgrade", []string{"upgrade", "0.2.0-1"}, true, "", nil},
		{"deb deconfigure", []string{"deconfigure", "in-favour", "x", "1"}, true, "", nil},
		{"rpm erase", []string{"0"}, true, "", stopDisable},
		{"rpm upgrade", []string{"1"}, true, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runScript(t, preRemoveScript, true, tc.systemdRunning, 0, tc.failing, tc.args...)
			if r.err != nil {
				t.Fatalf("preremove %q: %v", tc.args, r.err)
			}
			if !slices.Equal(r.calls, tc.want) {
				t.Errorf("preremove %q called:\n%s\nwant:\n%s", tc.args, strings.Join(r.calls, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestPostRemove(t *testing.T) {
	t.Parallel()
	const reload = "systemctl daemon-reload"
	for _, tc := range []struct {
		name           string
		args           []string
		systemdRunning bool
		want           []string
	}{
		{"deb remove", []string{"remove"}, true, []string{reload}},
		{"deb purge", []string{"purge"}, true, []string{reload, "rm -rf /var/lib/audittail"}},
		{"deb purge, systemd not running", []string{"purge"}, false, []string{"rm -rf /var/lib/audittail"}},
		{"deb upgrade", []string{"upgrade", "0.2.0-1"}, true, []string{reload}},
		{"rpm erase", []string{"0"}, true, []string{reload}},
		{"rpm upgrade", []string{"1"}, true, []string{reload}},
		{"rpm erase, systemd not running", []string{"0"}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runScript(t, postRemoveScript, true, tc.systemdRunning, 0, "", tc.args...)
			if r.err != nil {
				t.Fatalf("postremove %q: %v", tc.args, r.err)
			}
			if !slices.Equal(r.calls, tc.want) {
				t.Errorf("postremove %q called:\n%s\nwant:\n%s", tc.args, strings.Join(r.calls, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestArm64(t *testing.T) {
	t.Parallel()
	paths, err := Build(options(t, "arm64", t.TempDir()))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if got, want := filepath.Base(paths[0]), "audittail_0.1.0-1_arm64.deb"; got != want {
		t.Errorf("deb file %s, want %s", got, want)
	}
	if !strings.HasSuffix(paths[1], ".aarch64.rpm") {
		t.Errorf("rpm file %s does not end with .aarch64.rpm", paths[1])
	}
	control, _ := debParts(t, paths[0])
	if got := controlFields(t, string(control["./control"].data))["Architecture"]; got != "arm64" {
		t.Errorf("deb Architecture %q, want arm64", got)
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		if got := run(t, "rpm", "-qp", "--qf", "%{ARCH}", paths[1]); got != "aarch64" {
			t.Errorf("rpm ARCH %q, want aarch64", got)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	good := options(t, "amd64", t.TempDir())
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no time", func(o *Options) { o.MTime = time.Time{} }, "MTime"},
		{"unknown architecture", func(o *Options) { o.Arch = "386" }, "unsupported architecture"},
		{"binary for another architecture", func(o *Options) { o.Arch = "arm64" }, "is for EM_X86_64"},
		{"not a binary", func(o *Options) { o.Binary = filepath.Join(o.RepoRoot, "README.md") }, "read binary"},
		{"bad version", func(o *Options) { o.Version = "0.1" }, "neither a semantic version"},
		{"no repository", func(o *Options) { o.RepoRoot = t.TempDir() }, "read example unit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := good
			o.OutDir = t.TempDir()
			tc.change(&o)
			paths, err := Build(o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, %q; want an error containing %q", err, paths, tc.want)
			}
			if entries, _ := os.ReadDir(o.OutDir); len(entries) != 0 {
				t.Errorf("a failed Build left %d files in the output directory", len(entries))
			}
		})
	}
	// A dynamically linked executable of this machine, when Build supports
	// its architecture.
	if _, ok := binaries.Machines[runtime.GOARCH]; ok && runtime.GOOS == "linux" {
		sh, err := exec.LookPath("sh")
		if err != nil {
			t.Skip("no sh")
		}
		sh, _ = filepath.EvalSymlinks(sh)
		o := good
		o.Arch, o.Binary = runtime.GOARCH, sh
		if _, err := Build(o); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
			t.Errorf("Build with %s: %v, want a dynamically linked error", sh, err)
		}
	}
}

func TestPackagedUnit(t *testing.T) {
	t.Parallel()
	example := string(readRepoFile(t, "examples/systemd/audittail.service"))
	unit, err := packagedUnit([]byte(example))
	if err != nil {
		t.Fatalf("packagedUnit: %v", err)
	}
	checkUnit(t, unit)

	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"no install block", "# For control-plane nodes. Install (as root", "# For nodes (as root", "install instructions"},
		{"block never ends", "#   systemctl enable --now audittail\n", "", "install instructions"},
		{"other binary", "ExecStart=/usr/local/bin/audittail", "ExecStart=/opt/audittail", "ExecStart lines"},
		{"other flags", "--config=/etc/audittail/config.yaml", "--config=/etc/audittail.yaml", "ExecStart lines"},
		{"second ExecStart", "ExecReload=", "ExecStart=/usr/local/bin/audittail --check\nExecReload=", "ExecStart lines"},
	} {
		changed := strings.Replace(example, tc.from, tc.to, 1)
		if changed == example {
			t.Fatalf("%s: the example unit has no %q", tc.name, tc.from)
		}
		if _, err := packagedUnit([]byte(changed)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: packagedUnit: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestVersions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, version, deb, rpm string
	}{
		{"v0.1.0", "0.1.0", "audittail_0.1.0-1_amd64.deb", "audittail-0.1.0-1.x86_64.rpm"},
		{"0.1.0", "0.1.0", "audittail_0.1.0-1_amd64.deb", "audittail-0.1.0-1.x86_64.rpm"},
		{"v0.1.0-3-gabc1234", "0.1.0+3.gabc1234", "audittail_0.1.0+3.gabc1234-1_amd64.deb", "audittail-0.1.0+3.gabc1234-1.x86_64.rpm"},
		{"v0.1.0-3-gabc1234-dirty", "0.1.0+3.gabc1234.dirty", "audittail_0.1.0+3.gabc1234.dirty-1_amd64.deb", "audittail-0.1.0+3.gabc1234.dirty-1.x86_64.rpm"},
		{"v0.2.0-rc.1", "v0.2.0-rc.1", "audittail_0.2.0~rc.1-1_amd64.deb", "audittail-0.2.0~rc.1-1.x86_64.rpm"},
		{"v0.2.0-rc.1-2-g0123abcd", "v0.2.0-rc.1+2.g0123abcd", "audittail_0.2.0~rc.1+2.g0123abcd-1_amd64.deb", "audittail-0.2.0~rc.1+2.g0123abcd-1.x86_64.rpm"},
	} {
		v, err := packageVersion(tc.in)
		if err != nil || strings.TrimPrefix(v, "v") != strings.TrimPrefix(tc.version, "v") {
			t.Errorf("packageVersion(%q) = %q, %v; want %q", tc.in, v, err, tc.version)
			continue
		}
		info := func() *nfpm.Info {
			return nfpm.WithDefaults(&nfpm.Info{Name: name, Arch: "amd64", Version: v, VersionSchema: "semver", Release: release})
		}
		if got := deb.Default.ConventionalFileName(info()); got != tc.deb {
			t.Errorf("%s: deb file %s, want %s", tc.in, got, tc.deb)
		}
		if got := rpm.DefaultRPM.ConventionalFileName(info()); got != tc.rpm {
			t.Errorf("%s: rpm file %s, want %s", tc.in, got, tc.rpm)
		}
		if got, want := "audittail_"+debVersion(info())+"_amd64.deb", tc.deb; got != want {
			t.Errorf("%s: debVersion gives %s, want %s", tc.in, got, want)
		}
	}
	for _, bad := range []string{"", "0.1", "v1", "latest", "v0.1.0+a-b", "abc1234"} {
		if v, err := packageVersion(bad); err == nil {
			t.Errorf("packageVersion(%q) = %q, want an error", bad, v)
		}
	}

	// Both package managers order the versions as releases are made.
	ordered := []string{"0.1.0-1", "0.1.0+3.gabc1234-1", "0.1.0+10.g0000000-1", "0.2.0~rc.1-1", "0.2.0~rc.1+2.g0123abcd-1", "0.2.0-1"}
	if dpkg, err := exec.LookPath("dpkg"); err == nil {
		for i := 1; i < len(ordered); i++ {
			if err := exec.Command(dpkg, "--compare-versions", ordered[i-1], "lt", ordered[i]).Run(); err != nil {
				t.Errorf("dpkg: %s is not older than %s", ordered[i-1], ordered[i])
			}
		}
	}
	if rpmTool, err := exec.LookPath("rpm"); err == nil {
		for i := 1; i < len(ordered); i++ {
			a, b := strings.TrimSuffix(ordered[i-1], "-1"), strings.TrimSuffix(ordered[i], "-1")
			lua := fmt.Sprintf(`%%{lua: print(rpm.vercmp("%s", "%s"))}`, a, b)
			if got := strings.TrimSpace(run(t, rpmTool, "--eval", lua)); got != "-1" {
				t.Errorf("rpm: vercmp(%s, %s) = %s, want -1", a, b, got)
			}
		}
	}
}

// FuzzPackageVersion: any version string is either refused or mapped to a
// version both package managers accept (semver, build metadata without "-"),
// and the mapping is stable.
func FuzzPackageVersion(f *testing.F) {
	for _, s := range []string{"v0.1.0", "v0.1.0-3-gabc1234", "v0.1.0-3-gabc1234-dirty", "v0.2.0-rc.1", "1.2.3+meta", "v1", "", "v0.0.0-63-ga6af18d-dirty", "v1.2.3-4-gzzz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		out, err := packageVersion(v)
		if err != nil {
			return
		}
		if !semVer.MatchString(out) {
			t.Fatalf("%q became %q, not a semantic version", v, out)
		}
		if i := strings.IndexByte(out, '+'); i >= 0 && strings.Contains(out[i:], "-") {
			t.Fatalf("%q became %q: build metadata with -", v, out)
		}
		again, err := packageVersion(v)
		if err != nil || again != out {
			t.Fatalf("%q: %q then %q, %v", v, out, again, err)
		}
	})
}

// The unit the .deb installs passes systemd-analyze verify with no warning
// about it, like the example unit (examples/systemd/verify.sh).
func TestPackagedUnitVerifies(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze", "systemd")
	debPath, _ := amd64Packages(t)
	_, data := debParts(t, debPath)
	unit := string(data["./usr/lib/systemd/system/audittail.service"].data)
	if !strings.Contains(unit, "\nExecStart=/usr/bin/audittail ") {
		t.Fatalf("packaged unit does not run /usr/bin/audittail:\n%s", unit)
	}
	// verify checks that the binary exists: point it at the one packaged.
	bin := binary(t, "amd64")
	unit = strings.ReplaceAll(unit, "=/usr/bin/audittail ", "="+bin+" ")
	kill, err := exec.LookPath("kill")
	if err == nil && !strings.HasPrefix(kill, "/bin/") {
		unit = strings.ReplaceAll(unit, "=/bin/kill ", "="+kill+" ")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "audittail.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "audittail") || strings.Contains(l, dir) {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
}
