package acd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/acd"
)

func TestAgentStateTransitions(t *testing.T) {
	type step struct {
		do      func(e *env, a *acd.Assignment) error
		wantErr error
		state   acd.AgentState
		reason  string
	}
	login := func(e *env, _ *acd.Assignment) error { return e.d.Login("x", map[string]int{"general": 3}) }
	ready := func(e *env, _ *acd.Assignment) error { return e.d.Ready("x") }
	brk := func(r string) func(e *env, _ *acd.Assignment) error {
		return func(e *env, _ *acd.Assignment) error { return e.d.Break("x", r) }
	}
	logout := func(e *env, _ *acd.Assignment) error { return e.d.Logout("x") }
	call := func(e *env, a *acd.Assignment) error { // a caller arrives and is offered to x
		tk := e.join("c", "general", 0)
		got, ok, err := tk.Poll()
		if !ok {
			return errors.Join(errors.New("not offered"), err)
		}
		*a = got
		return nil
	}
	answer := func(_ *env, a *acd.Assignment) error { return a.Answered() }
	complete := func(_ *env, a *acd.Assignment) error { return a.Complete() }
	noAnswer := func(_ *env, a *acd.Assignment) error { return a.NoAnswer() }
	advance := func(d time.Duration) func(e *env, _ *acd.Assignment) error {
		return func(e *env, _ *acd.Assignment) error { e.clk.Advance(d); return nil }
	}
	endWrap := func(e *env, _ *acd.Assignment) error { return e.d.EndWrapUp("x") }

	tests := []struct {
		name  string
		steps []step
	}{
		{"login is a break until ready", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready}}},
		{"ready before login fails", []step{{do: ready, wantErr: acd.ErrNotLoggedIn, state: acd.LoggedOut}}},
		{"full cycle with timed wrap-up", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: answer, state: acd.OnCall},
			{do: complete, state: acd.WrapUp},
			{do: advance(27 * time.Second), state: acd.WrapUp}, // each step is 1 s after the last
			{do: advance(time.Second), state: acd.Ready}}},
		{"wrap-up ended early", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: answer, state: acd.OnCall},
			{do: complete, state: acd.WrapUp},
			{do: endWrap, state: acd.Ready},
			{do: endWrap, wantErr: acd.ErrBadState, state: acd.Ready}}},
		{"break requested on call starts after wrap-up", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: answer, state: acd.OnCall},
			{do: brk("lunch"), state: acd.OnCall},
			{do: complete, state: acd.WrapUp},
			{do: advance(30 * time.Second), state: acd.Break, reason: "lunch"}}},
		{"logout on call happens after the call", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: answer, state: acd.OnCall},
			{do: logout, state: acd.OnCall},
			{do: complete, state: acd.WrapUp},
			{do: advance(30 * time.Second), state: acd.LoggedOut}}},
		{"ready cancels a pending break", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: brk("lunch"), state: acd.Reserved},
			{do: ready, state: acd.Reserved},
			{do: answer, state: acd.OnCall},
			{do: complete, state: acd.WrapUp},
			{do: advance(30 * time.Second), state: acd.Ready}}},
		{"logout while ringing releases the caller", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: logout, state: acd.LoggedOut, reason: "agent-logout"},
			{do: answer, wantErr: acd.ErrStale, state: acd.LoggedOut, reason: "agent-logout"}}},
		{"misses in a row: break no-answer", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: ready, state: acd.Ready},
			{do: call, state: acd.Reserved},
			{do: noAnswer, state: acd.Reserved}, // first miss: ready again, and the caller is offered again at once
			{do: func(e *env, a *acd.Assignment) error {
				got, ok, err := a.Ticket.Poll()
				if !ok {
					return errors.Join(errors.New("not re-offered"), err)
				}
				*a = got
				return nil
			}, state: acd.Reserved},
			{do: noAnswer, state: acd.Break, reason: acd.NoAnswerReason},
			{do: ready, state: acd.Reserved}}}, // back from break: the caller is still at the head
		{"break reason change", []step{
			{do: login, state: acd.Break, reason: acd.LoginReason},
			{do: brk("training"), state: acd.Break, reason: "training"},
			{do: brk(""), wantErr: acd.ErrBadAgent, state: acd.Break, reason: "training"},
			{do: logout, state: acd.LoggedOut}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, oneQueue(func(q *acd.QueueConfig) { q.WrapUp = 30 * time.Second }))
			var a acd.Assignment
			for i, s := range tt.steps {
				e.clk.Advance(time.Second)
				err := s.do(e, &a)
				if !errors.Is(err, s.wantErr) {
					t.Fatalf("step %d: err %v, want %v", i, err, s.wantErr)
				}
				e.check()
				if len(e.d.Snapshot().Agents) == 0 {
					if s.state != acd.LoggedOut {
						t.Fatalf("step %d: no agent", i)
					}
					return
				}
				e.wantState("x", s.state, s.reason)
			}
			// Every change is an event with its time, and the totals add up.
			st := e.state("x")
			var sum time.Duration
			for _, d := range st.Totals {
				sum += d
			}
			evs := e.eventsOf(acd.EventAgentState)
			if len(evs) == 0 {
				return
			}
			if want := e.clk.Now().Sub(evs[0].Time); sum != want {
				t.Fatalf("state totals %v, want %v since login", sum, want)
			}
			for i := 1; i < len(evs); i++ {
				if evs[i].Prev != evs[i-1].State.String() || evs[i].Time.Before(evs[i-1].Time) {
					t.Fatalf("event %d: %+v after %+v", i, evs[i], evs[i-1])
				}
			}
		})
	}
}

func TestNoAnswerPutsCallerBackAtTheHead(t *testing.T) {
	e := newEnv(t, acd.Config{MaxNoAnswer: 2, Queues: []acd.QueueConfig{{Name: "general", Skill: "general", RingTimeout: 15 * time.Second}}})
	first := e.join("first", "general", 0)
	e.clk.Advance(time.Second)
	second := e.join("second", "general", 0)
	e.agent("x", map[string]int{"general": 3})
	e.agent("y", map[string]int{"general": 3})
	ax := e.assigned(first)
	ay := e.assigned(second)
	if ax.AgentID != "x" || ay.AgentID != "y" {
		t.Fatalf("first→%s second→%s", ax.AgentID, ay.AgentID)
	}
	must(t, ay.Answered())
	e.clk.Advance(time.Second)
	third := e.join("third", "general", 0)
	// x does not answer: the ring times out and first goes back to the head,
	// so the free agent (x again) is offered first, not third.
	e.clk.Advance(15 * time.Second)
	select {
	case <-ax.Withdrawn():
	default:
		t.Fatal("offer not withdrawn at ring timeout")
	}
	if err := ax.Answered(); !errors.Is(err, acd.ErrStale) {
		t.Fatalf("late answer: %v", err)
	}
	a := e.assigned(first)
	if a.AgentID != "x" {
		t.Fatalf("first re-offered to %s", a.AgentID)
	}
	e.notAssigned(third)
	must(t, a.Rejected()) // second miss in a row: x goes on break
	e.wantState("x", acd.Break, acd.NoAnswerReason)
	if st, _ := first.Status(); st.Position != 1 {
		t.Fatalf("first at position %d", st.Position)
	}
	if st, _ := third.Status(); st.Position != 2 {
		t.Fatalf("third at position %d", st.Position)
	}
	ev := e.eventsOf(acd.EventNoAnswer)
	if len(ev) != 2 || ev[0].Reason != "timeout" || ev[1].Reason != "rejected" {
		t.Fatalf("no-answer events %+v", ev)
	}
	must(t, ay.Complete()) // y is free: takes first, not third
	if a := e.assigned(first); a.AgentID != "y" {
		t.Fatalf("first went to %s", a.AgentID)
	}
	e.notAssigned(third)
	e.check()
}

func TestAgentGone(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) { q.WrapUp = time.Minute }))
	e.agent("x", map[string]int{"general": 3})
	tk := e.join("c", "general", 0)
	a := e.assigned(tk)
	must(t, a.AgentGone())
	e.wantState("x", acd.LoggedOut, "agent-gone")
	if st, _ := tk.Status(); st.State != acd.RequestWaiting || st.Position != 1 {
		t.Fatalf("status %+v", st)
	}
	e.agent("y", map[string]int{"general": 3})
	a = e.assigned(tk)
	must(t, a.Answered())
	must(t, a.AgentGone()) // mid-call: the call is over and y is out, with no wrap-up
	e.wantState("y", acd.LoggedOut, "")
	if n := len(e.eventsOf(acd.EventComplete)); n != 1 {
		t.Fatalf("%d complete events", n)
	}
}

func TestCallerHangsUpWhileOffered(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	e.agent("x", map[string]int{"general": 3})
	ctx, cancel := context.WithCancel(t.Context())
	a, err := e.d.Enqueue(ctx, acd.Request{CallID: "c", Queue: "general"})
	must(t, err)
	e.wantState("x", acd.Reserved, "")
	cancel() // the caller hangs up while x rings
	<-a.Withdrawn()
	e.wantState("x", acd.Ready, "")
	if err := a.Answered(); !errors.Is(err, acd.ErrStale) {
		t.Fatalf("answer after hang-up: %v", err)
	}
	if _, err := a.Ticket.Wait(); !errors.Is(err, acd.ErrAbandoned) {
		t.Fatalf("wait: %v", err)
	}
	ab := e.eventsOf(acd.EventAbandon)
	if len(ab) != 1 || ab[0].Position != 1 {
		t.Fatalf("abandon events %+v", ab)
	}
	if st := e.state("x"); st.Misses != 0 {
		t.Fatalf("x blamed: %d misses", st.Misses)
	}
	e.check()
}

func TestEnqueueBlocksUntilReservedAndAbandons(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	ctx, cancel := context.WithCancel(t.Context())
	type res struct {
		a   acd.Assignment
		err error
	}
	done := make(chan res)
	sub, unsub := e.d.Subscribe(16)
	defer unsub()
	go func() {
		a, err := e.d.Enqueue(ctx, acd.Request{CallID: "c", Queue: "general"})
		done <- res{a, err}
	}()
	if ev := <-sub; ev.Kind != acd.EventEnter {
		t.Fatalf("first event %v", ev.Kind)
	}
	e.agent("x", map[string]int{"general": 1})
	r := <-done
	if r.err != nil || r.a.AgentID != "x" {
		t.Fatalf("%+v", r)
	}
	must(t, r.a.NoAnswer())
	go func() {
		a, err := r.a.Ticket.Wait()
		done <- res{a, err}
	}()
	// x is ready again and the caller is re-offered; then the caller gives up.
	r = <-done
	must(t, r.err)
	must(t, r.a.NoAnswer()) // x goes on break (2 misses)
	go func() {
		a, err := r.a.Ticket.Wait()
		done <- res{a, err}
	}()
	cancel()
	if r = <-done; !errors.Is(r.err, acd.ErrAbandoned) {
		t.Fatalf("after cancel: %v", r.err)
	}
	cancel()
}

func TestTwoRoutingDecisionsRaceForOneAgent(t *testing.T) {
	for i := 0; i < 200; i++ {
		e := newEnv(t, oneQueue(nil))
		e.agent("x", map[string]int{"general": 1})
		results := make(chan *acd.Ticket, 2)
		start := make(chan struct{})
		for _, id := range []string{"a", "b"} {
			go func() {
				<-start
				tk, err := e.d.Join(context.Background(), acd.Request{CallID: id, Queue: "general"})
				if err != nil {
					t.Error(err)
				}
				results <- tk
			}()
		}
		close(start)
		t1, t2 := <-results, <-results
		_, ok1, _ := t1.Poll()
		_, ok2, _ := t2.Poll()
		if ok1 == ok2 {
			t.Fatalf("iteration %d: assigned %v and %v", i, ok1, ok2)
		}
		e.check()
	}
}

func TestCloseReleasesWaiters(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	errc := make(chan error)
	sub, unsub := e.d.Subscribe(4)
	defer unsub()
	go func() {
		_, err := e.d.Enqueue(context.Background(), acd.Request{CallID: "c", Queue: "general"})
		errc <- err
	}()
	<-sub // queued
	must(t, e.d.Close())
	if err := <-errc; !errors.Is(err, acd.ErrClosed) {
		t.Fatalf("%v", err)
	}
	if err := e.d.Login("x", map[string]int{"general": 1}); !errors.Is(err, acd.ErrClosed) {
		t.Fatalf("login after close: %v", err)
	}
	if e.clk.Pending() != 0 {
		t.Fatalf("%d timers left", e.clk.Pending())
	}
}
