package media

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// RTPLegOptions configure one leg.
type RTPLegOptions struct {
	ID string // for logs: the call id
	// InbandDTMF runs a Goertzel detector on inbound audio, for trunks that send DTMF as audio.
	InbandDTMF bool
	// RTPTimeout ends the leg's Timeout channel after this long without inbound RTP while
	// receiving is expected (not on hold). 0 disables.
	RTPTimeout time.Duration
}

// Remote is what the far end signalled in SDP.
type Remote struct {
	Addr   netip.AddrPort // where to send RTP (the signalled address; latching may override)
	RTCP   netip.AddrPort // where to send RTCP; zero means Addr's port + 1
	Codec  Codec
	DTMFPT uint8 // payload type of telephone-event; 0 means none offered
	Send   bool  // we send audio (the peer is not sendonly/inactive towards us)
	Recv   bool  // the peer sends audio to us
}

// LegStats are one leg's RTP figures, for the calls API.
type LegStats struct {
	Local          string  `json:"local"`
	Remote         string  `json:"remote"`
	Codec          string  `json:"codec"`
	PacketsIn      uint64  `json:"packets_in"`
	PacketsOut     uint64  `json:"packets_out"`
	Lost           int64   `json:"lost"`
	JitterMs       float64 `json:"jitter_ms"`
	Dropped        uint64  `json:"dropped"`
	Late           uint64  `json:"late"`
	LatchChanges   uint64  `json:"latch_changes"`
	RemoteLossFrac float64 `json:"remote_reported_loss"`
}

// Transport carries one leg's RTP: a local UDP port pair for SIP legs (the default), or
// a WebRTC track for a browser's leg, which brings its own security and RTCP.
type Transport interface {
	// ReadRTP blocks for the next packet. from is its source address; a transport with a
	// single peer returns the zero AddrPort, and the leg then does no latching.
	ReadRTP(b []byte) (n int, from netip.AddrPort, err error)
	// WriteRTP sends one packet; dst is the latched peer (ignored by single-peer transports).
	WriteRTP(b []byte, dst netip.AddrPort) error
	// SinglePeer reports that the transport has exactly one peer and needs no address.
	SinglePeer() bool
	Close() error
}

// udpTransport is the SIP leg's transport: an even RTP port and the RTCP port above it.
// The RTP socket is outside Go's network poller: the engine's poller reads it and the
// leg writes it with plain non-blocking system calls. fd changes only under both the
// leg's rxMu and sendMu (closeFD), so a holder of either may use it.
type udpTransport struct {
	fd     int // -1 once closed
	rtcpFD int // the RTCP socket: the clock reads and writes it every few seconds
	v6     bool
	port   int
	pool   *portPool
}

// ReadRTP is not how UDP legs receive (the poller reads them); it says so.
func (u *udpTransport) ReadRTP([]byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, errors.New("media: UDP legs are read by the engine's poller")
}

func (u *udpTransport) WriteRTP(b []byte, dst netip.AddrPort) error {
	return sendTo(u.fd, b, dst, u.v6)
}

func (u *udpTransport) SinglePeer() bool { return false }

func (u *udpTransport) closeFD() {
	if u.fd >= 0 {
		syscall.Close(u.fd)
		u.fd = -1
	}
	if u.rtcpFD >= 0 {
		syscall.Close(u.rtcpFD)
		u.rtcpFD = -1
	}
}

// Close releases the ports; the leg has closed the RTP socket already (closeFD).
func (u *udpTransport) Close() error {
	u.closeFD()
	u.pool.put(u.port)
	return nil
}

// RTPLeg is a media.Leg over RTP with G.711, paced by the shared clock: a SIP leg on a
// local port pair, or (with NewLeg) any other Transport.
type RTPLeg struct {
	e     *Engine
	id    string
	opts  RTPLegOptions
	tr    Transport
	udp   *udpTransport // nil for other transports
	local netip.AddrPort
	pacer *pacer
	poll  atomic.Pointer[poller] // reads a UDP leg's packets; nil for other transports
	log   *slog.Logger

	// signalled parameters, swapped whole on (re-)negotiation
	remote  atomic.Pointer[Remote]
	sendTo  atomic.Pointer[netip.AddrPort] // current RTP destination (after latching)
	relatch atomic.Bool                    // set on renegotiation: latch again

	out       atomic.Pointer[sourceBox]
	tapsIn    atomic.Pointer[inTaps]
	tapsOut   atomic.Pointer[[]Sink]
	tapMu     sync.Mutex
	in        inboundRing
	digits    chan Digit
	dtmfOut   DTMFSender
	started   atomic.Bool
	single    bool // the transport has one peer: no latching, no address needed
	closed    atomic.Bool
	done      chan struct{}
	timeout   chan struct{}
	timedOut  atomic.Bool
	onTimeout atomic.Pointer[func()]
	resume    atomic.Bool // the next packet carries the marker bit (start, resume from hold)
	readDone  chan struct{}
	close1    sync.Once
	life      sync.Mutex // orders Start against Close

	// relayTo is the leg this party's packets are forwarded out of as they arrive (a
	// bridge with one codec); relayFrom is the leg whose packets come out of this one.
	relayTo, relayFrom atomic.Pointer[RTPLeg]

	// send side: the clock and the relay both send; sendMu orders them.
	sendMu    sync.Mutex
	relayBuf  [12 + 1488]byte
	relayOn   bool
	relaySSRC uint32
	relayOff  uint32 // our timestamp minus the relayed stream's
	lastRelay int64  // unix nanos when a packet was last relayed
	lastTick  int64  // unix nanos when the clock's latest frame was due

	// clock side (only the pacer goroutine touches these after Start)
	start      time.Time
	frames     int64
	ssrc       uint32
	seq        uint16
	ts         uint32
	txBuf      [12 + FrameSamples]byte
	inFrame    [FrameSamples]byte
	pcm        [FrameSamples]int16
	inband     *InbandDetector
	nextRTCP   time.Time
	sentOctets uint32

	// receive side (only the read goroutine or the poller touches these, under rxMu)
	rxMu      sync.Mutex // held by the poller while it reads and handles a packet
	pollID    uint64     // the leg's registration with its poller
	jbMu      sync.Mutex
	jb        *jitterBuffer
	latched   bool
	latchAddr netip.AddrPort
	latchSSRC uint32
	lastSeq   uint16
	rxs       rxStats
	dtmfIn    DTMFReceiver

	// tapsNow: the party's frames go to the inbound taps as they arrive, on the
	// receiving goroutine, instead of through the jitter buffer on the clock; set by
	// the receive side, read by the clock.
	tapsNow atomic.Bool

	// figures read by Stats from any goroutine
	lastRx     atomic.Int64 // unix nanos of the last accepted packet
	nIn, nOut  atomic.Uint64
	nDrop      atomic.Uint64
	nLate      atomic.Uint64
	nLatch     atomic.Uint64
	lostNow    atomic.Int64
	jitterBits atomic.Uint64 // float64 seconds
	remoteLoss atomic.Uint64 // float64 fraction
}

type sourceBox struct{ src Source }

var _ Leg = (*RTPLeg)(nil)

// NewRTPLeg binds a local port pair for a new call. Configure it with the far end's SDP,
// then Start it. Close releases the ports.
func (e *Engine) NewRTPLeg(opts RTPLegOptions) (*RTPLeg, error) {
	if e.closed.Load() {
		return nil, errors.New("media: engine closed")
	}
	u, err := e.listenPair()
	if err != nil {
		return nil, err
	}
	l := e.newLeg(opts, u)
	l.udp = u
	l.local = netip.AddrPortFrom(e.cfg.BindIP, uint16(u.port))
	return l, nil
}

// NewLeg makes a leg over another transport (a WebRTC track). It is configured and
// started like an RTP leg; Configure's address is ignored.
func (e *Engine) NewLeg(opts RTPLegOptions, tr Transport) (*RTPLeg, error) {
	if e.closed.Load() {
		return nil, errors.New("media: engine closed")
	}
	return e.newLeg(opts, tr), nil
}

func (e *Engine) newLeg(opts RTPLegOptions, tr Transport) *RTPLeg {
	l := &RTPLeg{
		e: e, id: opts.ID, opts: opts, tr: tr, single: tr.SinglePeer(),
		log:      e.log.With("call_id", opts.ID),
		digits:   make(chan Digit, 16),
		done:     make(chan struct{}),
		timeout:  make(chan struct{}),
		readDone: make(chan struct{}),
	}
	var rnd [10]byte
	_, _ = rand.Read(rnd[:])
	l.ssrc = binary.BigEndian.Uint32(rnd[0:])
	l.seq = binary.BigEndian.Uint16(rnd[4:])
	l.ts = binary.BigEndian.Uint32(rnd[6:])
	l.resume.Store(true)
	l.tapsIn.Store(&inTaps{})
	l.tapsOut.Store(&[]Sink{})
	l.jb = newJitterBuffer(PCMU, uint32(e.cfg.JitterDelay/time.Second*SampleRate)+uint32(e.cfg.JitterDelay%time.Second*SampleRate/time.Second))
	l.in.codec = PCMU
	if opts.InbandDTMF {
		l.inband = &InbandDetector{}
	}
	return l
}

// LocalAddr is the RTP address to put in our SDP.
func (l *RTPLeg) LocalAddr() netip.AddrPort { return l.local }

// Configure applies the far end's signalled parameters; it may be called again on re-INVITE
// (hold, resume, a new address). A new address makes the leg latch again.
func (l *RTPLeg) Configure(r Remote) {
	old := l.remote.Load()
	rc := r
	l.remote.Store(&rc)
	if old == nil || old.Addr != r.Addr {
		a := r.Addr
		l.sendTo.Store(&a)
		l.relatch.Store(true)
	}
	if old == nil || old.Codec != r.Codec {
		l.jbMu.Lock()
		l.jb = newJitterBuffer(r.Codec, l.jb.delay)
		l.jbMu.Unlock()
		l.in.mu.Lock()
		l.in.codec = r.Codec
		l.in.mu.Unlock()
	}
	if old != nil && !old.Send && r.Send {
		l.resume.Store(true)
	}
	if r.Recv {
		l.lastRx.Store(time.Now().UnixNano()) // the timeout counts from now, not from the hold
	}
}

// Start begins pacing and receiving. The leg must have been configured.
func (l *RTPLeg) Start() error {
	if l.remote.Load() == nil {
		return errors.New("media: leg started before it was configured")
	}
	l.life.Lock()
	defer l.life.Unlock()
	if l.closed.Load() {
		return errors.New("media: leg closed")
	}
	if l.started.Swap(true) {
		return nil
	}
	l.start = time.Now()
	l.nextRTCP = l.start.Add(l.e.cfg.RTCPInterval)
	l.lastRx.Store(l.start.UnixNano())
	var pl *poller
	l.pacer, pl = l.e.pickPacer()
	if l.udp != nil {
		if err := pl.add(l, l.udp.fd, l.relayTo.Load() != nil); err != nil {
			l.started.Store(false)
			return err
		}
		l.poll.Store(pl)
		if l.relayTo.Load() != nil { // a relay began meanwhile
			pl.setLive(l, true)
		}
		close(l.readDone) // no read goroutine
	} else {
		go l.readLoop()
	}
	l.e.m.legs.Inc()
	l.pacer.add(l, l.start)
	return nil
}

// Codec is the negotiated codec.
func (l *RTPLeg) Codec() Codec {
	if r := l.remote.Load(); r != nil {
		return r.Codec
	}
	return PCMU
}

func (l *RTPLeg) Inbound() Source { return l.in.reader() }

func (l *RTPLeg) SetOutbound(src Source) {
	l.unrelay()
	if src == nil {
		l.out.Store(nil)
		return
	}
	l.out.Store(&sourceBox{src})
}

func (l *RTPLeg) Tap(dir Direction, s Sink) (remove func()) {
	l.tapMu.Lock()
	l.setTaps(dir, append(slices.Clone(l.taps(dir)), s))
	l.tapMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.tapMu.Lock()
			all := slices.Clone(l.taps(dir))
			if i := slices.Index(all, s); i >= 0 {
				all = slices.Delete(all, i, i+1)
			}
			l.setTaps(dir, all)
			l.tapMu.Unlock()
			if _, ok := s.(LoggedSink); ok && dir == FromParty {
				// What the sink has in a clock's frame log reaches it before this returns.
				for _, p := range l.e.pacers {
					p.frames.drain()
				}
			}
		})
	}
}

// taps is one direction's taps; setTaps replaces them (the caller holds tapMu).
func (l *RTPLeg) taps(dir Direction) []Sink {
	if dir == ToParty {
		return *l.tapsOut.Load()
	}
	return l.tapsIn.Load().all
}

func (l *RTPLeg) setTaps(dir Direction, all []Sink) {
	if dir == ToParty {
		l.tapsOut.Store(&all)
		return
	}
	l.tapsIn.Store(newInTaps(all))
}

// inTaps is a leg's inbound taps, replaced whole when one is added or removed.
type inTaps struct {
	all []Sink // every one, in order: the paced path calls them each frame
	// How tapNow hands them a relayed frame: up to four logged sinks (a recording)
	// through the clock's frame log, held here and not behind another pointer, which
	// would be one more cache miss per packet; the others at once.
	logged  [4]LoggedSink
	nLogged int
	now     []Sink
}

func newInTaps(all []Sink) *inTaps {
	t := &inTaps{all: all}
	for _, s := range all {
		if ls, ok := s.(LoggedSink); ok && t.nLogged < len(t.logged) {
			t.logged[t.nLogged] = ls
			t.nLogged++
		} else {
			t.now = append(t.now, s)
		}
	}
	return t
}

func (l *RTPLeg) Digits() <-chan Digit     { return l.digits }
func (l *RTPLeg) Done() <-chan struct{}    { return l.done }
func (l *RTPLeg) Timeout() <-chan struct{} { return l.timeout }

// InjectDigit delivers a digit that came by signalling (SIP INFO).
func (l *RTPLeg) InjectDigit(d Digit) {
	l.e.m.digitINFO.Inc()
	l.deliver(d)
}

// SendDTMF queues RFC 4733 digits towards the party (each key dur long).
func (l *RTPLeg) SendDTMF(keys string, dur time.Duration) error {
	r := l.remote.Load()
	if r == nil || r.DTMFPT == 0 {
		return errors.New("media: the far end offered no telephone-event")
	}
	return l.dtmfOut.Enqueue(keys, dur)
}

func (l *RTPLeg) deliver(d Digit) {
	select {
	case l.digits <- d:
	default:
		l.e.m.digitOverflow.Inc()
	}
}

// Relay makes the packets that from receives go out of l as they arrive (see Bridge).
// A later SetOutbound on l, or either leg closing, ends it.
func (l *RTPLeg) Relay(from *RTPLeg) {
	l.unrelay()
	l.sendMu.Lock()
	l.relayOn = false
	l.sendMu.Unlock()
	l.relayFrom.Store(from)
	from.relayTo.Store(l)
	from.setLive(true)
}

// setLive has the poller read the leg's packets as they come (it relays them) or at the
// clock's tick (they only feed its jitter buffer).
func (l *RTPLeg) setLive(live bool) {
	if pl := l.poll.Load(); pl != nil {
		pl.setLive(l, live)
	}
}

// unrelay stops relaying into l; paced sending (from the outbound source) resumes with a
// marker bit.
func (l *RTPLeg) unrelay() {
	if f := l.relayFrom.Swap(nil); f != nil {
		if f.relayTo.CompareAndSwap(l, nil) {
			f.setLive(false)
		}
		l.resume.Store(true)
	}
}

// Close stops the leg and releases its ports; it is safe to call more than once.
func (l *RTPLeg) Close() error {
	l.close1.Do(func() {
		l.unrelay()
		if t := l.relayTo.Swap(nil); t != nil { // the other side sends on its own again
			t.unrelay()
		}
		l.life.Lock()
		l.closed.Store(true)
		started := l.started.Load()
		l.life.Unlock()
		if started {
			l.pacer.remove(l, l.start)
			l.e.m.legs.Dec()
		}
		if u := l.udp; u != nil {
			if pl := l.poll.Load(); pl != nil {
				pl.remove(l)
			}
			// A packet the poller is handling finishes first; the clock and a relay
			// sending into this leg hold sendMu.
			l.rxMu.Lock()
			l.sendMu.Lock()
			u.closeFD()
			l.sendMu.Unlock()
			l.rxMu.Unlock()
		}
		l.tr.Close()
		if started {
			<-l.readDone
		}
		close(l.done)
	})
	return nil
}

// Stats reads the leg's figures.
func (l *RTPLeg) Stats() LegStats {
	s := LegStats{
		Codec:          l.Codec().String(),
		PacketsIn:      l.nIn.Load(),
		PacketsOut:     l.nOut.Load(),
		Lost:           l.lostNow.Load(),
		JitterMs:       math.Float64frombits(l.jitterBits.Load()) * 1000,
		Dropped:        l.nDrop.Load(),
		Late:           l.nLate.Load(),
		LatchChanges:   l.nLatch.Load(),
		RemoteLossFrac: math.Float64frombits(l.remoteLoss.Load()),
	}
	if l.local.IsValid() {
		s.Local = l.local.String()
	}
	if a := l.sendTo.Load(); a != nil && !l.single {
		s.Remote = a.String()
	}
	return s
}

// tick runs on the media clock: it sends every frame that is due, computed from the
// absolute start time, catching up at most a few frames after a stall.
func (l *RTPLeg) tick(now time.Time) {
	defer func() {
		if r := recover(); r != nil {
			l.e.m.legPanics.Inc()
			l.log.Error("media: panic in leg; ending the leg", "panic", fmt.Sprint(r))
			go l.Close()
		}
	}()
	if l.closed.Load() {
		return
	}
	// The clock visits this leg's slot at the start of the millisecond its frames fall
	// due in, up to a millisecond before the exact instant: count a frame due within the
	// coming millisecond, or it would wait a whole frame and go out in a pair with the
	// next one (gaps of 0 and 40 ms instead of 20).
	due := int64((now.Sub(l.start)+time.Millisecond)/FrameDuration) + 1
	n := due - l.frames
	if n <= 0 {
		return
	}
	const maxCatchUp = 3
	if n > maxCatchUp { // a long stall: skip, keeping the RTP clock true to real time
		skipped := n - maxCatchUp
		l.frames += skipped
		l.sendMu.Lock()
		l.ts += uint32(skipped) * FrameSamples
		l.sendMu.Unlock()
		n = maxCatchUp
	}
	for ; n > 0; n-- {
		l.frame()
		l.frames++
	}
	r := l.remote.Load()
	if l.opts.RTPTimeout > 0 && r.Recv && !l.timedOut.Load() &&
		now.UnixNano()-l.lastRx.Load() > int64(l.opts.RTPTimeout) {
		l.timedOut.Store(true)
		close(l.timeout)
		if f := l.onTimeout.Load(); f != nil {
			go (*f)()
		}
	}
	if now.After(l.nextRTCP) {
		l.nextRTCP = now.Add(l.e.cfg.RTCPInterval)
		l.rtcp(r)
	}
}

// frame produces one 20 ms frame in each direction.
func (l *RTPLeg) frame() {
	r := l.remote.Load()
	codec := r.Codec

	// What the party said: de-jitter, publish to readers, detect, tap; unless its
	// packets went to the taps as they arrived (see receive).
	if !l.tapsNow.Load() {
		l.jbMu.Lock()
		l.jb.pop(l.inFrame[:])
		l.jbMu.Unlock()
		l.in.produce(l.inFrame[:])
		if l.inband != nil {
			DecodeFrame(codec, l.pcm[:], l.inFrame[:])
			if d, ok := l.inband.Process(l.pcm[:], time.Now()); ok {
				l.e.m.digitInband.Inc()
				l.deliver(d)
			}
		}
		for _, s := range l.tapsIn.Load().all {
			s.WriteFrame(codec, l.inFrame[:])
		}
	}

	// What the party hears. While the other party's packets are relayed to it the paced
	// copy is not sent, so nobody needs it unless a tap listens: skip the read (what goes
	// out then, if anything, is a digit or the fill-in below).
	payload := l.txBuf[12:]
	tapsOut := *l.tapsOut.Load()
	relayed := l.relayFrom.Load() != nil // read once: it decides whether payload is filled
	if !relayed || len(tapsOut) > 0 {
		if b := l.out.Load(); b == nil || !b.src.ReadFrame(codec, payload) {
			FillSilence(codec, payload)
		}
	}
	for _, s := range tapsOut {
		s.WriteFrame(codec, payload)
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	l.lastTick = l.frameTime()
	ts := l.ts
	l.ts += FrameSamples
	if !r.Send {
		l.resume.Store(true)
		return
	}
	to, ok := l.destination()
	if !ok {
		return
	}
	pt := uint8(codec)
	marker := l.resume.Load()
	pkt := l.txBuf[:]
	dtmf := false
	if r.DTMFPT != 0 {
		var ev [4]byte
		if n, evTS, m, active := l.dtmfOut.Next(ev[:], ts); active {
			pt, marker, ts, dtmf = r.DTMFPT, m, evTS, true
			copy(payload, ev[:n])
			pkt = l.txBuf[:12+n]
		}
	}
	if relayed && !dtmf {
		if time.Duration(l.lastTick-l.lastRelay) < relayGap {
			return // the bridged party's packets are relayed as they arrive: no paced copy
		}
		// The other party is silent (muted, VAD, on hold): keep our stream alive with
		// silence, so the far end's latching and RTP timeout see us (the de-jittered copy
		// of what was relayed must not go out twice); the next relayed packet lines its
		// clock up again.
		FillSilence(codec, payload)
		l.relayOn = false
	}
	l.resume.Store(false)
	l.writeLocked(pkt, pt, marker, ts, to)
}

// relayGap is how long a relayed stream may pause before the leg fills in on its own:
// long enough that a receive stall under load does not add packets beside the relayed
// ones, short enough for the far end's latching and RTP timeout.
const relayGap = 10 * FrameDuration

// frameTime is when the current frame was due, by the leg's own clock.
func (l *RTPLeg) frameTime() int64 {
	return l.start.UnixNano() + l.frames*int64(FrameDuration)
}

// destination is where packets go: nowhere (false) while the peer's address is unknown.
func (l *RTPLeg) destination() (netip.AddrPort, bool) {
	if l.single {
		return netip.AddrPort{}, true
	}
	dst := l.sendTo.Load()
	if dst == nil || !dst.IsValid() || dst.Addr().IsUnspecified() {
		return netip.AddrPort{}, false
	}
	return *dst, true
}

// writeLocked stamps our header on pkt (whose payload is in place) and sends it; the
// caller holds sendMu, which orders our sequence numbers across the clock and the relay.
func (l *RTPLeg) writeLocked(pkt []byte, pt uint8, marker bool, ts uint32, to netip.AddrPort) {
	pkt[0] = 0x80
	pkt[1] = pt
	if marker {
		pkt[1] |= 0x80
	}
	binary.BigEndian.PutUint16(pkt[2:], l.seq)
	binary.BigEndian.PutUint32(pkt[4:], ts)
	binary.BigEndian.PutUint32(pkt[8:], l.ssrc)
	l.seq++
	if err := l.tr.WriteRTP(pkt, to); err == nil {
		l.nOut.Add(1)
		l.e.m.tx.Inc()
		l.sentOctets += uint32(len(pkt) - 12)
	}
}

// relay forwards one packet the bridged party just sent, out of this leg, at once: the
// bridge adds no clock wait and no jitter-buffer delay. It keeps this leg's SSRC and
// sequence, shifts the timestamps into this leg's clock, and maps the telephone-event
// payload type. It runs where the other leg receives (its poller, or its transport's read goroutine).
func (l *RTPLeg) relay(h *rtp.Header, payload []byte, dtmf bool, now time.Time) {
	r := l.remote.Load()
	if r == nil || !r.Send || len(payload) > len(l.relayBuf)-12 {
		return
	}
	pt := uint8(r.Codec)
	if dtmf {
		if r.DTMFPT == 0 {
			return
		}
		pt = r.DTMFPT
	}
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	to, ok := l.destination()
	if !ok {
		return
	}
	l.lastRelay = now.UnixNano()
	marker := h.Marker
	if !l.relayOn || h.SSRC != l.relaySSRC { // a new stream: line its clock up with ours
		l.relayOn, l.relaySSRC, l.relayOff = true, h.SSRC, l.ts-h.Timestamp
		marker = true
	}
	n := copy(l.relayBuf[12:], payload)
	l.writeLocked(l.relayBuf[:12+n], pt, marker, h.Timestamp+l.relayOff, to)
}

func (l *RTPLeg) readLoop() {
	defer close(l.readDone)
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, from, err := l.tr.ReadRTP(buf)
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP port unreachable and the like: keep listening
		}
		l.receive(buf[:n], from, time.Now(), &h)
	}
}

// receive handles one inbound datagram: parse, latch, de-jitter or decode DTMF.
// It never allocates in steady state; every rejection is counted.
func (l *RTPLeg) receive(pkt []byte, from netip.AddrPort, now time.Time, h *rtp.Header) {
	r := l.remote.Load()
	if r == nil {
		return
	}
	hl, err := h.Unmarshal(pkt)
	if err != nil || h.Version != 2 || hl > len(pkt) {
		l.drop(l.e.m.dropMalformed)
		return
	}
	payload := pkt[hl:]
	if h.Padding {
		if len(payload) == 0 || int(payload[len(payload)-1]) > len(payload) {
			l.drop(l.e.m.dropMalformed)
			return
		}
		payload = payload[:len(payload)-int(payload[len(payload)-1])]
	}
	isAudio := h.PayloadType == uint8(r.Codec)
	isDTMF := r.DTMFPT != 0 && h.PayloadType == r.DTMFPT
	if !isAudio && !isDTMF {
		if h.PayloadType != 13 { // comfort noise is expected and harmless
			l.drop(l.e.m.dropPT)
		}
		return
	}
	// Symmetric RTP: send where the party really sends from. After latching, another
	// source is accepted only if it continues the same stream (NAT rebinding).
	if l.relatch.Swap(false) {
		l.latched = false
	}
	switch {
	case l.single: // one peer, no addresses: nothing to latch
	case !l.latched:
		l.latched, l.latchAddr, l.latchSSRC, l.lastSeq = true, from, h.SSRC, h.SequenceNumber
		if cur := l.sendTo.Load(); cur == nil || *cur != from {
			a := from
			l.sendTo.Store(&a)
			l.nLatch.Add(1)
			l.e.m.latch.Inc()
		}
	case from != l.latchAddr:
		if h.SSRC != l.latchSSRC || uint16(h.SequenceNumber-l.lastSeq-1) > 100 {
			l.drop(l.e.m.dropSource)
			return
		}
		l.latchAddr = from
		a := from
		l.sendTo.Store(&a)
		l.nLatch.Add(1)
		l.e.m.latch.Inc()
	}
	if h.SSRC == l.latchSSRC {
		l.lastSeq = h.SequenceNumber
	}
	l.lastRx.Store(now.UnixNano())
	l.nIn.Add(1)
	l.e.m.rx.Inc()
	if t := l.relayTo.Load(); t != nil {
		t.relay(h, payload, isDTMF, now)
	}
	if isDTMF {
		if d, ok := l.dtmfIn.Handle(payload, h.SSRC, h.SequenceNumber, h.Timestamp, now); ok {
			l.e.m.digitRFC.Inc()
			l.deliver(d)
		}
		return
	}
	// A relayed party's audio needs no de-jittering unless someone reads it paced (a
	// supervisor listening, a mixed bridge) or listens for in-band digits: it goes to
	// the taps (the recording) as it arrives, and the clock has nothing to do for it.
	direct := l.relayTo.Load() != nil && l.inband == nil && len(payload) == FrameSamples && !l.in.beingRead(now)
	was := l.tapsNow.Load()
	l.jbMu.Lock()
	lost, newest := l.rxs.update(h.SSRC, h.SequenceNumber, h.Timestamp, now)
	l.lostNow.Store(l.rxs.lost())
	ok := true
	switch {
	case !direct:
		ok = l.jb.push(h.SSRC, h.Timestamp, payload)
	case !was:
		l.jb.reset() // what it holds would play stale if the paced path came back
	}
	l.jbMu.Unlock()
	if was != direct {
		l.tapsNow.Store(direct)
	}
	if direct && newest {
		l.tapNow(r.Codec, payload, min(lost, maxTapFill), now)
	}
	if lost > 0 {
		l.e.m.lost.Add(float64(lost))
	}
	if !ok {
		l.nLate.Add(1)
		l.e.m.dropLate.Inc()
	}
}

// maxTapFill is the most missing frames tapNow stands in for with silence: more is a
// pause or a new stream, which the recording re-anchors on its own.
const maxTapFill = 3

// tapNow hands a frame that was just relayed to the inbound taps, after gap frames of
// silence for packets lost just before it. receive calls it in sequence order only (a
// late or repeated packet is left out: its moment has passed), with at most maxTapFill
// lost ones, so the taps' 20 ms frames keep the party's timeline.
func (l *RTPLeg) tapNow(c Codec, payload []byte, gap int, now time.Time) {
	t := l.tapsIn.Load()
	if t.nLogged > 0 {
		fl := l.pacer.frames
		for _, s := range t.logged[:t.nLogged] {
			for range gap {
				fl.add(s, c, silentFrame(c), now)
			}
			fl.add(s, c, payload, now)
		}
	}
	for _, s := range t.now {
		for range gap {
			s.WriteFrame(c, silentFrame(c))
		}
		s.WriteFrame(c, payload)
	}
}

func (l *RTPLeg) drop(c interface{ Inc() }) {
	l.nDrop.Add(1)
	c.Inc()
}

// rtcp sends a sender report with a reception report, and reads what the peer reported.
// It runs on the media clock every few seconds per leg: with plain non-blocking system
// calls and no allocation unless the peer sent reports (which are parsed).
func (l *RTPLeg) rtcp(r *Remote) {
	u := l.udp
	if u == nil { // the transport keeps its own RTCP (WebRTC)
		return
	}
	buf := l.e.rtcpBufs.Get().(*[1500]byte)
	defer l.e.rtcpBufs.Put(buf)
	l.sendMu.Lock() // the socket stays open while we hold it (closeFD takes sendMu)
	defer l.sendMu.Unlock()
	if u.rtcpFD < 0 {
		return
	}
	var sa syscall.RawSockaddrAny
	for {
		n, _, ok := recvFrom(u.rtcpFD, buf[:], &sa)
		if !ok {
			break
		}
		l.readReports(buf[:n])
	}
	l.jbMu.Lock()
	jit := l.rxs.jitterSeconds()
	var rr *rtcp.ReceptionReport
	var report rtcp.ReceptionReport
	if l.rxs.received > 0 {
		report = l.rxs.report()
		rr = &report
	}
	l.jbMu.Unlock()
	l.jitterBits.Store(math.Float64bits(jit))
	if rr != nil {
		l.e.m.jitter.Observe(jit)
	}
	dst := l.sendTo.Load()
	if dst == nil || !dst.IsValid() || dst.Addr().IsUnspecified() {
		return
	}
	to := r.RTCP
	if !to.IsValid() {
		to = netip.AddrPortFrom(dst.Addr(), dst.Port()+1)
	}
	b := appendSenderReport(buf[:0], l.ssrc, ntpTime(time.Now()), l.ts, uint32(l.nOut.Load()), l.sentOctets, rr)
	_ = sendTo(u.rtcpFD, b, to, u.v6)
}

// readReports takes the loss the peer reports about our stream from its RTCP.
func (l *RTPLeg) readReports(b []byte) {
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		return
	}
	for _, p := range pkts {
		var reports []rtcp.ReceptionReport
		switch p := p.(type) {
		case *rtcp.SenderReport:
			reports = p.Reports
		case *rtcp.ReceiverReport:
			reports = p.Reports
		}
		for _, rr := range reports {
			if rr.SSRC == l.ssrc {
				l.remoteLoss.Store(math.Float64bits(float64(rr.FractionLost) / 256))
			}
		}
	}
}

// rtcpCNAME names our streams in SDES.
const rtcpCNAME = "hotline"

// appendSenderReport appends a compound RTCP packet (RFC 3550 6.4.1 and 6.5): a sender
// report with at most one reception report block, then an SDES with our CNAME.
func appendSenderReport(b []byte, ssrc uint32, ntp uint64, rtpTS, packets, octets uint32, rr *rtcp.ReceptionReport) []byte {
	rc := 0
	if rr != nil {
		rc = 1
	}
	words := 6 + 6*rc // the length field: 32-bit words minus one
	b = append(b, 0x80|byte(rc), byte(rtcp.TypeSenderReport), byte(words>>8), byte(words))
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = binary.BigEndian.AppendUint64(b, ntp)
	b = binary.BigEndian.AppendUint32(b, rtpTS)
	b = binary.BigEndian.AppendUint32(b, packets)
	b = binary.BigEndian.AppendUint32(b, octets)
	if rr != nil {
		b = binary.BigEndian.AppendUint32(b, rr.SSRC)
		b = append(b, rr.FractionLost, byte(rr.TotalLost>>16), byte(rr.TotalLost>>8), byte(rr.TotalLost))
		b = binary.BigEndian.AppendUint32(b, rr.LastSequenceNumber)
		b = binary.BigEndian.AppendUint32(b, rr.Jitter)
		b = binary.BigEndian.AppendUint32(b, rr.LastSenderReport)
		b = binary.BigEndian.AppendUint32(b, rr.Delay)
	}
	// SDES, one chunk: SSRC, the CNAME item, a null item ending the list, padding to 32 bits.
	chunk := 4 + 2 + len(rtcpCNAME) + 1
	padded := (chunk + 3) &^ 3
	b = append(b, 0x81, byte(rtcp.TypeSourceDescription), 0, byte(padded/4))
	b = binary.BigEndian.AppendUint32(b, ssrc)
	b = append(b, byte(rtcp.SDESCNAME), byte(len(rtcpCNAME)))
	b = append(b, rtcpCNAME...)
	for i := chunk - 1; i < padded; i++ {
		b = append(b, 0)
	}
	return b
}

func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := uint64(t.Nanosecond()) * (1 << 32) / 1e9
	return secs<<32 | frac
}

// inboundRing publishes the party's de-jittered frames to any number of readers,
// each with its own position, so one party can be bridged, recorded and monitored at once.
type inboundRing struct {
	mu       sync.Mutex
	codec    Codec
	frames   [inboundFrames][FrameSamples]byte
	produced int64
	lastRead atomic.Int64 // unix nanos of a reader's latest ReadFrame
}

// readerIdle is how long after a reader's last read the ring still counts as read.
const readerIdle = 100 * time.Millisecond

// beingRead reports whether a reader has asked for a frame lately. The bridge's own
// readers are not asked while the legs relay, so this means a supervisor or a mix.
func (r *inboundRing) beingRead(now time.Time) bool {
	return now.UnixNano()-r.lastRead.Load() < int64(readerIdle)
}

const inboundFrames = 8

func (r *inboundRing) produce(p []byte) {
	r.mu.Lock()
	copy(r.frames[r.produced%inboundFrames][:], p)
	r.produced++
	r.mu.Unlock()
}

func (r *inboundRing) reader() Source {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &inboundReader{r: r, cursor: r.produced}
}

type inboundReader struct {
	r      *inboundRing
	cursor int64
}

// ReadFrame returns the next frame the party said after the last one this reader took.
// A reader that fell behind skips ahead, so a bridge never builds up delay.
func (rd *inboundReader) ReadFrame(c Codec, dst []byte) bool {
	r := rd.r
	r.lastRead.Store(time.Now().UnixNano())
	r.mu.Lock()
	defer r.mu.Unlock()
	if rd.cursor >= r.produced {
		return false
	}
	if r.produced-rd.cursor > 2 {
		rd.cursor = r.produced - 1
	}
	Transcode(r.codec, c, dst, r.frames[rd.cursor%inboundFrames][:])
	rd.cursor++
	return true
}

// rxStats follows RFC 3550 appendix A.1/A.8 for one source: loss and interarrival jitter.
type rxStats struct {
	ssrc               uint32
	init               bool
	baseSeq, maxSeq    uint16
	cycles             uint32
	received           uint32
	expectedPrior      uint32
	receivedPrior      uint32
	transit            int64
	jitter             float64 // timestamp units
	lastArrivalSamples int64
}

// update records one packet and returns how many packets were newly found missing, and
// whether it is the stream's newest (false for a late or repeated packet).
func (s *rxStats) update(ssrc uint32, seq uint16, ts uint32, now time.Time) (lost int, newest bool) {
	arrival := now.UnixNano() * SampleRate / int64(time.Second)
	if !s.init || ssrc != s.ssrc {
		*s = rxStats{ssrc: ssrc, init: true, baseSeq: seq, maxSeq: seq, received: 1,
			transit: arrival - int64(ts)}
		return 0, true
	}
	s.received++
	delta := seq - s.maxSeq
	if newest = delta > 0 && delta < 0x8000; newest {
		if seq < s.maxSeq {
			s.cycles += 1 << 16
		}
		lost = int(delta - 1)
		s.maxSeq = seq
	}
	transit := arrival - int64(ts)
	d := transit - s.transit
	s.transit = transit
	if d < 0 {
		d = -d
	}
	s.jitter += (float64(d) - s.jitter) / 16
	return lost, newest
}

func (s *rxStats) expected() uint32 { return s.cycles + uint32(s.maxSeq) - uint32(s.baseSeq) + 1 }

func (s *rxStats) lost() int64 {
	if !s.init {
		return 0
	}
	return int64(s.expected()) - int64(s.received)
}

func (s *rxStats) jitterSeconds() float64 { return s.jitter / SampleRate }

func (s *rxStats) report() rtcp.ReceptionReport {
	exp := s.expected()
	expInt := exp - s.expectedPrior
	recInt := s.received - s.receivedPrior
	s.expectedPrior, s.receivedPrior = exp, s.received
	var frac uint8
	if lostInt := int64(expInt) - int64(recInt); expInt > 0 && lostInt > 0 {
		frac = uint8(lostInt << 8 / int64(expInt))
	}
	lost := s.lost()
	if lost < 0 {
		lost = 0
	}
	return rtcp.ReceptionReport{
		SSRC: s.ssrc, FractionLost: frac, TotalLost: uint32(lost) & 0xFFFFFF,
		LastSequenceNumber: s.cycles | uint32(s.maxSeq), Jitter: uint32(s.jitter),
	}
}

// OnTimeout sets a function called (on its own goroutine) when the RTP timeout passes.
func (l *RTPLeg) OnTimeout(f func()) { l.onTimeout.Store(&f) }
