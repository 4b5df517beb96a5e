package sip

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// registrar keeps where each agent's phone can be reached (REGISTER with digest auth).
type registrar struct {
	mu       sync.Mutex
	bindings map[string]binding
}

type binding struct {
	contact string // the phone's Contact URI
	source  string // where the REGISTER came from
	expires time.Time
}

func newRegistrar() *registrar { return &registrar{bindings: map[string]binding{}} }

// Registration bounds, as a registrar may impose (RFC 3261 §10.3).
const (
	minRegister     = 60 * time.Second
	maxRegister     = time.Hour
	defaultRegister = 10 * time.Minute
)

// Contact returns where an agent's phone is registered.
func (s *Server) Contact(agentID string) (string, bool) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	b, ok := s.reg.bindings[agentID]
	if !ok || time.Now().After(b.expires) {
		return "", false
	}
	return b.contact, true
}

func (s *Server) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("REGISTER").Inc()
	if s.cfg.AgentPassword == nil {
		s.reply(req, tx, 403, "Forbidden")
		return
	}
	id, ok := s.authorize(req, tx, s.cfg.AgentPassword)
	if !ok {
		return
	}
	if to := req.To(); to == nil || to.Address.User != id {
		s.reply(req, tx, 403, "Forbidden") // one may register only oneself
		return
	}
	expires := defaultRegister
	if h := req.GetHeader("Expires"); h != nil {
		if v, err := strconv.Atoi(strings.TrimSpace(h.Value())); err == nil {
			expires = time.Duration(v) * time.Second
		}
	}
	contact := req.Contact()
	if contact != nil {
		if v, ok := contact.Params.Get("expires"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				expires = time.Duration(n) * time.Second
			}
		}
	}
	s.reg.mu.Lock()
	switch {
	case contact == nil: // a query: answer with the current binding
	case expires == 0 || contact.Address.Wildcard:
		if _, had := s.reg.bindings[id]; had {
			delete(s.reg.bindings, id)
			if f := s.cfg.OnRegistrationExpired; f != nil {
				go f(id) // the phone is gone as surely as if it had lapsed
			}
		}
	default:
		if expires < minRegister {
			s.reg.mu.Unlock()
			s.reply(req, tx, 423, "Interval Too Brief", sip.NewHeader("Min-Expires", strconv.Itoa(int(minRegister/time.Second))))
			return
		}
		expires = min(expires, maxRegister)
		uri := contact.Address
		uri.UriParams = nil // keep transport-neutral: we reach phones over UDP or TCP alike
		s.reg.bindings[id] = binding{contact: "sip:" + uri.User + "@" + uri.HostPort(), source: req.Source(),
			expires: time.Now().Add(expires)}
	}
	b, bound := s.reg.bindings[id]
	s.reg.mu.Unlock()
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	if bound {
		res.AppendHeader(sip.NewHeader("Contact", "<"+b.contact+">;expires="+strconv.Itoa(int(time.Until(b.expires).Round(time.Second)/time.Second))))
	}
	s.respond(tx, res)
	s.log.Info("sip: agent registration", "agent_id", id, "contact", b.contact, "expires", expires)
}

// expireRegistrations forgets phones whose registration ran out, and says so.
func (s *Server) expireRegistrations() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.baseCtx.Done():
			return
		case now := <-t.C:
			var gone []string
			s.reg.mu.Lock()
			for id, b := range s.reg.bindings {
				if now.After(b.expires) {
					delete(s.reg.bindings, id)
					gone = append(gone, id)
				}
			}
			s.reg.mu.Unlock()
			for _, id := range gone {
				s.log.Info("sip: agent registration expired", "agent_id", id)
				if f := s.cfg.OnRegistrationExpired; f != nil {
					go f(id)
				}
			}
		}
	}
}
