package acdsim

import (
	"math"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// within asserts |got − want| ≤ 4 standard errors (plus a hair for the
// discretisation of time), i.e. agreement within sampling error.
func within(t *testing.T, what string, got, want, se float64) {
	t.Helper()
	t.Logf("%s: simulated %.4f ± %.4f, model %.4f", what, got, se, want)
	if math.Abs(got-want) > 4*se+1e-3 {
		t.Errorf("%s: simulated %.4f ± %.4f, model %.4f: outside 4 standard errors", what, got, se, want)
	}
}

func TestSimulationMatchesErlangC(t *testing.T) {
	// 2 calls/s, 50 s AHT (100 Erlangs), 110 agents, nobody hangs up.
	cfg := Config{Seed: 1, ArrivalRate: 2, AHT: 50 * time.Second, Agents: 110,
		Warmup: 30 * time.Minute, Duration: simHours * time.Hour, Batches: 24}
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.ArrivalRate * cfg.AHT.Seconds()
	t.Logf("offered %d answered %d", r.Offered, r.Answered)
	if r.Answered != r.Offered || r.Abandoned != 0 {
		t.Fatalf("answered %d of %d, %d abandoned", r.Answered, r.Offered, r.Abandoned)
	}
	within(t, "P(wait)", r.PWait, ErlangC(cfg.Agents, a), r.PWaitStdErr)
	within(t, "ASA s", r.ASA.Seconds(), ErlangCASA(cfg.Agents, a, cfg.AHT).Seconds(), r.ASAStdErr.Seconds())
	for _, th := range []time.Duration{15 * time.Second, 20 * time.Second} {
		within(t, "SL("+th.String()+")", r.ServiceLevel[th], ErlangCServiceLevel(cfg.Agents, a, cfg.AHT, th), r.ServiceLevelStdErr[th])
	}
}

func TestSimulationMatchesErlangA(t *testing.T) {
	// Critically loaded (100 Erlangs on 100 agents): only callers who hang
	// up (mean patience 60 s) keep the queue finite.
	cfg := Config{Seed: 2, ArrivalRate: 2, AHT: 50 * time.Second, Patience: time.Minute, Agents: 100,
		Warmup: 30 * time.Minute, Duration: simHours * time.Hour, Batches: 24, SampleEvery: time.Minute}
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewErlangA(cfg.Agents, cfg.ArrivalRate, cfg.AHT, cfg.Patience)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("offered %d answered %d abandoned %d", r.Offered, r.Answered, r.Abandoned)
	if r.Answered+r.Abandoned != r.Offered {
		t.Fatalf("lost calls: %d + %d != %d", r.Answered, r.Abandoned, r.Offered)
	}
	within(t, "P(wait)", r.PWait, m.PWait(), r.PWaitStdErr)
	within(t, "P(abandon)", r.AbandonRate, m.PAbandon(), r.AbandonStdErr)
	within(t, "ASA s", r.ASA.Seconds(), m.ASA().Seconds(), r.ASAStdErr.Seconds())
	within(t, "SL(20s)", r.ServiceLevel[20*time.Second], m.ServiceLevel(20*time.Second), r.ServiceLevelStdErr[20*time.Second])
	if n := len(r.Series); n < simHours*60 {
		t.Fatalf("%d samples", n)
	}
	for _, s := range r.Series {
		total := 0
		for _, c := range s.Agents {
			total += c
		}
		if total != cfg.Agents {
			t.Fatalf("sample at %v counts %d agents", s.At, total)
		}
	}
}

func TestSimulationAnswerDelayAndAbandonWhileRinging(t *testing.T) {
	// Agents ring 3 s before answering; callers with little patience hang up
	// while ringing too. Nothing may be lost or answered twice.
	cfg := Config{Seed: 3, ArrivalRate: 2, AHT: 50 * time.Second, Patience: 10 * time.Second, AnswerDelay: 3 * time.Second,
		Agents: 100, Warmup: 10 * time.Minute, Duration: time.Hour}
	r, err := Run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Answered+r.Abandoned != r.Offered || r.Abandoned == 0 {
		t.Fatalf("offered %d answered %d abandoned %d", r.Offered, r.Answered, r.Abandoned)
	}
	if r.ASA < cfg.AnswerDelay {
		t.Fatalf("ASA %v below the ring time", r.ASA)
	}
}
