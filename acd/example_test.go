package acd_test

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/acd/acdtest"
)

// The call layer's side of a queued call, on a fake clock.
func Example() {
	clk := acdtest.NewClock(time.Time{})
	d, _ := acd.New(acd.Config{Queues: []acd.QueueConfig{{
		Name: "12345", Skill: "general", WrapUp: 30 * time.Second, MaxWait: 10 * time.Minute,
		OnMaxWait: acd.Destination{Target: "voicemail"},
		Relax:     []acd.RelaxStep{{After: 20 * time.Second, FallbackSkill: "housing"}},
	}}}, acd.Options{Clock: clk, Sink: func(ev acd.Event) {
		if ev.Kind == acd.EventAgentSkills {
			fmt.Println(ev.Kind, ev.AgentID, ev.Skills)
			return
		}
		if ev.Kind == acd.EventAgentState {
			fmt.Println(strings.TrimSpace(fmt.Sprint(ev.Kind, " ", ev.AgentID, " ", ev.Prev, " → ", ev.State, " ", ev.Reason)))
			return
		}
		fmt.Println(strings.TrimSpace(fmt.Sprint(ev.Kind, " ", ev.CallID, " ", ev.AgentID, " ", ev.Wait, " ", ev.Reason)))
	}})
	defer d.Close()

	ticket, _ := d.Join(context.Background(), acd.Request{CallID: "call-1", Queue: "12345", Number: "13800138000"})
	st, _ := ticket.Status()
	fmt.Println("position", st.Position)

	clk.Advance(25 * time.Second) // the queue relaxes to agents with the housing skill
	_ = d.Login("li", map[string]int{"housing": 4})
	_ = d.Ready("li")

	a, _ := ticket.Wait()
	fmt.Println("ring", a.AgentID, "for at most", a.Timeout)
	_ = a.Answered()
	clk.Advance(3 * time.Minute)
	_ = a.Complete()
	// Output:
	// ENTERQUEUE call-1  0s
	// position 1
	// RELAX call-1  20s fallback-skill=housing
	// AGENTSKILLS li map[housing:4]
	// AGENTSTATE li logged-out → break login
	// AGENTSTATE li break → ready
	// AGENTSTATE li ready → reserved
	// OFFER call-1 li 25s
	// ring li for at most 20s
	// AGENTSTATE li reserved → on-call
	// CONNECT call-1 li 25s
	// COMPLETE call-1 li 25s
	// AGENTSTATE li on-call → wrap-up
}
