package main

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
)

// inboundAudio keeps what callers say, as the server hears it after the jitter buffer.
type inboundAudio struct {
	mu  sync.Mutex
	pcm []int16
}

func (a *inboundAudio) WriteFrame(c media.Codec, p []byte) {
	var buf [media.FrameSamples]int16
	media.DecodeFrame(c, buf[:], p)
	a.mu.Lock()
	if len(a.pcm) < 20*media.SampleRate {
		a.pcm = append(a.pcm, buf[:len(p)]...)
	}
	a.mu.Unlock()
}

// A softphone call: baresip hears the greeting, and the tone it sends is detected on
// the server side.
func TestBaresipCall(t *testing.T) {
	heardByServer := &inboundAudio{}
	a := startTestApp(t, nil, startHooks{wrap: func(next sip.CallHandler) sip.CallHandler {
		return sip.CallHandlerFunc(func(ctx context.Context, c *sip.InboundCall) {
			defer c.Leg.Tap(media.FromParty, heardByServer)()
			next.HandleCall(ctx, c)
		})
	}})
	tone := filepath.Join(t.TempDir(), "tone.wav")
	if err := testkit.WriteWAVFile(tone, 8000, 1, testkit.Tone(8000, 1209, 0.4, 8*time.Second)); err != nil {
		t.Fatal(err)
	}
	phone := testkit.StartBaresip(t, testkit.BaresipOpts{Source: tone, Talk: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := phone.Dial(ctx, "sip:12345@"+a.SIPAddr().String()); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("%v\n%s", err, phone.Output())
	}
	time.Sleep(4 * time.Second)
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	phone.Close()
	_, heard, err := phone.Recordings()
	if err != nil {
		t.Fatal(err)
	}
	ref := promptPCM(t, "zh", "greeting_12345")[:2*media.SampleRate]
	if score, _ := testkit.Correlate(heard.Mono(0), ref); score < 0.8 {
		t.Errorf("baresip heard something else than the 12345 greeting: correlation %.2f", score)
	}
	heardByServer.mu.Lock()
	pcm := heardByServer.pcm
	heardByServer.mu.Unlock()
	if len(pcm) < 2*media.SampleRate {
		t.Fatalf("the server heard %d samples", len(pcm))
	}
	mid := pcm[len(pcm)/4 : 3*len(pcm)/4]
	if lvl := media.ToneLevel(mid, 1209); lvl < -20 {
		t.Errorf("the 1209 Hz tone from baresip reached the server at %.1f dBFS", lvl)
	}
	if share := media.ToneShare(mid, 1209); share < 0.5 {
		t.Errorf("only %.2f of what the server heard is the tone", share)
	}
	if c := waitEnded(t, a, 1)[0]; c.EndReason != "caller_bye" || c.RTP.PacketsIn < 100 {
		t.Errorf("call ended %q with %d packets in", c.EndReason, c.RTP.PacketsIn)
	}
}
