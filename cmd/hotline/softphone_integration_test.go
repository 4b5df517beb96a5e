package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/call"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
)

// The agent's page in these tests: the app's own softphone.js, loaded into a page of the
// app's origin, with a WebAudio analyser on what the agent hears. The test drives it
// through globals (chromedp Evaluate), as an agent's clicks would.
const spHarness = `(async () => {
  const js = await (await fetch('/softphone.js')).text();
  (0, eval)(js);
  document.body.innerHTML = '<p id="state">offline</p><audio id="remote" autoplay></audio>';
  window.rings = []; window.ended = []; window.states = []; window.agentStates = []; window.results = [];
  let analyser = null, onset = null, actx = null;
  window.sp = new Softphone({
    url: '/softphone?agent=' + AGENT,
    audio: document.getElementById('remote'),
    onState: (s) => { window.states.push(s); document.getElementById('state').textContent = s; },
    onRing: (c) => window.rings.push(c),
    onCallEnded: (c, why) => window.ended.push({ id: c.id, why }),
    onAgentState: (state, reason, wrapUpMs) => window.agentStates.push({ state, reason, wrapUpMs }),
    onResult: (request, error) => window.results.push({ request, error }),
    onRemoteStream: (stream) => {
      actx = actx || new AudioContext();
      analyser = actx.createAnalyser();
      analyser.fftSize = 2048;
      analyser.smoothingTimeConstant = 0;
      onset = actx.createAnalyser();
      onset.fftSize = 256;
      const src = actx.createMediaStreamSource(stream);
      src.connect(analyser);
      src.connect(onset);
    },
  });
  window.measure = function () {
    if (!analyser) return { peakHz: 0, level: -200 };
    const bins = new Float32Array(analyser.frequencyBinCount);
    analyser.getFloatFrequencyData(bins);
    let best = 1;
    for (let i = 2; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
    return { peakHz: best * actx.sampleRate / analyser.fftSize, level: bins[best] };
  };
  window.rms = function () {
    if (!onset) return 0;
    const b = new Float32Array(onset.fftSize);
    onset.getFloatTimeDomainData(b);
    let e = 0;
    for (const x of b) e += x * x;
    return Math.sqrt(e / b.length);
  };
  window.heard = function (freq, timeoutMs) {
    return new Promise((resolve) => {
      const start = Date.now();
      const iv = setInterval(() => {
        const m = window.measure();
        if (Math.abs(m.peakHz - freq) < 40 && m.level > -60) { clearInterval(iv); resolve({ at: Date.now(), peakHz: m.peakHz, level: m.level }); }
        else if (Date.now() - start > timeoutMs) { clearInterval(iv); resolve({ at: 0, peakHz: m.peakHz, level: m.level }); }
      }, 5);
    });
  };
  window.acceptAndHear = async function (freq) {
    for (let quiet = 0, t = Date.now(); quiet < 100 && Date.now() - t < 3000; ) {
      await new Promise((r) => setTimeout(r, 5));
      quiet = window.rms() < 0.005 ? quiet + 5 : 0;
    }
    const clickAt = Date.now();
    sp.accept();
    const onsetAt = await new Promise((resolve) => {
      const iv = setInterval(() => {
        if (window.rms() > 0.02) { clearInterval(iv); resolve(Date.now()); }
        else if (Date.now() - clickAt > 5000) { clearInterval(iv); resolve(0); }
      }, 1);
    });
    const h = await window.heard(freq, 3000);
    return { clickAt, heardAt: h.at ? onsetAt : 0, peakHz: h.peakHz, level: h.level };
  };
  await sp.start();
  return true;
})()`

type spHeard struct {
	ClickAt float64 `json:"clickAt"`
	HeardAt float64 `json:"heardAt"`
	PeakHz  float64 `json:"peakHz"`
	Level   float64 `json:"level"`
}

type spRing struct {
	ID      string `json:"id"`
	Caller  string `json:"caller"`
	Line    string `json:"line"`
	Dialled string `json:"dialled"`
	WaitMs  int64  `json:"waitMs"`
	Pop     struct {
		Case    string   `json:"case"`
		IVRPath []string `json:"ivr_path"`
	} `json:"pop"`
}

// spToneWAV writes an 8 kHz WAV of a sine: Chromium's fake microphone.
func spToneWAV(t *testing.T, freq float64, d time.Duration) string {
	n := int(d * media.SampleRate / time.Second)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(0.5 * 32767 * math.Sin(2*math.Pi*freq*float64(i)/media.SampleRate))
	}
	p := filepath.Join(t.TempDir(), fmt.Sprintf("tone%.0f.wav", freq))
	if err := os.WriteFile(p, media.EncodeWAV(pcm), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// spBrowser is headless Chromium with a fake microphone playing micHz.
type spBrowser struct {
	t   *testing.T
	ctx context.Context // the browser's first tab, kept open: other tabs come and go
}

func newSPBrowser(t *testing.T, micHz float64) *spBrowser {
	t.Helper()
	opts := testkit.ChromiumOptions(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", spToneWAV(t, micHz, 120*time.Second)),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", false),
		chromedp.Flag("disable-component-update", true),
		chromedp.CombinedOutput(spLogWriter{t}),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first action starts the browser, which lives as long as its context: no deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &spBrowser{t: t, ctx: ctx}
}

// spPage is one tab with the softphone of an agent.
type spPage struct {
	t      *testing.T
	ctx    context.Context
	cancel context.CancelFunc
}

// open opens a tab on the app as the administrator (the admin token on every request,
// the WebSocket's too) for agent, and starts the softphone.
func (b *spBrowser) open(a *app, agent string) *spPage {
	b.t.Helper()
	p := b.tab(a, true)
	p.startSoftphone(agent)
	return p
}

// tab opens a tab on a page of the app; asAdmin sends the admin token on every request.
func (b *spBrowser) tab(a *app, asAdmin bool) *spPage {
	t := b.t
	t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithListener(spListener(t)))
	t.Cleanup(cancel)
	p := &spPage{t: t, ctx: ctx, cancel: cancel}
	// The tab's first action opens it; it gets ctx itself, no deadline.
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		if !asAdmin {
			return nil
		}
		if _, err := cdp.Call(ctx, tg, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, tg, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
			Headers: network.Headers{"Authorization": "Bearer " + testToken}})
		return err
	})); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	spDo(t, ctx, "load a page of the app", chromedp.Navigate("http://"+a.HTTPAddr()+"/healthz"))
	return p
}

// startSoftphone loads softphone.js and the test's helpers into the tab and starts the
// shift's connection (?agent= names the agent for the administrator; ignored otherwise).
func (p *spPage) startSoftphone(agent string) {
	p.t.Helper()
	js := strings.Replace(spHarness, "AGENT", fmt.Sprintf("%q", agent), 1)
	spEval[bool](p.t, p.ctx, "start the softphone", js, chromedp.EvalAwaitPromise)
}

func spListener(t *testing.T) func(ev any) {
	return func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				t.Logf("page console.%s: %s", ev.Type, a.Value)
			}
		case *runtime.EventExceptionThrown:
			desc := ""
			if ev.ExceptionDetails.Exception != nil {
				desc = ev.ExceptionDetails.Exception.Description
			}
			t.Errorf("page exception: %s %s", ev.ExceptionDetails.Text, desc)
		}
	}
}

func spDo(t *testing.T, ctx context.Context, what string, a chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, a); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func spEval[T any](t *testing.T, ctx context.Context, what, js string, opts ...chromedp.EvaluateOption) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, chromedp.Evaluate[T](js, opts...))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func (p *spPage) eval(what, js string) {
	p.t.Helper()
	spEval[any](p.t, p.ctx, what, js)
}

// poll waits until the page's expression is true.
func (p *spPage) poll(what, js string, within time.Duration) {
	p.t.Helper()
	tctx, cancel := context.WithTimeout(p.ctx, within+5*time.Second)
	defer cancel()
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(within))); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// spLogWriter shows the browser's own output in the test log.
type spLogWriter struct{ t *testing.T }

func (w spLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("chromium: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}

// spWaitAgent polls until the agent is in state (with reason, if given).
func spWaitAgent(t *testing.T, a *app, id string, state acd.AgentState, reason string, within time.Duration) acd.AgentStatus {
	t.Helper()
	return waitAgent(t, a, id, within, fmt.Sprintf("%s (%q)", state, reason), func(st acd.AgentStatus) bool {
		return st.State == state && (reason == "" || st.Reason == reason)
	})
}

// spCallEvent waits until the call has an event of the kind and returns the call.
func spCallEvent(t *testing.T, a *app, callID, kind string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, c := range apiCalls(t, a) {
			if c.ID == callID && hasEvent(c, kind, "") {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("call %s has no event %q within %v", callID, kind, within)
}

// spHeardAtAfter is when the caller's probe first received a 20 ms frame that is mostly the
// tone, after from; zero if never.
func spHeardAtAfter(pkts []testkit.RTPPacket, from time.Time, freq float64) time.Time {
	for _, p := range pkts {
		if p.At.Before(from) || p.PayloadType > 8 {
			continue
		}
		pcm := testkit.DecodeG711(p.PayloadType, p.Payload)
		if media.ToneShare(pcm, freq) > 0.6 {
			return p.At
		}
	}
	return time.Time{}
}

func softphoneApp(t *testing.T, tune func(*Config)) *app {
	return startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.SIP.RTPTimeout = Duration(time.Minute)
		c.Agents = []AgentConfig{{ID: "web1", Name: "browser agent", Skills: map[string]int{"general": 5}, Contact: "webrtc"}}
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].WrapUp = 1500 * time.Millisecond
			c.ACD.Queues[i].RingTimeout = 15 * time.Second
		}
		if tune != nil {
			tune(c)
		}
	})
}

// A SIPp citizen dials 12345, goes through the intake to the queue; the agent, ready in
// headless Chromium, is rung (the screen pop names the line, the dialled number and the
// IVR path) and answers. The caller's 1000 Hz is heard in the page and the page's fake
// microphone (1500 Hz) at the caller; the one recording holds both. The agent hangs up:
// the caller hears the survey and the agent is in wrap-up with the timer on the page.
// Five calls, to measure accept click → two-way audio.
func TestSoftphoneCallFlow(t *testing.T) {
	const (
		micHz    = 1500.0
		callerHz = 1000.0
		calls    = 5
	)
	a := softphoneApp(t, nil)
	b := newSPBrowser(t, micHz)
	p := b.open(a, "web1")
	p.eval("go ready", `sp.ready()`)
	p.poll("ready confirmed", `window.results.some(r => r.request === "agent" && r.error === "") && sp.agentState === "ready"`, 5*time.Second)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)

	var twoWay []time.Duration
	for i := range calls {
		probe := testkit.NewRTPProbe(t)
		caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
			MediaPort: probe.Port(), Wait: 60 * time.Second})
		rtpAddr := liveRTP(t, a, "12345")
		p.poll("the page rings", fmt.Sprintf(`window.rings.length > %d && sp.state === "ringing"`, i), 15*time.Second)
		ring := spEval[spRing](t, p.ctx, "the ring", `window.rings[window.rings.length-1]`)
		if ring.Line == "" || ring.Dialled != "12345" || !slices.Contains(ring.Pop.IVRPath, "agent") || ring.Caller != "sipp" || ring.Pop.Case == "" {
			t.Errorf("screen pop %+v", ring)
		}
		ctx, stopTone := context.WithCancel(context.Background())
		toneDone := make(chan error, 1)
		go func() { toneDone <- probe.SendTone(ctx, rtpAddr, 0, callerHz, 30*time.Second) }()
		got := spEval[spHeard](t, p.ctx, "accept and hear", fmt.Sprintf(`acceptAndHear(%g)`, callerHz), chromedp.EvalAwaitPromise)
		if got.HeardAt == 0 {
			t.Fatalf("call %d: the page did not hear the caller's %v Hz (peak %.0f Hz at %.1f dB)", i, callerHz, got.PeakHz, got.Level)
		}
		click := time.UnixMilli(int64(got.ClickAt))
		var callerAt time.Time
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if callerAt = spHeardAtAfter(probe.Packets(), click, micHz); !callerAt.IsZero() {
				break
			}
		}
		if callerAt.IsZero() {
			t.Fatalf("call %d: the caller did not hear the agent's microphone (%v Hz)", i, micHz)
		}
		pageAt := time.UnixMilli(int64(got.HeardAt))
		both := max(pageAt.Sub(click), callerAt.Sub(click))
		twoWay = append(twoWay, both)
		t.Logf("call %d (%s): accept click → page hears the caller %v, the caller hears the agent %v",
			i, ring.ID, pageAt.Sub(click), callerAt.Sub(click).Round(time.Millisecond))
		spCallEvent(t, a, ring.ID, "connect", 5*time.Second)
		if i == 0 {
			spWaitAgent(t, a, "web1", acd.OnCall, "", 5*time.Second)
		}
		time.Sleep(500 * time.Millisecond) // both tones into the recording
		stopTone()
		<-toneDone

		p.eval("hang up", `sp.hangup()`)
		spCallEvent(t, a, ring.ID, "complete", 5*time.Second)
		p.poll("wrap-up with its timer", `window.agentStates.some(s => s.state === "wrap-up" && s.wrapUpMs === 1500)`, 5*time.Second)
		time.Sleep(1500 * time.Millisecond) // into the survey prompt
		if err := probe.SendDigits(context.Background(), rtpAddr, 101, "1"); err != nil {
			t.Fatal(err)
		}
		res, err := caller.Wait()
		if err != nil {
			t.Fatal(err)
		}
		mustSucceed(t, res, 1)
		c := spWaitCall(t, a, ring.ID)
		if c.Case != ring.Pop.Case {
			t.Errorf("call %d: the screen pop named case %q, the call has %q", i, ring.Pop.Case, c.Case)
		}
		if c.Agent != "web1" || c.Survey == nil || c.Survey.Score != 1 {
			t.Errorf("call %d: agent %q, survey %+v", i, c.Agent, c.Survey)
		}
		if c.Recording == "" {
			t.Fatalf("call %d was not recorded", i)
		}
		left, right := splitRecording(t, c.Recording)
		if l, r := bestShare(left, callerHz), bestShare(right, micHz); l < 0.5 || r < 0.5 {
			t.Errorf("call %d recording: caller's tone on the left %.2f, agent's on the right %.2f", i, l, r)
		}
		spWaitAgent(t, a, "web1", acd.Ready, "", 10*time.Second) // wrap-up over
		p.poll("the page is ready again", `sp.agentState === "ready" && sp.state === "ready"`, 5*time.Second)
	}
	slices.Sort(twoWay)
	t.Logf("accept click → two-way audio (SIPp caller ↔ Chromium agent through hotline) over %d calls: p50 %v (min %v, max %v)",
		len(twoWay), twoWay[len(twoWay)/2].Round(time.Millisecond), twoWay[0].Round(time.Millisecond), twoWay[len(twoWay)-1].Round(time.Millisecond))
}

// spWaitCall waits until the call has ended and returns it.
func spWaitCall(t *testing.T, a *app, id string) agentdesk.CallInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range apiCalls(t, a) {
			if c.ID == id && c.State == "ended" {
				return c
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("call %s did not end", id)
	return agentdesk.CallInfo{}
}

// spCallsInOrder lists the live calls to 12345, first received first.
func spCallsInOrder(t *testing.T, a *app, n int) []agentdesk.CallInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var live []agentdesk.CallInfo
		for _, c := range apiCalls(t, a) {
			if c.State != "ended" && hasEvent(c, "queue", "") {
				live = append(live, c)
			}
		}
		if len(live) >= n {
			slices.SortFunc(live, func(x, y agentdesk.CallInfo) int { return x.Received.Compare(y.Received) })
			return live
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d queued calls, want %d", len(live), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The browser rings and nobody answers: the ring ends on the page, the agent is put on
// break "no-answer", and the caller is back at the head of the queue: a caller who came
// later while it rang is still behind, and the agent's next ring is the first caller.
func TestSoftphoneNeverAnswers(t *testing.T) {
	a := softphoneApp(t, func(c *Config) {
		c.ACD.MaxNoAnswer = 1
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].RingTimeout = 3 * time.Second
		}
	})
	b := newSPBrowser(t, 1500)
	p := b.open(a, "web1")
	p.eval("go ready", `sp.ready()`)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)

	first := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 40 * time.Second})
	p.poll("the page rings", `window.rings.length === 1 && sp.state === "ringing"`, 15*time.Second)
	second := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 40 * time.Second})
	calls := spCallsInOrder(t, a, 2)
	if id := spEval[string](t, p.ctx, "ring id", `window.rings[0].id`); id != calls[0].ID {
		t.Fatalf("rang %s, want the first caller %s", id, calls[0].ID)
	}
	// Nobody clicks.
	p.poll("the ring ends on the page", `window.ended.length === 1 && sp.state === "ready"`, 10*time.Second)
	st := spWaitAgent(t, a, "web1", acd.Break, acd.NoAnswerReason, 5*time.Second)
	t.Logf("agent after the unanswered ring: %s (%s), page ended %v", st.State, st.Reason,
		spEval[any](t, p.ctx, "ended", `window.ended`))
	p.poll("the page shows the break", `sp.agentState === "break" && sp.agentReason === "no-answer"`, 5*time.Second)
	spCallEvent(t, a, calls[0].ID, "no_answer", 5*time.Second)
	if n := queueWaiting(t, a, "general"); n != 2 {
		t.Errorf("%d callers waiting, want both", n)
	}
	// Ready again: the first caller, back at the head, is offered before the second.
	p.eval("ready again", `sp.ready()`)
	p.poll("the page rings again", `window.rings.length === 2`, 10*time.Second)
	if id := spEval[string](t, p.ctx, "second ring", `window.rings[1].id`); id != calls[0].ID {
		t.Errorf("the second ring is %s, want the first caller %s (back at the head)", id, calls[0].ID)
	}
	// The agent declines it: a reject, as the ACD counts it; the caller stays at the head.
	p.eval("reject", `sp.reject()`)
	deadline := time.Now().Add(5 * time.Second)
	for !hasEvent(apiCall(t, a, calls[0].ID), "acd:RINGNOANSWER", "reason rejected") {
		if time.Now().After(deadline) {
			t.Fatalf("the declined ring is not a reject: %+v", apiCall(t, a, calls[0].ID).Events)
		}
		time.Sleep(50 * time.Millisecond)
	}
	first.Stop()
	second.Stop()
}

// The agent's tab is closed in the middle of a call: the caller goes back to the head of
// the queue with a short prompt, the agent is put on break "softphone-lost", and when the
// agent comes back in a new tab and goes ready, the same caller rings.
func TestSoftphoneClosedMidCall(t *testing.T) {
	a := softphoneApp(t, nil)
	b := newSPBrowser(t, 1500)
	p := b.open(a, "web1")
	p.eval("go ready", `sp.ready()`)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)
	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 60 * time.Second})
	p.poll("the page rings", `sp.state === "ringing"`, 15*time.Second)
	id := spEval[string](t, p.ctx, "ring id", `window.rings[0].id`)
	p.eval("accept", `sp.accept()`)
	spCallEvent(t, a, id, "connect", 5*time.Second)
	spWaitAgent(t, a, "web1", acd.OnCall, "", 5*time.Second)
	time.Sleep(time.Second)

	closed := time.Now()
	p.cancel() // the tab closes
	spCallEvent(t, a, id, "agent_gone", 15*time.Second)
	spCallEvent(t, a, id, "requeue", 5*time.Second)
	t.Logf("tab closed → caller back in the queue in %v", time.Since(closed).Round(time.Millisecond))
	spWaitAgent(t, a, "web1", acd.Break, call.ReasonSoftphoneLost, 5*time.Second)
	if n := queueWaiting(t, a, "general"); n != 1 {
		t.Errorf("%d callers waiting, want the one whose agent went", n)
	}
	// The caller hears "please hold" before the music.
	time.Sleep(3 * time.Second)
	ref := promptPCM(t, "zh", "please_hold")
	ref = ref[:min(len(ref), media.SampleRate)]
	var after []testkit.RTPPacket
	for _, pk := range probe.Packets() {
		if pk.At.After(closed) {
			after = append(after, pk)
		}
	}
	if score, _ := testkit.Correlate(testkit.Audio(after), ref); score < 0.6 {
		t.Errorf("the caller did not hear the please-hold prompt after the agent went (score %.2f)", score)
	}

	p2 := b.open(a, "web1")
	p2.poll("the new tab shows the break", `sp.agentState === "break" && sp.agentReason === "softphone-lost"`, 5*time.Second)
	p2.eval("ready", `sp.ready()`)
	p2.poll("the same caller rings", `window.rings.length === 1`, 15*time.Second)
	if id2 := spEval[string](t, p2.ctx, "ring id", `window.rings[0].id`); id2 != id {
		t.Errorf("rang %s, want the caller whose agent went (%s)", id2, id)
	}
	p2.eval("accept", `sp.accept()`)
	spCallEvent(t, a, id, "connect", 5*time.Second)
	p2.eval("hang up", `sp.hangup()`)
	caller.Stop()
}

// spWindow is the caller's audio received in [from, from+d).
func spWindow(pkts []testkit.RTPPacket, from time.Time, d time.Duration) []int16 {
	var in []testkit.RTPPacket
	for _, p := range pkts {
		if !p.At.Before(from) && p.At.Before(from.Add(d)) && p.PayloadType <= 8 {
			in = append(in, p)
		}
	}
	return testkit.Audio(in)
}

// The page's in-call controls, heard at a SIPp caller: hold (music, not the agent), mute
// (silence), a key from the page (RFC 4733 at the caller), a three-way call with a
// department (a SIPp phone saying 700 Hz: the caller hears it, and it is in the agent's
// channel of the one recording), then a blind transfer to another queue (the caller
// waits there, the agent is in wrap-up). A second caller is transferred to the department.
func TestSoftphoneControls(t *testing.T) {
	const micHz, deptHz = 1500.0, 700.0
	deptAudio := testkit.NewRTPProbe(t)
	deptAudio.ReplyWith(0, testkit.Tone(8000, deptHz, 0.5, 2*time.Second))
	dept := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, MediaPort: deptAudio.Port(), Calls: 2})
	a := softphoneApp(t, func(c *Config) {
		c.Destinations = map[string]string{"emergency": "sip:110@127.0.0.1:5090", "housing": "sip:200@" + dept.Addr()}
		c.SIP.RTPTimeout = Duration(3 * time.Second) // the caller speaks throughout; when it stops, the call ends
	})
	b := newSPBrowser(t, micHz)
	p := b.open(a, "web1")
	p.eval("go ready", `sp.ready()`)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)

	probe := testkit.NewRTPProbe(t)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe.Port(), Wait: 60 * time.Second})
	rtpAddr := liveRTP(t, a, "12345")
	talk, stopTalking := context.WithCancel(context.Background())
	defer stopTalking()
	go func() { _ = probe.SendTone(talk, rtpAddr, 0, 1000, 2*time.Minute) }()
	p.poll("the page rings", `sp.state === "ringing"`, 15*time.Second)
	id := spEval[string](t, p.ctx, "ring id", `window.rings[0].id`)
	p.eval("accept", `sp.accept()`)
	spCallEvent(t, a, id, "connect", 5*time.Second)
	// hears checks what the caller hears once the switch is through (400 ms): a tone wanted
	// must come within 6 s with its own component above −40 dBFS (in a three-way call it is
	// mixed with the department's louder tone, and Chromium's gain control lowers the fake
	// microphone over the first seconds, so its share of the whole may be small); a tone
	// not wanted must stay away for 800 ms.
	hears := func(what string, freq float64, want bool) {
		t.Helper()
		from := time.Now().Add(400 * time.Millisecond)
		if !want {
			time.Sleep(1200 * time.Millisecond)
			pcm := spWindow(probe.Packets(), from, 800*time.Millisecond)
			if share := bestShare(pcm, freq); share > 0.15 {
				t.Errorf("%s: the caller hears %v Hz (share %.2f)", what, freq, share)
			}
			return
		}
		var level float64
		for deadline := time.Now().Add(6 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if level = spToneLevel(spWindow(probe.Packets(), from, 6*time.Second), freq); level > 330 {
				return
			}
		}
		t.Errorf("%s: the caller does not hear %v Hz (tone level %.0f RMS)", what, freq, level)
	}
	hears("in the call", micHz, true)

	p.eval("hold", `sp.hold()`)
	spCallEvent(t, a, id, "hold", 3*time.Second)
	from := time.Now().Add(400 * time.Millisecond)
	hears("on hold", micHz, false)
	if rms := testkit.RMS(spWindow(probe.Packets(), from, 800*time.Millisecond)); rms < 100 {
		t.Errorf("on hold the caller hears no music (rms %.0f)", rms)
	}
	p.eval("unhold", `sp.unhold()`)
	spCallEvent(t, a, id, "unhold", 3*time.Second)
	hears("after hold", micHz, true)

	p.eval("mute", `sp.mute()`)
	spCallEvent(t, a, id, "mute", 3*time.Second)
	from = time.Now().Add(400 * time.Millisecond)
	hears("muted", micHz, false)
	if rms := testkit.RMS(spWindow(probe.Packets(), from, 800*time.Millisecond)); rms > 30 {
		t.Errorf("muted, the caller hears something (rms %.0f)", rms)
	}
	p.eval("unmute", `sp.unmute()`)
	spCallEvent(t, a, id, "unmute", 3*time.Second)
	hears("after mute", micHz, true)

	p.eval("key", `sp.dtmf("7")`)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(testkit.Keys(probe.Packets(), 101), "7") {
		if time.Now().After(deadline) {
			t.Fatalf("the caller got no key 7 from the page (keys %q)", testkit.Keys(probe.Packets(), 101))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if keys := testkit.Keys(probe.Packets(), 101); keys != "7" {
		t.Errorf("the caller got keys %q from the page, want one 7", keys)
	}

	// 三方通话: the department joins; everybody hears everybody.
	p.eval("conference", `sp.conference("housing")`)
	p.poll("conference done", `window.results.some(r => r.request === "conference" && r.error === "")`, 5*time.Second)
	spCallEvent(t, a, id, "conference", 10*time.Second)
	hears("in the three-way call", deptHz, true)
	hears("in the three-way call", micHz, true)
	deptHeard := spWindow(deptAudio.Packets(), time.Now().Add(-time.Second), time.Second)
	if ag, cl := spToneLevel(deptHeard, micHz), spToneLevel(deptHeard, 1000); ag < 330 || cl < 330 {
		t.Errorf("the department hears the agent at %.0f and the caller at %.0f (tone RMS)", ag, cl)
	}

	// A transfer to a destination that does not exist is refused; the call goes on.
	p.eval("bad transfer", `sp.transfer({destination: "nowhere"})`)
	p.poll("refused", `window.results.some(r => r.request === "transfer" && r.error.includes("nowhere"))`, 5*time.Second)

	// Blind transfer to another queue: the caller waits there, the agent wraps up.
	p.eval("transfer", `sp.transfer({queue: "environment"})`)
	p.poll("the call ends on the page", `window.ended.some(e => e.id === "`+id+`")`, 5*time.Second)
	spCallEvent(t, a, id, "requeue", 5*time.Second)
	if n := queueWaiting(t, a, "environment"); n != 1 {
		t.Errorf("%d callers in the environment queue, want the transferred one", n)
	}
	spWaitAgent(t, a, "web1", acd.WrapUp, "", 3*time.Second)
	caller.Stop()
	stopTalking() // the caller's RTP stops: the call ends
	c := spWaitCall(t, a, id)
	if c.Recording == "" {
		t.Fatal("no recording")
	}
	left, right := splitRecording(t, c.Recording)
	if l := bestShare(left, 1000); l < 0.5 {
		t.Errorf("the caller is not on the recording's left (share %.2f)", l)
	}
	if r, d := spToneLevel(right, micHz), spToneLevel(right, deptHz); r < 330 || d < 330 {
		t.Errorf("the recording's right channel: agent %.0f, department %.0f (tone RMS)", r, d)
	}

	// A second caller, transferred blind to the department: bridged to it.
	spWaitAgent(t, a, "web1", acd.Ready, "", 10*time.Second)
	probe2 := testkit.NewRTPProbe(t)
	caller2 := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: probe2.Port(), Wait: 60 * time.Second})
	talk2, stopTalking2 := context.WithCancel(context.Background())
	defer stopTalking2()
	rtpAddr2 := liveRTP(t, a, "12345")
	go func() { _ = probe2.SendTone(talk2, rtpAddr2, 0, 1000, 2*time.Minute) }()
	p.poll("the page rings", `window.rings.length === 2 && sp.state === "ringing"`, 15*time.Second)
	id2 := spEval[string](t, p.ctx, "ring id", `window.rings[1].id`)
	p.eval("accept", `sp.accept()`)
	spCallEvent(t, a, id2, "connect", 5*time.Second)
	p.eval("transfer", `sp.transfer({destination: "housing"})`)
	spCallEvent(t, a, id2, "transfer_answered", 10*time.Second)
	time.Sleep(1500 * time.Millisecond)
	if share := bestShare(spWindow(probe2.Packets(), time.Now().Add(-time.Second), time.Second), deptHz); share < 0.3 {
		t.Errorf("after the transfer the caller does not hear the department (share %.2f)", share)
	}
	caller2.Stop()
}

// spToneLevel is the largest RMS of the tone's component in any 200 ms window of pcm.
func spToneLevel(pcm []int16, freq float64) float64 {
	best := 0.0
	for i := 0; i+1600 <= len(pcm); i += 800 {
		w := pcm[i : i+1600]
		best = max(best, math.Sqrt(media.ToneShare(w, freq))*testkit.RMS(w))
	}
	return best
}

// An agent signed in with their password (a session cookie, no token) gets their own
// softphone: ?agent= naming another agent is ignored, their "ready" makes them ready in
// the ACD, and a caller rings their page. A socket with no sign-in is refused.
func TestSoftphoneSignedInAgent(t *testing.T) {
	a, logs := startLoggedApp(t, t.TempDir(), func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.SIP.RTPTimeout = Duration(time.Minute)
		c.Agents = []AgentConfig{
			{ID: "web1", Skills: map[string]int{"general": 5}, Contact: "webrtc"},
			{ID: "web2", Skills: map[string]int{"general": 5}, Contact: "webrtc"},
		}
	})
	t.Cleanup(func() {
		a.Shutdown(context.Background(), 2*time.Second)
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs.String(), 80))
		}
	})
	if res, err := http.Get("http://" + a.HTTPAddr() + "/softphone?agent=web1"); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a softphone socket with no sign-in: %v %v, want 401", err, res.Status)
	} else {
		res.Body.Close()
	}
	pw, _ := printedPasswords(t, logs.String())
	if pw["web1"] == "" {
		t.Fatalf("no one-time password printed for web1")
	}
	b := newSPBrowser(t, 1500)
	p := b.tab(a, false)
	signIn := fmt.Sprintf(`(async () => {
  const post = (path, body, csrf) => fetch(path, {method: 'POST', credentials: 'same-origin',
    headers: Object.assign({'Content-Type': 'application/json'}, csrf ? {'X-CSRF-Token': csrf} : {}),
    body: JSON.stringify(body)});
  let r = await post('/api/auth/login', {user: 'web1', password: %q});
  if (r.status !== 200) return 'login ' + r.status;
  const me = await r.json();
  r = await post('/api/auth/password', {current: %q, new: 'a new password of web1'}, me.csrf);
  return r.status === 200 ? '' : 'password ' + r.status;
})()`, pw["web1"], pw["web1"])
	if got := spEval[string](t, p.ctx, "sign in", signIn, chromedp.EvalAwaitPromise); got != "" {
		t.Fatalf("sign-in in the page: %s", got)
	}
	p.startSoftphone("web2") // an agent cannot take another's softphone
	p.eval("go ready", `sp.ready()`)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)
	for _, ag := range queuesSnapshot(t, a).Agents {
		if ag.ID == "web2" && ag.State != acd.LoggedOut {
			t.Errorf("web2 is %s: the page signed in as web1 acted for web2", ag.State)
		}
	}
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 20 * time.Second})
	p.poll("web1's page rings", `window.rings.length === 1`, 15*time.Second)
	id := spEval[string](t, p.ctx, "ring id", `window.rings[0].id`)
	p.eval("accept", `sp.accept()`)
	spCallEvent(t, a, id, "connect", 5*time.Second)
	if c := apiCall(t, a, id); c.Agent != "web1" {
		t.Errorf("the call went to %q", c.Agent)
	}
	p.eval("hang up", `sp.hangup()`)
	spCallEvent(t, a, id, "complete", 5*time.Second)
	caller.Stop()
}

func apiCall(t *testing.T, a *app, id string) agentdesk.CallInfo {
	t.Helper()
	for _, c := range apiCalls(t, a) {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no call %s", id)
	return agentdesk.CallInfo{}
}

// The agent's tab closes while the page rings: the caller stays at the head of the queue
// and the agent is put on break "softphone-lost".
func TestSoftphoneClosedWhileRinging(t *testing.T) {
	a := softphoneApp(t, nil)
	b := newSPBrowser(t, 1500)
	p := b.open(a, "web1")
	p.eval("go ready", `sp.ready()`)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)
	caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 40 * time.Second})
	p.poll("the page rings", `sp.state === "ringing"`, 15*time.Second)
	id := spEval[string](t, p.ctx, "ring id", `window.rings[0].id`)
	p.cancel() // the tab closes, ringing
	spCallEvent(t, a, id, "no_answer", 10*time.Second)
	spWaitAgent(t, a, "web1", acd.Break, call.ReasonSoftphoneLost, 5*time.Second)
	if n := queueWaiting(t, a, "general"); n != 1 {
		t.Errorf("%d callers waiting, want the one that rang", n)
	}
	if c := apiCall(t, a, id); c.State == "ended" {
		t.Errorf("the caller's call ended: %s", c.EndReason)
	}
	caller.Stop()
}

// The screen pop masks the number of a caller who has an open confidential case (the
// middle digits hidden), and shows other callers' numbers in full.
func TestSoftphoneConfidentialCaller(t *testing.T) {
	numbers := []string{"13900002222", "13900001111"}
	var n atomic.Int32
	a := startTestApp(t, func(c *Config) {
		c.IVR.FlowsDir = "testdata/flows"
		c.SIP.RTPTimeout = Duration(time.Minute)
		c.Agents = []AgentConfig{{ID: "web1", Skills: map[string]int{"general": 5}, Contact: "webrtc"}}
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].WrapUp = 500 * time.Millisecond
		}
	}, startHooks{wrap: func(next sip.CallHandler) sip.CallHandler {
		return sip.CallHandlerFunc(func(ctx context.Context, c *sip.InboundCall) {
			c.Caller = numbers[min(int(n.Add(1))-1, len(numbers)-1)] // SIPp's From is "sipp"
			next.HandleCall(ctx, c)
		})
	}})
	code, body := postAPI(t, a, "/api/cases", `{"channel":"web","caller_number":"13900001111","confidential":true,"category":"0201","description":"a confidential complaint"}`)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create a confidential case: %d %s", code, body)
	}
	b := newSPBrowser(t, 1500)
	p := b.open(a, "web1")
	p.eval("go ready", `sp.ready()`)
	spWaitAgent(t, a, "web1", acd.Ready, "", 5*time.Second)
	for i, want := range []string{"13900002222", "139******11"} {
		caller := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 20 * time.Second})
		p.poll("the page rings", fmt.Sprintf(`window.rings.length === %d && sp.state === "ringing"`, i+1), 15*time.Second)
		ring := spEval[spRing](t, p.ctx, "the ring", fmt.Sprintf(`window.rings[%d]`, i))
		if ring.Caller != want {
			t.Errorf("call from %s: the screen pop shows %q, want %q", numbers[i], ring.Caller, want)
		}
		p.eval("accept", `sp.accept()`)
		spCallEvent(t, a, ring.ID, "connect", 5*time.Second)
		p.eval("hang up", `sp.hangup()`)
		spCallEvent(t, a, ring.ID, "complete", 5*time.Second)
		caller.Stop()
		spWaitAgent(t, a, "web1", acd.Ready, "", 10*time.Second)
	}
}
