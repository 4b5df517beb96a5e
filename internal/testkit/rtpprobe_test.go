package testkit

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRTPProbeToneAndPacing(t *testing.T) {
	rx, tx := NewRTPProbe(t), NewRTPProbe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tx.SendTone(ctx, rx.Addr(), 8, 1000, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := rx.WaitPackets(ctx, 50); err != nil {
		t.Fatal(err)
	}
	pk := rx.Packets()
	if len(pk) != 50 || pk[0].From != tx.Addr() || pk[0].PayloadType != 8 || !pk[0].Marker {
		t.Fatalf("got %d packets, first %+v", len(pk), pk[0])
	}
	g := Gaps(pk)
	if g.Lost != 0 || g.Duplicates != 0 || g.Packets != 50 {
		t.Fatalf("stats: %v", g)
	}
	// A gap statistic that cannot fail is no statistic: 50 packets in ~1 s.
	if span := pk[49].At.Sub(pk[0].At); span < 900*time.Millisecond || span > 1500*time.Millisecond {
		t.Fatalf("50 packets spanned %v", span)
	}
	if n := ToneFrames(Audio(pk), 8000, 1000, 0.9); n != 50 {
		t.Fatalf("tone in %d of 50 frames", n)
	}
	t.Logf("loopback pacing: %v", g)
}

func TestRTPProbeDigitsAndLoss(t *testing.T) {
	rx, tx := NewRTPProbe(t), NewRTPProbe(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tx.SendDigits(ctx, rx.Addr(), 101, "11#"); err != nil {
		t.Fatal(err)
	}
	if err := rx.WaitPackets(ctx, 24); err != nil {
		t.Fatal(err)
	}
	pk := rx.Packets()
	if got := Keys(pk, 101); got != "11#" {
		t.Fatalf("keys %q", got)
	}
	ev := Events(pk, 101)
	if ev[0].Key() != '1' || ev[0].End || !ev[7].End || ev[7].Duration != 800 {
		t.Fatalf("events %+v", ev[:8])
	}
	// Drop two packets from the middle: loss must say 2.
	cut := append(append([]RTPPacket{}, pk[:3]...), pk[5:]...)
	for i := range cut {
		cut[i].PayloadType = 0
	}
	if g := Gaps(cut); g.Lost != 2 {
		t.Fatalf("lost %d, want 2", g.Lost)
	}
}

func TestRTPProbeReplies(t *testing.T) {
	// A "server" probe sends to a phone-like probe, which answers with its own audio.
	phone, server := NewRTPProbe(t), NewRTPProbe(t)
	phone.ReplyWith(0, Tone(8000, 440, 0.3, 200*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go server.SendTone(ctx, phone.Addr(), 0, 1000, 500*time.Millisecond)
	if err := server.WaitPackets(ctx, 10); err != nil {
		t.Fatal(err)
	}
	if src := server.Sources(); len(src) != 1 || src[0] != phone.Addr() {
		t.Fatalf("replies from %v", src)
	}
	if n := ToneFrames(Audio(server.Packets()), 8000, 440, 0.9); n < 5 {
		t.Fatalf("440 Hz in %d frames", n)
	}
	phone.Close()
	server.Close()
}

func TestFreePorts(t *testing.T) {
	p := FreePort(t)
	r, c := FreeUDPPortPair(t)
	if p <= 1024 || r%2 != 0 || c != r+1 {
		t.Fatalf("ports %d %d %d", p, r, c)
	}
}
