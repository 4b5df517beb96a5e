package acdsim

import (
	"math"
	"testing"
	"time"
)

func TestErlangCPublishedExample(t *testing.T) {
	// BENCHMARKS.md: 8 calls/s × 50 s = 400 Erlangs on 404 agents.
	const n, a = 404, 400.0
	aht := 50 * time.Second
	if c := ErlangC(n, a); math.Abs(c-0.77) > 0.005 {
		t.Errorf("P(wait) %.4f, want 0.77", c)
	}
	if asa := ErlangCASA(n, a, aht); math.Abs(asa.Seconds()-9.7) > 0.05 {
		t.Errorf("ASA %v, want 9.7 s", asa)
	}
	if sl := ErlangCServiceLevel(n, a, aht, 20*time.Second); math.Abs(sl-0.84) > 0.005 {
		t.Errorf("SL(20 s) %.4f, want 0.84", sl)
	}
}

func TestErlangSmallCases(t *testing.T) {
	tests := []struct {
		n    int
		a    float64
		b, c float64
	}{
		{1, 0.5, 1.0 / 3, 0.5}, // M/M/1: C = ρ
		{2, 1, 0.2, 1.0 / 3},   // B = (1/2)/(1+1+1/2)
		{10, 0, 0, 0},          // no traffic
		{3, 3, 0.3461538, 1},   // saturated: everyone waits
	}
	for _, tt := range tests {
		if b := ErlangB(tt.n, tt.a); math.Abs(b-tt.b) > 1e-6 {
			t.Errorf("B(%d, %v) = %v, want %v", tt.n, tt.a, b, tt.b)
		}
		if c := ErlangC(tt.n, tt.a); math.Abs(c-tt.c) > 1e-6 {
			t.Errorf("C(%d, %v) = %v, want %v", tt.n, tt.a, c, tt.c)
		}
	}
	// Large centres stay finite and sane (no overflow in the recursion).
	if c := ErlangC(5000, 4900); math.IsNaN(c) || c <= 0 || c >= 1 {
		t.Errorf("C(5000, 4900) = %v", c)
	}
}

func TestErlangAApproachesErlangC(t *testing.T) {
	// With callers who practically never hang up, Erlang A is Erlang C.
	const n, lam = 110, 2.0
	aht := 50 * time.Second
	m, err := NewErlangA(n, lam, aht, 1e7*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a := lam * aht.Seconds()
	if got, want := m.PWait(), ErlangC(n, a); math.Abs(got-want) > 1e-4 {
		t.Errorf("P(wait) %v, Erlang C %v", got, want)
	}
	// ASA over answered callers = Erlang C's ASA over all (none abandon).
	if got, want := m.ASA(), ErlangCASA(n, a, aht); math.Abs(got.Seconds()-want.Seconds()) > 1e-3 {
		t.Errorf("ASA %v, Erlang C %v", got, want)
	}
	for _, th := range []time.Duration{5 * time.Second, 15 * time.Second, 20 * time.Second} {
		if got, want := m.ServiceLevel(th), ErlangCServiceLevel(n, a, aht, th); math.Abs(got-want) > 1e-4 {
			t.Errorf("SL(%v) %v, Erlang C %v", th, got, want)
		}
	}
	if p := m.PAbandon(); p > 1e-4 {
		t.Errorf("P(abandon) %v", p)
	}
}

func TestErlangAOverloadStaysFinite(t *testing.T) {
	// More traffic than agents: Erlang C has no answer, Erlang A does,
	// because callers who give up keep the queue finite.
	m, err := NewErlangA(380, 8, 50*time.Second, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	p := m.PAbandon()
	// Conservation: answered traffic cannot exceed the agents, so at least
	// (λ·AHT − n)/(λ·AHT) = 5 % must abandon.
	if p < 0.05 || p > 0.2 {
		t.Errorf("P(abandon) %v", p)
	}
	if sl := m.ServiceLevel(20 * time.Second); sl <= 0 || sl >= 1-p {
		t.Errorf("SL %v with P(abandon) %v", sl, p)
	}
}
