package recordings_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
)

// TestBrowserPlaysRecording: a supervisor's browser decodes a recording as served
// (A-law stereo WAV): headless Chromium fetches it, decodes it with Web Audio at
// 8 kHz, and finds the caller's 1 kHz tone on the left only and the agent's 1.7 kHz
// tone on the right only, for the whole two seconds.
func TestBrowserPlaysRecording(t *testing.T) {
	s := &recordings.Store{Dir: t.TempDir()}
	r, err := s.Start("browser", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	left, right := r.Left(), r.Right()
	caller, agent := media.NewToneSource(0.5, 1000), media.NewToneSource(0.5, 1700)
	var lf, rf [media.FrameSamples]byte
	tick := time.NewTicker(media.FrameDuration)
	for range 100 { // 2 s in real time: the store's writer runs as in production
		<-tick.C
		caller.ReadFrame(media.PCMU, lf[:]) // a μ-law caller, converted
		agent.ReadFrame(media.PCMA, rf[:])  // an A-law agent, stored as it came
		left.WriteFrame(media.PCMU, lf[:])
		right.WriteFrame(media.PCMA, rf[:])
	}
	tick.Stop()
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/rec.wav" {
			w.Header().Set("Content-Type", "text/html")
			_, _ = w.Write([]byte("<!doctype html><title>player</title>"))
			return
		}
		f, err := s.Open(info.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer f.Close()
		w.Header().Set("Content-Type", "audio/wav")
		http.ServeContent(w, req, "", time.Now(), f)
	}))
	defer srv.Close()

	opts := testkit.ChromiumOptions(t,
		chromedp.Flag("autoplay-policy", "no-user-gesture-required"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	defer cancelT()

	// Goertzel power of one frequency over a channel, relative to a full-scale sine:
	// dB, like media.ToneLevel. Also the <audio> element's own verdict on the file.
	const script = `(async () => {
		const level = (x, f, rate) => {
			const w = 2 * Math.PI * f / rate, c = 2 * Math.cos(w);
			let s1 = 0, s2 = 0;
			for (const v of x) { const s0 = v + c * s1 - s2; s2 = s1; s1 = s0; }
			const p = s1 * s1 + s2 * s2 - c * s1 * s2;
			return 10 * Math.log10(p / (x.length * x.length / 4) + 1e-12);
		};
		const buf = await (await fetch("/rec.wav")).arrayBuffer();
		const audio = await new OfflineAudioContext(2, 8000, 8000).decodeAudioData(buf);
		const l = audio.getChannelData(0).subarray(160, audio.length - 160);
		const r = audio.getChannelData(1).subarray(160, audio.length - 160);
		const el = await new Promise(res => {
			const a = new Audio("/rec.wav");
			a.oncanplaythrough = () => res({ok: true, duration: a.duration});
			a.onerror = () => res({ok: false, error: a.error ? a.error.code : -1});
		});
		return {channels: audio.numberOfChannels, rate: audio.sampleRate, seconds: audio.duration,
			l1000: level(l, 1000, 8000), l1700: level(l, 1700, 8000),
			r1700: level(r, 1700, 8000), r1000: level(r, 1000, 8000),
			element: el.ok, elementSeconds: el.duration || 0, elementError: el.error || 0};
	})()`
	type result struct {
		Channels       int
		Rate           float64
		Seconds        float64
		L1000, L1700   float64
		R1700, R1000   float64
		Element        bool
		ElementSeconds float64
		ElementError   int
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	got, err := chromedp.Run(ctx, chromedp.Evaluate[result](script, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	t.Logf("browser: %+v", got)
	if got.Channels != 2 || got.Rate != 8000 || got.Seconds < 1.9 || got.Seconds > 2.1 {
		t.Fatalf("decoded %d channels at %v Hz, %.2f s; want 2 at 8000 Hz, 2 s", got.Channels, got.Rate, got.Seconds)
	}
	if got.L1000 < -10 || got.R1700 < -10 {
		t.Errorf("each party's tone in its channel: left 1 kHz %.1f dB, right 1.7 kHz %.1f dB; want about -6", got.L1000, got.R1700)
	}
	if got.L1700 > -40 || got.R1000 > -40 {
		t.Errorf("the other party leaks: left 1.7 kHz %.1f dB, right 1 kHz %.1f dB", got.L1700, got.R1000)
	}
	if !got.Element || got.ElementSeconds < 1.9 || got.ElementSeconds > 2.1 {
		t.Errorf("<audio> element: playable %v, %.2f s (media error %d)", got.Element, got.ElementSeconds, got.ElementError)
	}
}
