package acd

import (
	"sync"
	"time"
)

// EventKind names a queue or agent event, after Asterisk's queue_log verbs.
type EventKind uint8

const (
	EventEnter             EventKind = iota + 1 // a caller joined Queue
	EventExit                                   // the caller left for Target (Reason: full, max-wait, empty)
	EventRefused                                // the caller could not join (Reason: full, empty)
	EventRelax                                  // a relaxation step applied (Reason says which)
	EventOverflow                               // the request moved from Prev queue to Queue
	EventOffer                                  // an agent was reserved for the call
	EventNoAnswer                               // the agent did not answer (Reason: no-answer, rejected, agent-gone, timeout)
	EventWithdraw                               // the offer ended because the caller left (the agent stops ringing)
	EventConnect                                // the call was answered after Wait
	EventAbandon                                // the caller hung up at Position after Wait
	EventCallbackRequested                      // a callback request took the call's place (Reason: caller, missed)
	EventCallbackMade                           // an attempt to call Number ended (Reason: the outcome)
	EventCallbackDone                           // the callback request ended (Reason: connected, failed, invalid)
	EventComplete                               // the call ended after Talk
	EventAgentState                             // an agent went from Prev to State (Reason: break code)
	EventAgentSkills                            // an agent's Skills were set (login or change)
	EventAgentPending                           // an agent asked for something after its call (Reason: break code, "logout", or "" to cancel)
)

var eventNames = [...]string{
	EventEnter: "ENTERQUEUE", EventExit: "EXITWITHTIMEOUT", EventRefused: "REFUSED",
	EventRelax: "RELAX", EventOverflow: "OVERFLOW", EventOffer: "OFFER", EventNoAnswer: "RINGNOANSWER",
	EventWithdraw: "WITHDRAW", EventConnect: "CONNECT", EventAbandon: "ABANDON",
	EventCallbackRequested: "CALLBACKREQUESTED", EventCallbackMade: "CALLBACKMADE",
	EventCallbackDone: "CALLBACKDONE", EventComplete: "COMPLETE", EventAgentState: "AGENTSTATE",
	EventAgentSkills: "AGENTSKILLS", EventAgentPending: "AGENTPENDING",
}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && eventNames[k] != "" {
		return eventNames[k]
	}
	return "UNKNOWN"
}

// Event is one state transition. Every change of queue or agent state is an
// event, so that a later shared store can replicate the dispatcher by
// replaying them.
type Event struct {
	Seq      uint64 // strictly increasing per dispatcher
	Time     time.Time
	Kind     EventKind
	CallID   string
	Queue    string
	Prev     string // previous queue (overflow) or previous agent state
	AgentID  string
	State    AgentState // agent events: the new state
	Reason   string
	Target   string         // exits: where the caller goes
	Number   string         // callbacks: the number dialled
	Position int            // abandon/enter: 1-based place in the queue
	Wait     time.Duration  // time since the request arrived
	Talk     time.Duration  // complete: time since connect
	Attempt  int            // callbacks: 1-based attempt
	Skills   map[string]int // agent skills events: the new skills (do not modify)
}

// outbox carries work that must happen outside the dispatcher's lock, in the
// order it was produced, even when a sink calls back into the dispatcher.
type outbox struct {
	mu      sync.Mutex // guards items; taken with or without d.mu held
	items   []outItem
	deliver sync.Mutex // held by the goroutine delivering
}

type outItem struct {
	ev *Event
	cb *Assignment
}

func (o *outbox) push(it outItem) {
	o.mu.Lock()
	o.items = append(o.items, it)
	o.mu.Unlock()
}

func (o *outbox) take() []outItem {
	o.mu.Lock()
	defer o.mu.Unlock()
	it := o.items
	o.items = nil
	return it
}

func (o *outbox) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.items) == 0
}

// flush delivers pending items. A nested call (from a sink) or a concurrent
// one returns at once: the goroutine already delivering picks its items up.
func (d *Dispatcher) flush() {
	for {
		if !d.out.deliver.TryLock() {
			return
		}
		for {
			items := d.out.take()
			if len(items) == 0 {
				break
			}
			for _, it := range items {
				if it.ev != nil {
					d.deliver(*it.ev)
				}
				if it.cb != nil && d.opts.OnCallback != nil {
					d.opts.OnCallback(*it.cb)
				}
			}
		}
		d.out.deliver.Unlock()
		if d.out.empty() {
			return
		}
	}
}

func (d *Dispatcher) deliver(ev Event) {
	if d.opts.Sink != nil {
		d.opts.Sink(ev)
	}
	d.subMu.Lock()
	for _, s := range d.subs {
		select {
		case s.ch <- ev:
		default:
			s.dropped++
			if d.m != nil {
				d.m.dropped.Inc()
			}
		}
	}
	d.subMu.Unlock()
}

type subscriber struct {
	ch      chan Event
	dropped uint64
}

// Subscribe returns a channel of events for a wallboard. Delivery never
// blocks routing: when the buffer is full, events are dropped and counted
// (take a Snapshot to resynchronise). cancel closes the channel.
func (d *Dispatcher) Subscribe(buffer int) (events <-chan Event, cancel func()) {
	if buffer < 1 {
		buffer = 1
	}
	s := &subscriber{ch: make(chan Event, buffer)}
	d.subMu.Lock()
	d.subs = append(d.subs, s)
	d.subMu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			d.subMu.Lock()
			defer d.subMu.Unlock()
			for i, x := range d.subs {
				if x == s {
					d.subs = append(d.subs[:i], d.subs[i+1:]...)
					break
				}
			}
			close(s.ch)
		})
	}
}
