package acd

import (
	"fmt"
	"time"
)

// offer is one agent reserved for one request.
type offer struct {
	e         *entry
	ag        *agent
	q         *queue
	at        time.Time
	timer     Timer
	withdrawn chan struct{}
	answered  bool
	over      bool // withdrawn, missed or completed
	asg       *Assignment
}

// Assignment is an agent reserved for a request. The call layer rings the
// agent (and, for a callback, dials Number) and reports what happened with
// exactly one of Answered, NoAnswer, Rejected, AgentGone or CallbackFailed,
// then Complete when an answered call ends. A report on an offer that is no
// longer current (the caller hung up, the ring timed out) returns ErrStale.
type Assignment struct {
	CallID   string
	Queue    string
	AgentID  string
	Priority int
	Arrived  time.Time     // when the request first queued
	Offered  time.Time     // when the agent was reserved
	Wait     time.Duration // Offered - Arrived
	// Callback is set for a callback request: dial Number now (attempt Attempt).
	Callback bool
	Number   string
	Attempt  int
	// Timeout is how long the dispatcher holds the agent for this offer before
	// treating it as not answered (ring timeout, or callback timeout).
	Timeout time.Duration
	// Ticket is the caller's ticket (nil for a callback): after a failed offer,
	// Ticket.Wait blocks for the next agent.
	Ticket *Ticket

	d *Dispatcher
	o *offer
}

// Withdrawn is closed when the offer ends before being answered: the caller
// hung up, the ring timed out, the agent logged out. Stop ringing the agent.
func (a Assignment) Withdrawn() <-chan struct{} {
	if a.o == nil {
		return nil
	}
	return a.o.withdrawn
}

func (a Assignment) check(wantAnswered bool) error {
	if a.d == nil {
		return fmt.Errorf("%w: empty assignment", ErrStale)
	}
	if a.d.closed {
		return ErrClosed
	}
	if a.o.over || a.o.e.offer != a.o {
		return ErrStale
	}
	if a.o.answered != wantAnswered {
		if wantAnswered {
			return fmt.Errorf("%w: not answered", ErrBadState)
		}
		return fmt.Errorf("%w: already answered", ErrBadState)
	}
	return nil
}

// Answered reports that the agent (and for a callback, the citizen) answered:
// the call is connected and the agent is on call.
func (a Assignment) Answered() error {
	d := a.d
	if d == nil {
		return ErrStale
	}
	d.lock()
	defer d.unlock()
	if err := a.check(false); err != nil {
		return err
	}
	d.answered(a.o)
	return nil
}

// NoAnswer reports that the agent did not answer in time. The request goes
// back to its place (the head); the agent counts a miss.
func (a Assignment) NoAnswer() error { return a.fail("no-answer") }

// Rejected reports that the agent declined (e.g. 486 Busy Here): a miss, as NoAnswer.
func (a Assignment) Rejected() error { return a.fail("rejected") }

// AgentGone reports that the agent's phone or browser went away. The agent
// is logged out; before Answered the request goes back to its place, after
// it the call is complete.
func (a Assignment) AgentGone() error {
	d := a.d
	if d == nil {
		return ErrStale
	}
	d.lock()
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	o := a.o
	if o.over || o.e.offer != o {
		return ErrStale
	}
	if o.answered {
		ag := o.ag
		ag.pendingLogout = true
		d.complete(o)
		if ag.state == WrapUp { // nobody is there to do after-call work
			d.endWrapUp(ag)
			d.becomeFree(ag)
		}
		return nil
	}
	d.missed(o, "agent-gone")
	return nil
}

func (a Assignment) fail(reason string) error {
	d := a.d
	if d == nil {
		return ErrStale
	}
	d.lock()
	defer d.unlock()
	if err := a.check(false); err != nil {
		return err
	}
	d.missed(a.o, reason)
	return nil
}

// Complete reports that an answered call ended; the agent goes to wrap-up.
func (a Assignment) Complete() error {
	d := a.d
	if d == nil {
		return ErrStale
	}
	d.lock()
	defer d.unlock()
	if err := a.check(true); err != nil {
		return err
	}
	d.complete(a.o)
	return nil
}

// offer reserves ag for e. Both were found free under the lock by the same
// routing decision, so an agent can never be reserved twice.
func (d *Dispatcher) offer(e *entry, ag *agent) {
	if ag.state != Ready || e.state != stWaiting {
		panic("acd: offer on a busy agent or a request that is not waiting") // an invariant, not input
	}
	now := d.clock.Now()
	d.unindex(e)
	e.state = stOffered
	d.setAgentState(ag, Reserved, "")
	o := &offer{e: e, ag: ag, q: e.q, at: now, withdrawn: make(chan struct{})}
	e.offer, ag.offer = o, o
	timeout := e.q.cfg.RingTimeout
	if e.callback {
		timeout = e.q.cfg.CallbackTimeout
		e.attempt++
	}
	o.timer = d.clock.AfterFunc(timeout, func() {
		d.lock()
		defer d.unlock()
		if d.closed || o.over || o.answered {
			return
		}
		if e.callback {
			// Nobody said how the attempt went: count it as unanswered, but
			// the agent is not to blame.
			d.callbackFailed(o, CallbackNoAnswer)
			return
		}
		d.missed(o, "timeout")
	})
	d.emit(e, Event{Kind: EventOffer, AgentID: ag.id, Wait: now.Sub(e.arrived), Number: e.number, Attempt: e.attempt})
	a := &Assignment{
		CallID: e.req.CallID, Queue: e.q.cfg.Name, AgentID: ag.id, Priority: e.req.Priority,
		Arrived: e.arrived, Offered: now, Wait: now.Sub(e.arrived), Timeout: timeout,
		Callback: e.callback, Number: e.number, Attempt: e.attempt, Ticket: e.ticket, d: d, o: o,
	}
	o.asg = a
	if e.callback {
		d.out.push(outItem{cb: a})
		return
	}
	e.ticket.deliver(a)
}

func (d *Dispatcher) endOffer(o *offer) {
	o.over = true
	if o.timer != nil {
		o.timer.Stop()
	}
	o.e.offer = nil
	o.ag.offer = nil
}

func (d *Dispatcher) answered(o *offer) {
	now := d.clock.Now()
	e, ag := o.e, o.ag
	o.answered = true
	if o.timer != nil {
		o.timer.Stop()
	}
	e.state = stConnected
	e.connectedAt = now
	stopTimers(e)
	if e.live() {
		e.q.live--
	} else {
		e.q.callbacks--
	}
	ag.misses = 0
	ag.handleStart, ag.handleQueue = now, e.q
	d.setAgentState(ag, OnCall, "")
	wait := now.Sub(e.arrived)
	d.emit(e, Event{Kind: EventConnect, AgentID: ag.id, Wait: wait, Number: e.number, Attempt: e.attempt})
	if e.callback {
		d.emit(e, Event{Kind: EventCallbackMade, AgentID: ag.id, Reason: "answered", Number: e.number, Attempt: e.attempt})
		d.emit(e, Event{Kind: EventCallbackDone, AgentID: ag.id, Reason: "connected", Number: e.number, Attempt: e.attempt})
		if d.m != nil {
			d.m.callbacks.WithLabelValues(e.q.cfg.Name, "connected").Inc()
		}
	} else if d.m != nil {
		d.m.observeAnswer(e.q, wait)
	}
	if e.ticket != nil {
		e.ticket.end(ErrConnected)
	}
	// The call id is free again: the call may come back to a queue (transfer).
	delete(d.calls, e.req.CallID)
}

func (d *Dispatcher) complete(o *offer) {
	e, ag := o.e, o.ag
	d.endOffer(o)
	e.state = stDone
	d.emit(e, Event{Kind: EventComplete, AgentID: ag.id, Wait: e.connectedAt.Sub(e.arrived), Talk: d.clock.Now().Sub(e.connectedAt)})
	if ag.pendingLogout && ag.pendingBreak {
		ag.pendingBreak = false
	}
	d.startWrapUp(ag, o.q)
}

// missed handles an offer the agent did not take: the request goes back to
// its place first (so it is not handed straight back to the same agent when
// another is free), then the agent is freed or benched.
func (d *Dispatcher) missed(o *offer, reason string) {
	e, ag := o.e, o.ag
	d.endOffer(o)
	close(o.withdrawn)
	d.emit(e, Event{Kind: EventNoAnswer, AgentID: ag.id, Reason: reason, Wait: d.clock.Now().Sub(e.arrived), Attempt: e.attempt})
	if d.m != nil {
		d.m.noAnswer.WithLabelValues(e.q.cfg.Name, reason).Inc()
	}
	if e.callback {
		e.attempt-- // the citizen was not dialled: this attempt does not count
	}
	if e.ticket != nil {
		e.ticket.rearm(o)
	}
	d.place(e)
	switch reason {
	case "agent-gone", "agent-logout":
		d.setAgentState(ag, LoggedOut, reason)
	default:
		ag.misses++
		if ag.misses >= d.cfg.MaxNoAnswer && !ag.pendingLogout {
			d.log.Warn("acd: agent missed offers in a row, put on break", "agent_id", ag.id, "misses", ag.misses, "call_id", e.req.CallID)
			ag.misses = 0
			ag.pendingBreak = false
			d.setAgentState(ag, Break, NoAnswerReason)
			return
		}
		d.becomeFree(ag)
	}
}

// withdraw ends an offer because the request went away; the agent did
// nothing wrong and is free at once.
func (d *Dispatcher) withdraw(o *offer, reason string) {
	d.endOffer(o)
	close(o.withdrawn)
	d.emit(o.e, Event{Kind: EventWithdraw, AgentID: o.ag.id, Reason: reason})
	d.becomeFree(o.ag)
}

// AgentAssignment returns the offer or call an agent is busy with (ringing
// or on call), for the agent's desk, which did not receive it from Enqueue.
func (d *Dispatcher) AgentAssignment(agentID string) (Assignment, bool) {
	d.lock()
	defer d.unlock()
	ag := d.agents[agentID]
	if ag == nil || ag.offer == nil {
		return Assignment{}, false
	}
	return *ag.offer.asg, true
}
