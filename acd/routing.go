package acd

import (
	"container/heap"
	"container/list"
	"time"
)

// skillIndex holds, for one skill, the ready agents and the waiting requests
// bucketed by proficiency, so that a routing decision looks at a few list
// fronts and heap tops rather than at every agent or caller.
type skillIndex struct {
	// ready[p]: ready agents with proficiency p, longest idle at the front.
	ready [MaxProficiency + 1]list.List
	// waiting[l]: waiting requests that accept proficiency l or better,
	// highest priority then earliest arrival at the top.
	waiting [MaxProficiency + 1]entryHeap

	loggedIn, serving, readyN int
}

func (d *Dispatcher) skill(name string) *skillIndex {
	s := d.skills[name]
	if s == nil {
		s = &skillIndex{}
		d.skills[name] = s
	}
	return s
}

// member is one place of a request in a skill's waiting heap.
type member struct {
	e     *entry
	skill string
	level int
	index int
}

type entryHeap []*member

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return ahead(h[i].e, h[j].e) }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *entryHeap) Push(x any) {
	m := x.(*member)
	m.index = len(*h)
	*h = append(*h, m)
}
func (h *entryHeap) Pop() any {
	old := *h
	m := old[len(old)-1]
	old[len(old)-1] = nil
	m.index = -1
	*h = old[:len(old)-1]
	return m
}

// ahead orders requests: higher priority first, then earlier arrival (the
// original arrival, kept across overflow, no-answer and callback), then
// sequence so that order is total and deterministic.
func ahead(a, b *entry) bool {
	if a.req.Priority != b.req.Priority {
		return a.req.Priority > b.req.Priority
	}
	if !a.arrived.Equal(b.arrived) {
		return a.arrived.Before(b.arrived)
	}
	return a.seq < b.seq
}

// index puts a waiting request into the heaps of every skill it accepts.
func (d *Dispatcher) index(e *entry) {
	add := func(skill string, level int) {
		m := &member{e: e, skill: skill, level: level}
		heap.Push(&d.skill(skill).waiting[level], m)
		e.members = append(e.members, m)
	}
	add(e.q.cfg.Skill, e.minProf)
	for _, fb := range e.fallbacks {
		if fb != e.q.cfg.Skill {
			add(fb, MinProficiency)
		}
	}
	e.q.waiting[e] = struct{}{}
}

func (d *Dispatcher) unindex(e *entry) {
	for _, m := range e.members {
		if m.index >= 0 {
			heap.Remove(&d.skill(m.skill).waiting[m.level], m.index)
		}
	}
	e.members = e.members[:0]
	delete(e.q.waiting, e)
}

// routeEntry offers a newly waiting request to the best ready agent, if any:
// the queue's own skill first, best proficiency first, longest idle first;
// then agents with a fallback skill. O(skills × proficiency levels).
func (d *Dispatcher) routeEntry(e *entry) {
	start := time.Now()
	var best *agent
	bestProf := 0
	if s := d.skills[e.q.cfg.Skill]; s != nil {
		for p := MaxProficiency; p >= e.minProf && best == nil; p-- {
			if f := s.ready[p].Front(); f != nil {
				best, bestProf = f.Value.(*agent), p
			}
		}
	}
	if best == nil {
		for _, fb := range e.fallbacks {
			s := d.skills[fb]
			if s == nil {
				continue
			}
			for p := MaxProficiency; p >= MinProficiency; p-- {
				f := s.ready[p].Front()
				if f == nil {
					continue
				}
				ag := f.Value.(*agent)
				if best == nil || p > bestProf || p == bestProf && ag.readySince.Before(best.readySince) {
					best, bestProf = ag, p
				}
				break
			}
		}
	}
	if best != nil {
		d.offer(e, best)
	}
	d.observeRouting(start)
}

// routeAgent gives a newly ready agent the request that has the highest
// priority and has waited longest among everything the agent may take, across
// all its skills and queues: one global order is what keeps an agent in
// several queues fair to all of them. O(skills × proficiency levels).
func (d *Dispatcher) routeAgent(ag *agent) {
	start := time.Now()
	var best *entry
	for s, p := range ag.skills {
		si := d.skills[s]
		if si == nil {
			continue
		}
		for l := MinProficiency; l <= p; l++ {
			if h := si.waiting[l]; len(h) > 0 && (best == nil || ahead(h[0].e, best)) {
				best = h[0].e
			}
		}
	}
	if best != nil {
		d.offer(best, ag)
	}
	d.observeRouting(start)
}

func (d *Dispatcher) observeRouting(start time.Time) {
	if d.m != nil {
		d.m.routing.Observe(time.Since(start).Seconds())
	}
}
