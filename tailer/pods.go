package tailer

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// A static pod's UID is a hash of its manifest (kubernetes/kubernetes
// pkg/kubelet/config/common.go, applyDefaults: an MD5 of the node name,
// the file's path and the pod object, taken as the UID and the
// kubernetes.io/config.hash annotation), so any change of
// kube-apiserver's manifest (an upgrade, a flag) makes a new pod whose
// logs go to a new directory, /var/log/pods/<namespace>_<pod>_<new uid>/
// (pkg/kubelet/kuberuntime/helpers.go, BuildPodLogsDirectory). The old
// pod's logs stay until kubelet's container garbage collection, run every
// ContainerGCPeriod (a minute, pkg/kubelet/kubelet.go), removes them: the
// dead container's log with the container (kuberuntime_container.go,
// removeContainer and removeContainerLog, which also has the log manager
// remove its rotated files), and the whole pod directory with RemoveAll
// once the pod is deleted and all config sources are ready
// (kuberuntime_gc.go, evictPodLogsDirectories).
//
// With RotationKubelet, Config.Path may therefore be a glob pattern of
// container log directories, followed as one log in the order the pods
// came. That order is each directory's birth: its creation time (statx(2)
// STATX_BTIME), which kubelet's MkdirAll of the pod's log directory fixes
// once and no later write, rotation or removal in it changes, unlike its
// modification or change time, and unlike the modification times of its
// files, which the old pod's last writes may move past the new pod's
// first ones while both run. Where the file system keeps no creation
// time, the oldest modification time of the directory's container logs
// stands in for it. Ties are broken by name. The tailer never goes back
// to a directory it left, nor to one born before the one it follows.
//
// The directory followed is left, for the oldest one born after it that
// has a container log, once its newest container log is read to its end,
// no later instance of the container is there, and neither that log has
// grown nor the newer directory gone for rotateGrace (the grace the
// restart of a container gets; see instanceEnded); or once the directory
// is gone (kubelet removed it) and what was open is read to its end: an
// unlinked file stays readable. The new directory is read from its
// beginning: the backups of its lowest instance's log, oldest first, then
// that log, then the later instances'. Backups of the old directory that
// vanished unread are counted as lost (noteBackups), and so is the unread
// rest of its live log when the directory is gone before the tailer got
// to it.

// podDirs are the container log directories a glob pattern matches.
type podDirs struct {
	pattern string
	cur     podDir          // the directory followed; path "" before one matched
	left    map[string]bool // directories followed before: never gone back to
}

// podDir is one directory the pattern matches.
type podDir struct {
	path  string
	birth time.Time
	first int  // lowest restart count of its container logs
	logs  bool // it has a container log (a live <n>.log, or a backup)
}

// inspectPodDir describes dir; ok is false when it is not a readable
// directory.
func inspectPodDir(dir string) (d podDir, ok bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return podDir{}, false
	}
	d.path = dir
	var oldest time.Time
	for _, e := range ents {
		n, ok := restartOf(e.Name())
		if !ok || e.IsDir() {
			continue
		}
		if !d.logs || n < d.first {
			d.first = n
		}
		d.logs = true
		if fi, err := e.Info(); err == nil && (oldest.IsZero() || fi.ModTime().Before(oldest)) {
			oldest = fi.ModTime()
		}
	}
	if b, ok := birthTime(dir); ok {
		d.birth = b
	} else {
		d.birth = oldest
	}
	return d, true
}

// after reports whether d came after e.
func (d podDir) after(e podDir) bool {
	if !d.birth.Equal(e.birth) {
		return d.birth.After(e.birth)
	}
	return d.path > e.path
}

// list returns the directories matched, oldest first.
func (p *podDirs) list() []podDir {
	ms, _ := filepath.Glob(p.pattern) // the only error is ErrBadPattern, which Validate rules out
	out := make([]podDir, 0, len(ms))
	for _, m := range ms {
		if d, ok := inspectPodDir(m); ok {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[j].after(out[i]) })
	return out
}

// first chooses the directory to start in: the one the checkpoint's file
// is in, if it is still there; else, when the checkpoint names a file
// (in a directory now gone), the oldest one, read from its start
// (fromStart: duplicates rather than a loss); else, after an earlier run
// that read nothing since savedAt, the oldest born since; else the newest
// with a container log, else the newest. ok is false when none matches.
func (p *podDirs) first(startPath string, savedAt time.Time) (d podDir, fromStart, ok bool) {
	ds := p.list()
	if startPath != "" {
		dir := filepath.Dir(startPath)
		for _, d := range ds {
			if d.path == dir {
				return d, false, true
			}
		}
		for _, d := range ds {
			if d.logs {
				return d, true, true
			}
		}
	} else if !savedAt.IsZero() {
		for _, d := range ds {
			if d.logs && !d.birth.Before(savedAt.Truncate(time.Second)) {
				return d, false, true
			}
		}
	}
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].logs {
			return ds[i], false, true
		}
	}
	if len(ds) > 0 {
		return ds[len(ds)-1], false, true
	}
	return podDir{}, false, false
}

// next returns the directory to go on with after the current one: the
// oldest born after it that has a container log.
func (p *podDirs) next() (podDir, bool) {
	for _, d := range p.list() {
		if !d.logs || d.path == p.cur.path || p.left[d.path] {
			continue
		}
		if p.cur.path != "" && !d.after(p.cur) {
			continue
		}
		return d, true
	}
	return podDir{}, false
}

// enter makes d the directory followed.
func (p *podDirs) enter(d podDir) {
	if p.cur.path != "" {
		if p.left == nil {
			p.left = map[string]bool{}
		}
		p.left[p.cur.path] = true
	}
	p.cur = d
}

// noteNewerPod is noteLaterRestart's look for a newer pod's directory.
func (t *Tailer) noteNewerPod() {
	if d, ok := t.pods.next(); ok {
		t.laterPod, t.laterAt, t.laterRead = d, time.Now(), t.lr.read
		t.log.Info().Str("dir", d.path).Str("current", t.names.dir).
			Msg("a newer pod's container log directory appeared; reading the current log to its end first")
	}
}

// podQuiet is instanceEnded's check for a newer pod: the current log has
// not grown since the newer pod was seen, or since it last grew, for
// rotateGrace (the old pod may still write its last lines).
func (t *Tailer) podQuiet() bool {
	if t.laterPod.path == "" {
		return true
	}
	if t.lr.read != t.laterRead {
		t.laterAt, t.laterRead = time.Now(), t.lr.read
		return false
	}
	return true
}

// followPod goes on with the pod directory d, from its beginning: the
// backups of its lowest instance's log, oldest first, then that log, then
// the later instances' (see followRestart).
func (t *Tailer) followPod(d podDir) {
	if now, ok := inspectPodDir(d.path); ok && now.logs {
		d.first = now.first
	}
	from := t.names.dir
	t.pods.enter(d)
	t.path = filepath.Join(d.path, strconv.Itoa(d.first)+".log")
	t.names = newNaming(t.path, t.cfg.Rotation)
	t.watch.setDir(t.names.dir, t.names.live)
	t.restart, t.restarts = d.first, true
	t.later, t.laterAt, t.laterPod, t.laterRead = 0, time.Time{}, podDir{}, 0
	t.lastRotated = time.Unix(0, 0).UTC() // every backup of the new pod's log is to be read
	t.seen, t.liveUnread = nil, nil
	t.dirChanged = true
	t.podsFollowed.Add(1)
	t.log.Info().Str("from", from).Str("file", t.path).Msg("following the container log of the pod's next incarnation (a new pod directory)")
}

// unreadLive is the live file of the directory followed, seen while its
// backups were being read: counted as lost if the directory is gone
// before it was opened.
type unreadLive struct {
	path string
	key  fileKey
	size int64
}

// podGone reports whether the directory followed has no container log
// left (kubelet removed the pod's logs, or it never had one): only then is
// a live log found missing left for a newer pod's. A log renamed by
// kubelet and not reopened yet leaves its backup there.
func (t *Tailer) podGone() bool {
	d, ok := inspectPodDir(t.names.dir)
	return !ok || !d.logs
}

// noteLive notes fi, the live path's file, as unread, with a glob Path.
func (t *Tailer) noteLive(fi os.FileInfo) {
	if t.pods == nil || !fi.Mode().IsRegular() {
		return
	}
	d, i := fileID(fi)
	if u := t.liveUnread; u != nil && u.key == (fileKey{d, i}) {
		u.size = max(u.size, fi.Size())
		return
	}
	t.liveUnread = &unreadLive{path: t.path, key: fileKey{d, i}, size: fi.Size()}
}

// liveVanished counts the live file noted unread as lost, the directory
// followed being gone (podGone: kubelet removed the pod's logs).
func (t *Tailer) liveVanished() {
	u := t.liveUnread
	if u == nil {
		return
	}
	t.liveUnread = nil
	t.lostFiles.Add(1)
	t.lostBytes.Add(uint64(u.size))
	t.log.Error().Str("file", u.path).Int64("lost_bytes_at_least", u.size).
		Msg("the pod's container log directory was removed before its live log could be read (the agent was behind " +
			"when kubelet removed the old pod's logs): its events are lost")
}

// start chooses the file to start with (see first). When no directory
// matches yet, it is a file in no directory, the pattern itself: the
// tailer waits, and goes on with the first directory that gets a
// container log (openNext).
func (p *podDirs) start(startPath string, savedAt time.Time, log zerolog.Logger) (path string, fromStart bool, err error) {
	d, fromStart, ok := p.first(startPath, savedAt)
	if !ok {
		log.Info().Str("pattern", p.pattern).Msg("no container log directory matches tail.path yet; waiting for one")
		return filepath.Join(p.pattern, "0.log"), false, nil
	}
	p.enter(d)
	if fromStart {
		log.Warn().Str("checkpoint", startPath).Str("dir", d.path).
			Msg("the checkpoint's pod directory is gone; reading the oldest pod directory matched from its beginning")
		return filepath.Join(d.path, strconv.Itoa(d.first)+".log"), true, nil
	}
	path, err = instanceToFollow(d.path, startPath)
	return path, false, err
}
