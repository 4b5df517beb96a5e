package acd

import (
	"container/list"
	"fmt"
	"maps"
	"time"
)

// AgentState is where an agent is in the call cycle.
type AgentState uint8

const (
	LoggedOut AgentState = iota
	Ready                // idle, may be offered a call
	Reserved             // offered a call: ringing
	OnCall
	WrapUp // after-call work, timed per queue
	Break  // not ready, with a reason code
	numAgentStates
)

var agentStateNames = [...]string{"logged-out", "ready", "reserved", "on-call", "wrap-up", "break"}

func (s AgentState) String() string {
	if int(s) < len(agentStateNames) {
		return agentStateNames[s]
	}
	return fmt.Sprintf("AgentState(%d)", uint8(s))
}

// LoginReason is the break reason of an agent who has logged in but not yet
// said Ready: login and readiness are separate, as on every ACD desk.
const LoginReason = "login"

type agent struct {
	id         string
	skills     map[string]int
	state      AgentState
	reason     string
	since      time.Time // entered state
	readySince time.Time
	totals     [numAgentStates]time.Duration

	pendingBreak  bool // break after the current call
	pendingReason string
	pendingLogout bool
	misses        int // offers missed in a row

	offer     *offer
	wrapTimer Timer
	wrapGen   uint64
	// handle time accounting: from connect to the end of wrap-up.
	handleStart time.Time
	handleQueue *queue

	nodes map[string]*list.Element // our place in each skill's ready list
}

func checkSkills(skills map[string]int) error {
	if len(skills) == 0 {
		return fmt.Errorf("%w: no skills", ErrBadAgent)
	}
	for s, p := range skills {
		if s == "" || p < MinProficiency || p > MaxProficiency {
			return fmt.Errorf("%w: skill %q proficiency %d (want 1-5)", ErrBadAgent, s, p)
		}
	}
	return nil
}

// Login logs an agent in with skills (name → proficiency 1-5). The agent is
// then on break with LoginReason until Ready. Logging in an agent who is
// already logged in only updates the skills.
func (d *Dispatcher) Login(agentID string, skills map[string]int) error {
	if agentID == "" {
		return fmt.Errorf("%w: empty id", ErrBadAgent)
	}
	if err := checkSkills(skills); err != nil {
		return err
	}
	d.lock()
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	ag := d.agents[agentID]
	if ag == nil {
		ag = &agent{id: agentID, since: d.clock.Now(), nodes: map[string]*list.Element{}}
		d.agents[agentID] = ag
		d.byState[LoggedOut]++
	}
	if ag.state != LoggedOut {
		d.setSkills(ag, skills)
		return nil
	}
	ag.skills = maps.Clone(skills)
	ag.misses = 0
	d.emit(nil, Event{Kind: EventAgentSkills, AgentID: ag.id, Skills: maps.Clone(skills)})
	d.setAgentState(ag, Break, LoginReason)
	return nil
}

// SetSkills changes a logged-in agent's skills at once; a ready agent keeps
// its place among idle agents.
func (d *Dispatcher) SetSkills(agentID string, skills map[string]int) error {
	if err := checkSkills(skills); err != nil {
		return err
	}
	d.lock()
	defer d.unlock()
	ag, err := d.agentFor(agentID)
	if err != nil {
		return err
	}
	d.setSkills(ag, skills)
	return nil
}

func (d *Dispatcher) setSkills(ag *agent, skills map[string]int) {
	d.countAgent(ag, -1)
	if ag.state == Ready {
		d.unlistReady(ag)
	}
	ag.skills = maps.Clone(skills)
	d.countAgent(ag, +1)
	d.emit(nil, Event{Kind: EventAgentSkills, AgentID: ag.id, State: ag.state, Skills: maps.Clone(skills)})
	if ag.state == Ready {
		d.listReady(ag)
		d.routeAgent(ag)
	}
}

// Ready makes an agent available. It ends a break or wrap-up early; for an
// agent on a call it cancels a pending break or logout.
func (d *Dispatcher) Ready(agentID string) error {
	d.lock()
	defer d.unlock()
	ag, err := d.agentFor(agentID)
	if err != nil {
		return err
	}
	switch ag.state {
	case Ready:
	case Reserved, OnCall:
		if ag.pendingBreak || ag.pendingLogout {
			ag.pendingBreak, ag.pendingLogout = false, false
			d.emit(nil, Event{Kind: EventAgentPending, AgentID: ag.id, State: ag.state})
		}
	case WrapUp:
		ag.pendingBreak, ag.pendingLogout = false, false
		d.endWrapUp(ag)
		d.becomeFree(ag)
	case Break:
		ag.misses = 0
		d.setAgentState(ag, Ready, "")
		d.routeAgent(ag)
	}
	return nil
}

// Break puts an agent on break with a reason code. An agent who is ringing
// or on a call goes on break when the call (and its wrap-up) ends.
func (d *Dispatcher) Break(agentID, reason string) error {
	if reason == "" {
		return fmt.Errorf("%w: a break needs a reason", ErrBadAgent)
	}
	d.lock()
	defer d.unlock()
	ag, err := d.agentFor(agentID)
	if err != nil {
		return err
	}
	switch ag.state {
	case Ready, Break:
		d.setAgentState(ag, Break, reason)
	case WrapUp, Reserved, OnCall:
		// The call and its wrap-up (after-call work is part of the call) run
		// their course; the break follows.
		ag.pendingBreak, ag.pendingReason = true, reason
		d.emit(nil, Event{Kind: EventAgentPending, AgentID: ag.id, State: ag.state, Reason: reason})
	}
	return nil
}

// Logout logs an agent out. A ringing offer is withdrawn (the caller goes
// back to the head of the queue); an agent on a call or in wrap-up is logged
// out when that ends.
func (d *Dispatcher) Logout(agentID string) error {
	d.lock()
	defer d.unlock()
	ag, err := d.agentFor(agentID)
	if err != nil {
		return err
	}
	switch ag.state {
	case Ready, Break:
		d.setAgentState(ag, LoggedOut, "")
	case Reserved:
		d.missed(ag.offer, "agent-logout")
	case OnCall, WrapUp:
		ag.pendingLogout = true
		d.emit(nil, Event{Kind: EventAgentPending, AgentID: ag.id, State: ag.state, Reason: "logout"})
	}
	return nil
}

// EndWrapUp ends an agent's wrap-up (the agent is done with after-call work):
// the agent goes to its pending break or logout, or to Ready.
func (d *Dispatcher) EndWrapUp(agentID string) error {
	d.lock()
	defer d.unlock()
	ag, err := d.agentFor(agentID)
	if err != nil {
		return err
	}
	if ag.state != WrapUp {
		return fmt.Errorf("%w: agent %s is %s, not in wrap-up", ErrBadState, agentID, ag.state)
	}
	d.endWrapUp(ag)
	d.becomeFree(ag)
	return nil
}

func (d *Dispatcher) agentFor(id string) (*agent, error) {
	if d.closed {
		return nil, ErrClosed
	}
	ag := d.agents[id]
	if ag == nil || ag.state == LoggedOut {
		return nil, fmt.Errorf("%w: %s", ErrNotLoggedIn, id)
	}
	return ag, nil
}

// becomeFree moves an agent whose call cycle ended to what it asked for, or
// to Ready (and routes it).
func (d *Dispatcher) becomeFree(ag *agent) {
	switch {
	case ag.pendingLogout:
		ag.pendingLogout, ag.pendingBreak = false, false
		d.setAgentState(ag, LoggedOut, "")
	case ag.pendingBreak:
		ag.pendingBreak = false
		d.setAgentState(ag, Break, ag.pendingReason)
	default:
		d.setAgentState(ag, Ready, "")
		d.routeAgent(ag)
	}
}

func (d *Dispatcher) startWrapUp(ag *agent, q *queue) {
	wrap := q.cfg.WrapUp
	if wrap <= 0 {
		d.recordHandle(ag)
		d.becomeFree(ag)
		return
	}
	d.setAgentState(ag, WrapUp, "")
	ag.wrapGen++
	gen := ag.wrapGen
	ag.wrapTimer = d.clock.AfterFunc(wrap, func() {
		d.lock()
		defer d.unlock()
		if d.closed || ag.state != WrapUp || ag.wrapGen != gen {
			return
		}
		d.endWrapUp(ag)
		d.becomeFree(ag)
	})
}

func (d *Dispatcher) endWrapUp(ag *agent) {
	ag.wrapGen++
	if ag.wrapTimer != nil {
		ag.wrapTimer.Stop()
		ag.wrapTimer = nil
	}
	d.recordHandle(ag)
}

func (d *Dispatcher) recordHandle(ag *agent) {
	if ag.handleQueue == nil {
		return
	}
	ag.handleQueue.observeHandle(d.clock.Now().Sub(ag.handleStart))
	ag.handleQueue = nil
}

// setAgentState is the one place an agent's state changes: it keeps the
// ready lists, the per-skill counts and the time totals, and emits the event.
// It never routes: callers route once the whole transition is settled.
func (d *Dispatcher) setAgentState(ag *agent, st AgentState, reason string) {
	now := d.clock.Now()
	old := ag.state
	if old == st && ag.reason == reason {
		return
	}
	ag.totals[old] += now.Sub(ag.since)
	d.countAgent(ag, -1)
	if old == Ready {
		d.unlistReady(ag)
	}
	ag.state, ag.reason, ag.since = st, reason, now
	if st == Ready {
		ag.readySince = now
		d.listReady(ag)
	}
	if st == LoggedOut {
		ag.misses = 0
		ag.pendingBreak, ag.pendingLogout = false, false
	}
	d.countAgent(ag, +1)
	if st == Break || st == LoggedOut {
		for s := range ag.skills {
			if c := d.skills[s]; c.loggedIn == 0 || c.serving == 0 {
				d.emptied[s] = true
			}
		}
	}
	d.emit(nil, Event{Kind: EventAgentState, AgentID: ag.id, State: st, Prev: old.String(), Reason: reason})
}

// countAgent adds or removes an agent's contribution to the per-skill counts
// that the empty rules and the wait estimate read.
func (d *Dispatcher) countAgent(ag *agent, delta int) {
	d.byState[ag.state] += delta
	if ag.state == LoggedOut {
		return
	}
	for s := range ag.skills {
		c := d.skill(s)
		c.loggedIn += delta
		if ag.state != Break {
			c.serving += delta
		}
		if ag.state == Ready {
			c.readyN += delta
		}
	}
}

func (d *Dispatcher) listReady(ag *agent) {
	for s, p := range ag.skills {
		l := &d.skill(s).ready[p]
		// Keep each list ordered by readySince so its front is the longest idle.
		// New arrivals are the newest; only SetSkills inserts older ones.
		e := l.Back()
		for e != nil && e.Value.(*agent).readySince.After(ag.readySince) {
			e = e.Prev()
		}
		if e == nil {
			ag.nodes[s] = l.PushFront(ag)
		} else {
			ag.nodes[s] = l.InsertAfter(ag, e)
		}
	}
}

func (d *Dispatcher) unlistReady(ag *agent) {
	for s, p := range ag.skills {
		if n := ag.nodes[s]; n != nil {
			d.skill(s).ready[p].Remove(n)
			delete(ag.nodes, s)
		}
	}
}
