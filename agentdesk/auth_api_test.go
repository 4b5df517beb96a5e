package agentdesk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/recordings"
)

// testClock is the auth layer's clock, moved by the test (session expiry).
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testCalls is the call directory: a fixed list, with pausable recordings.
type testCalls struct {
	mu     sync.Mutex
	calls  []CallInfo
	paused map[string]bool
}

func (d *testCalls) Calls() []CallInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]CallInfo(nil), d.calls...)
}

func (d *testCalls) SetRecordingPaused(id string, p bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.calls {
		if c.ID == id {
			d.paused[id] = p
			return nil
		}
	}
	return errors.New("no live recording for this call")
}

// testACD records the agent state changes the API asked for.
type testACD struct {
	mu   sync.Mutex
	done []string
}

func (a *testACD) note(s string) error {
	a.mu.Lock()
	a.done = append(a.done, s)
	a.mu.Unlock()
	return nil
}
func (a *testACD) Login(id string, _ map[string]int) error { return a.note("login " + id) }
func (a *testACD) Ready(id string) error                   { return a.note("ready " + id) }
func (a *testACD) Break(id, reason string) error           { return a.note("break " + id + " " + reason) }
func (a *testACD) Logout(id string) error                  { return a.note("logout " + id) }
func (a *testACD) EndWrapUp(id string) error               { return a.note("wrapup-done " + id) }
func (a *testACD) Snapshot() acd.Snapshot                  { return acd.Snapshot{} }

func (a *testACD) log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.done, "; ")
}

const testPassword = "correct horse battery"

// authEnv is the real server handler with a real auth store in a temporary folder.
type authEnv struct {
	t     testing.TB
	dir   string
	clock *testClock
	au    *auth.Auth
	srv   *Server
	http  *httptest.Server
	calls *testCalls
	rec   map[string][]byte // call id → the recording's bytes
	acd   *testACD
	cases *cases.SQLStore
}

func newAuthEnv(t testing.TB) *authEnv {
	t.Helper()
	e := &authEnv{t: t, dir: t.TempDir(), clock: &testClock{now: time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)},
		rec: map[string][]byte{}, acd: &testACD{}}
	var err error
	e.au, err = auth.Open(e.dir, auth.Options{Now: e.clock.Now, Hash: auth.HashParams{Memory: 64, Time: 1, Threads: 1},
		InsecureCookie: true, UserFailures: 3, IPFailures: 100})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.au.Close() })
	for _, n := range []auth.NewUser{
		{ID: "sup-a", Role: cases.RoleSupervisor, Team: "a"},
		{ID: "sup-b", Role: cases.RoleSupervisor, Team: "b"},
		{ID: "sup-out", Role: cases.RoleSupervisor, Team: "a", Outsourced: true},
		{ID: "agent-a1", Role: cases.RoleAgent, Team: "a"},
		{ID: "agent-a2", Role: cases.RoleAgent, Team: "a", Outsourced: true},
		{ID: "agent-b1", Role: cases.RoleAgent, Team: "b"},
		{ID: "handler-env", Role: cases.RoleHandler, Dept: "sthjj"},
		{ID: "boss", Role: cases.RoleAdmin},
	} {
		n.Password = testPassword
		if _, _, err := e.au.CreateUser(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	// A user with a one-time password, as an administrator creates them.
	if _, _, err := e.au.CreateUser(context.Background(), auth.NewUser{ID: "newbie", Role: cases.RoleAgent, Team: "a"}); err != nil {
		t.Fatal(err)
	}
	e.cases, err = cases.OpenSQLite(context.Background(), filepath.Join(e.dir, "cases.db"), cases.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cases.Close() })
	recDir := filepath.Join(e.dir, "recordings")
	e.calls = &testCalls{paused: map[string]bool{}}
	for i, c := range []CallInfo{
		{ID: "call-a1", Agent: "agent-a1", State: "ended", Case: "20261127-000001"},
		{ID: "call-a2", Agent: "agent-a2", State: "answered"},
		{ID: "call-b1", Agent: "agent-b1", State: "ended"},
		{ID: "call-q", State: "ringing"}, // no agent yet
	} {
		if c.State == "ended" {
			c.Recording = filepath.Join(recDir, "2026", "11", "27", c.ID+".wav")
			if err := os.MkdirAll(filepath.Dir(c.Recording), 0o750); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 44+8000*4)
			for j := range b {
				b[j] = byte(j*7 + i)
			}
			copy(b, "RIFF")
			if err := os.WriteFile(c.Recording, b, 0o640); err != nil {
				t.Fatal(err)
			}
			e.rec[c.ID] = b
		}
		e.calls.calls = append(e.calls.calls, c)
	}
	e.srv = &Server{AdminToken: "the-admin-token", Calls: e.calls, Auth: e.au, ACD: e.acd,
		AgentSkills: map[string]map[string]int{"agent-a1": {"general": 5}, "agent-a2": {"general": 5}, "agent-b1": {"general": 5}},
		Recordings:  &recordings.Store{Dir: recDir}, Cases: NewCasesAPI(e.cases, nil),
		CaseDept: func(ctx context.Context, number string) (string, error) {
			if number == "20261127-000001" {
				return "sthjj", nil
			}
			return "", errors.New("no such case")
		}}
	e.srv.CaseCall = func(ctx context.Context, ref string) (CallInfo, error) {
		switch ref {
		case "20261127-000001": // an older call, no longer listed, of agent-a1
			return CallInfo{ID: "call-old", Agent: "agent-a1", Case: ref, State: "ended", Recording: e.calls.calls[0].Recording}, nil
		case "20261127-000002":
			return CallInfo{Case: ref}, nil // a work order from the web form: no call
		case "broken":
			return CallInfo{}, errors.New("database unreachable")
		}
		return CallInfo{}, cases.ErrNotFound
	}
	e.srv.Mount("GET /api/whoami", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, UserFrom(r.Context()))
	}))
	e.srv.Public("GET /login", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "the sign-in page")
	}))
	e.http = httptest.NewServer(e.srv.Handler())
	t.Cleanup(e.http.Close)
	return e
}

// client is one browser: a cookie jar and the CSRF token of its session.
type client struct {
	e    *authEnv
	c    *http.Client
	csrf string
	hdr  http.Header // extra headers on every request
}

func (e *authEnv) browser() *client {
	jar, _ := cookiejar.New(nil)
	return &client{e: e, c: &http.Client{Jar: jar, Timeout: 10 * time.Second}, hdr: http.Header{}}
}

type reply struct {
	code int
	body []byte
	hdr  http.Header
}

func (r reply) err() string {
	var e struct{ Error string }
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

func (c *client) do(method, path, body string, hdr ...string) reply {
	c.e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.e.http.URL+path, rd)
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set(auth.CSRFHeader, c.csrf)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 400 {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			c.e.t.Errorf("%s %s: %d with content type %q, want a JSON message: %s", method, path, resp.StatusCode, ct, b)
		}
		var e struct{ Error string }
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			c.e.t.Errorf("%s %s: %d without {\"error\": …}: %s", method, path, resp.StatusCode, b)
		}
	}
	return reply{resp.StatusCode, b, resp.Header}
}

func (c *client) want(code int, method, path, body string, hdr ...string) reply {
	c.e.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.code != code {
		c.e.t.Fatalf("%s %s: %d, want %d: %s", method, path, r.code, code, r.body)
	}
	return r
}

func (c *client) login(user, password string) reply {
	c.e.t.Helper()
	b, _ := json.Marshal(map[string]string{"user": user, "password": password})
	r := c.do("POST", "/api/auth/login", string(b))
	if r.code == http.StatusOK {
		var me struct{ CSRF string }
		_ = json.Unmarshal(r.body, &me)
		c.csrf = me.CSRF
	}
	return r
}

func (e *authEnv) signIn(user string) *client {
	e.t.Helper()
	c := e.browser()
	if r := c.login(user, testPassword); r.code != http.StatusOK || c.csrf == "" {
		e.t.Fatalf("sign-in of %s: %d %s", user, r.code, r.body)
	}
	return c
}

func (e *authEnv) admin() *client {
	c := e.browser()
	c.hdr.Set("Authorization", "Bearer the-admin-token")
	return c
}

// audit returns the audit log's lines.
func (e *authEnv) audit() []auth.Entry {
	e.t.Helper()
	f, err := os.Open(filepath.Join(e.dir, "audit", "audit.jsonl"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	var out []auth.Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var x auth.Entry
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			e.t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, x)
	}
	return out
}

// wantAudit fails unless the audit log has a line matching all the non-empty fields.
func (e *authEnv) wantAudit(want auth.Entry) auth.Entry {
	e.t.Helper()
	for _, x := range e.audit() {
		if (want.User == "" || x.User == want.User) && (want.Action == "" || x.Action == want.Action) &&
			(want.Target == "" || x.Target == want.Target) && (want.Result == "" || x.Result == want.Result) &&
			strings.Contains(x.Detail, want.Detail) {
			return x
		}
	}
	e.t.Fatalf("no audit line like %+v in %+v", want, e.audit())
	return auth.Entry{}
}

func mustURL(t testing.TB, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func callIDs(t *testing.T, r reply) []string {
	t.Helper()
	var list struct{ Calls []CallInfo }
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, c := range list.Calls {
		ids = append(ids, c.ID)
	}
	return ids
}

func TestAuthAPIWrongPasswordAndRateLimit(t *testing.T) {
	e := newAuthEnv(t)
	c := e.browser()
	c.want(http.StatusUnauthorized, "GET", "/api/calls", "")
	for i := range 3 {
		if r := c.login("agent-a1", "wrong password "+fmt.Sprint(i)); r.code != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %d %s", i, r.code, r.body)
		}
	}
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionLogin, Result: auth.ResultFailed, Detail: "wrong password"})
	// The limit holds even for the right password now.
	r := c.login("agent-a1", testPassword)
	if r.code != http.StatusTooManyRequests || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("after 3 failures: %d (Retry-After %q) %s", r.code, r.hdr.Get("Retry-After"), r.body)
	}
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionLogin, Result: auth.ResultLimited})
	c.want(http.StatusUnauthorized, "GET", "/api/calls", "")
	// Another user from the same address is not blocked.
	e.signIn("agent-b1").want(http.StatusOK, "GET", "/api/calls", "")
	// The window passes.
	e.clock.Advance(16 * time.Minute)
	if r := c.login("agent-a1", testPassword); r.code != http.StatusOK {
		t.Fatalf("after the window: %d %s", r.code, r.body)
	}
}

func TestAuthAPIExpiredSession(t *testing.T) {
	e := newAuthEnv(t)
	c := e.signIn("sup-a")
	c.want(http.StatusOK, "GET", "/api/calls", "")
	e.clock.Advance(8*time.Hour + time.Minute) // past the idle timeout
	r := c.want(http.StatusUnauthorized, "GET", "/api/calls", "")
	if !strings.Contains(r.err(), "expired") {
		t.Errorf("expired session: %q", r.err())
	}
	// The session is gone for good, and the mounted routes refuse it too.
	c.want(http.StatusUnauthorized, "GET", "/api/whoami", "")
	c.want(http.StatusUnauthorized, "GET", "/api/auth/me", "")
}

func TestAuthAPIForgedCSRF(t *testing.T) {
	e := newAuthEnv(t)
	c := e.signIn("agent-a1")
	good := c.csrf
	c.csrf = "forged" + good[6:]
	c.want(http.StatusForbidden, "POST", "/api/calls/call-a1/recording", `{"paused":true}`)
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionCSRF, Result: auth.ResultDenied,
		Target: "POST /api/calls/call-a1/recording"})
	c.csrf = ""
	c.want(http.StatusForbidden, "POST", "/api/calls/call-a1/recording", `{"paused":true}`)
	c.csrf = good
	c.want(http.StatusForbidden, "POST", "/api/calls/call-a1/recording", `{"paused":true}`, "Origin", "https://evil.example")
	if e.calls.paused["call-a1"] {
		t.Fatal("a refused request paused the recording")
	}
	c.want(http.StatusOK, "POST", "/api/calls/call-a1/recording", `{"paused":true}`)
	if !e.calls.paused["call-a1"] {
		t.Fatal("the recording was not paused")
	}
	// Bearer clients carry no cookie and need no CSRF token.
	e.admin().want(http.StatusOK, "POST", "/api/calls/call-a1/recording", `{"paused":false}`)
}

func TestAuthAPICallScope(t *testing.T) {
	e := newAuthEnv(t)
	for _, tc := range []struct {
		who  *client
		name string
		want string
	}{
		{e.signIn("agent-a1"), "agent-a1", "call-a1"},
		{e.signIn("agent-a2"), "agent-a2", "call-a2"},
		{e.signIn("sup-a"), "sup-a", "call-a1 call-a2"},
		{e.signIn("sup-b"), "sup-b", "call-b1"},
		{e.signIn("handler-env"), "handler-env", "call-a1"},
		{e.signIn("boss"), "boss", "call-a1 call-a2 call-b1 call-q"},
		{e.admin(), "admin token", "call-a1 call-a2 call-b1 call-q"},
	} {
		got := strings.Join(callIDs(t, tc.who.want(http.StatusOK, "GET", "/api/calls", "")), " ")
		if got != tc.want {
			t.Errorf("%s sees %q, want %q", tc.name, got, tc.want)
		}
	}
	sup := e.signIn("sup-a")
	var c CallInfo
	if err := json.Unmarshal(sup.want(http.StatusOK, "GET", "/api/calls/call-a2", "").body, &c); err != nil || c.ID != "call-a2" {
		t.Fatalf("own team's call: %+v %v", c, err)
	}
	r := sup.want(http.StatusForbidden, "GET", "/api/calls/call-b1", "")
	if !strings.Contains(r.err(), "call-b1") {
		t.Errorf("403 message: %q", r.err())
	}
	e.wantAudit(auth.Entry{User: "sup-a", Action: auth.ActionAccess, Target: "call call-b1", Result: auth.ResultDenied})
	e.signIn("agent-a1").want(http.StatusForbidden, "GET", "/api/calls/call-a2", "")
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionAccess, Target: "call call-a2", Result: auth.ResultDenied})
	// Another team's recording cannot be paused either.
	sup.want(http.StatusForbidden, "POST", "/api/calls/call-b1/recording", `{"paused":true}`)
	sup.want(http.StatusNotFound, "GET", "/api/calls/nothing", "")
	// A one-time password must be changed before anything else.
	nb := e.browser()
	var me struct {
		MustChange bool `json:"must_change_password"`
	}
	pw, err := e.au.ResetPassword(context.Background(), "newbie")
	if err != nil {
		t.Fatal(err)
	}
	if r := nb.login("newbie", pw); r.code != http.StatusOK || json.Unmarshal(r.body, &me) != nil || !me.MustChange {
		t.Fatalf("newbie: %d %s", r.code, r.body)
	}
	nb.want(http.StatusForbidden, "GET", "/api/calls", "")
}

func TestAuthAPIWhoIsAsking(t *testing.T) {
	e := newAuthEnv(t)
	var u User
	if err := json.Unmarshal(e.signIn("agent-a2").want(http.StatusOK, "GET", "/api/whoami", "").body, &u); err != nil {
		t.Fatal(err)
	}
	if u != (User{ID: "agent-a2", Role: cases.RoleAgent, Team: "a", Outsourced: true}) {
		t.Errorf("mounted handler sees %+v", u)
	}
	e.browser().want(http.StatusUnauthorized, "GET", "/api/whoami", "")
	bad := e.browser()
	bad.hdr.Set("Authorization", "Bearer not-the-token")
	bad.want(http.StatusUnauthorized, "GET", "/api/whoami", "")
	if r := e.browser().do("GET", "/login", ""); r.code != http.StatusOK || string(r.body) != "the sign-in page" {
		t.Errorf("public page: %d %s", r.code, r.body)
	}
	// Only administrators reload flows or profile the process.
	e.signIn("sup-a").want(http.StatusForbidden, "GET", "/api/debug/pprof/", "")
	e.admin().want(http.StatusOK, "GET", "/api/debug/pprof/", "")
	e.signIn("sup-a").want(http.StatusForbidden, "GET", "/api/debug/pprof/trace?seconds=0.05", "")
	if r := e.admin().do("GET", "/api/debug/pprof/trace?seconds=0.05", ""); r.code != http.StatusOK || !bytes.HasPrefix(r.body, []byte("go 1.")) {
		t.Errorf("trace: %d, %d bytes starting %q", r.code, len(r.body), r.body[:min(len(r.body), 8)])
	}
}

func TestAuthAPIBodies(t *testing.T) {
	e := newAuthEnv(t)
	c := e.browser()
	c.want(http.StatusBadRequest, "POST", "/api/auth/login", `{"user":"agent-a1",`)
	c.want(http.StatusBadRequest, "POST", "/api/auth/login", `["agent-a1"]`)
	c.want(http.StatusRequestEntityTooLarge, "POST", "/api/auth/login",
		`{"user":"agent-a1","password":"`+strings.Repeat("x", 1<<20)+`"}`)
	c = e.signIn("agent-a1")
	c.want(http.StatusBadRequest, "POST", "/api/calls/call-a1/recording", `{"paused":`)
	c.want(http.StatusBadRequest, "POST", "/api/calls/call-a1/recording", `{"paused":"yes"}`)
	c.want(http.StatusRequestEntityTooLarge, "POST", "/api/calls/call-a1/recording",
		`{"paused":true,"x":"`+strings.Repeat("x", maxBody)+`"}`)
	// Chunked, with no length announced.
	req, _ := http.NewRequest("POST", e.http.URL+"/api/calls/call-a1/recording",
		io.MultiReader(strings.NewReader(`{"paused":true,"x":"`), bytes.NewReader(bytes.Repeat([]byte("x"), 2*maxBody)), strings.NewReader(`"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.CSRFHeader, c.csrf)
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked oversize body: %d", resp.StatusCode)
	}
}

func TestAuthAPISignOutEverywhere(t *testing.T) {
	e := newAuthEnv(t)
	desk, laptop := e.signIn("sup-a"), e.signIn("sup-a")
	other := e.signIn("sup-b")
	desk.want(http.StatusOK, "GET", "/api/calls", "")
	laptop.want(http.StatusOK, "GET", "/api/calls", "")
	laptop.want(http.StatusForbidden, "POST", "/api/auth/logout-all", "", auth.CSRFHeader, "wrong")
	desk.want(http.StatusOK, "GET", "/api/calls", "")
	laptop.want(http.StatusOK, "POST", "/api/auth/logout-all", "")
	desk.want(http.StatusUnauthorized, "GET", "/api/calls", "")
	laptop.want(http.StatusUnauthorized, "GET", "/api/calls", "")
	desk.want(http.StatusUnauthorized, "GET", "/api/whoami", "")
	other.want(http.StatusOK, "GET", "/api/calls", "")
	e.wantAudit(auth.Entry{User: "sup-a", Action: auth.ActionLogoutAll, Result: auth.ResultOK})
	// Signing in again works.
	e.signIn("sup-a").want(http.StatusOK, "GET", "/api/calls", "")
}

// The national rule holds end to end: outsourced staff neither dispatch nor close,
// whatever their role, while government staff do.
func TestAuthAPIOutsourcedCannotDispatch(t *testing.T) {
	e := newAuthEnv(t)
	newCase := func() cases.Case {
		var c cases.Case
		r := e.signIn("agent-a2").want(http.StatusCreated, "POST", "/api/cases",
			`{"channel":"web","caller_number":"13800138000","category":"0201","description":"夜间施工噪音"}`)
		if err := json.Unmarshal(r.body, &c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := newCase()
	dispatch := fmt.Sprintf(`{"action":"dispatch","version":%d,"dept":"sthjj"}`, c.Version)
	closeIt := fmt.Sprintf(`{"action":"close","version":%d,"reason":"x"}`, c.Version)
	path := "/api/cases/" + c.ID + "/transitions"
	for _, who := range []string{"agent-a2", "agent-a1", "sup-out"} {
		cl := e.signIn(who)
		cl.want(http.StatusForbidden, "POST", path, dispatch)
		if r := cl.do("POST", path, closeIt); r.code != http.StatusForbidden && who == "sup-out" {
			t.Errorf("%s closes: %d %s", who, r.code, r.body)
		}
	}
	e.wantAudit(auth.Entry{User: "sup-out", Action: auth.ActionAccess, Result: auth.ResultDenied, Detail: "outsourced"})
	// The outsourced supervisor still does what is not case handling, e.g. a note.
	e.signIn("sup-out").want(http.StatusCreated, "POST", "/api/cases/"+c.ID+"/notes", `{"text":"催办"}`)
	var d cases.Case
	if err := json.Unmarshal(e.signIn("sup-a").want(http.StatusOK, "POST", path, dispatch).body, &d); err != nil || d.State != cases.StateDispatched {
		t.Fatalf("a government supervisor dispatches: %+v %v", d, err)
	}
	// The events name who acted, with the role the session gave.
	var tl struct{ Events []cases.Event }
	if err := json.Unmarshal(e.admin().want(http.StatusOK, "GET", "/api/cases/"+c.ID+"/timeline", "").body, &tl); err != nil {
		t.Fatal(err)
	}
	if last := tl.Events[len(tl.Events)-1]; last.Actor != "sup-a" {
		t.Errorf("the dispatch is recorded as %+v", last)
	}
}

// An agent changes only their own state; a supervisor their team's agents' (audited);
// an administrator anyone's.
func TestAuthAPIAgentStateScope(t *testing.T) {
	e := newAuthEnv(t)
	agent, sup := e.signIn("agent-a1"), e.signIn("sup-a")
	agent.want(http.StatusOK, "POST", "/api/agents/agent-a1/ready", "")
	agent.want(http.StatusForbidden, "POST", "/api/agents/agent-b1/logout", "")
	e.wantAudit(auth.Entry{User: "agent-a1", Action: auth.ActionAccess, Target: "agent agent-b1", Result: auth.ResultDenied})
	sup.want(http.StatusOK, "POST", "/api/agents/agent-a2/break", `{"reason":"coaching"}`)
	e.wantAudit(auth.Entry{User: "sup-a", Action: auth.ActionForceState, Target: "agent agent-a2", Result: auth.ResultOK, Detail: "break"})
	sup.want(http.StatusForbidden, "POST", "/api/agents/agent-b1/break", `{"reason":"coaching"}`)
	e.wantAudit(auth.Entry{User: "sup-a", Action: auth.ActionAccess, Target: "agent agent-b1", Result: auth.ResultDenied})
	e.signIn("handler-env").want(http.StatusForbidden, "POST", "/api/agents/agent-a1/logout", "")
	e.admin().want(http.StatusOK, "POST", "/api/agents/agent-b1/logout", "")
	e.signIn("agent-b1").want(http.StatusOK, "GET", "/api/queues", "")
	if got, want := e.acd.log(), "ready agent-a1; break agent-a2 coaching; logout agent-b1"; got != want {
		t.Errorf("the ACD was asked %q, want %q", got, want)
	}
}
