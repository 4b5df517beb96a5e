package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
)

// liveRTP waits for a live call to n and returns hotline's RTP address for it.
func liveRTP(t *testing.T, a *app, dialled string) netip.AddrPort {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range apiCalls(t, a) {
			if c.State == "answered" && c.Dialled == dialled && c.RTP != nil {
				return netip.MustParseAddrPort(c.RTP.Local)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no answered call to %s", dialled)
	return netip.AddrPort{}
}

func hasEvent(c agentdesk.CallInfo, kind, detail string) bool {
	for _, e := range c.Events {
		if e.Kind == kind && strings.Contains(e.Detail, detail) {
			return true
		}
	}
	return false
}

// Each built-in number goes greeting → notice → queue with its own skill, with no menu.
func TestIntakePathPerNumber(t *testing.T) {
	// SIPp's callers send no audio: keep them past the 30 s RTP timeout.
	a := startTestApp(t, func(c *Config) { c.SIP.RTPTimeout = Duration(time.Minute) })
	skills := map[string]string{"12345": "general", "12369": "environment", "12358": "prices", "967111": "housing"}
	var wg sync.WaitGroup
	for n := range skills {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The longest intake (12358: greeting, "press 9", the emergency notice, please
			// hold) lasts 26 s; the caller stays past it.
			mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Number: n, Pause: 34 * time.Second}), 1)
		}()
	}
	wg.Wait()
	for _, c := range waitEnded(t, a, 4) {
		want := skills[c.Dialled]
		if !hasEvent(c, "queue", "skill "+want) {
			t.Errorf("call to %s: events %+v, want a queue with skill %s", c.Dialled, c.Events, want)
		}
		paths := ivrPaths(t, c)
		if len(paths) == 0 {
			t.Fatalf("call to %s has no IVR path", c.Dialled)
		}
		var nodes []string
		for _, e := range paths[0].Events {
			if e.Kind == ivr.EventNode {
				nodes = append(nodes, e.Node)
			}
		}
		got := strings.Join(nodes, " ")
		if !strings.Contains(got, "greet_"+c.Dialled) || !strings.Contains(got, "notice") || !strings.HasSuffix(got, "queue") {
			t.Errorf("call to %s went %s", c.Dialled, got)
		}
	}
}

// Pressing 9 during the greeting cuts it (barge-in) and the rest is in English.
func TestEnglishByBargeIn(t *testing.T) {
	a := startTestApp(t, nil)
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(),
		Number: "12369", MediaPort: probe.Port(), Pause: 12 * time.Second})
	rtpAddr := liveRTP(t, a, "12369")
	time.Sleep(1500 * time.Millisecond)
	probe.Reset()
	if err := probe.SendDigits(context.Background(), rtpAddr, 101, "9"); err != nil {
		t.Fatal(err)
	}
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	heard := testkit.Audio(probe.Packets())
	notice := promptPCM(t, "en", "emergency_notice")[:2*media.SampleRate]
	if score, _ := testkit.Correlate(heard, notice); score < 0.8 {
		t.Errorf("after pressing 9 the caller did not hear the English notice (correlation %.2f)", score)
	}
	zh := promptPCM(t, "zh", "emergency_notice")[:2*media.SampleRate]
	if score, _ := testkit.Correlate(heard, zh); score > 0.5 {
		t.Errorf("the caller heard the Mandarin notice after choosing English (correlation %.2f)", score)
	}
	c := waitEnded(t, a, 1)[0]
	var cut, english bool
	for _, e := range ivrPaths(t, c)[0].Events {
		if e.Node == "greet_12369" && e.Cut {
			cut = true
		}
		if e.Language == "en" {
			english = true
		}
	}
	if !cut || !english {
		t.Errorf("path: greeting cut %v, English %v", cut, english)
	}
}

// Pressing 0 during the emergency notice transfers the caller through the trunk to the
// emergency desk (a SIPp UAS that echoes audio): the caller's tone comes back through the
// bridge, and when the desk hangs up, hotline hangs up the caller.
func TestEmergencyTransfer(t *testing.T) {
	desk := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: 5 * time.Second})
	a := startTestApp(t, func(c *Config) { c.Destinations["emergency"] = "sip:110@" + desk.Addr() })
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 45 * time.Second})
	rtpAddr := liveRTP(t, a, "12345")
	// The 12345 greeting and "press 9" last about 8 s; the notice listens for 0 after them.
	time.Sleep(9500 * time.Millisecond)
	ctx := context.Background()
	if err := probe.SendDigits(ctx, rtpAddr, 101, "0"); err != nil {
		t.Fatal(err)
	}
	// Wait until the desk answered, then speak a tone into the bridge.
	deadline := time.Now().Add(15 * time.Second)
	for {
		var answered bool
		for _, c := range apiCalls(t, a) {
			answered = answered || hasEvent(c, "transfer_answered", "emergency")
		}
		if answered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the emergency desk never answered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	probe.Reset()
	if err := probe.SendTone(ctx, rtpAddr, 0, 1000, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	heard := testkit.Audio(probe.Packets())
	best := 0.0
	for i := 0; i+1600 <= len(heard); i += 800 {
		best = max(best, media.ToneShare(heard[i:i+1600], 1000))
	}
	if best < 0.5 {
		t.Errorf("the caller's tone did not come back through the desk's echo (best share %.2f)", best)
	}
	c := waitEnded(t, a, 1)[0]
	for _, kind := range []string{"transfer", "transfer_answered", "transfer_ended"} {
		if !hasEvent(c, kind, "") {
			t.Errorf("no %s event: %+v", kind, c.Events)
		}
	}
	if c.EndReason != "hangup" {
		t.Errorf("end reason %q, want hangup (hotline hung up after the desk)", c.EndReason)
	}
	if _, err := desk.Stop(); err != nil {
		t.Log(err)
	}
}

func postAPI(t *testing.T, a *app, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+a.HTTPAddr()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// A flow file with errors is refused on reload (the old flows stay, the error names the
// file, line and node); a good one is taken by the next call.
func TestFlowReload(t *testing.T) {
	dir := t.TempDir()
	flow, _ := os.ReadFile("testdata/flows/intake.yaml")
	os.WriteFile(filepath.Join(dir, "intake.yaml"), flow, 0o644)
	a := startTestApp(t, func(c *Config) { c.IVR.FlowsDir = dir })
	broken := strings.Replace(string(flow), "next: agent", "next: nowhere", 1)
	os.WriteFile(filepath.Join(dir, "intake.yaml"), []byte(broken), 0o644)
	code, body := postAPI(t, a, "/api/flows/reload", "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, "intake.yaml") || !strings.Contains(body, "nowhere") {
		t.Errorf("reload of a broken flow: %d %s", code, body)
	}
	// Calls still run the old flow: straight to the queue.
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Pause: time.Second}), 1)
	if c := waitEnded(t, a, 1)[0]; !hasEvent(c, "ivr", "queue at agent") {
		t.Errorf("after a refused reload the call went %+v", c.Events)
	}
	os.Remove(filepath.Join(dir, "intake.yaml")) // back to the built-in intake
	if code, body := postAPI(t, a, "/api/flows/reload", ""); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Pause: time.Second}), 1)
	for _, c := range waitEnded(t, a, 2) {
		if c.State == "ended" && len(ivrPaths(t, c)) > 0 && ivrPaths(t, c)[0].Events[0].Node == "route" && hasEvent(c, "ivr", "abandoned") {
			return // the second call ran the built-in intake (route → greeting), hung up in it
		}
	}
	t.Error("after a good reload the next call did not run the built-in intake")
}

// A record node takes the caller's message into a recording of its own, noted in the
// call's path and work order.
func TestRecordMessage(t *testing.T) {
	a := startTestApp(t, func(c *Config) { c.IVR.FlowsDir = "testdata/flows_record" })
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 30 * time.Second})
	rtpAddr := liveRTP(t, a, "12345")
	// Speak a tone after the prompt (5.7 s) and the beep (0.4 s); the message lasts 3 s.
	time.Sleep(6800 * time.Millisecond)
	if err := probe.SendTone(context.Background(), rtpAddr, 0, 700, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	c := waitEnded(t, a, 1)[0]
	out := getJSON[struct {
		Events []struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		} `json:"events"`
	}](t, a, "/api/cases/"+c.Case+"/timeline")
	var path string
	for _, e := range out.Events {
		if e.Type == "recording.ref" && strings.Contains(string(e.Payload), `"message"`) {
			var p struct{ Path string }
			json.Unmarshal(e.Payload, &p)
			path = p.Path
		}
	}
	if path == "" {
		t.Fatalf("no message in the case timeline: %+v", out.Events)
	}
	left, _ := splitRecording(t, path)
	if share := bestShare(left, 700); share < 0.5 {
		t.Errorf("the message does not hold the caller's tone (best share %.2f)", share)
	}
}
