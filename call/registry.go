package call

import (
	"sync"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
	"github.com/hotline-12345/hotline/sip"
)

// registry keeps live calls and a ring of recent ones for the calls API.
type registry struct {
	mu     sync.Mutex
	live   map[string]*record
	recent []agentdesk.CallInfo // ring, oldest overwritten
	next   int
	full   bool
}

type record struct {
	c      *sip.InboundCall
	line   string
	cw     *caseWriter // the call's work order; nil without a case store
	mu     sync.Mutex
	paths  []any
	digits []agentdesk.DigitInfo
	events []agentdesk.CallEvent
	survey *agentdesk.SurveyInfo
	agent  string
	// recording is the file of the call's recording, if any.
	recording string
	recorder  *recordings.Recorder
}

func (rec *record) event(kind, detail string) { rec.eventAt(time.Now(), kind, detail) }

func (rec *record) eventAt(at time.Time, kind, detail string) {
	rec.mu.Lock()
	rec.events = append(rec.events, agentdesk.CallEvent{At: at, Kind: kind, Detail: detail})
	rec.mu.Unlock()
}

func (rec *record) setRecorder(r *recordings.Recorder) {
	rec.mu.Lock()
	rec.recorder, rec.recording = r, r.Path()
	rec.mu.Unlock()
}

func (rec *record) setAgent(id string) {
	rec.mu.Lock()
	rec.agent = id
	rec.mu.Unlock()
}

func (rec *record) setSurvey(score, scale int) {
	rec.mu.Lock()
	rec.survey = &agentdesk.SurveyInfo{Score: score, Scale: scale}
	rec.mu.Unlock()
}

func (rec *record) addDigit(d media.Digit) {
	rec.mu.Lock()
	rec.digits = append(rec.digits, agentdesk.DigitInfo{Key: string(d.Key), At: d.At, Source: d.Source.String()})
	rec.mu.Unlock()
}

func newRegistry(keep int) *registry {
	if keep <= 0 {
		keep = 1000
	}
	return &registry{live: map[string]*record{}, recent: make([]agentdesk.CallInfo, keep)}
}

func (r *registry) add(c *sip.InboundCall, line string, cw *caseWriter) *record {
	rec := &record{c: c, line: line, cw: cw}
	r.mu.Lock()
	r.live[c.ID] = rec
	r.mu.Unlock()
	return rec
}

func (rec *record) addPath(p any) {
	rec.mu.Lock()
	rec.paths = append(rec.paths, p)
	rec.mu.Unlock()
}

func (rec *record) info(ended bool) agentdesk.CallInfo {
	c := rec.c
	stats := c.Leg.Stats()
	ci := agentdesk.CallInfo{
		ID: c.ID, SIPCallID: c.SIPCallID, Caller: c.Caller, CallerName: c.CallerName,
		Dialled: c.Dialled, Line: rec.line, Trunk: c.Trunk, State: "ringing",
		Received: c.Received, OnHold: c.OnHold(), RTP: &stats,
	}
	if a := c.Answered(); !a.IsZero() {
		ci.Answered = &a
		ci.State = "answered"
	}
	if ended {
		now := time.Now()
		ci.State, ci.Ended, ci.EndReason = "ended", &now, c.EndReason()
	}
	rec.mu.Lock()
	ci.Paths = append([]any(nil), rec.paths...)
	ci.Digits = append([]agentdesk.DigitInfo(nil), rec.digits...)
	ci.Events = append([]agentdesk.CallEvent(nil), rec.events...)
	ci.Survey = rec.survey
	ci.Agent = rec.agent
	ci.Case = rec.cw.Number()
	ci.Recording = rec.recording
	ci.RecordingPaused = rec.recorder != nil && rec.recorder.Paused()
	rec.mu.Unlock()
	return ci
}

// live1 finds a live call's record.
func (r *registry) live1(id string) *record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.live[id]
}

// finish moves a call from live to recent, with its final figures.
func (r *registry) finish(rec *record, ci agentdesk.CallInfo) {
	r.mu.Lock()
	delete(r.live, ci.ID)
	r.recent[r.next] = ci
	r.next = (r.next + 1) % len(r.recent)
	if r.next == 0 {
		r.full = true
	}
	r.mu.Unlock()
}

// Calls lists live calls, then recent ones, newest first.
func (r *registry) Calls() []agentdesk.CallInfo {
	r.mu.Lock()
	live := make([]*record, 0, len(r.live))
	for _, rec := range r.live {
		live = append(live, rec)
	}
	n := r.next
	if r.full {
		n = len(r.recent)
	}
	out := make([]agentdesk.CallInfo, 0, len(live)+n)
	recent := make([]agentdesk.CallInfo, 0, n)
	for i := 1; i <= n; i++ {
		recent = append(recent, r.recent[(r.next-i+len(r.recent))%len(r.recent)])
	}
	r.mu.Unlock()
	for _, rec := range live {
		out = append(out, rec.info(false))
	}
	sortNewest(out)
	return append(out, recent...)
}

func sortNewest(cs []agentdesk.CallInfo) {
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && cs[j].Received.After(cs[j-1].Received); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}
