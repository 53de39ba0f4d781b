//go:build unix

package spool

import (
	"io/fs"
	"syscall"
)

// fileKey identifies a file while it exists: its device and inode numbers,
// which a rename keeps.
type fileKey struct{ dev, ino uint64 }

// keyOf returns the device and inode numbers of fi.
func keyOf(fi fs.FileInfo) fileKey {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileKey{uint64(st.Dev), uint64(st.Ino)} //nolint:unconvert // int32 on some platforms
	}
	return fileKey{}
}
