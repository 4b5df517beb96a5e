package call

// Agents in the browser: a queued caller is rung on the agent's softphone (one WebRTC
// connection per shift, agentdesk.Softphones) when the agent has no desk phone, or their
// contact says "webrtc". The call layer sees the softphone through Softphone and
// AgentLeg only; WebRTCPhones adapts agentdesk's implementation to them and carries the
// page's requests (hold, mute, transfer, three-way, ready, break) back to the call.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
)

// SoftphoneContact as an agent's contact means: ring the agent's browser softphone only.
// An agent with no contact at all is rung on the softphone when it is connected, else on
// the phone the registrar knows.
const SoftphoneContact = "webrtc"

// Break reasons the call layer gives an agent whose softphone went away, so that their
// state on the wallboard says why they take no calls.
const (
	ReasonSoftphoneLost   = "softphone-lost"   // the page closed, the network dropped, the media broke
	ReasonSoftphoneClosed = "softphone-closed" // the agent ended the shift on the page
)

// Softphone rings agents in the browser.
type Softphone interface {
	// Connected reports whether the agent's softphone can take a call now.
	Connected(agentID string) bool
	// Ring offers the call to the agent's page and waits for the answer: the agent's
	// leg on accept; ErrRingRejected, ErrRingNoAnswer, ErrSoftphoneGone or ctx's error.
	Ring(ctx context.Context, agentID string, info RingInfo) (AgentLeg, error)
	// Hangup ends the agent's current call from the server side; the page is told.
	Hangup(agentID string)
}

// AgentLeg is an answered softphone call: the agent's audio for this call only.
type AgentLeg interface {
	media.Leg
	// SendDTMF plays keys to the agent (RFC 4733).
	SendDTMF(keys string, dur time.Duration) error
	// Gone, once Done is closed, says the softphone vanished (page closed, network or
	// media lost, another tab) rather than the agent or the server hanging up.
	Gone() bool
	// Controls carries the agent's in-call requests from the page.
	Controls() <-chan Control
}

// Control is an agent's in-call request.
type Control struct {
	Action      string // hold, unhold, mute, unmute, transfer, conference
	Queue       string // transfer to this queue
	Destination string // transfer to, or conference with, this configured destination
}

// Ring outcomes.
var (
	ErrRingRejected  = errors.New("call: the agent rejected the call")
	ErrRingNoAnswer  = errors.New("call: the agent did not answer")
	ErrSoftphoneGone = errors.New("call: the agent's softphone is gone")
)

// RingInfo is the screen pop.
type RingInfo struct {
	CallID  string
	Case    string // the work order's number, "" if not yet known
	Caller  string // masked when confidential
	Line    string // the dialled line's name
	Dialled string
	IVRPath []string // the intake's nodes and keys, in order
	Wait    time.Duration
	Timeout time.Duration // how long the page may ring
}

// viaSoftphone says whether the agent is rung in the browser.
func (s *Service) viaSoftphone(agent *Agent, contact string) bool {
	if s.cfg.Softphones == nil || agent == nil {
		return false
	}
	if contact == SoftphoneContact {
		return true
	}
	return (agent.Contact == "" || agent.Contact == SoftphoneContact) && s.cfg.Softphones.Connected(agent.ID)
}

// ringSoftphone rings the agent's page for an offer and reports the outcome to the ACD.
func (r *run) ringSoftphone(a acd.Assignment, out ivr.Outcome) (AgentLeg, error) {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	go func() { // the ACD withdraws the offer: stop ringing
		select {
		case <-a.Withdrawn():
			cancel()
		case <-ctx.Done():
		}
	}()
	info := RingInfo{CallID: r.c.ID, Case: r.caseNumber(ctx), Caller: r.popCaller(), Line: r.n.Name, Dialled: r.n.Number,
		IVRPath: pathSteps(out.Path), Wait: a.Wait, Timeout: a.Timeout}
	leg, err := r.s.cfg.Softphones.Ring(ctx, a.AgentID, info)
	if err != nil {
		switch {
		case errors.Is(err, ErrRingRejected):
			_ = a.Rejected()
		case errors.Is(err, ErrSoftphoneGone):
			if a.AgentGone() == nil {
				r.s.agentLost(a.AgentID, ReasonSoftphoneLost)
			}
		default: // no answer in time, or the offer was withdrawn (the ACD counted it)
			_ = a.NoAnswer()
		}
		return nil, err
	}
	if err := a.Answered(); err != nil { // the caller hung up or the offer ended meanwhile
		_ = leg.Close()
		return nil, err
	}
	return leg, nil
}

// caseNumber is the call's work-order number for the screen pop. The case is opened at
// the first ring, in the background: a caller who reached an agent within moments of
// dialling may be rung a little before it is there, so wait for it a short while.
func (r *run) caseNumber(ctx context.Context) string {
	if r.cw == nil {
		return ""
	}
	for i := 0; i < 25; i++ {
		if n := r.cw.Number(); n != "" {
			return n
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ""
		}
	}
	return r.cw.Number()
}

// popCaller is the caller's number as the agent may see it: masked when the call's case
// or an open case of the caller is confidential.
func (r *run) popCaller() string {
	num := r.c.Caller
	st := r.s.cfg.Cases
	if st == nil || num == "" || caseCallInfo(r.c, r.n).Caller == "" {
		return num // not a phone number (anonymous, a SIP name): no case can be found by it
	}
	ctx, cancel := context.WithTimeout(r.ctx, 500*time.Millisecond)
	defer cancel()
	if ref := r.cw.Number(); ref != "" {
		if c, err := st.Get(ctx, ref); err == nil && c.Confidential {
			return cases.MaskNumber(num)
		}
	}
	open, err := st.OpenCasesByCaller(ctx, num)
	if err != nil {
		return cases.MaskNumber(num) // unknown: the safe side
	}
	for _, c := range open {
		if c.Confidential {
			return cases.MaskNumber(num)
		}
	}
	return num
}

// pathSteps is the IVR path as the page shows it: the nodes entered and the keys pressed.
func pathSteps(p ivr.Path) []string {
	var steps []string
	for _, e := range p.Events {
		switch e.Kind {
		case ivr.EventNode:
			steps = append(steps, e.Node)
		case ivr.EventDigit:
			steps = append(steps, "key "+e.Digit)
		}
	}
	return steps
}

// rtpBridger is an agent leg that can relay with an RTP leg (agentdesk.CallLeg).
type rtpBridger interface {
	BridgeRTP(other *media.RTPLeg) bool
	Codec() media.Codec
}

// afterTalk is what becomes of the caller after a softphone call.
type afterTalk struct {
	done    bool   // the call is over (caller hung up, survey done)
	requeue bool   // back into a queue
	queue   string // that queue ("" the same one)
	dest    string // a transfer destination
	why     string
}

// talkSoftphone bridges the caller and the agent's browser until one hangs up or the
// agent moves the call. The agent's page may hold (the caller hears music), mute (the
// caller hears silence), send keys (played to the caller), transfer, or add a department
// (三方通话). The recording stays one file throughout.
func (r *run) talkSoftphone(a acd.Assignment, leg AgentLeg) afterTalk {
	ctx, c, rec := r.ctx, r.c, r.rec
	// relayed: the two legs' packets go straight across (rtpBridger), the agent's RFC 4733
	// keys with them; otherwise the keys are played to the caller here.
	relayed := false
	bridge := func() {
		if rb, ok := leg.(rtpBridger); ok && rb.BridgeRTP(c.Leg) {
			relayed = c.Leg.Codec() == rb.Codec()
			return
		}
		media.Bridge(c.Leg, leg)
		relayed = false
	}
	bridge()
	untap := r.record(leg)
	unmonitor := r.s.mon.bridged(r.c.ID, a.AgentID, c.Leg, leg, r.recorder) // supervisors: monitor.go
	hold, _ := r.s.audio.HoldMusic()
	held, muted := false, false
	var third *thirdParty
	// Each listener reads its own Inbound: a reader is a cursor, and two pacers sharing one
	// would take turns at its frames.
	connect := func() {
		if third == nil && !held && !muted {
			bridge()
			return
		}
		relayed = false
		agentVoice := func() media.Source {
			if muted {
				return nil
			}
			return leg.Inbound()
		}
		thirdVoice := func() media.Source {
			if third == nil {
				return nil
			}
			return third.leg.Inbound()
		}
		if held { // the caller hears music; a department on the line stays with the agent
			c.Leg.SetOutbound(hold)
			leg.SetOutbound(mixOf(thirdVoice()))
			if third != nil {
				third.leg.SetOutbound(mixOf(agentVoice()))
			}
			return
		}
		c.Leg.SetOutbound(mixOf(agentVoice(), thirdVoice()))
		leg.SetOutbound(mixOf(c.Leg.Inbound(), thirdVoice()))
		if third != nil {
			third.leg.SetOutbound(mixOf(c.Leg.Inbound(), agentVoice()))
		}
	}
	// reconnect routes through the monitor, so a supervisor's whisper or barge and the
	// agent's hold, mute or three-way call never fight over who hears what.
	reconnect := func() { r.s.mon.reroute(c.ID, third == nil && !held && !muted, connect) }
	var res afterTalk
	agentLeft, gone := false, false
	var thirdDone <-chan struct{}
	var thirdCh chan *thirdParty
	dialCtx, stopDial := context.WithCancel(ctx)
loop:
	for {
		select {
		case <-ctx.Done():
			_ = leg.Close() // the caller hung up: the page is told
			res.done = true
			break loop
		case <-leg.Done():
			if leg.Gone() {
				gone = true
				res = afterTalk{requeue: true, why: "agent gone"}
			} else {
				agentLeft = true
			}
			break loop
		case p := <-thirdCh:
			thirdCh = nil
			if p != nil {
				third, thirdDone = p, p.leg.Done()
				rec.event("conference", p.name)
				reconnect()
			}
		case <-thirdDone:
			rec.event("conference_ended", third.name)
			third.stop()
			third, thirdDone = nil, nil
			reconnect()
		case d := <-leg.Digits():
			if !relayed || d.Source != media.DigitRFC4733 { // relayed RFC 4733 keys are already on their way
				if err := c.Leg.SendDTMF(string(d.Key), 100*time.Millisecond); err != nil {
					r.log.Info("call: agent's key not sent to the caller", "error", err)
				}
			}
			rec.event("agent_key", string(d.Key))
		case ctl := <-leg.Controls():
			switch ctl.Action {
			case "hold", "unhold":
				held = ctl.Action == "hold"
				reconnect()
			case "mute", "unmute":
				muted = ctl.Action == "mute"
				reconnect()
			case "transfer":
				rec.event("agent_transfer", ctl.Queue+ctl.Destination)
				res = afterTalk{requeue: ctl.Queue != "", queue: ctl.Queue, dest: ctl.Destination, why: "transfer"}
				_ = leg.Close()
				break loop
			case "conference": // dialled aside: the call goes on while the department rings
				if third != nil || thirdCh != nil {
					continue
				}
				ch := make(chan *thirdParty, 1)
				thirdCh = ch
				rec.event("conference_dial", ctl.Destination)
				go func() {
					p, err := r.dialThird(dialCtx, ctl.Destination)
					if err != nil {
						rec.event("conference_failed", ctl.Destination+": "+err.Error())
					}
					ch <- p
				}()
				continue
			}
			rec.event(ctl.Action, "agent "+a.AgentID)
		}
	}
	stopDial()
	unmonitor()
	if third != nil {
		third.stop()
	}
	if ch := thirdCh; ch != nil { // a department still ringing: hang it up if it answers
		go func() {
			if p := <-ch; p != nil {
				p.stop()
			}
		}()
	}
	untap()
	if gone {
		rec.event("agent_gone", "agent "+a.AgentID)
		if a.AgentGone() == nil {
			r.s.agentLost(a.AgentID, ReasonSoftphoneLost)
		}
	} else {
		_ = a.Complete()
	}
	rec.event("complete", "agent "+a.AgentID)
	if agentLeft && ctx.Err() == nil {
		r.survey()
		res.done = true
	}
	if !res.requeue && res.dest == "" {
		res.done = true
	}
	return res
}

// mixOf mixes the sources that are there; silence when none is.
func mixOf(srcs ...media.Source) media.Source {
	var have []media.Source
	for _, x := range srcs {
		if x != nil {
			have = append(have, x)
		}
	}
	switch len(have) {
	case 0:
		return media.Silence{}
	case 1:
		return have[0]
	}
	return media.Mix(have...)
}

// thirdParty is a department added to a softphone call (三方通话).
type thirdParty struct {
	name   string
	leg    media.Leg
	hangup func()
	untap  func()
}

func (p *thirdParty) stop() {
	p.untap()
	p.hangup()
}

// dialThird calls a configured destination for a three-way call; its voice goes into the
// agent's channel of the recording, mixed with the agent's.
func (r *run) dialThird(ctx context.Context, dest string) (*thirdParty, error) {
	s := r.s
	uri, ok := s.cfg.Destinations[dest]
	if !ok || s.cfg.Dialer == nil {
		return nil, fmt.Errorf("no destination %q", dest)
	}
	peer, err := s.cfg.Dialer.Dial(ctx, sip.DialOptions{URI: uri, From: r.c.Caller, Timeout: s.cfg.TransferTimeout})
	if err != nil {
		return nil, err
	}
	untap := func() {}
	if r.recorder != nil {
		untap = peer.Leg.Tap(media.FromParty, r.recorder.Right())
	}
	return &thirdParty{name: dest, leg: peer.Leg, untap: untap,
		hangup: func() { _ = peer.Hangup(context.WithoutCancel(r.ctx)) }}, nil
}

// requeue puts the caller back into a queue after a softphone call that did not end the
// call: the agent vanished (the same queue) or transferred to another. The caller keeps
// the time they first queued, so they are served before everyone who called later: at
// the head of the queue, or near it.
func (r *run) requeue(a acd.Assignment, queue string) (*acd.Ticket, error) {
	return r.s.cfg.ACD.Join(r.ctx, acd.Request{CallID: r.c.ID, Queue: queue, Priority: a.Priority,
		Number: r.c.Caller, Arrived: a.Arrived})
}

// agentLost puts an agent the ACD logged out for a vanished softphone on break with
// the reason, so that their state says why and a reconnected page needs only "ready".
func (s *Service) agentLost(agentID, reason string) {
	agent := s.agents[agentID]
	if agent == nil || s.cfg.ACD == nil {
		return
	}
	if err := s.cfg.ACD.Login(agentID, agent.Skills); err != nil {
		s.log.Info("call: agent not logged in again after the softphone went", "agent_id", agentID, "error", err)
		return
	}
	if err := s.cfg.ACD.Break(agentID, reason); err != nil {
		s.log.Info("call: agent not put on break after the softphone went", "agent_id", agentID, "error", err)
	}
}

// SoftphoneGone handles a softphone that went away with no call: an agent who can be
// reached only there is put on break, so that no caller is offered to nobody.
func (s *Service) SoftphoneGone(agentID, reason string) {
	agent := s.agents[agentID]
	if agent == nil || s.cfg.ACD == nil || reason == agentdesk.ReasonReplaced {
		return // another tab took over: the agent is still there
	}
	if agent.Contact != "" && agent.Contact != SoftphoneContact {
		return // a desk phone takes the calls
	}
	if agent.Contact == "" && s.cfg.Contacts != nil {
		if _, ok := s.cfg.Contacts(agentID); ok {
			return // a registered phone takes the calls
		}
	}
	why := ReasonSoftphoneLost
	if reason == agentdesk.ReasonBye {
		why = ReasonSoftphoneClosed
	}
	if err := s.cfg.ACD.Break(agentID, why); err != nil {
		s.log.Debug("call: no break after the softphone went", "agent_id", agentID, "error", err)
	}
}

// wrapUpEnder is the ACD's way to end an agent's wrap-up early.
type wrapUpEnder interface{ EndWrapUp(agentID string) error }

// queueLister lists the ACD's queues, to check a transfer's target.
type queueLister interface{ Snapshot() acd.Snapshot }

// AgentAction changes an agent's state from their page: ready (logging in first if
// needed), break with a reason, or the end of wrap-up.
func (s *Service) AgentAction(agentID, action, reason string) error {
	agent := s.agents[agentID]
	if agent == nil {
		return fmt.Errorf("no agent %s in the configuration", agentID)
	}
	if s.cfg.ACD == nil {
		return errors.New("no ACD configured")
	}
	switch action {
	case "ready":
		if err := s.cfg.ACD.Ready(agentID); err != nil {
			if err := s.cfg.ACD.Login(agentID, agent.Skills); err != nil {
				return err
			}
			return s.cfg.ACD.Ready(agentID)
		}
		return nil
	case "break":
		if reason == "" || len(reason) > 64 {
			return errors.New("a break needs a reason of 1 to 64 characters")
		}
		if err := s.cfg.ACD.Break(agentID, reason); err != nil {
			if err := s.cfg.ACD.Login(agentID, agent.Skills); err != nil {
				return err
			}
			return s.cfg.ACD.Break(agentID, reason)
		}
		return nil
	case "wrapup-done":
		if w, ok := s.cfg.ACD.(wrapUpEnder); ok {
			return w.EndWrapUp(agentID)
		}
		return errors.New("wrap-up cannot be ended early here")
	}
	return fmt.Errorf("no agent action %q", action)
}

// checkControl refuses a transfer or three-way call to a target that does not exist,
// before the agent lets go of the caller.
func (s *Service) checkControl(c Control) error {
	if c.Destination != "" {
		if _, ok := s.cfg.Destinations[c.Destination]; !ok {
			return fmt.Errorf("no destination %q (configured: %v)", c.Destination, DestinationNames(s.cfg.Destinations))
		}
		if s.cfg.Dialer == nil {
			return errors.New("no dialer for destinations")
		}
	}
	if c.Queue != "" {
		if s.cfg.ACD == nil {
			return errors.New("no queues configured")
		}
		if ql, ok := s.cfg.ACD.(queueLister); ok {
			var names []string
			for _, q := range ql.Snapshot().Queues {
				names = append(names, q.Name)
			}
			if !slices.Contains(names, c.Queue) {
				return fmt.Errorf("no queue %q (queues: %v)", c.Queue, names)
			}
		}
	}
	return nil
}

// WebRTCPhones adapts agentdesk.Softphones to Softphone and hands the page's requests to
// the call service (Attach). Build it before the softphones serve: it sets their
// OnControl, OnRequest and OnVanish, calling any set before after its own.
type WebRTCPhones struct {
	sp   *agentdesk.Softphones
	svc  atomic.Pointer[Service]
	mu   sync.Mutex
	legs map[string]*webLeg // agent → the call they accepted
}

var _ Softphone = (*WebRTCPhones)(nil)

// NewWebRTCPhones wraps sp.
func NewWebRTCPhones(sp *agentdesk.Softphones) *WebRTCPhones {
	w := &WebRTCPhones{sp: sp, legs: map[string]*webLeg{}}
	prevControl, prevVanish, prevRequest := sp.OnControl, sp.OnVanish, sp.OnRequest
	sp.OnControl = func(agentID, callID, action string) {
		w.control(agentID, callID, Control{Action: action})
		if prevControl != nil {
			prevControl(agentID, callID, action)
		}
	}
	sp.OnVanish = func(agentID, callID, reason string) {
		if s := w.svc.Load(); s != nil && callID == "" {
			s.SoftphoneGone(agentID, reason) // a call in progress is handled by its own goroutine
		}
		if prevVanish != nil {
			prevVanish(agentID, callID, reason)
		}
	}
	sp.OnRequest = func(agentID string, r agentdesk.Request) error {
		err := w.request(agentID, r)
		if err == nil && prevRequest != nil {
			err = prevRequest(agentID, r)
		}
		return err
	}
	return w
}

// Attach sets the call service that takes the pages' requests.
func (w *WebRTCPhones) Attach(s *Service) { w.svc.Store(s) }

func (w *WebRTCPhones) Connected(agentID string) bool { return w.sp.Connected(agentID) }

func (w *WebRTCPhones) Hangup(agentID string) { w.sp.Hangup(agentID) }

func (w *WebRTCPhones) Ring(ctx context.Context, agentID string, info RingInfo) (AgentLeg, error) {
	pop, _ := json.Marshal(map[string]any{"case": info.Case, "ivr_path": info.IVRPath})
	c, err := w.sp.Ring(ctx, agentID, agentdesk.RingInfo{CallID: info.CallID, Caller: info.Caller, Line: info.Line,
		Dialled: info.Dialled, Wait: info.Wait, Pop: pop, Timeout: info.Timeout})
	if err != nil {
		switch {
		case errors.Is(err, agentdesk.ErrRejected):
			return nil, fmt.Errorf("%w: %v", ErrRingRejected, err)
		case errors.Is(err, agentdesk.ErrRingTimeout), errors.Is(err, agentdesk.ErrBusy):
			return nil, fmt.Errorf("%w: %v", ErrRingNoAnswer, err)
		case errors.Is(err, agentdesk.ErrOffline):
			return nil, fmt.Errorf("%w: %v", ErrSoftphoneGone, err)
		}
		return nil, err
	}
	l := &webLeg{CallLeg: c, ctl: make(chan Control, 16)}
	w.mu.Lock()
	w.legs[agentID] = l
	w.mu.Unlock()
	go func() {
		<-c.Done()
		w.mu.Lock()
		if w.legs[agentID] == l {
			delete(w.legs, agentID)
		}
		w.mu.Unlock()
	}()
	return l, nil
}

// control hands an in-call request to the call's goroutine.
func (w *WebRTCPhones) control(agentID, callID string, c Control) bool {
	w.mu.Lock()
	l := w.legs[agentID]
	w.mu.Unlock()
	if l == nil || l.ID() != callID {
		return false
	}
	select {
	case l.ctl <- c:
		return true
	default:
		return false
	}
}

func (w *WebRTCPhones) request(agentID string, r agentdesk.Request) error {
	s := w.svc.Load()
	if s == nil {
		return errors.New("the call service is not running")
	}
	switch r.Type {
	case "transfer", "conference":
		c := Control{Action: r.Type, Queue: r.Queue, Destination: r.Destination}
		if err := s.checkControl(c); err != nil {
			return err
		}
		if !w.control(agentID, r.Call, c) {
			return errors.New("the call is not in progress")
		}
		return nil
	}
	return s.AgentAction(agentID, r.Type, r.Reason)
}

// webLeg is an accepted softphone call with the page's in-call requests.
type webLeg struct {
	*agentdesk.CallLeg
	ctl chan Control
}

func (l *webLeg) Controls() <-chan Control { return l.ctl }

func (l *webLeg) Gone() bool {
	switch l.EndReason() {
	case agentdesk.ReasonAgentHangup, agentdesk.ReasonServerHangup:
		return false
	}
	return true
}
