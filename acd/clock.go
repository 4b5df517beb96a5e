package acd

import "time"

// Clock is the only source of time the dispatcher uses, so that tests and the
// simulation run on a fake clock, deterministically and instantly.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine (real clock) or from the goroutine
	// that advances the clock (fake clock) once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop prevents the call if it has not started; it reports whether it did.
	// A callback that already started may still run: the dispatcher checks
	// that a timer it acts on is still the current one.
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

var _ Clock = RealClock{}

func (RealClock) Now() time.Time { return time.Now() }

func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
