package acd

import "fmt"

// CallbackResult is how one attempt to call a citizen back ended.
type CallbackResult uint8

const (
	CallbackBusy     CallbackResult = iota + 1 // retried after the queue's delay
	CallbackNoAnswer                           // retried after the queue's delay
	CallbackInvalid                            // the number cannot be reached: no retry
	CallbackFailed                             // any other failure: retried
)

func (r CallbackResult) String() string {
	switch r {
	case CallbackBusy:
		return "busy"
	case CallbackNoAnswer:
		return "no-answer"
	case CallbackInvalid:
		return "invalid"
	case CallbackFailed:
		return "failed"
	}
	return "unknown"
}

// ValidNumber accepts what the trunk can dial back: an optional leading +
// and 3 to 20 digits. Anything else is refused before it reaches a queue.
func ValidNumber(n string) bool {
	if len(n) > 0 && n[0] == '+' {
		n = n[1:]
	}
	if len(n) < 3 || len(n) > 20 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// Callback turns a waiting caller into a callback request to number that
// keeps the caller's place (arrival time and priority). The caller's Wait
// returns ErrCallbackQueued and the call may end. When the request reaches
// the head, an agent is reserved and Options.OnCallback gets the assignment.
func (t *Ticket) Callback(number string) error {
	d := t.d
	if !ValidNumber(number) {
		return fmt.Errorf("%w: %q", ErrInvalidNumber, number)
	}
	d.lock()
	defer d.unlock()
	if d.opts.OnCallback == nil {
		return ErrNoCallbacks
	}
	e := t.e
	if t.err != nil || e.ticket != t || d.closed {
		return fmt.Errorf("%w: ticket ended", ErrBadState)
	}
	if e.state != stWaiting {
		return fmt.Errorf("%w: an agent is being offered the call", ErrBadState)
	}
	d.unindex(e)
	t.end(ErrCallbackQueued)
	d.toCallback(e, number, "caller")
	return nil
}

// RequestCallback queues a callback request that did not come from a queued
// call (e.g. a call abandoned in the IVR, or out of hours). r.Number is
// dialled; r.Arrived sets its place.
func (d *Dispatcher) RequestCallback(r Request) error {
	if r.CallID == "" {
		return fmt.Errorf("%w: empty call id", ErrBadRequest)
	}
	if !ValidNumber(r.Number) {
		return fmt.Errorf("%w: %q", ErrInvalidNumber, r.Number)
	}
	d.lock()
	defer d.unlock()
	if d.closed {
		return ErrClosed
	}
	if d.opts.OnCallback == nil {
		return ErrNoCallbacks
	}
	q := d.queues[r.Queue]
	if q == nil {
		return fmt.Errorf("%w: %q", ErrUnknownQueue, r.Queue)
	}
	if d.calls[r.CallID] != nil {
		return fmt.Errorf("%w: %s", ErrDuplicateCall, r.CallID)
	}
	now := d.clock.Now()
	d.seq++
	e := &entry{seq: d.seq, req: r, q: q, arrived: r.Arrived, joinedQ: now, minProf: q.cfg.MinProficiency, callback: true, number: r.Number}
	if e.arrived.IsZero() || e.arrived.After(now) {
		e.arrived = now
	}
	e.req.Arrived = e.arrived
	d.calls[r.CallID] = e
	q.callbacks++
	d.emit(e, Event{Kind: EventCallbackRequested, Reason: "request", Number: r.Number, Wait: now.Sub(e.arrived)})
	d.place(e)
	return nil
}

// toCallback converts a live request (not indexed, no offer, ticket ended)
// into a callback request in the same place.
func (d *Dispatcher) toCallback(e *entry, number, reason string) {
	e.callback = true
	e.number = number
	e.q.live--
	e.q.callbacks++
	if e.waitTimer != nil { // max wait is about a caller on the line
		e.waitTimer.Stop()
		e.waitTimer = nil
	}
	d.emit(e, Event{Kind: EventCallbackRequested, Reason: reason, Number: number, Wait: d.clock.Now().Sub(e.arrived)})
	if d.m != nil {
		d.m.callbacks.WithLabelValues(e.q.cfg.Name, "requested-"+reason).Inc()
	}
	d.place(e)
}

// CallbackFailed reports that dialling the citizen failed. The agent is
// freed (it was not the agent's fault); the request is retried after the
// queue's delay, in its place, until its attempts run out.
func (a Assignment) CallbackFailed(r CallbackResult) error {
	d := a.d
	if d == nil {
		return ErrStale
	}
	d.lock()
	defer d.unlock()
	if err := a.check(false); err != nil {
		return err
	}
	if !a.o.e.callback {
		return fmt.Errorf("%w: not a callback", ErrBadState)
	}
	d.callbackFailed(a.o, r)
	return nil
}

func (d *Dispatcher) callbackFailed(o *offer, r CallbackResult) {
	e, ag := o.e, o.ag
	d.endOffer(o)
	close(o.withdrawn)
	d.emit(e, Event{Kind: EventCallbackMade, AgentID: ag.id, Reason: r.String(), Number: e.number, Attempt: e.attempt})
	if r == CallbackInvalid || e.attempt >= e.q.cfg.CallbackAttempts {
		outcome := "failed"
		if r == CallbackInvalid {
			outcome = "invalid"
		}
		d.log.Info("acd: callback given up", "call_id", e.req.CallID, "queue", e.q.cfg.Name, "outcome", outcome, "attempts", e.attempt)
		d.emit(e, Event{Kind: EventCallbackDone, Reason: outcome, Number: e.number, Attempt: e.attempt})
		if d.m != nil {
			d.m.callbacks.WithLabelValues(e.q.cfg.Name, outcome).Inc()
		}
		d.finish(e, nil)
	} else {
		e.state = stParked
		gen := e.qgen
		e.retryTimer = d.clock.AfterFunc(e.q.cfg.CallbackRetryDelay, func() {
			d.lock()
			defer d.unlock()
			if d.closed || e.state != stParked || e.qgen != gen {
				return
			}
			e.retryTimer = nil
			d.place(e)
		})
	}
	d.becomeFree(ag)
}

// CancelCallback drops a pending callback request (the citizen called again,
// or a supervisor removed it). An attempt in progress is left to finish.
func (d *Dispatcher) CancelCallback(callID string) error {
	d.lock()
	defer d.unlock()
	e := d.calls[callID]
	if e == nil || !e.callback {
		return fmt.Errorf("%w: no callback request %s", ErrBadRequest, callID)
	}
	switch e.state {
	case stWaiting:
		d.unindex(e)
	case stParked:
	default:
		return fmt.Errorf("%w: callback attempt in progress", ErrBadState)
	}
	d.emit(e, Event{Kind: EventCallbackDone, Reason: "cancelled", Number: e.number, Attempt: e.attempt})
	d.finish(e, nil)
	return nil
}
