package tailer

import (
	"strings"
	"testing"
	"time"
)

func TestLingerDefaultAndRange(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Linger != DefaultLinger || DefaultLinger != 75*time.Millisecond || c.PollInterval != time.Second {
		t.Fatalf("default linger %s (DefaultLinger %s), poll interval %s; want 75ms and 1s", c.Linger, DefaultLinger, c.PollInterval)
	}
	c = Config{Linger: 5 * time.Millisecond}
	c.SetDefaults()
	if c.Linger != 5*time.Millisecond {
		t.Fatalf("SetDefaults changed a linger that was set: %s", c.Linger)
	}
	for _, tc := range []struct {
		linger time.Duration
		ok     bool
	}{
		{0, true}, // no linger (a Config not passed through SetDefaults)
		{time.Nanosecond, true},
		{time.Second, true},
		{-time.Nanosecond, false},
		{time.Second + time.Nanosecond, false},
		{time.Minute, false},
	} {
		c := Config{}
		c.SetDefaults()
		c.Linger = tc.linger
		err := c.Validate()
		if tc.ok && err != nil {
			t.Errorf("linger %s: %v", tc.linger, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "tail.linger") || !strings.Contains(err.Error(), "0 to 1s")) {
			t.Errorf("linger %s: Validate() = %v; want an error naming tail.linger and its range", tc.linger, err)
		}
	}
}
