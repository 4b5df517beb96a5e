package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// fakeACD records the agent-state calls the softphone code makes (a unit-test fake: the
// integration tests in cmd/hotline drive the real dispatcher).
type fakeACD struct {
	mu       sync.Mutex
	calls    []string
	loggedIn map[string]bool
	queues   []string
}

func (f *fakeACD) note(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fakeACD) Join(ctx context.Context, r acd.Request) (*acd.Ticket, error) {
	return nil, errors.New("not here")
}

func (f *fakeACD) Login(id string, _ map[string]int) error {
	f.note("login " + id)
	f.mu.Lock()
	f.loggedIn[id] = true
	f.mu.Unlock()
	return nil
}

func (f *fakeACD) in(id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loggedIn[id] {
		return errors.New("not logged in")
	}
	return nil
}

func (f *fakeACD) Ready(id string) error {
	f.note("ready " + id)
	return f.in(id)
}

func (f *fakeACD) Break(id, reason string) error {
	f.note("break " + id + " " + reason)
	return f.in(id)
}

func (f *fakeACD) Logout(id string) error { f.note("logout " + id); return nil }

func (f *fakeACD) EndWrapUp(id string) error { f.note("wrapup-done " + id); return f.in(id) }

func (f *fakeACD) Snapshot() acd.Snapshot {
	var s acd.Snapshot
	for _, q := range f.queues {
		s.Queues = append(s.Queues, acd.QueueStatus{Name: q})
	}
	return s
}

// fakePhones says which agents have a connected softphone.
type fakePhones struct{ connected map[string]bool }

func (f fakePhones) Connected(id string) bool { return f.connected[id] }
func (f fakePhones) Ring(context.Context, string, RingInfo) (AgentLeg, error) {
	return nil, ErrSoftphoneGone
}
func (f fakePhones) Hangup(string) {}

func softphoneService(acdFake *fakeACD, phones Softphone) *Service {
	s := &Service{log: slog.New(slog.DiscardHandler), agents: map[string]*Agent{}}
	s.cfg = Config{ACD: acdFake, Softphones: phones, Destinations: map[string]string{"housing": "sip:200@10.0.0.1"},
		Dialer: dialerFunc(nil),
		Contacts: func(id string) (string, bool) {
			if id == "registered" {
				return "sip:registered@10.0.0.9", true
			}
			return "", false
		}}
	for _, a := range []Agent{
		{ID: "web", Contact: SoftphoneContact}, {ID: "none"}, {ID: "desk", Contact: "sip:desk@10.0.0.2"},
		{ID: "registered"},
	} {
		a.Skills = map[string]int{"general": 3}
		s.agents[a.ID] = &a
	}
	return s
}

type dialerFunc func()

func (dialerFunc) Dial(context.Context, sip.DialOptions) (*sip.OutboundCall, error) {
	return nil, errors.New("no")
}

// Who is rung in the browser: "webrtc" always (even offline: that is reported as agent
// gone), no contact only while the softphone is connected, a desk phone never.
func TestViaSoftphone(t *testing.T) {
	f := &fakeACD{loggedIn: map[string]bool{}}
	s := softphoneService(f, fakePhones{connected: map[string]bool{"none": true, "desk": true}})
	for id, want := range map[string]bool{"web": true, "none": true, "desk": false} {
		ag := s.agents[id]
		if got := s.viaSoftphone(ag, s.contactOf(ag)); got != want {
			t.Errorf("%s: via softphone %v, want %v", id, got, want)
		}
	}
	s.cfg.Softphones = fakePhones{}
	if s.viaSoftphone(s.agents["none"], "") {
		t.Error("an agent with no contact and no softphone connected is rung in the browser")
	}
	s.cfg.Softphones = nil
	if s.viaSoftphone(s.agents["web"], SoftphoneContact) {
		t.Error("rung in the browser without softphones")
	}
}

// A vanished softphone with no call puts a browser-only agent on break with the reason;
// a replaced tab, a desk-phone agent and a registered phone do not.
func TestSoftphoneGoneBreaks(t *testing.T) {
	f := &fakeACD{loggedIn: map[string]bool{"web": true, "none": true, "desk": true, "registered": true}}
	s := softphoneService(f, fakePhones{})
	s.SoftphoneGone("web", agentdesk.ReasonDropped)
	s.SoftphoneGone("none", agentdesk.ReasonBye)
	s.SoftphoneGone("web", agentdesk.ReasonReplaced)
	s.SoftphoneGone("desk", agentdesk.ReasonDropped)
	s.SoftphoneGone("registered", agentdesk.ReasonDropped)
	s.SoftphoneGone("stranger", agentdesk.ReasonDropped)
	want := []string{"break web " + ReasonSoftphoneLost, "break none " + ReasonSoftphoneClosed}
	if !slices.Equal(f.calls, want) {
		t.Errorf("ACD calls %q, want %q", f.calls, want)
	}
	// After the ACD logged the agent out for a vanished call: back in, on break.
	f.calls = nil
	s.agentLost("web", ReasonSoftphoneLost)
	if want := []string{"login web", "break web " + ReasonSoftphoneLost}; !slices.Equal(f.calls, want) {
		t.Errorf("ACD calls %q, want %q", f.calls, want)
	}
}

// The page's state requests: ready logs in first when needed, break needs a reason,
// wrap-up ends early, anything else and unknown agents are refused.
func TestAgentAction(t *testing.T) {
	f := &fakeACD{loggedIn: map[string]bool{}}
	s := softphoneService(f, fakePhones{})
	if err := s.AgentAction("web", "ready", ""); err != nil {
		t.Fatal(err)
	}
	if err := s.AgentAction("web", "break", "lunch"); err != nil {
		t.Fatal(err)
	}
	if err := s.AgentAction("web", "wrapup-done", ""); err != nil {
		t.Fatal(err)
	}
	want := []string{"ready web", "login web", "ready web", "break web lunch", "wrapup-done web"}
	if !slices.Equal(f.calls, want) {
		t.Errorf("ACD calls %q, want %q", f.calls, want)
	}
	for _, tc := range []struct{ agent, action, reason, msg string }{
		{"web", "break", "", "reason"},
		{"web", "break", strings.Repeat("x", 65), "reason"},
		{"web", "dance", "", "dance"},
		{"stranger", "ready", "", "stranger"},
	} {
		if err := s.AgentAction(tc.agent, tc.action, tc.reason); err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%+v: %v", tc, err)
		}
	}
}

// Transfers and three-way calls name a configured destination or an ACD queue.
func TestCheckControl(t *testing.T) {
	f := &fakeACD{loggedIn: map[string]bool{}, queues: []string{"general", "environment"}}
	s := softphoneService(f, fakePhones{})
	for _, tc := range []struct {
		c  Control
		ok bool
	}{
		{Control{Action: "transfer", Queue: "environment"}, true},
		{Control{Action: "transfer", Destination: "housing"}, true},
		{Control{Action: "conference", Destination: "housing"}, true},
		{Control{Action: "transfer", Queue: "nowhere"}, false},
		{Control{Action: "conference", Destination: "nowhere"}, false},
	} {
		if err := s.checkControl(tc.c); (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

// The screen pop's IVR path: nodes entered and keys pressed, in order.
func TestPathSteps(t *testing.T) {
	p := ivr.Path{Events: []ivr.Event{
		{Kind: ivr.EventNode, Node: "greeting"}, {Kind: ivr.EventPrompt, Node: "greeting"},
		{Kind: ivr.EventNode, Node: "menu"}, {Kind: ivr.EventDigit, Node: "menu", Digit: "2"},
		{Kind: ivr.EventNode, Node: "agent"},
	}}
	if got := fmt.Sprint(pathSteps(p)); got != "[greeting menu key 2 agent]" {
		t.Errorf("path %s", got)
	}
}

// WebRTCPhones says what agentdesk's ring errors mean to the call flow.
func TestWebRTCRingErrors(t *testing.T) {
	e, err := media.NewEngine(media.EngineConfig{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	sp := &agentdesk.Softphones{Engine: e}
	defer sp.Close()
	w := NewWebRTCPhones(sp)
	_, err = w.Ring(context.Background(), "nobody", RingInfo{CallID: "c"})
	if !errors.Is(err, ErrSoftphoneGone) {
		t.Errorf("ringing an agent with no softphone: %v", err)
	}
}
