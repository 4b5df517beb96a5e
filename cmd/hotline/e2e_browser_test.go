package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hotline-12345/hotline/internal/testkit"
)

// The "Tests (real browsers)", end to end, with the pages people use: the real
// app; a SIPp citizen; an agent and a supervisor, each in their own headless Chromium
// with a fake microphone playing a tone, signed in through the sign-in page with the
// one-time passwords printed at first start.

const (
	e2eCallerHz = 1000.0 // the citizen
	e2eAgentHz  = 1500.0 // the agent's fake microphone
	e2eSupHz    = 700.0  // the supervisor's fake microphone
)

// e2eProbeJS is loaded into a signed-in page: WebAudio analysers on what the page's
// softphone plays (the <audio> element's stream), and the accept click timed to the
// first energy of the caller in the page.
const e2eProbeJS = `(() => {
  if (window.E2E) return true;
  const E = { actx: null, an: null, on: null, stream: null, tones: [] };
  // The ring is made of WebAudio oscillators: note each one started, and whether its
  // context was running (sounding), to tell that the page rang out loud.
  const osc = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function () {
    const o = osc.call(this);
    const start = o.start;
    o.start = function (...args) { E.tones.push({ hz: o.frequency.value, state: o.context.state }); return start.apply(o, args); };
    return o;
  };
  E.attach = function (id) {
    const el = document.getElementById(id);
    const s = el && el.srcObject;
    if (!s || !s.getAudioTracks().length) return false;
    if (s === E.stream) return true;
    E.stream = s;
    E.actx = E.actx || new AudioContext();
    E.an = E.actx.createAnalyser(); E.an.fftSize = 2048; E.an.smoothingTimeConstant = 0;
    E.on = E.actx.createAnalyser(); E.on.fftSize = 256;
    const src = E.actx.createMediaStreamSource(s);
    src.connect(E.an); src.connect(E.on);
    if (E.actx.state === 'suspended') E.actx.resume();
    return true;
  };
  // band is the strongest bin within 30 Hz of freq, in dB.
  E.band = function (an, rate, freq) {
    if (!an) return -200;
    const bins = new Float32Array(an.frequencyBinCount);
    an.getFloatFrequencyData(bins);
    const hz = rate / an.fftSize;
    let best = -200;
    for (let i = Math.max(1, Math.floor((freq - 30) / hz)); i <= Math.ceil((freq + 30) / hz) && i < bins.length; i++) best = Math.max(best, bins[i]);
    return best;
  };
  E.level = (freq) => E.band(E.an, E.actx ? E.actx.sampleRate : 48000, freq);
  E.rms = function () {
    if (!E.on) return 0;
    const b = new Float32Array(E.on.fftSize);
    E.on.getFloatTimeDomainData(b);
    let e = 0;
    for (const x of b) e += x * x;
    return Math.sqrt(e / b.length);
  };
  // maxLevel: the loudest freq got over ms (level() is any function of freq).
  E.maxLevel = (freq, ms, level) => new Promise((resolve) => {
    const f = level || E.level;
    let best = -200;
    const start = Date.now();
    const iv = setInterval(() => {
      best = Math.max(best, f(freq));
      if (Date.now() - start >= ms) { clearInterval(iv); resolve(best); }
    }, 10);
  });
  // acceptAndHear waits for quiet, clicks the accept button, and times the first
  // energy in the page, then checks it is the caller's tone.
  E.acceptAndHear = async function (freq) {
    E.attach('remote-audio');
    for (let quiet = 0, t = Date.now(); quiet < 100 && Date.now() - t < 3000; ) {
      await new Promise((r) => setTimeout(r, 5));
      quiet = E.rms() < 0.005 ? quiet + 5 : 0;
    }
    const clickAt = Date.now();
    document.getElementById('btn-accept').click();
    const onsetAt = await new Promise((resolve) => {
      const iv = setInterval(() => {
        if (E.rms() > 0.02) { clearInterval(iv); resolve(Date.now()); }
        else if (Date.now() - clickAt > 5000) { clearInterval(iv); resolve(0); }
      }, 1);
    });
    let level = -200;
    for (const t = Date.now(); Date.now() - t < 3000; await new Promise((r) => setTimeout(r, 10))) {
      level = E.level(freq);
      if (level > -50) return { clickAt, heardAt: onsetAt, level };
    }
    return { clickAt, heardAt: 0, level };
  };
  window.E2E = E;
  return true;
})()`

// e2ePage is one signed-in tab.
type e2ePage struct {
	t    *testing.T
	name string
	ctx  context.Context
}

func newE2EBrowser(t *testing.T, micHz float64) context.Context {
	t.Helper()
	opts := testkit.ChromiumOptions(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", spToneWAV(t, micHz, 180*time.Second)),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", false),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1600, 1100),
		chromedp.CombinedOutput(spLogWriter{t}),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(spListener(t)))
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser, for ctx's life
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// e2eSignIn signs in through the sign-in page with a one-time password, which the page
// makes the user change first.
func e2eSignIn(t *testing.T, ctx context.Context, name string, a *app, user, oneTime string) *e2ePage {
	t.Helper()
	p := &e2ePage{t: t, name: name, ctx: ctx}
	spDo(t, ctx, name+": open the app", chromedp.Navigate("http://"+a.HTTPAddr()+"/"))
	p.poll("the sign-in page", `location.pathname === "/login" && !!document.querySelector("#submit")`, 20*time.Second)
	e2eDo(t, ctx, name+": sign in",
		chromedp.SetValue(chromedp.ID("user"), user),
		chromedp.SetValue(chromedp.ID("password"), oneTime),
		chromedp.Click(chromedp.ID("submit")),
	)
	p.poll("asked for a new password", `!document.querySelector("#change").hidden`, 20*time.Second)
	e2eDo(t, ctx, name+": change the password",
		chromedp.SetValue(chromedp.ID("new-password"), "new password of "+user),
		chromedp.Click(chromedp.ID("submit")),
	)
	p.poll("signed in", `location.pathname === "/" && document.body.dataset.ready === "1"`, 20*time.Second)
	spEval[bool](t, ctx, name+": load the probes", e2eProbeJS)
	return p
}

// poll waits until the page's expression is true; errors (a navigation) count as false.
// On failure it shows the page's text.
func (p *e2ePage) poll(what, expr string, within time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(within)
	var lastErr error
	for time.Now().Before(deadline) {
		tctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
		ok, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`!!(() => { try { return (`+expr+`) } catch (e) { return false } })()`))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	tctx, cancel := context.WithTimeout(p.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(tctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ''`))
	p.t.Fatalf("%s: %s: not true within %v (last error %v)\npage text:\n%s", p.name, what, within, lastErr, text)
}

func (p *e2ePage) click(what, css string) {
	p.t.Helper()
	spDo(p.t, p.ctx, p.name+": "+what, chromedp.Click(chromedp.CSS(css)))
}

func (p *e2ePage) float(what, js string) float64 {
	p.t.Helper()
	return spEval[float64](p.t, p.ctx, p.name+": "+what, js, chromedp.EvalAwaitPromise)
}

// hears waits until the page plays freq (above −50 dB).
func (p *e2ePage) hears(what string, freq float64, within time.Duration) {
	p.t.Helper()
	p.poll(fmt.Sprintf("%s: hears %v Hz", what, freq), fmt.Sprintf(`E2E.level(%g) > -50`, freq), within)
}

// hearsNot checks over a second that the page does not play freq (below −65 dB).
func (p *e2ePage) hearsNot(what string, freq float64) {
	p.t.Helper()
	if l := p.float(what, fmt.Sprintf(`E2E.maxLevel(%g, 1000)`, freq)); l > -65 {
		p.t.Errorf("%s: %s hears %v Hz (%.1f dB), and must not", p.name, what, freq, l)
	} else {
		p.t.Logf("%s: %s: %v Hz at %.1f dB at most (not heard)", p.name, what, freq, l)
	}
}

func (p *e2ePage) screenshot(dir, name string) {
	p.t.Helper()
	tctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	b, err := chromedp.Run(tctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s (%d bytes)", path, len(b))
}

func e2eArtifacts(t *testing.T) string {
	if d := os.Getenv("HOTLINE_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// e2eCaller is a SIPp citizen on 12345 whose voice is a probe.
type e2eCaller struct {
	sipp  *testkit.SIPp
	probe *testkit.RTPProbe
	stop  context.CancelFunc
	done  chan error
	rtp   netip.AddrPort
	id    string // the call's
}

func e2eCall(t *testing.T, a *app) *e2eCaller {
	t.Helper()
	c := &e2eCaller{probe: testkit.NewRTPProbe(t)}
	c.sipp = testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Target: a.SIPAddr().String(),
		MediaPort: c.probe.Port(), Wait: 2 * time.Minute})
	return c
}

// speak finds the caller's call (the live call to 12345 that is not in seen, which it
// joins) and sends the caller's tone to hotline from now until hush.
func (c *e2eCaller) speak(t *testing.T, a *app, seen map[string]bool) {
	t.Helper()
	var addr netip.AddrPort
	for deadline := time.Now().Add(15 * time.Second); !addr.IsValid(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no new call to 12345 answered by the IVR")
		}
		for _, x := range apiCalls(t, a) {
			if !seen[x.ID] && x.State == "answered" && x.Dialled == "12345" && x.RTP != nil {
				addr, c.id = netip.MustParseAddrPort(x.RTP.Local), x.ID
				seen[x.ID] = true
				break
			}
		}
	}
	c.rtp = addr
	ctx, cancel := context.WithCancel(context.Background())
	c.stop, c.done = cancel, make(chan error, 1)
	go func() { c.done <- c.probe.SendTone(ctx, addr, 0, e2eCallerHz, 3*time.Minute) }()
}

func (c *e2eCaller) hush() {
	if c.stop != nil {
		c.stop()
		<-c.done
		c.stop = nil
	}
}

// share is the best share of freq in what the caller got in [from, from+d).
func (c *e2eCaller) share(from time.Time, d time.Duration, freq float64) float64 {
	return bestShare(spWindow(c.probe.Packets(), from, d), freq)
}

// hearsWithin waits until the caller got freq (a 200 ms window with a share ≥ 0.25)
// after from.
func (c *e2eCaller) hearsWithin(from time.Time, freq float64, within time.Duration) bool {
	for deadline := time.Now().Add(within); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if c.share(from, time.Hour, freq) >= 0.25 {
			return true
		}
	}
	return false
}

type e2eAccept struct {
	ClickAt float64 `json:"clickAt"`
	HeardAt float64 `json:"heardAt"`
	Level   float64 `json:"level"`
}

// answer clicks accept on the ringing desk and measures click → first energy of the
// caller in the page, and click → the caller's first frame of the agent's microphone.
func answer(t *testing.T, desk *e2ePage, c *e2eCaller, n int) (page, caller time.Duration) {
	t.Helper()
	got := spEval[e2eAccept](t, desk.ctx, "accept and hear", fmt.Sprintf(`E2E.acceptAndHear(%g)`, e2eCallerHz), chromedp.EvalAwaitPromise)
	if got.HeardAt == 0 {
		t.Fatalf("call %d: the agent's page did not hear the caller's %v Hz after the accept click (%.1f dB)", n, e2eCallerHz, got.Level)
	}
	click := time.UnixMilli(int64(got.ClickAt))
	var at time.Time
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if at = spHeardAtAfter(c.probe.Packets(), click, e2eAgentHz); !at.IsZero() {
			break
		}
	}
	if at.IsZero() {
		t.Fatalf("call %d: the caller did not hear the agent's fake microphone (%v Hz)", n, e2eAgentHz)
	}
	page, caller = time.UnixMilli(int64(got.HeardAt)).Sub(click), at.Sub(click).Round(time.Millisecond)
	t.Logf("call %d: accept click → the page hears the caller %v, the caller hears the agent %v", n, page, caller)
	return page, caller
}

// hangUp: the agent hangs up, the caller rates the call (一次一评) and is hung up.
func hangUp(t *testing.T, a *app, desk *e2ePage, c *e2eCaller, id string) {
	t.Helper()
	c.hush()
	desk.click("hang up", "#btn-hangup")
	spCallEvent(t, a, id, "complete", 10*time.Second)
	time.Sleep(1500 * time.Millisecond) // into the survey prompt
	if err := c.probe.SendDigits(context.Background(), c.rtp, 101, "1"); err != nil {
		t.Fatal(err)
	}
	res, err := c.sipp.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(math.Ceil(p*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestE2EBrowsers: a SIPp citizen calls 12345 and speaks 1000 Hz. The supervisor's
// wallboard shows them waiting; the agent (Chromium, microphone 1500 Hz) goes ready,
// the desk rings (shown, and the ring's beeps sound), the agent clicks accept: the caller's tone is heard in the agent's
// page and the agent's at the caller; the wallboard shows the call and the agent on
// call; the agent fills the case form and it is saved (read back from the cases API).
// The supervisor (Chromium, microphone 700 Hz) listens from the wallboard through the
// console's browser audio (hears both; nobody hears them), whispers (only the agent's
// page hears them), barges (the caller too). After the call the recording, fetched as
// the supervisor, holds the caller on the left and the agent on the right, and the
// console's player plays it, each channel alone on request; another agent's desk gets a
// clear refusal. Screenshots of the desk and the wallboard go to $HOTLINE_ARTIFACTS.
// Four more calls time accept → audio.
func TestE2EBrowsers(t *testing.T) {
	const moreCalls = 4
	dir := t.TempDir()
	a, logs := startLoggedApp(t, dir, func(c *Config) {
		c.Media.RTPPorts = monitorRTPPorts()
		c.IVR.FlowsDir = "testdata/flows"
		c.SIP.RTPTimeout = Duration(time.Minute)
		c.Agents = []AgentConfig{{ID: "web1", Name: "网页坐席", Skills: map[string]int{"general": 5}, Contact: "webrtc"}}
		for i := range c.ACD.Queues {
			c.ACD.Queues[i].WrapUp = 1500 * time.Millisecond
			c.ACD.Queues[i].RingTimeout = 15 * time.Second
		}
	})
	t.Cleanup(func() {
		a.Shutdown(context.Background(), 2*time.Second)
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs.String(), 100))
		}
	})
	art := e2eArtifacts(t)
	pw, role := printedPasswords(t, logs.String())
	if role["web1"] != "agent" || role["sup1"] != "supervisor" {
		t.Fatalf("no one-time passwords for web1 and sup1: %v", role)
	}

	// Both sign in through the page with the printed passwords.
	agentBrowser := newE2EBrowser(t, e2eAgentHz)
	supBrowser := newE2EBrowser(t, e2eSupHz)
	desk := e2eSignIn(t, agentBrowser, "agent", a, "web1", pw["web1"])
	desk.poll("the desk", `!document.querySelector("#desk").hidden && document.querySelectorAll("#case-category option").length > 10`, 20*time.Second)
	wb := e2eSignIn(t, supBrowser, "supervisor", a, "sup1", pw["sup1"])
	wb.poll("the console", `!document.querySelector("#console").hidden && Wallboard.messages > 0`, 20*time.Second)
	wb.click("browser audio on", "#wb-audio")
	wb.poll("the console's softphone connected", `Wallboard.sp.state === "ready" && E2E.attach("wb-audio-el")`, 20*time.Second)

	// The agent signs in to the queue on a break; a citizen calls and waits.
	desk.click("break", "#btn-break")
	wb.poll("the agent on break on the wallboard", `document.querySelector('[data-agent="web1"]').dataset.state === "break"`, 20*time.Second)
	seen := map[string]bool{}
	caller := e2eCall(t, a)
	caller.speak(t, a, seen)
	wb.poll("the waiting caller on the wallboard", `document.querySelector("#k-waiting").textContent === "1" &&
		document.querySelector('#wb-queues tr[data-queue="general"] [data-k="waiting"]').textContent === "1"`, 30*time.Second)

	// Ready: the desk rings with the screen pop.
	desk.click("ready", "#btn-ready")
	desk.poll("the desk rings", `document.querySelector("#phone").dataset.phone === "ringing" && !document.querySelector("#ring-banner").hidden &&
		!document.querySelector("#btn-accept").disabled && document.querySelector("#pop-line").textContent.includes("12345")`, 30*time.Second)
	desk.poll("the page's audio tapped", `E2E.attach("remote-audio")`, 10*time.Second)
	desk.poll("the ring sounds (880 and 660 Hz beeps)", `Desk.sp.audioCtx.state === "running" &&
		E2E.tones.some((x) => x.hz === 880) && E2E.tones.some((x) => x.hz === 660)`, 10*time.Second)
	id := spEval[string](t, desk.ctx, "the ringing call", `Desk.call.id`)
	if id != caller.id {
		t.Fatalf("the desk rings with call %s, want the caller's %s", id, caller.id)
	}
	wb.poll("the agent ringing on the wallboard", `document.querySelector('[data-agent="web1"]').dataset.state === "reserved"`, 10*time.Second)

	var pageTimes, twoWay []time.Duration
	page, callerHeard := answer(t, desk, caller, 0)
	pageTimes, twoWay = append(pageTimes, page), append(twoWay, max(page, callerHeard))
	spCallEvent(t, a, id, "connect", 5*time.Second)
	desk.poll("in call", `document.querySelector("#phone").dataset.phone === "incall"`, 10*time.Second)
	wb.poll("the call in progress and the agent on call on the wallboard", fmt.Sprintf(`(() => {
		const row = document.querySelector('#wb-calls tr[data-call=%q]');
		return row && row.textContent.includes("web1") && row.querySelectorAll("button[data-mode]").length === 3 &&
			document.querySelector('[data-agent="web1"]').dataset.state === "on-call" && document.querySelector("#k-waiting").textContent === "0";
	})()`, id), 15*time.Second)

	// The case form, saved as the agent types.
	spEval[bool](t, desk.ctx, "pick a category", `(() => { const s = document.querySelector("#case-category"); s.value = "0201";
		s.dispatchEvent(new Event("change", {bubbles: true})); return s.value === "0201" })()`)
	e2eDo(t, desk.ctx, "fill the case",
		chromedp.SendKeys(chromedp.ID("case-location"), "西湖区文三路 90 号"),
		chromedp.SendKeys(chromedp.ID("case-description"), "夜间施工噪声扰民，凌晨两点还在打桩"),
	)
	desk.poll("the case saved", `Desk.draft && Desk.draft.ref !== "" && !Desk.draft.dirty && document.querySelector("#case-status").textContent.startsWith("已保存")`, 20*time.Second)
	ref := spEval[string](t, desk.ctx, "the case", `Desk.draft.ref`)
	number := spEval[string](t, desk.ctx, "the case number", `Desk.draft.number`)
	stored := getJSON[struct {
		Number, Category, Location, Description string
	}](t, a, "/api/cases/"+ref)
	if stored.Category != "0201" || stored.Location != "西湖区文三路 90 号" || stored.Description != "夜间施工噪声扰民，凌晨两点还在打桩" {
		t.Errorf("the stored case: %+v", stored)
	}
	desk.screenshot(art, "e2e-agent-desk.png")

	// Listen from the wallboard: the console's softphone answers; the supervisor hears
	// both, nobody hears the supervisor.
	row := fmt.Sprintf(`#wb-calls tr[data-call=%q]`, id)
	wb.click("listen", row+` button[data-mode="listen"]`)
	wb.poll("listening in the browser", fmt.Sprintf(`Wallboard.sp.state === "incall" && document.querySelector(%q).textContent === "当前：监听"`, row+" .mode"), 20*time.Second)
	wb.poll("the console's audio tapped", `E2E.attach("wb-audio-el")`, 10*time.Second)
	wb.hears("listening: the caller", e2eCallerHz, 15*time.Second)
	wb.hears("listening: the agent", e2eAgentHz, 15*time.Second)
	from := time.Now()
	desk.hearsNot("listening: the agent's page, the supervisor", e2eSupHz)
	if s := caller.share(from, time.Second, e2eSupHz); s > 0.1 {
		t.Errorf("listening: the caller hears the supervisor (share %.2f)", s)
	}

	// Whisper: the agent's page hears the supervisor, the caller does not.
	wb.click("whisper", row+` button[data-mode="whisper"]`)
	wb.poll("whispering", fmt.Sprintf(`document.querySelector(%q).textContent === "当前：耳语"`, row+" .mode"), 10*time.Second)
	desk.hears("whisper: the agent's page, the supervisor", e2eSupHz, 15*time.Second)
	desk.hears("whisper: the agent's page, the caller", e2eCallerHz, 5*time.Second)
	from = time.Now()
	time.Sleep(1500 * time.Millisecond)
	if s := caller.share(from, 1500*time.Millisecond, e2eSupHz); s > 0.1 {
		t.Errorf("whisper: the caller hears the supervisor (share %.2f)", s)
	}
	if s := caller.share(from, 1500*time.Millisecond, e2eAgentHz); s < 0.25 {
		t.Errorf("whisper: the caller no longer hears the agent (share %.2f)", s)
	}

	// Barge: both hear the supervisor.
	from = time.Now()
	wb.click("barge", row+` button[data-mode="barge"]`)
	wb.poll("barging", fmt.Sprintf(`document.querySelector(%q).textContent === "当前：强插"`, row+" .mode"), 10*time.Second)
	if !caller.hearsWithin(from, e2eSupHz, 15*time.Second) {
		t.Errorf("barge: the caller does not hear the supervisor (best share %.2f)", caller.share(from, time.Hour, e2eSupHz))
	}
	desk.hears("barge: the agent's page, the supervisor", e2eSupHz, 10*time.Second)
	wb.hears("barge: the supervisor, the caller", e2eCallerHz, 10*time.Second)
	wb.screenshot(art, "e2e-wallboard.png")

	wb.click("leave", row+` button[data-leave]`)
	wb.poll("left", fmt.Sprintf(`!document.querySelector(%q) && Wallboard.sp.state === "ready"`, row+" .mode"), 15*time.Second)
	hangUp(t, a, desk, caller, id)
	c := spWaitCall(t, a, id)
	if c.Case != number || c.Agent != "web1" || c.Recording == "" {
		t.Fatalf("the ended call: case %q (the form's %q), agent %q, recording %q", c.Case, number, c.Agent, c.Recording)
	}
	var steps []string
	for _, e := range c.Events {
		steps = append(steps, fmt.Sprintf("%s +%.1fs", e.Kind, e.At.Sub(c.Received).Seconds()))
	}
	t.Logf("the call's steps: %s; ended +%.1fs", strings.Join(steps, ", "), c.Ended.Sub(c.Received).Seconds())
	wb.poll("the call gone from the wallboard, the agent out of it", fmt.Sprintf(`!document.querySelector(%q) &&
		["wrap-up", "ready"].includes(document.querySelector('[data-agent="web1"]').dataset.state)`, row), 15*time.Second)

	desk.poll("the call among the agent's own recent calls, with its recording", fmt.Sprintf(`!!document.querySelector('#desk-recent tr[data-call=%q] button[data-play]') &&
		document.querySelector('#desk-recent tr[data-call=%q]').textContent.includes(%q)`, id, id, number), 15*time.Second)

	// The recording, fetched as the supervisor: the caller left, the agent right.
	sup := newBrowser(t, a)
	if got := sup.do("POST", "/api/auth/login", map[string]string{"user": "sup1", "password": "new password of sup1"}, nil); got != http.StatusOK {
		t.Fatalf("sup1 signs in with the new password: %d", got)
	}
	code, wav, hdr := getPath(t, sup, "/api/recordings/"+id, "")
	if code != http.StatusOK || hdr.Get("Content-Type") != "audio/wav" || len(wav) < 8000 {
		t.Fatalf("the recording as the supervisor: %d %q, %d bytes", code, hdr.Get("Content-Type"), len(wav))
	}
	recPath := filepath.Join(art, "e2e-recording.wav")
	if err := os.WriteFile(recPath, wav, 0o644); err != nil {
		t.Fatal(err)
	}
	left, right := splitRecording(t, recPath)
	if l, r := bestShare(left, e2eCallerHz), bestShare(right, e2eAgentHz); l < 0.4 || r < 0.4 {
		t.Errorf("recording: the caller on the left %.2f, the agent on the right %.2f (best shares)", l, r)
	}
	if l, r := bestShare(left, e2eAgentHz), bestShare(right, e2eCallerHz); l > 0.1 || r > 0.1 {
		t.Errorf("recording: the agent on the left %.2f, the caller on the right %.2f (best shares; the channels must be apart)", l, r)
	}

	// The console's player: the finished call in the team's recent calls, streamed,
	// each channel alone on request, seekable, downloadable.
	rc := fmt.Sprintf(`#wb-recent tr[data-call=%q]`, id)
	wb.poll("the call among the recent calls", fmt.Sprintf(`!!document.querySelector(%q)`, rc+" button[data-play]"), 15*time.Second)
	wb.click("play", rc+" button[data-play]")
	wb.poll("playing", `!Wallboard.recent.audio.paused && Wallboard.recent.audio.currentTime > 0.2 && !!Wallboard.recent.analyser`, 15*time.Second)
	playLevel := func(ch string, freq float64) float64 {
		return wb.float("player level", fmt.Sprintf(`(() => { const s = document.querySelector("#wb-recent .rc-channel"); s.value = %q;
			s.dispatchEvent(new Event("change", {bubbles: true})); const r = Wallboard.recent;
			r.audio.currentTime = 0.5; return new Promise((ok) => setTimeout(() => E2E.maxLevel(%g, 1000, (f) => r.level(f)).then(ok), 300)); })()`, ch, freq))
	}
	if both1, both2 := playLevel("both", e2eCallerHz), playLevel("both", e2eAgentHz); both1 < -50 || both2 < -50 {
		t.Errorf("the player, both channels: the caller %.1f dB, the agent %.1f dB", both1, both2)
	}
	// One channel alone: its tone loud, the other's at least 20 dB under it (what leaks
	// is G.711's and the resampler's noise, not the other party).
	if c1, c2 := playLevel("caller", e2eCallerHz), playLevel("caller", e2eAgentHz); c1 < -50 || c2 > c1-20 {
		t.Errorf("the player, caller only: the caller %.1f dB, the agent %.1f dB", c1, c2)
	} else {
		t.Logf("the player, caller only: the caller %.1f dB, the agent %.1f dB", c1, c2)
	}
	if a1, a2 := playLevel("agent", e2eAgentHz), playLevel("agent", e2eCallerHz); a1 < -50 || a2 > a1-20 {
		t.Errorf("the player, agent only: the agent %.1f dB, the caller %.1f dB", a1, a2)
	} else {
		t.Logf("the player, agent only: the agent %.1f dB, the caller %.1f dB", a1, a2)
	}
	dur := wb.float("seek", `(async () => { const au = Wallboard.recent.audio;
		await new Promise((ok) => { au.addEventListener("seeked", ok, {once: true}); au.currentTime = au.duration - 1.5; });
		return au.seekable.length ? au.seekable.end(0) : 0; })()`)
	if dur < 5 {
		t.Errorf("the player: seekable to %.1f s only", dur)
	}
	dl := spEval[string](t, wb.ctx, "download", `(async () => { const a = document.querySelector("#wb-recent .rc-download");
		const r = await fetch(a.href); const b = await r.arrayBuffer();
		return a.hidden ? "hidden" : r.status + " " + r.headers.get("Content-Disposition") + " " + b.byteLength; })()`, chromedp.EvalAwaitPromise)
	if !strings.HasPrefix(dl, "200 attachment; filename=") || !strings.Contains(dl, id+".wav") || !strings.HasSuffix(dl, fmt.Sprintf(" %d", len(wav))) {
		t.Errorf("the download link: %q, want the whole recording (%d bytes) as an attachment", dl, len(wav))
	}
	wb.screenshot(art, "e2e-recording-player.png")
	wb.eval("pause", `Wallboard.recent.audio.pause()`)
	// The player's range requests are in the audit log, as sup1's.
	if n := e2eAuditRanges(t, dir, "sup1", "recording of call "+id); n == 0 {
		t.Errorf("no range request of the player in the audit log")
	}

	// Another agent's desk (agent1, in a separate browser profile) asked for this
	// recording gets a clear refusal.
	otherCtx, cancelOther := chromedp.NewContext(supBrowser, chromedp.WithNewBrowserContext())
	defer cancelOther()
	if err := chromedp.Do(otherCtx); err != nil {
		t.Fatal(err)
	}
	other := e2eSignIn(t, otherCtx, "agent1", a, "agent1", pw["agent1"])
	other.poll("agent1's empty list", `!!document.querySelector("#desk-recent .rc-list td.muted")`, 15*time.Second)
	other.eval("open another's recording", fmt.Sprintf(`Desk.recent.open(%q)`, id))
	other.poll("the refusal", `document.querySelector("#desk-recent .rc-player").dataset.error === "403" &&
		document.querySelector("#desk-recent .rc-note").textContent.startsWith("无权收听该录音")`, 15*time.Second)

	// Four more calls: accept → audio.
	desk.poll("the agent ready again", `document.querySelector("#agent-state").dataset.state === "ready" && document.querySelector("#phone").dataset.phone === "ready"`, 15*time.Second)
	for i := 1; i <= moreCalls; i++ {
		cl := e2eCall(t, a)
		cl.speak(t, a, seen)
		desk.poll(fmt.Sprintf("call %d rings", i), `document.querySelector("#phone").dataset.phone === "ringing" && !document.querySelector("#btn-accept").disabled`, 30*time.Second)
		cid := spEval[string](t, desk.ctx, "the ringing call", `Desk.call.id`)
		if cid != cl.id {
			t.Fatalf("call %d: the desk rings with call %s, want the caller's %s", i, cid, cl.id)
		}
		page, callerHeard := answer(t, desk, cl, i)
		pageTimes, twoWay = append(pageTimes, page), append(twoWay, max(page, callerHeard))
		spCallEvent(t, a, cid, "connect", 5*time.Second)
		hangUp(t, a, desk, cl, cid)
		desk.poll("ready again", `document.querySelector("#agent-state").dataset.state === "ready" && document.querySelector("#phone").dataset.phone === "ready"`, 15*time.Second)
	}
	t.Logf("accept-to-audio: the agent's accept click → the caller's tone in the page over %d calls: p50 %v, p95 %v; two-way (the caller hears the agent too): p50 %v, p95 %v",
		len(pageTimes), percentile(pageTimes, 0.5), percentile(pageTimes, 0.95), percentile(twoWay, 0.5), percentile(twoWay, 0.95))
}

func (p *e2ePage) eval(what, js string) {
	p.t.Helper()
	spEval[any](p.t, p.ctx, p.name+": "+what, js)
}

// e2eAuditRanges counts the user's audited range requests on target.
func e2eAuditRanges(t *testing.T, dir, user, target string) int {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "audit", "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var e map[string]any
		if json.Unmarshal(sc.Bytes(), &e) == nil && e["user"] == user && e["target"] == target && e["result"] == "ok" {
			if d, _ := e["detail"].(string); strings.HasPrefix(d, "range bytes=") {
				n++
			}
		}
	}
	return n
}

func e2eDo(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}
