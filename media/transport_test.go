package media

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// pipe is a single-peer transport in memory: what one end writes, the other reads, as a
// WebRTC track pair would carry it.
type pipe struct {
	in     chan []byte
	peer   *pipe
	once   sync.Once
	closed chan struct{}
}

func newPipe() (*pipe, *pipe) {
	a := &pipe{in: make(chan []byte, 64), closed: make(chan struct{})}
	b := &pipe{in: make(chan []byte, 64), closed: make(chan struct{})}
	a.peer, b.peer = b, a
	return a, b
}

func (p *pipe) ReadRTP(b []byte) (int, netip.AddrPort, error) {
	select {
	case pkt := <-p.in:
		return copy(b, pkt), netip.AddrPort{}, nil
	case <-p.closed:
		return 0, netip.AddrPort{}, errors.New("closed")
	}
}

func (p *pipe) WriteRTP(b []byte, _ netip.AddrPort) error {
	select {
	case p.peer.in <- append([]byte(nil), b...):
	default: // a full peer drops, as a network would
	}
	return nil
}

func (p *pipe) SinglePeer() bool { return true }
func (p *pipe) Close() error     { p.once.Do(func() { close(p.closed) }); return nil }

// Two legs over a single-peer transport carry audio both ways with no address at all.
func TestLegOverSinglePeerTransport(t *testing.T) {
	e := newTestEngine(t)
	ta, tb := newPipe()
	a, err := e.NewLeg(RTPLegOptions{ID: "a"}, ta)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := e.NewLeg(RTPLegOptions{ID: "b"}, tb)
	defer a.Close()
	defer b.Close()
	for _, l := range []*RTPLeg{a, b} {
		l.Configure(Remote{Codec: PCMU, DTMFPT: 101, Send: true, Recv: true})
	}
	a.SetOutbound(NewToneSource(0.5, 941))
	b.SetOutbound(NewToneSource(0.5, 1633))
	inA, inB := a.Inbound(), b.Inbound()
	a.Start()
	b.Start()
	var heardA, heardB []int16
	frame := make([]byte, FrameSamples)
	pcm := make([]int16, FrameSamples)
	for i := 0; i < 40; i++ {
		time.Sleep(FrameDuration)
		for inA.ReadFrame(PCMU, frame) {
			DecodeFrame(PCMU, pcm, frame)
			heardA = append(heardA, pcm...)
		}
		for inB.ReadFrame(PCMU, frame) {
			DecodeFrame(PCMU, pcm, frame)
			heardB = append(heardB, pcm...)
		}
	}
	if share := ToneShare(heardB[len(heardB)/2:], 941); share < 0.5 {
		t.Errorf("b heard a's tone with share %.2f", share)
	}
	if share := ToneShare(heardA[len(heardA)/2:], 1633); share < 0.5 {
		t.Errorf("a heard b's tone with share %.2f", share)
	}
	if err := a.SendDTMF("5", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-b.Digits():
		if d.Key != '5' {
			t.Errorf("digit %q", d.Key)
		}
	case <-time.After(2 * time.Second):
		t.Error("the digit did not cross the transport")
	}
	if st := a.Stats(); st.Local != "" || st.Remote != "" || st.PacketsOut == 0 {
		t.Errorf("stats of a single-peer leg: %+v", st)
	}
}
