// Package call is the only home of hotline's business flow for one call: case → IVR →
// queue → agent → bridge, record, monitor → survey → wrap-up. The SIP server hands it each
// admitted call; one goroutine runs the call from first ring to hang-up.
package call

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Number is one number citizens dial: 12345 or a legacy line it absorbed.
type Number struct {
	Number   string   // as dialled, e.g. "12369"
	Name     string   // e.g. "12369 环保热线"
	Aliases  []string // other forms the trunk may send, e.g. "+8657112369"
	Greeting string   // prompt name, e.g. "greeting_12369"
	Skill    string   // the queue skill its callers need
}

// Config configures the call service.
type Config struct {
	Numbers    []Number
	Prompts    *media.PromptSet
	HoldMusic  string // prompt name under "music" (default "hold")
	KeepRecent int    // recent calls kept for the API (default 1000)
	// AnswerAfter rings (180) this long before answering; 0 answers at once.
	AnswerAfter time.Duration
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Service runs calls.
type Service struct {
	cfg     Config
	log     *slog.Logger
	numbers map[string]*Number
	reg     *registry
	active  *prometheus.GaugeVec
	total   *prometheus.CounterVec
}

var _ sip.CallHandler = (*Service)(nil)
var _ agentdesk.CallDirectory = (*Service)(nil)

// New checks the configuration (every greeting must exist) and builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.Prompts == nil {
		return nil, fmt.Errorf("call: no prompts")
	}
	if cfg.HoldMusic == "" {
		cfg.HoldMusic = "hold"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, numbers: map[string]*Number{}, reg: newRegistry(cfg.KeepRecent)}
	for i := range cfg.Numbers {
		n := &cfg.Numbers[i]
		for _, lang := range []string{"zh", "en"} {
			if _, _, ok := cfg.Prompts.Lookup(lang, n.Greeting); !ok {
				return nil, fmt.Errorf("call: number %s: greeting prompt %q not found", n.Number, n.Greeting)
			}
		}
		for _, k := range append([]string{n.Number}, n.Aliases...) {
			s.numbers[k] = n
		}
	}
	if _, _, ok := cfg.Prompts.Lookup("music", cfg.HoldMusic); !ok {
		return nil, fmt.Errorf("call: hold music %q not found", cfg.HoldMusic)
	}
	s.active = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hotline_calls_active", Help: "Calls in progress, by dialled number."}, []string{"number"})
	s.total = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_calls_total", Help: "Calls ended, by dialled number and end reason."}, []string{"number", "end_reason"})
	for _, c := range []prometheus.Collector{s.active, s.total} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("call metrics: %w", err)
		}
	}
	return s, nil
}

// Known reports whether the dialled number is served (else the SIP side answers 404).
func (s *Service) Known(dialled string) bool { return s.number(dialled) != nil }

func (s *Service) number(dialled string) *Number {
	if n, ok := s.numbers[dialled]; ok {
		return n
	}
	return s.numbers[strings.TrimPrefix(dialled, "+86")]
}

// Calls lists live and recent calls for the API.
func (s *Service) Calls() []agentdesk.CallInfo { return s.reg.Calls() }

// HandleCall runs one call. It returns when the call is over.
func (s *Service) HandleCall(ctx context.Context, c *sip.InboundCall) {
	n := s.number(c.Dialled)
	if n == nil { // the SIP side checks first; a number removed by a reload lands here
		_ = c.Reject(404, "Not Found")
		return
	}
	log := s.log.With("call_id", c.ID, "caller", c.Caller, "dialled", c.Dialled)
	rec := s.reg.add(c, n.Name)
	active := s.active.WithLabelValues(n.Number)
	active.Inc()
	defer func() {
		active.Dec()
		ci := s.reg.finish(rec)
		s.total.WithLabelValues(n.Number, ci.EndReason).Inc()
		log.Info("call ended", "reason", ci.EndReason, "packets_in", ci.RTP.PacketsIn, "packets_out", ci.RTP.PacketsOut)
	}()

	if s.cfg.AnswerAfter > 0 {
		_ = c.Ring()
		select {
		case <-time.After(s.cfg.AnswerAfter):
		case <-ctx.Done():
			return
		}
	}
	if err := c.Answer(ctx); err != nil {
		log.Info("call not answered", "error", err)
		return
	}
	s.greet(ctx, c, n, rec)
	if c.EndReason() == "" {
		_ = c.Hangup(context.WithoutCancel(ctx))
	}
}

// greet plays the number's greeting in Mandarin and then English, then hold music until
// the call ends, keeping every digit the caller presses.
func (s *Service) greet(ctx context.Context, c *sip.InboundCall, n *Number, rec *record) {
	zh, _, _ := s.cfg.Prompts.Lookup("zh", n.Greeting)
	en, _, _ := s.cfg.Prompts.Lookup("en", n.Greeting)
	p := media.NewPlayer(zh, en)
	c.Leg.SetOutbound(p)
	greeting := p.Done()
	for {
		select {
		case <-greeting:
			greeting = nil
			hold, _, _ := s.cfg.Prompts.Lookup("music", s.cfg.HoldMusic)
			c.Leg.SetOutbound(media.NewLoop(hold))
		case d := <-c.Leg.Digits():
			rec.addDigit(d)
		case <-ctx.Done():
			return
		}
	}
}
