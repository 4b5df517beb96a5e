package acd

import (
	"fmt"
	"maps"
	"sort"
	"time"
)

// RequestState is where a request is, for announcements and wallboards.
type RequestState uint8

const (
	RequestWaiting   RequestState = iota // in the queue
	RequestOffered                       // an agent is ringing
	RequestParked                        // a callback between attempts
	RequestConnected                     // answered (no longer tracked after this)
)

// Status is a request's place in its queue.
type Status struct {
	CallID   string
	Queue    string
	State    RequestState
	Callback bool
	Position int           // 1-based among requests waiting in the queue; 0 when not waiting
	Waited   time.Duration // since arrival
	// EWT is the estimated wait from now; EWTKnown is false when no agent
	// serves the queue, so there is nothing to estimate from.
	EWT      time.Duration
	EWTKnown bool
}

// Status reports the ticket's position and estimated wait (for position and
// wait announcements). It fails once the ticket has ended.
//
// The estimated wait of the caller at position P is
//
//	EWT = max(0, P − R) × AHT / S
//
// with R the ready agents of the queue's skill, S the agents serving it
// (logged in and not on break) and AHT the queue's recent mean handle time
// (connect to end of wrap-up, weighted to the last ~20 calls; the queue's
// DefaultHandleTime before the first). With S agents busy a place frees up
// every AHT/S on average and the caller needs P − R of them. It ignores
// relaxation and later higher-priority arrivals: a guide for announcements.
func (t *Ticket) Status() (Status, error) {
	t.d.lock()
	defer t.d.unlock()
	if t.err != nil {
		return Status{}, t.err
	}
	return t.d.status(t.e), nil
}

// Status reports a queued request (live or callback) by call id.
func (d *Dispatcher) Status(callID string) (Status, error) {
	d.lock()
	defer d.unlock()
	e := d.calls[callID]
	if e == nil {
		return Status{}, fmt.Errorf("%w: %s not queued", ErrBadRequest, callID)
	}
	return d.status(e), nil
}

func (d *Dispatcher) status(e *entry) Status {
	s := Status{CallID: e.req.CallID, Queue: e.q.cfg.Name, Callback: e.callback, Waited: d.clock.Now().Sub(e.arrived)}
	switch e.state {
	case stWaiting:
		s.State = RequestWaiting
		s.Position = d.position(e)
		s.EWT, s.EWTKnown = d.ewt(e.q, s.Position)
	case stOffered:
		s.State = RequestOffered
		s.EWTKnown = true
	case stParked:
		s.State = RequestParked
	case stConnected, stDone:
		s.State = RequestConnected
		s.EWTKnown = true
	}
	return s
}

// ewt is the estimate documented on Ticket.Status.
func (d *Dispatcher) ewt(q *queue, pos int) (time.Duration, bool) {
	s := d.skills[q.cfg.Skill]
	if s == nil || s.serving == 0 {
		return 0, false
	}
	n := pos - s.readyN
	if n <= 0 {
		return 0, true
	}
	return time.Duration(float64(n) * float64(q.aht) / float64(s.serving)), true
}

// QueueStatus is one queue on the wallboard.
type QueueStatus struct {
	Name                                       string
	Skill                                      string
	Waiting                                    int           // live callers waiting (not ringing)
	Ringing                                    int           // live callers being offered
	Callbacks                                  int           // callback requests pending
	Longest                                    time.Duration // longest current wait among live callers
	AHT                                        time.Duration
	EWT                                        time.Duration // for a caller joining now
	EWTKnown                                   bool
	AgentsLoggedIn, AgentsServing, AgentsReady int
}

// AgentStatus is one agent on the wallboard.
type AgentStatus struct {
	ID            string
	State         AgentState
	Reason        string // break reason
	Since         time.Time
	Skills        map[string]int
	CallID        string // ringing or on call
	Queue         string
	Misses        int
	PendingBreak  string
	PendingLogout bool
	// Totals is time spent per state since the dispatcher started, up to now.
	Totals map[AgentState]time.Duration
}

// Snapshot is the whole state, for a wallboard that starts (or resyncs after
// dropped events).
type Snapshot struct {
	Time   time.Time
	Seq    uint64 // the last event included
	Queues []QueueStatus
	Agents []AgentStatus
}

// Snapshot returns the current state, queues and agents sorted by name.
func (d *Dispatcher) Snapshot() Snapshot {
	d.lock()
	defer d.unlock()
	now := d.clock.Now()
	snap := Snapshot{Time: now, Seq: d.evSeq}
	for _, q := range d.queues {
		snap.Queues = append(snap.Queues, d.queueStatus(q, now))
	}
	sort.Slice(snap.Queues, func(i, j int) bool { return snap.Queues[i].Name < snap.Queues[j].Name })
	for _, ag := range d.agents {
		as := AgentStatus{ID: ag.id, State: ag.state, Reason: ag.reason, Since: ag.since, Skills: maps.Clone(ag.skills),
			Misses: ag.misses, PendingLogout: ag.pendingLogout, Totals: map[AgentState]time.Duration{}}
		if ag.pendingBreak {
			as.PendingBreak = ag.pendingReason
		}
		if ag.offer != nil {
			as.CallID, as.Queue = ag.offer.e.req.CallID, ag.offer.q.cfg.Name
		}
		for st := LoggedOut; st < numAgentStates; st++ {
			tot := ag.totals[st]
			if st == ag.state {
				tot += now.Sub(ag.since)
			}
			if tot > 0 {
				as.Totals[st] = tot
			}
		}
		snap.Agents = append(snap.Agents, as)
	}
	sort.Slice(snap.Agents, func(i, j int) bool { return snap.Agents[i].ID < snap.Agents[j].ID })
	return snap
}

func (d *Dispatcher) queueStatus(q *queue, now time.Time) QueueStatus {
	qs := QueueStatus{Name: q.cfg.Name, Skill: q.cfg.Skill, Callbacks: q.callbacks, AHT: q.aht}
	for e := range q.waiting {
		if !e.live() {
			continue
		}
		qs.Waiting++
		if w := now.Sub(e.arrived); w > qs.Longest {
			qs.Longest = w
		}
	}
	qs.Ringing = q.live - qs.Waiting
	if s := d.skills[q.cfg.Skill]; s != nil {
		qs.AgentsLoggedIn, qs.AgentsServing, qs.AgentsReady = s.loggedIn, s.serving, s.readyN
	}
	qs.EWT, qs.EWTKnown = d.ewt(q, len(q.waiting)+1)
	return qs
}
