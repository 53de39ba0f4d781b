//go:build !unix

package gelftest

import "syscall"

// controlRecvBuffer ignores Options.RecvBuffer outside Unix systems.
func controlRecvBuffer(int) func(network, address string, c syscall.RawConn) error { return nil }
