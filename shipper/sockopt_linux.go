//go:build linux

package shipper

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"

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
// Both calls are raw system calls (see rawWrite): they never block.
func unackedBytes(c syscall.RawConn) (outq int, established bool, err error) {
	var serr error
	err = c.Control(func(fd uintptr) {
		var q int32
		if _, _, e := unix.RawSyscall(unix.SYS_IOCTL, fd, unix.SIOCOUTQ, uintptr(unsafe.Pointer(&q))); e != 0 {
			serr = fmt.Errorf("ioctl SIOCOUTQ: %w", e)
			return
		}
		outq = int(q)
		// The state is the first byte of struct tcp_info, and the kernel
		// copies as much of the struct as asked for: one byte, with
		// nothing allocated (this runs at every poll).
		var state byte
		size := uint32(1)
		if _, _, e := unix.RawSyscall6(unix.SYS_GETSOCKOPT, fd, unix.IPPROTO_TCP, unix.TCP_INFO,
			uintptr(unsafe.Pointer(&state)), uintptr(unsafe.Pointer(&size)), 0); e != 0 {
			serr = fmt.Errorf("getsockopt TCP_INFO: %w", e)
			return
		}
		established = state == unix.BPF_TCP_ESTABLISHED
	})
	if err == nil {
		err = serr
	}
	return outq, established, err
}

// rawWrites says that countingConn writes with rawWrite.
const rawWrites = true

// rawWrite writes p on a non-blocking socket with raw write(2) calls
// (unix.RawSyscall), and waits in the runtime's network poller only when
// the socket's buffer is full, honouring the write deadline like
// net.Conn.Write. A system call made the usual way enters the Go
// runtime's syscall path, which wakes the runtime's monitor thread, sysmon,
// when it sleeps (runtime/proc.go, entersyscallWakeSysmon), and sysmon then
// looks at the program every 20 µs until it has been idle for a while (a
// context switch each time): a live tail that writes one batch and sleeps
// again would pay that at every batch. A write on a non-blocking socket
// never blocks, which is what a raw call requires.
func rawWrite(c syscall.RawConn, p []byte) (n int, err error) {
	werr := c.Write(func(fd uintptr) bool {
		for n < len(p) {
			k, _, e := unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			switch e {
			case 0:
				n += int(k)
			case unix.EINTR:
			case unix.EAGAIN:
				return false // wait until the socket can take more
			default:
				err = &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", e)}
				return true
			}
		}
		return true
	})
	if err == nil && werr != nil {
		err = &net.OpError{Op: "write", Net: "tcp", Err: werr}
	}
	return n, err
}
