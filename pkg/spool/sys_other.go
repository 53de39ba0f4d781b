//go:build !linux

package spool

import "os"

// reserve does nothing where there is no fallocate: the write finds out
// that the disk is full, and is truncated back.
func reserve(*os.File, int64, int64) error { return nil }

// datasync flushes f to the disk: fsync(2), or its equivalent.
func datasync(f *os.File) error { return f.Sync() }
