package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
	"github.com/hotline-12345/hotline/sip"
)

func splitRecording(t *testing.T, path string) (left, right []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var l, r bytes.Buffer
	if _, err := recordings.Split(f, &l, &r); err != nil {
		t.Fatal(err)
	}
	lw, err := testkit.ReadWAV(&l)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := testkit.ReadWAV(&r)
	if err != nil {
		t.Fatal(err)
	}
	return lw.Samples, rw.Samples
}

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

// bestShare is the largest share of a tone in any 200 ms window of pcm.
func bestShare(pcm []int16, freq float64) float64 {
	best := 0.0
	for i := 0; i+1600 <= len(pcm); i += 800 {
		best = max(best, media.ToneShare(pcm[i:i+1600], freq))
	}
	return best
}

// A queued caller is bridged to a SIP agent (a SIPp UAS whose audio is a probe speaking
// 1500 Hz): each hears the other's tone; the call's stereo recording holds the caller on
// the left and the agent on the right; when the agent hangs up the caller hears the
// survey, presses 1, and the rating is kept with the call (一次一评) and its work order.
func TestQueueAgentBridgeSurvey(t *testing.T) {
	agentAudio := testkit.NewRTPProbe(t)
	agentAudio.ReplyWith(0, testkit.Tone(8000, 1500, 0.5, 2*time.Second))
	agent := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: agentAudio.Port(), Hangup: 3 * time.Second})
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
	if share := bestShare(testkit.Audio(probe.Packets()), 1500); share < 0.5 {
		t.Errorf("the caller did not hear the agent's 1500 Hz (best share %.2f)", share)
	}
	if share := bestShare(testkit.Audio(agentAudio.Packets()), 1000); share < 0.5 {
		t.Errorf("the agent did not hear the caller's 1000 Hz (best share %.2f)", share)
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
	// One stereo recording: the caller's tone on the left, the agent's on the right.
	if c.Recording == "" {
		t.Fatal("the bridged call was not recorded")
	}
	left, right := splitRecording(t, c.Recording)
	if l, r := bestShare(left, 1000), bestShare(right, 1500); l < 0.5 || r < 0.5 {
		t.Errorf("recording: caller's tone on the left %.2f, agent's on the right %.2f", l, r)
	}
	if l, r := bestShare(left, 1500), bestShare(right, 1000); l > 0.2 || r > 0.2 {
		t.Errorf("recording: the channels bleed (agent on the left %.2f, caller on the right %.2f)", l, r)
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

// Queued callback that keeps the place: a waiting caller presses 1 and hangs up; when an
// agent is free, hotline rings the agent, calls the citizen back through the trunk (a
// SIPp UAS), and bridges them: each hears the other. The case keeps every step.
func TestQueuedCallback(t *testing.T) {
	citizenAudio, agentAudio := testkit.NewRTPProbe(t), testkit.NewRTPProbe(t)
	citizenAudio.ReplyWith(0, testkit.Tone(8000, 700, 0.5, 2*time.Second))
	agentAudio.ReplyWith(0, testkit.Tone(8000, 1300, 0.5, 2*time.Second))
	citizen := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: citizenAudio.Port(), Hangup: 3 * time.Second})
	agent := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: agentAudio.Port()})
	const number = "13900001111"
	a := startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Callbacks.URI = "sip:{number}@" + citizen.Addr()
		c.Agents = []AgentConfig{{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + agent.Addr()}}
	}, startHooks{wrap: func(next sip.CallHandler) sip.CallHandler {
		return sip.CallHandlerFunc(func(ctx context.Context, c *sip.InboundCall) {
			c.Caller = number // SIPp's From is "sipp"; a carrier sends the citizen's number
			next.HandleCall(ctx, c)
		})
	}})
	if code, body := postAPI(t, a, "/api/agents/1001/login", ""); code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 30 * time.Second})
	rtpAddr := liveRTP(t, a, "12345")
	waitEvent(t, a, "queue", 5*time.Second)
	if err := probe.SendDigits(context.Background(), rtpAddr, 101, "1"); err != nil {
		t.Fatal(err)
	}
	res, err := caller.Wait() // hotline confirms and hangs up
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	ended := waitEnded(t, a, 1)[0]
	if !hasEvent(ended, "callback_requested", "") || ended.Case == "" {
		t.Fatalf("no callback requested, or no case: %q %+v", ended.Case, ended.Events)
	}
	// The agent becomes ready: the callback is placed.
	if code, body := postAPI(t, a, "/api/agents/1001/ready", ""); code != 200 {
		t.Fatalf("ready: %d %s", code, body)
	}
	if _, err := citizen.Wait(); err != nil { // the citizen answers, talks 3 s, hangs up
		t.Fatal(err)
	}
	if share := bestShare(testkit.Audio(citizenAudio.Packets()), 1300); share < 0.5 {
		t.Errorf("the citizen did not hear the agent (best share %.2f)", share)
	}
	if share := bestShare(testkit.Audio(agentAudio.Packets()), 700); share < 0.5 {
		t.Errorf("the agent did not hear the citizen (best share %.2f)", share)
	}
	deadline := time.Now().Add(5 * time.Second)
	var kinds string
	for time.Now().Before(deadline) {
		timeline := getJSON[struct {
			Events []struct {
				Payload json.RawMessage `json:"payload"`
			} `json:"events"`
		}](t, a, "/api/cases/"+ended.Case+"/timeline")
		kinds = ""
		for _, e := range timeline.Events {
			kinds += string(e.Payload) + " "
		}
		if strings.Contains(kinds, "CALLBACK_COMPLETE") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"CALLBACK_REQUESTED", "CALLBACK_CONNECTED", "CALLBACK_COMPLETE"} {
		if !strings.Contains(kinds, want) {
			t.Errorf("case timeline lacks %s: %s", want, kinds)
		}
	}
}

// The agent pauses the recording for a moment (a card number): that stretch of the one
// file is silence on both channels, and the recording goes on after it.
func TestRecordingPause(t *testing.T) {
	agentAudio := testkit.NewRTPProbe(t)
	agentAudio.ReplyWith(0, testkit.Tone(8000, 1500, 0.5, 2*time.Second))
	agent := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: agentAudio.Port(), Hangup: 4 * time.Second})
	a := startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Agents = []AgentConfig{{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + agent.Addr(), AutoReady: true}}
	})
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 6 * time.Second})
	c := waitEvent(t, a, "connect", 10*time.Second)
	time.Sleep(time.Second)
	if code, body := postAPI(t, a, "/api/calls/"+c.ID+"/recording", `{"paused": true}`); code != 200 {
		t.Fatalf("pause: %d %s", code, body)
	}
	time.Sleep(time.Second)
	if code, body := postAPI(t, a, "/api/calls/"+c.ID+"/recording", `{"paused": false}`); code != 200 {
		t.Fatalf("resume: %d %s", code, body)
	}
	if code, _ := postAPI(t, a, "/api/calls/"+c.ID+"/recording", `{"pause": 1}`); code != 400 {
		t.Errorf("a malformed body: %d, want 400", code)
	}
	if code, _ := postAPI(t, a, "/api/calls/nope/recording", `{"paused": true}`); code != 404 {
		t.Errorf("an unknown call: %d, want 404", code)
	}
	if _, err := caller.Wait(); err != nil {
		t.Fatal(err)
	}
	ended := waitEnded(t, a, 1)[0]
	_, right := splitRecording(t, ended.Recording)
	// The agent channel, in 200 ms windows: T tone, s silence, ? other. The pause must be a
	// run of silence with the agent's tone on both sides of it.
	var pattern strings.Builder
	for i := 0; i+1600 <= len(right); i += 1600 {
		w := right[i : i+1600]
		switch {
		case media.ToneShare(w, 1500) > 0.5:
			pattern.WriteByte('T')
		case testkit.RMS(w) < 30:
			pattern.WriteByte('s')
		default:
			pattern.WriteByte('?')
		}
	}
	if !regexp.MustCompile(`T[s?]*sss[s?]*T`).MatchString(pattern.String()) {
		t.Errorf("agent channel %s: no paused stretch inside the talk", pattern.String())
	}
}
