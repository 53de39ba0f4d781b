//go:build linux

package tailer

import (
	"time"

	"golang.org/x/sys/unix"
)

// birthTime returns the creation time of path (statx(2) STATX_BTIME), if
// the file system records it (ext4, XFS, Btrfs, tmpfs do).
func birthTime(path string) (time.Time, bool) {
	var st unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_BTIME, &st); err != nil || st.Mask&unix.STATX_BTIME == 0 {
		return time.Time{}, false
	}
	if st.Btime.Sec == 0 && st.Btime.Nsec == 0 {
		return time.Time{}, false
	}
	return time.Unix(st.Btime.Sec, int64(st.Btime.Nsec)), true
}
