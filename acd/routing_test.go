package acd_test

import (
	"testing"
	"time"

	"github.com/hotline-12345/hotline/acd"
)

type agentSpec struct {
	id     string
	skills map[string]int
}

func TestCallerGoesToBestProficiencyThenLongestIdle(t *testing.T) {
	tests := []struct {
		name    string
		minProf int
		agents  []agentSpec // made ready in this order, 1 s apart
		want    string      // "" = nobody
	}{
		{"single agent", 0, []agentSpec{{"a", map[string]int{"general": 3}}}, "a"},
		{"best proficiency beats idle time", 0, []agentSpec{
			{"old", map[string]int{"general": 2}}, {"expert", map[string]int{"general": 5}}}, "expert"},
		{"longest idle among equals", 0, []agentSpec{
			{"first", map[string]int{"general": 4}}, {"second", map[string]int{"general": 4}}}, "first"},
		{"other skills do not count", 0, []agentSpec{
			{"tax", map[string]int{"tax": 5}}, {"gen", map[string]int{"general": 1}}}, "gen"},
		{"below minimum proficiency waits", 4, []agentSpec{{"junior", map[string]int{"general": 3}}}, ""},
		{"at minimum proficiency", 4, []agentSpec{
			{"junior", map[string]int{"general": 3}}, {"senior", map[string]int{"general": 4}}}, "senior"},
		{"no agent", 0, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, acd.Config{Queues: []acd.QueueConfig{
				{Name: "general", Skill: "general", MinProficiency: tt.minProf}, {Name: "tax", Skill: "tax"}}})
			for _, a := range tt.agents {
				e.agent(a.id, a.skills)
				e.clk.Advance(time.Second)
			}
			tk := e.join("c1", "general", 0)
			e.check()
			if tt.want == "" {
				e.notAssigned(tk)
				return
			}
			a := e.assigned(tk)
			if a.AgentID != tt.want {
				t.Fatalf("got agent %s, want %s", a.AgentID, tt.want)
			}
			e.wantState(tt.want, acd.Reserved, "")
		})
	}
}

func TestReadyAgentTakesHighestPriorityThenLongestWaiting(t *testing.T) {
	type caller struct {
		id, queue string
		prio      int
	}
	tests := []struct {
		name    string
		callers []caller // join in this order, 1 s apart
		skills  map[string]int
		want    []string // the order in which one agent serves them
	}{
		{"fifo", []caller{{"c1", "general", 0}, {"c2", "general", 0}, {"c3", "general", 0}},
			map[string]int{"general": 3}, []string{"c1", "c2", "c3"}},
		{"priority first", []caller{{"c1", "general", 0}, {"urgent", "general", 10}, {"repeat", "general", 5}},
			map[string]int{"general": 3}, []string{"urgent", "repeat", "c1"}},
		{"fair across queues: oldest first", []caller{{"g1", "general", 0}, {"t1", "tax", 0}, {"g2", "general", 0}, {"t2", "tax", 0}},
			map[string]int{"general": 3, "tax": 3}, []string{"g1", "t1", "g2", "t2"}},
		{"priority across queues", []caller{{"g1", "general", 0}, {"t1", "tax", 1}},
			map[string]int{"general": 5, "tax": 1}, []string{"t1", "g1"}},
		{"only own skills", []caller{{"t1", "tax", 0}, {"g1", "general", 0}},
			map[string]int{"general": 3}, []string{"g1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, acd.Config{Queues: []acd.QueueConfig{{Name: "general", Skill: "general"}, {Name: "tax", Skill: "tax"}}})
			tickets := map[string]*acd.Ticket{}
			for _, c := range tt.callers {
				tickets[c.id] = e.join(c.id, c.queue, c.prio)
				e.clk.Advance(time.Second)
			}
			must(t, e.d.Login("a", tt.skills))
			for i, want := range tt.want {
				if i == 0 {
					must(t, e.d.Ready("a"))
				}
				e.check()
				a := e.assigned(tickets[want])
				if a.AgentID != "a" {
					t.Fatalf("%s went to %s", want, a.AgentID)
				}
				for id, tk := range tickets {
					if id != want {
						if _, ok, _ := tk.Poll(); ok {
							t.Fatalf("%s assigned along with %s", id, want)
						}
					}
				}
				must(t, a.Answered())
				e.clk.Advance(time.Second)
				must(t, a.Complete()) // no wrap-up: straight back to Ready, next caller
				delete(tickets, want)
			}
			e.check()
		})
	}
}

func TestRelaxation(t *testing.T) {
	cfg := acd.Config{Queues: []acd.QueueConfig{
		{Name: "expert", Skill: "env", MinProficiency: 5, Relax: []acd.RelaxStep{
			{After: 10 * time.Second, MinProficiency: 3},
			{After: 20 * time.Second, FallbackSkill: "general"},
			{After: 30 * time.Second, Overflow: "overflow"},
		}},
		{Name: "overflow", Skill: "any"},
		{Name: "general", Skill: "general"},
	}}
	tests := []struct {
		name   string
		skills map[string]int
		at     time.Duration // the caller is assigned at this wait, or never (0)
	}{
		{"expert at once", map[string]int{"env": 5}, time.Nanosecond},
		{"proficiency 3 after 10 s", map[string]int{"env": 3}, 10 * time.Second},
		{"proficiency 1 never by skill", map[string]int{"env": 1}, 0},
		{"fallback skill after 20 s", map[string]int{"general": 1}, 20 * time.Second},
		{"overflow queue after 30 s", map[string]int{"any": 1}, 30 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, cfg)
			e.agent("a", tt.skills)
			tk := e.join("c", "expert", 0)
			var got time.Duration
			for w := time.Duration(0); w <= 40*time.Second; w += time.Second {
				if _, ok, _ := tk.Poll(); ok {
					got = w
					break
				}
				e.clk.Advance(time.Second)
				e.check()
			}
			if tt.at == 0 {
				if got != 0 {
					t.Fatalf("assigned after %v, want never", got)
				}
				return
			}
			if got != tt.at.Truncate(time.Second) {
				t.Fatalf("assigned after %v, want %v", got, tt.at)
			}
		})
	}
}

func TestOverflowKeepsPlace(t *testing.T) {
	e := newEnv(t, acd.Config{Queues: []acd.QueueConfig{
		{Name: "a", Skill: "a", Relax: []acd.RelaxStep{{After: 30 * time.Second, Overflow: "b"}}},
		{Name: "b", Skill: "b"},
	}})
	early := e.join("early", "a", 0)
	e.clk.Advance(10 * time.Second)
	late := e.join("late", "b", 0)
	e.clk.Advance(25 * time.Second) // early moved to b at 30 s, behind nobody: it arrived first
	if st, _ := early.Status(); st.Queue != "b" || st.Position != 1 {
		t.Fatalf("early: %+v", st)
	}
	e.agent("x", map[string]int{"b": 1})
	if a := e.assigned(early); a.Queue != "b" {
		t.Fatalf("assigned in %s", a.Queue)
	}
	e.notAssigned(late)
	if ev := e.eventsOf(acd.EventOverflow); len(ev) != 1 || ev[0].Prev != "a" || ev[0].Queue != "b" {
		t.Fatalf("overflow events %+v", ev)
	}
}

func TestOverflowCycleStops(t *testing.T) {
	e := newEnv(t, acd.Config{Queues: []acd.QueueConfig{
		{Name: "a", Skill: "a", Relax: []acd.RelaxStep{{After: 0, Overflow: "b"}}},
		{Name: "b", Skill: "b", Relax: []acd.RelaxStep{{After: 0, Overflow: "a"}}},
	}})
	tk := e.join("c", "a", 0)
	e.check()
	st, err := tk.Status()
	must(t, err)
	if st.State != acd.RequestWaiting {
		t.Fatalf("status %+v", st)
	}
	if n := len(e.eventsOf(acd.EventOverflow)); n != 8 {
		t.Fatalf("%d overflows, want the hop limit 8", n)
	}
}

func TestLimits(t *testing.T) {
	t.Run("max wait goes to target", func(t *testing.T) {
		e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
			q.MaxWait = time.Minute
			q.OnMaxWait = acd.Destination{Target: "voicemail"}
		}))
		tk := e.join("c", "general", 0)
		e.clk.Advance(59 * time.Second)
		e.notAssigned(tk)
		e.clk.Advance(time.Second)
		_, err := tk.Wait()
		if x := exitErr(t, err); x.Reason != acd.ReasonMaxWait || x.Target != "voicemail" {
			t.Fatalf("%+v", x)
		}
		e.check()
	})
	t.Run("max wait moves to a queue", func(t *testing.T) {
		e := newEnv(t, acd.Config{Queues: []acd.QueueConfig{
			{Name: "a", Skill: "a", MaxWait: time.Minute, OnMaxWait: acd.Destination{Queue: "b"}},
			{Name: "b", Skill: "b"},
		}})
		tk := e.join("c", "a", 0)
		e.clk.Advance(time.Minute)
		e.agent("x", map[string]int{"b": 2})
		if a := e.assigned(tk); a.Queue != "b" {
			t.Fatalf("queue %s", a.Queue)
		}
	})
	t.Run("max length refuses with target", func(t *testing.T) {
		e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
			q.MaxLength = 2
			q.OnFull = acd.Destination{Target: "busy"}
		}))
		e.join("c1", "general", 0)
		e.join("c2", "general", 0)
		_, err := e.d.Join(t.Context(), acd.Request{CallID: "c3", Queue: "general"})
		if x := exitErr(t, err); x.Reason != acd.ReasonFull || x.Target != "busy" {
			t.Fatalf("%+v", x)
		}
		if n := len(e.eventsOf(acd.EventRefused)); n != 1 {
			t.Fatalf("%d refused events", n)
		}
	})
	t.Run("max length redirects to a queue", func(t *testing.T) {
		e := newEnv(t, acd.Config{Queues: []acd.QueueConfig{
			{Name: "a", Skill: "a", MaxLength: 1, OnFull: acd.Destination{Queue: "b"}},
			{Name: "b", Skill: "b"},
		}})
		e.join("c1", "a", 0)
		tk := e.join("c2", "a", 0)
		if st, _ := tk.Status(); st.Queue != "b" {
			t.Fatalf("queued in %s", st.Queue)
		}
	})
	t.Run("callbacks do not count toward max length", func(t *testing.T) {
		e := newEnv(t, oneQueue(func(q *acd.QueueConfig) { q.MaxLength = 1 }))
		tk := e.join("c1", "general", 0)
		must(t, tk.Callback("13800138000"))
		e.join("c2", "general", 0)
	})
}

func TestEmptyRules(t *testing.T) {
	tests := []struct {
		name        string
		rule        acd.EmptyRule
		setup       func(e *env) // agents before the caller joins
		joinRefused bool
		after       func(e *env) // agents after the caller joined
		left        bool
	}{
		{"never: join with nobody", acd.EmptyNever, func(*env) {}, false, nil, false},
		{"none logged in: refuse", acd.EmptyNoneLoggedIn, func(*env) {}, true, nil, false},
		{"none logged in: agent on break is enough", acd.EmptyNoneLoggedIn,
			func(e *env) { must(e.t, e.d.Login("x", map[string]int{"general": 1})) }, false, nil, false},
		{"none serving: agent on break is not enough", acd.EmptyNoneServing,
			func(e *env) { must(e.t, e.d.Login("x", map[string]int{"general": 1})) }, true, nil, false},
		{"leave when the last agent logs out", acd.EmptyNoneLoggedIn,
			func(e *env) { must(e.t, e.d.Login("x", map[string]int{"general": 1})) }, false,
			func(e *env) { must(e.t, e.d.Logout("x")) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
				q.JoinEmpty, q.LeaveEmpty = tt.rule, tt.rule
				q.OnEmpty = acd.Destination{Target: "closed"}
			}))
			tt.setup(e)
			tk, err := e.d.Join(t.Context(), acd.Request{CallID: "c", Queue: "general"})
			if tt.joinRefused {
				if x := exitErr(t, err); x.Reason != acd.ReasonEmpty || x.Target != "closed" {
					t.Fatalf("%+v", x)
				}
				return
			}
			must(t, err)
			if tt.after != nil {
				tt.after(e)
			}
			e.check()
			_, _, err = tk.Poll()
			if tt.left {
				if x := exitErr(t, err); x.Reason != acd.ReasonEmpty {
					t.Fatalf("%+v", x)
				}
			} else if err != nil {
				t.Fatalf("left: %v", err)
			}
		})
	}
}

func TestLeaveWhenLastAgentGoesOnBreak(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
		q.LeaveEmpty = acd.EmptyNoneServing
		q.OnEmpty = acd.Destination{Target: "closed"}
	}))
	e.agent("x", map[string]int{"general": 1})
	busy := e.join("busy", "general", 0)
	e.assigned(busy)
	c := e.join("c", "general", 0)
	must(t, e.d.Break("x", "lunch")) // pending: x is ringing
	e.wantState("x", acd.Reserved, "")
	if st := e.state("x"); st.PendingBreak != "lunch" {
		t.Fatalf("pending break %q", st.PendingBreak)
	}
	if p := e.eventsOf(acd.EventAgentPending); len(p) != 1 || p[0].Reason != "lunch" || p[0].State != acd.Reserved {
		t.Fatalf("pending events %+v", p)
	}
	e.notAssigned(c)
	must(t, busy.Abandon()) // x stops ringing and goes on its break; nobody serves
	e.wantState("x", acd.Break, "lunch")
	_, _, err := c.Poll()
	if x := exitErr(t, err); x.Reason != acd.ReasonEmpty || x.Target != "closed" {
		t.Fatalf("%+v", x)
	}
	e.check()
}

func TestLeaveEmptyGrace(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) {
		q.LeaveEmpty = acd.EmptyNoneLoggedIn
		q.LeaveEmptyGrace = time.Minute
		q.OnEmpty = acd.Destination{Target: "closed"}
	}))
	must(t, e.d.Login("night", map[string]int{"general": 1}))
	stay := e.join("stay", "general", 0)
	must(t, e.d.Logout("night")) // shift change: the day agent logs in within the grace
	e.clk.Advance(30 * time.Second)
	must(t, e.d.Login("day", map[string]int{"general": 1}))
	e.clk.Advance(time.Minute)
	if _, _, err := stay.Poll(); err != nil {
		t.Fatalf("sent away during a shift change: %v", err)
	}
	must(t, e.d.Logout("day")) // nobody comes
	e.clk.Advance(59 * time.Second)
	if _, _, err := stay.Poll(); err != nil {
		t.Fatalf("sent away before the grace: %v", err)
	}
	e.clk.Advance(time.Second)
	_, _, err := stay.Poll()
	if x := exitErr(t, err); x.Reason != acd.ReasonEmpty || x.Target != "closed" {
		t.Fatalf("%+v", x)
	}
}

func TestAgentAssignment(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	e.agent("x", map[string]int{"general": 1})
	if _, ok := e.d.AgentAssignment("x"); ok {
		t.Fatal("idle agent with an assignment")
	}
	tk := e.join("c", "general", 7)
	a, ok := e.d.AgentAssignment("x")
	if !ok || a.CallID != "c" || a.Priority != 7 {
		t.Fatalf("%+v", a)
	}
	must(t, a.Answered()) // the desk may report on it
	if _, err := tk.Wait(); err == nil {
		t.Fatal("caller's ticket still waiting after answer")
	}
	must(t, a.Complete())
	e.wantState("x", acd.Ready, "")
}
