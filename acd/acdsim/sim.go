// Package acdsim simulates a contact centre on the acd dispatcher and a fake
// clock — Poisson arrivals, exponential handle times and patience — and holds
// the Erlang C and Erlang A models to compare it with. Benchmark B6 reuses it
// to know what a real run over SIP should measure.
package acdsim

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/acd/acdtest"
)

// Config is one simulated run: a single queue served by identical agents.
type Config struct {
	Seed        uint64
	ArrivalRate float64       // calls per second (Poisson)
	AHT         time.Duration // mean handle time (exponential)
	Patience    time.Duration // mean patience (exponential); 0: callers never hang up
	Agents      int
	// Calls arriving in [Warmup, Warmup+Duration) are counted; the run goes
	// on until they have all ended.
	Warmup, Duration time.Duration
	// AnswerDelay is how long an offered agent rings before answering (a SIP
	// agent's 180 → 200). It adds to the caller's wait and to the agent's
	// busy time, so the Erlang models see AHT + AnswerDelay; 0: at once.
	AnswerDelay time.Duration
	Thresholds  []time.Duration // service-level thresholds (default 15 s, 20 s)
	Batches     int             // batch means for standard errors (default 20)
	SampleEvery time.Duration   // time series for plots; 0: none
	Registerer  prometheus.Registerer
}

// Result is what the run measured. Standard errors come from batch means
// over consecutive arrival windows, which is what keeps them honest when
// waits are correlated in time.
type Result struct {
	Offered, Answered, Abandoned int
	ServiceLevel                 map[time.Duration]float64 // answered within t / offered
	ServiceLevelStdErr           map[time.Duration]float64
	ASA, ASAStdErr               time.Duration // mean wait of answered calls
	AbandonRate, AbandonStdErr   float64
	PWait, PWaitStdErr           float64 // fraction who waited at all
	Series                       []Sample
}

// Sample is the state at one instant, for plots of waiting callers and agents by state.
type Sample struct {
	At      time.Duration
	Waiting int
	Agents  map[acd.AgentState]int
}

type call struct {
	arrived time.Time
	ticket  *acd.Ticket
	patient acd.Timer
	batch   int // -1: not counted
}

type sim struct {
	cfg   Config
	clk   *acdtest.Clock
	d     *acd.Dispatcher
	rng   *rand.Rand
	start time.Time
	calls map[string]*call
	todo  []string // offered calls to answer
	n     int
	err   error

	batches []batch
}

type batch struct {
	offered, answered, abandoned, waited int
	within                               []int
	waitSum                              time.Duration
}

// Run simulates cfg.
func Run(cfg Config) (Result, error) {
	if cfg.Agents < 1 || cfg.ArrivalRate <= 0 || cfg.AHT <= 0 || cfg.Duration <= 0 {
		return Result{}, errors.New("acdsim: need agents, arrival rate, AHT and duration")
	}
	if len(cfg.Thresholds) == 0 {
		cfg.Thresholds = []time.Duration{15 * time.Second, 20 * time.Second}
	}
	if cfg.Batches < 2 {
		cfg.Batches = 20
	}
	s := &sim{cfg: cfg, clk: acdtest.NewClock(time.Time{}), rng: rand.New(rand.NewPCG(cfg.Seed, 0xacd)),
		calls: map[string]*call{}, batches: make([]batch, cfg.Batches)}
	for i := range s.batches {
		s.batches[i].within = make([]int, len(cfg.Thresholds))
	}
	s.start = s.clk.Now()
	d, err := acd.New(acd.Config{Queues: []acd.QueueConfig{{Name: "q", Skill: "s", RingTimeout: time.Hour}}},
		acd.Options{Clock: s.clk, Registerer: cfg.Registerer, Sink: s.event})
	if err != nil {
		return Result{}, err
	}
	defer d.Close()
	s.d = d
	for i := 0; i < cfg.Agents; i++ {
		id := fmt.Sprintf("agent%03d", i)
		if err := d.Login(id, map[string]int{"s": 3}); err != nil {
			return Result{}, err
		}
		if err := d.Ready(id); err != nil {
			return Result{}, err
		}
	}
	var res Result
	end := s.start.Add(cfg.Warmup + cfg.Duration)
	s.clk.AfterFunc(s.exp(1/cfg.ArrivalRate), func() { s.arrive(end) })
	if cfg.SampleEvery > 0 {
		var sample func()
		sample = func() {
			snap := d.Snapshot()
			smp := Sample{At: snap.Time.Sub(s.start), Waiting: snap.Queues[0].Waiting, Agents: map[acd.AgentState]int{}}
			for _, a := range snap.Agents {
				smp.Agents[a.State]++
			}
			res.Series = append(res.Series, smp)
			if s.clk.Now().Before(end) || len(s.calls) > 0 {
				s.clk.AfterFunc(cfg.SampleEvery, sample)
			}
		}
		s.clk.AfterFunc(0, sample)
	}
	for s.err == nil {
		next, ok := s.clk.Next()
		if !ok {
			break
		}
		s.clk.Set(next)
	}
	if s.err != nil {
		return Result{}, s.err
	}
	s.summarise(&res)
	return res, nil
}

func (s *sim) exp(mean float64) time.Duration {
	return time.Duration(s.rng.ExpFloat64() * mean * float64(time.Second))
}

func (s *sim) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

func (s *sim) arrive(end time.Time) {
	now := s.clk.Now()
	if !now.Before(end) {
		return
	}
	s.clk.AfterFunc(s.exp(1/s.cfg.ArrivalRate), func() { s.arrive(end) })
	s.n++
	id := fmt.Sprintf("c%d", s.n)
	c := &call{arrived: now, batch: -1}
	if since := now.Sub(s.start) - s.cfg.Warmup; since >= 0 {
		c.batch = int(int64(since) * int64(s.cfg.Batches) / int64(s.cfg.Duration))
		s.batches[c.batch].offered++
	}
	s.calls[id] = c
	t, err := s.d.Join(context.Background(), acd.Request{CallID: id, Queue: "q"})
	if err != nil {
		s.fail(err)
		return
	}
	c.ticket = t
	if s.cfg.Patience > 0 {
		c.patient = s.clk.AfterFunc(s.exp(s.cfg.Patience.Seconds()), func() {
			_ = t.Abandon() // a no-op once answered
			s.process()
		})
	}
	s.process()
}

// event is the dispatcher's sink: it records outcomes and notes offers, which
// process answers once the dispatcher call that made them has returned.
func (s *sim) event(ev acd.Event) {
	c := s.calls[ev.CallID]
	if c == nil {
		return
	}
	var b *batch
	if c.batch >= 0 {
		b = &s.batches[c.batch]
	}
	switch ev.Kind {
	case acd.EventOffer:
		s.todo = append(s.todo, ev.CallID)
	case acd.EventConnect:
		if b != nil {
			b.answered++
			b.waitSum += ev.Wait
			if ev.Wait > 0 {
				b.waited++
			}
			for i, th := range s.cfg.Thresholds {
				if ev.Wait <= th {
					b.within[i]++
				}
			}
		}
	case acd.EventAbandon:
		if b != nil {
			b.abandoned++
			b.waited++
		}
		delete(s.calls, ev.CallID)
	case acd.EventComplete:
		delete(s.calls, ev.CallID)
	}
}

// process answers offered calls at once (agents pick up instantly) and
// schedules the end of each call after an exponential handle time.
func (s *sim) process() {
	for len(s.todo) > 0 {
		id := s.todo[0]
		s.todo = s.todo[1:]
		c := s.calls[id]
		if c == nil || c.ticket == nil {
			continue
		}
		a, ok, err := c.ticket.Poll()
		if err != nil || !ok {
			continue
		}
		if s.cfg.AnswerDelay > 0 {
			s.clk.AfterFunc(s.cfg.AnswerDelay, func() { s.answer(c, a); s.process() })
			continue
		}
		s.answer(c, a)
	}
}

func (s *sim) answer(c *call, a acd.Assignment) {
	if err := a.Answered(); err != nil {
		if errors.Is(err, acd.ErrStale) {
			return // the caller hung up while the agent rang
		}
		s.fail(fmt.Errorf("answer %s: %w", a.CallID, err))
		return
	}
	if c.patient != nil {
		c.patient.Stop()
	}
	s.clk.AfterFunc(s.exp(s.cfg.AHT.Seconds()), func() {
		if err := a.Complete(); err != nil {
			s.fail(fmt.Errorf("complete %s: %w", a.CallID, err))
		}
		s.process()
	})
}

func (s *sim) summarise(r *Result) {
	k := len(s.cfg.Thresholds)
	r.ServiceLevel = map[time.Duration]float64{}
	r.ServiceLevelStdErr = map[time.Duration]float64{}
	var tot batch
	tot.within = make([]int, k)
	for _, b := range s.batches {
		tot.offered += b.offered
		tot.answered += b.answered
		tot.abandoned += b.abandoned
		tot.waited += b.waited
		tot.waitSum += b.waitSum
		for i := range b.within {
			tot.within[i] += b.within[i]
		}
	}
	r.Offered, r.Answered, r.Abandoned = tot.offered, tot.answered, tot.abandoned
	ratio := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	per := func(f func(b batch) float64) float64 {
		xs := make([]float64, len(s.batches))
		for i, b := range s.batches {
			xs[i] = f(b)
		}
		return stdErr(xs)
	}
	for i, th := range s.cfg.Thresholds {
		r.ServiceLevel[th] = ratio(tot.within[i], tot.offered)
		r.ServiceLevelStdErr[th] = per(func(b batch) float64 { return ratio(b.within[i], b.offered) })
	}
	if tot.answered > 0 {
		r.ASA = tot.waitSum / time.Duration(tot.answered)
	}
	r.ASAStdErr = time.Duration(per(func(b batch) float64 {
		if b.answered == 0 {
			return 0
		}
		return float64(b.waitSum) / float64(b.answered)
	}))
	r.AbandonRate = ratio(tot.abandoned, tot.offered)
	r.AbandonStdErr = per(func(b batch) float64 { return ratio(b.abandoned, b.offered) })
	r.PWait = ratio(tot.waited, tot.offered)
	r.PWaitStdErr = per(func(b batch) float64 { return ratio(b.waited, b.offered) })
	sort.Slice(r.Series, func(i, j int) bool { return r.Series[i].At < r.Series[j].At })
}

// stdErr is the standard error of the mean of xs.
func stdErr(xs []float64) float64 {
	n := float64(len(xs))
	var m float64
	for _, x := range xs {
		m += x
	}
	m /= n
	var v float64
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return math.Sqrt(v / (n - 1) / n)
}
