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

func TestRotationDefaultAndValues(t *testing.T) {
	var c Config
	c.SetDefaults()
	if c.Rotation != RotationLumberjack {
		t.Fatalf("default rotation %q", c.Rotation)
	}
	for _, s := range []string{"lumberjack", "kubelet"} {
		var r Rotation
		if err := r.UnmarshalText([]byte(s)); err != nil || string(r) != s {
			t.Errorf("%q: %v", s, err)
		}
		c.Rotation = r
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	var r Rotation
	if err := r.UnmarshalText([]byte("logrotate")); err == nil {
		t.Error("logrotate accepted")
	}
	c.Rotation = "Kubelet"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tail.rotation") {
		t.Errorf("Validate() = %v", err)
	}
	c.Rotation = "" // a Config not passed through SetDefaults
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestStatsAdd(t *testing.T) {
	a := Stats{Rotations: 1, Truncations: 2, InotifyOverflows: 3, LagBytes: 4, LostFiles: 5, LostBytes: 6, Restarts: 7, Pods: 8, FilesOpen: 1}
	b := Stats{Rotations: 10, Truncations: 20, InotifyOverflows: 30, LagBytes: 40, LostFiles: 50, LostBytes: 60, Restarts: 70, Pods: 80, FilesOpen: 1, Polling: true}
	a.Add(b)
	want := Stats{Rotations: 11, Truncations: 22, InotifyOverflows: 33, LagBytes: 44, LostFiles: 55, LostBytes: 66, Restarts: 77, Pods: 88, FilesOpen: 2, Polling: true}
	if a != want {
		t.Fatalf("sum %+v, want %+v", a, want)
	}
}
