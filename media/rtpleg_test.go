package media

import (
	"encoding/binary"
	"math"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"
)

func newTestEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := NewEngine(EngineConfig{PortMin: 41000, PortMax: 41999, Pacers: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// peer is the far end of a leg in tests: a UDP socket on loopback.
func newPeer(t testing.TB) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

func tonePrompt(freq float64, d time.Duration) *Prompt {
	n := int(d * SampleRate / time.Second)
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/SampleRate))
	}
	return NewPrompt("tone", pcm)
}

// TestLegPlaysPromptPaced: the far end receives the prompt, paced every 20 ms, as PCMA.
func TestLegPlaysPromptPaced(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last, after the engine closed
	e := newTestEngine(t)
	peer := newPeer(t)
	leg, err := e.NewRTPLeg(RTPLegOptions{ID: "t1"})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	leg.Configure(Remote{Addr: addrOf(peer), Codec: PCMA, Send: true, Recv: true})
	p := NewPlayer(tonePrompt(1000, time.Second))
	leg.SetOutbound(p)
	if err := leg.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	var pcm []int16
	var arrivals []time.Time
	var seqs []uint16
	_ = peer.SetReadDeadline(time.Now().Add(3 * time.Second))
	for len(arrivals) < 40 {
		n, _, err := peer.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("after %d packets: %v", len(arrivals), err)
		}
		var pkt rtp.Packet
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		if pkt.PayloadType != uint8(PCMA) || len(pkt.Payload) != FrameSamples {
			t.Fatalf("packet PT %d len %d", pkt.PayloadType, len(pkt.Payload))
		}
		arrivals = append(arrivals, time.Now())
		seqs = append(seqs, pkt.SequenceNumber)
		dec := make([]int16, FrameSamples)
		DecodeFrame(PCMA, dec, pkt.Payload)
		pcm = append(pcm, dec...)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence jumps from %d to %d", seqs[i-1], seqs[i])
		}
	}
	span := arrivals[len(arrivals)-1].Sub(arrivals[0])
	if want := 39 * FrameDuration; span < want-30*time.Millisecond || span > want+60*time.Millisecond {
		t.Errorf("40 packets spanned %v, want about %v", span, want)
	}
	if lvl := ToneLevel(pcm[FrameSamples:], 1000); lvl < -20 {
		t.Errorf("1 kHz tone level %.1f dBFS at the far end; the prompt did not arrive", lvl)
	}
	if lvl := ToneLevel(pcm[FrameSamples:], 1700); lvl > -40 {
		t.Errorf("1.7 kHz level %.1f dBFS: the far end hears something else", lvl)
	}
	if st := leg.Stats(); st.PacketsOut < 39 {
		t.Errorf("stats say %d packets out", st.PacketsOut)
	}
}

func rtpPacket(pt uint8, seq uint16, ts, ssrc uint32, payload []byte) []byte {
	b := make([]byte, 12+len(payload))
	b[0] = 0x80
	b[1] = pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	copy(b[12:], payload)
	return b
}

// TestLegReceivesAndLatches: audio sent to the leg comes out of Inbound; the leg latches to
// the real source, and a stranger's packets are dropped.
func TestLegReceivesAndLatches(t *testing.T) {
	e := newTestEngine(t)
	peer := newPeer(t)
	stranger := newPeer(t)
	leg, err := e.NewRTPLeg(RTPLegOptions{ID: "t2"})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	// The SDP names a port where nobody sends from: latching must move to the real source.
	leg.Configure(Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: PCMU, Send: true, Recv: true})
	if err := leg.Start(); err != nil {
		t.Fatal(err)
	}
	in := leg.Inbound()
	tone := NewToneSource(0.5, 697)
	dst := net.UDPAddrFromAddrPort(leg.LocalAddr())
	var got []int16
	frame := make([]byte, FrameSamples)
	pcm := make([]int16, FrameSamples)
	start := time.Now()
	for i := 0; i < 50; i++ {
		tone.ReadFrame(PCMU, frame)
		if _, err := peer.WriteToUDP(rtpPacket(0, uint16(100+i), uint32(i*FrameSamples), 0xabc, frame), dst); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 { // a stranger injects packets of another stream: dropped
			_, _ = stranger.WriteToUDP(rtpPacket(0, 7, 7, 0xdead, frame), dst)
		}
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * FrameDuration)))
		out := make([]byte, FrameSamples)
		for in.ReadFrame(PCMU, out) {
			DecodeFrame(PCMU, pcm, out)
			got = append(got, pcm...)
		}
	}
	if len(got) < 30*FrameSamples {
		t.Fatalf("read only %d samples of inbound audio", len(got))
	}
	if lvl := ToneLevel(got[len(got)/2:], 697); lvl < -20 {
		t.Errorf("697 Hz level %.1f dBFS in the inbound audio", lvl)
	}
	st := leg.Stats()
	if st.Remote != addrOf(peer).String() {
		t.Errorf("sending to %s, want the latched source %s", st.Remote, addrOf(peer))
	}
	if st.Dropped < 5 {
		t.Errorf("dropped %d stranger packets, want 5", st.Dropped)
	}
	if st.PacketsIn != 50 {
		t.Errorf("accepted %d packets, want 50", st.PacketsIn)
	}
}

// TestLegMalformedPacketsCounted: garbage never crashes, never reaches the audio.
func TestLegMalformedPacketsCounted(t *testing.T) {
	e := newTestEngine(t)
	leg, err := e.NewRTPLeg(RTPLegOptions{ID: "t3"})
	if err != nil {
		t.Fatal(err)
	}
	defer leg.Close()
	leg.Configure(Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: PCMU, DTMFPT: 101, Send: true, Recv: true})
	from := netip.MustParseAddrPort("127.0.0.1:5004")
	var h rtp.Header
	for _, pkt := range [][]byte{
		{}, {0x80}, {0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		rtpPacket(55, 1, 1, 1, make([]byte, 160)),     // unknown payload type
		{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff}, // padding longer than the payload
		{0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1},       // 15 CSRCs announced, none there
	} {
		leg.receive(pkt, from, time.Now(), &h)
	}
	if st := leg.Stats(); st.Dropped != 6 || st.PacketsIn != 0 {
		t.Errorf("dropped %d, accepted %d; want 6 and 0", st.Dropped, st.PacketsIn)
	}
}

// TestLegRTPTimeout: a leg that hears nothing reports it; one on hold does not.
func TestLegRTPTimeout(t *testing.T) {
	e := newTestEngine(t)
	for _, recv := range []bool{true, false} {
		leg, err := e.NewRTPLeg(RTPLegOptions{ID: "t4", RTPTimeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		fired := make(chan struct{})
		leg.OnTimeout(func() { close(fired) })
		leg.Configure(Remote{Addr: netip.MustParseAddrPort("127.0.0.1:9"), Codec: PCMU, Send: true, Recv: recv})
		_ = leg.Start()
		select {
		case <-fired:
			if !recv {
				t.Error("timeout fired on a leg that expects no RTP (hold)")
			}
		case <-time.After(400 * time.Millisecond):
			if recv {
				t.Error("no timeout after 400 ms without RTP")
			}
		}
		leg.Close()
	}
}

// TestPortsReleased: every port comes back; the pool never leaks.
func TestPortsReleased(t *testing.T) {
	e, err := NewEngine(EngineConfig{PortMin: 42000, PortMax: 42007, Pacers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for round := 0; round < 3; round++ {
		var legs []*RTPLeg
		for i := 0; i < 4; i++ {
			l, err := e.NewRTPLeg(RTPLegOptions{})
			if err != nil {
				t.Fatalf("round %d leg %d: %v", round, i, err)
			}
			legs = append(legs, l)
		}
		if _, err := e.NewRTPLeg(RTPLegOptions{}); err != ErrNoPorts {
			t.Fatalf("a fifth leg in a 4-call range: err %v, want ErrNoPorts", err)
		}
		for _, l := range legs {
			l.Close()
		}
	}
}
