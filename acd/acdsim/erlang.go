package acdsim

import (
	"errors"
	"math"
	"time"
)

// ErlangB is the blocking probability of n servers offered a Erlangs, by the
// recursion B₀ = 1, B_k = a·B_{k−1} / (k + a·B_{k−1}), which never overflows.
func ErlangB(n int, a float64) float64 {
	b := 1.0
	for k := 1; k <= n; k++ {
		b = a * b / (float64(k) + a*b)
	}
	return b
}

// ErlangC is the probability that a caller waits (M/M/n), from Erlang B:
// C = n·B / (n − a·(1 − B)). It is 1 when n ≤ a (the queue grows without bound).
func ErlangC(n int, a float64) float64 {
	if float64(n) <= a {
		return 1
	}
	b := ErlangB(n, a)
	return float64(n) * b / (float64(n) - a*(1-b))
}

// ErlangCServiceLevel is P(wait ≤ t) = 1 − C·e^{−(n−a)·t/AHT}.
func ErlangCServiceLevel(n int, a float64, aht, t time.Duration) float64 {
	if float64(n) <= a {
		return 0
	}
	return 1 - ErlangC(n, a)*math.Exp(-(float64(n)-a)*t.Seconds()/aht.Seconds())
}

// ErlangCASA is the mean wait over all callers, C·AHT / (n − a).
func ErlangCASA(n int, a float64, aht time.Duration) time.Duration {
	if float64(n) <= a {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(ErlangC(n, a) * float64(aht) / (float64(n) - a))
}

// ErlangA is the M/M/n+M model (Palm): exponential patience with mean
// Patience on top of Erlang C, which is what a queue with callers who hang
// up looks like. The stationary distribution is computed in log space and
// truncated where it is negligible, so large centres (hundreds of agents)
// neither overflow nor lose precision.
type ErlangA struct {
	Agents      int
	ArrivalRate float64 // calls per second
	AHT         time.Duration
	Patience    time.Duration

	pNoWait float64
	// q[k] = P(an arrival finds all agents busy and k callers ahead).
	q []float64
}

// NewErlangA solves the model.
func NewErlangA(agents int, arrivalRate float64, aht, patience time.Duration) (*ErlangA, error) {
	if agents < 1 || arrivalRate <= 0 || aht <= 0 || patience <= 0 {
		return nil, errors.New("acdsim: Erlang A needs agents, arrival rate, AHT and patience > 0")
	}
	m := &ErlangA{Agents: agents, ArrivalRate: arrivalRate, AHT: aht, Patience: patience}
	lam, mu, theta := arrivalRate, 1/aht.Seconds(), 1/patience.Seconds()
	n := float64(agents)
	a := lam / mu
	// Log weights of states 0..n (Poisson-shaped), then n+1, n+2, … (birth
	// rate λ, death rate nμ + kθ) until they are negligible and falling.
	lw := make([]float64, 0, agents+64)
	for j := 0; j <= agents; j++ {
		lg, _ := math.Lgamma(float64(j) + 1)
		lw = append(lw, float64(j)*math.Log(a)-lg)
	}
	top := lw[0]
	for _, v := range lw {
		top = math.Max(top, v)
	}
	for k := 1; ; k++ {
		v := lw[len(lw)-1] + math.Log(lam/(n*mu+float64(k)*theta))
		lw = append(lw, v)
		top = math.Max(top, v)
		if v < top-50 && lam < n*mu+float64(k)*theta {
			break
		}
		if k > 10_000_000 {
			return nil, errors.New("acdsim: Erlang A did not converge")
		}
	}
	var sum float64
	for _, v := range lw {
		sum += math.Exp(v - top)
	}
	for j, v := range lw {
		p := math.Exp(v-top) / sum
		if j < agents {
			m.pNoWait += p
		} else {
			m.q = append(m.q, p)
		}
	}
	return m, nil
}

func (m *ErlangA) rates() (nmu, theta float64) {
	return float64(m.Agents) / m.AHT.Seconds(), 1 / m.Patience.Seconds()
}

// PWait is the probability that a caller finds every agent busy.
func (m *ErlangA) PWait() float64 { return 1 - m.pNoWait }

// served returns, per k, the probability that a caller with k ahead is
// served (P_S(k)) and the mean wait of such a caller given served (H_k).
//
// With k ahead the caller moves up at rate nμ + iθ (a completion, or someone
// ahead giving up) while itself giving up at rate θ: each stage lasts
// Exp(nμ + (i+1)θ) whichever way it ends, so P_S(k) = ∏ (nμ+iθ)/(nμ+(i+1)θ)
// and E[W | served, k] = Σ 1/(nμ+(i+1)θ), i = 0..k.
func (m *ErlangA) served(fn func(k int, ps, h float64)) {
	nmu, theta := m.rates()
	ps, h := 1.0, 0.0
	for k := range m.q {
		r := nmu + float64(k)*theta
		ps *= r / (r + theta)
		h += 1 / (r + theta)
		fn(k, ps, h)
	}
}

// PAbandon is the probability that a caller hangs up before being answered.
func (m *ErlangA) PAbandon() float64 {
	var p float64
	m.served(func(k int, ps, _ float64) { p += m.q[k] * (1 - ps) })
	return p
}

// ASA is the mean wait of answered callers (those answered at once count as 0).
func (m *ErlangA) ASA() time.Duration {
	num, den := 0.0, m.pNoWait
	m.served(func(k int, ps, h float64) {
		num += m.q[k] * ps * h
		den += m.q[k] * ps
	})
	return time.Duration(num / den * float64(time.Second))
}

// ServiceLevel is the fraction of all callers answered within t (callers who
// hang up count against it). The time to reach an agent with k ahead is a
// sum of exponential stages; their distribution is computed for all k at
// once by uniformisation of the pure-death chain of positions.
func (m *ErlangA) ServiceLevel(t time.Duration) float64 {
	nmu, theta := m.rates()
	K := len(m.q)
	mass := make([]float64, K+1) // mass[i+1]: callers with i ahead; mass[0]: answered
	m.served(func(k int, ps, _ float64) { mass[k+1] = m.q[k] * ps })
	stage := func(i int) float64 { return nmu + float64(i+1)*theta } // leaving position i
	lambda := stage(K - 1)
	lt := lambda * t.Seconds()
	steps := int(lt+10*math.Sqrt(lt)) + 20
	// Poisson(lt) weights in log space; the chain moves one position per jump.
	var answered float64
	logW := -lt
	next := make([]float64, K+1)
	for s := 0; s <= steps; s++ {
		if s > 0 {
			logW += math.Log(lt / float64(s))
			next[0] = mass[0]
			for i := 1; i <= K; i++ {
				next[i] = 0
			}
			for i := 1; i <= K; i++ {
				p := stage(i-1) / lambda
				next[i-1] += mass[i] * p
				next[i] += mass[i] * (1 - p)
			}
			mass, next = next, mass
		}
		answered += math.Exp(logW) * mass[0]
	}
	return m.pNoWait + answered
}
