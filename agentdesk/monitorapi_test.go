package agentdesk

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
)

// fakeMonitors keeps sessions in a map: call → supervisor, mode.
type fakeMonitors struct {
	mu       sync.Mutex
	agents   map[string]string // bridged call → agent
	sessions map[string]MonitorRequest
	dialErr  error
}

func (f *fakeMonitors) CallAgent(callID string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.agents[callID]
	if !ok {
		return "", ErrNotBridged
	}
	return a, nil
}

func (f *fakeMonitors) Monitor(ctx context.Context, req MonitorRequest) (MonitorState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := MonitorState{CallID: req.CallID, Agent: f.agents[req.CallID], Supervisor: req.Supervisor, Mode: req.Mode}
	if s, ok := f.sessions[req.CallID]; ok {
		if s.Supervisor != req.Supervisor {
			return st, ErrMonitorBusy
		}
		st.Previous = s.Mode
	} else if f.dialErr != nil {
		return st, f.dialErr
	}
	f.sessions[req.CallID] = req
	return st, nil
}

func (f *fakeMonitors) Unmonitor(callID, supervisor string) (MonitorState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sessions[callID]
	if !ok || s.Supervisor != supervisor {
		return MonitorState{}, ErrNotMonitoring
	}
	delete(f.sessions, callID)
	return MonitorState{CallID: callID, Supervisor: supervisor, Previous: s.Mode}, nil
}

type auditSpy struct {
	mu      sync.Mutex
	entries []auth.Entry
	fail    bool
}

func (a *auditSpy) audit(ctx context.Context, e auth.Entry) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail {
		return errors.New("disk full")
	}
	a.entries = append(a.entries, e)
	return nil
}

func (a *auditSpy) last() auth.Entry {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) == 0 {
		return auth.Entry{}
	}
	return a.entries[len(a.entries)-1]
}

func (a *auditSpy) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.entries)
}

type monitorAPIFixture struct {
	mon   *fakeMonitors
	audit *auditSpy
	h     http.Handler
}

func newMonitorAPIFixture() *monitorAPIFixture {
	f := &monitorAPIFixture{
		mon:   &fakeMonitors{agents: map[string]string{"c1": "1001", "c2": "2001"}, sessions: map[string]MonitorRequest{}},
		audit: &auditSpy{},
	}
	teams := map[string]string{"1001": "east", "2001": "west", "sup-east": "east"}
	api := &MonitorAPI{Monitors: f.mon, Audit: f.audit.audit,
		TeamOf: func(ctx context.Context, id string) string { return teams[id] }}
	f.h = api.Handler()
	return f
}

func (f *monitorAPIFixture) do(t *testing.T, u User, method, path, body string) (int, map[string]any) {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r = r.WithContext(WithUser(r.Context(), u))
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var out map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: the response is not JSON: %q", method, path, w.Body.String())
	}
	if w.Code >= 400 {
		if _, ok := out["error"].(string); !ok {
			t.Errorf("%s %s: %d without an error message: %s", method, path, w.Code, w.Body.String())
		}
	}
	return w.Code, out
}

var (
	admin     = User{ID: "admin", Role: cases.RoleAdmin}
	supEast   = User{ID: "sup-east", Role: cases.RoleSupervisor, Team: "east"}
	supNoTeam = User{ID: "sup-x", Role: cases.RoleSupervisor}
	anAgent   = User{ID: "1001", Role: cases.RoleAgent, Team: "east"}
)

func TestMonitorAPIStartSwitchLeaveAudited(t *testing.T) {
	f := newMonitorAPIFixture()
	code, out := f.do(t, supEast, "POST", "/api/calls/c1/monitor", `{"mode":"listen"}`)
	if code != 200 || out["mode"] != "listen" || out["supervisor"] != "sup-east" || out["agent"] != "1001" {
		t.Fatalf("listen: %d %v", code, out)
	}
	if e := f.audit.last(); e.Action != auth.ActionListen || e.Result != auth.ResultOK || e.User != "sup-east" ||
		e.Target != "call:c1" || !strings.Contains(e.Detail, "started") {
		t.Errorf("audit of the start: %+v", e)
	}
	code, out = f.do(t, supEast, "POST", "/api/calls/c1/monitor", `{"mode":"whisper","supervisor":"sup-east"}`)
	if code != 200 || out["previous"] != "listen" || out["mode"] != "whisper" {
		t.Fatalf("whisper: %d %v", code, out)
	}
	if e := f.audit.last(); e.Action != auth.ActionWhisper || e.Result != auth.ResultOK || !strings.Contains(e.Detail, "switched from listen") {
		t.Errorf("audit of the switch: %+v", e)
	}
	code, _ = f.do(t, supEast, "POST", "/api/calls/c1/monitor", `{"mode":"barge"}`)
	if code != 200 {
		t.Fatalf("barge: %d", code)
	}
	if e := f.audit.last(); e.Action != auth.ActionBarge || e.Result != auth.ResultOK {
		t.Errorf("audit of the barge: %+v", e)
	}
	code, out = f.do(t, supEast, "DELETE", "/api/calls/c1/monitor", "")
	if code != 200 || out["previous"] != "barge" {
		t.Fatalf("leave: %d %v", code, out)
	}
	if e := f.audit.last(); e.Action != ActionMonitorLeave || e.Result != auth.ResultOK || e.User != "sup-east" {
		t.Errorf("audit of the leave: %+v", e)
	}
	code, _ = f.do(t, supEast, "DELETE", "/api/calls/c1/monitor", "")
	if code != 404 {
		t.Errorf("leaving twice: %d, want 404", code)
	}
	// The session's own end (hang-up, call over) is audited through Ended.
	f.do(t, supEast, "POST", "/api/calls/c1/monitor", `{"mode":"listen"}`)
	n := f.audit.count()
	f.mon.sessions["c1"].Ended("the supervisor hung up")
	if e := f.audit.last(); f.audit.count() != n+1 || e.Action != ActionMonitorLeave || e.User != "sup-east" ||
		!strings.Contains(e.Detail, "hung up") {
		t.Errorf("audit of the session's own end: %+v", e)
	}
}

func TestMonitorAPIAccess(t *testing.T) {
	f := newMonitorAPIFixture()
	for _, tc := range []struct {
		name string
		u    User
		path string
		body string
		want int
	}{
		{"another team's call", supEast, "/api/calls/c2/monitor", `{"mode":"listen"}`, 403},
		{"a supervisor without a team", supNoTeam, "/api/calls/c1/monitor", `{"mode":"listen"}`, 403},
		{"an agent", anAgent, "/api/calls/c1/monitor", `{"mode":"listen"}`, 403},
		{"nobody signed in", User{}, "/api/calls/c1/monitor", `{"mode":"listen"}`, 403},
		{"as another supervisor", supEast, "/api/calls/c1/monitor", `{"mode":"listen","supervisor":"sup-west"}`, 403},
		{"a contact from a supervisor", supEast, "/api/calls/c1/monitor", `{"mode":"listen","contact":"sip:evil@10.0.0.1"}`, 403},
	} {
		n := f.audit.count()
		code, _ := f.do(t, tc.u, "POST", tc.path, tc.body)
		if code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
		if e := f.audit.last(); f.audit.count() != n+1 || e.Result != auth.ResultDenied || e.Action != auth.ActionListen {
			t.Errorf("%s: the denial is not audited: %+v", tc.name, e)
		}
	}
	if len(f.mon.sessions) != 0 {
		t.Fatalf("a denied request started a session: %v", f.mon.sessions)
	}
	// An administrator monitors any call, as any supervisor, at any contact.
	code, out := f.do(t, admin, "POST", "/api/calls/c2/monitor", `{"mode":"barge","supervisor":"sup-west","contact":"sip:9001@127.0.0.1:5090"}`)
	if code != 200 || out["supervisor"] != "sup-west" || f.mon.sessions["c2"].Contact != "sip:9001@127.0.0.1:5090" {
		t.Fatalf("admin: %d %v %+v", code, out, f.mon.sessions["c2"])
	}
	// A supervisor cannot end someone else's session; an administrator can.
	code, _ = f.do(t, supEast, "DELETE", "/api/calls/c2/monitor?supervisor=sup-west", "")
	if e := f.audit.last(); code != 403 || e.Result != auth.ResultDenied || e.Action != ActionMonitorLeave {
		t.Errorf("a supervisor ending another's session: %d %+v", code, e)
	}
	code, _ = f.do(t, admin, "DELETE", "/api/calls/c2/monitor?supervisor=sup-west", "")
	if code != 200 {
		t.Errorf("admin ending a session: %d", code)
	}
	// Without teams known, supervisors are refused and administrators are not.
	noTeams := &MonitorAPI{Monitors: f.mon, Audit: f.audit.audit}
	for _, tc := range []struct {
		u    User
		want int
	}{{supEast, 403}, {admin, 200}} {
		r := httptest.NewRequest("POST", "/api/calls/c1/monitor", strings.NewReader(`{"mode":"listen"}`))
		w := httptest.NewRecorder()
		noTeams.Handler().ServeHTTP(w, r.WithContext(WithUser(r.Context(), tc.u)))
		if w.Code != tc.want {
			t.Errorf("no teams, %s: %d, want %d", tc.u.Role, w.Code, tc.want)
		}
	}
}

func TestMonitorAPIBadRequests(t *testing.T) {
	f := newMonitorAPIFixture()
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"empty", "POST", "/api/calls/c1/monitor", ``, 400},
		{"not JSON", "POST", "/api/calls/c1/monitor", `mode=listen`, 400},
		{"unknown field", "POST", "/api/calls/c1/monitor", `{"mode":"listen","volume":11}`, 400},
		{"bad mode", "POST", "/api/calls/c1/monitor", `{"mode":"spy"}`, 400},
		{"no mode", "POST", "/api/calls/c1/monitor", `{}`, 400},
		{"trailing data", "POST", "/api/calls/c1/monitor", `{"mode":"listen"} {"mode":"barge"}`, 400},
		{"an array", "POST", "/api/calls/c1/monitor", `[{"mode":"listen"}]`, 400},
		{"a bad contact", "POST", "/api/calls/c1/monitor", `{"mode":"listen","contact":"http://x"}`, 400},
		{"a contact with CRLF", "POST", "/api/calls/c1/monitor", `{"mode":"listen","contact":"sip:a@b\r\nVia: x"}`, 400},
		{"too large", "POST", "/api/calls/c1/monitor", `{"mode":"listen","supervisor":"` + strings.Repeat("a", 5000) + `"}`, 413},
		{"no such call", "POST", "/api/calls/nope/monitor", `{"mode":"listen"}`, 404},
		{"leave no such call", "DELETE", "/api/calls/nope/monitor", ``, 404},
		{"wrong method", "GET", "/api/calls/c1/monitor", ``, 405},
	} {
		if code, _ := f.do(t, admin, tc.method, tc.path, tc.body); code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, code, tc.want)
		}
	}
	// 409: another supervisor is on the call; no phone for the supervisor.
	if code, _ := f.do(t, admin, "POST", "/api/calls/c1/monitor", `{"mode":"listen","supervisor":"sup-a"}`); code != 200 {
		t.Fatalf("start: %d", code)
	}
	if code, _ := f.do(t, admin, "POST", "/api/calls/c1/monitor", `{"mode":"barge","supervisor":"sup-b"}`); code != 409 {
		t.Errorf("a second supervisor: %d, want 409", code)
	}
	f.mon.dialErr = ErrNoSupervisorPhone
	if code, _ := f.do(t, admin, "POST", "/api/calls/c2/monitor", `{"mode":"listen"}`); code != 409 {
		t.Errorf("no phone: %d, want 409", code)
	}
	f.mon.dialErr = errors.New("sip: dial: 486 Busy Here")
	if code, out := f.do(t, admin, "POST", "/api/calls/c2/monitor", `{"mode":"listen"}`); code != 502 || !strings.Contains(out["error"].(string), "486") {
		t.Errorf("phone busy: %d %v, want 502", code, out)
	}
	// Nothing is heard unaudited: a start the audit log cannot record is refused.
	f.mon.dialErr = nil
	f.audit.fail = true
	if code, _ := f.do(t, admin, "POST", "/api/calls/c2/monitor", `{"mode":"listen"}`); code != 503 {
		t.Errorf("audit failing: %d, want 503", code)
	}
	if _, ok := f.mon.sessions["c2"]; ok {
		t.Error("a session started without an audit line")
	}
}

func FuzzDecodeMonitorBody(f *testing.F) {
	for _, s := range []string{
		`{"mode":"listen"}`, `{"mode":"whisper","supervisor":"sup-east"}`,
		`{"mode":"barge","supervisor":"admin","contact":"sip:9001@127.0.0.1:5090"}`,
		`{"mode":"spy"}`, `{}`, `[]`, `null`, ``, `{`, `{"mode":"listen"} x`, `{"mode":"listen","x":1}`,
		`{"mode":"listen","contact":"sip:a@b\r\nVia: x"}`, `{"mode":"\ud800"}`, `{"mode":"listen","supervisor":1}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := decodeMonitorBody(strings.NewReader(s))
		if err != nil {
			var be *monitorBodyError
			if !errors.As(err, &be) {
				t.Fatalf("decoder error of the wrong kind: %T %v", err, err)
			}
			return
		}
		if !b.Mode.Valid() || strings.ContainsAny(b.Contact+b.Supervisor, "\r\n") ||
			(b.Contact != "" && !strings.HasPrefix(b.Contact, "sip:") && !strings.HasPrefix(b.Contact, "sips:")) {
			t.Fatalf("accepted %+v", b)
		}
	})
}
