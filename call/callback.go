package call

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
)

// callbacks remembers the work order of each call waiting as a callback, so that the
// callback's outcome lands in the same case.
type callbacks struct {
	mu    sync.Mutex
	cases map[string]*caseWriter // call id → the call's work order (its id is known once open)
}

func (s *Service) callbackCase(callID string, cw *caseWriter) {
	if cw == nil {
		return
	}
	s.cb.mu.Lock()
	s.cb.cases[callID] = cw
	s.cb.mu.Unlock()
}

func (s *Service) forgetCallbackCase(callID string) {
	s.cb.mu.Lock()
	delete(s.cb.cases, callID)
	s.cb.mu.Unlock()
}

// OnCallback is the ACD's callback hook: an agent is reserved for a citizen who asked to
// be called back (or whose call was missed). It rings the agent, then calls the citizen
// through the trunk, and bridges them; every outcome is reported to the ACD (which
// retries busy and unanswered numbers) and written to the case.
func (s *Service) OnCallback(a acd.Assignment) { go s.callback(a) }

func (s *Service) callback(a acd.Assignment) {
	log := s.log.With("call_id", a.CallID, "agent_id", a.AgentID, "attempt", a.Attempt)
	s.cb.mu.Lock()
	cw := s.cb.cases[a.CallID]
	s.cb.mu.Unlock()
	caseID := ""
	if cw != nil {
		cw.mu.Lock()
		caseID = cw.id
		cw.mu.Unlock()
	}
	note := func(kind string, value int64, detail map[string]any) {
		detail["kind"] = kind
		detail["attempt"] = a.Attempt
		if caseID == "" || s.cfg.Cases == nil {
			return
		}
		ev := cases.Event{Type: cases.EventQueue, Value: value, At: time.Now(), Actor: cases.SystemActor.ID}
		ev.Payload, _ = json.Marshal(detail)
		if err := s.cfg.Cases.AppendEvents(context.Background(), caseID, []cases.Event{ev}); err != nil {
			log.Warn("call: callback event not written to the case", "error", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(a.Timeout, 30*time.Second)+4*time.Hour)
	defer cancel()

	contact := s.contactOf(s.agents[a.AgentID])
	if contact == "" {
		_ = a.AgentGone()
		return
	}
	agent, err := s.dialWithin(ctx, a, contact, s.cfg.CallbackFrom)
	if err != nil {
		missed(a, err)
		log.Info("call: callback: agent did not answer", "error", err)
		return
	}
	defer agent.Hangup(context.Background())
	agent.Leg.SetOutbound(ringback())

	uri := strings.ReplaceAll(s.cfg.CallbackURI, "{number}", a.Number)
	citizen, err := s.dialWithin(ctx, a, uri, s.cfg.CallbackFrom)
	if err != nil {
		result := acd.CallbackNoAnswer
		var de *sip.DialError
		if errors.As(err, &de) {
			switch {
			case de.Status == 486 || de.Status == 600:
				result = acd.CallbackBusy
			case de.Status == 404 || de.Status == 484 || de.Status == 604:
				result = acd.CallbackInvalid
			}
		}
		_ = a.CallbackFailed(result)
		note("CALLBACK_FAILED", 0, map[string]any{"result": fmt.Sprint(result), "error": err.Error()})
		log.Info("call: callback not reached", "result", result, "error", err)
		return
	}
	defer citizen.Hangup(context.Background())
	if err := a.Answered(); err != nil {
		return
	}
	note("CALLBACK_CONNECTED", time.Since(a.Arrived).Milliseconds(), map[string]any{"agent": a.AgentID})
	media.Bridge(citizen.Leg, agent.Leg)
	var untap []func()
	if s.cfg.Recordings != nil {
		if rec, err := s.cfg.Recordings.Start(a.CallID+"-cb"+fmt.Sprint(a.Attempt), time.Now()); err == nil {
			untap = append(untap, citizen.Leg.Tap(media.FromParty, rec.Left()), agent.Leg.Tap(media.FromParty, rec.Right()))
			defer func() {
				for _, u := range untap {
					u()
				}
				if info, err := rec.Close(); err == nil {
					note("CALLBACK_RECORDED", info.Duration.Milliseconds(), map[string]any{"path": info.Path})
				}
			}()
		}
	}
	select {
	case <-citizen.Done():
	case <-agent.Done():
	}
	_ = a.Complete()
	note("CALLBACK_COMPLETE", 0, map[string]any{"agent": a.AgentID})
	s.forgetCallbackCase(a.CallID)
}

// missed reports an offer the agent's phone did not take: refused (a 4xx/6xx other than
// "not there") or not answered.
func missed(a acd.Assignment, err error) {
	var de *sip.DialError
	if errors.As(err, &de) && de.Status >= 400 && de.Status != 408 && de.Status != 480 {
		_ = a.Rejected()
		return
	}
	_ = a.NoAnswer()
}

// dialWithin places a call for an assignment, giving up when the ACD withdraws the offer.
func (s *Service) dialWithin(ctx context.Context, a acd.Assignment, uri, from string) (*sip.OutboundCall, error) {
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-a.Withdrawn():
			cancel()
		case <-dctx.Done():
		}
	}()
	return s.cfg.Dialer.Dial(dctx, sip.DialOptions{URI: uri, From: from, Timeout: a.Timeout})
}
