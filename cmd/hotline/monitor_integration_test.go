package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/internal/testkit"
)

// Tones of the three parties on a monitored call.
const (
	toneCaller     = 1000.0 // A
	toneAgent      = 1500.0 // B
	toneSupervisor = 700.0  // C
)

// monitorParties is a caller (SIPp UAC, audio by a probe) queued to an agent (SIPp UAS,
// audio by a probe), bridged; the supervisor's phone is a SIPp UAS whose audio is a probe.
type monitorParties struct {
	a                     *app
	callID                string
	caller, agent, sup    *testkit.RTPProbe
	callerSIPp, agentSIPp *testkit.SIPp
	supSIPp               *testkit.SIPp
	supervisorID, supAddr string
}

// startMonitoredCall starts the parties; agentHangup > 0 makes the agent hang up that
// long after answering (0: when hotline hangs up). supHangup likewise for the supervisor.
func startMonitoredCall(t *testing.T, agentHangup, supHangup time.Duration) *monitorParties {
	t.Helper()
	return startMonitoredCallWith(t, agentHangup, supHangup, func(mutate func(*Config)) *app { return startTestApp(t, mutate) })
}

func startMonitoredCallWith(t *testing.T, agentHangup, supHangup time.Duration, start func(mutate func(*Config)) *app) *monitorParties {
	t.Helper()
	p := &monitorParties{supervisorID: "sup1",
		caller: testkit.NewRTPProbe(t), agent: testkit.NewRTPProbe(t), sup: testkit.NewRTPProbe(t)}
	// Each party speaks its tone, looped, at a level where two of them mixed do not clip.
	p.caller.ReplyWith(0, testkit.Tone(8000, toneCaller, 0.3, 2*time.Second))
	p.agent.ReplyWith(0, testkit.Tone(8000, toneAgent, 0.3, 2*time.Second))
	p.sup.ReplyWith(0, testkit.Tone(8000, toneSupervisor, 0.3, 2*time.Second))
	p.agentSIPp = testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: p.agent.Port(), Hangup: agentHangup,
		RecvTimeout: 2 * time.Minute, Timeout: 3 * time.Minute})
	p.supSIPp = testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: p.sup.Port(), Hangup: supHangup,
		RecvTimeout: 2 * time.Minute, Timeout: 3 * time.Minute})
	p.supAddr = p.supSIPp.Addr()
	p.a = start(func(c *Config) {
		c.Media.RTPPorts = monitorRTPPorts()
		c.IVR.FlowsDir = "testdata/flows"
		c.Agents = []AgentConfig{
			{ID: "1001", Name: "test agent", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + p.agentSIPp.Addr(), AutoReady: true},
			// The supervisor's desk phone is configured like an agent's; never made ready,
			// they take no calls.
			{ID: p.supervisorID, Name: "test supervisor", Skills: map[string]int{"general": 1}, Contact: "sip:sup1@" + p.supAddr},
		}
	})
	p.callerSIPp = testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: p.a.SIPAddr().String(),
		MediaPort: p.caller.Port(), Wait: 2 * time.Minute, RecvTimeout: 2 * time.Minute, Timeout: 3 * time.Minute})
	p.callID = waitEvent(t, p.a, "connect", 15*time.Second).ID
	return p
}

var monitorApps atomic.Int32

// monitorRTPPorts is an RTP port range of these tests' own, apart from the other tests'
// (30000 up, counted from 1 in every test process): tests of other packages' processes
// running at the same time keep sending to ports their calls used, and a leg that binds
// such a port would latch to that stale stream.
func monitorRTPPorts() string {
	base := 12000 + (os.Getpid()%12)*1200 + int(monitorApps.Add(1)-1)%3*400
	return fmt.Sprintf("%d-%d", base, base+399)
}

// monitorAPI calls the monitor API with the admin token; callID may carry a query.
func monitorAPI(t *testing.T, a *app, method, callID, body string) (int, map[string]any) {
	t.Helper()
	id, query, _ := strings.Cut(callID, "?")
	if query != "" {
		query = "?" + query
	}
	req, _ := http.NewRequest(method, "http://"+a.HTTPAddr()+"/api/calls/"+id+"/monitor"+query, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%s monitor: not JSON: %s", method, b)
	}
	return res.StatusCode, out
}

// hearing is what one party hears of one tone: the best share of the tone in any
// 200 ms window of the audio that reached them.
type hearing struct {
	who   string
	probe *testkit.RTPProbe
	tone  float64
	name  string
}

func (h hearing) share() float64 { return bestShare(testkit.Audio(h.probe.Packets()), h.tone) }

// expectHearing lets the switch settle, forgets what the parties heard before it, then
// waits (generously) until every party hears what it must, and checks over at least
// two seconds of audio that no party heard what it must not.
func expectHearing(t *testing.T, step string, probes []*testkit.RTPProbe, hears, hearsNot []hearing) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // frames already de-jittered before the switch
	for _, p := range probes {
		p.Reset()
	}
	from := time.Now()
	deadline := from.Add(15 * time.Second)
	for {
		missing := ""
		for _, h := range hears {
			if s := h.share(); s < 0.25 {
				missing += " " + h.who + " hears no " + h.name
			}
		}
		if missing == "" && time.Since(from) >= 2*time.Second {
			break
		}
		if time.Now().After(deadline) {
			for _, h := range hears {
				pk := h.probe.Packets()
				t.Logf("%s: %s hears %s: best share %.2f (%d packets, RMS %.0f, from %v)", step, h.who, h.name, h.share(),
					len(pk), testkit.RMS(testkit.Audio(pk)), h.probe.Sources())
			}
			t.Fatalf("%s:%s", step, missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, h := range hearsNot {
		if s := h.share(); s > 0.1 {
			t.Errorf("%s: %s hears %s (best share %.2f), and must not", step, h.who, h.name, s)
		}
	}
}

func (p *monitorParties) all() []*testkit.RTPProbe {
	return []*testkit.RTPProbe{p.caller, p.agent, p.sup}
}

func (p *monitorParties) hearing(who string, tone float64) hearing {
	names := map[float64]string{toneCaller: "the caller", toneAgent: "the agent", toneSupervisor: "the supervisor"}
	probe := map[string]*testkit.RTPProbe{"the caller": p.caller, "the agent": p.agent, "the supervisor": p.sup}[who]
	return hearing{who: who, probe: probe, tone: tone, name: names[tone]}
}

// checkPlainBridge: the caller and the agent hear each other and nobody else.
func (p *monitorParties) checkPlainBridge(t *testing.T, step string) {
	t.Helper()
	expectHearing(t, step, []*testkit.RTPProbe{p.caller, p.agent},
		[]hearing{p.hearing("the caller", toneAgent), p.hearing("the agent", toneCaller)},
		[]hearing{p.hearing("the caller", toneSupervisor), p.hearing("the agent", toneSupervisor)})
}

// seamless runs change and checks that what hotline sends the caller and the agent has
// no hole around it (the switch between a relayed bridge and a paced mix): a stream
// over the second after the change, with no packet lost and no gap that a scheduling
// hiccup of a loaded test machine could not explain (the gaps are logged).
func (p *monitorParties) seamless(t *testing.T, step string, change func()) {
	t.Helper()
	p.caller.Reset()
	p.agent.Reset()
	time.Sleep(200 * time.Millisecond)
	change()
	time.Sleep(time.Second)
	for _, x := range []struct {
		who   string
		probe *testkit.RTPProbe
	}{{"the caller", p.caller}, {"the agent", p.agent}} {
		g := testkit.Gaps(x.probe.Packets())
		t.Logf("%s: what %s heard: %s", step, x.who, g)
		if g.Packets < 40 || g.Lost > 0 || g.MaxGap > 500*time.Millisecond {
			t.Errorf("%s: the stream to %s has a hole: %s", step, x.who, g)
		}
	}
}

// auditLines reads the audit log's entries about the call.
func auditLines(t *testing.T, a *app, callID string) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(a.cfg.DataDir, "audit", "audit.jsonl"))
	if err != nil {
		t.Fatalf("audit log: %v", err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["target"] == "call:"+callID {
			out = append(out, e)
		}
	}
	return out
}

func hasAudit(lines []map[string]any, action, result, detail string) bool {
	for _, e := range lines {
		d, _ := e["detail"].(string)
		if e["action"] == action && e["result"] == result && strings.Contains(d, detail) {
			return true
		}
	}
	return false
}

// A supervisor listens, whispers and barges on a live call in one session (their phone,
// a SIPp UAS, rung once), each audible exactly as intended; leaving puts the plain bridge
// back; every step is in the audit log.
func TestMonitorListenWhisperBarge(t *testing.T) {
	p := startMonitoredCall(t, 0, 0)
	p.checkPlainBridge(t, "bridged")

	// Listen: the supervisor's configured phone rings; they hear both, nobody hears them.
	code, out := monitorAPI(t, p.a, "POST", p.callID, `{"mode":"listen","supervisor":"sup1"}`)
	if code != 200 || out["mode"] != "listen" || out["agent"] != "1001" {
		t.Fatalf("listen: %d %v", code, out)
	}
	expectHearing(t, "listen", p.all(),
		[]hearing{p.hearing("the supervisor", toneCaller), p.hearing("the supervisor", toneAgent),
			p.hearing("the caller", toneAgent), p.hearing("the agent", toneCaller)},
		[]hearing{p.hearing("the caller", toneSupervisor), p.hearing("the agent", toneSupervisor)})

	// Whisper: only the agent hears the supervisor, over the caller.
	p.seamless(t, "listen→whisper", func() {
		code, out = monitorAPI(t, p.a, "POST", p.callID, `{"mode":"whisper","supervisor":"sup1"}`)
	})
	if code != 200 || out["previous"] != "listen" {
		t.Fatalf("whisper: %d %v", code, out)
	}
	expectHearing(t, "whisper", p.all(),
		[]hearing{p.hearing("the agent", toneSupervisor), p.hearing("the agent", toneCaller),
			p.hearing("the caller", toneAgent),
			p.hearing("the supervisor", toneCaller), p.hearing("the supervisor", toneAgent)},
		[]hearing{p.hearing("the caller", toneSupervisor)})

	// Barge: everyone hears everyone.
	p.seamless(t, "whisper→barge", func() {
		code, out = monitorAPI(t, p.a, "POST", p.callID, `{"mode":"barge","supervisor":"sup1"}`)
	})
	if code != 200 || out["previous"] != "whisper" {
		t.Fatalf("barge: %d %v", code, out)
	}
	expectHearing(t, "barge", p.all(),
		[]hearing{p.hearing("the agent", toneSupervisor), p.hearing("the agent", toneCaller),
			p.hearing("the caller", toneSupervisor), p.hearing("the caller", toneAgent),
			p.hearing("the supervisor", toneCaller), p.hearing("the supervisor", toneAgent)},
		nil)

	// A second supervisor cannot join meanwhile.
	if code, out := monitorAPI(t, p.a, "POST", p.callID, `{"mode":"listen","supervisor":"admin","contact":"sip:x@127.0.0.1:9"}`); code != 409 {
		t.Errorf("a second supervisor: %d %v, want 409", code, out)
	}

	// Leave: the supervisor's phone is hung up, the parties hear each other as before.
	p.seamless(t, "leaving a barge", func() {
		code, out = monitorAPI(t, p.a, "DELETE", p.callID+"?supervisor=sup1", "")
	})
	if code != 200 || out["previous"] != "barge" {
		t.Fatalf("leave: %d %v", code, out)
	}
	res, err := p.supSIPp.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1) // one call for the whole session: mode switches did not ring again
	p.checkPlainBridge(t, "after leaving")
	if code, _ := monitorAPI(t, p.a, "DELETE", p.callID+"?supervisor=sup1", ""); code != 404 {
		t.Errorf("leaving twice: %d, want 404", code)
	}
	if code, _ := monitorAPI(t, p.a, "POST", "no-such-call", `{"mode":"listen","supervisor":"sup1"}`); code != 404 {
		t.Errorf("an unknown call: %d, want 404", code)
	}

	lines := auditLines(t, p.a, p.callID)
	for _, want := range [][3]string{
		{"listen", "ok", "started"}, {"whisper", "ok", "switched from listen"}, {"barge", "ok", "switched from whisper"},
		{"listen", "failed", "another supervisor"}, {agentdesk.ActionMonitorLeave, "ok", "left barge"},
	} {
		if !hasAudit(lines, want[0], want[1], want[2]) {
			t.Errorf("no audit line %v in %v", want, lines)
		}
	}
	c := waitEvent(t, p.a, "monitor_leave", 5*time.Second)
	for _, k := range []string{"monitor_listen", "monitor_whisper", "monitor_barge"} {
		if !hasEvent(c, k, "sup1") {
			t.Errorf("the call's events lack %s: %+v", k, c.Events)
		}
	}
}

// The supervisor's phone hangs up during a barge: the parties hear each other as
// before. Another supervisor (an administrator ringing a phone of their choice)
// whispers; the agent hangs up, which ends the session: the supervisor's phone is hung
// up. The recording holds the supervisor's barge on the agent's (right) channel only.
func TestMonitorSupervisorHangsUpAndCallEnds(t *testing.T) {
	p := startMonitoredCall(t, 45*time.Second, 20*time.Second)
	sup2Audio := testkit.NewRTPProbe(t)
	sup2Audio.ReplyWith(0, testkit.Tone(8000, toneSupervisor, 0.3, 2*time.Second))
	sup2 := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: sup2Audio.Port(),
		RecvTimeout: 2 * time.Minute, Timeout: 3 * time.Minute})

	if code, out := monitorAPI(t, p.a, "POST", p.callID, `{"mode":"barge","supervisor":"sup1"}`); code != 200 {
		t.Fatalf("barge: %d %v", code, out)
	}
	expectHearing(t, "barge", p.all(),
		[]hearing{p.hearing("the agent", toneSupervisor), p.hearing("the caller", toneSupervisor),
			p.hearing("the caller", toneAgent), p.hearing("the agent", toneCaller)}, nil)
	res, err := p.supSIPp.Wait() // the supervisor hangs up 20 s after answering
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	p.checkPlainBridge(t, "after the supervisor hung up")
	if !hasAudit(auditLines(t, p.a, p.callID), agentdesk.ActionMonitorLeave, "ok", "hung up") {
		t.Errorf("the hang-up is not in the audit log: %v", auditLines(t, p.a, p.callID))
	}

	// An administrator rings another phone and whispers.
	code, out := monitorAPI(t, p.a, "POST", p.callID, `{"mode":"whisper","supervisor":"admin","contact":"sip:sup2@`+sup2.Addr()+`"}`)
	if code != 200 || out["supervisor"] != "admin" || out["previous"] != nil {
		t.Fatalf("whisper: %d %v", code, out)
	}
	probes := []*testkit.RTPProbe{p.caller, p.agent, sup2Audio}
	expectHearing(t, "whisper", probes,
		[]hearing{p.hearing("the agent", toneSupervisor), p.hearing("the agent", toneCaller), p.hearing("the caller", toneAgent),
			{who: "the second supervisor", probe: sup2Audio, tone: toneCaller, name: "the caller"},
			{who: "the second supervisor", probe: sup2Audio, tone: toneAgent, name: "the agent"}},
		[]hearing{p.hearing("the caller", toneSupervisor)})

	// The agent hangs up (45 s after answering): the session ends with the call's
	// bridge, and the supervisor's phone gets its BYE.
	res, err = sup2.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	if !hasAudit(auditLines(t, p.a, p.callID), agentdesk.ActionMonitorLeave, "ok", "the call ended") {
		t.Errorf("the end of the session is not in the audit log: %v", auditLines(t, p.a, p.callID))
	}
	if code, _ := monitorAPI(t, p.a, "POST", p.callID, `{"mode":"listen","supervisor":"sup1"}`); code != 404 {
		t.Errorf("monitoring a call whose agent left: %d, want 404", code)
	}

	// The caller hears the survey and, giving no rating, is hung up.
	if _, err := p.callerSIPp.Wait(); err != nil {
		t.Fatal(err)
	}
	var c agentdesk.CallInfo
	deadline := time.Now().Add(30 * time.Second)
	for c.State != "ended" {
		if time.Now().After(deadline) {
			t.Fatal("the call did not end")
		}
		time.Sleep(100 * time.Millisecond)
		for _, x := range apiCalls(t, p.a) {
			if x.ID == p.callID {
				c = x
			}
		}
	}
	if c.Recording == "" {
		t.Fatal("the call was not recorded")
	}
	left, right := splitRecording(t, c.Recording)
	if s := bestShare(right, toneSupervisor); s < 0.2 {
		t.Errorf("recording: the barging supervisor is not on the agent's channel (best share %.2f)", s)
	}
	if s := bestShare(left, toneSupervisor); s > 0.1 {
		t.Errorf("recording: the supervisor is on the caller's channel (best share %.2f)", s)
	}
	if l, r := bestShare(left, toneCaller), bestShare(right, toneAgent); l < 0.4 || r < 0.4 {
		t.Errorf("recording: caller on the left %.2f, agent on the right %.2f", l, r)
	}
}

// Supervisors signed in through the browser API: one of the agent's team monitors the
// call on their configured phone; one of another team is refused (403) and the refusal
// is in the audit log; a supervisor may not name the phone to ring, nor act as another.
func TestMonitorSupervisorScope(t *testing.T) {
	var logs *syncBuffer
	p := startMonitoredCallWith(t, 0, 0, func(mutate func(*Config)) *app {
		a, l := startLoggedApp(t, t.TempDir(), mutate)
		logs = l
		t.Cleanup(func() {
			a.Shutdown(context.Background(), 2*time.Second)
			if t.Failed() {
				t.Logf("server log:\n%s", tail(logs.String(), 80))
			}
		})
		return a
	})
	pw, role := printedPasswords(t, logs.String())
	if role[p.supervisorID] != "supervisor" {
		t.Fatalf("%s is not a demo supervisor: %v", p.supervisorID, role)
	}
	admin := newBrowser(t, p.a)
	admin.signIn("admin", pw["admin"])
	const westPassword = "a west supervisor's password"
	if code := admin.do("POST", "/api/auth/users", map[string]any{"id": "sup-west", "role": "supervisor", "team": "west",
		"password": westPassword}, nil); code != http.StatusCreated {
		t.Fatalf("creating a supervisor of another team: %d", code)
	}
	west := newBrowser(t, p.a)
	var me struct {
		CSRF string `json:"csrf"`
	}
	if code := west.do("POST", "/api/auth/login", map[string]string{"user": "sup-west", "password": westPassword}, &me); code != 200 {
		t.Fatalf("sign-in of sup-west: %d", code)
	}
	west.csrf = me.CSRF
	path := "/api/calls/" + p.callID + "/monitor"
	if code := west.do("POST", path, map[string]string{"mode": "listen"}, nil); code != http.StatusForbidden {
		t.Errorf("a supervisor of another team: %d, want 403", code)
	}
	if !hasAuditBy(auditLines(t, p.a, p.callID), "sup-west", "listen", "denied") {
		t.Errorf("the refusal is not audited: %v", auditLines(t, p.a, p.callID))
	}

	sup := newBrowser(t, p.a)
	sup.signIn(p.supervisorID, pw[p.supervisorID])
	if code := sup.do("POST", path, map[string]string{"mode": "listen", "contact": "sip:x@127.0.0.1:9"}, nil); code != http.StatusForbidden {
		t.Errorf("a supervisor naming a phone: %d, want 403", code)
	}
	if code := sup.do("POST", path, map[string]string{"mode": "listen", "supervisor": "sup-west"}, nil); code != http.StatusForbidden {
		t.Errorf("a supervisor acting as another: %d, want 403", code)
	}
	var st agentdesk.MonitorState
	if code := sup.do("POST", path, map[string]string{"mode": "listen"}, &st); code != 200 || st.Supervisor != p.supervisorID || st.Agent != "1001" {
		t.Fatalf("the team's supervisor: %d %+v", code, st)
	}
	expectHearing(t, "listen", p.all(),
		[]hearing{p.hearing("the supervisor", toneCaller), p.hearing("the supervisor", toneAgent)},
		[]hearing{p.hearing("the caller", toneSupervisor), p.hearing("the agent", toneSupervisor)})
	if code := west.do("DELETE", path+"?supervisor="+p.supervisorID, nil, nil); code != http.StatusForbidden {
		t.Errorf("another supervisor ending the session: %d, want 403", code)
	}
	if code := sup.do("DELETE", path, nil, nil); code != 200 {
		t.Errorf("leave: %d", code)
	}
	lines := auditLines(t, p.a, p.callID)
	if !hasAuditBy(lines, p.supervisorID, "listen", "ok") || !hasAuditBy(lines, p.supervisorID, agentdesk.ActionMonitorLeave, "ok") ||
		!hasAuditBy(lines, p.supervisorID, "listen", "denied") || !hasAuditBy(lines, "sup-west", agentdesk.ActionMonitorLeave, "denied") {
		t.Errorf("audit lines: %v", lines)
	}
	if res, err := p.supSIPp.Wait(); err != nil {
		t.Fatal(err)
	} else {
		mustSucceed(t, res, 1)
	}
}

func hasAuditBy(lines []map[string]any, user, action, result string) bool {
	for _, e := range lines {
		if e["user"] == user && e["action"] == action && e["result"] == result {
			return true
		}
	}
	return false
}
