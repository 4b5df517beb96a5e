package main

// The agents' browser softphone: agentdesk.Softphones serves the WebSocket (GET
// /softphone, the signed-in agent's or supervisor's; an administrator may name an agent
// with ?agent=, for tests and support), call rings agents on it (call.WebRTCPhones) and
// joins supervisors through it (call.SupervisorSoftphone), and the ACD's agent states
// are pushed to each agent's page (the wrap-up timer, a break's reason).

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
	// A supervisor's console joins listen/whisper/barge through its own softphone.
	a.calls.SetSupervisorLegs(call.SupervisorSoftphone(w.phones))
	desk.Mount("/softphone", w.sp.Handler(softphoneUser))
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

// softphoneUser is whose softphone a socket is: the signed-in agent's or supervisor's
// own; the administrator (the admin token: tests, support) names one with ?agent=.
func softphoneUser(r *http.Request) (string, bool) {
	u := agentdesk.UserFrom(r.Context())
	switch u.Role {
	case cases.RoleAdmin:
		id := r.URL.Query().Get("agent")
		return id, id != ""
	case cases.RoleAgent, cases.RoleSupervisor:
		return u.ID, u.ID != ""
	}
	return "", false
}
