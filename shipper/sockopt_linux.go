//go:build linux

package shipper

import (
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ackTracking reports whether unackedBytes measures what the server's TCP
// stack has acknowledged. On Linux it does (SIOCOUTQ), so a frame is
// confirmed only once the server acknowledged its last byte.
const ackTracking = true

// setUserTimeout sets TCP_USER_TIMEOUT on the socket: the kernel aborts the
// connection when transmitted data stays unacknowledged for longer than d.
// Without it Linux retransmits for about 15 minutes (tcp_retries2) before a
// write fails, and keepalive does not fire while data is in flight.
func setUserTimeout(c syscall.RawConn, d time.Duration) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d.Milliseconds()))
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("set TCP_USER_TIMEOUT: %w", err)
	}
	return nil
}

// unackedBytes returns the bytes of the socket's send queue that the peer
// has not acknowledged yet (ioctl SIOCOUTQ = write_seq - snd_una), and
// whether the connection is still ESTABLISHED (TCP_INFO). A connection in
// any other state (peer FIN, RST, timeout) must not confirm anything more.
func unackedBytes(c syscall.RawConn) (outq int, established bool, err error) {
	var serr error
	err = c.Control(func(fd uintptr) {
		outq, serr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ)
		if serr != nil {
			serr = fmt.Errorf("ioctl SIOCOUTQ: %w", serr)
			return
		}
		// The state is the first byte of struct tcp_info, and the kernel
		// copies as much of the struct as asked for: one byte, with
		// nothing allocated (this runs at every poll).
		var state byte
		state, serr = unix.GetsockoptByte(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if serr != nil {
			serr = fmt.Errorf("getsockopt TCP_INFO: %w", serr)
			return
		}
		established = state == unix.BPF_TCP_ESTABLISHED
	})
	if err == nil {
		err = serr
	}
	return outq, established, err
}
