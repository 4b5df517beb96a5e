package acd_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/acd"
)

func TestQueuedCallbackKeepsPlace(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
		q.CallbackAttempts = 3
		q.CallbackRetryDelay = 2 * time.Minute
	}))
	a := e.join("a", "general", 0)
	e.clk.Advance(time.Second)
	b := e.join("b", "general", 0)
	e.clk.Advance(time.Second)
	c := e.join("c", "general", 0)
	e.clk.Advance(time.Minute)

	if err := b.Callback("not a number"); !errors.Is(err, acd.ErrInvalidNumber) {
		t.Fatalf("bad number: %v", err)
	}
	must(t, b.Callback("+8613800138000"))
	if _, err := b.Wait(); !errors.Is(err, acd.ErrCallbackQueued) {
		t.Fatalf("caller's wait: %v", err)
	}
	if st, _ := c.Status(); st.Position != 3 {
		t.Fatalf("c at %d: the callback keeps b's place", st.Position)
	}
	if st, err := e.d.Status("b"); err != nil || !st.Callback || st.Position != 2 {
		t.Fatalf("b: %+v %v", st, err)
	}

	e.agent("x", map[string]int{"general": 2})
	ax := e.assigned(a)
	must(t, ax.Answered())
	must(t, ax.Complete())
	// x is free: the head is now b's callback, ahead of c.
	cbs := e.callbacks()
	if len(cbs) != 1 || cbs[0].CallID != "b" || cbs[0].Number != "+8613800138000" || cbs[0].AgentID != "x" || cbs[0].Attempt != 1 {
		t.Fatalf("callbacks %+v", cbs)
	}
	e.notAssigned(c)
	e.wantState("x", acd.Reserved, "")

	// Busy: x is freed (and takes c), the callback waits 2 minutes, then
	// comes back ahead of anyone who arrived after b.
	must(t, cbs[0].CallbackFailed(acd.CallbackBusy))
	ac := e.assigned(c)
	must(t, ac.Answered())
	d := e.join("d", "general", 0)
	if st, _ := e.d.Status("b"); st.State != acd.RequestParked {
		t.Fatalf("b during the retry delay: %+v", st)
	}
	e.clk.Advance(2 * time.Minute)
	if st, _ := e.d.Status("b"); st.State != acd.RequestWaiting || st.Position != 1 {
		t.Fatalf("b after the retry delay: %+v", st)
	}
	must(t, ac.Complete())
	cbs = e.callbacks()
	if len(cbs) != 1 || cbs[0].Attempt != 2 {
		t.Fatalf("second attempt %+v", cbs)
	}
	e.notAssigned(d)
	must(t, cbs[0].Answered())
	must(t, cbs[0].Complete())
	e.assigned(d)

	var made, done []string
	for _, ev := range e.eventsOf(acd.EventCallbackMade) {
		made = append(made, ev.Reason)
	}
	for _, ev := range e.eventsOf(acd.EventCallbackDone) {
		done = append(done, ev.Reason)
	}
	if len(made) != 2 || made[0] != "busy" || made[1] != "answered" || len(done) != 1 || done[0] != "connected" {
		t.Fatalf("made %v done %v", made, done)
	}
	e.check()
}

func TestCallbackOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		results  []acd.CallbackResult
		outcome  string
		attempts int
	}{
		{"invalid ends at once", []acd.CallbackResult{acd.CallbackInvalid}, "invalid", 1},
		{"no answer three times", []acd.CallbackResult{acd.CallbackNoAnswer, acd.CallbackBusy, acd.CallbackNoAnswer}, "failed", 3},
		{"answered on the second", []acd.CallbackResult{acd.CallbackNoAnswer, 0}, "connected", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, oneQueue(nil))
			e.agent("x", map[string]int{"general": 1})
			must(t, e.d.RequestCallback(acd.Request{CallID: "cb", Queue: "general", Number: "12345678"}))
			for i, r := range tt.results {
				cbs := e.callbacks()
				if len(cbs) != 1 || cbs[0].Attempt != i+1 {
					t.Fatalf("attempt %d: %+v", i+1, cbs)
				}
				if r == 0 {
					must(t, cbs[0].Answered())
					must(t, cbs[0].Complete())
					break
				}
				must(t, cbs[0].CallbackFailed(r))
				e.wantState("x", acd.Ready, "") // not the agent's fault
				e.check()
				e.clk.Advance(5 * time.Minute)
			}
			if cbs := e.callbacks(); len(cbs) != 0 {
				t.Fatalf("extra attempts %+v", cbs)
			}
			done := e.eventsOf(acd.EventCallbackDone)
			if len(done) != 1 || done[0].Reason != tt.outcome || done[0].Attempt != tt.attempts {
				t.Fatalf("done %+v", done)
			}
			if _, err := e.d.Status("cb"); err == nil {
				t.Fatal("callback still queued")
			}
		})
	}
}

func TestCallbackAttemptTimesOut(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) { q.CallbackTimeout = time.Minute }))
	e.agent("x", map[string]int{"general": 1})
	must(t, e.d.RequestCallback(acd.Request{CallID: "cb", Queue: "general", Number: "12345678"}))
	cb := e.callbacks()[0]
	e.clk.Advance(time.Minute) // the call layer never reported
	<-cb.Withdrawn()
	e.wantState("x", acd.Ready, "")
	if st, _ := e.d.Status("cb"); st.State != acd.RequestParked {
		t.Fatalf("%+v", st)
	}
	if err := cb.Answered(); !errors.Is(err, acd.ErrStale) {
		t.Fatalf("late: %v", err)
	}
}

func TestCallbackAgentMissDoesNotCountAsAttempt(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	e.agent("x", map[string]int{"general": 1})
	e.agent("y", map[string]int{"general": 1})
	must(t, e.d.RequestCallback(acd.Request{CallID: "cb", Queue: "general", Number: "12345678"}))
	cb := e.callbacks()[0]
	must(t, cb.NoAnswer()) // the agent did not pick up before we dialled
	cbs := e.callbacks()
	if len(cbs) != 1 || cbs[0].AgentID != "y" || cbs[0].Attempt != 1 {
		t.Fatalf("%+v", cbs)
	}
}

func TestMissedCallCallback(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
		q.MissedCallback = true
		q.MissedCallbackMinWait = 10 * time.Second
	}))
	quick := e.join("quick", "general", 0)
	e.clk.Advance(5 * time.Second)
	must(t, quick.Abandon()) // 5 s: below the minimum, no callback
	slow := e.join("slow", "general", 0)
	later := e.join("later", "general", 0)
	e.clk.Advance(30 * time.Second)
	must(t, slow.Abandon())
	if _, err := slow.Wait(); !errors.Is(err, acd.ErrAbandoned) {
		t.Fatalf("%v", err)
	}
	req := e.eventsOf(acd.EventCallbackRequested)
	if len(req) != 1 || req[0].CallID != "slow" || req[0].Reason != "missed" {
		t.Fatalf("requested %+v", req)
	}
	ab := e.eventsOf(acd.EventAbandon)
	if len(ab) != 2 || ab[1].Position != 1 || ab[1].Wait != 30*time.Second {
		t.Fatalf("abandons %+v", ab)
	}
	e.agent("x", map[string]int{"general": 1})
	if cbs := e.callbacks(); len(cbs) != 1 || cbs[0].CallID != "slow" {
		t.Fatalf("the missed call keeps its place ahead of later: %+v", cbs)
	}
	e.notAssigned(later)
}

func TestCallbackRefusedWhileOffered(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	e.agent("x", map[string]int{"general": 1})
	tk := e.join("c", "general", 0)
	if err := tk.Callback("12345678"); !errors.Is(err, acd.ErrBadState) {
		t.Fatalf("%v", err)
	}
}

func TestCancelCallback(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	must(t, e.d.RequestCallback(acd.Request{CallID: "cb", Queue: "general", Number: "12345678"}))
	must(t, e.d.CancelCallback("cb"))
	e.agent("x", map[string]int{"general": 1})
	if cbs := e.callbacks(); len(cbs) != 0 {
		t.Fatalf("%+v", cbs)
	}
}

func FuzzValidNumber(f *testing.F) {
	for _, s := range []string{"12345", "+8613800138000", "", "+", "12a45", "1; DROP", "123456789012345678901", "١٢٣٤٥"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !acd.ValidNumber(s) {
			return
		}
		digits := s
		if digits[0] == '+' {
			digits = digits[1:]
		}
		if len(digits) < 3 || len(digits) > 20 {
			t.Fatalf("%q accepted with %d digits", s, len(digits))
		}
		for _, r := range digits {
			if r < '0' || r > '9' {
				t.Fatalf("%q accepted", s)
			}
		}
	})
}
