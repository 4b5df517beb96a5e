package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
)

func getJSON[T any](t *testing.T, a *app, path string) T {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+path, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v T
	if res.StatusCode != 200 {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET %s: %s %s", path, res.Status, b)
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return v
}

// waitEvent waits until the one live call to dialled has an event of that kind.
func waitEvent(t *testing.T, a *app, kind string, within time.Duration) agentdesk.CallInfo {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, c := range apiCalls(t, a) {
			if hasEvent(c, kind, "") {
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no call reached %q within %v", kind, within)
	return agentdesk.CallInfo{}
}

// A queued caller is bridged to a SIP agent (a SIPp UAS echoing audio): the caller's tone
// comes back through the agent; when the agent hangs up the caller hears the survey,
// presses 1, and the rating is kept with the call (一次一评).
func TestQueueAgentBridgeSurvey(t *testing.T) {
	agent := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: 3 * time.Second})
	a := startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Agents = []AgentConfig{{ID: "1001", Name: "test agent", Skills: map[string]int{"general": 5},
			Contact: "sip:1001@" + agent.Addr(), AutoReady: true}}
	})
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 40 * time.Second})
	rtpAddr := liveRTP(t, a, "12345")
	waitEvent(t, a, "connect", 10*time.Second)
	ctx := context.Background()
	probe.Reset()
	if err := probe.SendTone(ctx, rtpAddr, 0, 1000, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	heard := testkit.Audio(probe.Packets())
	best := 0.0
	for i := 0; i+1600 <= len(heard); i += 800 {
		best = max(best, media.ToneShare(heard[i:i+1600], 1000))
	}
	if best < 0.5 {
		t.Errorf("the caller's tone did not come back through the agent (best share %.2f)", best)
	}
	waitEvent(t, a, "complete", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // into the survey prompt
	if err := probe.SendDigits(ctx, rtpAddr, 101, "1"); err != nil {
		t.Fatal(err)
	}
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	c := waitEnded(t, a, 1)[0]
	if c.Agent != "1001" {
		t.Errorf("agent %q", c.Agent)
	}
	if c.Survey == nil || c.Survey.Score != 1 || c.Survey.Scale != 3 {
		t.Errorf("survey %+v, want score 1 of 3", c.Survey)
	}
	// The call is a work order: its timeline holds the IVR path, the queue, the answer
	// and the end, and the survey is the case's call score (key 1: satisfied).
	if c.Case == "" {
		t.Fatal("the call has no work order")
	}
	cs := getJSON[struct {
		Number    string `json:"number"`
		Dialled   string `json:"dialled_number"`
		CallScore int    `json:"call_score"`
		InCall    bool   `json:"in_call"`
	}](t, a, "/api/cases/"+c.Case)
	if cs.Number != c.Case || cs.Dialled != "12345" || cs.CallScore != 3 || cs.InCall {
		t.Errorf("case %+v", cs)
	}
	timeline := getJSON[struct {
		Events []struct {
			Type  string `json:"type"`
			Value int64  `json:"value"`
		} `json:"events"`
	}](t, a, "/api/cases/"+c.Case+"/timeline")
	var types []string
	for _, e := range timeline.Events {
		types = append(types, e.Type)
	}
	for _, want := range []string{"ivr.path", "call.offered", "queue.event", "call.answered", "call.ended", "survey.call"} {
		if !strings.Contains(strings.Join(types, " "), want) {
			t.Errorf("case timeline %v lacks %s", types, want)
		}
	}
	var kinds []string
	for _, e := range c.Events {
		kinds = append(kinds, e.Kind)
	}
	for _, want := range []string{"queue", "acd:", "offer", "connect", "complete"} {
		if !strings.Contains(strings.Join(kinds, " "), want) {
			t.Errorf("events %v lack %q", kinds, want)
		}
	}
}
