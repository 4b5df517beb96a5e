package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/agentdesk/auth"
)

// startLoggedApp is startTestApp with the log kept for the test to read, over dataDir.
func startLoggedApp(t *testing.T, dataDir string) (*app, *syncBuffer) {
	t.Helper()
	cfg := Defaults()
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.HTTP.AdminToken = testToken
	cfg.LogLevel = "debug"
	base := 30000 + int(nextPorts.Add(1))*400
	cfg.Media.RTPPorts = fmt.Sprintf("%d-%d", base, base+399)
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := start(cfg, logs)
	if err != nil {
		t.Fatal(err)
	}
	return a, logs
}

var oneTimePassword = regexp.MustCompile(`user=([a-z0-9._@-]+) role=(\w+) .*one_time_password=(\w+)`)

// browser is a client with a cookie jar and the session's CSRF token, like the page.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, a *app) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: "http://" + a.HTTPAddr(), c: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (b *browser) do(method, path string, body any, out any) int {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		j, _ := json.Marshal(body)
		rd = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, b.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if b.csrf != "" {
		req.Header.Set(auth.CSRFHeader, b.csrf)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			b.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	if resp.StatusCode >= 300 {
		b.t.Logf("%s %s → %d %s", method, path, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return resp.StatusCode
}

// The first start prints the administrator's one-time password once; the administrator
// signs in with it through the HTTP API, must change it, and then lists calls. A second
// start over the same data prints no password.
func TestAuthFirstStartAdminSignsIn(t *testing.T) {
	dir := t.TempDir()
	a, logs := startLoggedApp(t, dir)
	var stop sync.Once
	shutdown := func() { stop.Do(func() { a.Shutdown(context.Background(), time.Second) }) }
	defer shutdown()

	pw := map[string]string{}
	role := map[string]string{}
	for _, m := range oneTimePassword.FindAllStringSubmatch(logs.String(), -1) {
		if _, dup := pw[m[1]]; dup {
			t.Errorf("the password of %s is printed twice", m[1])
		}
		pw[m[1]], role[m[1]] = m[3], m[2]
	}
	if len(pw["admin"]) != 16 || role["admin"] != "admin" {
		t.Fatalf("no one-time administrator password in the log:\n%s", tail(logs.String(), 40))
	}
	if role["sup1"] != "supervisor" || role["agent1"] != "agent" || pw["agent2"] == "" {
		t.Errorf("demo users not printed: %v", role)
	}

	b := newBrowser(t, a)
	if got := b.do("GET", "/api/calls", nil, nil); got != http.StatusUnauthorized {
		t.Fatalf("calls before sign-in: %d, want 401", got)
	}
	if got := b.do("POST", "/api/auth/login", map[string]string{"user": "admin", "password": pw["admin"] + "x"}, nil); got != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d, want 401", got)
	}
	var me struct {
		User       string `json:"user"`
		Role       string `json:"role"`
		CSRF       string `json:"csrf"`
		MustChange bool   `json:"must_change_password"`
	}
	if got := b.do("POST", "/api/auth/login", map[string]string{"user": "admin", "password": pw["admin"]}, &me); got != http.StatusOK {
		t.Fatalf("sign-in with the printed password: %d", got)
	}
	if me.User != "admin" || me.Role != "admin" || !me.MustChange || me.CSRF == "" {
		t.Fatalf("signed in as %+v", me)
	}
	b.csrf = me.CSRF
	if got := b.do("GET", "/api/calls", nil, nil); got != http.StatusForbidden {
		t.Fatalf("calls before the one-time password is changed: %d, want 403", got)
	}
	if got := b.do("POST", "/api/auth/password", map[string]string{"current": pw["admin"], "new": "a long new password 12345"}, &me); got != http.StatusOK {
		t.Fatalf("password change: %d", got)
	}
	b.csrf = me.CSRF
	var list struct {
		Calls []agentdesk.CallInfo `json:"calls"`
	}
	if got := b.do("GET", "/api/calls", nil, &list); got != http.StatusOK || list.Calls == nil {
		t.Fatalf("calls after sign-in: %d %+v", got, list)
	}
	// The admin token still opens the API beside sessions.
	if calls := apiCalls(t, a); calls == nil {
		t.Fatal("the admin token no longer lists calls")
	}
	shutdown()
	raw, err := os.ReadFile(filepath.Join(dir, "audit", "audit.jsonl"))
	if err != nil || !strings.Contains(string(raw), `"action":"login","result":"ok"`) {
		t.Errorf("no sign-in in the audit log (%v):\n%s", err, raw)
	}

	a2, logs2 := startLoggedApp(t, dir)
	defer a2.Shutdown(context.Background(), time.Second)
	if strings.Contains(logs2.String(), "one_time_password") {
		t.Errorf("a second start printed passwords again:\n%s", tail(logs2.String(), 20))
	}
	b2 := newBrowser(t, a2)
	if got := b2.do("POST", "/api/auth/login", map[string]string{"user": "admin", "password": "a long new password 12345"}, &me); got != http.StatusOK || me.MustChange {
		t.Fatalf("sign-in after a restart with the changed password: %d %+v", got, me)
	}
}
