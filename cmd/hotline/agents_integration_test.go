package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/internal/testkit"
)

// register sends REGISTER for agent id with a Contact pointing at contactPort, answering
// the digest challenge with password; it returns the final status.
func register(t *testing.T, a *app, id, password string, contactPort int, expires string) int {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	defer ua.Close()
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	target := a.SIPAddr()
	req := sip.NewRequest(sip.REGISTER, sip.Uri{User: id, Host: target.Addr().String(), Port: int(target.Port())})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{User: id, Host: "127.0.0.1", Port: contactPort}})
	req.AppendHeader(sip.NewHeader("Expires", expires))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := cli.Do(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 401 {
		return int(res.StatusCode)
	}
	res, err = cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: id, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return int(res.StatusCode)
}

func agentState(t *testing.T, a *app, id string) acd.AgentState {
	t.Helper()
	for _, ag := range a.acd.Snapshot().Agents {
		if ag.ID == id {
			return ag.State
		}
	}
	return acd.AgentState(0)
}

// A desk phone registers with digest auth, the agent goes ready by dialling *1 from it,
// and a citizen's call rings the registered phone; a wrong password is refused.
func TestRegisteredDeskPhone(t *testing.T) {
	phone := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: 2 * time.Second})
	a := startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Agents = []AgentConfig{{ID: "1002", Skills: map[string]int{"general": 4}, SIPPassword: "s3cret"}}
	})
	if code := register(t, a, "1002", "wrong", phone.Port, "300"); code != 403 {
		t.Errorf("REGISTER with a wrong password: %d, want 403", code)
	}
	if code := register(t, a, "1999", "s3cret", phone.Port, "300"); code != 403 {
		t.Errorf("REGISTER of an unknown agent: %d, want 403", code)
	}
	if code := register(t, a, "1002", "s3cret", phone.Port, "300"); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	if c, ok := a.sip.Contact("1002"); !ok || !strings.Contains(c, "127.0.0.1") {
		t.Fatalf("binding %q %v", c, ok)
	}
	// *1 from the phone: logged in and ready. Without credentials the code is refused.
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, Number: "*1", ExpectCode: 401}), 1)
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Number: "*1", AuthUser: "1002", AuthPassword: "s3cret",
		Pause: 1500 * time.Millisecond}), 1)
	if st := agentState(t, a, "1002"); st != acd.Ready {
		t.Fatalf("agent state after *1: %v", st)
	}
	// A citizen's call now rings the registered phone (which hangs up after 2 s; the
	// citizen leaves during the survey).
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Pause: 4 * time.Second}), 1)
	var took bool
	for _, c := range apiCalls(t, a) {
		took = took || c.Agent == "1002"
	}
	if !took {
		t.Error("no call was taken by the registered phone")
	}
	// Unregistering forgets the phone.
	if code := register(t, a, "1002", "s3cret", phone.Port, "0"); code != 200 {
		t.Fatalf("un-REGISTER: %d", code)
	}
	if _, ok := a.sip.Contact("1002"); ok {
		t.Error("binding kept after Expires: 0")
	}
}

// Agents change state through the API; bad requests get clear errors.
func TestAgentAPI(t *testing.T) {
	a := startTestApp(t, func(c *Config) {
		c.Agents = []AgentConfig{{ID: "1003", Skills: map[string]int{"housing": 5}}}
	})
	steps := []struct {
		path, body string
		code       int
		state      acd.AgentState
	}{
		{"/api/agents/1003/login", "", 200, acd.Break},
		{"/api/agents/1003/ready", "", 200, acd.Ready},
		{"/api/agents/1003/break", `{"reason":"lunch"}`, 200, acd.Break},
		{"/api/agents/1003/break", `{"reason":""}`, 400, acd.Break},
		{"/api/agents/1003/break", `{"reason":"x","extra":1}`, 400, acd.Break},
		{"/api/agents/1003/break", `not json`, 400, acd.Break},
		{"/api/agents/1003/dance", "", 404, acd.Break},
		{"/api/agents/9999/ready", "", 404, acd.Break},
		{"/api/agents/1003/logout", "", 200, acd.LoggedOut},
		{"/api/agents/1003/ready", "", 409, acd.LoggedOut},
	}
	for _, s := range steps {
		code, body := postAPI(t, a, s.path, s.body)
		if code != s.code || !strings.Contains(body, `"`) {
			t.Errorf("POST %s %s: %d %s, want %d", s.path, s.body, code, body, s.code)
		}
		if st := agentState(t, a, "1003"); st != s.state {
			t.Errorf("after POST %s: state %v, want %v", s.path, st, s.state)
		}
	}
	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+"/api/queues", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("/api/queues: %v %v", err, res.Status)
	}
	res.Body.Close()
}
