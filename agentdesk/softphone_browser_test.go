package agentdesk

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
)

// toneClock is a sink that notes when the first 20 ms frame that is mostly the tone
// comes out of the leg (after its jitter buffer, where a bridge would take it).
type toneClock struct {
	mu    sync.Mutex
	freq  float64
	at    time.Time
	share float64 // of the last frame
}

func (c *toneClock) WriteFrame(codec media.Codec, p []byte) {
	var x [media.FrameSamples]int16
	media.DecodeFrame(codec, x[:], p)
	share := media.ToneShare(x[:len(p)], c.freq)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.share = share
	if c.at.IsZero() && share > 0.6 {
		c.at = time.Now()
	}
}

func (c *toneClock) heardAt() (time.Time, float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.at, c.share
}

// toneWAV writes an 8 kHz WAV of a sine: Chromium's fake microphone.
func toneWAV(t *testing.T, freq float64, d time.Duration) string {
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

// cdpRun runs one chromedp action with a deadline and returns its value.
func cdpRun[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(tctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// The agent's page in headless Chromium with softphone.js: the shift connection comes
// up, rings, and on accept the server hears the fake microphone's 1 kHz while the
// page hears the caller's 660 Hz (a WebAudio analyser on the remote stream). DTMF from
// RTCDTMFSender and mute are checked on the first call. Accept-click to two-way audio
// is measured over several calls of the same connection.
func TestSoftphoneBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	const (
		micHz    = 1000.0
		callerHz = 660.0
		runs     = 8
	)
	r := newSPRig(t, nil)
	wav := toneWAV(t, micHz, 60*time.Second)

	opts := testkit.ChromiumOptions(t,
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-audio-capture", wav),
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
		chromedp.Flag("mute-audio", false), // Headless mutes; the page must play the remote audio
		chromedp.Flag("disable-component-update", true),
		chromedp.CombinedOutput(testLogWriter{t}),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	var pageErrs sync.Mutex
	ctx, cancelTab := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				t.Logf("page console.%s: %s", ev.Type, a.Value)
			}
		case *runtime.EventExceptionThrown:
			pageErrs.Lock()
			t.Errorf("page exception: %s %s", ev.ExceptionDetails.Text, exceptionDesc(ev.ExceptionDetails))
			pageErrs.Unlock()
		}
	}))
	defer cancelTab()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if err := chromedp.Do(tctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	// The first action starts the browser, which lives as long as that action's context:
	// it gets ctx itself, not a context with a deadline.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	t0 := time.Now()
	run("load the page", chromedp.Navigate(r.srv.URL+"/page?agent=web1"))
	cdpRun(t, ctx, "start the softphone", chromedp.Evaluate[bool](`sp.start().then(() => true)`, chromedp.EvalAwaitPromise))
	t.Logf("shift connection up in %v", time.Since(t0).Round(time.Millisecond))
	tm := cdpRun(t, ctx, "timings", chromedp.Evaluate[map[string]float64](`sp.timings`))
	t.Logf("page: getUserMedia %.0f ms, offer sent +%.0f ms, answer +%.0f ms, media connected +%.0f ms",
		tm["mic"]-tm["start"], tm["offer"]-tm["mic"], tm["answer"]-tm["offer"], tm["ready"]-tm["answer"])
	r.waitEvent("ready web1", 5*time.Second)
	codec := cdpRun(t, ctx, "codec", chromedp.Evaluate[string](`sp.codec`))
	if codec != "PCMU" {
		t.Errorf("negotiated %q; Chromium offers PCMU before PCMA", codec)
	}

	var twoWay []time.Duration
	for i := 0; i < runs; i++ {
		id := fmt.Sprintf("web-%d", i)
		type res struct {
			c   *CallLeg
			err error
		}
		ch := make(chan res, 1)
		clock := &toneClock{freq: micHz}
		go func() {
			c, err := r.sp.Ring(context.Background(), "web1", RingInfo{CallID: id, Caller: "138****1234", Line: "12345", Wait: 7 * time.Second})
			if err == nil {
				// The call layer's bridge: the citizen (a tone here) to the agent and back.
				c.Tap(media.FromParty, clock)
				c.SetOutbound(media.NewToneSource(0.3, callerHz))
			}
			ch <- res{c, err}
		}()
		cdpRun(t, ctx, "wait for the ring", chromedp.Poll[bool](fmt.Sprintf(`window.rings.length > %d && sp.state === "ringing"`, i),
			chromedp.WithPollingTimeout(5*time.Second)))
		got := cdpRun(t, ctx, "accept and hear", chromedp.Evaluate[heardResult](fmt.Sprintf(`acceptAndHear(%g)`, callerHz), chromedp.EvalAwaitPromise))
		rr := <-ch
		if rr.err != nil {
			t.Fatalf("Ring: %v", rr.err)
		}
		c := rr.c
		if got.HeardAt == 0 {
			t.Fatalf("call %d: the page did not hear the caller's %v Hz (peak %.0f Hz at %.1f dB)", i, callerHz, got.PeakHz, got.Level)
		}
		var serverAt time.Time
		for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if serverAt, _ = clock.heardAt(); !serverAt.IsZero() {
				break
			}
		}
		if serverAt.IsZero() {
			_, share := clock.heardAt()
			t.Fatalf("call %d: the server did not hear the fake microphone's %v Hz (share %.2f)", i, micHz, share)
		}
		click := time.UnixMilli(int64(got.ClickAt))
		pageAt := time.UnixMilli(int64(got.HeardAt))
		both := max(pageAt.Sub(click), serverAt.Sub(click))
		twoWay = append(twoWay, both)
		t.Logf("call %d: accept click → page hears caller %v, server hears agent %v (peak %.0f Hz, %.1f dB)",
			i, pageAt.Sub(click), serverAt.Sub(click).Round(time.Millisecond), got.PeakHz, got.Level)

		if i == 0 {
			// RFC 4733 from RTCDTMFSender, with Chromium's telephone-event payload type.
			cdpRun(t, ctx, "dtmf", chromedp.Evaluate[bool](`sp.dtmf("5")`))
			select {
			case d := <-c.Digits():
				if d.Key != '5' {
					t.Errorf("digit %q", d.Key)
				}
			case <-time.After(3 * time.Second):
				t.Error("the page's DTMF did not arrive")
			}
			// Mute: the microphone's tone stops reaching the server.
			cdpRun(t, ctx, "mute", chromedp.Evaluate[bool](`sp.mute()`))
			r.waitEvent("control web1 "+id+" mute", 2*time.Second)
			time.Sleep(400 * time.Millisecond)
			if _, share := clock.heardAt(); share > 0.3 {
				t.Errorf("muted, the server still hears the microphone (share %.2f)", share)
			}
			cdpRun(t, ctx, "unmute", chromedp.Evaluate[bool](`sp.unmute()`))
			// Hold: the call layer hears of it; the page stops its microphone and speaker.
			cdpRun(t, ctx, "hold", chromedp.Evaluate[bool](`sp.hold()`))
			r.waitEvent("control web1 "+id+" hold", 2*time.Second)
			if st := cdpRun(t, ctx, "held state", chromedp.Evaluate[string](`sp.state + (document.getElementById("remote").muted ? "+muted" : "")`)); st != "held+muted" {
				t.Errorf("on hold the page is %q", st)
			}
			cdpRun(t, ctx, "unhold", chromedp.Evaluate[bool](`sp.unhold()`))
			r.waitEvent("control web1 "+id+" unhold", 2*time.Second)
		}

		if i == runs-1 { // the shift's leg after all the calls
			st := c.Stats()
			t.Logf("shift leg: %s, %d packets in, %d out, %d lost, jitter %.1f ms", st.Codec, st.PacketsIn, st.PacketsOut, st.Lost, st.JitterMs)
		}
		cdpRun(t, ctx, "hang up", chromedp.Evaluate[bool](`sp.hangup()`))
		r.waitEvent("hangup web1 "+id, 3*time.Second)
		<-c.Done()
		time.Sleep(300 * time.Millisecond) // the caller's tone drains from the page's jitter buffer
	}

	// The socket drops mid-call (server side, as a proxy or a Wi-Fi change would): the
	// page reconnects by itself and resumes the same PeerConnection; the call goes on.
	{
		ch := make(chan *CallLeg, 1)
		go func() {
			c, err := r.sp.Ring(context.Background(), "web1", RingInfo{CallID: "web-drop"})
			if err != nil {
				t.Errorf("Ring: %v", err)
			}
			if c != nil {
				c.SetOutbound(media.NewToneSource(0.3, callerHz))
			}
			ch <- c
		}()
		cdpRun(t, ctx, "ring before the drop", chromedp.Poll[bool](`sp.state === "ringing"`, chromedp.WithPollingTimeout(5*time.Second)))
		cdpRun(t, ctx, "accept before the drop", chromedp.Evaluate[bool](`sp.accept()`))
		c := <-ch
		if c == nil {
			t.FailNow()
		}
		r.sp.mu.Lock()
		sock := r.sp.sockets["web1"]
		r.sp.mu.Unlock()
		sock.conn.CloseNow()
		cdpRun(t, ctx, "the page reconnects and resumes",
			chromedp.Poll[bool](`window.states.includes("reconnecting") && sp.state === "incall"`,
				chromedp.WithPollingTimeout(5*time.Second)))
		if !r.sp.Connected("web1") {
			t.Error("not connected after the resume")
		}
		select {
		case <-c.Done():
			t.Fatalf("the call ended across the drop: %s", c.EndReason())
		default:
		}
		if lvl := cdpRun(t, ctx, "still hears", chromedp.Evaluate[float64](`rms()`)); lvl < 0.02 {
			t.Errorf("after the resume the page hears nothing (rms %.3f)", lvl)
		}
		cdpRun(t, ctx, "hang up after the resume", chromedp.Evaluate[bool](`sp.hangup()`))
		r.waitEvent("hangup web1 web-drop", 3*time.Second)
		if r.hasEvent("vanish web1") {
			t.Error("a resumed drop was reported as vanished")
		}
	}

	// The server hangs up a ringing call: the page stops ringing.
	go func() {
		_, _ = r.sp.Ring(context.Background(), "web1", RingInfo{CallID: "web-cancel", Timeout: 300 * time.Millisecond})
	}()
	cdpRun(t, ctx, "ring timeout reaches the page", chromedp.Poll[bool](`window.ended.some(e => e.id === "web-cancel" && e.why === "timeout") && sp.state === "ready"`,
		chromedp.WithPollingTimeout(5*time.Second)))

	slices.Sort(twoWay)
	p50 := twoWay[len(twoWay)/2]
	p95 := twoWay[int(math.Ceil(0.95*float64(len(twoWay))))-1]
	t.Logf("accept click → two-way audio over %d calls on one connection: p50 %v, p95 %v (min %v, max %v); "+
		"detectors: page: first 5 ms above -34 dBFS, polled each ms; server: first 20 ms frame of the tone out of the jitter buffer", len(twoWay), p50.Round(time.Millisecond), p95.Round(time.Millisecond), twoWay[0].Round(time.Millisecond), twoWay[len(twoWay)-1].Round(time.Millisecond))

	// A second tab of the same agent takes over; the first is told and stops.
	ctx2, cancelTab2 := chromedp.NewContext(ctx)
	defer cancelTab2()
	if err := chromedp.Do(ctx2, chromedp.Navigate(r.srv.URL+"/page?agent=web1")); err != nil {
		t.Fatal(err)
	}
	cdpRun(t, ctx2, "start the second tab", chromedp.Evaluate[bool](`sp.start().then(() => true)`, chromedp.EvalAwaitPromise))
	cdpRun(t, ctx, "the first tab is replaced", chromedp.Poll[bool](`sp.state === "replaced"`, chromedp.WithPollingTimeout(5*time.Second)))
	r.waitEvent("vanish web1  replaced", 3*time.Second)
	go func() {
		c, err := r.sp.Ring(context.Background(), "web1", RingInfo{CallID: "web-tab2"})
		if err == nil {
			c.SetOutbound(media.NewToneSource(0.3, callerHz))
		}
	}()
	cdpRun(t, ctx2, "the second tab rings", chromedp.Poll[bool](`sp.state === "ringing"`, chromedp.WithPollingTimeout(5*time.Second)))
	if got := cdpRun(t, ctx2, "the second tab hears", chromedp.Evaluate[heardResult](fmt.Sprintf(`acceptAndHear(%g)`, callerHz), chromedp.EvalAwaitPromise)); got.HeardAt == 0 {
		t.Error("the second tab does not hear the caller")
	}
	if n := cdpRun(t, ctx, "the first tab stays quiet", chromedp.Evaluate[int](`window.rings.filter(c => c.id === "web-tab2").length`)); n != 0 {
		t.Error("the replaced tab rang")
	}
	run2 := func(what string, a chromedp.Action[chromedp.Void]) {
		if err := chromedp.Do(ctx2, a); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	run2("stop", chromedp.Evaluate[chromedp.Void](`sp.stop()`))
	r.waitEvent("vanish web1 web-tab2 bye", 3*time.Second)
	cancelTab2()
	cancelTab()
	cancelAlloc()
}

type heardResult struct {
	ClickAt float64 `json:"clickAt"`
	HeardAt float64 `json:"heardAt"`
	PeakHz  float64 `json:"peakHz"`
	Level   float64 `json:"level"`
}

func exceptionDesc(d *runtime.ExceptionDetails) string {
	if d != nil && d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

// testLogWriter shows the browser's own output in the test log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("chromium: %s", bytes.TrimRight(p, "\n"))
	return len(p), nil
}
