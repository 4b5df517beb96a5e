package acd

import "fmt"

// CheckInvariants verifies the state machine's bookkeeping from scratch. The
// property tests call it after every step.
func (d *Dispatcher) CheckInvariants() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil // frozen: Close ends requests without tidying indexes
	}
	reservedBy := map[*entry]*agent{}
	type counts struct{ loggedIn, serving, ready int }
	want := map[string]*counts{}
	var byState [numAgentStates]int
	for _, ag := range d.agents {
		byState[ag.state]++
		switch ag.state {
		case Reserved, OnCall:
			if ag.offer == nil || ag.offer.ag != ag {
				return fmt.Errorf("agent %s %s without its offer", ag.id, ag.state)
			}
			if ag.state == Reserved {
				if ag.offer.answered || ag.offer.e.offer != ag.offer || ag.offer.e.state != stOffered {
					return fmt.Errorf("agent %s reserved for a request that is not offered to it", ag.id)
				}
				if other := reservedBy[ag.offer.e]; other != nil {
					return fmt.Errorf("request %s reserved by %s and %s", ag.offer.e.req.CallID, other.id, ag.id)
				}
				reservedBy[ag.offer.e] = ag
			}
		default:
			if ag.offer != nil {
				return fmt.Errorf("agent %s %s with an offer", ag.id, ag.state)
			}
		}
		if ag.state == LoggedOut {
			if len(ag.nodes) != 0 {
				return fmt.Errorf("agent %s logged out but listed ready", ag.id)
			}
			continue
		}
		for s, p := range ag.skills {
			c := want[s]
			if c == nil {
				c = &counts{}
				want[s] = c
			}
			c.loggedIn++
			if ag.state != Break {
				c.serving++
			}
			if ag.state == Ready {
				c.ready++
				n := ag.nodes[s]
				if n == nil || n.Value.(*agent) != ag {
					return fmt.Errorf("ready agent %s missing from list %s", ag.id, s)
				}
				_ = p
			} else if len(ag.nodes) != 0 {
				return fmt.Errorf("agent %s %s still listed ready", ag.id, ag.state)
			}
		}
	}
	if byState != d.byState {
		return fmt.Errorf("agents by state %v, counted %v", d.byState, byState)
	}
	for name, s := range d.skills {
		c := want[name]
		if c == nil {
			c = &counts{}
		}
		if s.loggedIn != c.loggedIn || s.serving != c.serving || s.readyN != c.ready {
			return fmt.Errorf("skill %s counts %d/%d/%d, want %d/%d/%d", name, s.loggedIn, s.serving, s.readyN, c.loggedIn, c.serving, c.ready)
		}
		n := 0
		for p := MinProficiency; p <= MaxProficiency; p++ {
			n += s.ready[p].Len()
			for el := s.ready[p].Front(); el != nil; el = el.Next() {
				ag := el.Value.(*agent)
				if ag.state != Ready || ag.skills[name] != p {
					return fmt.Errorf("skill %s list %d holds agent %s (%s, proficiency %d)", name, p, ag.id, ag.state, ag.skills[name])
				}
				if nx := el.Next(); nx != nil && nx.Value.(*agent).readySince.Before(ag.readySince) {
					return fmt.Errorf("skill %s list %d not ordered by idle time", name, p)
				}
			}
			h := s.waiting[p]
			for i, m := range h {
				if m.index != i || m.e.state != stWaiting {
					return fmt.Errorf("skill %s heap %d: bad member %s", name, p, m.e.req.CallID)
				}
			}
			if !heapOK(h) {
				return fmt.Errorf("skill %s heap %d out of order", name, p)
			}
		}
		if n != s.readyN {
			return fmt.Errorf("skill %s: %d listed, %d ready", name, n, s.readyN)
		}
	}
	live := map[*queue]int{}
	cbs := map[*queue]int{}
	for id, e := range d.calls {
		if e.req.CallID != id {
			return fmt.Errorf("call %s filed as %s", e.req.CallID, id)
		}
		switch e.state {
		case stWaiting:
			if _, ok := e.q.waiting[e]; !ok || len(e.members) == 0 {
				return fmt.Errorf("waiting request %s not indexed", id)
			}
			if e.offer != nil {
				return fmt.Errorf("waiting request %s has an offer", id)
			}
		case stOffered:
			if e.offer == nil || reservedBy[e] != e.offer.ag {
				return fmt.Errorf("offered request %s without its agent", id)
			}
		case stParked:
			if !e.callback {
				return fmt.Errorf("live call %s parked", id)
			}
		default:
			return fmt.Errorf("request %s in state %d still filed", id, e.state)
		}
		if e.state != stWaiting && len(e.members) != 0 {
			return fmt.Errorf("request %s indexed while not waiting", id)
		}
		if e.live() {
			live[e.q]++
			if e.ticket == nil {
				return fmt.Errorf("live call %s without a ticket", id)
			}
		} else {
			cbs[e.q]++
		}
	}
	for _, q := range d.queues {
		if q.live != live[q] || q.callbacks != cbs[q] {
			return fmt.Errorf("queue %s live %d callbacks %d, counted %d %d", q.cfg.Name, q.live, q.callbacks, live[q], cbs[q])
		}
		for e := range q.waiting {
			if e.q != q || e.state != stWaiting {
				return fmt.Errorf("queue %s lists %s wrongly", q.cfg.Name, e.req.CallID)
			}
		}
	}
	// Routing is work-conserving: no ready agent may take a waiting request.
	for _, ag := range d.agents {
		if ag.state != Ready {
			continue
		}
		for s, p := range ag.skills {
			si := d.skills[s]
			for l := MinProficiency; l <= p; l++ {
				if len(si.waiting[l]) > 0 {
					return fmt.Errorf("agent %s ready while %s waits for skill %s", ag.id, si.waiting[l][0].e.req.CallID, s)
				}
			}
		}
	}
	return nil
}

func heapOK(h entryHeap) bool {
	for i := 1; i < len(h); i++ {
		if h.Less(i, (i-1)/2) {
			return false
		}
	}
	return true
}

// SameOffer reports whether two assignments are the same offer.
func (a Assignment) SameOffer(b Assignment) bool { return a.o == b.o }
