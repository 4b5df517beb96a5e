package acd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/hotline-12345/hotline/acd"
)

func TestEstimatedWait(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) { q.DefaultHandleTime = 100 * time.Second }))
	t1 := e.join("c1", "general", 0)
	if st, _ := t1.Status(); st.EWTKnown {
		t.Fatalf("no agents, yet an estimate: %+v", st)
	}
	// Two agents, both busy: callers at positions 1..3 wait 1, 2, 3 × AHT/2.
	e.agent("x", map[string]int{"general": 1})
	e.agent("y", map[string]int{"general": 1})
	e.join("c2", "general", 0)
	var tickets []*acd.Ticket
	for _, id := range []string{"c3", "c4", "c5"} {
		tickets = append(tickets, e.join(id, "general", 0))
	}
	for i, tk := range tickets {
		st, err := tk.Status()
		must(t, err)
		want := time.Duration(i+1) * 50 * time.Second
		if !st.EWTKnown || st.Position != i+1 || st.EWT != want {
			t.Fatalf("%s: %+v, want position %d EWT %v", tk.CallID(), st, i+1, want)
		}
	}
	// Handle times move the estimate: one call of 20 s (no wrap-up configured).
	a := e.assigned(t1)
	must(t, a.Answered())
	e.clk.Advance(20 * time.Second)
	must(t, a.Complete())
	if q := e.d.Snapshot().Queues[0]; q.AHT != 20*time.Second {
		t.Fatalf("AHT %v", q.AHT)
	}
}

func TestEventsPerCallAndMetrics(t *testing.T) {
	e := newEnv(t, oneQueue(func(q *acd.QueueConfig) { q.WrapUp = 10 * time.Second }))
	fast := e.join("fast", "general", 0)
	slow := e.join("slow", "general", 0)
	gone := e.join("gone", "general", 0)
	e.clk.Advance(10 * time.Second)
	e.agent("x", map[string]int{"general": 1})
	a := e.assigned(fast)
	must(t, a.Answered()) // 10 s: within 15 s and 20 s
	e.clk.Advance(7 * time.Second)
	must(t, gone.Abandon())

	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(`
# HELP hotline_acd_queue_callers_waiting Live callers waiting in the queue (not yet ringing an agent).
# TYPE hotline_acd_queue_callers_waiting gauge
hotline_acd_queue_callers_waiting{queue="general"} 1
# HELP hotline_acd_queue_longest_wait_seconds Longest current wait among the queue's live callers.
# TYPE hotline_acd_queue_longest_wait_seconds gauge
hotline_acd_queue_longest_wait_seconds{queue="general"} 17
`), "hotline_acd_queue_callers_waiting", "hotline_acd_queue_longest_wait_seconds"); err != nil {
		t.Fatal(err)
	}
	must(t, a.Complete())
	e.clk.Advance(10 * time.Second) // wrap-up ends at 27 s: slow waited 27 s
	b := e.assigned(slow)
	must(t, b.Answered())
	must(t, b.Complete())

	var kinds []string
	for _, ev := range fast.Events() {
		kinds = append(kinds, ev.Kind.String())
	}
	if got := strings.Join(kinds, " "); got != "ENTERQUEUE OFFER CONNECT COMPLETE" {
		t.Fatalf("fast's log: %s", got)
	}

	want := `
# HELP hotline_acd_calls_answered_within_total Live calls answered within the threshold of arrival; service level = this / (answered + abandoned).
# TYPE hotline_acd_calls_answered_within_total counter
hotline_acd_calls_answered_within_total{queue="general",threshold="15s"} 1
hotline_acd_calls_answered_within_total{queue="general",threshold="20s"} 1
# HELP hotline_acd_calls_answered_total Live calls answered by an agent, by the queue that answered them.
# TYPE hotline_acd_calls_answered_total counter
hotline_acd_calls_answered_total{queue="general"} 2
# HELP hotline_acd_calls_abandoned_total Callers who hung up while queued or ringing; abandon rate = abandoned / entered.
# TYPE hotline_acd_calls_abandoned_total counter
hotline_acd_calls_abandoned_total{queue="general"} 1
# HELP hotline_acd_calls_entered_total Callers who joined a queue.
# TYPE hotline_acd_calls_entered_total counter
hotline_acd_calls_entered_total{queue="general"} 3
# HELP hotline_acd_agents Agents by state.
# TYPE hotline_acd_agents gauge
hotline_acd_agents{state="break"} 0
hotline_acd_agents{state="on-call"} 0
hotline_acd_agents{state="ready"} 0
hotline_acd_agents{state="reserved"} 0
hotline_acd_agents{state="wrap-up"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want),
		"hotline_acd_calls_answered_within_total", "hotline_acd_calls_answered_total",
		"hotline_acd_calls_abandoned_total", "hotline_acd_calls_entered_total", "hotline_acd_agents"); err != nil {
		t.Fatal(err)
	}
	if n := testutil.CollectAndCount(e.reg, "hotline_acd_routing_seconds"); n != 1 {
		t.Fatalf("routing histogram: %d", n)
	}
}

func TestSubscriberNeverBlocksRouting(t *testing.T) {
	e := newEnv(t, oneQueue(nil))
	ch, cancel := e.d.Subscribe(2)
	for i := 0; i < 10; i++ {
		e.join(string(rune('a'+i)), "general", 0) // would block if delivery waited for a reader
	}
	if n := len(ch); n != 2 {
		t.Fatalf("%d buffered", n)
	}
	cancel()
	cancel()
	for range ch {
	}
	if snap := e.d.Snapshot(); snap.Queues[0].Waiting != 10 || snap.Seq != 10 {
		t.Fatalf("%+v", snap.Queues[0])
	}
}

func TestSinkMayCallBack(t *testing.T) {
	// A sink that answers every offer from inside the event delivery must
	// neither deadlock nor reorder events.
	var d *acd.Dispatcher
	var seqs []uint64
	var err error
	d, err = acd.New(oneQueue(nil), acd.Options{Clock: newEnv(t, oneQueue(nil)).clk, Sink: func(ev acd.Event) {
		seqs = append(seqs, ev.Seq)
		if ev.Kind == acd.EventOffer {
			st, _ := d.Status(ev.CallID)
			if st.State != acd.RequestOffered {
				t.Errorf("status in sink %+v", st)
			}
		}
	}})
	must(t, err)
	defer d.Close()
	tk, err := d.Join(t.Context(), acd.Request{CallID: "c", Queue: "general"})
	must(t, err)
	must(t, d.Login("x", map[string]int{"general": 1}))
	must(t, d.Ready("x"))
	a, ok, _ := tk.Poll()
	if !ok {
		t.Fatal("not assigned")
	}
	must(t, a.Answered())
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("events out of order: %v", seqs)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []acd.Config{
		{Queues: []acd.QueueConfig{{Name: "", Skill: "s"}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s"}, {Name: "a", Skill: "s"}}},
		{Queues: []acd.QueueConfig{{Name: "a"}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s", MinProficiency: 6}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s", OnFull: acd.Destination{Queue: "nowhere"}}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s", Relax: []acd.RelaxStep{{After: time.Second}}}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s", Relax: []acd.RelaxStep{{After: 2 * time.Second, MinProficiency: 2}, {After: time.Second, MinProficiency: 1}}}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s", Relax: []acd.RelaxStep{{After: time.Second, Overflow: "a"}}}}},
		{Queues: []acd.QueueConfig{{Name: "a", Skill: "s", MaxWait: -1}}},
	}
	for i, c := range bad {
		if _, err := acd.New(c, acd.Options{}); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
	if _, err := acd.New(oneQueue(nil), acd.Options{}); err != nil {
		t.Fatal(err)
	}
}
