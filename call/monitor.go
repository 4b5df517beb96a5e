package call

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
	"github.com/hotline-12345/hotline/sip"
)

// Supervisors on live calls: listen, whisper and barge.
//
// Who hears what, by mode (S is the supervisor, C the caller, A the agent):
//
//	mode     C hears   A hears   S hears
//	none     A         C         –
//	listen   A         C         C+A
//	whisper  A         C+S       C+A
//	barge    A+S       C+S       C+A
//
// A bridge between two RTP legs of one codec relays packets as they arrive, bypassing the
// legs' paced outbound; a party whose hearing changes (the agent in whisper, both in
// barge) is switched to a paced mix, which ends the relay into that leg, and leaving puts
// the relay back. Listening reads the parties' inbound audio, which any number of readers
// share, so it never disturbs the bridge.
//
// The recording keeps the caller on the left and the agent on the right; in barge the
// supervisor is mixed into the right channel (the recorder mixes two streams of a side),
// so the right channel is what the caller heard. A whisper, which only the agent hears,
// and listening leave no trace in the file.
//
// One supervisor at a time per call; the same supervisor switches modes on the same leg
// (no new ring). The supervisor leaving (or their phone hanging up, in any mode) puts the
// plain bridge back; the bridge ending (talk returns) takes the supervisor off without
// touching the parties' legs. A call's owner that routes the audio otherwise (hold,
// mute, a three-way call) does so through reroute, which keeps its routing and the
// supervisor's mixes from overwriting each other.

// SupervisorLeg gets the supervisor's audio leg for a session: a phone rung through the
// SIP server, or a browser softphone already connected. release ends the leg's part in
// the session (hangs the phone up; leaves a browser's leg connected but silent).
// It returns agentdesk.ErrNoSupervisorPhone when it has no leg for the supervisor: the
// next way is tried (SetSupervisorLegs's, then ringing their phone).
type SupervisorLeg func(ctx context.Context, req agentdesk.MonitorRequest) (leg media.Leg, release func(), err error)

// monitors is the registry of bridged calls (call id → caller, agent) and of the
// supervisors on them. The zero value is ready; Service holds one.
type monitors struct {
	mu    sync.Mutex
	calls map[string]*bridgedCall
	legs  SupervisorLeg // nil: ring the supervisor's phone
}

// bridgedCall is a caller and an agent talking.
type bridgedCall struct {
	id      string
	agentID string
	caller  media.Leg
	agent   media.Leg
	right   func() media.Sink // a new stream on the recording's right channel; nil: not recorded
	done    chan struct{}     // closed when the bridge ends

	mu      sync.Mutex
	ended   bool
	joining string // a supervisor whose phone is ringing
	sess    *monitorSession
	// custom is set while the call's owner routes the audio otherwise than a plain
	// bridge (hold, mute, a three-way call): see reroute.
	custom bool
}

// monitorSession is one supervisor on one call.
type monitorSession struct {
	supervisor string
	mode       agentdesk.MonitorMode
	leg        media.Leg
	release    func()
	ended      func(reason string)
	untapRec   func() // the supervisor in the recording (barge only)
	stop       chan struct{}
	reason     string // why stop was closed
	notify     bool   // call ended on stop
	done       chan struct{}
}

// bridged registers a caller and an agent bridged by talk; the returned func, called
// when the bridge ends, takes any supervisor off the call (their phone is hung up) and
// leaves the legs as the bridge had them. rec, if not nil, is the call's recording.
func (m *monitors) bridged(callID, agentID string, caller, agent media.Leg, rec *recordings.Recorder) (end func()) {
	var right func() media.Sink
	if rec != nil {
		right = rec.Right
	}
	return m.add(callID, agentID, caller, agent, right)
}

func (m *monitors) add(callID, agentID string, caller, agent media.Leg, right func() media.Sink) func() {
	bc := &bridgedCall{id: callID, agentID: agentID, caller: caller, agent: agent, right: right, done: make(chan struct{})}
	m.mu.Lock()
	if m.calls == nil {
		m.calls = map[string]*bridgedCall{}
	}
	m.calls[callID] = bc
	m.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			m.mu.Lock()
			if m.calls[callID] == bc {
				delete(m.calls, callID)
			}
			m.mu.Unlock()
			bc.mu.Lock()
			bc.ended = true
			close(bc.done)
			// The call is over (or goes on to the survey, which sets what the caller
			// hears): the legs are not bridged again, only the supervisor leaves.
			bc.endLocked("the call ended", false, true)
			bc.mu.Unlock()
		})
	}
}

func (m *monitors) call(callID string) *bridgedCall {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[callID]
}

// agentOf is the agent on a bridged call.
func (m *monitors) agentOf(callID string) (string, error) {
	bc := m.call(callID)
	if bc == nil {
		return "", agentdesk.ErrNotBridged
	}
	return bc.agentID, nil
}

// monitor starts a session (getting the supervisor's leg) or switches its mode.
// dflt gets the supervisor's leg unless SetSupervisorLegs set another way.
func (m *monitors) monitor(ctx context.Context, req agentdesk.MonitorRequest, dflt SupervisorLeg) (agentdesk.MonitorState, error) {
	if !req.Mode.Valid() {
		return agentdesk.MonitorState{}, fmt.Errorf("call: no monitor mode %q", req.Mode)
	}
	bc := m.call(req.CallID)
	if bc == nil {
		return agentdesk.MonitorState{}, agentdesk.ErrNotBridged
	}
	st := agentdesk.MonitorState{CallID: bc.id, Agent: bc.agentID, Supervisor: req.Supervisor, Mode: req.Mode}
	bc.mu.Lock()
	switch {
	case bc.ended:
		bc.mu.Unlock()
		return st, agentdesk.ErrNotBridged
	case bc.custom && req.Mode != agentdesk.MonitorListen:
		bc.mu.Unlock()
		return st, ErrMonitorRerouted
	case bc.sess != nil && bc.sess.supervisor == req.Supervisor: // a switch, same leg
		st.Previous = bc.sess.mode
		bc.apply(bc.sess, req.Mode)
		bc.mu.Unlock()
		return st, nil
	case bc.sess != nil || bc.joining != "":
		bc.mu.Unlock()
		return st, agentdesk.ErrMonitorBusy
	}
	bc.joining = req.Supervisor
	bc.mu.Unlock()

	// Ring the supervisor outside the lock; give up if the call ends meanwhile.
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-bc.done:
			cancel()
		case <-dctx.Done():
		}
	}()
	m.mu.Lock()
	legs := m.legs
	m.mu.Unlock()
	var (
		leg     media.Leg
		release func()
		err     error = agentdesk.ErrNoSupervisorPhone
	)
	if legs != nil {
		leg, release, err = legs(dctx, req)
	}
	if errors.Is(err, agentdesk.ErrNoSupervisorPhone) && dflt != nil {
		leg, release, err = dflt(dctx, req)
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	bc.joining = ""
	if err != nil {
		if bc.ended {
			return st, agentdesk.ErrNotBridged
		}
		return st, err
	}
	if bc.ended {
		release()
		return st, agentdesk.ErrNotBridged
	}
	s := &monitorSession{supervisor: req.Supervisor, leg: leg, release: release, ended: req.Ended,
		stop: make(chan struct{}), done: make(chan struct{})}
	bc.sess = s
	// What the supervisor hears is the same in every mode: both parties.
	leg.SetOutbound(media.Mix(bc.caller.Inbound(), bc.agent.Inbound()))
	bc.apply(s, req.Mode)
	go bc.watch(s)
	return st, nil
}

// unmonitor takes the supervisor off the call; the two parties are bridged again.
func (m *monitors) unmonitor(callID, supervisor string) (agentdesk.MonitorState, error) {
	bc := m.call(callID)
	if bc == nil {
		return agentdesk.MonitorState{}, agentdesk.ErrNotBridged
	}
	bc.mu.Lock()
	s := bc.sess
	if s == nil || s.supervisor != supervisor {
		bc.mu.Unlock()
		return agentdesk.MonitorState{}, agentdesk.ErrNotMonitoring
	}
	st := agentdesk.MonitorState{CallID: bc.id, Agent: bc.agentID, Supervisor: supervisor, Previous: s.mode}
	bc.endLocked("left", true, false)
	bc.mu.Unlock()
	// The supervisor's phone is hung up by the session's goroutine; wait for it a while,
	// so that the response means the supervisor is gone.
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
	}
	return st, nil
}

// ErrMonitorRerouted refuses whisper and barge while the call is on hold, muted or in a
// three-way call (the HTTP API answers 409).
var ErrMonitorRerouted = fmt.Errorf("%w: the call is on hold, muted or in a three-way call; only listening is possible", agentdesk.ErrMonitorBusy)

// reroute runs route, the call's owner changing who hears what (hold, mute, a three-way
// call, or back to the plain bridge when plain), atomically with the supervisor's
// mixes: a supervisor whispering or barging drops to listening, whose audio no routing
// disturbs, and the owner's routing stands; whisper and barge are refused until the call
// is a plain bridge again. Without a bridged call registered it just runs route.
func (m *monitors) reroute(callID string, plain bool, route func()) {
	bc := m.call(callID)
	if bc == nil {
		route()
		return
	}
	bc.mu.Lock()
	defer bc.mu.Unlock()
	route()
	bc.custom = !plain
	if s := bc.sess; s != nil && s.mode != agentdesk.MonitorListen {
		// route has set both parties' outbound already: only the recording tap is ours.
		if s.untapRec != nil {
			s.untapRec()
			s.untapRec = nil
		}
		s.mode = agentdesk.MonitorListen
	}
}

// apply sets who hears what for mode; bc.mu is held. Only the directions that change
// are touched, so a party whose hearing stays the same hears no seam.
func (bc *bridgedCall) apply(s *monitorSession, mode agentdesk.MonitorMode) {
	prev := s.mode
	s.mode = mode
	callerMixed := func(m agentdesk.MonitorMode) bool { return m == agentdesk.MonitorBarge }
	agentMixed := func(m agentdesk.MonitorMode) bool {
		return m == agentdesk.MonitorWhisper || m == agentdesk.MonitorBarge
	}
	// prev is "" for a new session: nothing mixed yet.
	if agentMixed(mode) && !agentMixed(prev) {
		bc.agent.SetOutbound(media.Mix(bc.caller.Inbound(), s.leg.Inbound()))
	} else if !agentMixed(mode) && agentMixed(prev) {
		hear(bc.agent, bc.caller)
	}
	if callerMixed(mode) && !callerMixed(prev) {
		bc.caller.SetOutbound(media.Mix(bc.agent.Inbound(), s.leg.Inbound()))
		if bc.right != nil {
			s.untapRec = s.leg.Tap(media.FromParty, bc.right())
		}
	} else if !callerMixed(mode) && callerMixed(prev) {
		hear(bc.caller, bc.agent)
		if s.untapRec != nil {
			s.untapRec()
			s.untapRec = nil
		}
	}
}

// hear makes to hear from again as a plain bridge does: relayed packets between RTP
// legs of one codec, else from's de-jittered audio on the clock.
func hear(to, from media.Leg) {
	to.SetOutbound(from.Inbound())
	rt, ok1 := to.(*media.RTPLeg)
	rf, ok2 := from.(*media.RTPLeg)
	if ok1 && ok2 && rt.Codec() == rf.Codec() {
		rt.Relay(rf)
	}
}

// endLocked ends the session, if any: the parties hear each other as bridged (when
// restore), the supervisor hears nothing, and the session's goroutine hangs up their
// phone. notify calls the session's Ended. bc.mu is held.
func (bc *bridgedCall) endLocked(reason string, restore, notify bool) {
	s := bc.sess
	if s == nil {
		return
	}
	bc.sess = nil
	if restore {
		bc.apply(s, agentdesk.MonitorListen) // back to the plain bridge for both parties
	}
	if s.untapRec != nil {
		s.untapRec()
		s.untapRec = nil
	}
	s.leg.SetOutbound(nil)
	s.reason, s.notify = reason, notify
	close(s.stop)
}

// watch owns a session's end: the supervisor hanging up (in any mode, a barge too) puts
// the bridge back; a stop (leave, call end) has done that already. Either way the
// supervisor's leg is released here, off the call's and the request's goroutines.
func (bc *bridgedCall) watch(s *monitorSession) {
	defer close(s.done)
	select {
	case <-s.leg.Done():
		bc.mu.Lock()
		if bc.sess == s {
			bc.endLocked("the supervisor hung up", true, true)
		}
		bc.mu.Unlock()
	case <-s.stop:
	}
	<-s.stop // closed by endLocked in either case
	s.release()
	if s.notify && s.ended != nil {
		s.ended(s.reason)
	}
}

// SetSupervisorLegs sets a first way to get a supervisor's audio leg (their browser
// softphone, see SupervisorSoftphone); where it has none, the supervisor's phone is rung
// through the Dialer.
func (s *Service) SetSupervisorLegs(f SupervisorLeg) {
	s.mon.mu.Lock()
	s.mon.legs = f
	s.mon.mu.Unlock()
}

// dialSupervisor rings the supervisor's phone: the contact given, else the phone in the
// configuration's agents entries (a supervisor's desk phone is configured like an
// agent's), else where it is registered.
func (s *Service) dialSupervisor(ctx context.Context, req agentdesk.MonitorRequest) (media.Leg, func(), error) {
	supervisor, contact := req.Supervisor, req.Contact
	if contact == SoftphoneContact {
		return nil, nil, agentdesk.ErrNoSupervisorPhone // the softphone was asked for and is not there
	}
	if contact == "" {
		contact = s.contactOf(s.agents[supervisor])
	}
	if contact == "" && s.cfg.Contacts != nil {
		contact, _ = s.cfg.Contacts(supervisor)
	}
	if contact == "" || s.cfg.Dialer == nil {
		return nil, nil, agentdesk.ErrNoSupervisorPhone
	}
	peer, err := s.cfg.Dialer.Dial(ctx, sip.DialOptions{URI: contact, From: "monitor", Timeout: 30 * time.Second})
	if err != nil {
		return nil, nil, err
	}
	release := func() {
		hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = peer.Hangup(hctx)
	}
	return peer.Leg, release, nil
}

// SupervisorSoftphone gets a supervisor's leg from their browser softphone when it is
// connected (and no other contact was asked for): the page is offered a call whose leg
// is the supervisor's audio; release hangs that call up, leaving the shift's
// connection up. Otherwise it returns agentdesk.ErrNoSupervisorPhone, and the
// supervisor's phone is rung instead. The page should answer a monitor offer (Line
// "monitor") by itself.
func SupervisorSoftphone(sp Softphone) SupervisorLeg {
	return func(ctx context.Context, req agentdesk.MonitorRequest) (media.Leg, func(), error) {
		if (req.Contact != "" && req.Contact != SoftphoneContact) || !sp.Connected(req.Supervisor) {
			return nil, nil, agentdesk.ErrNoSupervisorPhone
		}
		leg, err := sp.Ring(ctx, req.Supervisor, RingInfo{CallID: req.CallID + "-monitor", Caller: "monitor",
			Line: "monitor", Timeout: 20 * time.Second})
		if err != nil {
			return nil, nil, err
		}
		return leg, func() { sp.Hangup(req.Supervisor) }, nil
	}
}

var _ agentdesk.Monitors = (*Service)(nil)

// CallAgent is the agent on a live bridged call (agentdesk.Monitors).
func (s *Service) CallAgent(callID string) (string, error) { return s.mon.agentOf(callID) }

// Monitor puts a supervisor on a live call, or switches their mode (agentdesk.Monitors).
func (s *Service) Monitor(ctx context.Context, req agentdesk.MonitorRequest) (agentdesk.MonitorState, error) {
	st, err := s.mon.monitor(ctx, req, s.dialSupervisor)
	if err == nil {
		if rec := s.reg.live1(req.CallID); rec != nil {
			detail := "supervisor " + req.Supervisor
			if st.Previous != "" {
				detail += " from " + string(st.Previous)
			}
			rec.event("monitor_"+string(req.Mode), detail)
		}
	}
	return st, err
}

// Unmonitor takes a supervisor off a call (agentdesk.Monitors).
func (s *Service) Unmonitor(callID, supervisor string) (agentdesk.MonitorState, error) {
	st, err := s.mon.unmonitor(callID, supervisor)
	if err == nil {
		if rec := s.reg.live1(callID); rec != nil {
			rec.event("monitor_leave", "supervisor "+supervisor)
		}
	}
	return st, err
}
