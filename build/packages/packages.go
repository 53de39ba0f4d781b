// Package packages builds the audittail .deb and .rpm packages with the nfpm
// library (github.com/goreleaser/nfpm/v2).
//
// Both packages install the same files: the binary in /usr/bin, the systemd
// unit in /usr/lib/systemd/system, the sysusers.d(5) entry of the audittail
// user, the configuration /etc/audittail/config.yaml (kept on upgrade), the
// state directory /var/lib/audittail, and the documentation. Their maintainer
// scripts create the user and reload systemd, but never enable or start the
// service: it needs a stream token and an endpoint first.
//
// The same Options give byte-identical packages: every time stored in them is
// Options.MTime, the RPM build host is a fixed name, and the compressors write
// no time or file name of their own.
package packages

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/audittail/audittail/build/binaries"
	"github.com/goreleaser/chglog"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// Options say what to package.
type Options struct {
	Version  string    // e.g. "v0.1.0" or "v0.1.0-3-gabc1234" (git describe); a leading v is allowed
	Arch     string    // "amd64" or "arm64" (Go names)
	Binary   string    // path of the linux/<Arch> static audittail binary to package
	RepoRoot string    // the repository checkout: examples/systemd/*, examples/config.yaml, LICENSE, README.md come from there
	OutDir   string    // where the packages are written (created if missing)
	MTime    time.Time // every file's and the package's time (the commit time): same inputs give byte-identical packages
	Notices  string    // THIRD_PARTY_NOTICES (build/notices): the licences of the code linked into the binary
}

// Package metadata, the same in both formats.
const (
	name       = "audittail"
	maintainer = "audittail maintainers <audittail@users.noreply.github.com>"
	homepage   = "https://github.com/audittail/audittail"
	license    = "Apache-2.0"
	vendor     = "audittail"
	// release is the Debian revision and the RPM release of every package:
	// one package per upstream version.
	release = "1"
	// firstYear is the year of the first commit, the start of the years in
	// the copyright notice.
	firstYear = 2026
	// buildHost replaces the host name that nfpm would otherwise record in
	// the RPM header (RPMTAG_BUILDHOST), which would make the package depend
	// on the machine that built it.
	buildHost = "reproducible"

	// The first line is the Debian synopsis and the RPM summary; the rest is
	// the extended description (deb-control(5): a line with only "." in the
	// control file is an empty line, which nfpm writes for an empty line here).
	description = `Kubernetes audit log shipper to Graylog / OVHcloud Logs Data Platform
audittail follows the kube-apiserver audit log on a Kubernetes control-plane
node and sends every event as a GELF message to OVHcloud Logs Data Platform
(LDP) or to a Graylog input, over TLS.

It is built never to lose an event: it reads rotated and compressed backups
to their end, and its durable checkpoint only moves past events the server
has received, so a crash or a network failure causes duplicates, not gaps.

The package installs a systemd service that is neither enabled nor started:
write the LDP write token to /etc/audittail/stream-token, set
output.endpoint in /etc/audittail/config.yaml, then run
"systemctl enable --now audittail".`
)

// Installed paths.
const (
	binaryPath   = "/usr/bin/audittail"
	unitPath     = "/usr/lib/systemd/system/audittail.service"
	sysusersPath = "/usr/lib/sysusers.d/audittail.conf"
	configDir    = "/etc/audittail"
	configPath   = "/etc/audittail/config.yaml"
	stateDir     = "/var/lib/audittail"
	docDir       = "/usr/share/doc/audittail"
	licenseDir   = "/usr/share/licenses/audittail"
	// overridesPath is where lintian reads the overrides a binary package
	// ships (lintian(1), "OVERRIDES").
	overridesPath = "/usr/share/lintian/overrides/audittail"
)

// The maintainer scripts: POSIX sh, one script per hook for both formats
// (they tell the deb and the rpm arguments apart).
var (
	//go:embed scripts/postinstall.sh
	postInstallScript []byte
	//go:embed scripts/preremove.sh
	preRemoveScript []byte
	//go:embed scripts/postremove.sh
	postRemoveScript []byte
)

// Build writes the .deb and the .rpm for o.Arch into o.OutDir and returns their paths (deb first).
// File names: audittail_<debversion>_<debarch>.deb and audittail-<rpmversion>.<rpmarch>.rpm (the distributions' conventions; nfpm's ConventionalFileName gives them).
//
// A git describe version such as v0.1.0-3-gabc1234 becomes 0.1.0+3.gabc1234
// (Debian 0.1.0+3.gabc1234-1, RPM 0.1.0+3.gabc1234-1), which both package
// managers order after 0.1.0 and before 0.1.1; a semver pre-release such as
// v0.2.0-rc.1 becomes 0.2.0~rc.1, ordered before 0.2.0.
//
// Build fails, writing nothing, if the options are incomplete, if the binary
// is not a statically linked ELF executable for o.Arch, or if the example
// systemd unit no longer has the shape the package's unit is derived from.
// A package file is written under a temporary name and renamed when
// complete, so o.OutDir never holds a partial package under its final name.
func Build(o Options) ([]string, error) {
	version, err := o.check()
	if err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp("", "audittail-packages-")
	if err != nil {
		return nil, fmt.Errorf("create work directory: %w", err)
	}
	defer os.RemoveAll(work)

	in, err := stage(o, version, work)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, fmt.Errorf("create output directory: %w", err)
	}

	formats := []struct {
		name     string
		packager nfpm.Packager
	}{
		{"deb", deb.Default},
		{"rpm", rpm.DefaultRPM},
	}
	paths := make([]string, 0, len(formats))
	for _, f := range formats {
		path, err := write(f.packager, newInfo(o, version, in, f.name), o.OutDir)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", f.name, err)
		}
		paths = append(paths, path)
	}
	return paths, nil
}

// check validates o and returns the package version to give nfpm.
func (o Options) check() (string, error) {
	if _, ok := binaries.Machines[o.Arch]; !ok {
		return "", fmt.Errorf("unsupported architecture %q: want amd64 or arm64", o.Arch)
	}
	if o.MTime.IsZero() {
		return "", errors.New("options: MTime is not set: it is the time stored in the packages (the commit time)")
	}
	if o.RepoRoot == "" || o.OutDir == "" || o.Binary == "" || o.Notices == "" {
		return "", errors.New("options: Binary, Notices, RepoRoot and OutDir must all be set")
	}
	version, err := packageVersion(o.Version)
	if err != nil {
		return "", err
	}
	if err := binaries.Check(o.Binary, o.Arch); err != nil {
		return "", err
	}
	return version, nil
}

var (
	// gitDescribe matches the suffix git describe adds after the tag:
	// -<commits since the tag>-g<abbreviated commit>[-dirty].
	gitDescribe = regexp.MustCompile(`^(.+)-([0-9]+)-g([0-9a-f]{4,40})(-dirty)?$`)
	// semVer matches a Semantic Versioning 2.0.0 version (semver.org), with
	// an optional leading v.
	semVer = regexp.MustCompile(`^v?(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)` +
		`(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
)

// packageVersion turns a tag or a git describe output into the semantic
// version given to nfpm. The commits since the tag go into the build metadata
// (nfpm appends it with "+"), not into the pre-release (appended with "~",
// which sorts before the tag in both dpkg and rpm). The build metadata must
// not contain "-": it would end up in the upstream part of the Debian version.
func packageVersion(v string) (string, error) {
	out := v
	if m := gitDescribe.FindStringSubmatch(v); m != nil && !strings.Contains(m[1], "+") {
		out = m[1] + "+" + m[2] + ".g" + m[3]
		if m[4] != "" {
			out += ".dirty"
		}
	}
	if !semVer.MatchString(out) {
		return "", fmt.Errorf("version %q is neither a semantic version (v1.2.3, v1.2.3-rc.1) nor git describe output (v1.2.3-4-gabcdef0)", v)
	}
	if i := strings.IndexByte(out, '+'); i >= 0 && strings.Contains(out[i:], "-") {
		return "", fmt.Errorf("version %q: build metadata with \"-\" would break the Debian version", v)
	}
	return out, nil
}

// debVersion is the Debian version nfpm writes for info once nfpm.WithDefaults
// has split it: [epoch:]version[~prerelease][+metadata]-release.
func debVersion(info *nfpm.Info) string {
	v := info.Version
	if info.Epoch != "" {
		v = info.Epoch + ":" + v
	}
	if info.Prerelease != "" {
		v += "~" + info.Prerelease
	}
	if info.VersionMetadata != "" {
		v += "+" + info.VersionMetadata
	}
	if info.Release != "" {
		v += "-" + info.Release
	}
	return v
}

// staged holds the paths of the files Build generates for nfpm.
type staged struct {
	unit, copyright, overrides         string
	changelog                          string // chglog YAML, for the RPM %changelog
	debChangelog                       string // changelog.Debian.gz
	postInstall, preRemove, postRemove string
}

// stage writes the generated files into dir: the unit, the Debian copyright
// file, the changelog (chglog YAML for the RPM, changelog.Debian.gz for the
// deb), the lintian overrides and the maintainer scripts.
func stage(o Options, version, dir string) (staged, error) {
	s := staged{
		unit:         filepath.Join(dir, "audittail.service"),
		copyright:    filepath.Join(dir, "copyright"),
		changelog:    filepath.Join(dir, "changelog.yaml"),
		debChangelog: filepath.Join(dir, "changelog.Debian.gz"),
		overrides:    filepath.Join(dir, "lintian-overrides"),
		postInstall:  filepath.Join(dir, "postinstall.sh"),
		preRemove:    filepath.Join(dir, "preremove.sh"),
		postRemove:   filepath.Join(dir, "postremove.sh"),
	}

	example := filepath.Join(o.RepoRoot, "examples", "systemd", "audittail.service")
	src, err := os.ReadFile(example)
	if err != nil {
		return s, fmt.Errorf("read example unit: %w", err)
	}
	unit, err := packagedUnit(src)
	if err != nil {
		return s, fmt.Errorf("derive the unit from %s: %w", example, err)
	}

	// The Debian revision and the split of the version are nfpm's: ask it.
	info := nfpm.WithDefaults(&nfpm.Info{Name: name, Version: version, VersionSchema: "semver", Release: release})
	entries := chglog.ChangeLogEntries{{
		ChangeLogOverridables: chglog.ChangeLogOverridables{
			Deb: &chglog.ChangelogDeb{Urgency: "medium", Distributions: []string{"unstable"}},
		},
		Semver:   debVersion(info),
		Date:     o.MTime.UTC(),
		Packager: maintainer,
		Changes: chglog.ChangeLogChanges{{
			Note: "Package of audittail " + o.Version + ".",
		}, {
			Note: "Upstream changes: " + homepage + "/commits",
		}},
	}}
	if err := entries.Save(s.changelog); err != nil {
		return s, fmt.Errorf("write changelog: %w", err)
	}
	debChangelog, err := debianChangelog(entries)
	if err != nil {
		return s, err
	}

	for _, f := range []struct {
		path string
		data []byte
	}{
		{s.unit, unit},
		{s.copyright, []byte(copyrightFile(o.MTime))},
		{s.debChangelog, debChangelog},
		{s.overrides, []byte(lintianOverrides)},
		{s.postInstall, postInstallScript},
		{s.preRemove, preRemoveScript},
		{s.postRemove, postRemoveScript},
	} {
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return s, fmt.Errorf("write %s: %w", filepath.Base(f.path), err)
		}
	}
	return s, nil
}

// The install instructions at the top of the example unit, replaced in the
// packaged unit by what is left to the operator.
const (
	installBlockStart = "# For control-plane nodes. Install (as root"
	installBlockEnd   = "systemctl enable --now audittail"
)

var packagedInstructions = []string{
	"# Installed by the audittail package, which neither enables nor starts it. As root:",
	"#   write the LDP write token to /etc/audittail/stream-token (owner root, mode 0600), e.g.",
	"#     printf '%s' \"$TOKEN\" | install -m 0600 /dev/stdin /etc/audittail/stream-token",
	"#   set output.endpoint in /etc/audittail/config.yaml",
	"#   systemctl enable --now audittail",
}

// wantExecStart is the command the packaged unit must run: the packaged
// binary and configuration, the token as a systemd credential.
const wantExecStart = "ExecStart=" + binaryPath +
	" --config=" + configPath + " --stream-file=${CREDENTIALS_DIRECTORY}/stream-token"

// packagedUnit derives the packaged unit from the example unit: the binary
// path becomes /usr/bin/audittail and the manual install instructions become
// the steps left after installing the package. It fails if the instructions
// block is missing or if the result does not start wantExecStart, so that a
// change of the example cannot silently ship a wrong unit.
func packagedUnit(example []byte) ([]byte, error) {
	text := strings.ReplaceAll(string(example), "/usr/local/bin/audittail", binaryPath)
	lines := strings.SplitAfter(text, "\n")

	start, end := -1, -1
	for i, l := range lines {
		if start < 0 && strings.HasPrefix(l, installBlockStart) {
			start = i
		}
		if start >= 0 && strings.Contains(l, installBlockEnd) {
			end = i
			break
		}
	}
	if start < 0 || end < 0 {
		return nil, fmt.Errorf("install instructions (from %q to a line with %q) not found", installBlockStart, installBlockEnd)
	}
	for _, l := range lines[start : end+1] {
		if !strings.HasPrefix(l, "#") {
			return nil, fmt.Errorf("install instructions: %q is not a comment line", strings.TrimSpace(l))
		}
	}

	var out bytes.Buffer
	for _, l := range lines[:start] {
		out.WriteString(l)
	}
	for _, l := range packagedInstructions {
		out.WriteString(l + "\n")
	}
	var execStart []string
	for _, l := range lines[end+1:] {
		out.WriteString(l)
		if strings.HasPrefix(strings.TrimSpace(l), "ExecStart=") {
			execStart = append(execStart, strings.TrimSpace(l))
		}
	}
	if len(execStart) != 1 || execStart[0] != wantExecStart {
		return nil, fmt.Errorf("ExecStart lines %q, want exactly %q", execStart, wantExecStart)
	}
	return out.Bytes(), nil
}

// debianChangelog renders entries as /usr/share/doc/audittail/changelog.Debian.gz
// (Debian Policy 4.4 and 12.7), with chglog's Debian template as nfpm does,
// compressed with gzip's maximum level and no file name or time in the gzip
// header, like "gzip -9n". Build writes it itself, rather than through
// nfpm's Info.Changelog, so that it has the owner name root like every other
// file of the package.
func debianChangelog(entries chglog.ChangeLogEntries) ([]byte, error) {
	tpl, err := chglog.DebTemplate()
	if err != nil {
		return nil, fmt.Errorf("load Debian changelog template: %w", err)
	}
	text, err := chglog.FormatChangelog(&chglog.PackageChangeLog{Name: name, Entries: entries}, tpl)
	if err != nil {
		return nil, fmt.Errorf("format Debian changelog: %w", err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("compress Debian changelog: %w", err)
	}
	if _, err := zw.Write([]byte(strings.TrimSpace(text) + "\n")); err != nil {
		return nil, fmt.Errorf("compress Debian changelog: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress Debian changelog: %w", err)
	}
	return buf.Bytes(), nil
}

// copyrightFile is /usr/share/doc/audittail/copyright in the machine-readable
// format 1.0 (https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/),
// with the years from firstYear to the year of mtime. Debian Policy 12.5 lets
// it point to /usr/share/common-licenses/Apache-2.0 instead of repeating the
// licence text.
func copyrightFile(mtime time.Time) string {
	years := fmt.Sprint(firstYear)
	if y := mtime.UTC().Year(); y > firstYear {
		years = fmt.Sprintf("%d-%d", firstYear, y)
	}
	return strings.Replace(copyrightTemplate, "{{years}}", years, 1)
}

const copyrightTemplate = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: audittail
Upstream-Contact: ` + maintainer + `
Source: ` + homepage + `
Comment: /usr/bin/audittail also contains the Go standard library and Go
 modules, each under its own licence (BSD-3-Clause, MIT, Apache-2.0); their
 notices and licence texts are in /usr/share/doc/audittail/THIRD_PARTY_NOTICES.

Files: *
Copyright: {{years}} The audittail authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 https://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
`

// lintianOverrides is the override file of the .deb (lintian(1),
// "OVERRIDES"): one line per tag that does not apply, with the reason.
const lintianOverrides = `# Go links statically by default. Lintian exempts Go programs only when it
# sees the golang-go build dependency of a Debian source package, which this
# binary-only package has not; the binary needs no C library.
audittail: statically-linked-binary [usr/bin/audittail]
`

// newInfo describes the package in format ("deb" or "rpm") for nfpm. Each
// packager gets its own Info: nfpm rewrites its fields (architecture,
// contents) while packaging.
func newInfo(o Options, version string, in staged, format string) *nfpm.Info {
	root := func(mode os.FileMode) *files.ContentFileInfo {
		return &files.ContentFileInfo{Mode: mode, Owner: "root", Group: "root"}
	}
	contents := files.Contents{
		{Source: o.Binary, Destination: binaryPath, FileInfo: root(0o755)},
		{Source: in.unit, Destination: unitPath, FileInfo: root(0o644)},
		{
			Source:      filepath.Join(o.RepoRoot, "examples", "systemd", "audittail.sysusers.conf"),
			Destination: sysusersPath, FileInfo: root(0o644),
		},
		// No secret in it: the token is a separate file the operator writes.
		{
			Source: filepath.Join(o.RepoRoot, "examples", "config.yaml"), Destination: configPath,
			Type: files.TypeConfigNoReplace, FileInfo: root(0o644),
		},
		{Destination: configDir, Type: files.TypeDir, FileInfo: root(0o755)},
		// systemd's StateDirectory= gives it to the audittail user at each start.
		{Destination: stateDir, Type: files.TypeDir, FileInfo: root(0o700)},
		{Source: filepath.Join(o.RepoRoot, "README.md"), Destination: docDir + "/README.md", Packager: "deb", FileInfo: root(0o644)},
		{Source: in.copyright, Destination: docDir + "/copyright", Packager: "deb", FileInfo: root(0o644)},
		{Source: in.debChangelog, Destination: docDir + "/changelog.Debian.gz", Packager: "deb", FileInfo: root(0o644)},
		{Source: o.Notices, Destination: docDir + "/THIRD_PARTY_NOTICES", Packager: "deb", FileInfo: root(0o644)},
		{Source: in.overrides, Destination: overridesPath, Packager: "deb", FileInfo: root(0o644)},
		// RPM: %doc and %license, and their directories, which rpm does not
		// add by itself (nfpm leaves parent directories out of an RPM).
		{Source: filepath.Join(o.RepoRoot, "README.md"), Destination: docDir + "/README.md", Type: files.TypeRPMDoc, Packager: "rpm", FileInfo: root(0o644)},
		{Source: filepath.Join(o.RepoRoot, "LICENSE"), Destination: licenseDir + "/LICENSE", Type: files.TypeRPMLicense, Packager: "rpm", FileInfo: root(0o644)},
		{Source: o.Notices, Destination: licenseDir + "/THIRD_PARTY_NOTICES", Type: files.TypeRPMLicense, Packager: "rpm", FileInfo: root(0o644)},
		{Destination: docDir, Type: files.TypeDir, Packager: "rpm", FileInfo: root(0o755)},
		{Destination: licenseDir, Type: files.TypeDir, Packager: "rpm", FileInfo: root(0o755)},
	}
	info := &nfpm.Info{
		Name:          name,
		Arch:          o.Arch,
		Platform:      "linux",
		Version:       version,
		VersionSchema: "semver",
		Release:       release,
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    maintainer,
		Description:   description,
		Vendor:        vendor,
		Homepage:      homepage,
		License:       license,
		// Sources are literal paths: a checkout path with * or [ must not glob.
		DisableGlobbing: true,
		MTime:           o.MTime.UTC(),
		Overridables: nfpm.Overridables{
			Contents: contents,
			Scripts: nfpm.Scripts{
				PostInstall: in.postInstall,
				PreRemove:   in.preRemove,
				PostRemove:  in.postRemove,
			},
			RPM: nfpm.RPM{BuildHost: buildHost},
		},
	}
	if format == "rpm" {
		// The RPM header's %changelog; the deb has changelog.Debian.gz.
		info.Changelog = in.changelog
		// RPM keeps the summary apart from the description, which would
		// otherwise repeat it as its first line.
		info.RPM.Summary, info.Description, _ = strings.Cut(description, "\n")
	}
	return info
}

// write packages info with p into a temporary file of outDir, then renames
// it to p's conventional file name.
func write(p nfpm.Packager, info *nfpm.Info, outDir string) (string, error) {
	nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return "", fmt.Errorf("validate: %w", err)
	}
	path := filepath.Join(outDir, p.ConventionalFileName(info))

	f, err := os.CreateTemp(outDir, ".audittail-package-*")
	if err != nil {
		return "", fmt.Errorf("create package file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed

	if err := p.Package(info, f); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return "", fmt.Errorf("chmod package file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("write package file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("rename package file: %w", err)
	}
	return path, nil
}
