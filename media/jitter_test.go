package media

import (
	"bytes"
	"testing"
)

func frameOf(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }

func TestJitterBufferReorders(t *testing.T) {
	jb := newJitterBuffer(PCMU, 2*FrameSamples)
	// Packets 0..5 arrive as 0 2 1 3 5 4, one per 20 ms tick; playout is a fixed delay behind.
	out := make([]byte, FrameSamples)
	var got []byte
	for tick, i := range []int{0, 2, 1, 3, 5, 4, -1, -1} {
		if i >= 0 && !jb.push(1, uint32(1000+i*FrameSamples), frameOf(byte(i+1), FrameSamples)) {
			t.Fatalf("packet %d refused at tick %d", i, tick)
		}
		jb.pop(out)
		got = append(got, out[0])
	}
	want := []byte{0xff, 0xff, 1, 2, 3, 4, 5, 6} // two frames of delay (silence), then in order
	if !bytes.Equal(got, want) {
		t.Errorf("played %v, want %v", got, want)
	}
}

func TestJitterBufferLossAndLate(t *testing.T) {
	jb := newJitterBuffer(PCMA, FrameSamples)
	out := make([]byte, FrameSamples)
	jb.push(1, 0, frameOf(1, FrameSamples))
	jb.push(1, 2*FrameSamples, frameOf(3, FrameSamples)) // frame 1 lost
	var got []byte
	for i := 0; i < 4; i++ {
		jb.pop(out)
		got = append(got, out[0])
	}
	if want := []byte{0xd5, 1, 0xd5, 3}; !bytes.Equal(got, want) {
		t.Errorf("played %v, want %v (silence in place of the lost frame)", got, want)
	}
	if jb.push(1, FrameSamples, frameOf(2, FrameSamples)) {
		t.Error("a packet whose time has passed was accepted")
	}
	if jb.late != 1 {
		t.Errorf("late = %d", jb.late)
	}
}

// 30 ms packets (SIPp's stock A-law pcap) play as continuous 20 ms frames.
func TestJitterBuffer30msPackets(t *testing.T) {
	jb := newJitterBuffer(PCMU, 2*FrameSamples)
	for i := 0; i < 4; i++ {
		jb.push(9, uint32(i*240), frameOf(7, 240))
	}
	out := make([]byte, FrameSamples)
	jb.pop(out)
	jb.pop(out)
	for i := 0; i < 6; i++ {
		jb.pop(out)
		if !bytes.Equal(out, frameOf(7, FrameSamples)) {
			t.Fatalf("frame %d not continuous audio: %v", i, out[:8])
		}
	}
}

// A new SSRC (SIPp's play_dtmf, a re-INVITE) or a long pause restarts playout cleanly.
func TestJitterBufferRestart(t *testing.T) {
	jb := newJitterBuffer(PCMU, FrameSamples)
	out := make([]byte, FrameSamples)
	jb.push(1, 5000, frameOf(1, FrameSamples))
	jb.pop(out)
	jb.push(2, 90000, frameOf(2, FrameSamples))
	jb.pop(out)
	jb.pop(out)
	if out[0] != 2 {
		t.Errorf("after an SSRC change played %d, want 2", out[0])
	}
	for i := 0; i < jitterIdleReset+1; i++ {
		jb.pop(out)
	}
	jb.push(2, 90000+FrameSamples*1000, frameOf(3, FrameSamples))
	jb.pop(out)
	jb.pop(out)
	if out[0] != 3 {
		t.Errorf("after a pause played %d, want 3", out[0])
	}
}

// Latency stays bounded when a sender runs fast.
func TestJitterBufferBoundsDepth(t *testing.T) {
	jb := newJitterBuffer(PCMU, 2*FrameSamples)
	out := make([]byte, FrameSamples)
	for i := 0; i < 30; i++ { // a burst of 600 ms at once
		jb.push(1, uint32(i*FrameSamples), frameOf(byte(i), FrameSamples))
	}
	jb.pop(out)
	if depth := int32(jb.maxTS - jb.playTS); depth > int32(jb.delay)+10*FrameSamples {
		t.Errorf("depth %d samples after a burst, want at most %d", depth, jb.delay+10*FrameSamples)
	}
}

func TestPlayerAndLoop(t *testing.T) {
	a, b := tonePrompt(400, 60*1e6), tonePrompt(800, 40*1e6) // 3 and 2 frames
	p := NewPlayer(a, b)
	buf := make([]byte, FrameSamples)
	n := 0
	for p.ReadFrame(PCMU, buf) {
		n++
	}
	if n != 5 {
		t.Errorf("played %d frames, want 5", n)
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after the last frame")
	}
	if p.Played() != 100*1e6 {
		t.Errorf("Played() = %v", p.Played())
	}
	s := NewPlayer(a)
	s.ReadFrame(PCMU, buf)
	if got := s.Stop(); got != FrameDuration {
		t.Errorf("Stop after one frame reports %v", got)
	}
	if s.ReadFrame(PCMU, buf) {
		t.Error("a stopped player still plays")
	}
	l := NewLoop(b)
	for i := 0; i < 7; i++ {
		if !l.ReadFrame(PCMA, buf) {
			t.Fatal("a loop ran out")
		}
	}
	if empty := NewPlayer(); empty.ReadFrame(PCMU, buf) {
		t.Error("an empty player played")
	}
}
