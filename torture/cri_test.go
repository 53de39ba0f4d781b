package torture

import (
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// criLog writes a container log as the runtime and kubelet do: each event
// on stdout in the CRI logging format (containerd internal/cri/io/logger.go:
// "<RFC 3339 time> <stream> <P|F> <text>\n", one write each), every tenth
// split into three P fragments and an F one (conmon splits at any size,
// containerd at 16 KiB), a klog line on stderr every seventh; kubelet's
// rotation (pkg/kubelet/logs/container_log_manager.go) about every second:
// the newest plain backup is gzipped (through a .tmp), N.log is renamed to
// N.log.<local time YYYYMMDD-hhmmss> and the runtime reopens N.log; and
// one container restart half way, to (N+1).log.
type criLog struct {
	dir      string
	n        int // restart count: the live file is <n>.log
	f        *os.File
	lastRot  time.Time
	plain    string // the newest backup, not yet gzipped
	restarts int
	buf      []byte
}

func newCRILog(dir string) (*criLog, error) {
	c := &criLog{dir: dir, lastRot: time.Now()}
	return c, c.open()
}

func (c *criLog) live() string { return filepath.Join(c.dir, fmt.Sprintf("%d.log", c.n)) }

func (c *criLog) open() error {
	f, err := os.OpenFile(c.live(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	c.f = f
	return err
}

func (c *criLog) phys(stream, tag string, text []byte) error {
	c.buf = time.Now().UTC().AppendFormat(c.buf[:0], time.RFC3339Nano)
	c.buf = append(c.buf, ' ')
	c.buf = append(c.buf, stream...)
	c.buf = append(c.buf, ' ')
	c.buf = append(c.buf, tag...)
	c.buf = append(c.buf, ' ')
	c.buf = append(c.buf, text...)
	c.buf = append(c.buf, '\n')
	_, err := c.f.Write(c.buf)
	return err
}

// line writes one event line (with its newline) as the runtime stores it.
func (c *criLog) line(b []byte, seq int64) (int, error) {
	text := b[:len(b)-1]
	if seq%10 == 0 {
		k := len(text) / 4
		for range 3 {
			if err := c.phys("stdout", "P", text[:k]); err != nil {
				return 0, err
			}
			text = text[k:]
		}
	}
	if err := c.phys("stdout", "F", text); err != nil {
		return 0, err
	}
	if seq%7 == 0 {
		if err := c.phys("stderr", "F", []byte("E1206 10:00:00.000000       1 controller.go:113] loading OpenAPI spec failed")); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// maybeRotate rotates when a second has passed since the last rotation
// (kubelet's names have a one-second precision), and restarts the
// container once, at restartAt.
func (c *criLog) maybeRotate(restartAt time.Time) (rotated bool, err error) {
	now := time.Now()
	if c.restarts == 0 && !restartAt.IsZero() && now.After(restartAt) {
		c.restarts++
		c.f.Close()
		c.n++
		return false, c.open()
	}
	if now.Sub(c.lastRot) < 1100*time.Millisecond {
		return false, nil
	}
	if c.plain != "" {
		if err := gzipFile(c.plain); err != nil {
			return false, err
		}
	}
	backup := c.live() + "." + now.Format("20060102-150405")
	if err := os.Rename(c.live(), backup); err != nil {
		return false, err
	}
	c.plain, c.lastRot = backup, now
	old := c.f
	if err := c.open(); err != nil {
		return false, err
	}
	return true, old.Close()
}

// gzipFile compresses path as kubelet does: path.tmp written, renamed to
// path.gz, path removed.
func gzipFile(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := path + ".tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path+".gz"); err != nil {
		return err
	}
	return os.Remove(path)
}

// cri-kill-restart: kube-apiserver logs its audit events to its standard
// output (--audit-log-path=-); the runtime writes them in the CRI format,
// with fragments and stderr lines, kubelet rotates the log every second and
// gzips the backups, and the container restarts once; every 1 to 3 s the
// agent (--format cri, --path the container's log directory) is killed
// with SIGKILL and started again, and once the log server is down for 2 s.
func testCRIKillRestart(t *testing.T) {
	s := newScenario(t, "cri-kill-restart", false)
	sd := seed(t)
	t.Logf("seed %d (TORTURE_SEED=%d repeats the kill times)", sd, sd)
	rng := rand.New(rand.NewPCG(sd, 3))
	dir := filepath.Join(s.dir, "kube-system_kube-apiserver-cp1_0123", "kube-apiserver")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	c, err := newCRILog(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.logPath = filepath.Join(dir, "1.log") // where the checkpoint ends
	s.ag = newAgents(t, "--format", "cri", "--path", dir, "--endpoint", s.srv.Endpoint(), "--checkpoint", s.ckpt, "--log-level", "info")
	s.w = &writer{rate: rate(t), cri: c, restartAt: time.Now().Add(duration(t) / 2)}
	s.firstStart()
	s.goWrite(time.Now().Add(duration(t)), nil)
	s.killWhileWriting(rng, 2*time.Second) // the files are the buffer
	s.waitWriter()
	s.finish()
}
