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
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/agentdesk/auth"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/recordings"
)

// startLoggedApp is startTestApp with the log kept for the test to read, over dataDir.
func startLoggedApp(t *testing.T, dataDir string, mutate ...func(*Config)) (*app, *syncBuffer) {
	t.Helper()
	cfg := Defaults()
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.HTTP.AdminToken = testToken
	cfg.LogLevel = "debug"
	base := 30000 + int(nextPorts.Add(1))*400
	cfg.Media.RTPPorts = fmt.Sprintf("%d-%d", base, base+399)
	for _, m := range mutate {
		m(&cfg)
	}
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

// printedPasswords are the one-time passwords in the log, by user.
func printedPasswords(t *testing.T, logs string) (pw, role map[string]string) {
	t.Helper()
	pw, role = map[string]string{}, map[string]string{}
	for _, m := range oneTimePassword.FindAllStringSubmatch(logs, -1) {
		if _, dup := pw[m[1]]; dup {
			t.Errorf("the password of %s is printed twice", m[1])
		}
		pw[m[1]], role[m[1]] = m[3], m[2]
	}
	return pw, role
}

// signIn signs in with a one-time password and changes it, as the page does.
func (b *browser) signIn(user, oneTime string) {
	b.t.Helper()
	var me struct {
		CSRF string `json:"csrf"`
	}
	if got := b.do("POST", "/api/auth/login", map[string]string{"user": user, "password": oneTime}, &me); got != http.StatusOK {
		b.t.Fatalf("sign-in of %s with the printed password: %d", user, got)
	}
	b.csrf = me.CSRF
	if got := b.do("POST", "/api/auth/password", map[string]string{"current": oneTime, "new": "new password of " + user}, &me); got != http.StatusOK {
		b.t.Fatalf("password change of %s: %d", user, got)
	}
	b.csrf = me.CSRF
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

	pw, role := printedPasswords(t, logs.String())
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
	// Scripts manage users with the admin token.
	req, _ := http.NewRequest("POST", "http://"+a.HTTPAddr()+"/api/auth/users",
		strings.NewReader(`{"id":"wang.fang","name":"王芳","role":"agent","team":"demo"}`))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var made struct {
		Password string `json:"password"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&made)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || made.Password == "" {
		t.Fatalf("user created with the admin token: %d %+v", resp.StatusCode, made)
	}
	nb := newBrowser(t, a)
	nb.signIn("wang.fang", made.Password)
	if got := nb.do("GET", "/api/calls", nil, &list); got != http.StatusOK {
		t.Fatalf("the new agent lists calls: %d", got)
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

// A real call's recording in the browser: the configured agent who took it signs in with
// the password printed at first start and fetches it with a range request, as the page's
// player does; their supervisor can too; another agent gets 403, and each access is in
// the audit log.
func TestAuthRecordingOfRealCall(t *testing.T) {
	agentAudio := testkit.NewRTPProbe(t)
	agentAudio.ReplyWith(0, testkit.Tone(8000, 1500, 0.5, 2*time.Second))
	agent := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: agentAudio.Port(), Hangup: 3 * time.Second})
	dir := t.TempDir()
	a, logs := startLoggedApp(t, dir, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Agents = []AgentConfig{{ID: "1001", Name: "test agent", Skills: map[string]int{"general": 5},
			Contact: "sip:1001@" + agent.Addr(), AutoReady: true}}
	})
	var stop sync.Once
	shutdown := func() { stop.Do(func() { a.Shutdown(context.Background(), 2*time.Second) }) }
	t.Cleanup(func() {
		shutdown()
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs.String(), 60))
		}
	})
	pw, role := printedPasswords(t, logs.String())
	if role["1001"] != "agent" {
		t.Fatalf("no user for the configured agent 1001: %v", role)
	}
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 4 * time.Second})
	if _, err := caller.Wait(); err != nil {
		t.Fatal(err)
	}
	c := waitEnded(t, a, 1)[0]
	if c.Agent != "1001" || c.Recording == "" {
		t.Fatalf("the call was not taken by 1001 and recorded: agent %q, recording %q", c.Agent, c.Recording)
	}
	file, err := os.ReadFile(c.Recording)
	if err != nil || len(file) < 2000 {
		t.Fatalf("recording on disk: %d bytes, %v", len(file), err)
	}

	get := func(b *browser, rng string) (int, []byte, http.Header) {
		return getPath(t, b, "/api/recordings/"+c.ID, rng)
	}
	ag := newBrowser(t, a)
	ag.signIn("1001", pw["1001"])
	var list struct {
		Calls []agentdesk.CallInfo `json:"calls"`
	}
	if got := ag.do("GET", "/api/calls", nil, &list); got != http.StatusOK || len(list.Calls) != 1 || list.Calls[0].ID != c.ID {
		t.Fatalf("the agent's calls: %d %+v", got, list.Calls)
	}
	code, body, hdr := get(ag, "bytes=44-1043")
	if code != http.StatusPartialContent || !bytes.Equal(body, file[44:1044]) || hdr.Get("Content-Type") != "audio/wav" {
		t.Fatalf("range request: %d, %d bytes (equal %v), %q", code, len(body), bytes.Equal(body, file[44:1044]), hdr.Get("Content-Type"))
	}
	code, body, _ = get(ag, "")
	if code != http.StatusOK || !bytes.Equal(body[:44], file[:44]) || len(body) < len(file) {
		t.Fatalf("whole recording: %d, %d bytes of %d", code, len(body), len(file))
	}
	sup := newBrowser(t, a)
	sup.signIn("sup1", pw["sup1"])
	if code, _, _ := get(sup, "bytes=0-43"); code != http.StatusPartialContent {
		t.Errorf("the team's supervisor: %d, want 206", code)
	}
	other := newBrowser(t, a)
	other.signIn("agent1", pw["agent1"])
	if code, body, _ := get(other, ""); code != http.StatusForbidden || bytes.Contains(body, file[100:140]) {
		t.Errorf("another agent: %d, want 403", code)
	}
	if got := other.do("GET", "/api/calls/"+c.ID, nil, nil); got != http.StatusForbidden {
		t.Errorf("another agent's call: %d, want 403", got)
	}
	if c.Case == "" {
		t.Fatal("the call has no work order")
	}
	// The work order's recording, also after a restart, when the call has left the list.
	if code, body, _ := getPath(t, ag, "/api/cases/"+c.Case+"/recording?download=1", ""); code != http.StatusOK || !bytes.Equal(body, file) {
		t.Fatalf("the case's recording: %d, %d bytes", code, len(body))
	}
	shutdown()
	a2, logs2 := startLoggedApp(t, dir, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Agents = []AgentConfig{{ID: "1001", Name: "test agent", Skills: map[string]int{"general": 5},
			Contact: "sip:1001@" + agent.Addr(), AutoReady: true}}
	})
	t.Cleanup(func() {
		a2.Shutdown(context.Background(), 2*time.Second)
		if t.Failed() {
			t.Logf("log after the restart:\n%s", tail(logs2.String(), 40))
		}
	})
	ag = newBrowser(t, a2)
	if got := ag.do("POST", "/api/auth/login", map[string]string{"user": "1001", "password": "new password of 1001"}, nil); got != http.StatusOK {
		t.Fatalf("sign-in after the restart: %d", got)
	}
	if code, _, _ := getPath(t, ag, "/api/recordings/"+c.ID, ""); code != http.StatusNotFound {
		t.Errorf("the call after a restart: %d, want 404 (no longer listed)", code)
	}
	code, body, _ = getPath(t, ag, "/api/cases/"+c.Case+"/recording", "bytes=44-1043")
	if code != http.StatusPartialContent || !bytes.Equal(body, file[44:1044]) {
		t.Fatalf("the case's recording after a restart: %d, %d bytes", code, len(body))
	}
	other = newBrowser(t, a2)
	if got := other.do("POST", "/api/auth/login", map[string]string{"user": "agent1", "password": "new password of agent1"}, nil); got != http.StatusOK {
		t.Fatalf("agent1 after the restart: %d", got)
	}
	if code, _, _ := getPath(t, other, "/api/cases/"+c.Case+"/recording", ""); code != http.StatusForbidden {
		t.Errorf("another agent, the case's recording: %d, want 403", code)
	}

	raw, err := os.ReadFile(filepath.Join(dir, "audit", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`"user":"1001","role":"agent","ip":"127.0.0.1","action":"recording","target":"recording of case ` + c.Case + `","result":"ok","detail":"download`,
		`"user":"agent1","role":"agent","ip":"127.0.0.1","action":"recording","target":"recording of case ` + c.Case + `","result":"denied"`,
		`"user":"1001","role":"agent","ip":"127.0.0.1","action":"recording","target":"recording of call ` + c.ID + `","result":"ok"`,
		`"user":"sup1","role":"supervisor","ip":"127.0.0.1","action":"recording","target":"recording of call ` + c.ID + `","result":"ok"`,
		`"user":"agent1","role":"agent","ip":"127.0.0.1","action":"recording","target":"recording of call ` + c.ID + `","result":"denied"`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the audit log lacks %s", want)
		}
	}
}

func getPath(t *testing.T, b *browser, path, rng string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", b.base+path, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, body, resp.Header
}

// The server writes and syncs its recordings through its helper process, below its
// own priority, which ends with it.
func TestRecordingsDiskHelper(t *testing.T) {
	a, logs := startLoggedApp(t, t.TempDir())
	h := a.diskHelper
	if h == nil || a.recs.Disk == nil {
		t.Fatalf("no disk helper:\n%s", tail(logs.String(), 20))
	}
	if err := h.Sync(); err != nil {
		t.Fatal(err)
	}
	nice, notIdle := helperThreads(t, h)
	if nice != 10 {
		t.Errorf("the helper's serving thread runs at nice %d, want 10", nice)
	}
	if notIdle != 0 {
		t.Errorf("%d of the helper's threads are not SCHED_IDLE", notIdle)
	}
	// Stopping the server (Ctrl-C, systemd) signals the whole group: the helper
	// stays until the server is done with it.
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		if err := syscall.Kill(h.Pid(), sig); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if err := h.Sync(); err != nil {
		t.Fatalf("the helper did not outlive SIGINT and SIGTERM: %v", err)
	}
	a.Shutdown(context.Background(), time.Second)
	if err := h.Sync(); err == nil {
		t.Fatal("the helper still answers after shutdown")
	}
}

// helperThreads reads the disk helper's threads: the highest nice value among them,
// and how many run under another policy than SCHED_IDLE.
func helperThreads(t *testing.T, h *recordings.Helper) (nice, notIdle int) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", h.Pid()))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("the helper's threads: %v", err)
	}
	nice = -20
	for _, p := range tasks {
		b, err := os.ReadFile(p)
		if err != nil {
			continue // a thread that ended
		}
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if n, err := strconv.Atoi(f[16]); err == nil { // field 19: nice
			nice = max(nice, n)
		}
		if f[38] != "5" { // field 41: policy (5: SCHED_IDLE)
			notIdle++
		}
	}
	return nice, notIdle
}
