package main

// The agents' browser softphone: agentdesk.Softphones serves the WebSocket (GET
// /softphone, the signed-in agent's; an administrator may name an agent with ?agent=,
// for tests and support), call rings agents on it (call.WebRTCPhones), and the ACD's
// agent states are pushed to each agent's page (the wrap-up timer, a break's reason).

import (
	"net/http"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/call"
	"github.com/hotline-12345/hotline/cases"
)

func init() {
	callWirings = append(callWirings, wireSoftphoneCalls)
	deskWirings = append(deskWirings, wireSoftphoneDesk)
}

// softphoneWiring carries one app's softphones from its call wiring to its desk wiring.
type softphoneWiring struct {
	sp     *agentdesk.Softphones
	phones *call.WebRTCPhones
}

// softphonesOf holds each starting app's softphones between the two wirings (the app
// struct is serve.go's); the desk wiring takes them out.
var softphonesOf sync.Map // *app → *softphoneWiring

func wireSoftphoneCalls(a *app, cfg *call.Config) error {
	sp := &agentdesk.Softphones{Engine: a.engine, Logger: a.log, Registerer: a.reg}
	w := &softphoneWiring{sp: sp, phones: call.NewWebRTCPhones(sp)}
	cfg.Softphones = w.phones
	softphonesOf.Store(a, w)
	a.closers = append(a.closers, func() { _ = sp.Close() })
	return nil
}

func wireSoftphoneDesk(a *app, desk *agentdesk.Server) error {
	v, ok := softphonesOf.LoadAndDelete(a)
	if !ok {
		return nil
	}
	w := v.(*softphoneWiring)
	w.phones.Attach(a.calls)
	known := map[string]bool{}
	for _, ag := range a.cfg.Agents {
		known[ag.ID] = true
	}
	desk.Mount("/softphone", w.sp.Handler(func(r *http.Request) (string, bool) {
		u := agentdesk.UserFrom(r.Context())
		switch u.Role {
		case cases.RoleAdmin:
			id := r.URL.Query().Get("agent")
			return id, known[id]
		case cases.RoleAgent:
			return u.ID, known[u.ID]
		}
		return "", false
	}))
	desk.Public("GET /softphone.js", agentdesk.SoftphoneScript())

	// Agent states to the pages: a wrap-up carries its queue's length for the timer.
	wrapUp := map[string]time.Duration{}
	for _, q := range a.cfg.ACD.Queues {
		wrapUp[q.Name] = q.WrapUp
	}
	events, cancel := a.acd.Subscribe(1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		lastQueue := map[string]string{}
		for ev := range events {
			switch ev.Kind {
			case acd.EventComplete:
				lastQueue[ev.AgentID] = ev.Queue
			case acd.EventAgentState:
				st := agentdesk.AgentState{State: ev.State.String(), Reason: ev.Reason}
				if ev.State == acd.WrapUp {
					st.WrapUp = wrapUp[lastQueue[ev.AgentID]]
				}
				w.sp.Notify(ev.AgentID, st)
			}
		}
	}()
	a.closers = append(a.closers, func() { cancel(); <-done })
	return nil
}
