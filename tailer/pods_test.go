package tailer

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/audittail/audittail/checkpoint"
)

// podPattern is tail.path for kube-apiserver's container log directories
// under root, one per pod (a static pod's UID changes with its manifest).
func podPattern(root string) string {
	return filepath.Join(root, "kube-system_kube-apiserver-node1_*", "kube-apiserver")
}

// newPod makes the container log directory of a kube-apiserver pod with
// the given UID, as kubelet does when the pod starts, and its 0.log. The
// pause makes its creation time later than the previous pod's (file
// systems keep it at the precision of the kernel's coarse clock).
func newPod(t *testing.T, root, uid string) *containerLog {
	t.Helper()
	time.Sleep(20 * time.Millisecond)
	dir := filepath.Join(root, "kube-system_kube-apiserver-node1_"+uid, "kube-apiserver")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return newContainerLog(t, dir, 5)
}

// kubelet removes the old pod's log directory (evictPodLogsDirectories).
func removePod(t *testing.T, c *containerLog) {
	t.Helper()
	if err := os.RemoveAll(filepath.Dir(c.dir)); err != nil {
		t.Fatal(err)
	}
}

func TestPodPatternConfig(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string // "" for valid
	}{
		{Config{Path: "/var/log/pods/kube-system_kube-apiserver-*/kube-apiserver", Rotation: RotationKubelet}, ""},
		{Config{Path: "/var/log/pods/kube-system_kube-apiserver-*/kube-apiserver", Format: FormatCRI}, ""},
		{Config{Path: "/var/log/pods/kube-system_kube-apiserver-*/kube-apiserver"}, "only for container log directories"},
		{Config{Path: "/var/log/kubernetes/audit-*.log", Rotation: RotationLumberjack}, "only for container log directories"},
		{Config{Path: "/var/log/pods/kube-system_kube-apiserver-*/kube-apiserver/[", Rotation: RotationKubelet}, "syntax error in pattern"},
		{Config{Path: "/var/log/pods/kube-system_kube-apiserver-[a-/kube-apiserver", Rotation: RotationKubelet}, "syntax error in pattern"},
		{Config{Path: "/var/log/pods/kube-system_kube-apiserver-*/kube-apiserver/0.log", Rotation: RotationKubelet}, "not their files"},
	} {
		c := tc.c
		c.SetDefaults()
		err := c.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.want)
		}
		if tc.want == "syntax error in pattern" && !errors.Is(err, filepath.ErrBadPattern) {
			t.Errorf("%+v: %v is not ErrBadPattern", tc.c, err)
		}
	}
}

// kube-apiserver's manifest changes: the new pod logs to a new directory
// (whose name sorts before the old one's: the order is the pods', not the
// names'), the old pod writing its last lines after the new one's first.
// Every line comes once, in order, with exact offsets; kubelet removes the
// old directory once it was read, which loses nothing.
func TestPodReplacedByNewUID(t *testing.T) {
	root := t.TempDir()
	old := newPod(t, root, "zzz")
	lines := seqLines("p", 14)
	old.write(lines[:2]...)
	tl := newTailer(t, kubeletConfig(t, podPattern(root)), checkpoint.Position{}, time.Time{})
	l0 := fileFrom(t, old.path(), lines[0])
	expectLines(t, tl, l0, lines[:2], 0)
	b := old.rotate(lines[2:3], nil)
	old.write(lines[3:5]...)
	expectLines(t, tl, from{path: b, ino: l0.ino, first: lines[0]}, lines[2:3], size(lines[:2]))
	live := fileFrom(t, old.path(), lines[3])
	expectLines(t, tl, live, lines[3:5], 0)

	nw := newPod(t, root, "aaa")
	nw.write(lines[7:9]...)
	old.write(lines[5:7]...) // the old pod's last lines, after the new one's first
	expectLines(t, tl, live, lines[5:7], size(lines[3:5]))
	nl := fileFrom(t, nw.path(), lines[7])
	expectLines(t, tl, nl, lines[7:9], 0)
	nb := nw.rotate(nil, nil)
	nw.write(lines[9:11]...)
	expectLines(t, tl, fileFrom(t, nw.path(), lines[9]), lines[9:11], 0)
	removePod(t, old)
	nw.write(lines[11:]...)
	expectLines(t, tl, fileFrom(t, nw.path(), lines[9]), lines[11:], size(lines[9:11]))
	expectNothing(t, tl)
	if st := tl.Stats(); st.Pods != 1 || st.Restarts != 0 || st.Rotations != 3 || st.LostFiles != 0 || st.LostBytes != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if _, err := os.Stat(nb); err != nil {
		t.Fatal(err)
	}
}

// The agent is behind, reading the old pod's backups, when kubelet removes
// the old pod's directory: what was open is read to its end, and the
// backup and the live log it had not got to are counted as lost.
func TestPodRemovedWhileBehind(t *testing.T) {
	root := t.TempDir()
	old := newPod(t, root, "zzz")
	old.maxFiles = 10
	lines := seqLines("q", 10)
	old.write(lines[:2]...)
	tl := newTailer(t, kubeletConfig(t, podPattern(root)), checkpoint.Position{}, time.Time{})
	l0 := fileFrom(t, old.path(), lines[0])
	pos := expectLines(t, tl, l0, lines[:1], 0)
	tl.Close()
	saved := time.Now()
	b1 := old.rotate(nil, nil)
	old.write(lines[2:4]...)
	b2 := old.rotate(nil, nil) // gzips b1
	old.write(lines[4:6]...)
	b3 := old.rotate(nil, nil) // gzips b2
	old.write(lines[6:8]...)
	nw := newPod(t, root, "aaa")
	nw.write(lines[8:]...)

	tl = newTailer(t, kubeletConfig(t, podPattern(root)), pos, saved)
	expectLines(t, tl, from{path: b1 + ".gz", ino: inodeOf(t, b1+".gz"), first: lines[0]}, lines[1:2], size(lines[:1]))
	gz2 := from{path: b2 + ".gz", ino: inodeOf(t, b2+".gz"), first: lines[2]}
	expectLines(t, tl, gz2, lines[2:3], 0)
	removePod(t, old)
	expectLines(t, tl, gz2, lines[3:4], size(lines[2:3])) // from the open descriptor
	expectLines(t, tl, fileFrom(t, nw.path(), lines[8]), lines[8:], 0)
	want := uint64(size(lines[4:8])) // b3, and the live log
	if st := tl.Stats(); st.Pods != 1 || st.LostFiles != 2 || st.LostBytes != want {
		t.Fatalf("stats = %+v, want 2 files and %d bytes lost", st, want)
	}
	_ = b3
}

// Stopped before the pod was replaced, the agent resumes from its
// checkpoint in the old pod's directory and walks forward to the new
// pod's; a fresh start takes the new pod.
func TestPodResumeInReplacedPod(t *testing.T) {
	root := t.TempDir()
	old := newPod(t, root, "zzz")
	lines := seqLines("r", 8)
	old.write(lines[:2]...)
	tl := newTailer(t, kubeletConfig(t, podPattern(root)), checkpoint.Position{}, time.Time{})
	l0 := fileFrom(t, old.path(), lines[0])
	pos := expectLines(t, tl, l0, lines[:1], 0)
	tl.Close()
	saved := time.Now()
	old.write(lines[2:4]...)
	old.restartContainer().Close() // 1.log: the old pod's container restarted once
	old.write(lines[4])
	l1 := fileFrom(t, old.path(), lines[4])
	nw := newPod(t, root, "aaa")
	nw.write(lines[5:7]...)

	tl = newTailer(t, kubeletConfig(t, podPattern(root)), pos, saved)
	expectLines(t, tl, l0, lines[1:4], size(lines[:1]))
	expectLines(t, tl, l1, lines[4:5], 0)
	nl := fileFrom(t, nw.path(), lines[5])
	expectLines(t, tl, nl, lines[5:7], 0)
	nw.write(lines[7])
	expectLines(t, tl, nl, lines[7:], size(lines[5:7]))
	if st := tl.Stats(); st.Pods != 1 || st.Restarts != 1 || st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
	if p, ok := tl.StartPosition(); !ok || p.Path != old.dir+"/0.log" {
		t.Fatalf("start position %+v %v", p, ok)
	}

	fresh := newTailer(t, kubeletConfig(t, podPattern(root)), checkpoint.Position{}, time.Time{})
	expectLines(t, fresh, nl, lines[5:], 0)
	expectNothing(t, fresh)
}

// A pattern that matches nothing yet waits; another pod's directory is
// not followed; the first kube-apiserver pod is read from its start.
func TestPodPatternMatchesNothingYet(t *testing.T) {
	root := t.TempDir()
	tl := newTailer(t, kubeletConfig(t, podPattern(root)), checkpoint.Position{}, time.Time{})
	expectNothing(t, tl)
	etcd := filepath.Join(root, "kube-system_etcd-node1_123", "etcd")
	if err := os.MkdirAll(etcd, 0o755); err != nil {
		t.Fatal(err)
	}
	newContainerLog(t, etcd, 5).write("etcd\n")
	expectNothing(t, tl)
	p := newPod(t, root, "abc")
	lines := seqLines("s", 4)
	p.write(lines[:2]...)
	b := p.rotate(nil, nil)
	p.write(lines[2:]...)
	expectLines(t, tl, fileFrom(t, b, lines[0]), lines[:2], 0)
	expectLines(t, tl, fileFrom(t, p.path(), lines[2]), lines[2:], 0)
	if st := tl.Stats(); st.Pods != 1 || st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// Two pods alive at once during the replacement: the new pod writes while
// the old one still writes its last lines (and rotates). The old pod's
// lines all come first, then the new one's, every one once.
func TestPodsAliveAtOnce(t *testing.T) {
	root := t.TempDir()
	old := newPod(t, root, "zzz")
	pad := strings.Repeat("p", 300)
	cfg := kubeletConfig(t, podPattern(root))
	cfg.PollInterval = 50 * time.Millisecond
	tl := newTailer(t, cfg, checkpoint.Position{}, time.Time{})
	const n1, n = 3000, 6000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() {
		close(stop)
		wg.Wait()
	}()
	pause := func() bool {
		select {
		case <-stop:
			return false
		case <-time.After(200 * time.Microsecond):
			return true
		}
	}
	newBorn := make(chan *containerLog, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 0; seq < n1; seq++ {
			old.write(kubeletEvent(seq, pad))
			if seq == n1/2 {
				newBorn <- newPod(t, root, "aaa")
			}
			if seq == n1/4 || seq == 3*n1/4 {
				old.rotate(nil, nil)
			}
			if seq%10 == 0 && !pause() {
				return
			}
		}
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		var nw *containerLog
		select {
		case nw = <-newBorn:
		case <-stop:
			return
		}
		for seq := n1; seq < n; seq++ {
			nw.write(kubeletEvent(seq, pad))
			if seq%10 == 0 && !pause() {
				return
			}
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	lastOffset := map[string]int64{}
	for want := 0; want < n; want++ {
		l, err := nextWithin(ctx, tl)
		if err != nil {
			t.Fatalf("after %d of %d lines: %v", want, n, err)
		}
		var ev struct{ Seq int }
		if err := json.Unmarshal(l.Text, &ev); err != nil || l.Partial {
			t.Fatalf("line %d: %q: %v", want, l.Text, err)
		}
		if ev.Seq != want {
			t.Fatalf("got line %d, want %d (source %s)", ev.Seq, want, l.Source)
		}
		if l.Pos.Offset != l.Start+l.Size+1 || l.Start != lastOffset[l.Pos.Fingerprint] {
			t.Fatalf("line %d: start %d offset %d, previous end %d in %s", want, l.Start, l.Pos.Offset, lastOffset[l.Pos.Fingerprint], l.Source)
		}
		lastOffset[l.Pos.Fingerprint] = l.Pos.Offset
	}
	expectNothing(t, tl)
	if st := tl.Stats(); st.Pods != 1 || st.Rotations != 3 || st.LostFiles != 0 {
		t.Fatalf("stats = %+v", st)
	}
}
