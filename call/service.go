// Package call is the only home of hotline's business flow for one call: case → IVR →
// queue → agent → bridge, record, monitor → survey → wrap-up. The SIP server hands it each
// admitted call; one goroutine runs the call from first ring to hang-up.
package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
	"github.com/hotline-12345/hotline/sip"
	"github.com/prometheus/client_golang/prometheus"
)

// Number is one number citizens dial: 12345 or a legacy line it absorbed.
type Number struct {
	Number  string   // as dialled, e.g. "12369"
	Name    string   // e.g. "12369 环保热线"
	Aliases []string // other forms the trunk may send, e.g. "+8657112369"
	Flow    string   // the intake flow (default "intake")
	Skill   string   // the queue skill its callers need
}

// Dialer places calls (the SIP server).
type Dialer interface {
	Dial(ctx context.Context, o sip.DialOptions) (*sip.OutboundCall, error)
}

// Config configures the call service.
type Config struct {
	Numbers []Number
	Prompts *media.PromptSet
	// Flows holds the intake flows in service (reloadable).
	Flows *ivr.Registry
	// Destinations maps a transfer destination name (e.g. "emergency") to a SIP URI.
	Destinations map[string]string
	Dialer       Dialer
	// TransferTimeout is how long a transfer destination may ring (default 30 s).
	TransferTimeout time.Duration
	Calendar        ivr.Calendar
	Callers         ivr.CallerLookup
	IVRMetrics      *ivr.Metrics
	KeepRecent      int // recent calls kept for the API (default 1000)
	// AnswerAfter rings (180) this long before answering; 0 answers at once.
	AnswerAfter time.Duration
	// ACD routes queued callers to agents; QueueForSkill names the queue of each skill.
	// Without them a queued caller hears hold music until they hang up.
	ACD           Queueing
	QueueForSkill map[string]string
	Agents        []Agent
	// Cases keeps every call as a work order (工单), opened at the first ring; nil: none.
	Cases cases.Store
	// Announce sets position/wait announcements and the callback offer for waiting callers.
	Announce Announce
	// CallbackURI is how a citizen is called back through the trunk, with {number} in it
	// (e.g. sip:{number}@10.20.0.1:5060); empty: no callbacks. CallbackFrom is the number
	// the citizen sees (e.g. 12345).
	CallbackURI, CallbackFrom string
	// Recordings records bridged calls (caller left, agent right); nil: no recording.
	Recordings *recordings.Store
	// Contacts finds where an agent's phone is registered (the SIP registrar).
	Contacts   func(agentID string) (string, bool)
	Logger     *slog.Logger
	Registerer prometheus.Registerer

	// Softphones rings agents in the browser (softphone.go); nil: desk phones only.
	Softphones Softphone
}

// Service runs calls.
type Service struct {
	cfg      Config
	log      *slog.Logger
	audio    *ivr.PromptAudio
	numbers  map[string]*Number
	reg      *registry
	active   *prometheus.GaugeVec
	total    *prometheus.CounterVec
	surveys  *prometheus.CounterVec
	agents   map[string]*Agent
	queueFor map[string]string
	cb       callbacks
	writers  *caseWriters // nil without a case store
	mon      monitors     // bridged calls and the supervisors on them (monitor.go)
}

var _ sip.CallHandler = (*Service)(nil)
var _ agentdesk.CallDirectory = (*Service)(nil)

// New checks the configuration and builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.Prompts == nil || cfg.Flows == nil {
		return nil, errors.New("call: prompts and flows are required")
	}
	if cfg.TransferTimeout <= 0 {
		cfg.TransferTimeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	s := &Service{cfg: cfg, log: cfg.Logger, audio: ivr.NewPromptAudio(cfg.Prompts), numbers: map[string]*Number{},
		reg: newRegistry(cfg.KeepRecent)}
	for i := range cfg.Numbers {
		n := &cfg.Numbers[i]
		if n.Flow == "" {
			n.Flow = ivr.IntakeFlow
		}
		if _, ok := cfg.Flows.Flow(n.Flow); !ok {
			return nil, fmt.Errorf("call: number %s: no flow %q", n.Number, n.Flow)
		}
		for _, k := range append([]string{n.Number}, n.Aliases...) {
			s.numbers[k] = n
		}
	}
	s.cb.cases = map[string]*caseWriter{}
	if cfg.Cases != nil {
		s.writers = newCaseWriters(cfg.Cases, cfg.Logger)
	}
	s.agents = map[string]*Agent{}
	for i := range cfg.Agents {
		a := &cfg.Agents[i]
		s.agents[a.ID] = a
		if a.AutoReady && cfg.ACD != nil {
			if err := cfg.ACD.Login(a.ID, a.Skills); err != nil {
				return nil, fmt.Errorf("call: agent %s: %w", a.ID, err)
			}
			if err := cfg.ACD.Ready(a.ID); err != nil {
				return nil, fmt.Errorf("call: agent %s: %w", a.ID, err)
			}
		}
	}
	s.queueFor = cfg.QueueForSkill
	if _, ok := s.audio.HoldMusic(); !ok {
		return nil, errors.New("call: no hold music prompt")
	}
	s.active = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "hotline_calls_active", Help: "Calls in progress, by dialled number."}, []string{"number"})
	s.total = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_calls_total", Help: "Calls ended, by dialled number and end reason."}, []string{"number", "end_reason"})
	s.surveys = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_call_surveys_total", Help: "Post-call survey ratings (一次一评), by dialled number and score (0: none given)."}, []string{"number", "score"})
	for _, c := range []prometheus.Collector{s.active, s.total, s.surveys} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("call metrics: %w", err)
		}
	}
	return s, nil
}

// Close stops the work-order writers after their backlog is written; call it after the
// SIP server has drained.
func (s *Service) Close() {
	if s.writers != nil {
		s.writers.close()
	}
}

// Known reports whether the dialled number is served (else the SIP side answers 404).
func (s *Service) Known(dialled string) bool { return s.number(dialled) != nil }

func (s *Service) number(dialled string) *Number {
	if n, ok := s.numbers[dialled]; ok {
		return n
	}
	return s.numbers[strings.TrimPrefix(dialled, "+86")]
}

// ErrNoRecording is returned for a call that is not live or not being recorded.
var ErrNoRecording = errors.New("call: no live recording for this call")

// SetRecordingPaused pauses or resumes a live call's recording (an agent protecting a
// citizen's card number); paused time is silence in the one file.
func (s *Service) SetRecordingPaused(callID string, paused bool) error {
	rec := s.reg.live1(callID)
	if rec == nil {
		return ErrNoRecording
	}
	rec.mu.Lock()
	r := rec.recorder
	rec.mu.Unlock()
	if r == nil {
		return ErrNoRecording
	}
	if paused {
		r.Pause()
	} else {
		r.Resume()
	}
	rec.event("recording", fmt.Sprintf("paused %v", paused))
	return nil
}

// Calls lists live and recent calls for the API.
func (s *Service) Calls() []agentdesk.CallInfo { return s.reg.Calls() }

// DestinationNames lists the configured transfer destinations, for flow validation.
func DestinationNames(d map[string]string) []string {
	out := make([]string, 0, len(d))
	for k := range d {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// HandleCall runs one call. It returns when the call is over.
func (s *Service) HandleCall(ctx context.Context, c *sip.InboundCall) {
	if c.Agent != "" {
		s.featureCode(ctx, c)
		return
	}
	n := s.number(c.Dialled)
	if n == nil { // the SIP side checks first; a number removed by a reload lands here
		_ = c.Reject(404, "Not Found")
		return
	}
	flow, ok := s.cfg.Flows.Flow(n.Flow)
	if !ok {
		s.log.Error("call: flow missing after a reload", "flow", n.Flow)
		_ = c.Reject(503, "Service Unavailable")
		return
	}
	log := s.log.With("call_id", c.ID, "caller", c.Caller, "dialled", c.Dialled)
	var cw *caseWriter
	if s.writers != nil {
		cw = s.writers.open(caseCallInfo(c, n), log)
	}
	rec := s.reg.add(c, n.Name, cw)
	active := s.active.WithLabelValues(n.Number)
	active.Inc()
	defer func() {
		active.Dec()
		// The work order is finished before the call shows as ended, so that whoever
		// sees the end in the API finds the case complete.
		ci := rec.info(true)
		end := cases.CallEnd{CallID: c.ID, At: time.Now(), Cause: ci.EndReason}
		if ci.Survey != nil {
			end.Survey = satisfaction(ci.Survey.Score, ci.Survey.Scale)
		}
		cw.finish(end)
		s.reg.finish(rec, ci)
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
	r := &run{s: s, ctx: ctx, c: c, rec: rec, n: n, flow: flow, log: log, cw: cw}
	defer r.closeRecording()
	out, err := flow.Run(ctx, c.Leg, r.ivrOptions())
	rec.addPath(out.Path)
	cw.add(cases.EventIVRPath, 0, out.Path)
	if err != nil && !errors.Is(err, ivr.ErrTooManySteps) {
		log.Error("call: intake flow failed; queueing the call", "error", err)
		out.Action = ivr.ActionQueue
	}
	rec.event("ivr", fmt.Sprintf("%s at %s", out.Action, out.Node))
	switch out.Action {
	case ivr.ActionTransfer:
		r.transfer(out)
	case ivr.ActionQueue:
		r.enqueue(out)
	case ivr.ActionHangup:
	case ivr.ActionAbandoned:
		return
	}
	if c.EndReason() == "" {
		_ = c.Hangup(context.WithoutCancel(ctx))
	}
}

// caseCallInfo is what the work order learns at the first ring. A caller id that is not a
// phone number (anonymous, a SIP name) counts as withheld; it is kept as the name.
func caseCallInfo(c *sip.InboundCall, n *Number) cases.CallInfo {
	ci := cases.CallInfo{CallID: c.ID, Caller: c.Caller, CallerName: c.CallerName, Dialled: n.Number, At: c.Received}
	if strings.Trim(strings.TrimPrefix(ci.Caller, "+"), "0123456789") != "" || len(ci.Caller) > 32 {
		if ci.CallerName == "" {
			ci.CallerName = ci.Caller
		}
		ci.Caller = ""
	}
	return ci
}

// run is one call being handled: what every step of the flow needs.
type run struct {
	s    *Service
	ctx  context.Context
	c    *sip.InboundCall
	rec  *record
	n    *Number
	flow *ivr.Flow
	log  *slog.Logger
	cw   *caseWriter
	// recorder is the call's one stereo recording, started when an agent first answers
	// and kept across holds, returns to the queue and further agents.
	recorder    *recordings.Recorder
	untapCaller func()
	msgs        *messageRecorder // messages left in record nodes
}

// record taps the caller (left) and the other party (right) into the call's recording,
// starting it at the first bridge; the returned func removes the other party's tap.
func (r *run) record(other media.Leg) (untap func()) {
	if r.s.cfg.Recordings == nil {
		return func() {}
	}
	if r.recorder == nil {
		rec, err := r.s.cfg.Recordings.Start(r.c.ID, time.Now())
		if err != nil {
			r.log.Error("call: recording not started; the call goes on", "error", err)
			return func() {}
		}
		r.recorder = rec
		r.untapCaller = r.c.Leg.Tap(media.FromParty, rec.Left())
		r.rec.setRecorder(rec)
		r.rec.event("recording", rec.Path())
	}
	return other.Tap(media.FromParty, r.recorder.Right())
}

// closeRecording ends the call's recording and notes it in the work order.
func (r *run) closeRecording() {
	if r.recorder == nil {
		return
	}
	r.untapCaller()
	info, err := r.recorder.Close()
	if err != nil {
		r.log.Error("call: recording incomplete", "path", info.Path, "error", err)
	}
	r.cw.add(cases.EventRecording, info.Duration.Milliseconds(), map[string]any{
		"path": info.Path, "duration_ms": info.Duration.Milliseconds(), "bytes": info.Bytes,
		"dropped_frames": info.Dropped, "paused_ms": info.Paused.Milliseconds()})
}

func (r *run) ivrOptions() ivr.RunOptions {
	o := ivr.RunOptions{CallID: r.c.ID, Dialled: r.n.Number, Caller: r.c.Caller, Calendar: r.s.cfg.Calendar,
		Callers: r.s.cfg.Callers, Logger: r.log, Metrics: r.s.cfg.IVRMetrics}
	if r.s.cfg.Recordings != nil {
		if r.msgs == nil {
			r.msgs = &messageRecorder{store: r.s.cfg.Recordings, cw: r.cw}
		}
		o.Recorder = r.msgs
	}
	return o
}

// hold plays hold music until the call ends, keeping any key pressed: where a caller
// waits when no agent can be reached at all.
func (r *run) hold(out ivr.Outcome) {
	r.rec.event("hold", "skill "+out.Skill)
	if hold, ok := r.s.audio.HoldMusic(); ok {
		r.c.Leg.SetOutbound(hold)
	}
	for {
		select {
		case d := <-r.c.Leg.Digits():
			r.rec.addDigit(d)
		case <-r.ctx.Done():
			return
		}
	}
}

// ringback is what a caller hears while a transfer rings: China's 450 Hz, 1 s on, 4 s off.
func ringback() media.Source {
	return media.NewToneSource(0.25, 450).WithCadence(time.Second, 4*time.Second)
}

// transfer connects the caller to a destination (e.g. 110) through a trunk and bridges
// them until either hangs up. If the destination cannot be reached the caller is queued.
func (r *run) transfer(out ivr.Outcome) {
	s, ctx, c, rec, log := r.s, r.ctx, r.c, r.rec, r.log
	uri, ok := s.cfg.Destinations[out.Destination]
	if !ok || s.cfg.Dialer == nil {
		log.Error("call: transfer destination not configured; queueing", "destination", out.Destination)
		r.enqueue(out)
		return
	}
	rec.event("transfer", out.Destination+" "+uri)
	c.Leg.SetOutbound(ringback())
	peer, err := s.cfg.Dialer.Dial(ctx, sip.DialOptions{URI: uri, From: c.Caller, Timeout: s.cfg.TransferTimeout})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		log.Warn("call: transfer failed; queueing", "destination", out.Destination, "error", err)
		rec.event("transfer_failed", err.Error())
		r.enqueue(out)
		return
	}
	rec.event("transfer_answered", out.Destination)
	r.cw.add(cases.EventCallTransferred, 0, map[string]string{"destination": out.Destination, "uri": uri})
	media.Bridge(c.Leg, peer.Leg)
	untap := r.record(peer.Leg) // a transfer is part of the call's one recording
	defer untap()
	select {
	case <-ctx.Done():
		_ = peer.Hangup(context.WithoutCancel(ctx))
	case <-peer.Done():
		rec.event("transfer_ended", peer.EndReason())
	}
}

// Survey runs the post-call satisfaction survey (一次一评) on the caller after the agent
// has hung up, and records the score. It returns 0 when none was given.
func (r *run) survey() int {
	opts := r.ivrOptions()
	opts.FlushDigits = true
	out, err := r.flow.RunFrom(r.ctx, r.c.Leg, ivr.SurveyEntry, opts)
	r.rec.addPath(out.Path)
	r.cw.add(cases.EventIVRPath, 0, out.Path)
	if err != nil {
		r.log.Warn("call: survey failed", "error", err)
	}
	r.rec.setSurvey(out.Score, out.ScoreScale)
	r.s.surveys.WithLabelValues(r.n.Number, fmt.Sprint(out.Score)).Inc()
	return out.Score
}
