package auth

import (
	"sync"
	"time"
)

// limiter counts failures per key (a user id or a client IP) over a sliding window.
type limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	maxKeys int
	fails   map[string][]time.Time // oldest first, at most max kept
}

func newLimiter(max int, window time.Duration) *limiter {
	return &limiter{max: max, window: window, maxKeys: 100_000, fails: map[string][]time.Time{}}
}

// blocked reports whether key has used up its failures, and when it may try again.
func (l *limiter) blocked(key string, now time.Time) (time.Duration, bool) {
	if l.max <= 0 {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.prune(key, now)
	if len(f) < l.max {
		return 0, false
	}
	return f[0].Add(l.window).Sub(now), true
}

func (l *limiter) prune(key string, now time.Time) []time.Time {
	f := l.fails[key]
	i := 0
	for i < len(f) && !f[i].After(now.Add(-l.window)) {
		i++
	}
	if i == len(f) {
		delete(l.fails, key)
		return nil
	}
	if i > 0 {
		f = append(f[:0:0], f[i:]...)
		l.fails[key] = f
	}
	return f
}

func (l *limiter) fail(key string, now time.Time) {
	if l.max <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.fails) >= l.maxKeys {
		// Someone is spraying names: forget what has aged out; if that is not enough,
		// forget arbitrary keys rather than grow without bound, down to 90 % so that the
		// scan is paid once per many failures.
		for k := range l.fails {
			l.prune(k, now)
		}
		for k := range l.fails {
			if len(l.fails) < l.maxKeys*9/10 {
				break
			}
			delete(l.fails, k)
		}
	}
	f := append(l.prune(key, now), now)
	if len(f) > l.max {
		f = f[len(f)-l.max:]
	}
	l.fails[key] = f
}

func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.fails, key)
	l.mu.Unlock()
}
