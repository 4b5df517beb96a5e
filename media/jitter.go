package media

// jitterBuffer de-jitters one inbound G.711 stream by RTP timestamp: packets are written
// into a ring of samples at their timestamp and the media clock reads 160 samples per tick,
// a fixed delay behind. Addressing by timestamp rather than sequence number makes it work
// for any packet size (SIPp's stock A-law pcap uses 30 ms packets) and leaves silence in
// the gaps of lost packets. It is not safe for concurrent use; the leg holds a lock.
//
// pion/interceptor's jitter buffer keeps *rtp.Packet values (an allocation per packet) and
// orders by sequence number only, so it fits neither the zero-allocation rule nor 30 ms peers.
type jitterBuffer struct {
	ring    [jitterRing]byte
	silence byte
	delay   uint32 // samples of playout delay
	started bool
	playTS  uint32 // timestamp of the next sample to play
	maxTS   uint32 // one past the newest sample written
	ssrc    uint32
	idle    int // ticks read with nothing buffered
	late    uint64
	resyncs uint64
}

const (
	jitterRing = 2048 // samples: 256 ms at 8 kHz, a power of two (delay + a burst; memory per call)
	jitterMask = jitterRing - 1
	// After this many empty ticks the stream is treated as paused (hold, silence
	// suppression) and the next packet restarts playout with a fresh delay.
	jitterIdleReset = 25
)

func newJitterBuffer(c Codec, delaySamples uint32) *jitterBuffer {
	jb := &jitterBuffer{silence: silenceByte(c), delay: delaySamples}
	jb.clear()
	return jb
}

func (jb *jitterBuffer) clear() {
	for i := range jb.ring {
		jb.ring[i] = jb.silence
	}
}

// reset forgets everything buffered: the next packet starts playout afresh.
func (jb *jitterBuffer) reset() {
	jb.clear()
	jb.started = false
	jb.idle = 0
}

func (jb *jitterBuffer) restart(ssrc, ts uint32) {
	if jb.started {
		jb.resyncs++
		jb.clear()
	}
	jb.started = true
	jb.ssrc = ssrc
	jb.playTS = ts - jb.delay
	jb.maxTS = ts
	jb.idle = 0
}

// push stores one packet's payload. It reports false for a packet too late to play.
func (jb *jitterBuffer) push(ssrc, ts uint32, payload []byte) bool {
	if len(payload) == 0 || len(payload) > jitterRing/2 {
		return false
	}
	if !jb.started || ssrc != jb.ssrc || jb.idle >= jitterIdleReset {
		jb.restart(ssrc, ts)
	}
	off := int32(ts - jb.playTS)
	if off < 0 {
		jb.late++
		return false
	}
	end := uint32(off) + uint32(len(payload))
	if end > jitterRing-FrameSamples { // a jump far ahead (new talk spurt, clock jump): resync
		jb.restart(ssrc, ts)
	}
	pos := int(ts & jitterMask)
	n := copy(jb.ring[pos:], payload)
	if n < len(payload) {
		copy(jb.ring[:], payload[n:])
	}
	if int32(ts+uint32(len(payload))-jb.maxTS) > 0 {
		jb.maxTS = ts + uint32(len(payload))
	}
	jb.idle = 0
	return true
}

// pop writes the next 20 ms into dst and reports whether any of it was received audio.
func (jb *jitterBuffer) pop(dst []byte) bool {
	if !jb.started {
		fill(dst, jb.silence)
		return false
	}
	have := int32(jb.maxTS-jb.playTS) > 0
	if !have {
		jb.idle++
	}
	// Keep latency bounded: if the buffer grew far past the target (sender clock drift,
	// a burst after a stall), drop the oldest audio.
	if depth := int32(jb.maxTS - jb.playTS); depth > int32(jb.delay)+10*FrameSamples {
		skip := uint32(depth) - jb.delay
		for i := uint32(0); i < skip; i++ {
			jb.ring[(jb.playTS+i)&jitterMask] = jb.silence
		}
		jb.playTS += skip
	}
	pos := int(jb.playTS & jitterMask)
	n := copy(dst[:FrameSamples], jb.ring[pos:])
	fill(jb.ring[pos:pos+n], jb.silence)
	if n < FrameSamples {
		copy(dst[n:FrameSamples], jb.ring[:FrameSamples-n])
		fill(jb.ring[:FrameSamples-n], jb.silence)
	}
	jb.playTS += FrameSamples
	return have
}

func fill(p []byte, b byte) {
	for i := range p {
		p[i] = b
	}
}
