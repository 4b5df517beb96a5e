package media

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Two RTP legs of one codec bridged: each packet a party sends leaves the other leg at once,
// with that leg's SSRC and sequence and the same payload, and no paced copy beside it; when
// the bridge ends, the leg plays its own source again.
func TestBridgeRelaysPackets(t *testing.T) {
	e := newTestEngine(t)
	peerA, peerB := newPeer(t), newPeer(t)
	a, _ := e.NewRTPLeg(RTPLegOptions{ID: "a"})
	b, _ := e.NewRTPLeg(RTPLegOptions{ID: "b"})
	defer a.Close()
	defer b.Close()
	a.Configure(Remote{Addr: addrOf(peerA), Codec: PCMU, DTMFPT: 101, Send: true, Recv: true})
	b.Configure(Remote{Addr: addrOf(peerB), Codec: PCMU, DTMFPT: 96, Send: true, Recv: true})
	a.Start()
	b.Start()
	Bridge(a, b)

	// Drain what b sent before the first relayed packet (nothing, or silence at start).
	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	var sent [][]byte
	for i := 0; i < 10; i++ {
		payload := bytes.Repeat([]byte{byte(0x10 + i)}, FrameSamples)
		sent = append(sent, payload)
		peerA.WriteToUDP(rtpPacket(0, uint16(500+i), uint32(8000+i*FrameSamples), 0xa11ce, payload), dst)
		time.Sleep(5 * time.Millisecond) // well inside relayGap, so no fill-in belongs between them
	}
	peerA.WriteToUDP(rtpPacket(101, 510, 9600, 0xa11ce, []byte{5, 0x80, 0, 160}), dst) // a key
	buf := make([]byte, 1500)
	var got []rtp.Packet
	peerB.SetReadDeadline(time.Now().Add(400 * time.Millisecond))
	for {
		n, _, err := peerB.ReadFromUDP(buf)
		if err != nil {
			break
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatal(err)
		}
		got = append(got, p)
	}
	// Find the relayed packets: the sent payloads in order, then the event.
	first, last := -1, -1
	audio, events := 0, 0
	for i, p := range got {
		switch {
		case p.PayloadType == 0 && audio < len(sent) && bytes.Equal(p.Payload, sent[audio]):
			if first < 0 {
				first = i
			}
			audio++
			last = i
		case p.PayloadType == 96: // the event, in b's telephone-event payload type
			events++
			last = i
		}
	}
	if audio != len(sent) || events != 1 {
		t.Fatalf("b's peer got %d packets: %d relayed audio (want %d, in order) and %d events (want 1)", len(got), audio, len(sent), events)
	}
	if between := last - first + 1; between != audio+events {
		t.Errorf("%d paced packets went out in the middle of the relayed stream", between-audio-events)
	}
	if last == len(got)-1 {
		t.Error("b fell silent when a stopped talking: the far end would lose its stream")
	}
	for _, p := range got[last+1:] { // the fill-in is silence, never audio sent twice
		if p.PayloadType == 0 && !bytes.Equal(p.Payload, bytes.Repeat([]byte{0xff}, FrameSamples)) {
			t.Fatalf("after the relayed stream b sent audio %x…", p.Payload[:4])
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].SSRC != got[0].SSRC || got[i].SequenceNumber != got[i-1].SequenceNumber+1 {
			t.Fatalf("packet %d: SSRC %x seq %d after %d", i, got[i].SSRC, got[i].SequenceNumber, got[i-1].SequenceNumber)
		}
	}

	// The bridge ends (b hears a prompt now): b sends on its own clock again.
	b.SetOutbound(Silence{})
	peerB.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	paced := 0
	for {
		if _, _, err := peerB.ReadFromUDP(buf); err != nil {
			break
		}
		paced++
	}
	if paced < 8 {
		t.Errorf("after the bridge ended b sent %d packets in 300 ms", paced)
	}
	if a.relayTo.Load() != nil || b.relayFrom.Load() != nil {
		t.Error("relay state left behind")
	}
}

// Closing one party ends the relay both ways; the other leg plays its source again.
func TestBridgeEndsWhenALegCloses(t *testing.T) {
	e := newTestEngine(t)
	a, _ := e.NewRTPLeg(RTPLegOptions{})
	b, _ := e.NewRTPLeg(RTPLegOptions{})
	defer b.Close()
	for _, l := range []*RTPLeg{a, b} {
		l.Configure(Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: PCMA, Send: true, Recv: true})
	}
	Bridge(a, b)
	a.Close()
	if b.relayFrom.Load() != nil || b.relayTo.Load() != nil {
		t.Error("b still bridged to a closed leg")
	}
	// Different codecs are bridged on the clock, with no relay.
	c, _ := e.NewRTPLeg(RTPLegOptions{})
	defer c.Close()
	c.Configure(Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: PCMU, Send: true, Recv: true})
	Bridge(b, c)
	if b.relayTo.Load() != nil || c.relayTo.Load() != nil {
		t.Error("a μ-law and an A-law leg were relayed without transcoding")
	}
}

func TestRelayAllocatesNothing(t *testing.T) {
	a := newBenchLeg(t)
	b := newBenchLeg(t)
	Bridge(a, b)
	from := netip.MustParseAddrPort("127.0.0.1:5004")
	pkts := benchPackets()
	var h rtp.Header
	i := 0
	recv := func() {
		a.receive(pkts[i%len(pkts)], from, time.Now(), &h)
		i++
	}
	recv()
	if n := testing.AllocsPerRun(500, recv); n != 0 {
		t.Errorf("a relayed packet allocates %.1f times", n)
	}
}

// BenchmarkRelay is the bridge's cost per forwarded packet: parse, jitter buffer (for
// taps and readers) and the send on the other leg.
func BenchmarkRelay(b *testing.B) {
	x := newBenchLeg(b)
	y := newBenchLeg(b)
	Bridge(x, y)
	from := netip.MustParseAddrPort("127.0.0.1:5004")
	pkts := benchPackets()
	var h rtp.Header
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		x.receive(pkts[i%len(pkts)], from, time.Now(), &h)
		if i%2 == 0 {
			x.jb.pop(x.inFrame[:])
		}
		i++
	}
}

// keptFrames is a tap that keeps every frame it is given, in order.
type keptFrames struct {
	mu     sync.Mutex
	frames [][]byte
}

func (f *keptFrames) WriteFrame(_ Codec, p []byte) {
	f.mu.Lock()
	f.frames = append(f.frames, append([]byte(nil), p...))
	f.mu.Unlock()
}

func (f *keptFrames) firstBytes() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	var b []byte
	for _, p := range f.frames {
		b = append(b, p[0])
	}
	return b
}

// relayedPair bridges two PCMU legs (so they relay) and returns the first with the
// socket its party sends from.
func relayedPair(t *testing.T) (*RTPLeg, *net.UDPConn) {
	e := newTestEngine(t)
	peerA, peerB := newPeer(t), newPeer(t)
	a, _ := e.NewRTPLeg(RTPLegOptions{ID: "a"})
	b, _ := e.NewRTPLeg(RTPLegOptions{ID: "b"})
	t.Cleanup(func() { a.Close(); b.Close() })
	a.Configure(Remote{Addr: addrOf(peerA), Codec: PCMU, Send: true, Recv: true})
	b.Configure(Remote{Addr: addrOf(peerB), Codec: PCMU, Send: true, Recv: true})
	a.Start()
	b.Start()
	Bridge(a, b)
	return a, peerA
}

// While a party's packets are relayed, its inbound taps (the recording) get each frame
// as it arrives, in sequence order: a lost packet becomes silence, a late or repeated one
// is left out, and the de-jittered path adds nothing beside them.
func TestRelayedLegTapsFramesAsTheyArrive(t *testing.T) {
	a, peerA := relayedPair(t)
	time.Sleep(readerIdle + 20*time.Millisecond) // past any read the bridge's start made
	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	send := func(seq uint16, fill byte) {
		payload := bytes.Repeat([]byte{fill}, FrameSamples)
		peerA.WriteToUDP(rtpPacket(0, seq, uint32(seq)*FrameSamples, 0xa11ce, payload), dst)
		time.Sleep(5 * time.Millisecond)
	}
	// A first packet takes the leg off the clock's path before the tap is there, so the
	// tap cannot get a de-jittered frame of silence from before it.
	send(99, 0x00)
	time.Sleep(2 * FrameDuration)
	if !a.tapsNow.Load() {
		t.Fatal("a relayed leg nobody reads still goes through the jitter buffer")
	}
	tap := &keptFrames{}
	defer a.Tap(FromParty, tap)()
	send(100, 0x01)
	send(101, 0x02)
	send(103, 0x04) // 102 lost
	send(102, 0x03) // … and arrives late
	send(103, 0x04) // a repeat
	send(104, 0x05)
	send(110, 0x0b) // a jump of six: three frames of silence at most
	time.Sleep(100 * time.Millisecond)

	want := []byte{0x01, 0x02, 0xff, 0x04, 0x05, 0xff, 0xff, 0xff, 0x0b}
	if got := tap.firstBytes(); !bytes.Equal(got, want) {
		t.Fatalf("the tap got frames % x, want % x", got, want)
	}
}

// Someone reading a relayed party paced (a supervisor listening) gets its audio: the leg
// goes back to de-jittering, and its taps get the de-jittered frames instead.
func TestRelayedLegReadPacedWhenSomeoneListens(t *testing.T) {
	a, peerA := relayedPair(t)
	tap := &keptFrames{}
	defer a.Tap(FromParty, tap)()
	listener := a.Inbound()

	dst := net.UDPAddrFromAddrPort(a.LocalAddr())
	heard := 0
	frame := make([]byte, FrameSamples)
	for i := range 40 {
		payload := bytes.Repeat([]byte{0x42}, FrameSamples)
		peerA.WriteToUDP(rtpPacket(0, uint16(i), uint32(i)*FrameSamples, 0xa11ce, payload), dst)
		time.Sleep(FrameDuration)
		if listener.ReadFrame(PCMU, frame) && frame[0] == 0x42 {
			heard++
		}
	}
	if heard < 5 { // without the switch back it hears nothing; a loaded machine reads late
		t.Fatalf("a supervisor reading the relayed party heard %d of 40 frames", heard)
	}
	if a.tapsNow.Load() {
		t.Error("a relayed leg with a reader still skips the jitter buffer")
	}
	n := 0
	for _, b := range tap.firstBytes() {
		if b == 0x42 {
			n++
		}
	}
	if n > 40 {
		t.Errorf("the tap got %d frames of the party's 40: some twice", n)
	}
}
