package testkit

import (
	"bufio"
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"
)

// TestBaresipThroughEcho: baresip calls a SIPp UAS that echoes RTP; what baresip
// heard must be what it said (a prompt, found by correlation), and its keys must
// reach the far end as RFC 4733.
func TestBaresipThroughEcho(t *testing.T) {
	ref := loadPrompt(t, "zh/greeting_12345.wav")
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, RTPEcho: true})
	phone := StartBaresip(t, BaresipOpts{Source: filepath.Join(promptsDir(t), "zh/greeting_12345.wav"), Talk: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := phone.Dial(ctx, "sip:12345@"+uas.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("%v\n%s", err, phone.Output())
	}
	time.Sleep(time.Duration(len(ref))*time.Second/8000 + 500*time.Millisecond)
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_CLOSED"); err != nil {
		t.Fatal(err)
	}
	phone.Close()
	sent, heard, err := phone.Recordings()
	if err != nil {
		t.Fatal(err)
	}
	if sent.Rate != 8000 || heard.Rate != 8000 {
		t.Fatalf("recordings at %d / %d Hz", sent.Rate, heard.Rate)
	}
	score, lag := Correlate(heard.Mono(0), ref)
	t.Logf("heard %v, prompt score %.3f at %d ms", heard.Duration(), score, lag/8)
	if score < 0.8 {
		t.Fatalf("echoed prompt not heard: score %.3f", score)
	}
	if s, _ := Correlate(sent.Mono(0), ref); s < 0.9 {
		t.Fatalf("sent side: score %.3f", s)
	}
}

func TestBaresipToneAndDigitsToProbe(t *testing.T) {
	probe := NewRTPProbe(t)
	uas := StartSIPp(t, SIPpOpts{Scenario: ScenarioUASEcho, MediaPort: probe.Port()})
	phone := StartBaresip(t, BaresipOpts{Tone: 1000})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := phone.Dial(ctx, "sip:12345@"+uas.Addr()); err != nil {
		t.Fatal(err)
	}
	if _, err := phone.WaitEvent(ctx, "CALL_ESTABLISHED"); err != nil {
		t.Fatalf("%v\n%s", err, phone.Output())
	}
	if err := probe.WaitPackets(ctx, 25); err != nil {
		t.Fatal(err)
	}
	if err := phone.SendDigits(ctx, "42#"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := phone.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	pk := probe.Packets()
	if n := ToneFrames(Audio(pk), 8000, 1000, 0.8); n < 20 {
		t.Fatalf("1 kHz in %d frames of %d packets\n%s", n, len(pk), phone.Output())
	}
	var dtmfPT uint8
	for _, p := range pk {
		if p.PayloadType >= 96 {
			dtmfPT = p.PayloadType
			break
		}
	}
	if got := Keys(pk, dtmfPT); got != "42#" {
		t.Fatalf("keys %q (pt %d)", got, dtmfPT)
	}
}

// TestBaresipAnswers: SIPp calls the softphone (as hotline will call an agent's
// phone); baresip auto-answers and its tone reaches SIPp's media port.
func TestBaresipAnswers(t *testing.T) {
	probe := NewRTPProbe(t)
	phone := StartBaresip(t, BaresipOpts{Tone: 1000, AutoAnswer: true, User: "agent7"})
	res, err := RunSIPp(t, SIPpOpts{Scenario: ScenarioCall, Target: phone.Addr(), Number: "agent7",
		Pause: time.Second, MediaPort: probe.Port()})
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, res.Output, phone.Output())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ev, err := phone.WaitEvent(ctx, "CALL_ESTABLISHED")
	if err != nil || ev.Direction != "incoming" {
		t.Fatalf("event %+v, %v", ev, err)
	}
	if n := ToneFrames(Audio(probe.Packets()), 8000, 1000, 0.8); n < 20 {
		t.Fatalf("1 kHz in %d frames", n)
	}
}

func FuzzReadNetstring(f *testing.F) {
	f.Add([]byte(`49:{"response":true,"ok":true,"data":"","token":"t"},`))
	f.Add([]byte(`3:abc,0:,`))
	f.Add([]byte(`99999999999:x`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReader(bytes.NewReader(data))
		for range 10 {
			msg, err := readNetstring(r)
			if err != nil {
				return
			}
			if len(msg) > len(data) {
				t.Fatalf("message of %d bytes from %d", len(msg), len(data))
			}
		}
	})
}
