package call

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
)

// Agent is a person who takes calls, as the call layer knows them.
type Agent struct {
	ID      string
	Name    string
	Skills  map[string]int // skill → proficiency 1–5
	Contact string         // static SIP contact of a desk phone, e.g. sip:1001@10.0.2.21:5060
	// AutoReady logs the agent in and makes them ready at start (an always-on seat).
	AutoReady bool
}

// Queueing is what the call layer needs from the ACD.
type Queueing interface {
	Join(ctx context.Context, r acd.Request) (*acd.Ticket, error)
	Login(agentID string, skills map[string]int) error
	Ready(agentID string) error
	Break(agentID, reason string) error
	Logout(agentID string) error
}

// enqueue hands the caller to the ACD and runs the call to its end: hold music while
// waiting, the agent rung and bridged when one is free, the caller back at the head of
// the queue when an agent does not answer, and the survey after the agent hangs up.
func (r *run) enqueue(out ivr.Outcome) {
	s, ctx, c, rec := r.s, r.ctx, r.c, r.rec
	queue := out.Queue
	if queue == "" {
		queue = s.queueFor[out.Skill]
	}
	if s.cfg.ACD == nil || queue == "" {
		r.hold(out) // no agents configured: music until the caller hangs up
		return
	}
	rec.event("queue", fmt.Sprintf("queue %s skill %s", queue, out.Skill))
	offered := time.Now()
	r.cw.add(cases.EventCallOffered, 0, map[string]string{"call_id": c.ID, "dialled": r.n.Number, "queue": queue})
	t, err := s.cfg.ACD.Join(ctx, acd.Request{CallID: c.ID, Queue: queue, Priority: out.Priority, Number: c.Caller})
	if err != nil {
		r.leaveQueue(out, err)
		return
	}
	s.callbackCase(c.ID, r.cw) // a missed call (漏接回拨) is called back into the same case
	answered, calledBack := false, false
	defer func() {
		if answered {
			s.forgetCallbackCase(c.ID)
		}
		if !answered && !calledBack && ctx.Err() != nil { // the caller hung up while waiting
			r.cw.add(cases.EventCallAbandoned, time.Since(offered).Milliseconds(), map[string]string{"queue": queue})
		}
	}()
	hold, _ := s.audio.HoldMusic()
	c.Leg.SetOutbound(hold)
	type offer struct {
		a   acd.Assignment
		err error
	}
	offers := make(chan offer, 1)
	next := func() { // the next agent for this caller; t.Wait ends when ctx does
		go func() {
			a, err := t.Wait()
			offers <- offer{a, err}
		}()
	}
	next()
	ann := newAnnouncer(s.cfg.Announce)
	defer ann.stop()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-c.Leg.Digits():
			if s.cfg.Announce.Callback && s.cfg.CallbackURI != "" && d.Key == callbackKey && c.Caller != "" {
				if err := t.Callback(c.Caller); err == nil {
					calledBack = true // not abandoned: the caller keeps their place as a callback
					rec.event("callback_requested", "keeps its place in queue "+queue)
					r.cw.add(cases.EventQueue, 0, map[string]string{"kind": "CALLBACK_REQUESTED", "queue": queue})
					r.play(out.Language, "callback_confirmed", "goodbye")
					return
				} else {
					r.log.Warn("call: callback refused", "error", err)
				}
			}
			rec.addDigit(d)
		case <-ann.due():
			st, err := t.Status()
			if err == nil && ann.worthSaying(st) {
				p := s.announcement(out.Language, st)
				ann.playing = p.Done()
				c.Leg.SetOutbound(media.Mix(media.Gain(hold, 0.3), p))
				rec.event("announce", fmt.Sprintf("position %d", st.Position))
			}
		case <-ann.ended():
			ann.playing = nil
			c.Leg.SetOutbound(hold) // the music went on under the announcement: no restart
		case o := <-offers:
			if o.err != nil {
				if ctx.Err() == nil {
					r.leaveQueue(out, o.err)
				}
				return
			}
			a := o.a
			agent := s.agents[a.AgentID]
			contact := s.contactOf(agent)
			if s.viaSoftphone(agent, contact) {
				rec.event("offer", fmt.Sprintf("agent %s (softphone) after %s", a.AgentID, a.Wait.Round(time.Millisecond)))
				leg, err := r.ringSoftphone(a, out)
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					rec.event("no_answer", fmt.Sprintf("agent %s: %v", a.AgentID, err))
					next() // back at the head of the queue
					continue
				}
				answered = true
				rec.event("connect", "agent "+a.AgentID+" (softphone)")
				rec.setAgent(a.AgentID)
				r.cw.add(cases.EventCallAnswered, time.Since(offered).Milliseconds(), map[string]string{"agent": a.AgentID, "queue": queue})
				after := r.talkSoftphone(a, leg)
				if after.done || ctx.Err() != nil {
					return
				}
				if after.dest != "" {
					out.Destination = after.dest
					r.transfer(out)
					return
				}
				// The agent vanished, or moved the caller to another queue: back in a queue,
				// keeping their place, with a word before the music.
				if after.queue != "" {
					queue = after.queue
				}
				if t, err = r.requeue(a, queue); err != nil {
					r.leaveQueue(out, err)
					return
				}
				rec.event("requeue", fmt.Sprintf("queue %s: %s", queue, after.why))
				ann.playing = s.audio.Play(c.Leg, out.Language, []string{"please_hold"}).Done()
				next()
				continue
			}
			if contact == "" || contact == SoftphoneContact { // no phone to ring: the agent cannot be rung
				_ = a.AgentGone()
				rec.event("agent_unreachable", "agent "+a.AgentID)
				next()
				continue
			}
			rec.event("offer", fmt.Sprintf("agent %s after %s", a.AgentID, a.Wait.Round(time.Millisecond)))
			peer, err := r.ring(a, contact)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				rec.event("no_answer", fmt.Sprintf("agent %s: %v", a.AgentID, err))
				next() // back at the head of the queue
				continue
			}
			answered = true
			rec.event("connect", "agent "+a.AgentID)
			rec.setAgent(a.AgentID)
			r.cw.add(cases.EventCallAnswered, time.Since(offered).Milliseconds(), map[string]string{"agent": a.AgentID, "queue": queue})
			r.talk(a, peer)
			return
		}
	}
}

// talk bridges the caller and the agent until one hangs up; when the agent does, the
// caller hears the survey.
func (r *run) talk(a acd.Assignment, peer *sip.OutboundCall) {
	ctx := r.ctx
	media.Bridge(r.c.Leg, peer.Leg)
	untap := r.record(peer.Leg)
	unmonitor := r.s.mon.bridged(r.c.ID, a.AgentID, r.c.Leg, peer.Leg, r.recorder) // supervisors: monitor.go
	agentLeft := false
	select {
	case <-ctx.Done():
		_ = peer.Hangup(context.WithoutCancel(ctx))
	case <-peer.Done():
		agentLeft = true
	}
	unmonitor()
	untap()
	_ = a.Complete()
	r.rec.event("complete", "agent "+a.AgentID)
	if agentLeft && ctx.Err() == nil {
		r.survey()
	}
}

// ring calls the agent's phone for an offer and reports the result to the ACD.
func (r *run) ring(a acd.Assignment, contact string) (*sip.OutboundCall, error) {
	ctx := r.ctx
	peer, err := r.s.dialWithin(ctx, a, contact, r.c.Caller)
	if err != nil {
		missed(a, err)
		return nil, err
	}
	if err := a.Answered(); err != nil { // the caller hung up or the offer ended meanwhile
		_ = peer.Hangup(context.WithoutCancel(ctx))
		return nil, err
	}
	return peer, nil
}

// contactOf is where an agent is rung: the static contact, else the registered phone.
func (s *Service) contactOf(agent *Agent) string {
	if agent == nil {
		return ""
	}
	if agent.Contact != "" {
		return agent.Contact
	}
	if s.cfg.Contacts != nil {
		if c, ok := s.cfg.Contacts(agent.ID); ok {
			return c
		}
	}
	return ""
}

// featureCode handles a code dialled from an agent's desk phone: *1 ready (logging in
// first if needed), *2 break, *0 logout. The agent hears a beep for done, or the
// invalid-input prompt.
func (s *Service) featureCode(ctx context.Context, c *sip.InboundCall) {
	agent, ok := s.agents[c.Agent]
	if !ok || s.cfg.ACD == nil {
		_ = c.Reject(403, "Forbidden")
		return
	}
	if err := c.Answer(ctx); err != nil {
		return
	}
	var err error
	switch c.Dialled {
	case "*1":
		if err = s.cfg.ACD.Ready(agent.ID); err != nil {
			if err = s.cfg.ACD.Login(agent.ID, agent.Skills); err == nil {
				err = s.cfg.ACD.Ready(agent.ID)
			}
		}
	case "*2":
		err = s.cfg.ACD.Break(agent.ID, "desk phone")
	case "*0":
		err = s.cfg.ACD.Logout(agent.ID)
	default:
		err = fmt.Errorf("no feature code %s", c.Dialled)
	}
	prompt := "beep"
	if err != nil {
		prompt = "invalid_input"
		s.log.Info("call: feature code refused", "agent_id", agent.ID, "code", c.Dialled, "error", err)
	}
	pb := s.audio.Play(c.Leg, "zh", []string{prompt})
	select {
	case <-pb.Done():
	case <-ctx.Done():
		return
	}
	// Phones hang up after the confirmation; hang up for those that do not.
	select {
	case <-time.After(3 * time.Second):
		_ = c.Hangup(context.WithoutCancel(ctx))
	case <-ctx.Done():
	}
}

// leaveQueue sends a caller the ACD will not keep where the queue's configuration says:
// a transfer destination, else a goodbye.
func (r *run) leaveQueue(out ivr.Outcome, err error) {
	s, rec := r.s, r.rec
	var exit *acd.ExitError
	if errors.As(err, &exit) {
		rec.event("queue_exit", fmt.Sprintf("%s: %s → %s", exit.Queue, exit.Reason, exit.Target))
		if _, ok := s.cfg.Destinations[exit.Target]; ok {
			out.Destination = exit.Target
			r.transfer(out)
			return
		}
	} else {
		r.log.Error("call: queue refused the call", "error", err)
		rec.event("queue_error", err.Error())
	}
	r.play(out.Language, "goodbye")
}

// play plays prompts to the end (or until the call ends).
func (r *run) play(lang string, names ...string) {
	pb := r.s.audio.Play(r.c.Leg, lang, names)
	select {
	case <-pb.Done():
	case <-r.ctx.Done():
	}
}
