package acd_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/acd/acdtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// env is a dispatcher on a fake clock that records every event and callback.
type env struct {
	t   testing.TB
	clk *acdtest.Clock
	d   *acd.Dispatcher
	reg *prometheus.Registry

	mu     sync.Mutex
	events []acd.Event
	cbs    []acd.Assignment
}

func newEnv(t testing.TB, cfg acd.Config) *env {
	t.Helper()
	e := &env{t: t, clk: acdtest.NewClock(time.Time{}), reg: prometheus.NewRegistry()}
	d, err := acd.New(cfg, acd.Options{
		Clock:      e.clk,
		Registerer: e.reg,
		Sink: func(ev acd.Event) {
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		},
		OnCallback: func(a acd.Assignment) {
			e.mu.Lock()
			e.cbs = append(e.cbs, a)
			e.mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(func() {
		if err := d.CheckInvariants(); err != nil {
			t.Errorf("invariants at the end: %v", err)
		}
		d.Close()
	})
	return e
}

func (e *env) check() {
	e.t.Helper()
	if err := e.d.CheckInvariants(); err != nil {
		e.t.Fatal(err)
	}
}

// agent logs an agent in and makes it ready.
func (e *env) agent(id string, skills map[string]int) {
	e.t.Helper()
	if err := e.d.Login(id, skills); err != nil {
		e.t.Fatal(err)
	}
	if err := e.d.Ready(id); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) join(id, queue string, prio int) *acd.Ticket {
	e.t.Helper()
	t, err := e.d.Join(context.Background(), acd.Request{CallID: id, Queue: queue, Priority: prio, Number: "13800138000"})
	if err != nil {
		e.t.Fatalf("join %s: %v", id, err)
	}
	return t
}

// assigned returns the ticket's assignment, failing if there is none.
func (e *env) assigned(t *acd.Ticket) acd.Assignment {
	e.t.Helper()
	a, ok, err := t.Poll()
	if err != nil || !ok {
		e.t.Fatalf("%s: no assignment (ok=%v err=%v)", t.CallID(), ok, err)
	}
	return a
}

func (e *env) notAssigned(t *acd.Ticket) {
	e.t.Helper()
	a, ok, err := t.Poll()
	if ok || err != nil {
		e.t.Fatalf("%s: unexpected assignment to %s (err=%v)", t.CallID(), a.AgentID, err)
	}
}

func (e *env) state(id string) acd.AgentStatus {
	e.t.Helper()
	for _, a := range e.d.Snapshot().Agents {
		if a.ID == id {
			return a
		}
	}
	e.t.Fatalf("no agent %s", id)
	return acd.AgentStatus{}
}

func (e *env) wantState(id string, st acd.AgentState, reason string) {
	e.t.Helper()
	if got := e.state(id); got.State != st || got.Reason != reason {
		e.t.Fatalf("agent %s is %s/%q, want %s/%q", id, got.State, got.Reason, st, reason)
	}
}

func (e *env) eventsOf(kind acd.EventKind) []acd.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []acd.Event
	for _, ev := range e.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (e *env) callbacks() []acd.Assignment {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.cbs
	e.cbs = nil
	return out
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func exitErr(t testing.TB, err error) *acd.ExitError {
	t.Helper()
	var x *acd.ExitError
	if !errors.As(err, &x) {
		t.Fatalf("want *ExitError, got %v", err)
	}
	return x
}

func oneQueue(mod func(*acd.QueueConfig)) acd.Config {
	q := acd.QueueConfig{Name: "general", Skill: "general"}
	if mod != nil {
		mod(&q)
	}
	return acd.Config{Queues: []acd.QueueConfig{q}}
}
