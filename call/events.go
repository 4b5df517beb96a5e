package call

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/cases"
)

// EventSink carries the ACD's events to the call service, which is built after the
// dispatcher; events before To are dropped (there are no calls yet).
type EventSink struct{ s atomic.Pointer[Service] }

// To sets the service that receives events.
func (e *EventSink) To(s *Service) { e.s.Store(s) }

// Deliver is the acd.Options.Sink.
func (e *EventSink) Deliver(ev acd.Event) {
	if s := e.s.Load(); s != nil {
		s.onQueueEvent(ev)
	}
}

// Callback is the acd.Options.OnCallback.
func (e *EventSink) Callback(a acd.Assignment) {
	if s := e.s.Load(); s != nil {
		s.OnCallback(a)
		return
	}
	_ = a.AgentGone() // before the service exists nothing can dial
}

// onQueueEvent keeps each queue event with its call, as Asterisk's queue_log would.
func (s *Service) onQueueEvent(ev acd.Event) {
	if ev.CallID == "" {
		return
	}
	rec := s.reg.live1(ev.CallID)
	if rec == nil {
		return
	}
	detail := "queue " + ev.Queue
	if ev.AgentID != "" {
		detail += " agent " + ev.AgentID
	}
	if ev.Position > 0 {
		detail += fmt.Sprintf(" position %d", ev.Position)
	}
	if ev.Wait > 0 {
		detail += " wait " + ev.Wait.Round(time.Millisecond).String()
	}
	if ev.Reason != "" {
		detail += " reason " + ev.Reason
	}
	rec.eventAt(ev.Time, "acd:"+ev.Kind.String(), detail)
	rec.cw.add(cases.EventQueue, ev.Wait.Milliseconds(), map[string]any{"kind": ev.Kind.String(), "queue": ev.Queue,
		"agent": ev.AgentID, "position": ev.Position, "reason": ev.Reason})
}
