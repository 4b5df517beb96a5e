package testkit

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// RTPPacket is one received RTP packet and when it arrived.
type RTPPacket struct {
	From        netip.AddrPort
	At          time.Time
	PayloadType uint8
	Marker      bool
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	Payload     []byte
}

// DTMFEvent is an RFC 4733 telephone-event payload.
type DTMFEvent struct {
	Event    uint8 // 0-9, 10 '*', 11 '#', 12-15 A-D
	End      bool
	Volume   uint8
	Duration uint16 // timestamp units
}

// Key returns the event as a key ('0'…'9', '*', '#', 'A'…'D'), or 0.
func (e DTMFEvent) Key() byte { return eventKey(e.Event) }

// RTPProbe is a UDP endpoint on 127.0.0.1 that records every RTP packet it receives
// (to measure what a server sends: pacing, loss, audio) and can send RTP itself
// (a tone, a WAV, RFC 4733 digits), from the same socket so that a server doing
// symmetric RTP latches to it.
//
// Point a SIP offer's media address at Port() and the server's stream lands here.
// With Reply set, the probe answers every new source with audio of its own, as a
// phone does; that is how a probe call keeps the server's latch on the probe.
type RTPProbe struct {
	conn *net.UDPConn

	mu      sync.Mutex
	packets []RTPPacket
	reply   *replyConfig
	sources map[netip.AddrPort]bool
	wake    chan struct{}

	ctx    context.Context // ends when the probe closes; stops reply streams
	cancel context.CancelFunc
	done   chan struct{}
	wg     sync.WaitGroup
}

type replyConfig struct {
	pt  uint8
	pcm []int16
}

// NewRTPProbe listens on 127.0.0.1 on an even port (RTP convention) and closes
// when the test ends.
func NewRTPProbe(t testing.TB) *RTPProbe {
	t.Helper()
	p, err := ListenRTPProbe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// ListenRTPProbe is NewRTPProbe for programs (benchmarks): the caller must Close it.
func ListenRTPProbe() (*RTPProbe, error) {
	var conn *net.UDPConn
	var odd []*net.UDPConn
	defer func() {
		for _, c := range odd {
			c.Close()
		}
	}()
	for range 100 {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, fmt.Errorf("testkit: rtp probe: %w", err)
		}
		if c.LocalAddr().(*net.UDPAddr).Port%2 == 0 {
			conn = c
			break
		}
		// Hold odd ports until an even one comes, so the kernel moves on.
		odd = append(odd, c)
	}
	if conn == nil {
		return nil, errors.New("testkit: rtp probe: no even port")
	}
	_ = conn.SetReadBuffer(4 << 20)
	_ = conn.SetWriteBuffer(4 << 20)
	// Kernel receive timestamps: gaps measured when the packet arrived, not when a
	// busy test process got round to reading it.
	KernelTimestamps(conn)
	p := &RTPProbe{
		conn:    conn,
		sources: map[netip.AddrPort]bool{},
		wake:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.wg.Add(1)
	go p.readLoop()
	return p, nil
}

// Port is the probe's UDP port on 127.0.0.1.
func (p *RTPProbe) Port() int { return p.conn.LocalAddr().(*net.UDPAddr).Port }

// Addr is the probe's address.
func (p *RTPProbe) Addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(p.Port()))
}

// Close stops the probe; further calls are no-ops.
func (p *RTPProbe) Close() {
	select {
	case <-p.done:
		return
	default:
	}
	close(p.done)
	p.cancel()
	p.conn.Close()
	p.wg.Wait()
}

// ReplyWith makes the probe answer each new RTP source with pcm (looped, encoded as
// pt 0 or 8, paced at 20 ms) until the probe closes, like a phone's microphone.
// pcm nil sends silence.
func (p *RTPProbe) ReplyWith(pt uint8, pcm []int16) {
	if len(pcm) == 0 {
		pcm = make([]int16, 160)
	}
	p.mu.Lock()
	p.reply = &replyConfig{pt: pt, pcm: pcm}
	p.mu.Unlock()
}

func (p *RTPProbe) readLoop() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	oob := make([]byte, 128)
	for {
		n, oobn, _, from, err := p.conn.ReadMsgUDPAddrPort(buf, oob)
		at := KernelTime(oob[:oobn])
		if err != nil {
			select {
			case <-p.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		var h rtp.Header
		hl, err := h.Unmarshal(buf[:n])
		if err != nil || h.Version != 2 {
			continue // RTCP on the same port or junk: not our business
		}
		if h.PayloadType >= 72 && h.PayloadType <= 79 {
			continue // RTCP multiplexed on the RTP port
		}
		pkt := RTPPacket{
			From: from, At: at, PayloadType: h.PayloadType, Marker: h.Marker,
			Seq: h.SequenceNumber, Timestamp: h.Timestamp, SSRC: h.SSRC,
			Payload: slices.Clone(buf[hl:n]),
		}
		p.mu.Lock()
		p.packets = append(p.packets, pkt)
		startReply := false
		var rc replyConfig
		if !p.sources[from] {
			p.sources[from] = true
			if p.reply != nil {
				startReply, rc = true, *p.reply
			}
		}
		close(p.wake)
		p.wake = make(chan struct{})
		p.mu.Unlock()
		if startReply {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				_ = p.sendAudio(p.ctx, from, rc.pt, rc.pcm, true)
			}()
		}
	}
}

// Packets returns a copy of everything received so far, in arrival order.
func (p *RTPProbe) Packets() []RTPPacket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.packets)
}

// Reset forgets the packets received so far (sources stay known).
func (p *RTPProbe) Reset() {
	p.mu.Lock()
	p.packets = nil
	p.mu.Unlock()
}

// WaitPackets waits until at least n packets have arrived.
func (p *RTPProbe) WaitPackets(ctx context.Context, n int) error {
	for {
		p.mu.Lock()
		got, wake := len(p.packets), p.wake
		p.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("testkit: rtp probe got %d of %d packets: %w", got, n, ctx.Err())
		case <-wake:
		}
	}
}

// Sources lists the addresses RTP came from, in order of first packet.
func (p *RTPProbe) Sources() []netip.AddrPort {
	var out []netip.AddrPort
	for _, pk := range p.Packets() {
		if !slices.Contains(out, pk.From) {
			out = append(out, pk.From)
		}
	}
	return out
}

// FromSource keeps the packets of one source.
func FromSource(pkts []RTPPacket, src netip.AddrPort) []RTPPacket {
	var out []RTPPacket
	for _, pk := range pkts {
		if pk.From == src {
			out = append(out, pk)
		}
	}
	return out
}

// Audio decodes the G.711 packets (PT 0 and 8) of pkts into linear samples, in
// arrival order, which on loopback is send order.
func Audio(pkts []RTPPacket) []int16 {
	var out []int16
	for _, pk := range pkts {
		if pk.PayloadType == 0 || pk.PayloadType == 8 {
			out = append(out, DecodeG711(pk.PayloadType, pk.Payload)...)
		}
	}
	return out
}

// Events decodes the RFC 4733 packets (payload type pt) of pkts.
func Events(pkts []RTPPacket, pt uint8) []DTMFEvent {
	var out []DTMFEvent
	for _, pk := range pkts {
		if pk.PayloadType != pt || len(pk.Payload) < 4 {
			continue
		}
		out = append(out, DTMFEvent{
			Event:    pk.Payload[0],
			End:      pk.Payload[1]&0x80 != 0,
			Volume:   pk.Payload[1] & 0x3f,
			Duration: binary.BigEndian.Uint16(pk.Payload[2:]),
		})
	}
	return out
}

// Keys collapses RFC 4733 packets into the keys pressed: one key per event
// (by SSRC and timestamp), in order.
func Keys(pkts []RTPPacket, pt uint8) string {
	type id struct {
		ssrc uint32
		ts   uint32
	}
	seen := map[id]bool{}
	var keys []byte
	for _, pk := range pkts {
		if pk.PayloadType != pt || len(pk.Payload) < 4 {
			continue
		}
		k := id{pk.SSRC, pk.Timestamp}
		if seen[k] {
			continue
		}
		seen[k] = true
		if c := eventKey(pk.Payload[0]); c != 0 {
			keys = append(keys, c)
		}
	}
	return string(keys)
}

// KernelTimestamps has the kernel stamp each datagram conn receives (SO_TIMESTAMPNS);
// read them with ReadMsgUDP and KernelTime.
func KernelTimestamps(conn *net.UDPConn) {
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
		})
	}
}

// KernelTime reads the SO_TIMESTAMPNS control message, or falls back to now.
func KernelTime(oob []byte) time.Time {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_TIMESTAMPNS && len(m.Data) >= 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				return time.Unix(sec, nsec)
			}
		}
	}
	return time.Now()
}

func eventKey(e uint8) byte {
	switch {
	case e <= 9:
		return '0' + e
	case e == 10:
		return '*'
	case e == 11:
		return '#'
	case e >= 12 && e <= 15:
		return 'A' + e - 12
	}
	return 0
}

func keyEvent(k byte) (uint8, bool) {
	switch {
	case k >= '0' && k <= '9':
		return k - '0', true
	case k == '*':
		return 10, true
	case k == '#':
		return 11, true
	case k >= 'A' && k <= 'D':
		return 12 + k - 'A', true
	case k >= 'a' && k <= 'd':
		return 12 + k - 'a', true
	}
	return 0, false
}

// GapStats describes the pacing of one stream as received.
type GapStats struct {
	Packets    int
	Lost       int           // by sequence number: expected − received (never negative)
	Duplicates int           // same sequence number seen again
	Reordered  int           // arrived with a lower sequence number than the last
	P50Jitter  time.Duration // median |gap − 20 ms|
	P99Jitter  time.Duration // 99th percentile |gap − 20 ms|
	MaxGap     time.Duration
}

func (g GapStats) String() string {
	return fmt.Sprintf("%d packets, lost %d, dup %d, reordered %d, |gap-20ms| p50 %v p99 %v, max gap %v",
		g.Packets, g.Lost, g.Duplicates, g.Reordered, g.P50Jitter, g.P99Jitter, g.MaxGap)
}

// Gaps measures inter-arrival gaps of the audio packets (PT 0/8) of one stream
// (filter by source first when several calls share the probe). Every packet
// counts, including a prompt's shorter last frame.
func Gaps(pkts []RTPPacket) GapStats {
	var g GapStats
	var audio []RTPPacket
	for _, pk := range pkts {
		if pk.PayloadType == 0 || pk.PayloadType == 8 {
			audio = append(audio, pk)
		}
	}
	g.Packets = len(audio)
	if len(audio) == 0 {
		return g
	}
	seen := map[uint32]map[uint16]bool{} // per SSRC
	first := map[uint32]int64{}
	last := map[uint32]int64{}
	counts := map[uint32]int{}
	var prevSeq int64 = -1
	var prevSSRC uint32
	for _, pk := range audio {
		s := seen[pk.SSRC]
		if s == nil {
			s = map[uint16]bool{}
			seen[pk.SSRC] = s
		}
		if s[pk.Seq] {
			g.Duplicates++
			continue
		}
		s[pk.Seq] = true
		counts[pk.SSRC]++
		// Extend the 16-bit sequence around the last one seen in this SSRC.
		ext := int64(pk.Seq)
		if l, ok := last[pk.SSRC]; ok {
			ext = l + int64(int16(pk.Seq-uint16(l)))
		}
		if _, ok := first[pk.SSRC]; !ok || ext < first[pk.SSRC] {
			first[pk.SSRC] = ext
		}
		if prevSeq >= 0 && prevSSRC == pk.SSRC && ext < prevSeq {
			g.Reordered++
		}
		if l, ok := last[pk.SSRC]; !ok || ext > l {
			last[pk.SSRC] = ext
		}
		prevSeq, prevSSRC = ext, pk.SSRC
	}
	for ssrc, n := range counts {
		if exp := int(last[ssrc]-first[ssrc]) + 1; exp > n {
			g.Lost += exp - n
		}
	}
	dev := make([]time.Duration, 0, len(audio))
	for i := 1; i < len(audio); i++ {
		gap := audio[i].At.Sub(audio[i-1].At)
		if gap > g.MaxGap {
			g.MaxGap = gap
		}
		d := gap - 20*time.Millisecond
		if d < 0 {
			d = -d
		}
		dev = append(dev, d)
	}
	if len(dev) > 0 {
		slices.Sort(dev)
		g.P50Jitter = dev[len(dev)/2]
		g.P99Jitter = dev[min(len(dev)-1, len(dev)*99/100)]
	}
	return g
}

// SendPCM sends pcm as G.711 (pt 0 or 8) to dst in 20 ms packets, paced from an
// absolute start time so that scheduling delays do not accumulate. A final partial
// frame is padded with silence.
func (p *RTPProbe) SendPCM(ctx context.Context, dst netip.AddrPort, pt uint8, pcm []int16) error {
	return p.sendAudio(ctx, dst, pt, pcm, false)
}

// SendTone sends a sine at freq for d (amplitude −6 dBFS).
func (p *RTPProbe) SendTone(ctx context.Context, dst netip.AddrPort, pt uint8, freq float64, d time.Duration) error {
	return p.sendAudio(ctx, dst, pt, Tone(8000, freq, 0.5, d), false)
}

func (p *RTPProbe) sendAudio(ctx context.Context, dst netip.AddrPort, pt uint8, pcm []int16, loop bool) error {
	ssrc := rand.Uint32()
	seq := uint16(rand.UintN(1 << 16))
	ts := rand.Uint32()
	start := time.Now()
	pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: ssrc, Marker: true}}
	frame := make([]int16, 160)
	buf := make([]byte, 0, 12+160)
	for i, off := 0, 0; ; i++ {
		if off >= len(pcm) {
			if !loop {
				return nil
			}
			off = 0
		}
		n := copy(frame, pcm[off:])
		clear(frame[n:])
		off += 160
		if err := sleepUntil(ctx, start.Add(time.Duration(i)*20*time.Millisecond)); err != nil {
			return err
		}
		pkt.SequenceNumber = seq
		pkt.Timestamp = ts
		pkt.Payload = EncodeG711(pt, frame)
		b, err := pkt.Header.MarshalTo(buf[:12])
		if err != nil {
			return err
		}
		out := append(buf[:b], pkt.Payload...)
		if _, err := p.conn.WriteToUDPAddrPort(out, dst); err != nil {
			return fmt.Errorf("testkit: rtp send: %w", err)
		}
		pkt.Marker = false
		seq++
		ts += 160
	}
}

// SendDigits sends RFC 4733 events for keys (e.g. "123#") with payload type pt:
// each key lasts 100 ms (a packet every 20 ms, marker on the first, three end
// packets, as phones do), with 200 ms of nothing between keys, on one SSRC.
func (p *RTPProbe) SendDigits(ctx context.Context, dst netip.AddrPort, pt uint8, keys string) error {
	ssrc := rand.Uint32()
	seq := uint16(rand.UintN(1 << 16))
	ts := rand.Uint32()
	start := time.Now()
	tick := 0
	send := func(ev uint8, end, marker bool, dur uint16) error {
		if err := sleepUntil(ctx, start.Add(time.Duration(tick)*20*time.Millisecond)); err != nil {
			return err
		}
		h := rtp.Header{Version: 2, PayloadType: pt, SSRC: ssrc, SequenceNumber: seq, Timestamp: ts, Marker: marker}
		b, err := h.Marshal()
		if err != nil {
			return err
		}
		flags := byte(10) // volume −10 dBm0
		if end {
			flags |= 0x80
		}
		b = append(b, ev, flags, byte(dur>>8), byte(dur))
		if _, err := p.conn.WriteToUDPAddrPort(b, dst); err != nil {
			return fmt.Errorf("testkit: rtp send: %w", err)
		}
		seq++
		return nil
	}
	for _, k := range []byte(keys) {
		ev, ok := keyEvent(k)
		if !ok {
			return fmt.Errorf("testkit: %q is not a DTMF key", k)
		}
		for i := range 5 {
			if err := send(ev, false, i == 0, uint16(160*(i+1))); err != nil {
				return err
			}
			tick++
		}
		for range 3 { // the end packet, sent three times (RFC 4733 §2.5.1.4)
			if err := send(ev, true, false, 800); err != nil {
				return err
			}
		}
		tick += 10
		ts += 800 + 1600
	}
	return nil
}

func sleepUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err()
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}
