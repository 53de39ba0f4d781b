//go:build !linux

package tailer

import "os"

// fdName is only available on Linux; elsewhere the directory is searched by inode.
func fdName(*os.File) (string, bool) { return "", false }
