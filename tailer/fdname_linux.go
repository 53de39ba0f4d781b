package tailer

import (
	"os"
	"strconv"
	"strings"
)

// fdName returns the path the kernel currently has for the open file f, which
// follows renames: after lumberjack renames audit.log to a backup, it is the
// backup's name. ok is false if /proc is not available.
func fdName(f *os.File) (name string, ok bool) {
	s, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	if err != nil || !strings.HasPrefix(s, "/") {
		return "", false
	}
	return strings.TrimSuffix(s, " (deleted)"), true
}
