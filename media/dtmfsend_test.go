package media

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// sentFrame is one frame's outcome of DTMFSender.Next.
type sentFrame struct {
	active bool
	marker bool
	ts     uint32
	ev     TelephoneEvent
}

func driveSender(t *testing.T, s *DTMFSender, frames int, ts0 uint32) []sentFrame {
	t.Helper()
	out := make([]sentFrame, frames)
	var p [8]byte
	for i := range out {
		n, evTS, marker, active := s.Next(p[:], ts0+uint32(i*FrameSamples))
		out[i] = sentFrame{active: active, marker: marker, ts: evTS}
		if !active {
			if n != 0 || marker || evTS != 0 {
				t.Fatalf("frame %d: inactive but n=%d marker=%t ts=%d", i, n, marker, evTS)
			}
			continue
		}
		if n != TelephoneEventSize {
			t.Fatalf("frame %d: n = %d", i, n)
		}
		ev, err := ParseTelephoneEvent(p[:n])
		if err != nil {
			t.Fatal(err)
		}
		out[i].ev = ev
	}
	return out
}

// The packet sequence of RFC 4733 §2.5: one timestamp per event, marker on its
// first packet only, duration growing by one frame per packet, the end packet three
// times with the final duration, and a 40 ms gap on the timestamp axis before the
// next key.
func TestDTMFSenderSequence(t *testing.T) {
	var s DTMFSender
	if err := s.Enqueue("1#", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if s.Pending() != 2 {
		t.Fatalf("Pending = %d", s.Pending())
	}
	const ts0 = 4_000_000_000 // timestamps wrap during the test
	got := driveSender(t, &s, 20, ts0)
	ev := func(code uint8, end bool, dur uint16) TelephoneEvent {
		return TelephoneEvent{Event: code, End: end, Volume: 10, Duration: dur}
	}
	want := []sentFrame{
		{true, true, ts0, ev(1, false, 160)},
		{true, false, ts0, ev(1, false, 320)},
		{true, false, ts0, ev(1, false, 480)},
		{true, false, ts0, ev(1, false, 640)},
		{true, false, ts0, ev(1, true, 800)},
		{true, false, ts0, ev(1, true, 800)},
		{true, false, ts0, ev(1, true, 800)},
		{true, true, ts0 + 7*160, ev(11, false, 160)},
		{true, false, ts0 + 7*160, ev(11, false, 320)},
		{true, false, ts0 + 7*160, ev(11, false, 480)},
		{true, false, ts0 + 7*160, ev(11, false, 640)},
		{true, false, ts0 + 7*160, ev(11, true, 800)},
		{true, false, ts0 + 7*160, ev(11, true, 800)},
		{true, false, ts0 + 7*160, ev(11, true, 800)},
	}
	for len(want) < len(got) {
		want = append(want, sentFrame{})
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("frame %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	// Gap on the timestamp axis: next event ts - (previous ts + duration) = 40 ms.
	if gap := (want[7].ts - want[0].ts) - 800; gap != 320 {
		t.Errorf("gap %d units", gap)
	}
	if s.Pending() != 0 {
		t.Errorf("Pending = %d after all sent", s.Pending())
	}
}

func TestDTMFSenderGapAndRounding(t *testing.T) {
	s := DTMFSender{Gap: 100 * time.Millisecond}
	if err := s.Enqueue("55", 45*time.Millisecond); err != nil { // rounds up to 3 frames
		t.Fatal(err)
	}
	got := driveSender(t, &s, 20, 0)
	var starts []int
	for i, g := range got {
		if g.marker {
			starts = append(starts, i)
		}
	}
	if len(starts) != 2 {
		t.Fatalf("starts %v", starts)
	}
	// 3 frames of key, then 100 ms: the second key starts 8 frames after the first.
	if starts[1]-starts[0] != 8 || got[starts[0]+2].ev.Duration != 480 || !got[starts[0]+2].ev.End {
		t.Fatalf("starts %v, packets %+v", starts, got)
	}
	for i := starts[0] + 5; i < starts[1]; i++ {
		if got[i].active {
			t.Errorf("frame %d active inside the gap", i)
		}
	}
}

// A leg that restarts its timestamps (new SSRC after a re-INVITE) does not make a
// queued key wait for a timestamp that will never come.
func TestDTMFSenderTimestampJump(t *testing.T) {
	var s DTMFSender
	if err := s.Enqueue("12", 40*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	driveSender(t, &s, 4, 1_000_000) // '1': 2 frames + 2 more end packets
	got := driveSender(t, &s, 1, 5)  // timestamps restarted
	if !got[0].active || !got[0].marker || got[0].ev.Event != 2 || got[0].ts != 5 {
		t.Fatalf("after a timestamp jump: %+v", got[0])
	}
}

func TestDTMFSenderEnqueueErrors(t *testing.T) {
	var s DTMFSender
	for _, tc := range []struct {
		keys string
		dur  time.Duration
		want string
	}{
		{"12x4", 0, `'x' at position 2`},
		{"", 0, "no DTMF keys"},
		{"1", 30 * time.Millisecond, "duration 30ms"},
		{"1", 9 * time.Second, "duration 9s"},
		{"1", -time.Second, "duration -1s"},
	} {
		err := s.Enqueue(tc.keys, tc.dur)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Enqueue(%q, %v) = %v, want %q", tc.keys, tc.dur, err, tc.want)
		}
	}
	if s.Pending() != 0 {
		t.Fatalf("a rejected Enqueue queued keys: %d", s.Pending())
	}
	if err := s.Enqueue(strings.Repeat("1", dtmfQueueLen), 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Enqueue("2", 0); !errors.Is(err, ErrDTMFQueueFull) {
		t.Fatalf("over-full queue: %v", err)
	}
	if err := s.Enqueue("abcd", 0); !errors.Is(err, ErrDTMFQueueFull) {
		t.Fatalf("over-full queue: %v", err)
	}
	s.Clear()
	if s.Pending() != 0 {
		t.Fatalf("Pending after Clear = %d", s.Pending())
	}
	if err := s.Enqueue("abcd", 0); err != nil {
		t.Fatal(err)
	}
	var keys []byte
	for _, g := range driveSender(t, &s, 100, 0) {
		if g.marker {
			k, _ := EventKey(g.ev.Event)
			keys = append(keys, k)
		}
	}
	if string(keys) != "ABCD" {
		t.Fatalf("sent %q", keys)
	}
}

// Clear while a key is down still finishes it with its end packets.
func TestDTMFSenderClearMidKey(t *testing.T) {
	var s DTMFSender
	if err := s.Enqueue("78", 0); err != nil {
		t.Fatal(err)
	}
	first := driveSender(t, &s, 2, 0)
	s.Clear()
	rest := driveSender(t, &s, 20, 320)
	var ends int
	for _, g := range rest {
		if g.active && g.ev.Event == 8 {
			t.Fatal("cleared key sent")
		}
		if g.active && g.ev.End {
			ends++
		}
	}
	if !first[0].marker || ends != 3 || s.Pending() != 0 {
		t.Fatalf("ends %d, pending %d", ends, s.Pending())
	}
}

// What the sender sends, our receiver decodes: every key once, repeated keys too.
func TestDTMFSenderToReceiver(t *testing.T) {
	var s DTMFSender
	const keys = "0123456789*#ABCD1199##"
	if err := s.Enqueue(keys, 60*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	var r DTMFReceiver
	var got []byte
	var p [4]byte
	var seq uint16 = 65000
	for i := 0; i < 400; i++ {
		n, evTS, _, active := s.Next(p[:], uint32(i*FrameSamples))
		if !active {
			continue
		}
		seq++
		if d, ok := r.Handle(p[:n], 7, seq, evTS, testEpoch.Add(time.Duration(i)*FrameDuration)); ok {
			got = append(got, d.Key)
		}
	}
	if string(got) != keys {
		t.Fatalf("received %q, sentFrame %q", got, keys)
	}
	if st := r.Stats(); st.Duplicates != 2*uint64(len(keys)) || st.Ignored() != 0 || st.Rearmed != 0 {
		t.Errorf("receiver stats %+v", st)
	}
}

// Enqueue from control goroutines while the media clock calls Next.
func TestDTMFSenderConcurrent(t *testing.T) {
	defer goleak.VerifyNone(t)
	var s DTMFSender
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				for s.Enqueue("12", 40*time.Millisecond) != nil {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	var starts int
	var p [4]byte
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	finished := false
	for i := 0; ; i++ {
		if _, _, marker, _ := s.Next(p[:], uint32(i*FrameSamples)); marker {
			starts++
		}
		if !finished {
			select {
			case <-done:
				finished = true
			default:
				continue
			}
		}
		if s.Pending() == 0 {
			break
		}
	}
	if starts != 40 {
		t.Fatalf("sent %d keys, want 40", starts)
	}
}

func TestDTMFSenderNextAllocs(t *testing.T) {
	var s DTMFSender
	var p [4]byte
	ts := uint32(0)
	idle := testing.AllocsPerRun(1000, func() { s.Next(p[:], ts); ts += FrameSamples })
	if err := s.Enqueue(strings.Repeat("5", dtmfQueueLen), 0); err != nil {
		t.Fatal(err)
	}
	active := testing.AllocsPerRun(300, func() { s.Next(p[:], ts); ts += FrameSamples })
	if idle != 0 || active != 0 {
		t.Fatalf("Next allocates: %v idle, %v active", idle, active)
	}
}

func BenchmarkDTMFSenderNextIdle(b *testing.B) {
	var s DTMFSender
	var p [4]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Next(p[:], uint32(i*FrameSamples))
	}
}

func BenchmarkDTMFSenderNextActive(b *testing.B) {
	var s DTMFSender
	var p [4]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if s.Pending() == 0 {
			_ = s.Enqueue("1234567890", 0)
		}
		s.Next(p[:], uint32(i*FrameSamples))
	}
}
