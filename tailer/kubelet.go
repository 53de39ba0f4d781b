package tailer

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// With --audit-log-path=- kube-apiserver writes its audit log to its
// standard output, and the container runtime stores it as the container's
// log; kubelet rotates that log (RotationKubelet). What the tailer relies
// on, from the sources (kubernetes/kubernetes
// pkg/kubelet/logs/container_log_manager.go unless stated; read at
// kubernetes/kubernetes@030880a5, containerd/containerd@301026e5,
// containers/conmon@c3f70a38, Mirantis/cri-dockerd@246bd657):
//
//   - Names. The log of each instance of a container is
//     <pod logs dir>/<namespace>_<pod>_<uid>/<container>/<restart count>.log
//     (pkg/kubelet/kuberuntime/helpers.go, BuildPodLogsDirectory and
//     buildContainerLogsPath): a restart of the container writes a new file,
//     <n+1>.log, in the same directory.
//   - Rotation (rotateLog, run for running containers whose log reached
//     containerLogMaxSize, 10Mi by default, looked at every
//     containerLogMonitorInterval, 10s by default, keeping
//     containerLogMaxFiles, 5 by default: pkg/kubelet/apis/config/v1beta1/
//     defaults.go), in this order: remove the unused files of earlier
//     rotations (cleanupUnusedLogs: "*.tmp", and a plain file whose ".gz"
//     exists); remove the oldest rotated files, in name order, so that at
//     most containerLogMaxFiles-2 are left (removeExcessLogs); gzip every
//     rotated file not yet gzipped (compressLog: written to "<file>.tmp",
//     renamed to "<file>.gz", then the plain file removed); then rename
//     <n>.log to <n>.log.<time> (rotateLatestLog), with time formatted
//     "20060102-150405" (timestampFormat) from kubelet's clock.Now(), the
//     local time of kubelet's host, and call the runtime's
//     ReopenContainerLog; if that fails, rename the file back to <n>.log.
//     So the newest backup stays plain until the next rotation gzips it.
//   - Reopening. The runtime writes to the renamed file until
//     ReopenContainerLog: containerd (internal/cri/server/
//     container_log_reopen.go) opens a new <n>.log (O_CREATE|O_APPEND,
//     internal/cri/server/helpers_linux.go, openLogFile), swaps its loggers
//     and closes the old ones, whose goroutines then write what they had of
//     an unfinished line to the old file as a last P line
//     (internal/cri/io/logger.go, redirectLogs): the renamed file may get a
//     write just after the new one appeared. conmon (CRI-O) writes the new
//     file as <n>.log.tmp and renames it to <n>.log (src/ctr_logging.c,
//     reopen_k8s_file). cri-dockerd does not support ReopenContainerLog
//     (core/logs.go), so kubelet renames the file (a symbolic link to
//     Docker's <id>-json.log there) back.
//
// The tailer therefore finishes a rotated file only once the live path
// names another file (or the container has a later instance) and a grace
// of rotateGrace has passed since, reading it to its end once more after
// that; a file renamed back is the live file again. Backup names have a
// second's precision, in the local time of kubelet's host, which the
// tailer takes to be its own (time.Local: both are UTC on most nodes; set
// TZ for the agent otherwise). Only the comparisons with the time of the
// checkpoint depend on it; backups are ordered by their time stamps, which
// is kubelet's name order (an hour of names repeated when summer time ends
// in a zone that has it is the exception).

// kubeletTimeFormat is kubelet's time stamp in backup names (timestampFormat).
const kubeletTimeFormat = "20060102-150405"

// parseKubeletBackup returns the rotation time of base, the name (without
// .gz) of a backup of the live file live: live.<YYYYMMDD-hhmmss>.
func parseKubeletBackup(live, base string) (time.Time, bool) {
	s, ok := strings.CutPrefix(base, live+".")
	if !ok || len(s) != len(kubeletTimeFormat) {
		return time.Time{}, false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; i == 8 && c != '-' || i != 8 && (c < '0' || c > '9') {
			return time.Time{}, false
		}
	}
	ts, err := time.ParseInLocation(kubeletTimeFormat, s, time.Local)
	return ts, err == nil
}

// restartOf returns the restart count n that base, the name of a file of a
// container's log, belongs to: n.log, n.log.<time> or n.log.<time>.gz.
func restartOf(base string) (int, bool) {
	num, rest, ok := strings.Cut(base, ".log")
	if !ok || num == "" || len(num) > 9 || rest != "" && rest[0] != '.' {
		return 0, false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// liveRestart returns the restart count n of base if it is the name of a
// live container log, n.log as kubelet writes it.
func liveRestart(base string) (int, bool) {
	n, ok := restartOf(base)
	return n, ok && base == strconv.Itoa(n)+".log"
}

// restartLogs returns the restart counts of the live container logs in dir
// (regular files, or symbolic links to them as cri-dockerd makes).
func restartLogs(dir string) ([]int, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		n, ok := liveRestart(e.Name())
		if !ok {
			continue
		}
		if !e.Type().IsRegular() {
			if fi, err := os.Stat(filepath.Join(dir, e.Name())); err != nil || !fi.Mode().IsRegular() {
				continue
			}
		}
		out = append(out, n)
	}
	return out, nil
}

// containerLogDir reports whether path, with RotationKubelet, names a
// container's log directory rather than one of its files: a directory, or
// nothing yet and a name that does not end in ".log".
func containerLogDir(path string) bool {
	fi, err := os.Stat(path)
	if err == nil {
		return fi.IsDir()
	}
	return errors.Is(err, fs.ErrNotExist) && !strings.HasSuffix(path, ".log")
}

// instanceToFollow returns the live file to follow first in the container
// log directory dir: the instance of start, the file the checkpoint names
// ("" for none), if it is in
// dir; else the newest instance (the highest restart count); else 0.log,
// to be waited for.
func instanceToFollow(dir, start string) (string, error) {
	if start != "" && filepath.Dir(start) == dir {
		if n, ok := restartOf(filepath.Base(start)); ok {
			return filepath.Join(dir, strconv.Itoa(n)+".log"), nil
		}
	}
	ns, err := restartLogs(dir)
	if err != nil {
		return "", err
	}
	newest := 0
	for _, n := range ns {
		newest = max(newest, n)
	}
	return filepath.Join(dir, strconv.Itoa(newest)+".log"), nil
}

// laterRestart returns the lowest restart count above the followed one
// whose log exists: the container's next instance (a later one when the
// next one's log was removed before it could be read).
func (t *Tailer) laterRestart() (int, bool) {
	ns, err := restartLogs(t.names.dir)
	if err != nil {
		return 0, false
	}
	best, ok := 0, false
	for _, n := range ns {
		if n > t.restart && (!ok || n < best) {
			best, ok = n, true
		}
	}
	return best, ok
}

// noteLaterRestart looks, when the live file is read to its end and the
// path still names it, whether the container has a later instance, and
// notes when one was first seen: the live file is left rotateGrace after
// that (see Next).
func (t *Tailer) noteLaterRestart() {
	if !t.restarts || !t.laterAt.IsZero() {
		return
	}
	if n, ok := t.laterRestart(); ok {
		t.later, t.laterAt = n, time.Now()
		t.log.Debug().Int("restart", n).Msg("the container has a later instance; reading its current log to its end first")
		return
	}
	if t.pods != nil {
		t.noteNewerPod()
	}
}

// instanceEnded reports whether the live file, read to its end, is to be
// left for the log of the container's next instance: one was seen
// rotateGrace ago (the runtime's last writes to the old log have landed).
// The file is then read to its end once more, as a rotated file.
func (t *Tailer) instanceEnded(cur *file) bool {
	if !t.restarts || t.laterAt.IsZero() || time.Since(t.laterAt) < t.rotateGrace() || !t.podQuiet() {
		return false
	}
	cur.live, cur.settled, cur.ended = false, true, true
	return true
}

// followRestart goes on with the log of the container's instance n: its
// backups first, all of them, oldest first (the agent may be behind), then
// its live file.
func (t *Tailer) followRestart(n int) {
	from := t.path
	t.path = filepath.Join(t.names.dir, strconv.Itoa(n)+".log")
	t.names = newNaming(t.path, t.cfg.Rotation)
	t.watch.setLive(t.names.live)
	t.restart = n
	t.later, t.laterAt, t.laterPod = 0, time.Time{}, podDir{}
	t.lastRotated = time.Unix(0, 0).UTC() // every backup of the new instance's log is to be read
	t.seen, t.liveUnread = nil, nil
	t.dirChanged = true
	t.restartsFollowed.Add(1)
	t.log.Info().Str("from", from).Str("file", t.path).Msg("following the log of the container's next instance")
}

// awaitReopen is what Next does at the end of a rotated file with
// RotationKubelet, until the file is settled (see the comment at the top).
// again is true when there is more to do at once: the file is settled and
// is to be read to its end once more, or was renamed back and is the live
// file again.
func (t *Tailer) awaitReopen(cur *file) (again bool) {
	if cur.reopened.IsZero() && !cur.ts.IsZero() && t.newerBackup(cur.ts) {
		// Rotated again since: the runtime reopened its log long ago.
		cur.settled = true
		return true
	}
	fi, err := os.Stat(t.path)
	reopened := false
	switch {
	case err == nil && fi.Mode().IsRegular():
		if d, i := fileID(fi); (fileKey{d, i}) == cur.key {
			// Renamed back: ReopenContainerLog failed (kubelet's
			// rotateLatestLog), or always with cri-dockerd.
			t.log.Debug().Str("file", cur.name).Msg("rotated log renamed back; following it as the live file again")
			if t.seen != nil {
				delete(t.seen, cur.ts)
			}
			cur.live, cur.name, cur.ts = true, t.path, time.Time{}
			cur.rotSeen, cur.reopened = time.Time{}, time.Time{}
			t.dirChanged = true
			return true
		}
		reopened = true
		t.noteLive(fi)
	case t.restarts:
		// Not reopened (yet): the container may have died since, or its
		// pod been replaced (and its directory removed).
		_, reopened = t.laterRestart()
		if !reopened && t.pods != nil && t.podGone() {
			_, reopened = t.pods.next()
		}
	}
	if !reopened {
		return false
	}
	if cur.reopened.IsZero() {
		cur.reopened = time.Now()
	}
	if time.Since(cur.reopened) < t.rotateGrace() {
		return false
	}
	cur.settled = true
	return true
}

// newerBackup reports whether a backup rotated after ts exists.
func (t *Tailer) newerBackup(ts time.Time) bool {
	bs, err := t.names.list()
	if err != nil {
		return false
	}
	for _, b := range bs {
		if b.ts.After(ts) {
			return true
		}
	}
	return false
}

// leftFile is a container log the tailer left, read to its end, for the
// log of the container's next instance or of a new pod: its runtime should
// write no more to it.
type leftFile struct {
	path string
	key  fileKey
	size int64 // bytes read from it
}

// checkLeft looks, once per poll interval, whether the container log last
// left grew since: the old instance or pod wrote after the grace it was
// given (rotateGrace of silence once the newer log appeared). Those bytes
// are not read; they are counted as lost and reported, never dropped
// silently. It stops looking once the file is gone or replaced.
func (t *Tailer) checkLeft() {
	l := t.left
	fi, err := os.Stat(l.path)
	if err != nil {
		t.left = nil // removed (kubelet's garbage collection): nothing more can come
		return
	}
	if dev, ino := fileID(fi); (fileKey{dev, ino}) != l.key {
		t.left = nil
		return
	}
	if grew := fi.Size() - l.size; grew > 0 {
		t.lostBytes.Add(uint64(grew))
		l.size = fi.Size()
		t.log.Error().Str("file", l.path).Int64("lost_bytes", grew).
			Msg("a container log left for the next instance's or pod's grew afterwards: its old container wrote after the tailer moved on; those bytes are not read")
	}
}
