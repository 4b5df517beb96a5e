package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

func TestLoginOK(t *testing.T) {
	e := newEnv(t)
	r := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(`{"user":" Agent1 ","password":"`+e.pw["agent1"]+`"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "http://example.com")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	cs := w.Result().Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies %v", cs)
	}
	c := cs[0]
	if c.Name != "hotline_session" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || len(c.Value) < 43 {
		t.Fatalf("cookie %+v", c)
	}
	cl := e.client("192.0.2.1")
	rep := cl.login("agent1", e.pw["agent1"])
	if rep.body["user"] != "agent1" || rep.body["role"] != "agent" || rep.body["csrf"] == "" || rep.body["team"] != "a" {
		t.Fatalf("login body %v", rep.body)
	}
	me := cl.do("GET", "/api/auth/me", "")
	if me.code != 200 || me.body["user"] != "agent1" || me.body["csrf"] != cl.csrf {
		t.Fatalf("me: %d %v", me.code, me.body)
	}
	perms := fmt.Sprint(me.body["permissions"])
	if !strings.Contains(perms, "take_calls") || strings.Contains(perms, "dispatch_case") {
		t.Fatalf("permissions %s", perms)
	}
	if a := e.lastAudit(ActionLogin); a.User != "agent1" || a.Role != cases.RoleAgent || a.Result != ResultOK || a.IP != "192.0.2.1" {
		t.Fatalf("audit %+v", a)
	}
}

func TestInsecureCookieOption(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.InsecureCookie = true })
	r := httptest.NewRequest("POST", "/api/auth/login", strings.NewReader(`{"user":"agent1","password":"`+e.pw["agent1"]+`"}`))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	if c := w.Result().Cookies()[0]; c.Secure || !c.HttpOnly {
		t.Fatalf("cookie %+v", c)
	}
}

func TestLoginRefused(t *testing.T) {
	e := newEnv(t)
	if _, err := e.a.UpdateUser(context.Background(), "agent2", UserPatch{Disabled: ptr(true)}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ user, pw, why string }{
		{"agent1", "wrong password!", "wrong password"},
		{"nobody", "whatever it is", "unknown user"},
		{"agent2", e.pw["agent2"], "account disabled"},
	} {
		c := e.client("192.0.2.2")
		r := c.login(tc.user, tc.pw)
		if r.code != 401 || r.body["error"] != "wrong user or password" || c.cookie != "" {
			t.Errorf("%s: %d %v", tc.why, r.code, r.body)
		}
		a := e.lastAudit(ActionLogin)
		if a.User != tc.user || a.Result != ResultFailed || a.Detail != tc.why {
			t.Errorf("%s: audit %+v", tc.why, a)
		}
	}
}

func TestLoginBadBodies(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.3")
	for _, tc := range []struct {
		body, ctype string
		code        int
	}{
		{`{"user":"agent1","password":"x","admin":true}`, "application/json", 400},
		{`{"user":"agent1"}`, "application/json", 400},
		{`{"user":"agent1","password":"x"} {}`, "application/json", 400},
		{`[1]`, "application/json", 400},
		{`{"user":"agent1","password":"` + strings.Repeat("x", 20<<10) + `"}`, "application/json", 413},
		{`user=agent1&password=x`, "application/x-www-form-urlencoded", 415},
	} {
		r := c.do("POST", "/api/auth/login", tc.body, "Content-Type", tc.ctype)
		if r.code != tc.code || r.body["error"] == "" {
			t.Errorf("%.40q: %d %v, want %d", tc.body, r.code, r.body, tc.code)
		}
	}
}

func TestLoginRateLimitPerUser(t *testing.T) {
	e := newEnv(t)
	c := e.client("192.0.2.4")
	for i := range 5 {
		if r := c.login("agent1", "wrong password "+strconv.Itoa(i)); r.code != 401 {
			t.Fatalf("attempt %d: %d", i, r.code)
		}
		e.clock.Advance(time.Minute)
	}
	// Blocked now, even with the right password and from another address.
	r := e.client("198.51.100.7").login("agent1", e.pw["agent1"])
	if r.code != 429 || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("6th attempt: %d %v", r.code, r.hdr)
	}
	if ra, _ := strconv.Atoi(r.hdr.Get("Retry-After")); ra < 9*60 || ra > 11*60 {
		t.Fatalf("Retry-After %d s, want about 10 min (the first failure ages out)", ra)
	}
	if a := e.lastAudit(ActionLogin); a.Result != ResultLimited || a.User != "agent1" {
		t.Fatalf("audit %+v", a)
	}
	// Others are not affected.
	if r := e.client("192.0.2.4").login("agent2", e.pw["agent2"]); r.code != 200 {
		t.Fatalf("other user: %d", r.code)
	}
	e.clock.Advance(11 * time.Minute)
	if r := c.login("agent1", e.pw["agent1"]); r.code != 200 {
		t.Fatalf("after the window: %d %v", r.code, r.body)
	}
}

func TestLoginRateLimitPerIP(t *testing.T) {
	e := newEnv(t)
	c := e.client("203.0.113.9")
	for i := range 20 {
		if r := c.login(fmt.Sprintf("guess%d", i), "wrong password"); r.code != 401 {
			t.Fatalf("attempt %d: %d", i, r.code)
		}
	}
	if r := c.login("agent1", e.pw["agent1"]); r.code != 429 {
		t.Fatalf("21st from the address: %d", r.code)
	}
	if r := e.client("203.0.113.10").login("agent1", e.pw["agent1"]); r.code != 200 {
		t.Fatalf("from another address: %d", r.code)
	}
}

func TestSessionIdleExpiry(t *testing.T) {
	e := newEnv(t)
	c := e.signIn("agent1")
	e.clock.Advance(7 * time.Hour)
	if r := c.do("GET", "/api/auth/me", ""); r.code != 200 {
		t.Fatalf("within the idle time: %d", r.code)
	}
	e.clock.Advance(8*time.Hour + time.Second)
	r := c.do("GET", "/api/auth/me", "")
	if r.code != 401 || !strings.Contains(r.raw, "expired") || c.cookie != "" {
		t.Fatalf("after idle: %d %s (cookie %q)", r.code, r.raw, c.cookie)
	}
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AbsoluteTimeout = 10 * time.Hour })
	c := e.signIn("sup-a")
	for range 9 {
		e.clock.Advance(time.Hour)
		if r := c.do("GET", "/api/teams/a/wallboard", ""); r.code != 200 {
			t.Fatalf("in use: %d", r.code)
		}
	}
	e.clock.Advance(time.Hour + time.Second)
	if r := c.do("GET", "/api/teams/a/wallboard", ""); r.code != 401 {
		t.Fatalf("past the absolute limit: %d", r.code)
	}
	if e.a.sessions.Len() != 0 {
		t.Fatalf("expired session kept")
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c := e.signIn("sup-a")
	good := c.csrf
	for _, tc := range []struct {
		name string
		hdr  []string
	}{
		{"missing token", []string{CSRFHeader, ""}},
		{"forged token", []string{CSRFHeader, strings.Repeat("A", len(good))}},
		{"another session's token", []string{CSRFHeader, e.signIn("sup-a").csrf}},
		{"cross-origin", []string{"Origin", "https://evil.example"}},
		{"cross-origin referer", []string{"Referer", "https://evil.example/page"}},
		{"null origin", []string{"Origin", "null"}},
		{"cross-site fetch", []string{"Sec-Fetch-Site", "cross-site"}},
	} {
		r := c.do("POST", "/api/cases/c1/dispatch", "{}", tc.hdr...)
		if r.code != 403 || r.body["error"] == "" {
			t.Errorf("%s: %d %v", tc.name, r.code, r.body)
			continue
		}
		if a := e.lastAudit(ActionCSRF); a.Result != ResultDenied || a.User != "sup-a" || a.Target != "POST /api/cases/c1/dispatch" {
			t.Errorf("%s: audit %+v", tc.name, a)
		}
	}
	for _, origin := range []string{"", "http://example.com", "https://EXAMPLE.com"} {
		if r := c.do("POST", "/api/cases/c1/dispatch", "{}", "Origin", origin); r.code != 200 || r.body["dispatched_by"] != "sup-a" {
			t.Errorf("origin %q: %d %v", origin, r.code, r.body)
		}
	}
	// GETs need no token.
	if r := c.do("GET", "/api/auth/me", "", CSRFHeader, ""); r.code != 200 {
		t.Errorf("GET without token: %d", r.code)
	}
	// The session survives a refused request: the CSRF check does not sign out.
	if r := c.do("POST", "/api/auth/logout", "", CSRFHeader, "nope"); r.code != 403 {
		t.Errorf("logout without a token: %d", r.code)
	}
	if r := c.do("POST", "/api/auth/logout", ""); r.code != 200 || c.cookie != "" {
		t.Errorf("logout: %d", r.code)
	}
	if a := e.lastAudit(ActionLogout); a.User != "sup-a" || a.Result != ResultOK {
		t.Errorf("audit %+v", a)
	}
}

func TestCrossOriginLoginRefused(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TrustedOrigins = []string{"https://desk.hotline.example"} })
	c := e.client("192.0.2.5")
	b := `{"user":"agent1","password":"` + e.pw["agent1"] + `"}`
	if r := c.do("POST", "/api/auth/login", b, "Origin", "https://evil.example"); r.code != 403 || c.cookie != "" {
		t.Fatalf("cross-origin login: %d", r.code)
	}
	if a := e.lastAudit(ActionCSRF); a.Target != "POST /api/auth/login" {
		t.Fatalf("audit %+v", a)
	}
	if r := c.do("POST", "/api/auth/login", b, "Origin", "https://desk.hotline.example"); r.code != 200 {
		t.Fatalf("trusted origin: %d", r.code)
	}
	// Signing in again from a page that lost its token is allowed, and makes a new session.
	old := c.cookie
	c.csrf = ""
	if r := c.do("POST", "/api/auth/login", b); r.code != 200 || c.cookie == old {
		t.Fatalf("re-login: %d", r.code)
	}
	if _, ok := e.a.sessions.Get(old); ok {
		t.Fatal("the old session survived a new sign-in")
	}
}

func TestBearerSkipsCSRF(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Bearer = func(_ context.Context, tok string) (User, bool) {
			return User{ID: "ops", Role: cases.RoleSupervisor, Team: "a"}, tok == "s3cret"
		}
	})
	c := e.client("192.0.2.6")
	if r := c.do("POST", "/api/cases/c1/dispatch", "{}", "Authorization", "Bearer s3cret", "Origin", "https://tool.example"); r.code != 200 || r.body["dispatched_by"] != "ops" {
		t.Fatalf("bearer: %d %v", r.code, r.body)
	}
	if r := c.do("POST", "/api/cases/c1/dispatch", "{}", "Authorization", "Bearer wrong"); r.code != 401 {
		t.Fatalf("wrong bearer: %d", r.code)
	}
	if r := c.do("POST", "/api/auth/logout", "", "Authorization", "Bearer s3cret"); r.code != 400 {
		t.Fatalf("bearer logout: %d", r.code)
	}
}

func TestRequire(t *testing.T) {
	e := newEnv(t)
	anon := e.client("192.0.2.7")
	if r := anon.do("GET", "/api/teams/a/wallboard", ""); r.code != 401 || r.body["error"] != "sign in first" {
		t.Fatalf("anonymous: %d %v", r.code, r.body)
	}
	anon.cookie = "made-up"
	if r := anon.do("GET", "/api/teams/a/wallboard", ""); r.code != 401 {
		t.Fatalf("unknown cookie: %d", r.code)
	}
	sup := e.signIn("sup-a")
	if r := sup.do("GET", "/api/teams/a/wallboard", ""); r.code != 200 {
		t.Fatalf("own team: %d", r.code)
	}
	if r := sup.do("GET", "/api/teams/b/wallboard", ""); r.code != 403 {
		t.Fatalf("other team: %d", r.code)
	}
	a := e.lastAudit(ActionAccess)
	if a.User != "sup-a" || a.Role != cases.RoleSupervisor || a.Result != ResultDenied || a.Target != "GET /api/teams/b/wallboard" || a.Detail != "lacks view_team(b)" {
		t.Fatalf("audit %+v", a)
	}
	// The outsourced agent is refused dispatching, and it is on record.
	ag := e.signIn("agent2")
	if r := ag.do("POST", "/api/cases/c9/dispatch", "{}"); r.code != 403 {
		t.Fatalf("outsourced dispatch: %d", r.code)
	}
	if a := e.lastAudit(ActionAccess); a.User != "agent2" || a.Detail != "lacks dispatch_case" {
		t.Fatalf("audit %+v", a)
	}
}

func TestCheckAndAuditFromHandlers(t *testing.T) {
	e := newEnv(t)
	mux := http.NewServeMux()
	e.a.Routes(mux)
	mux.HandleFunc("GET /rec/{team}", func(w http.ResponseWriter, r *http.Request) {
		if !e.a.Check(w, r, ListenRecording(r.PathValue("team"))) {
			return
		}
		if err := e.a.Audit(r.Context(), Entry{Action: ActionRecording, Target: "rec-" + r.PathValue("team"), Result: ResultOK}); err != nil {
			writeError(w, 500, err.Error())
			return
		}
		writeJSON(w, 200, map[string]string{"ok": "1"})
	})
	e.h = e.a.Middleware(mux)
	sup := e.signIn("sup-a")
	if r := sup.do("GET", "/rec/a", ""); r.code != 200 {
		t.Fatalf("%d", r.code)
	}
	if a := e.lastAudit(ActionRecording); a.User != "sup-a" || a.Role != cases.RoleSupervisor || a.IP != "192.0.2.10" || a.Target != "rec-a" {
		t.Fatalf("audit %+v", a)
	}
	if r := sup.do("GET", "/rec/b", ""); r.code != 403 {
		t.Fatalf("%d", r.code)
	}
	if a := e.lastAudit(ActionAccess); a.Target != "GET /rec/b" {
		t.Fatalf("audit %+v", a)
	}
}

func TestLogoutAll(t *testing.T) {
	e := newEnv(t)
	tab1, tab2, laptop := e.signIn("agent1"), e.signIn("agent1"), e.signIn("agent1")
	other := e.signIn("agent2")
	cookie1 := tab1.cookie
	if r := tab1.do("POST", "/api/auth/logout-all", ""); r.code != 200 || r.body["sessions"] != float64(3) {
		t.Fatalf("logout-all: %d %v", r.code, r.body)
	}
	for i, c := range []*client{tab1, tab2, laptop} {
		if c == tab1 {
			if c.cookie != "" {
				t.Error("logout-all did not clear the cookie")
			}
			c.cookie = cookie1
		}
		if r := c.do("GET", "/api/auth/me", ""); r.code != 401 {
			t.Errorf("session %d alive: %d", i, r.code)
		}
	}
	if r := other.do("GET", "/api/auth/me", ""); r.code != 200 {
		t.Fatalf("another user's session ended: %d", r.code)
	}
	if a := e.lastAudit(ActionLogoutAll); a.User != "agent1" || a.Detail != "3 sessions ended" {
		t.Fatalf("audit %+v", a)
	}
}

// A session made on another node (same store, its own session memory) dies when the
// user's epoch moves: sign-out everywhere holds across nodes sharing the store.
func TestEpochEndsSessions(t *testing.T) {
	e := newEnv(t)
	c := e.signIn("agent1")
	if _, err := e.a.store.Update(context.Background(), "agent1", func(u *User) error { u.Epoch++; return nil }); err != nil {
		t.Fatal(err)
	}
	if r := c.do("GET", "/api/auth/me", ""); r.code != 401 {
		t.Fatalf("%d", r.code)
	}
}

func TestPasswordChange(t *testing.T) {
	e := newEnv(t)
	here, there := e.signIn("agent1"), e.signIn("agent1")
	oldCookie, oldCSRF := here.cookie, here.csrf
	if r := here.do("POST", "/api/auth/password", `{"current":"not it at all","new":"a brand new passphrase"}`); r.code != 403 {
		t.Fatalf("wrong current: %d", r.code)
	}
	if a := e.lastAudit(ActionPasswordChange); a.Result != ResultFailed {
		t.Fatalf("audit %+v", a)
	}
	if r := here.do("POST", "/api/auth/password", `{"current":"`+e.pw["agent1"]+`","new":"short"}`); r.code != 400 {
		t.Fatalf("short: %d", r.code)
	}
	r := here.do("POST", "/api/auth/password", `{"current":"`+e.pw["agent1"]+`","new":"a brand new passphrase"}`)
	if r.code != 200 || here.cookie == oldCookie || here.csrf == oldCSRF {
		t.Fatalf("change: %d %v", r.code, r.body)
	}
	if a := e.lastAudit(ActionPasswordChange); a.Result != ResultOK || a.User != "agent1" {
		t.Fatalf("audit %+v", a)
	}
	// This browser goes on with its new session; every other one is out.
	if r := here.do("POST", "/api/auth/logout", "", CSRFHeader, oldCSRF); r.code != 403 {
		t.Fatalf("old token accepted: %d", r.code)
	}
	if r := here.do("GET", "/api/auth/me", ""); r.code != 200 {
		t.Fatalf("new session: %d", r.code)
	}
	if r := there.do("GET", "/api/auth/me", ""); r.code != 401 {
		t.Fatalf("other session alive: %d", r.code)
	}
	there.cookie = oldCookie
	if r := there.do("GET", "/api/auth/me", ""); r.code != 401 {
		t.Fatalf("old session alive: %d", r.code)
	}
	if r := e.client("192.0.2.8").login("agent1", e.pw["agent1"]); r.code != 401 {
		t.Fatalf("old password works: %d", r.code)
	}
	if r := e.client("192.0.2.8").login("agent1", "a brand new passphrase"); r.code != 200 {
		t.Fatalf("new password: %d", r.code)
	}
}

func TestFirstStartAndOneTimePassword(t *testing.T) {
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	a, err := Open(dir, Options{Now: clock.Now, Hash: fastHash})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	cred, err := a.Bootstrap(context.Background())
	if err != nil || cred == nil || cred.User.ID != "admin" || cred.User.Role != cases.RoleAdmin || !cred.User.MustChange || len(cred.Password) != 16 {
		t.Fatalf("bootstrap: %+v %v", cred, err)
	}
	if again, err := a.Bootstrap(context.Background()); again != nil || err != nil {
		t.Fatalf("second bootstrap: %+v %v", again, err)
	}
	demo, err := a.SeedDemo(context.Background())
	if err != nil || len(demo) != 3 || !demo[2].User.Outsourced {
		t.Fatalf("demo: %+v %v", demo, err)
	}
	if again, _ := a.SeedDemo(context.Background()); len(again) != 0 {
		t.Fatalf("demo seeded twice")
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	e := &env{t: t, a: a, clock: clock, dir: dir, h: a.Middleware(mux)}
	c := e.client("127.0.0.1")
	if r := c.login("admin", cred.Password); r.code != 200 || r.body["must_change_password"] != true {
		t.Fatalf("one-time login: %d %v", r.code, r.body)
	}
	// Until the password is changed, nothing else is open.
	if r := c.do("GET", "/api/auth/users", ""); r.code != 403 || r.body["must_change_password"] != true {
		t.Fatalf("before the change: %d %v", r.code, r.body)
	}
	if r := c.do("POST", "/api/auth/password", `{"current":"`+cred.Password+`","new":"the administrator's own"}`); r.code != 200 || r.body["must_change_password"] != false {
		t.Fatalf("change: %d %v", r.code, r.body)
	}
	if r := c.do("GET", "/api/auth/users", ""); r.code != 200 {
		t.Fatalf("after the change: %d %v", r.code, r.body)
	}
	if strings.Contains(readFile(t, a.store.(*FileStore).Path()), cred.Password) {
		t.Fatal("a password is in the users file")
	}
}

func TestAdminManagesUsers(t *testing.T) {
	e := newEnv(t)
	admin := e.signIn("admin")
	r := admin.do("POST", "/api/auth/users", `{"id":"Agent3","name":"王芳","role":"agent","team":"b","outsourced":true}`)
	if r.code != 201 || r.body["password"] == nil {
		t.Fatalf("create: %d %v", r.code, r.body)
	}
	if strings.Contains(r.raw, "argon2") || strings.Contains(r.raw, "hash") {
		t.Fatalf("hash leaked: %s", r.raw)
	}
	pw := r.body["password"].(string)
	if a := e.lastAudit(ActionUserCreate); a.User != "admin" || a.Target != "agent3" {
		t.Fatalf("audit %+v", a)
	}
	if r := admin.do("POST", "/api/auth/users", `{"id":"agent3","role":"agent"}`); r.code != 409 {
		t.Fatalf("duplicate: %d", r.code)
	}
	if r := admin.do("POST", "/api/auth/users", `{"id":"s","role":"supervisor"}`); r.code != 400 {
		t.Fatalf("supervisor without a team: %d", r.code)
	}
	a3 := e.client("192.0.2.11")
	if r := a3.login("agent3", pw); r.code != 200 || r.body["must_change_password"] != true {
		t.Fatalf("agent3: %d %v", r.code, r.body)
	}
	// Reset: the old one-time password and the session are gone.
	r = admin.do("POST", "/api/auth/users/agent3/password-reset", "")
	if r.code != 200 || r.body["password"] == pw {
		t.Fatalf("reset: %d %v", r.code, r.body)
	}
	if r := a3.do("GET", "/api/auth/me", ""); r.code != 401 {
		t.Fatalf("session after reset: %d", r.code)
	}
	pw = r.body["password"].(string)
	if r := a3.login("agent3", pw); r.code != 200 {
		t.Fatalf("login after reset: %d", r.code)
	}
	// Disabling ends the session at once.
	if r := admin.do("PATCH", "/api/auth/users/agent3", `{"disabled":true}`); r.code != 200 {
		t.Fatalf("disable: %d %v", r.code, r.body)
	}
	if r := a3.do("GET", "/api/auth/me", ""); r.code != 401 {
		t.Fatalf("session after disable: %d", r.code)
	}
	if r := admin.do("PATCH", "/api/auth/users/admin", `{"disabled":true}`); r.code != 400 {
		t.Fatalf("self-disable: %d", r.code)
	}
	if r := admin.do("PATCH", "/api/auth/users/ghost", `{"name":"x"}`); r.code != 404 {
		t.Fatalf("unknown: %d", r.code)
	}
	if r := admin.do("PATCH", "/api/auth/users/agent1", `{"role":"root"}`); r.code != 400 {
		t.Fatalf("bad role: %d", r.code)
	}
	if r := e.signIn("sup-a").do("GET", "/api/auth/users", ""); r.code != 403 {
		t.Fatalf("supervisor lists users: %d", r.code)
	}
}

func TestConcurrentLogins(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.IPFailures = -1 })
	users := []string{"agent1", "agent2", "sup-a", "sup-b", "rev1"}
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := users[i%len(users)]
			c := e.client(fmt.Sprintf("10.0.%d.%d", i/250, i%250))
			pw, want := e.pw[u], 200
			if i%10 == 9 {
				pw, want = "wrong password", 401
			}
			if r := c.login(u, pw); r.code != want {
				errs <- fmt.Sprintf("%s: %d want %d", u, r.code, want)
				return
			}
			if want == 200 {
				if r := c.do("GET", "/api/auth/me", ""); r.code != 200 || r.body["user"] != u {
					errs <- fmt.Sprintf("me %s: %d", u, r.code)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Error(s)
	}
	if n := e.a.sessions.Len(); n != 90 {
		t.Fatalf("%d sessions, want 90", n)
	}
	logins := 0
	for _, a := range e.audit() {
		if a.Action == ActionLogin {
			logins++
		}
	}
	if logins != 100 {
		t.Fatalf("%d login audit lines, want 100", logins)
	}
}

func ptr[T any](v T) *T { return &v }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCrossOriginWebSocketRefused(t *testing.T) {
	e := newEnv(t)
	c := e.signIn("sup-a")
	if r := c.do("GET", "/api/teams/a/wallboard", "", "Upgrade", "websocket", "Origin", "https://evil.example"); r.code != 403 {
		t.Fatalf("cross-origin upgrade: %d", r.code)
	}
	if r := c.do("GET", "/api/teams/a/wallboard", "", "Upgrade", "websocket", "Origin", "http://example.com"); r.code != 200 {
		t.Fatalf("same-origin upgrade: %d", r.code)
	}
}

func TestPasswordInUserFieldNotLogged(t *testing.T) {
	e := newEnv(t)
	e.client("192.0.2.12").login("Hunter2 is my pass!", "x")
	if a := e.lastAudit(ActionLogin); strings.Contains(a.User, "hunter2") {
		t.Fatalf("audit %+v", a)
	}
}

// The whole round trip through a real server and a browser-like client with a cookie jar.
func TestRealServerRoundTrip(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.InsecureCookie = true })
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	post := func(path, body, csrf string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", srv.URL)
		if csrf != "" {
			req.Header.Set(CSRFHeader, csrf)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, m := post("/api/auth/login", `{"user":"sup-a","password":"`+e.pw["sup-a"]+`"}`, "")
	if resp.StatusCode != 200 {
		t.Fatalf("login %d %v", resp.StatusCode, m)
	}
	csrf := m["csrf"].(string)
	if resp, m := post("/api/cases/c1/dispatch", `{}`, ""); resp.StatusCode != 403 {
		t.Fatalf("no token: %d %v", resp.StatusCode, m)
	}
	if resp, m := post("/api/cases/c1/dispatch", `{}`, csrf); resp.StatusCode != 200 || m["dispatched_by"] != "sup-a" {
		t.Fatalf("with token: %d %v", resp.StatusCode, m)
	}
	if resp, _ := post("/api/auth/logout", ``, csrf); resp.StatusCode != 200 {
		t.Fatalf("logout %d", resp.StatusCode)
	}
	if resp, _ := post("/api/cases/c1/dispatch", `{}`, csrf); resp.StatusCode != 401 {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
}
