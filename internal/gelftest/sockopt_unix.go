//go:build unix

package gelftest

import "syscall"

// controlRecvBuffer returns a net.ListenConfig.Control that sets SO_RCVBUF
// to n on the listening socket (nothing when n <= 0).
func controlRecvBuffer(n int) func(network, address string, c syscall.RawConn) error {
	if n <= 0 {
		return nil
	}
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
		})
		if err != nil {
			return err
		}
		return serr
	}
}
