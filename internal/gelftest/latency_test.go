package gelftest

import (
	"fmt"
	"testing"
	"time"
)

func TestFrameTime(t *testing.T) {
	for _, c := range []struct {
		frame string
		want  time.Time // zero: none
	}{
		{`{"version":"1.1","host":"h","short_message":"m","timestamp":1732000000.123456,"level":6}`, time.Unix(1732000000, 123456000)},
		{`{"timestamp" : 1732000000.5}`, time.Unix(1732000000, 500000000)},
		{`{"timestamp":1732000000}`, time.Unix(1732000000, 0)},
		{`{"timestamp":1732000000.1234567891}`, time.Unix(1732000000, 123456789)},
		{`{"timestamp":-1.25}`, time.Unix(-2, 750000000)},
		{`{"timestamp":1.5e9}`, time.Unix(1500000000, 0)},
		// The raw event in full_message is escaped: its keys are not the message's.
		{`{"short_message":"{\"timestamp\":5}","full_message":"x\"timestamp\":6","timestamp":7.25}`, time.Unix(7, 250000000)},
		// A string that ends in \"timestamp, and a value "timestamp".
		{`{"_k\"timestamp":1,"_v":"timestamp","timestamp":8}`, time.Unix(8, 0)},
		{`{"_x_timestamp":9}`, time.Time{}},
		{`{"timestamp":"1732000000"}`, time.Time{}},
		{`{"timestamp":}`, time.Time{}},
		{`{"short_message":"no time"}`, time.Time{}},
		{``, time.Time{}},
	} {
		got, ok := frameTime([]byte(c.frame))
		if ok != !c.want.IsZero() || !got.Equal(c.want) {
			t.Errorf("frameTime(%s) = %v, %v; want %v", c.frame, got, ok, c.want)
		}
	}
}

// TestServerLatencies checks the recorded latencies against what the
// client knows: each frame arrived after it was written and before
// Latencies returned.
func TestServerLatencies(t *testing.T) {
	for _, countOnly := range []bool{false, true} {
		t.Run(fmt.Sprintf("CountOnly=%v", countOnly), func(t *testing.T) {
			s := NewServer(t, Options{Latencies: true, CountOnly: countOnly})
			c := dial(t, s)
			defer c.Close()
			stamps := []time.Time{
				time.Now().Add(-time.Hour).Truncate(time.Microsecond),
				time.Now().Add(-time.Second).Truncate(time.Microsecond),
				time.Now().Truncate(time.Microsecond),
			}
			frame := func(ts time.Time) string {
				return fmt.Sprintf(`{"version":"1.1","host":"h","short_message":"m","timestamp":%d.%06d,"level":6}`,
					ts.Unix(), ts.Nanosecond()/1000)
			}
			f0, f1 := frame(stamps[0]), frame(stamps[1])
			before := time.Now()
			// The second frame spans two writes, then one without a
			// timestamp and the third share a write.
			for _, chunk := range []string{f0 + "\x00" + f1[:20], f1[20:] + "\x00", `{"short_message":"no time"}` + "\x00" + frame(stamps[2]) + "\x00"} {
				if _, err := c.Write([]byte(chunk)); err != nil {
					t.Fatal(err)
				}
			}
			s.WaitForCount(t, 4, wait)
			lats := s.Latencies()
			after := time.Now()
			if len(lats) != len(stamps) {
				t.Fatalf("%d latencies for 4 frames, 3 with a timestamp: %v", len(lats), lats)
			}
			for i, l := range lats {
				if lo, hi := before.Sub(stamps[i]), after.Sub(stamps[i]); l < lo || l > hi {
					t.Errorf("latency %d = %v, want between %v and %v", i, l, lo, hi)
				}
			}
			if got := len(s.Messages()); countOnly && got != 0 || !countOnly && got != 4 {
				t.Errorf("%d messages kept", got)
			}
		})
	}
}
