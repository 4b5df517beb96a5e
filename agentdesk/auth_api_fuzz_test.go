package agentdesk

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hotline-12345/hotline/agentdesk/auth"
)

// FuzzAuthAPIScope throws arbitrary requests of a signed-in agent at the whole handler:
// whatever the method, path, query, Range or body, nothing fails with 5xx, every refusal
// is JSON, and nothing of another team's call (its agent, its recording) comes back.
func FuzzAuthAPIScope(f *testing.F) {
	for _, s := range [][4]string{
		{"GET", "/api/calls", "", ""},
		{"GET", "/api/calls?state=ended", "", ""},
		{"GET", "/api/calls/call-b1", "", ""},
		{"GET", "/api/recordings/call-b1", "bytes=0-100", ""},
		{"GET", "/api/recordings/call-a1?download=1", "bytes=-10", ""},
		{"GET", "/api/recordings/..%2fcall-b1", "", ""},
		{"GET", "/api/recordings/call-a1", "bytes=5-1,0-", ""},
		{"POST", "/api/calls/call-b1/recording", "", `{"paused":true}`},
		{"POST", "/api/calls/call-a1/recording", "", `{"paused":`},
		{"POST", "/api/cases/x/transitions", "", `{"action":"dispatch","version":1}`},
		{"POST", "/api/cases", "", `{"category":"0201"}`},
		{"POST", "/api/agents/agent-b1/break", "", `{"reason":"lunch"}`},
		{"GET", "/api/agents/agent-a1/ready", "", ""},
		{"POST", "/api/agents/agent-a1/nothing", "", ""},
		{"GET", "/api/whoami", "", ""},
		{"GET", "/api/auth/me", "", ""},
		{"PATCH", "/api/auth/users/agent-a1", "", `{"role":"admin"}`},
		{"GET", "/api/debug/pprof/", "", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	e := newAuthEnv(f)
	c := e.signIn("agent-a1")
	var cookie string
	for _, k := range c.c.Jar.Cookies(mustURL(f, e.http.URL)) {
		if k.Name == auth.CookieName {
			cookie = k.Value
		}
	}
	h := e.srv.Handler()
	secret := e.rec["call-b1"][100:140]
	f.Fuzz(func(t *testing.T, method, target, rng, body string) {
		if !strings.HasPrefix(target, "/") || strings.Contains(target, "logout") || strings.Contains(target, "password") ||
			strings.Contains(target, "profile") {
			return // ending the session or profiling for 30 s is not what this looks at
		}
		switch method {
		case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE":
		default:
			return
		}
		req, err := http.NewRequest(method, "http://"+strings.TrimPrefix(e.http.URL, "http://")+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.RemoteAddr = "127.0.0.1:1234"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(auth.CSRFHeader, c.csrf)
		req.AddCookie(&http.Cookie{Name: auth.CookieName, Value: cookie})
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		b := rec.Body.Bytes()
		if rec.Code >= 500 {
			t.Fatalf("%s %s: %d %s", method, target, rec.Code, b)
		}
		if rec.Code < 300 && (bytes.Contains(b, []byte("agent-b1")) || bytes.Contains(b, secret)) {
			t.Fatalf("%s %s (range %q): another team's call leaked: %.300s", method, target, rng, b)
		}
		if rec.Code >= 400 && method != "HEAD" && strings.HasPrefix(req.URL.Path, "/api/") && !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: %d is not JSON: %q", method, target, rec.Code, b)
		}
	})
}
