package acd_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/acd/acdtest"
)

func propertyConfig() acd.Config {
	return acd.Config{MaxNoAnswer: 3, Queues: []acd.QueueConfig{
		{Name: "general", Skill: "general", WrapUp: 5 * time.Second, MaxWait: 10 * time.Minute,
			OnMaxWait: acd.Destination{Queue: "overflow"}, MissedCallback: true, MissedCallbackMinWait: 30 * time.Second,
			Relax: []acd.RelaxStep{{After: 20 * time.Second, MinProficiency: 1}, {After: 40 * time.Second, FallbackSkill: "tax"}}},
		{Name: "tax", Skill: "tax", MinProficiency: 3, MaxLength: 6, OnFull: acd.Destination{Target: "busy"},
			Relax: []acd.RelaxStep{{After: 30 * time.Second, Overflow: "general"}}, CallbackRetryDelay: time.Minute,
			LeaveEmpty: acd.EmptyNoneLoggedIn, LeaveEmptyGrace: 20 * time.Second, OnEmpty: acd.Destination{Queue: "general"}},
		{Name: "overflow", Skill: "any", JoinEmpty: acd.EmptyNoneLoggedIn, LeaveEmpty: acd.EmptyNoneServing,
			OnEmpty: acd.Destination{Target: "voicemail"}, RingTimeout: 10 * time.Second},
	}}
}

var propertySkills = []map[string]int{
	{"general": 5}, {"general": 2}, {"general": 3, "tax": 4}, {"tax": 5}, {"any": 1, "general": 1}, {"tax": 2, "any": 3},
}

// TestPropertyRandomised drives one dispatcher with random arrivals,
// abandons, callbacks, answers, misses, logins, breaks and logouts on the
// fake clock, checking the whole state after every step; then drains it and
// checks that every caller ended one way or another.
func TestPropertyRandomised(t *testing.T) {
	seeds := propertySeeds
	if testing.Short() {
		seeds = 30
	}
	for seed := 0; seed < seeds; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runProperty(t, uint64(seed)) })
	}
}

func runProperty(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x12345))
	e := newEnv(t, propertyConfig())
	d := e.d
	queues := []string{"general", "tax", "overflow"}
	var tickets []*acd.Ticket
	var open []acd.Assignment // offers and calls we still hold
	holder := map[string]acd.Assignment{}
	ended := map[string]error{}
	joined := 0

	take := func(a acd.Assignment) {
		if prev, ok := holder[a.AgentID]; ok {
			select {
			case <-prev.Withdrawn():
			default:
				t.Fatalf("seed %d: agent %s reserved for %s while holding %s", seed, a.AgentID, a.CallID, prev.CallID)
			}
		}
		holder[a.AgentID] = a
		open = append(open, a)
	}
	release := func(i int) acd.Assignment {
		a := open[i]
		open = append(open[:i], open[i+1:]...)
		if holder[a.AgentID].SameOffer(a) {
			delete(holder, a.AgentID)
		}
		return a
	}
	poll := func() {
		for _, tk := range tickets {
			if _, done := ended[tk.CallID()]; done {
				continue
			}
			a, ok, err := tk.Poll()
			if ok {
				take(a)
			}
			if err != nil {
				ended[tk.CallID()] = err
			}
		}
		for _, a := range e.callbacks() {
			take(a)
		}
	}

	for step := 0; step < 400; step++ {
		switch r := rng.IntN(100); {
		case r < 25:
			joined++
			id := fmt.Sprintf("c%d", joined)
			tk, err := d.Join(context.Background(), acd.Request{CallID: id, Queue: queues[rng.IntN(3)], Priority: rng.IntN(3), Number: "13800138000"})
			if err != nil {
				var x *acd.ExitError
				if !errors.As(err, &x) {
					t.Fatalf("seed %d: join: %v", seed, err)
				}
				break
			}
			tickets = append(tickets, tk)
		case r < 31 && len(tickets) > 0:
			_ = tickets[rng.IntN(len(tickets))].Abandon()
		case r < 34 && len(tickets) > 0:
			_ = tickets[rng.IntN(len(tickets))].Callback("12345678")
		case r < 40:
			id := fmt.Sprintf("a%d", rng.IntN(12))
			_ = d.Login(id, propertySkills[rng.IntN(len(propertySkills))])
		case r < 48:
			_ = d.Ready(fmt.Sprintf("a%d", rng.IntN(12)))
		case r < 51:
			_ = d.Break(fmt.Sprintf("a%d", rng.IntN(12)), "rest")
		case r < 53:
			_ = d.Logout(fmt.Sprintf("a%d", rng.IntN(12)))
		case r < 55:
			_ = d.EndWrapUp(fmt.Sprintf("a%d", rng.IntN(12)))
		case r < 80 && len(open) > 0:
			i := rng.IntN(len(open))
			a := open[i]
			var err error
			switch k := rng.IntN(10); {
			case k < 5:
				if err = a.Answered(); err == nil {
					break // keep holding it until Complete
				}
				release(i)
			case k < 8:
				release(i)
				if err = a.Complete(); errors.Is(err, acd.ErrBadState) {
					err = a.NoAnswer()
				}
			case k < 9:
				release(i)
				if a.Callback {
					err = a.CallbackFailed(acd.CallbackResult(1 + rng.IntN(4)))
				} else {
					err = a.Rejected()
				}
			default:
				release(i)
				err = a.AgentGone()
			}
			if err != nil && !errors.Is(err, acd.ErrStale) && !errors.Is(err, acd.ErrBadState) {
				t.Fatalf("seed %d: report: %v", seed, err)
			}
		default:
			e.clk.Advance(time.Duration(rng.IntN(30_000)) * time.Millisecond)
		}
		if err := d.CheckInvariants(); err != nil {
			t.Fatalf("seed %d step %d: %v", seed, step, err)
		}
		poll()
	}

	// Drain: staff every skill, answer and complete everything, let time pass.
	for i, skills := range []map[string]int{{"general": 5, "tax": 5, "any": 5}, {"general": 1, "tax": 1, "any": 1}} {
		id := fmt.Sprintf("drain%d", i)
		must(t, d.Login(id, skills))
		must(t, d.Ready(id))
	}
	for round := 0; round < 2000; round++ {
		poll()
		for len(open) > 0 {
			a := release(0)
			if err := a.Answered(); err != nil && !errors.Is(err, acd.ErrStale) && !errors.Is(err, acd.ErrBadState) {
				t.Fatal(err)
			}
			_ = a.Complete()
		}
		for i := 0; i < 12; i++ {
			_ = d.Ready(fmt.Sprintf("a%d", i))
		}
		e.clk.Advance(10 * time.Second)
		if err := d.CheckInvariants(); err != nil {
			t.Fatalf("seed %d drain: %v", seed, err)
		}
		if len(ended) == len(tickets) && len(e.d.Snapshot().Queues) > 0 && pending(e.d) == 0 {
			break
		}
	}
	// No caller is lost: every one ended and nothing is left queued.
	for _, tk := range tickets {
		err, ok := ended[tk.CallID()]
		if !ok {
			st, serr := tk.Status()
			t.Fatalf("seed %d: %s never ended: %+v %v", seed, tk.CallID(), st, serr)
		}
		var x *acd.ExitError
		if !errors.Is(err, acd.ErrConnected) && !errors.Is(err, acd.ErrAbandoned) && !errors.Is(err, acd.ErrCallbackQueued) && !errors.As(err, &x) {
			t.Fatalf("seed %d: %s ended with %v", seed, tk.CallID(), err)
		}
	}
	if n := pending(d); n != 0 {
		t.Fatalf("seed %d: %d requests left", seed, n)
	}
}

func pending(d *acd.Dispatcher) int {
	n := 0
	for _, q := range d.Snapshot().Queues {
		n += q.Waiting + q.Ringing + q.Callbacks
	}
	return n
}

// TestPropertyConcurrent runs callers and agents in goroutines against one
// dispatcher while another goroutine moves the fake clock: under -race, no
// agent is reserved twice and every blocked caller returns.
func TestPropertyConcurrent(t *testing.T) {
	for seed := uint64(0); seed < 8; seed++ {
		runConcurrent(t, seed)
	}
}

func runConcurrent(t *testing.T, seed uint64) {
	clk := acdtest.NewClock(time.Time{})
	d, err := acd.New(propertyConfig(), acd.Options{Clock: clk, OnCallback: func(a acd.Assignment) {
		go func() { _ = a.CallbackFailed(acd.CallbackInvalid) }()
	}})
	must(t, err)
	defer d.Close()
	ctx, stop := context.WithCancel(context.Background())

	var mu sync.Mutex
	holder := map[string]acd.Assignment{}
	var failures []string
	claim := func(a acd.Assignment) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-a.Withdrawn():
			return // claimed too late to mean anything: the offer is over
		default:
		}
		if prev, ok := holder[a.AgentID]; ok {
			select {
			case <-prev.Withdrawn():
			default:
				failures = append(failures, fmt.Sprintf("agent %s reserved for %s and %s", a.AgentID, prev.CallID, a.CallID))
			}
		}
		holder[a.AgentID] = a
	}
	unclaim := func(a acd.Assignment) {
		mu.Lock()
		defer mu.Unlock()
		if holder[a.AgentID].SameOffer(a) {
			delete(holder, a.AgentID)
		}
	}

	var wg sync.WaitGroup
	var returned atomic.Int64
	for g := 0; g < 6; g++ {
		rng := rand.New(rand.NewPCG(seed, uint64(g)))
		wg.Add(1)
		go func() { // a caller line: one call after another
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				cctx, hang := context.WithCancel(ctx)
				a, err := d.Enqueue(cctx, acd.Request{CallID: fmt.Sprintf("g%d-%d", g, i), Queue: []string{"general", "tax"}[rng.IntN(2)]})
				for err == nil {
					claim(a)
					if rng.IntN(4) == 0 {
						unclaim(a)
						hang() // hangs up while ringing
						break
					}
					if rng.IntN(3) == 0 {
						unclaim(a)
						_ = a.NoAnswer()
						a, err = a.Ticket.Wait()
						continue
					}
					if a.Answered() == nil {
						unclaim(a)
						_ = a.Complete()
					} else {
						unclaim(a)
					}
					break
				}
				hang()
				returned.Add(1)
			}
		}()
	}
	for g := 0; g < 3; g++ {
		rng := rand.New(rand.NewPCG(seed, 100+uint64(g)))
		wg.Add(1)
		go func() { // agents changing state
			defer wg.Done()
			for ctx.Err() == nil {
				id := fmt.Sprintf("a%d-%d", g, rng.IntN(3))
				switch rng.IntN(5) {
				case 0:
					_ = d.Login(id, propertySkills[rng.IntN(len(propertySkills))])
				case 1, 2:
					_ = d.Ready(id)
				case 3:
					_ = d.Break(id, "rest")
				case 4:
					if rng.IntN(4) == 0 {
						_ = d.Logout(id)
					}
				}
			}
		}()
	}
	for returned.Load() < 200 {
		clk.Advance(2 * time.Second)
		runtime.Gosched()
		if err := d.CheckInvariants(); err != nil {
			stop()
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	stop()
	// Every blocked caller returns once its context ends: nobody is lost in a queue.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for {
		select {
		case <-done:
			mu.Lock()
			defer mu.Unlock()
			if len(failures) > 0 {
				t.Fatalf("seed %d: %v", seed, failures)
			}
			return
		default:
			clk.Advance(time.Minute) // lets ring timeouts free callers whose agents went quiet
			time.Sleep(time.Millisecond)
		}
	}
}
