//go:build !linux

package shipper

import (
	"syscall"
	"time"
)

// ackTracking is false outside Linux: there is no portable way to read how
// many sent bytes the peer acknowledged, so a frame counts as confirmed once
// its flush succeeded (the kernel accepted the bytes) and the connection
// stayed up for confirmGrace afterwards. This is weaker than on Linux: data
// still in the local send buffer when the peer dies is lost.
const ackTracking = false

// setUserTimeout is a no-op outside Linux (TCP_USER_TIMEOUT is Linux only);
// write deadlines still bound every write.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }

// unackedBytes always reports an empty send queue outside Linux.
func unackedBytes(syscall.RawConn) (outq int, established bool, err error) { return 0, true, nil }

// rawWrites is false outside Linux: countingConn writes with net.Conn.
const rawWrites = false

func rawWrite(syscall.RawConn, []byte) (int, error) { panic("rawWrite outside Linux") }
