package shipper

import (
	"math/rand/v2"
	"time"
)

// backoffDelay returns the delay before reconnect attempt n (0-based: the
// delay after the first consecutive failure is backoffDelay(0, ...)).
//
// The ceiling b doubles per attempt: b = min(max, min·2ⁿ). The delay is
// drawn uniformly from [b/2, b] ("equal jitter", so reconnecting agents do
// not stampede a restarted server) and is never below min. rnd returns a
// float in [0, 1); nil means math/rand/v2.
func backoffDelay(n int, minD, maxD time.Duration, rnd func() float64) time.Duration {
	if minD <= 0 {
		return 0
	}
	b := minD
	for i := 0; i < n && b < maxD; i++ {
		b *= 2
	}
	b = min(b, maxD)
	if rnd == nil {
		rnd = rand.Float64
	}
	d := b/2 + time.Duration(rnd()*float64(b-b/2))
	return max(d, minD)
}
