package acd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Errors. Compare with errors.Is; an *ExitError carries where the caller goes.
var (
	ErrClosed         = errors.New("acd: dispatcher closed")
	ErrUnknownQueue   = errors.New("acd: unknown queue")
	ErrDuplicateCall  = errors.New("acd: call already queued")
	ErrBadRequest     = errors.New("acd: bad request")
	ErrBadAgent       = errors.New("acd: bad agent")
	ErrNotLoggedIn    = errors.New("acd: agent not logged in")
	ErrBadState       = errors.New("acd: not possible in this state")
	ErrAbandoned      = errors.New("acd: caller abandoned")
	ErrConnected      = errors.New("acd: call already connected")
	ErrCallbackQueued = errors.New("acd: caller converted to a callback request")
	ErrStale          = errors.New("acd: assignment no longer current")
	ErrNoCallbacks    = errors.New("acd: callbacks not configured")
	ErrInvalidNumber  = errors.New("acd: invalid callback number")
)

// Exit reasons.
const (
	ReasonFull    = "full"
	ReasonMaxWait = "max-wait"
	ReasonEmpty   = "empty"
)

// ExitError says a caller cannot be (or stay) queued and where to send them.
type ExitError struct {
	Queue  string
	Reason string // ReasonFull, ReasonMaxWait, ReasonEmpty
	Target string // the configured destination (may be empty: the call layer's default)
}

func (e *ExitError) Error() string {
	return fmt.Sprintf("acd: queue %s: %s, go to %q", e.Queue, e.Reason, e.Target)
}

// Request is a caller asking for an agent.
type Request struct {
	CallID   string // unique among queued calls
	Queue    string
	Priority int    // higher is served first (e.g. urgent, repeat caller)
	Number   string // the caller's number, for callbacks
	// Arrived, if set, is when the call first queued: a call sent back to a
	// queue (transfer, return) keeps its place. Zero means now.
	Arrived time.Time
}

// maxHops bounds how often one request may move between queues, so that a
// configuration with overflow cycles cannot loop.
const maxHops = 8

type entryState uint8

const (
	stWaiting entryState = iota
	stOffered
	stConnected
	stParked // a callback between attempts
	stDone
)

// entry is a request in the dispatcher: a live call or a callback request.
type entry struct {
	seq      uint64
	req      Request
	q        *queue
	arrived  time.Time // ordering key, kept across moves
	joinedQ  time.Time // entered the current queue: relaxation and max wait count from here
	qgen     uint64    // bumped on every move: stale timers check it
	hops     int
	state    entryState
	callback bool
	number   string
	attempt  int
	missed   bool // a missed-call callback (漏接回拨)

	members   []*member
	minProf   int
	fallbacks []string
	relaxNext int

	relaxTimer, waitTimer, retryTimer Timer

	offer       *offer
	ticket      *Ticket
	connectedAt time.Time
	events      []Event
}

func (e *entry) live() bool { return !e.callback }

// maxCallEvents bounds the per-call log kept in memory; the sink gets all.
const maxCallEvents = 256

// Dispatcher is the ACD: queues, agents and the routing between them. It is
// one state machine behind one mutex; every method is safe for concurrent use.
type Dispatcher struct {
	opts  Options
	clock Clock
	log   *slog.Logger
	cfg   Config
	m     *metrics

	mu      sync.Mutex
	closed  bool
	seq     uint64 // orders requests that arrived at the same instant
	evSeq   uint64
	queues  map[string]*queue
	agents  map[string]*agent
	skills  map[string]*skillIndex
	calls   map[string]*entry // live and callback requests by call id
	byState [numAgentStates]int
	emptied map[string]bool // skills whose counts fell to zero in this operation

	out   outbox
	subMu sync.Mutex
	subs  []*subscriber
}

// New builds a dispatcher for cfg.
func New(cfg Config, opts Options) (*Dispatcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxNoAnswer == 0 {
		cfg.MaxNoAnswer = 2
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d := &Dispatcher{
		opts: opts, clock: opts.Clock, log: opts.Logger, cfg: cfg,
		queues: map[string]*queue{}, agents: map[string]*agent{}, skills: map[string]*skillIndex{},
		calls: map[string]*entry{}, emptied: map[string]bool{},
	}
	for _, qc := range cfg.Queues {
		qc.setDefaults()
		d.queues[qc.Name] = newQueue(qc)
	}
	if opts.Registerer != nil {
		m, err := newMetrics(d, opts.Registerer)
		if err != nil {
			return nil, err
		}
		d.m = m
	}
	return d, nil
}

// Close ends every waiting request with ErrClosed, stops all timers and
// unregisters the metrics. Agents keep no state across a restart.
func (d *Dispatcher) Close() error {
	d.lock()
	defer d.unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	for _, e := range d.calls {
		stopTimers(e)
		if e.offer != nil && e.offer.timer != nil {
			e.offer.timer.Stop()
		}
		if e.ticket != nil {
			e.ticket.end(ErrClosed)
		}
		e.state = stDone
	}
	for _, ag := range d.agents {
		if ag.wrapTimer != nil {
			ag.wrapTimer.Stop()
		}
	}
	for _, q := range d.queues {
		if q.emptyTimer != nil {
			q.emptyTimer.Stop()
		}
	}
	if d.m != nil {
		d.m.unregister()
	}
	return nil
}

func stopTimers(e *entry) {
	for _, t := range []Timer{e.relaxTimer, e.waitTimer, e.retryTimer} {
		if t != nil {
			t.Stop()
		}
	}
	e.relaxTimer, e.waitTimer, e.retryTimer = nil, nil, nil
}

func (d *Dispatcher) lock() { d.mu.Lock() }

// unlock settles what the operation left pending (queues that became empty),
// releases the lock and delivers the events it produced.
func (d *Dispatcher) unlock() {
	if len(d.emptied) > 0 && !d.closed {
		d.leaveEmpty()
	}
	d.mu.Unlock()
	d.flush()
}

func (d *Dispatcher) emit(e *entry, ev Event) {
	d.evSeq++
	ev.Seq = d.evSeq
	ev.Time = d.clock.Now()
	if e != nil {
		if ev.CallID == "" {
			ev.CallID = e.req.CallID
		}
		if ev.Queue == "" {
			ev.Queue = e.q.cfg.Name
		}
		if len(e.events) < maxCallEvents {
			e.events = append(e.events, ev)
		}
	}
	d.out.push(outItem{ev: &ev})
}

// Enqueue queues r and blocks until an agent is reserved for it. ctx is the
// caller's call: cancelling it (hang-up) at any time before Answered abandons
// the request, and releases an agent that is ringing for it. After a NoAnswer,
// Rejected or AgentGone report, wait for the next agent with a.Ticket.Wait.
func (d *Dispatcher) Enqueue(ctx context.Context, r Request) (Assignment, error) {
	t, err := d.Join(ctx, r)
	if err != nil {
		return Assignment{}, err
	}
	return t.Wait()
}

// Join queues r without blocking; see Enqueue for ctx. The error is an
// *ExitError when the queue refuses the caller (full, no agents).
func (d *Dispatcher) Join(ctx context.Context, r Request) (*Ticket, error) {
	if r.CallID == "" {
		return nil, fmt.Errorf("%w: empty call id", ErrBadRequest)
	}
	d.lock()
	defer d.unlock()
	if d.closed {
		return nil, ErrClosed
	}
	q := d.queues[r.Queue]
	if q == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownQueue, r.Queue)
	}
	if d.calls[r.CallID] != nil {
		return nil, fmt.Errorf("%w: %s", ErrDuplicateCall, r.CallID)
	}
	now := d.clock.Now()
	// Follow refusal destinations that are queues, as far as maxHops.
	for hops := 0; ; hops++ {
		reason, dest := "", Destination{}
		switch {
		case d.isEmpty(q, q.cfg.JoinEmpty):
			reason, dest = ReasonEmpty, q.cfg.OnEmpty
		case q.cfg.MaxLength > 0 && q.live >= q.cfg.MaxLength:
			reason, dest = ReasonFull, q.cfg.OnFull
		}
		if reason == "" {
			break
		}
		if dest.Queue != "" && hops < maxHops {
			q = d.queues[dest.Queue]
			continue
		}
		d.emit(nil, Event{Kind: EventRefused, CallID: r.CallID, Queue: q.cfg.Name, Reason: reason, Target: dest.Target})
		if d.m != nil {
			d.m.exited.WithLabelValues(q.cfg.Name, reason).Inc()
		}
		return nil, &ExitError{Queue: q.cfg.Name, Reason: reason, Target: dest.Target}
	}
	d.seq++
	e := &entry{seq: d.seq, req: r, q: q, arrived: r.Arrived, joinedQ: now, minProf: q.cfg.MinProficiency}
	if e.arrived.IsZero() || e.arrived.After(now) {
		e.arrived = now
	}
	e.req.Arrived = e.arrived
	t := &Ticket{d: d, e: e, ctx: ctx, ch: make(chan struct{})}
	e.ticket = t
	d.calls[r.CallID] = e
	q.live++
	if d.m != nil {
		d.m.entered.WithLabelValues(q.cfg.Name).Inc()
	}
	d.emit(e, Event{Kind: EventEnter, Position: d.position(e), Wait: now.Sub(e.arrived)})
	d.armMaxWait(e)
	d.place(e)
	if ctx != nil && ctx.Done() != nil {
		t.stopCtx = context.AfterFunc(ctx, func() { _ = t.Abandon() })
	}
	return t, nil
}

// place makes e wait in its queue (after applying the relaxation steps that
// are due, which may move it) and routes it.
func (d *Dispatcher) place(e *entry) {
	now := d.clock.Now()
	for {
		if e.live() && e.q.cfg.MaxWait > 0 && now.Sub(e.joinedQ) >= e.q.cfg.MaxWait {
			if d.exit(e, ReasonMaxWait, e.q.cfg.OnMaxWait) {
				return
			}
			continue // moved to another queue
		}
		if ov := d.applyDueRelax(e); ov != "" && d.move(e, ov, "overflow") {
			continue
		}
		break
	}
	e.state = stWaiting
	d.index(e)
	d.armRelax(e)
	d.routeEntry(e)
}

// applyDueRelax applies every relaxation step due by now and returns the
// overflow queue of the first step that asks for one.
func (d *Dispatcher) applyDueRelax(e *entry) string {
	steps := e.q.cfg.Relax
	now := d.clock.Now()
	for e.relaxNext < len(steps) && !e.joinedQ.Add(steps[e.relaxNext].After).After(now) {
		s := steps[e.relaxNext]
		e.relaxNext++
		if s.MinProficiency != 0 && s.MinProficiency < e.minProf {
			e.minProf = s.MinProficiency
			d.emit(e, Event{Kind: EventRelax, Reason: fmt.Sprintf("min-proficiency=%d", s.MinProficiency), Wait: now.Sub(e.arrived)})
		}
		if s.FallbackSkill != "" && !contains(e.fallbacks, s.FallbackSkill) {
			e.fallbacks = append(e.fallbacks, s.FallbackSkill)
			d.emit(e, Event{Kind: EventRelax, Reason: "fallback-skill=" + s.FallbackSkill, Wait: now.Sub(e.arrived)})
		}
		if s.Overflow != "" {
			return s.Overflow
		}
	}
	return ""
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func (d *Dispatcher) armRelax(e *entry) {
	if e.relaxTimer != nil {
		e.relaxTimer.Stop()
		e.relaxTimer = nil
	}
	steps := e.q.cfg.Relax
	if e.relaxNext >= len(steps) {
		return
	}
	gen, next := e.qgen, e.relaxNext
	due := e.joinedQ.Add(steps[next].After).Sub(d.clock.Now())
	e.relaxTimer = d.clock.AfterFunc(due, func() {
		d.lock()
		defer d.unlock()
		if d.closed || e.state != stWaiting || e.qgen != gen || e.relaxNext != next {
			return // an offered request relaxes when it comes back
		}
		d.unindex(e)
		d.place(e)
	})
}

func (d *Dispatcher) armMaxWait(e *entry) {
	if e.waitTimer != nil {
		e.waitTimer.Stop()
		e.waitTimer = nil
	}
	if !e.live() || e.q.cfg.MaxWait <= 0 {
		return
	}
	gen := e.qgen
	due := e.joinedQ.Add(e.q.cfg.MaxWait).Sub(d.clock.Now())
	e.waitTimer = d.clock.AfterFunc(due, func() {
		d.lock()
		defer d.unlock()
		if d.closed || e.state != stWaiting || e.qgen != gen {
			return // an offered caller is checked when it comes back
		}
		d.unindex(e)
		if !d.exit(e, ReasonMaxWait, e.q.cfg.OnMaxWait) {
			d.place(e)
		}
	})
}

// exit sends a (not indexed) live request to dest. It reports true if the
// request left the dispatcher, false if it moved to dest.Queue.
func (d *Dispatcher) exit(e *entry, reason string, dest Destination) bool {
	if dest.Queue != "" && d.move(e, dest.Queue, reason) {
		return false
	}
	now := d.clock.Now()
	d.log.Info("acd: caller sent out of the queue", "call_id", e.req.CallID, "queue", e.q.cfg.Name, "reason", reason, "target", dest.Target)
	d.emit(e, Event{Kind: EventExit, Reason: reason, Target: dest.Target, Wait: now.Sub(e.arrived)})
	if d.m != nil {
		d.m.exited.WithLabelValues(e.q.cfg.Name, reason).Inc()
	}
	d.finish(e, &ExitError{Queue: e.q.cfg.Name, Reason: reason, Target: dest.Target})
	return true
}

// move puts a (not indexed) request into another queue, keeping its arrival
// time and priority. It refuses when the hop limit is reached or a live
// caller would exceed the target's maximum length.
func (d *Dispatcher) move(e *entry, to, reason string) bool {
	nq := d.queues[to]
	if nq == nil || nq == e.q || e.hops >= maxHops || e.live() && nq.cfg.MaxLength > 0 && nq.live >= nq.cfg.MaxLength {
		return false
	}
	from := e.q
	if e.live() {
		from.live--
		nq.live++
	} else {
		from.callbacks--
		nq.callbacks++
	}
	e.q = nq
	e.hops++
	e.qgen++
	e.joinedQ = d.clock.Now()
	e.minProf = nq.cfg.MinProficiency
	e.fallbacks = nil
	e.relaxNext = 0
	d.emit(e, Event{Kind: EventOverflow, Prev: from.cfg.Name, Reason: reason, Wait: d.clock.Now().Sub(e.arrived)})
	d.armMaxWait(e)
	return true
}

// finish removes a request from the dispatcher for good.
func (d *Dispatcher) finish(e *entry, err error) {
	stopTimers(e)
	if e.state != stConnected {
		if e.live() {
			e.q.live--
		} else {
			e.q.callbacks--
		}
	}
	e.state = stDone
	delete(d.calls, e.req.CallID)
	if e.ticket != nil {
		e.ticket.end(err)
	}
}

// position is e's 1-based place among the requests waiting in its queue
// (callbacks included: they keep their place). O(requests in the queue).
func (d *Dispatcher) position(e *entry) int {
	n := 1
	for x := range e.q.waiting {
		if x != e && ahead(x, e) {
			n++
		}
	}
	return n
}

// isEmpty applies an empty rule to a queue's skill.
func (d *Dispatcher) isEmpty(q *queue, rule EmptyRule) bool {
	s := d.skills[q.cfg.Skill]
	switch rule {
	case EmptyNoneLoggedIn:
		return s == nil || s.loggedIn == 0
	case EmptyNoneServing:
		return s == nil || s.serving == 0
	}
	return false
}

// leaveEmpty sends waiting live callers away from queues whose skill lost
// its last agent, in queue order, after the queue's grace period (a shift
// change should not empty the queue). Callbacks stay: nobody holds a line.
func (d *Dispatcher) leaveEmpty() {
	emptied := d.emptied
	d.emptied = map[string]bool{}
	names := make([]string, 0, len(d.queues))
	for n := range d.queues {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		q := d.queues[n]
		if !emptied[q.cfg.Skill] || !d.isEmpty(q, q.cfg.LeaveEmpty) {
			continue
		}
		if q.cfg.LeaveEmptyGrace <= 0 {
			d.evictEmpty(q)
			continue
		}
		if q.emptyTimer != nil {
			continue // already counting down
		}
		q.emptyTimer = d.clock.AfterFunc(q.cfg.LeaveEmptyGrace, func() {
			d.lock()
			defer d.unlock()
			q.emptyTimer = nil
			if !d.closed && d.isEmpty(q, q.cfg.LeaveEmpty) {
				d.evictEmpty(q)
			}
		})
	}
}

func (d *Dispatcher) evictEmpty(q *queue) {
	var leave []*entry
	for e := range q.waiting {
		if e.live() {
			leave = append(leave, e)
		}
	}
	sort.Slice(leave, func(i, j int) bool { return ahead(leave[i], leave[j]) })
	for _, e := range leave {
		d.unindex(e)
		if !d.exit(e, ReasonEmpty, q.cfg.OnEmpty) {
			d.place(e)
		}
	}
}

// Ticket is a caller's place in the dispatcher, from Join until the call is
// answered, abandoned, sent away or turned into a callback.
type Ticket struct {
	d       *Dispatcher
	e       *entry
	ctx     context.Context
	stopCtx func() bool

	// Guarded by d.mu.
	ch       chan struct{} // closed when the current wait ends
	chClosed bool
	asg      *Assignment // an offer not yet taken by Wait
	err      error       // the end, once ended
}

// CallID is the ticket's call.
func (t *Ticket) CallID() string { return t.e.req.CallID }

// Wait blocks until an agent is reserved or the ticket ends (the error says
// how: ErrAbandoned, ErrCallbackQueued, *ExitError, ErrClosed). Cancelling
// the Join context ends it with ErrAbandoned.
func (t *Ticket) Wait() (Assignment, error) {
	var done <-chan struct{}
	if t.ctx != nil {
		done = t.ctx.Done()
	}
	for {
		a, ok, err := t.Poll()
		if ok || err != nil {
			return a, err
		}
		t.d.lock()
		ch := t.ch
		t.d.unlock()
		select {
		case <-ch:
		case <-done:
			_ = t.Abandon()
			done = nil
		}
	}
}

// Poll is Wait without blocking: ok reports an assignment.
func (t *Ticket) Poll() (a Assignment, ok bool, err error) {
	t.d.lock()
	defer t.d.unlock()
	if t.asg != nil {
		a = *t.asg
		t.asg = nil
		return a, true, nil
	}
	if t.err != nil {
		return Assignment{}, false, t.err
	}
	return Assignment{}, false, nil
}

// deliver hands an offer to the waiting caller (under d.mu).
func (t *Ticket) deliver(a *Assignment) {
	t.asg = a
	if !t.chClosed {
		close(t.ch)
		t.chClosed = true
	}
}

// rearm starts a new wait after an offer failed (under d.mu).
func (t *Ticket) rearm(o *offer) {
	if t.asg != nil && t.asg.o == o {
		t.asg = nil
	}
	if t.chClosed && t.err == nil {
		t.ch = make(chan struct{})
		t.chClosed = false
	}
}

// end closes the ticket for good (under d.mu).
func (t *Ticket) end(err error) {
	if t.err != nil {
		return
	}
	t.err = err
	t.asg = nil
	if !t.chClosed {
		close(t.ch)
		t.chClosed = true
	}
	if t.stopCtx != nil {
		t.stopCtx()
	}
	t.e.ticket = nil
}

// Abandon is the caller hanging up before being connected; cancelling the
// Join context does the same. A ringing agent is released. Abandoning a
// ticket that already ended is a no-op.
func (t *Ticket) Abandon() error {
	d := t.d
	d.lock()
	defer d.unlock()
	e := t.e
	if t.err != nil || e.ticket != t || d.closed {
		return nil
	}
	if e.state == stConnected {
		return ErrConnected
	}
	now := d.clock.Now()
	pos := 1 // a caller being offered is at the head
	if e.state == stWaiting {
		pos = d.position(e)
		d.unindex(e)
	}
	wait := now.Sub(e.arrived)
	d.emit(e, Event{Kind: EventAbandon, Position: pos, Wait: wait})
	if d.m != nil {
		d.m.abandoned.WithLabelValues(e.q.cfg.Name).Inc()
	}
	if e.state == stOffered {
		d.withdraw(e.offer, "abandon")
	}
	if e.q.cfg.MissedCallback && d.opts.OnCallback != nil && wait >= e.q.cfg.MissedCallbackMinWait && ValidNumber(e.req.Number) {
		t.end(ErrAbandoned)
		e.missed = true
		d.toCallback(e, e.req.Number, "missed")
		return nil
	}
	d.finish(e, ErrAbandoned)
	return nil
}

// Events returns the call's own events so far (queue_log for this call).
func (t *Ticket) Events() []Event {
	t.d.lock()
	defer t.d.unlock()
	return append([]Event(nil), t.e.events...)
}
