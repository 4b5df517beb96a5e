package agentdesk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
)

// MonitorMode is how a supervisor is on a live call.
type MonitorMode string

const (
	// MonitorListen: the supervisor hears the caller and the agent; nobody hears them.
	MonitorListen MonitorMode = "listen"
	// MonitorWhisper: the supervisor hears both; only the agent hears the supervisor.
	MonitorWhisper MonitorMode = "whisper"
	// MonitorBarge: everyone hears everyone.
	MonitorBarge MonitorMode = "barge"
)

// Valid reports whether m is one of the three modes.
func (m MonitorMode) Valid() bool {
	return m == MonitorListen || m == MonitorWhisper || m == MonitorBarge
}

// MonitorRequest starts a supervisor's session on a call, or switches its mode.
type MonitorRequest struct {
	CallID     string
	Supervisor string
	// Contact is where the supervisor's phone is rung (a SIP URI); empty means their
	// configured or registered phone.
	Contact string
	Mode    MonitorMode
	// Ended, if set, is called once when a session this request started ends other
	// than by Unmonitor: the supervisor's phone hung up, or the call ended. It may run
	// on any goroutine and must not block.
	Ended func(reason string)
}

// MonitorState is a session as a request left it.
type MonitorState struct {
	CallID     string      `json:"call_id"`
	Agent      string      `json:"agent"`
	Supervisor string      `json:"supervisor"`
	Mode       MonitorMode `json:"mode"`
	// Previous is the mode before a switch; empty for a new session (or after leaving, the mode left).
	Previous MonitorMode `json:"previous,omitempty"`
}

// Monitors puts supervisors on live calls between a caller and an agent; the call
// service implements it (agentdesk never imports call).
type Monitors interface {
	// CallAgent is the agent on a live bridged call, for the access check; ErrNotBridged if none.
	CallAgent(callID string) (agentID string, err error)
	// Monitor rings the supervisor and joins them to the call in the mode, or, when the
	// same supervisor is already on it, switches the mode without ringing again.
	Monitor(ctx context.Context, req MonitorRequest) (MonitorState, error)
	// Unmonitor takes the supervisor off the call; the caller and the agent hear each
	// other as before.
	Unmonitor(callID, supervisor string) (MonitorState, error)
}

// Errors a Monitors returns, each with its HTTP status in the monitor API.
var (
	ErrNotBridged        = errors.New("the call is not live with an agent")                              // 404
	ErrNotMonitoring     = errors.New("the supervisor is not on this call")                              // 404
	ErrMonitorBusy       = errors.New("another supervisor is on this call, or joining it")               // 409
	ErrNoSupervisorPhone = errors.New("no phone is known for the supervisor: configure or register one") // 409
)

// MaxMonitorBody bounds the monitor request body: it holds three short strings.
const MaxMonitorBody = 4 << 10

// ActionMonitorLeave is the audit action for a supervisor leaving a call (by request,
// by hanging up, or because the call ended). Starts and mode changes use the mode's
// action (auth.ActionListen, ActionWhisper, ActionBarge).
const ActionMonitorLeave = "monitor_leave"

// MonitorAPI serves POST and DELETE /api/calls/{id}/monitor: a supervisor listens,
// whispers or barges on a call of their team; an administrator on any call.
type MonitorAPI struct {
	Monitors Monitors
	// TeamOf returns a user's team ("" for none): the agent on the call (the supervisor's
	// own team comes from their sign-in, or from TeamOf too). Without it supervisors are
	// refused and only administrators may monitor.
	TeamOf func(ctx context.Context, userID string) string
	// Audit writes one line of the audit log; an error refuses the action (nothing is
	// done unaudited). Without it each line is logged at Info with the attribute audit=true.
	Audit  func(ctx context.Context, e auth.Entry) error
	Logger *slog.Logger
	// Timeout bounds ringing the supervisor's phone (default 30 s).
	Timeout time.Duration
}

// MonitorPattern is where the monitor API is mounted.
const MonitorPattern = "/api/calls/{id}/monitor"

// Handler serves the monitor routes; mount it at MonitorPattern.
func (m *MonitorAPI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+MonitorPattern, m.start)
	mux.HandleFunc("DELETE "+MonitorPattern, m.leave)
	mux.HandleFunc(MonitorPattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", "POST, DELETE")
		WriteError(w, http.StatusMethodNotAllowed, "use POST to start or switch, DELETE to leave")
	})
	return mux
}

// monitorBody is the POST body.
type monitorBody struct {
	Mode       MonitorMode `json:"mode"`
	Supervisor string      `json:"supervisor"`
	Contact    string      `json:"contact"`
}

// decodeMonitorBody reads the POST body strictly: one JSON object of known fields,
// within MaxMonitorBody, with a valid mode and sane strings.
func decodeMonitorBody(r io.Reader) (monitorBody, error) {
	var b monitorBody
	if err := decodeMonitorJSON(r, MaxMonitorBody, &b); err != nil {
		return b, err
	}
	if !b.Mode.Valid() {
		return b, monitorBad(`mode must be "listen", "whisper" or "barge"`)
	}
	if len(b.Supervisor) > 64 || strings.ContainsAny(b.Supervisor, " \t\r\n<>\"") {
		return b, monitorBad("supervisor must be a user id")
	}
	if b.Contact != "" {
		if len(b.Contact) > 256 || !(strings.HasPrefix(b.Contact, "sip:") || strings.HasPrefix(b.Contact, "sips:")) ||
			strings.ContainsAny(b.Contact, " \t\r\n<>\"") {
			return b, monitorBad("contact must be a SIP URI (sip:user@host:port)")
		}
	}
	return b, nil
}

// monitorBodyError is a refused request body; status 0 means 400.
type monitorBodyError struct {
	msg    string
	status int
}

func (e *monitorBodyError) Error() string { return e.msg }

func monitorBad(msg string) error { return &monitorBodyError{msg: msg} }

// decodeMonitorJSON decodes one JSON value with no unknown fields and nothing after it.
func decodeMonitorJSON(r io.Reader, limit int64, v any) error {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return monitorBad("the request body could not be read")
	}
	if int64(len(data)) > limit {
		return &monitorBodyError{msg: "the request body is too large (at most 4 KiB)", status: http.StatusRequestEntityTooLarge}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return monitorBad("the request body is empty; JSON expected")
		}
		return monitorBad("the request body is not valid JSON: " + err.Error())
	}
	if dec.More() {
		return monitorBad("the request body has data after the JSON value")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return monitorBad("the request body has data after the JSON value")
	}
	return nil
}

func (m *MonitorAPI) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// audit writes e (filling who from u); false if it could not be written.
func (m *MonitorAPI) audit(ctx context.Context, r *http.Request, u User, e auth.Entry) bool {
	e.User, e.Role = u.ID, u.Role
	if r != nil && e.IP == "" {
		e.IP = r.RemoteAddr
		if i := strings.LastIndexByte(e.IP, ':'); i > 0 {
			e.IP = e.IP[:i]
		}
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	if m.Audit == nil {
		m.log().Info("supervisor action", "audit", true, "user", e.User, "role", string(e.Role), "ip", e.IP,
			"action", e.Action, "target", e.Target, "result", e.Result, "detail", e.Detail)
		return true
	}
	if err := m.Audit(ctx, e); err != nil {
		m.log().Error("monitor: audit line not written; the action is refused", "error", err, "action", e.Action, "target", e.Target)
		return false
	}
	return true
}

// access checks that u may monitor the call of agentID; it returns why not.
func (m *MonitorAPI) access(ctx context.Context, u User, agentID string) (ok bool, why string) {
	switch u.Role {
	case cases.RoleAdmin:
		return true, ""
	case cases.RoleSupervisor:
		if m.TeamOf == nil {
			return false, "agents' teams are not known here: only administrators may monitor"
		}
		team := u.Team
		if team == "" {
			team = m.TeamOf(ctx, u.ID)
		}
		if team == "" {
			return false, "the supervisor has no team"
		}
		if m.TeamOf(ctx, agentID) != team {
			return false, "the call's agent is not in the supervisor's team"
		}
		return true, ""
	}
	return false, "only supervisors and administrators may monitor calls"
}

func actionOf(mode MonitorMode) string {
	switch mode {
	case MonitorWhisper:
		return auth.ActionWhisper
	case MonitorBarge:
		return auth.ActionBarge
	}
	return auth.ActionListen
}

// start: POST /api/calls/{id}/monitor {"mode":…,"supervisor":…,"contact":…}.
func (m *MonitorAPI) start(w http.ResponseWriter, r *http.Request) {
	u := UserFrom(r.Context())
	callID := r.PathValue("id")
	target := "call:" + callID
	b, err := decodeMonitorBody(http.MaxBytesReader(w, r.Body, MaxMonitorBody+1))
	if err != nil {
		status := http.StatusBadRequest
		var be *monitorBodyError
		if errors.As(err, &be) && be.status != 0 {
			status = be.status
		}
		WriteError(w, status, err.Error())
		return
	}
	action := actionOf(b.Mode)
	deny := func(status int, why string) {
		m.audit(r.Context(), r, u, auth.Entry{Action: action, Target: target, Result: auth.ResultDenied, Detail: why})
		WriteError(w, status, why)
	}
	if u.Role != cases.RoleAdmin && u.Role != cases.RoleSupervisor {
		deny(http.StatusForbidden, "only supervisors and administrators may monitor calls")
		return
	}
	sup := b.Supervisor
	if sup == "" {
		sup = u.ID
	}
	if u.Role != cases.RoleAdmin {
		if sup != u.ID {
			deny(http.StatusForbidden, "a supervisor monitors as themself")
			return
		}
		if b.Contact != "" {
			deny(http.StatusForbidden, "only an administrator may give the phone to ring")
			return
		}
	}
	agentID, err := m.Monitors.CallAgent(callID)
	if err != nil {
		// Not found is not an access question; audited as a failure all the same.
		m.audit(r.Context(), r, u, auth.Entry{Action: action, Target: target, Result: auth.ResultFailed, Detail: err.Error()})
		m.writeErr(w, err)
		return
	}
	if ok, why := m.access(r.Context(), u, agentID); !ok {
		deny(http.StatusForbidden, why)
		return
	}
	// The start is audited before it happens, so that nothing is heard unaudited.
	if !m.audit(r.Context(), r, u, auth.Entry{Action: action, Target: target, Result: "requested",
		Detail: "agent " + agentID + ", supervisor " + sup}) {
		WriteError(w, http.StatusServiceUnavailable, "the audit log cannot be written; monitoring is refused")
		return
	}
	timeout := m.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	who := u
	st, err := m.Monitors.Monitor(ctx, MonitorRequest{CallID: callID, Supervisor: sup, Contact: b.Contact, Mode: b.Mode,
		Ended: func(reason string) {
			m.audit(context.Background(), nil, who, auth.Entry{Action: ActionMonitorLeave, Target: target, Result: auth.ResultOK,
				Detail: "supervisor " + sup + ": " + reason})
		}})
	if err != nil {
		m.audit(r.Context(), r, u, auth.Entry{Action: action, Target: target, Result: auth.ResultFailed, Detail: err.Error()})
		m.writeErr(w, err)
		return
	}
	detail := "started, agent " + agentID + ", supervisor " + sup
	if st.Previous != "" {
		detail = "switched from " + string(st.Previous) + ", agent " + agentID + ", supervisor " + sup
	}
	m.audit(r.Context(), r, u, auth.Entry{Action: action, Target: target, Result: auth.ResultOK, Detail: detail})
	WriteJSON(w, http.StatusOK, st)
}

// leave: DELETE /api/calls/{id}/monitor[?supervisor=id] (an administrator may end
// another supervisor's session).
func (m *MonitorAPI) leave(w http.ResponseWriter, r *http.Request) {
	u := UserFrom(r.Context())
	callID := r.PathValue("id")
	target := "call:" + callID
	deny := func(status int, why string) {
		m.audit(r.Context(), r, u, auth.Entry{Action: ActionMonitorLeave, Target: target, Result: auth.ResultDenied, Detail: why})
		WriteError(w, status, why)
	}
	if u.Role != cases.RoleAdmin && u.Role != cases.RoleSupervisor {
		deny(http.StatusForbidden, "only supervisors and administrators may monitor calls")
		return
	}
	sup := r.URL.Query().Get("supervisor")
	if sup == "" {
		sup = u.ID
	}
	if u.Role != cases.RoleAdmin && sup != u.ID {
		deny(http.StatusForbidden, "a supervisor ends only their own session")
		return
	}
	st, err := m.Monitors.Unmonitor(callID, sup)
	if err != nil {
		m.audit(r.Context(), r, u, auth.Entry{Action: ActionMonitorLeave, Target: target, Result: auth.ResultFailed, Detail: err.Error()})
		m.writeErr(w, err)
		return
	}
	m.audit(r.Context(), r, u, auth.Entry{Action: ActionMonitorLeave, Target: target, Result: auth.ResultOK,
		Detail: "left " + string(st.Previous) + ", supervisor " + sup})
	WriteJSON(w, http.StatusOK, st)
}

func (m *MonitorAPI) writeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrNotBridged), errors.Is(err, ErrNotMonitoring):
		WriteError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrMonitorBusy), errors.Is(err, ErrNoSupervisorPhone):
		WriteError(w, http.StatusConflict, err.Error())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		WriteError(w, http.StatusGatewayTimeout, "the supervisor's phone did not answer in time")
	default:
		WriteError(w, http.StatusBadGateway, "the supervisor's phone was not reached: "+err.Error())
	}
}
