// Package capture runs a capture session: load, attach, read, stop, drain,
// account. This file converts the kernel's timestamps to wall-clock time.
package capture

import (
	"time"

	"golang.org/x/sys/unix"
)

// Anchor pairs one CLOCK_REALTIME reading with the CLOCK_MONOTONIC reading of
// the same instant. The extractor stamps records with CLOCK_MONOTONIC (it
// never jumps); a run takes one anchor at its start and converts every
// record with it, so a run's timestamps are monotonic, immune to clock steps
// during the run, and as accurate as the wall clock was at the start.
type Anchor struct {
	WallNs int64 // nanoseconds since the Unix epoch, UTC
	MonoNs int64 // CLOCK_MONOTONIC nanoseconds at the same instant
	// ErrorNs bounds how far apart the two readings may be (half the
	// narrowest bracket found).
	ErrorNs int64
}

// NewAnchor reads the wall clock between two monotonic readings, several
// times, and keeps the narrowest bracket.
func NewAnchor() Anchor {
	best := Anchor{ErrorNs: -1}
	for i := 0; i < 16; i++ {
		m1 := monoNow()
		w := wallNow()
		m2 := monoNow()
		if half := (m2 - m1) / 2; best.ErrorNs < 0 || half < best.ErrorNs {
			best = Anchor{WallNs: w, MonoNs: m1 + half, ErrorNs: half}
		}
	}
	return best
}

// Wall converts a CLOCK_MONOTONIC timestamp to nanoseconds since the epoch.
func (a Anchor) Wall(monoNs uint64) int64 {
	return a.WallNs + (int64(monoNs) - a.MonoNs)
}

// Time is Wall as a UTC time.Time.
func (a Anchor) Time(monoNs uint64) time.Time {
	return time.Unix(0, a.Wall(monoNs)).UTC()
}

func monoNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func wallNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &ts)
	return ts.Nano()
}
