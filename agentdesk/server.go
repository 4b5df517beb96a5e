// Package agentdesk owns hotline's HTTP side: the health and metrics endpoints, the admin
// and back-office JSON API (calls, cases), and later the agent desk and supervisor console
// (WebSocket, WebRTC legs). It sees calls only through the CallDirectory interface.
package agentdesk

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/media"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// CallInfo is one live or recent call, as the calls API shows it.
type CallInfo struct {
	ID              string          `json:"id"`
	SIPCallID       string          `json:"sip_call_id"`
	Caller          string          `json:"caller"`
	CallerName      string          `json:"caller_name,omitempty"`
	Dialled         string          `json:"dialled"`
	Line            string          `json:"line,omitempty"` // the name of the dialled number
	Trunk           string          `json:"trunk"`
	State           string          `json:"state"` // ringing, answered, ended
	Received        time.Time       `json:"received_at"`
	Answered        *time.Time      `json:"answered_at,omitempty"`
	Ended           *time.Time      `json:"ended_at,omitempty"`
	EndReason       string          `json:"end_reason,omitempty"`
	OnHold          bool            `json:"on_hold"`
	RTP             *media.LegStats `json:"rtp,omitempty"`
	Paths           []any           `json:"ivr_paths,omitempty"` // IVR paths (intake, survey), as the ivr package records them
	Digits          []DigitInfo     `json:"digits,omitempty"`    // keys pressed outside any IVR flow
	Events          []CallEvent     `json:"events,omitempty"`
	Survey          *SurveyInfo     `json:"survey,omitempty"`
	Agent           string          `json:"agent,omitempty"` // the agent who took the call
	Case            string          `json:"case,omitempty"`  // the work order's number
	Recording       string          `json:"recording,omitempty"`
	RecordingPaused bool            `json:"recording_paused,omitempty"`
}

// RecordingControl pauses and resumes a live call's recording; a CallDirectory may offer it.
type RecordingControl interface {
	SetRecordingPaused(callID string, paused bool) error
}

// CallEvent is one step of a call outside the IVR: queued, transferred, answered …
type CallEvent struct {
	At     time.Time `json:"at"`
	Kind   string    `json:"kind"`
	Detail string    `json:"detail,omitempty"`
}

// SurveyInfo is the post-call rating (一次一评); Score 0 means none was given.
type SurveyInfo struct {
	Score int `json:"score"`
	Scale int `json:"scale"`
}

// DigitInfo is one key the caller pressed.
type DigitInfo struct {
	Key    string    `json:"key"`
	At     time.Time `json:"at"`
	Source string    `json:"source"` // rfc4733, info, inband
}

// CallDirectory lists live and recent calls, newest first.
type CallDirectory interface {
	Calls() []CallInfo
}

// Server serves the HTTP API. Set the fields, then use Handler.
type Server struct {
	// AdminToken is the bearer token every /api request must carry.
	AdminToken string
	Calls      CallDirectory
	Gatherer   prometheus.Gatherer
	// Health reports nil while the node can take calls.
	Health func() error
	// ACD, if set, serves agent state changes and the queue snapshot; AgentSkills are the
	// configured agents and their skills.
	ACD         AgentControl
	AgentSkills map[string]map[string]int
	// ReloadFlows, if set, reloads the IVR flows (POST /api/flows/reload).
	ReloadFlows func() error
	// Cases, if set, serves the work-order API under /api/cases.
	Cases  http.Handler
	Logger *slog.Logger

	// Auth, if set, signs users in (GET/POST /api/auth/…, a session cookie) and keeps
	// the audit log; the admin token still acts as the administrator. Without it only
	// the admin token opens the API.
	Auth *auth.Auth
	// AgentTeam, if set, gives an agent's team, which scopes what supervisors see; by
	// default it is the team of the agent's user in Auth.
	AgentTeam func(ctx context.Context, agentID string) string
	// CaseDept, if set, gives the lead department of a work order by number: department
	// handlers see the calls (and recordings) of their department's work orders.
	CaseDept func(ctx context.Context, caseNumber string) (string, error)
	// Recordings, if set, serves the calls' recordings (GET /api/recordings/{callID}).
	Recordings RecordingOpener
	// CaseCall, if set, gives the call that opened a work order (its id, agent, case and
	// recording) from the work orders, for GET /api/cases/{ref}/recording.
	CaseCall func(ctx context.Context, caseRef string) (CallInfo, error)

	// mounted and public are the handlers features add with Mount and Public.
	mounted []route
	public  []route
}

type route struct {
	pattern string
	h       http.Handler
}

// Mount registers h for pattern (a net/http ServeMux pattern, e.g. "GET /api/wallboard"
// or "/ws/agent") behind the same authentication as the rest of the API: h runs only for
// a signed-in user or the admin token, and UserFrom(r.Context()) tells who is asking.
// Call it before Handler.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mounted = append(s.mounted, route{pattern, h})
}

// Public registers h for pattern without authentication: the sign-in page, static assets.
// Call it before Handler.
func (s *Server) Public(pattern string, h http.Handler) {
	s.public = append(s.public, route{pattern, h})
}

// Handler builds the route table.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	if s.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer, promhttp.HandlerOpts{}))
	}
	api := http.NewServeMux()
	api.HandleFunc("GET /api/calls", s.listCalls)
	api.HandleFunc("GET /api/calls/{id}", s.getCall)
	api.HandleFunc("POST /api/calls/{id}/recording", s.pauseRecording)
	api.HandleFunc("GET /api/recordings/{callID}", s.serveRecording)
	if s.CaseCall != nil {
		api.HandleFunc("GET /api/cases/{ref}/recording", s.serveCaseRecording)
	}
	if s.ReloadFlows != nil {
		api.Handle("POST /api/flows/reload", adminOnly(func(w http.ResponseWriter, r *http.Request) {
			if err := s.ReloadFlows(); err != nil {
				WriteError(w, http.StatusUnprocessableEntity, "flows not reloaded, the old ones stay in service: "+err.Error())
				return
			}
			WriteJSON(w, http.StatusOK, map[string]string{"status": "reloaded"})
		}))
	}
	if s.ACD != nil {
		agents := http.NewServeMux()
		s.agentRoutes(agents)
		agents.HandleFunc("/", noEndpoint)
		api.Handle("GET /api/queues", agents)
		api.Handle("/api/agents/", s.guardAgents(agents))
	}
	if s.Cases != nil {
		api.Handle("/api/cases", s.guardCases(s.Cases))
		api.Handle("/api/cases/", s.guardCases(s.Cases))
	}
	// Profiles for operators chasing CPU or memory, and the execution trace for latency
	// (which goroutine held the processor when a packet waited), behind the admin token.
	api.Handle("GET /api/debug/pprof/", adminOnly(http.StripPrefix("/api", http.HandlerFunc(pprof.Index)).ServeHTTP))
	api.Handle("GET /api/debug/pprof/profile", adminOnly(http.StripPrefix("/api", http.HandlerFunc(pprof.Profile)).ServeHTTP))
	api.Handle("GET /api/debug/pprof/trace", adminOnly(http.StripPrefix("/api", http.HandlerFunc(pprof.Trace)).ServeHTTP))
	api.HandleFunc("/api/", noEndpoint)
	mux.Handle("/api/", s.authenticate(api))
	for _, m := range s.mounted {
		mux.Handle(m.pattern, s.authenticate(m.h))
	}
	for _, p := range s.public {
		mux.Handle(p.pattern, p.h)
	}
	if s.Auth == nil {
		return mux
	}
	s.Auth.Routes(mux)
	return s.Auth.Middleware(mux)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	if s.Health != nil {
		if err := s.Health(); err != nil {
			WriteError(w, http.StatusServiceUnavailable, err.Error())
			return
		}
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// requireAdmin checks the bearer token in constant time.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || s.AdminToken == "" || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.AdminToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="hotline"`)
			WriteError(w, http.StatusUnauthorized, "a valid bearer token is required (Authorization: Bearer <admin token>)")
			return
		}
		// The admin token acts as the administrator (role admin) in the case API.
		next.ServeHTTP(w, r.WithContext(WithUser(r.Context(), User{ID: "admin", Role: cases.RoleAdmin})))
	})
}

func (s *Server) listCalls(w http.ResponseWriter, r *http.Request) {
	calls := []CallInfo{}
	if s.Calls != nil {
		calls = s.Calls.Calls()
	}
	st := r.URL.Query().Get("state")
	u := UserFrom(r.Context())
	kept := calls[:0]
	for _, c := range calls {
		if (st == "" || c.State == st) && s.mayView(r.Context(), u, c) {
			kept = append(kept, c)
		}
	}
	calls = kept
	WriteJSON(w, http.StatusOK, map[string]any{"calls": calls})
}

func (s *Server) getCall(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := s.findCall(id)
	if err != nil {
		WriteError(w, http.StatusNotFound, "no call with id "+id)
		return
	}
	if !s.mayView(r.Context(), UserFrom(r.Context()), c) {
		s.deny(w, r, auth.ActionAccess, "call "+c.ID)
		return
	}
	WriteJSON(w, http.StatusOK, c)
}

// pauseRecording: POST /api/calls/{id}/recording {"paused": true|false}.
func (s *Server) pauseRecording(w http.ResponseWriter, r *http.Request) {
	rc, ok := s.Calls.(RecordingControl)
	if !ok {
		WriteError(w, http.StatusNotFound, "recording control is not available")
		return
	}
	var body struct {
		Paused *bool `json:"paused"`
	}
	if err := decodeBody(r, &body); err != nil || body.Paused == nil {
		WriteError(w, http.StatusBadRequest, `send {"paused": true} or {"paused": false}`)
		return
	}
	if c, err := s.findCall(r.PathValue("id")); err == nil && !s.mayView(r.Context(), UserFrom(r.Context()), c) {
		s.deny(w, r, auth.ActionAccess, "call "+c.ID)
		return
	}
	if err := rc.SetRecordingPaused(r.PathValue("id"), *body.Paused); err != nil {
		WriteError(w, http.StatusNotFound, err.Error())
		return
	}
	WriteJSON(w, http.StatusOK, map[string]bool{"paused": *body.Paused})
}

// WriteJSON writes v as JSON with the status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// WriteError writes {"error": msg} with the status.
func WriteError(w http.ResponseWriter, status int, msg string) {
	WriteJSON(w, status, map[string]string{"error": msg})
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func noEndpoint(w http.ResponseWriter, r *http.Request) {
	WriteError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
}
