package media

import (
	"bytes"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// loggedFrames is a LoggedSink that keeps what it is given and when, and notes each
// WarmFrame and write in one sequence.
type loggedFrames struct {
	keptFrames
	evMu   sync.Mutex
	events []string
	ats    []time.Time
}

func (f *loggedFrames) WarmFrame(at time.Time) {
	f.evMu.Lock()
	f.events = append(f.events, "warm "+at.Format("05.000000"))
	f.evMu.Unlock()
}

func (f *loggedFrames) WriteFrameAt(c Codec, p []byte, at time.Time) {
	f.evMu.Lock()
	f.events = append(f.events, "write "+at.Format("05.000000"))
	f.ats = append(f.ats, at)
	f.evMu.Unlock()
	f.WriteFrame(c, p)
}

func (f *loggedFrames) snapshot() ([]string, []time.Time) {
	f.evMu.Lock()
	defer f.evMu.Unlock()
	return append([]string(nil), f.events...), append([]time.Time(nil), f.ats...)
}

// The log hands each sink its frames in the order they came, with their times, after
// warming every frame of the batch; nothing reaches a sink before the drain.
func TestFrameLogDrainsInOrderAfterWarming(t *testing.T) {
	fl := newFrameLog()
	a, b := &loggedFrames{}, &loggedFrames{}
	t0 := time.Now()
	for i := range 3 {
		fl.add(a, PCMU, frameOf(byte(0x10+i), FrameSamples), t0.Add(time.Duration(i)*time.Millisecond))
		fl.add(b, PCMA, frameOf(byte(0x20+i), FrameSamples), t0.Add(time.Duration(i)*time.Millisecond))
	}
	if got := a.firstBytes(); len(got) != 0 {
		t.Fatalf("a sink got frames % x before the drain", got)
	}
	fl.drain()
	if got, want := a.firstBytes(), []byte{0x10, 0x11, 0x12}; !bytes.Equal(got, want) {
		t.Fatalf("a got % x, want % x", got, want)
	}
	if got, want := b.firstBytes(), []byte{0x20, 0x21, 0x22}; !bytes.Equal(got, want) {
		t.Fatalf("b got % x, want % x", got, want)
	}
	events, ats := a.snapshot()
	for i, e := range events {
		if want := i < 3; (e[:4] == "warm") != want {
			t.Fatalf("events %v: every frame is warmed before any is written", events)
		}
	}
	for i, at := range ats {
		if want := t0.Add(time.Duration(i) * time.Millisecond); !at.Equal(want) {
			t.Errorf("frame %d arrived at %v, want %v", i, at, want)
		}
	}
	fl.drain() // nothing left: nothing again
	if got := a.firstBytes(); len(got) != 3 {
		t.Fatalf("a second drain gave a %d frames, want 3", len(got))
	}
}

// A log whose clock stalls fills up: the producer drains it itself, and no frame is
// lost or reordered.
func TestFrameLogFullDrainsAtOnce(t *testing.T) {
	fl := newFrameLog()
	s := &loggedFrames{}
	const n = frameLogSize*2 + 10
	for i := range n {
		fl.add(s, PCMU, frameOf(byte(i), FrameSamples), time.Now())
	}
	if got := len(s.firstBytes()); got != 2*frameLogSize {
		t.Fatalf("after %d frames without a tick the sink has %d, want %d", n, got, 2*frameLogSize)
	}
	fl.drain()
	got := s.firstBytes()
	if len(got) != n {
		t.Fatalf("the sink got %d frames, want %d", len(got), n)
	}
	for i, b := range got {
		if b != byte(i) {
			t.Fatalf("frame %d is %#x, want %#x: out of order", i, b, byte(i))
		}
	}
}

// Producers on several goroutines and a draining clock: every frame arrives once, and
// each producer's frames in order.
func TestFrameLogConcurrent(t *testing.T) {
	fl := newFrameLog()
	const producers, each = 4, 3000
	sinks := make([]*loggedFrames, producers)
	var wg sync.WaitGroup
	for p := range sinks {
		sinks[p] = &loggedFrames{}
		wg.Go(func() {
			for i := range each {
				fl.add(sinks[p], PCMU, frameOf(byte(i), FrameSamples), time.Now())
			}
		})
	}
	stop := make(chan struct{})
	var drains sync.WaitGroup
	drains.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				fl.drain()
			}
		}
	})
	wg.Wait()
	close(stop)
	drains.Wait()
	fl.drain()
	for p, s := range sinks {
		got := s.firstBytes()
		if len(got) != each {
			t.Fatalf("sink %d got %d frames, want %d", p, len(got), each)
		}
		for i, b := range got {
			if b != byte(i) {
				t.Fatalf("sink %d: frame %d is %#x, want %#x", p, i, b, byte(i))
			}
		}
	}
}

// Adding a frame and draining it allocate nothing.
func TestFrameLogAllocatesNothing(t *testing.T) {
	fl := newFrameLog()
	s := &countingSink{}
	frame := frameOf(0x55, FrameSamples)
	now := time.Now()
	allocs := testing.AllocsPerRun(100, func() {
		for range 64 {
			fl.add(s, PCMU, frame, now)
		}
		fl.drain()
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per 64 frames logged and drained, want 0", allocs)
	}
	if s.n != 101*64 {
		t.Fatalf("the sink got %d frames, want %d", s.n, 101*64)
	}
}

type countingSink struct{ n, warm int }

func (s *countingSink) WriteFrame(Codec, []byte)                    { s.n++ }
func (s *countingSink) WriteFrameAt(c Codec, p []byte, _ time.Time) { s.WriteFrame(c, p) }
func (s *countingSink) WarmFrame(time.Time)                         { s.warm++ }

// A relayed party's frames reach a logged sink (a recording) through the clock's frame
// log: the same frames as a plain tap gets, in the same order, stamped with when they
// arrived; and once the tap is removed, everything logged for it has been handed over.
func TestRelayedLegLogsFramesForLoggedSinks(t *testing.T) {
	a, peerA := relayedPair(t)
	time.Sleep(readerIdle + 20*time.Millisecond)
	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	var sent []time.Time
	send := func(seq uint16, fill byte) {
		sent = append(sent, time.Now())
		peerA.WriteToUDP(rtpPacket(0, seq, uint32(seq)*FrameSamples, 0xa11ce, frameOf(fill, FrameSamples)), dst)
		time.Sleep(5 * time.Millisecond)
	}
	send(99, 0x00)
	time.Sleep(2 * FrameDuration)
	plain, logged := &keptFrames{}, &loggedFrames{}
	untapPlain := a.Tap(FromParty, plain)
	untapLogged := a.Tap(FromParty, logged)
	defer untapPlain()
	sent = nil
	send(100, 0x01)
	send(101, 0x02)
	send(103, 0x04) // 102 lost
	send(102, 0x03) // late
	send(104, 0x05)
	time.Sleep(50 * time.Millisecond)
	send(110, 0x0b) // gap: silence, then the frame, which the untap must not lose
	untapLogged()

	want := []byte{0x01, 0x02, 0xff, 0x04, 0x05, 0xff, 0xff, 0xff, 0x0b}
	if got := logged.firstBytes(); !bytes.Equal(got, want) {
		t.Fatalf("the logged tap got % x, want % x", got, want)
	}
	if got := plain.firstBytes(); !bytes.Equal(got, want) {
		t.Fatalf("the plain tap got % x, want % x", got, want)
	}
	_, ats := logged.snapshot()
	arrivals := []int{0, 1, 2, 2, 4, 5, 5, 5, 5} // the send each frame came with (silence with the next one)
	for i, at := range ats {
		s := sent[arrivals[i]]
		if at.Before(s) || at.After(s.Add(25*time.Millisecond)) {
			t.Errorf("frame %d stamped %s after its packet was sent, want its arrival (0 to 25 ms)", i, fmt.Sprint(at.Sub(s)))
		}
	}
}

// panicky is a logged sink with a bug: it panics on one frame, or in every WarmFrame.
type panicky struct {
	loggedFrames
	bad        byte
	warmPanics bool
}

func (p *panicky) WarmFrame(at time.Time) {
	if p.warmPanics {
		panic("warm")
	}
	p.loggedFrames.WarmFrame(at)
}

func (p *panicky) WriteFrameAt(c Codec, b []byte, at time.Time) {
	if b[0] == p.bad {
		panic("bad frame")
	}
	p.loggedFrames.WriteFrameAt(c, b, at)
}

// A sink that panics loses the frame it panicked on, and only that: the other frames
// of the batch, its own and other sinks', are handed over, the panic is counted, and the
// drain returns (the clock goes on).
func TestFrameLogSurvivesAPanickingSink(t *testing.T) {
	for _, warmPanics := range []bool{false, true} {
		fl := newFrameLog()
		fl.panics = prometheus.NewCounter(prometheus.CounterOpts{Name: "panics"})
		bug := &panicky{bad: 0x03, warmPanics: warmPanics}
		ok := &loggedFrames{}
		for i := byte(1); i <= 5; i++ {
			fl.add(bug, PCMU, frameOf(i, FrameSamples), time.Now())
			fl.add(ok, PCMU, frameOf(0x10+i, FrameSamples), time.Now())
		}
		fl.drain()
		if got, want := bug.firstBytes(), []byte{1, 2, 4, 5}; !bytes.Equal(got, want) {
			t.Errorf("warm panics %v: the buggy sink got % x, want % x", warmPanics, got, want)
		}
		if got, want := ok.firstBytes(), []byte{0x11, 0x12, 0x13, 0x14, 0x15}; !bytes.Equal(got, want) {
			t.Errorf("warm panics %v: the other sink got % x, want % x", warmPanics, got, want)
		}
		want := 1.0
		if warmPanics {
			want = 2 // the warming and the bad frame
		}
		if got := testutil.ToFloat64(fl.panics); got != want {
			t.Errorf("warm panics %v: %v panics counted, want %v", warmPanics, got, want)
		}
	}
}

// warmLeg and warmTick read legs of every shape (not configured, not started, relaying to
// a leg over another transport, relayed UDP legs) and change nothing a packet or the stats
// see. (Race builds do not warm: this test runs the reads in the suite's run without -race.)
func TestWarmLegReadsAnyLegAndChangesNothing(t *testing.T) {
	e := newTestEngine(t)
	bare, err := e.NewRTPLeg(RTPLegOptions{ID: "bare"})
	if err != nil {
		t.Fatal(err)
	}
	defer bare.Close()
	ta, _ := newPipe()
	overPipe, _ := e.NewLeg(RTPLegOptions{ID: "pipe"}, ta)
	defer overPipe.Close()
	overPipe.Configure(Remote{Codec: PCMU, Send: true, Recv: true})
	a, peerA := relayedPair(t)
	b := a.relayTo.Load()
	if b == nil {
		t.Fatal("the pair does not relay")
	}
	bare.relayTo.Store(overPipe) // a relay to a leg without a socket
	defer bare.relayTo.Store(nil)
	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	peerA.WriteToUDP(rtpPacket(0, 1, FrameSamples, 0xa11ce, frameOf(1, FrameSamples)), dst)
	time.Sleep(50 * time.Millisecond)
	legs := []*RTPLeg{bare, overPipe, a, b}
	received := func() (s []string) {
		for _, l := range legs {
			st := l.Stats()
			s = append(s, fmt.Sprint(st.PacketsIn, st.Dropped, st.Late, st.LatchChanges, st.Remote))
		}
		return s
	}
	before := received()
	for range 3 {
		for _, l := range legs {
			warmLeg(l)
			warmTick(l)
		}
	}
	if after := received(); fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("the legs' receive figures changed by warming: %v → %v", before, after)
	}
	if got := a.Stats().PacketsIn; got != 1 {
		t.Errorf("the relayed leg received %d packets, want 1", got)
	}
}

// stuckTicker holds its media clock in its first tick until released.
type stuckTicker struct {
	in      chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stuckTicker) tick(time.Time) {
	s.once.Do(func() {
		close(s.in)
		<-s.release
	})
}

// The poller hands a batch's logged frames over after the batch, without waiting for the
// media clock: a clock held up (here by a tick that does not return) delays no recording.
func TestPollerHandsOverLoggedFramesAfterItsBatch(t *testing.T) {
	a, peerA := relayedPair(t)
	time.Sleep(readerIdle + 20*time.Millisecond)
	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	send := func(seq uint16, fill byte) {
		peerA.WriteToUDP(rtpPacket(0, seq, uint32(seq)*FrameSamples, 0xa11ce, frameOf(fill, FrameSamples)), dst)
	}
	send(99, 0x00)
	time.Sleep(2 * FrameDuration)
	logged := &loggedFrames{}
	untap := a.Tap(FromParty, logged)
	defer untap()

	stuck := &stuckTicker{in: make(chan struct{}), release: make(chan struct{})}
	start := time.Now()
	a.pacer.add(stuck, start)
	defer a.pacer.remove(stuck, start)
	defer close(stuck.release)
	select {
	case <-stuck.in:
	case <-time.After(time.Second):
		t.Fatal("the media clock never ticked")
	}
	send(100, 0x01)
	send(101, 0x02)
	deadline := time.Now().Add(time.Second)
	for len(logged.firstBytes()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got, want := logged.firstBytes(), []byte{0x01, 0x02}; !bytes.Equal(got, want) {
		t.Fatalf("with the clock held, the logged tap got % x, want % x", got, want)
	}
}
