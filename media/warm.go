//go:build !race

package media

// warmLeg reads what receiving a packet on l and relaying it out of the bridged leg
// will touch: each leg's signalled parameters, latching and receive state, counters and
// taps, and the other leg's destination, send state, relay buffer and socket. The poller
// calls it for every leg of a batch before it serves the first one: a leg's memory has
// left the cache in the 20 ms since its last packet, and the misses of a whole batch
// then overlap instead of each waiting for the one before.
//
// It reads without the legs' locks: single words and bytes, which a racing write cannot
// tear, through pointers that stay valid (the legs, their buffers, what their atomic
// pointers point to), and it uses nothing it reads. The race detector would still report
// those reads, so race builds do not warm (warm_race.go).
func warmLeg(l *RTPLeg) uint64 {
	x := uint64(l.latchSSRC) + uint64(l.rxs.received) + uint64(l.lastRx.Load()) + uint64(l.in.lastRead.Load())
	if u := l.udp; u != nil {
		x += uint64(u.fd)
	}
	if r := l.remote.Load(); r != nil {
		x += uint64(r.Codec)
	}
	x += uint64(l.tapsIn.Load().nLogged)
	t := l.relayTo.Load()
	if t == nil {
		return x
	}
	if r := t.remote.Load(); r != nil {
		x += uint64(r.Codec)
	}
	if d := t.sendTo.Load(); d != nil {
		x += uint64(d.Port())
	}
	if u := t.udp; u != nil {
		x += uint64(u.fd)
	}
	x += uint64(t.relaySSRC) + uint64(t.seq) + uint64(t.sentOctets) + t.nOut.Load()
	for i := 0; i < 12+FrameSamples; i += 64 {
		x += uint64(t.relayBuf[i])
	}
	return x
}

// warmTick reads what the media clock's tick of l will touch (tick and frame): the
// leg's clock and send state, its signalled parameters, taps, relay, digit queue,
// timeout and RTCP times. The clock calls it for every leg of a slot before it ticks the
// first; like warmLeg it reads without locks and uses nothing it reads.
func warmTick(l *RTPLeg) uint64 {
	x := uint64(l.frames) + uint64(l.start.UnixNano()) + uint64(l.nextRTCP.UnixNano()) + uint64(l.ts)
	x += uint64(l.lastTick) + uint64(l.lastRelay) + uint64(l.dtmfOut.pending.Load()) + uint64(l.lastRx.Load())
	x += uint64(l.opts.RTPTimeout)
	if l.closed.Load() || l.tapsNow.Load() || l.timedOut.Load() {
		x++
	}
	if r := l.remote.Load(); r != nil {
		x += uint64(r.Codec) + uint64(r.DTMFPT)
	}
	if t := l.tapsOut.Load(); t != nil {
		x += uint64(len(*t))
	}
	if d := l.sendTo.Load(); d != nil {
		x += uint64(d.Port())
	}
	if l.relayFrom.Load() != nil {
		x++
	}
	return x
}
