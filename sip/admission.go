package sip

import (
	"sync"
	"time"
)

// admission decides, fast and without touching calls in progress, whether a new call may
// start: a cap on concurrent calls and a token bucket on new calls per second.
type admission struct {
	maxCalls int64
	rate     float64 // tokens per second; 0 = unlimited
	burst    float64

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newAdmission(maxCalls int, cps float64) *admission {
	burst := cps
	if burst < 1 {
		burst = 1
	}
	return &admission{maxCalls: int64(maxCalls), rate: cps, burst: burst, tokens: burst}
}

// admit reports "" if the call may start, else the reason it may not.
func (a *admission) admit(active int64, now time.Time) string {
	if a.maxCalls > 0 && active >= a.maxCalls {
		return "capacity"
	}
	if a.rate <= 0 {
		return ""
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.last.IsZero() {
		a.tokens += now.Sub(a.last).Seconds() * a.rate
		if a.tokens > a.burst {
			a.tokens = a.burst
		}
	}
	a.last = now
	if a.tokens < 1 {
		return "rate"
	}
	a.tokens--
	return ""
}
