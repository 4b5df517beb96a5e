package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/sip"
)

// Faults around the queue (issue 4, "Bad input and faults"): agents who refuse, never
// answer, or lose their phone; callers who leave while an agent rings; two callers for
// one agent; a callback number that is busy. Each test asserts outcomes and waits with
// deadlines, never on timing.

// uasRingUntilCancel is an agent phone that rings and never answers: 180, then it waits
// for the CANCEL, answers it 200 and the INVITE 487, and takes the ACK. SIPp counts a
// call successful only when the CANCEL came, so the UAS proves the phone stopped ringing.
const uasRingUntilCancel = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="uas ring until cancel">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>
    </action>
  </recv>
  <send>
    <![CDATA[

      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:agent@[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]>
  </send>
  <recv request="CANCEL"></recv>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <send>
    <![CDATA[

      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq:[$invite_cseq]
      Content-Length: 0

    ]]>
  </send>
  <recv request="ACK" crlf="true"></recv>
</scenario>
`

// ringingAgent starts a SIPp phone that rings until cancelled, for calls calls.
func ringingAgent(t *testing.T, calls int) *testkit.SIPp {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "uas_ring_until_cancel.xml") // "uas" prefix: SIPp answers stray OPTIONS itself
	if err := os.WriteFile(path, []byte(uasRingUntilCancel), 0o644); err != nil {
		t.Fatal(err)
	}
	return testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: path, Calls: calls, RecvTimeout: 60 * time.Second})
}

// queuesSnapshot is GET /api/queues, as a wallboard reads it.
func queuesSnapshot(t *testing.T, a *app) acd.Snapshot {
	t.Helper()
	return getJSON[acd.Snapshot](t, a, "/api/queues")
}

func agentStatus(t *testing.T, a *app, id string) acd.AgentStatus {
	t.Helper()
	st, ok := listedAgent(t, a, id)
	if !ok {
		t.Fatalf("agent %s not on /api/queues", id)
	}
	return st
}

func listedAgent(t *testing.T, a *app, id string) (acd.AgentStatus, bool) {
	t.Helper()
	for _, ag := range queuesSnapshot(t, a).Agents {
		if ag.ID == id {
			return ag, true
		}
	}
	return acd.AgentStatus{}, false
}

// waitAgent waits until the agent's status on /api/queues satisfies ok; an agent not
// listed yet (a softphone whose sign-in is still on its way) is waited for too.
func waitAgent(t *testing.T, a *app, id string, within time.Duration, what string, ok func(acd.AgentStatus) bool) acd.AgentStatus {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st, listed := listedAgent(t, a, id)
		if listed && ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			if !listed {
				t.Fatalf("agent %s: want %s within %v; not on /api/queues", id, what, within)
			}
			t.Fatalf("agent %s: want %s within %v; last %v (reason %q, misses %d)", id, what, within, st.State, st.Reason, st.Misses)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func queueWaiting(t *testing.T, a *app, name string) int {
	t.Helper()
	for _, q := range queuesSnapshot(t, a).Queues {
		if q.Name == name {
			return q.Waiting + q.Ringing
		}
	}
	t.Fatalf("queue %s not on /api/queues", name)
	return 0
}

// faultApp is the test intake (straight to the general queue) with short ring and wrap-up
// times, no announcements, and agents.
func faultApp(t *testing.T, agents []AgentConfig, mutate func(*Config), hooks ...startHooks) *app {
	t.Helper()
	return startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.Queue.AnnounceEvery = 0
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].WrapUp = 300 * time.Millisecond
			c.ACD.Queues[i].RingTimeout = 10 * time.Second
		}
		c.Agents = agents
		if mutate != nil {
			mutate(c)
		}
	}, hooks...)
}

// An agent who refuses (486 Busy Here) counts a miss each time; the caller stays at the
// head of the queue and, after max_no_answer refusals, the agent is on break "no-answer"
// and the caller goes to the next agent who becomes ready.
func TestQueueFaultAgentRejects(t *testing.T) {
	busy := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASReject, RejectCode: 486, Calls: 2})
	good := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: time.Second})
	a := faultApp(t, []AgentConfig{
		{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + busy.Addr(), AutoReady: true},
		{ID: "1002", Skills: map[string]int{"general": 5}, Contact: "sip:1002@" + good.Addr()},
	}, nil)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 8 * time.Second})
	st := waitAgent(t, a, "1001", 10*time.Second, "break no-answer", func(s acd.AgentStatus) bool { return s.State == acd.Break })
	if st.Reason != acd.NoAnswerReason {
		t.Errorf("agent 1001 on break %q, want %q", st.Reason, acd.NoAnswerReason)
	}
	if res, err := busy.Wait(); err != nil || res.Successful != 2 {
		t.Errorf("the busy phone took %d calls (%v), want 2 refusals", res.Successful, err)
	}
	if n := queueWaiting(t, a, "general"); n != 1 {
		t.Errorf("after the refusals %d callers in the queue, want the caller still there", n)
	}
	for _, path := range []string{"/api/agents/1002/login", "/api/agents/1002/ready"} {
		if code, body := postAPI(t, a, path, ""); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	c := waitEvent(t, a, "connect", 10*time.Second)
	if c.Agent != "1002" && !hasEvent(c, "connect", "agent 1002") {
		t.Errorf("connected to %q, want 1002: %+v", c.Agent, c.Events)
	}
	var noAnswers int
	for _, e := range c.Events {
		if e.Kind == "no_answer" && strings.Contains(e.Detail, "agent 1001") {
			noAnswers++
		}
	}
	if noAnswers != 2 {
		t.Errorf("%d no-answers from agent 1001 on the call, want 2: %+v", noAnswers, c.Events)
	}
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
}

// An agent whose phone rings and is never answered: the offer ends at ring_timeout (the
// phone gets a CANCEL), the caller goes back to the head, and after max_no_answer misses
// the agent is on break "no-answer", as GET /api/queues shows.
func TestQueueFaultAgentNeverAnswers(t *testing.T) {
	phone := ringingAgent(t, 2)
	good := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: time.Second})
	a := faultApp(t, []AgentConfig{
		{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + phone.Addr(), AutoReady: true},
		{ID: "1002", Skills: map[string]int{"general": 5}, Contact: "sip:1002@" + good.Addr()},
	}, func(c *Config) {
		c.ACD.MaxNoAnswer = 2
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].RingTimeout = time.Second
		}
	})
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 10 * time.Second})
	st := waitAgent(t, a, "1001", 15*time.Second, "break", func(s acd.AgentStatus) bool { return s.State == acd.Break })
	if st.Reason != acd.NoAnswerReason {
		t.Errorf("agent 1001 on break %q, want %q", st.Reason, acd.NoAnswerReason)
	}
	// The phone saw both offers end with a CANCEL.
	res, err := phone.Wait()
	if err != nil || res.Successful != 2 {
		t.Errorf("the phone's scenario: %d of 2 calls cancelled (%v)\n%s", res.Successful, err, tail(res.Output, 20))
	}
	if n := queueWaiting(t, a, "general"); n != 1 {
		t.Errorf("%d callers queued after the misses, want the caller still waiting", n)
	}
	// The caller still gets an agent: the next one who becomes ready. (The caller leaves
	// during the survey, not while queued: see TestQueueFaultCallerLeavesWhileRinging.)
	for _, path := range []string{"/api/agents/1002/login", "/api/agents/1002/ready"} {
		if code, body := postAPI(t, a, path, ""); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	if c := waitEvent(t, a, "connect", 10*time.Second); !hasEvent(c, "connect", "agent 1002") {
		t.Errorf("connected %+v, want agent 1002", c.Events)
	}
	res, err = caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
}

// A caller who hangs up while the agent's phone rings: the phone gets a CANCEL, the agent
// is ready again with no miss counted, and no call is left behind.
func TestQueueFaultCallerLeavesWhileRinging(t *testing.T) {
	phone := ringingAgent(t, 1)
	a := faultApp(t, []AgentConfig{
		{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + phone.Addr(), AutoReady: true},
	}, func(c *Config) {
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].RingTimeout = 30 * time.Second
		}
	})
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 2 * time.Second})
	waitAgent(t, a, "1001", 10*time.Second, "reserved (ringing)", func(s acd.AgentStatus) bool { return s.State == acd.Reserved })
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	pres, err := phone.Wait()
	if err != nil || pres.Successful != 1 {
		t.Fatalf("the agent's phone was not cancelled: %d successful (%v)\n%s", pres.Successful, err, tail(pres.Output, 20))
	}
	st := waitAgent(t, a, "1001", 5*time.Second, "ready", func(s acd.AgentStatus) bool { return s.State == acd.Ready })
	if st.Misses != 0 {
		t.Errorf("the caller's hang-up counted %d misses against the agent", st.Misses)
	}
	c := waitEnded(t, a, 1)[0]
	if c.Agent != "" || hasEvent(c, "connect", "") {
		t.Errorf("the abandoned call was connected: %+v", c.Events)
	}
	if n := queueWaiting(t, a, "general"); n != 0 {
		t.Errorf("%d callers still queued", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.sip.ActiveCalls() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := a.sip.ActiveCalls(); n != 0 {
		t.Errorf("%d SIP calls left behind", n)
	}
}

// Two callers and one agent: the agent is offered one call at a time. Every ACD event
// for the agent is watched: no OFFER while another offer or call of the agent is open,
// and both callers are answered in turn.
func TestQueueFaultTwoCallersOneAgent(t *testing.T) {
	phone := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: 1500 * time.Millisecond, Calls: 2})
	a := faultApp(t, []AgentConfig{
		{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + phone.Addr(), AutoReady: true},
	}, nil)
	events, cancel := a.acd.Subscribe(1024)
	defer cancel()
	var mu sync.Mutex
	var violations []string
	var offers, connects, completes int
	done := make(chan struct{})
	go func() {
		defer close(done)
		open := "" // the call the agent is busy with
		for ev := range events {
			if ev.AgentID != "1001" {
				continue
			}
			mu.Lock()
			switch ev.Kind {
			case acd.EventOffer:
				offers++
				if open != "" {
					violations = append(violations, "offer of "+ev.CallID+" while "+open+" is open")
				}
				open = ev.CallID
			case acd.EventConnect:
				connects++
			case acd.EventComplete, acd.EventNoAnswer, acd.EventWithdraw:
				if ev.Kind == acd.EventComplete {
					completes++
				}
				if ev.CallID == open {
					open = ""
				}
			}
			done := completes == 2
			mu.Unlock()
			if done {
				return
			}
		}
	}()
	callers := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(),
		Calls: 2, Rate: 20, Concurrency: 2, Pause: 9 * time.Second})
	res, err := callers.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 2)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(violations) > 0 {
		t.Errorf("the agent was offered two calls at once: %v", violations)
	}
	if connects != 2 || completes != 2 {
		t.Errorf("offers %d, connects %d, completes %d; want both callers answered in turn", offers, connects, completes)
	}
	ended := waitEnded(t, a, 2)
	for _, c := range ended {
		if c.Agent != "1001" {
			t.Errorf("call %s: agent %q, events %v", c.ID, c.Agent, c.Events)
		}
	}
}

// An agent's desk phone un-registers (Expires: 0) while the agent is on a call: the call
// goes on to its end; afterwards the agent, whose phone is gone, takes no call: the next
// caller's offer finds no phone and the agent ends up logged out.
func TestQueueFaultPhoneUnregistersMidCall(t *testing.T) {
	phone := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: 3 * time.Second, Calls: 5})
	other := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Hangup: time.Second})
	a := faultApp(t, []AgentConfig{
		{ID: "1002", Skills: map[string]int{"general": 4}, SIPPassword: "s3cret"},
		{ID: "1003", Skills: map[string]int{"general": 4}, Contact: "sip:1003@" + other.Addr()},
	}, nil)
	if code := register(t, a, "1002", "s3cret", phone.Port, "300"); code != 200 {
		t.Fatalf("REGISTER: %d", code)
	}
	for _, path := range []string{"/api/agents/1002/login", "/api/agents/1002/ready"} {
		if code, body := postAPI(t, a, path, ""); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	first := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 6 * time.Second})
	waitEvent(t, a, "connect", 10*time.Second)
	if code := register(t, a, "1002", "s3cret", phone.Port, "0"); code != 200 {
		t.Fatalf("un-REGISTER: %d", code)
	}
	// The call in progress is not touched: the agent's phone hangs up at 3 s as planned.
	c := waitEvent(t, a, "complete", 10*time.Second)
	if c.EndReason == "" && c.State != "answered" {
		t.Errorf("call state %q after the agent hung up", c.State)
	}
	if !hasEvent(c, "complete", "agent 1002") {
		t.Errorf("the call did not complete with the agent: %+v", c.Events)
	}
	res, err := first.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	// A second caller: the agent has no phone any more and must not hold the call; it
	// goes to the other agent once that one is ready.
	second := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 5 * time.Second})
	waitAgent(t, a, "1002", 10*time.Second, "logged out", func(s acd.AgentStatus) bool { return s.State == acd.LoggedOut })
	for _, path := range []string{"/api/agents/1003/login", "/api/agents/1003/ready"} {
		if code, body := postAPI(t, a, path, ""); code != 200 {
			t.Fatalf("POST %s: %d %s", path, code, body)
		}
	}
	res, err = second.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	for _, c := range waitEnded(t, a, 2) {
		if hasEvent(c, "offer", "agent 1003") && (hasEvent(c, "connect", "agent 1002") || !hasEvent(c, "connect", "agent 1003")) {
			t.Errorf("second call %s: %+v, want it answered by 1003 only", c.ID, c.Events)
		}
	}
	if pr, _ := phone.Stop(); pr.Created != 1 {
		t.Errorf("the un-registered phone was rung %d times, want only the first call", pr.Created)
	}
}

// A callback number that is busy (486): the attempt fails without blaming the agent, the
// ACD retries after callback_retry_delay, and the case timeline shows CALLBACK_FAILED for
// each attempt.
func TestQueueFaultCallbackBusy(t *testing.T) {
	citizen := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASReject, RejectCode: 486, Calls: 2})
	agent := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Calls: 5})
	const number = "13900002222"
	a := faultApp(t, []AgentConfig{{ID: "1001", Skills: map[string]int{"general": 5}, Contact: "sip:1001@" + agent.Addr()}},
		func(c *Config) {
			c.Callbacks.URI = "sip:{number}@" + citizen.Addr()
			for i := range c.ACD.Queues {
				c.ACD.Queues[i].CallbackRetryDelay = time.Second
				c.ACD.Queues[i].CallbackAttempts = 2
			}
		}, startHooks{wrap: func(next sip.CallHandler) sip.CallHandler {
			return sip.CallHandlerFunc(func(ctx context.Context, c *sip.InboundCall) {
				c.Caller = number
				next.HandleCall(ctx, c)
			})
		}})
	if code, body := postAPI(t, a, "/api/agents/1001/login", ""); code != 200 {
		t.Fatalf("login: %d %s", code, body)
	}
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 20 * time.Second})
	rtpAddr := liveRTP(t, a, "12345")
	waitEvent(t, a, "queue", 5*time.Second)
	if err := probe.SendDigits(context.Background(), rtpAddr, 101, "1"); err != nil {
		t.Fatal(err)
	}
	res, err := caller.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	// Wait for the call to show as ended before the agent is ready: the callback offer is
	// an ACD event for the same call id (see the report on the case-writer race).
	c := waitEnded(t, a, 1)[0]
	if c.Case == "" || !hasEvent(c, "callback_requested", "") {
		t.Fatalf("no callback requested (case %q): %+v", c.Case, c.Events)
	}
	if code, body := postAPI(t, a, "/api/agents/1001/ready", ""); code != 200 {
		t.Fatalf("ready: %d %s", code, body)
	}
	cres, err := citizen.Wait() // two attempts, both busy
	if err != nil || cres.Successful != 2 {
		t.Fatalf("the citizen's number was dialled %d times (%v), want 2", cres.Successful, err)
	}
	type payload struct {
		Kind    string `json:"kind"`
		Attempt int    `json:"attempt"`
		Result  string `json:"result"`
	}
	var failed []payload
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		timeline := getJSON[struct {
			Events []struct {
				Payload json.RawMessage `json:"payload"`
			} `json:"events"`
		}](t, a, "/api/cases/"+c.Case+"/timeline")
		failed = failed[:0]
		for _, e := range timeline.Events {
			var p payload
			if json.Unmarshal(e.Payload, &p) == nil && p.Kind == "CALLBACK_FAILED" {
				failed = append(failed, p)
			}
		}
		if len(failed) >= 2 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(failed) != 2 || failed[0].Attempt != 1 || failed[1].Attempt != 2 {
		t.Fatalf("CALLBACK_FAILED events %+v, want attempts 1 and 2", failed)
	}
	for _, f := range failed {
		if !strings.Contains(strings.ToLower(f.Result), "busy") {
			t.Errorf("attempt %d failed as %q, want busy", f.Attempt, f.Result)
		}
	}
	// The busy citizen is not the agent's fault: no miss, and the agent is free again.
	st := waitAgent(t, a, "1001", 5*time.Second, "ready", func(s acd.AgentStatus) bool { return s.State == acd.Ready })
	if st.Misses != 0 {
		t.Errorf("agent has %d misses after a busy callback number", st.Misses)
	}
}
