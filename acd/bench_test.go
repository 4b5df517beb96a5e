package acd_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/acd/acdtest"
)

type benchCentre struct {
	d       *acd.Dispatcher
	clk     *acdtest.Clock
	reg     *prometheus.Registry
	rng     *rand.Rand
	offered string // the call id of the last offer
	tickets map[string]*acd.Ticket
	held    []acd.Assignment
	n       int
}

// newBenchCentre builds 400 agents over 8 skills (3 skills each, proficiency
// 1-5), each queue relaxing to a fallback skill after 30 s; busy occupies
// every agent with a call, then callers join and wait.
func newBenchCentre(b *testing.B, callers int, busy bool) *benchCentre {
	b.Helper()
	c := &benchCentre{clk: acdtest.NewClock(time.Time{}), reg: prometheus.NewRegistry(), rng: rand.New(rand.NewPCG(1, 2)), tickets: map[string]*acd.Ticket{}}
	var queues []acd.QueueConfig
	for i := 0; i < 8; i++ {
		queues = append(queues, acd.QueueConfig{Name: fmt.Sprintf("q%d", i), Skill: fmt.Sprintf("s%d", i), RingTimeout: time.Hour,
			Relax: []acd.RelaxStep{{After: 30 * time.Second, FallbackSkill: fmt.Sprintf("s%d", (i+1)%8)}}})
	}
	d, err := acd.New(acd.Config{Queues: queues}, acd.Options{Clock: c.clk, Registerer: c.reg,
		Sink: func(ev acd.Event) {
			if ev.Kind == acd.EventOffer {
				c.offered = ev.CallID
			}
		}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	c.d = d
	for i := 0; i < 400; i++ {
		id := fmt.Sprintf("a%d", i)
		skills := map[string]int{}
		for len(skills) < 3 {
			skills[fmt.Sprintf("s%d", c.rng.IntN(8))] = 1 + c.rng.IntN(5)
		}
		must(b, d.Login(id, skills))
		must(b, d.Ready(id))
		c.clk.Advance(time.Millisecond)
	}
	for busy && len(c.held) < 400 {
		tk := c.join()
		if a, ok, _ := tk.Poll(); ok {
			must(b, a.Answered())
			c.held = append(c.held, a)
			delete(c.tickets, tk.CallID())
		} else {
			must(b, tk.Abandon())
			delete(c.tickets, tk.CallID())
		}
	}
	for i := 0; i < callers; i++ {
		c.join()
		c.clk.Advance(50 * time.Millisecond) // spread arrivals: some have relaxed
	}
	return c
}

func (c *benchCentre) join() *acd.Ticket {
	c.n++
	id := fmt.Sprintf("c%d", c.n)
	tk, err := c.d.Join(context.Background(), acd.Request{CallID: id, Queue: fmt.Sprintf("q%d", c.rng.IntN(8)), Priority: c.rng.IntN(3)})
	if err != nil {
		panic(err)
	}
	c.tickets[id] = tk
	return tk
}

// BenchmarkAgentFreed is the loaded case: 400 agents all busy, 500 callers
// waiting. One op: a call completes, the agent becomes ready and routing
// picks the best caller across its skills, that call is answered, and a new
// caller joins to keep 500 waiting.
func BenchmarkAgentFreed(b *testing.B) {
	c := newBenchCentre(b, 500, true)
	before := routingHist(b, c.reg)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(c.held)
		c.offered = ""
		must(b, c.held[k].Complete())
		if c.offered != "" { // the agent's skills may have nobody waiting
			tk := c.tickets[c.offered]
			a, ok, _ := tk.Poll()
			if !ok {
				b.Fatalf("offer to %s not delivered", c.offered)
			}
			must(b, a.Answered())
			delete(c.tickets, c.offered)
			c.held[k] = a
			c.join()
		} else {
			// Keep the agent busy with a call from its own skills later.
			tk := c.join()
			if a, ok, _ := tk.Poll(); ok {
				must(b, a.Answered())
				delete(c.tickets, tk.CallID())
				c.held[k] = a
			}
		}
		c.clk.Advance(time.Millisecond)
	}
	b.StopTimer()
	reportRouting(b, c.reg, before)
}

// BenchmarkCallerJoins is the idle case: 400 agents ready, nobody waiting.
// One op: a caller joins and is routed to the best ready agent at once,
// answers, and the call completes (the agent is ready again).
func BenchmarkCallerJoins(b *testing.B) {
	c := newBenchCentre(b, 0, false)
	before := routingHist(b, c.reg)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tk := c.join()
		a, ok, _ := tk.Poll()
		if !ok {
			b.Fatal("not routed")
		}
		must(b, a.Answered())
		must(b, a.Complete())
		delete(c.tickets, tk.CallID())
	}
	b.StopTimer()
	reportRouting(b, c.reg, before)
}

func routingHist(b *testing.B, reg *prometheus.Registry) *dto.Histogram {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "hotline_acd_routing_seconds" {
			return mf.GetMetric()[0].GetHistogram()
		}
	}
	b.Fatal("no routing histogram")
	return nil
}

// reportRouting reports the routing decisions made during the timed loop
// only: the difference of the histogram from before it.
func reportRouting(b *testing.B, reg *prometheus.Registry, before *dto.Histogram) {
	after := routingHist(b, reg)
	n := after.GetSampleCount() - before.GetSampleCount()
	if n == 0 {
		return
	}
	b.ReportMetric((after.GetSampleSum()-before.GetSampleSum())/float64(n)*1e9, "route-mean-ns")
	want := 0.99 * float64(n)
	for i, bk := range after.GetBucket() {
		if float64(bk.GetCumulativeCount()-before.GetBucket()[i].GetCumulativeCount()) >= want {
			b.ReportMetric(bk.GetUpperBound()*1e9, "route-p99-ns")
			return
		}
	}
	b.ReportMetric(-1, "route-p99-ns") // above the last bucket
}
