package tailer

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// backupTimeFormat is lumberjack's (v2) time stamp in backup names, in UTC for kube-apiserver.
const backupTimeFormat = "2006-01-02T15-04-05.000"

// naming knows the backup names of one live file: lumberjack's (the
// default), audit.log rotated to audit-2026-11-21T12-12-44.053.log, then
// maybe to audit-2026-11-21T12-12-44.053.log.gz; or, with kubelet set,
// kubelet's (see kubelet.go), 0.log rotated to 0.log.20261121-121244, later
// gzipped to 0.log.20261121-121244.gz.
type naming struct {
	dir     string
	live    string // base name of the live file
	prefix  string // "audit-"
	ext     string // ".log"
	kubelet bool
}

func newNaming(path string, r Rotation) naming {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	return naming{dir: filepath.Dir(path), live: base, prefix: base[:len(base)-len(ext)] + "-", ext: ext, kubelet: r == RotationKubelet}
}

// parse returns the rotation time of a backup's base name and whether it is gzipped.
func (n naming) parse(base string) (ts time.Time, gz, ok bool) {
	if strings.HasSuffix(base, ".gz") {
		base, gz = strings.TrimSuffix(base, ".gz"), true
	}
	if n.kubelet {
		ts, ok := parseKubeletBackup(n.live, base)
		return ts, gz, ok
	}
	if !strings.HasPrefix(base, n.prefix) || !strings.HasSuffix(base, n.ext) {
		return time.Time{}, false, false
	}
	s := base[len(n.prefix) : len(base)-len(n.ext)]
	t, err := time.ParseInLocation(backupTimeFormat, s, time.UTC)
	if err != nil {
		return time.Time{}, false, false
	}
	return t, gz, true
}

// before returns the rotation time to read the backups rotated at or after
// t from (Tailer.lastRotated): a little before t, to the precision of the
// backup names, a millisecond with lumberjack's, a second with kubelet's.
// A backup rotated in the same second before t may be read again with
// kubelet's: a duplicate rather than a loss.
func (n naming) before(t time.Time) time.Time {
	if n.kubelet {
		return t.Truncate(time.Second).Add(-time.Millisecond)
	}
	return t.Add(-time.Millisecond)
}

// backup is one rotated generation of the log.
type backup struct {
	ts    time.Time
	plain string // full path of the plain backup, "" if absent
	gz    string // full path of the gzipped backup, "" if absent
}

// path returns the file to read: the plain file when both exist, because the
// .gz may still be being written (lumberjack removes the plain file only after
// the .gz is complete).
func (b backup) path() (string, bool) {
	if b.plain != "" {
		return b.plain, false
	}
	return b.gz, true
}

// list returns the backups in the directory, oldest first.
func (n naming) list() ([]backup, error) {
	ents, err := os.ReadDir(n.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // not created yet; the live file cannot exist either
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", n.dir, err)
	}
	byTS := map[time.Time]*backup{}
	for _, e := range ents {
		ts, gz, ok := n.parse(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		b := byTS[ts]
		if b == nil {
			b = &backup{ts: ts}
			byTS[ts] = b
		}
		if gz {
			b.gz = filepath.Join(n.dir, e.Name())
		} else {
			b.plain = filepath.Join(n.dir, e.Name())
		}
	}
	out := make([]backup, 0, len(byTS))
	for _, b := range byTS {
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ts.Before(out[j].ts) })
	return out, nil
}

// fpMax bounds the bytes hashed for a fingerprint. The first line of an audit
// log holds a unique auditID and time stamps, so it identifies the file.
const fpMax = 64 << 10

// fingerprint hashes the first line of r (without its newline), or its first
// fpMax bytes if the line is longer. ok is false while the first line is
// incomplete: such a file has no identity yet.
func fingerprint(r io.Reader) (fp string, n int, ok bool, err error) {
	buf := make([]byte, fpMax)
	m, err := io.ReadFull(r, buf)
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return "", 0, false, err
	}
	buf = buf[:m]
	if i := bytes.IndexByte(buf, '\n'); i >= 0 {
		buf = buf[:i]
	} else if m < fpMax {
		return "", 0, false, nil
	}
	return hashFirstLine(buf), len(buf), true, nil
}

// hashFirstLine is the fingerprint of the bytes fingerprint covers.
func hashFirstLine(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// lineFingerprint is what fingerprint returns for a file whose first line is
// l, computed from the line as it was read rather than from the file, which
// may have been rewritten since. ok is false when l's text was cut shorter
// than the bytes a fingerprint covers.
func lineFingerprint(l line) (fp string, n int, ok bool) {
	n = int(min(l.size, fpMax))
	if len(l.text) < n {
		return "", 0, false
	}
	return hashFirstLine(l.text[:n]), n, true
}

// fingerprintFile fingerprints a plain file without moving its offset, or a
// gzipped one by its decompressed content.
func fingerprintFile(f *os.File, gz bool) (string, int, bool, error) {
	if !gz {
		return fingerprint(io.NewSectionReader(f, 0, fpMax))
	}
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return "", 0, false, err
	}
	return fingerprint(zr)
}

// fingerprintPath opens path, which must be a regular file, and fingerprints it.
func fingerprintPath(path string, gz bool) (string, int, bool, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return "", 0, false, err
	}
	defer f.Close()
	return fingerprintFile(f, gz)
}

// verifyGzip reads a whole gzip file to check its CRC and length trailers, so
// that no line of a corrupt backup is ever handed on, and returns its
// decompressed size. It returns ctx.Err() when ctx ends first.
func verifyGzip(ctx context.Context, f *os.File) (int64, error) {
	zr, err := gzip.NewReader(io.NewSectionReader(f, 0, 1<<62))
	if err != nil {
		return 0, err
	}
	return discard(ctx, zr, -1)
}

// lastLineEnd returns the offset just after the last newline before size, or
// 0. It returns ctx.Err() when ctx ends first: a large file without a newline
// is read backwards to its start.
func lastLineEnd(ctx context.Context, f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
