package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterWindowAndBound(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	l := newLimiter(3, 15*time.Minute)
	for i := range 3 {
		if _, b := l.blocked("k", t0.Add(time.Duration(i)*time.Minute)); b {
			t.Fatalf("blocked after %d", i)
		}
		l.fail("k", t0.Add(time.Duration(i)*time.Minute))
	}
	wait, b := l.blocked("k", t0.Add(3*time.Minute))
	if !b || wait != 12*time.Minute {
		t.Fatalf("blocked %v, wait %v", b, wait)
	}
	// Sliding: when the first failure ages out, one more try is allowed.
	if _, b := l.blocked("k", t0.Add(15*time.Minute+time.Second)); b {
		t.Fatal("still blocked after the first failure aged out")
	}
	l.reset("k")
	if _, b := l.blocked("k", t0.Add(3*time.Minute)); b {
		t.Fatal("blocked after reset")
	}
	// Spraying names cannot grow the table without bound.
	l.maxKeys = 100
	for i := range 1000 {
		l.fail(fmt.Sprint("name", i), t0)
	}
	if n := len(l.fails); n > 100 {
		t.Fatalf("%d keys kept", n)
	}
	off := newLimiter(-1, time.Minute)
	for range 10 {
		off.fail("k", t0)
	}
	if _, b := off.blocked("k", t0); b {
		t.Fatal("a disabled limiter blocked")
	}
}
