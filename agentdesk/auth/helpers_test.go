package auth

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
	"github.com/prometheus/client_golang/prometheus"
)

// fastHash keeps tests quick; the production costs are tested in password_test.go.
var fastHash = HashParams{Memory: 64, Time: 1, Threads: 1}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	a     *Auth
	clock *fakeClock
	dir   string
	h     http.Handler
	pw    map[string]string // user id → password
}

const testPassword = "correct horse battery"

func newEnv(t *testing.T, tweak ...func(*Options)) *env {
	t.Helper()
	dir := t.TempDir()
	clock := &fakeClock{t: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)}
	o := Options{Now: clock.Now, Hash: fastHash, Registerer: prometheus.NewRegistry()}
	for _, f := range tweak {
		f(&o)
	}
	a, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	e := &env{t: t, a: a, clock: clock, dir: dir, pw: map[string]string{}}
	for _, n := range []NewUser{
		{ID: "admin", Role: cases.RoleAdmin},
		{ID: "sup-a", Role: cases.RoleSupervisor, Team: "a"},
		{ID: "sup-b", Role: cases.RoleSupervisor, Team: "b"},
		{ID: "agent1", Role: cases.RoleAgent, Team: "a"},
		{ID: "agent2", Role: cases.RoleAgent, Team: "a", Outsourced: true},
		{ID: "handler1", Role: cases.RoleHandler, Dept: "cgj"},
		{ID: "rev1", Role: cases.RoleReviewer},
	} {
		n.Password = testPassword + " " + n.ID
		if _, _, err := a.CreateUser(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		e.pw[n.ID] = n.Password
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	mux.Handle("POST /api/cases/{id}/dispatch", a.Require(DispatchCase, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := UserFrom(r.Context())
		writeJSON(w, 200, map[string]string{"dispatched_by": u.ID})
	})))
	mux.Handle("GET /api/teams/{team}/wallboard", a.RequireFunc(func(r *http.Request) Permission {
		return ViewTeam(r.PathValue("team"))
	}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, map[string]string{"ok": "1"}) })))
	e.h = a.Middleware(mux)
	return e
}

// client is one browser: its cookie and CSRF token.
type client struct {
	e      *env
	ip     string
	cookie string
	csrf   string
}

func (e *env) client(ip string) *client { return &client{e: e, ip: ip} }

type reply struct {
	code int
	hdr  http.Header
	body map[string]any
	raw  string
}

func (c *client) do(method, path, body string, hdr ...string) reply {
	c.e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.RemoteAddr = c.ip + ":40000"
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	if c.cookie != "" {
		r.AddCookie(&http.Cookie{Name: CookieName, Value: c.cookie})
	}
	if c.csrf != "" {
		r.Header.Set(CSRFHeader, c.csrf)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			r.Header.Del(hdr[i])
		} else {
			r.Header.Set(hdr[i], hdr[i+1])
		}
	}
	w := httptest.NewRecorder()
	c.e.h.ServeHTTP(w, r)
	rep := reply{code: w.Code, hdr: w.Header(), raw: w.Body.String()}
	if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		c.e.t.Fatalf("%s %s: content type %q, body %q", method, path, w.Header().Get("Content-Type"), rep.raw)
	}
	if err := json.Unmarshal(w.Body.Bytes(), &rep.body); err != nil {
		c.e.t.Fatalf("%s %s: body is not a JSON object: %q", method, path, rep.raw)
	}
	for _, ck := range w.Result().Cookies() {
		if ck.Name == CookieName {
			c.cookie = ck.Value
			if ck.MaxAge < 0 {
				c.cookie = ""
			}
		}
	}
	if s, ok := rep.body["csrf"].(string); ok && s != "" {
		c.csrf = s
	}
	return rep
}

func (c *client) login(user, password string) reply {
	b, _ := json.Marshal(map[string]string{"user": user, "password": password})
	return c.do("POST", "/api/auth/login", string(b))
}

// signIn logs user in with their password and fails the test otherwise.
func (e *env) signIn(user string) *client {
	e.t.Helper()
	c := e.client("192.0.2.10")
	if r := c.login(user, e.pw[user]); r.code != 200 {
		e.t.Fatalf("sign-in of %s: %d %s", user, r.code, r.raw)
	}
	return c
}

func (e *env) audit() []Entry {
	e.t.Helper()
	return readAuditDir(e.t, filepath.Join(e.dir, "audit"))
}

func readAuditFile(t *testing.T, path string) []Entry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []Entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit line %q: %v", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out
}

func readAuditDir(t *testing.T, dir string) []Entry {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	names = append(names, filepath.Join(dir, auditFileName))
	var out []Entry
	for _, n := range names {
		out = append(out, readAuditFile(t, n)...)
	}
	return out
}

// lastAudit is the last entry with action.
func (e *env) lastAudit(action string) Entry {
	e.t.Helper()
	es := e.audit()
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Action == action {
			return es[i]
		}
	}
	e.t.Fatalf("no audit entry %q in %+v", action, es)
	return Entry{}
}
