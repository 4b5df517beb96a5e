package media

import (
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// newBenchLeg is a configured, unstarted leg that sends to a discard peer.
func newBenchLeg(tb testing.TB) *RTPLeg {
	e := newTestEngine(tb)
	peer := newPeer(tb)
	leg, err := e.NewRTPLeg(RTPLegOptions{ID: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { leg.Close() })
	leg.Configure(Remote{Addr: addrOf(peer), Codec: PCMU, DTMFPT: 101, Send: true, Recv: true})
	return leg
}

// The send path: one frame out (de-jitter in, source read, RTP header, sendto).
func TestSendPathAllocatesNothing(t *testing.T) {
	leg := newBenchLeg(t)
	leg.SetOutbound(NewLoop(tonePrompt(440, time.Second)))
	leg.Tap(ToParty, discardSink{})
	leg.Tap(FromParty, discardSink{})
	leg.frame()
	if n := testing.AllocsPerRun(1000, leg.frame); n != 0 {
		t.Errorf("send path allocates %.1f times per packet, want 0", n)
	}
}

// The receive path: parse, latch, statistics, jitter buffer.
func TestReceivePathAllocatesNothing(t *testing.T) {
	leg := newBenchLeg(t)
	from := netip.MustParseAddrPort("127.0.0.1:5004")
	pkts := benchPackets()
	var h rtp.Header
	i := 0
	now := time.Now()
	recv := func() {
		leg.receive(pkts[i%len(pkts)], from, now, &h)
		i++
	}
	recv()
	if n := testing.AllocsPerRun(1000, recv); n != 0 {
		t.Errorf("receive path allocates %.1f times per packet, want 0", n)
	}
}

type discardSink struct{}

func (discardSink) WriteFrame(Codec, []byte) {}

func benchPackets() [][]byte {
	out := make([][]byte, 256)
	for i := range out {
		out[i] = rtpPacket(0, uint16(i), uint32(i*FrameSamples), 0x1234, make([]byte, FrameSamples))
	}
	return out
}

func BenchmarkSendPath(b *testing.B) {
	leg := newBenchLeg(b)
	leg.SetOutbound(NewLoop(tonePrompt(440, time.Second)))
	b.ReportAllocs()
	for b.Loop() {
		leg.frame()
	}
}

func BenchmarkReceivePath(b *testing.B) {
	leg := newBenchLeg(b)
	from := netip.MustParseAddrPort("127.0.0.1:5004")
	pkts := benchPackets()
	var h rtp.Header
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		leg.receive(pkts[i%len(pkts)], from, now, &h)
		if i%2 == 0 { // keep the jitter buffer draining, as the clock would
			leg.jb.pop(leg.inFrame[:])
		}
		i++
	}
}

// FuzzRTPReceive feeds arbitrary datagrams to the receive path: it must never panic, and
// what it accepts must be a well-formed packet of a negotiated payload type.
func FuzzRTPReceive(f *testing.F) {
	f.Add(rtpPacket(0, 1, 160, 7, make([]byte, 160)))
	f.Add(rtpPacket(101, 2, 160, 7, []byte{5, 0x80, 0, 160}))
	f.Add(rtpPacket(101, 3, 160, 8, []byte{11, 0, 0, 0}))
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2})
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0})
	f.Add([]byte{})
	leg := newBenchLeg(f)
	from := netip.MustParseAddrPort("127.0.0.1:5004")
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var h rtp.Header
		before := leg.Stats().PacketsIn
		leg.receive(pkt, from, time.Now(), &h)
		if leg.Stats().PacketsIn > before {
			var p rtp.Header
			if _, err := p.Unmarshal(pkt); err != nil || (p.PayloadType != 0 && p.PayloadType != 101) {
				t.Fatalf("accepted a packet that is not a negotiated RTP packet: % x", pkt)
			}
		}
		leg.jb.pop(leg.inFrame[:])
	})
}

// The whole receive path of a started SIP leg: the clock's drain of the ticked set (or
// the poller's wake for a relaying leg), recvfrom, parse, jitter buffer, while the clock
// sends. Counted over the process: the sender in this
// test does not allocate either.
func TestPolledReceiveAllocatesNothing(t *testing.T) {
	leg := newBenchLeg(t)
	if err := leg.Start(); err != nil {
		t.Fatal(err)
	}
	peer := newPeer(t)
	pkts := benchPackets()
	to := leg.LocalAddr()
	send := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := peer.WriteToUDPAddrPort(pkts[i%len(pkts)], to); err != nil {
				t.Fatal(err)
			}
			if i%16 == 15 {
				time.Sleep(time.Millisecond) // let the poller keep up: no kernel drops
			}
		}
	}
	waitIn := func(n uint64) {
		deadline := time.Now().Add(10 * time.Second)
		for leg.nIn.Load() < n { // not Stats: it allocates its strings
			if time.Now().After(deadline) {
				t.Fatalf("received %d packets, want %d", leg.nIn.Load(), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(256) // warm up: latching, first wake-ups
	waitIn(256)
	const n = 4096
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	send(n)
	waitIn(256 + n)
	runtime.ReadMemStats(&after)
	if per := float64(after.Mallocs-before.Mallocs) / n; per > 0.05 {
		t.Errorf("%.3f allocations per received packet (%d over %d packets), want 0", per, after.Mallocs-before.Mallocs, n)
	}
}

// A leg whose packets are relayed is read as they come (the live set); when the relay
// ends it goes back to being read at the clock's tick.
func TestRelayingLegIsReadLive(t *testing.T) {
	a, b := newBenchLeg(t), newBenchLeg(t)
	for _, l := range []*RTPLeg{a, b} {
		if err := l.Start(); err != nil {
			t.Fatal(err)
		}
	}
	live := func(l *RTPLeg) bool {
		pl := l.poll.Load()
		pl.mu.Lock()
		defer pl.mu.Unlock()
		return pl.legs[l.pollID].live
	}
	if live(a) || live(b) {
		t.Fatal("legs read live before any relay")
	}
	Bridge(a, b)
	if !live(a) || !live(b) {
		t.Fatalf("bridged legs read live: a %v b %v, want both", live(a), live(b))
	}
	b.SetOutbound(NewLoop(tonePrompt(440, time.Second))) // b no longer hears a's packets
	if live(a) || !live(b) {
		t.Errorf("after b's own outbound: a live %v (want false), b live %v (want true)", live(a), live(b))
	}
}
