// Package media owns audio: RTP legs on pion/rtp, local port allocation, G.711,
// RFC 4733 and in-band DTMF, the inbound jitter buffer, the one shared media clock
// that paces every leg, sources and sinks (prompts, players, mixers, taps) and WAV I/O.
//
// Audio moves between sources and sinks as 20 ms frames of G.711 (160 bytes), in the
// codec the consumer asks for. Prompts are encoded once per codec, so that playing one
// costs a copy per frame; mixing and analysis decode through lookup tables.
//
// media imports no other project package and never builds SIP messages.
package media

import "time"

// Codec is a G.711 variant, numbered by its static RTP payload type.
type Codec uint8

const (
	PCMU Codec = 0 // G.711 μ-law
	PCMA Codec = 8 // G.711 A-law
)

func (c Codec) String() string {
	switch c {
	case PCMU:
		return "PCMU"
	case PCMA:
		return "PCMA"
	}
	return "unknown"
}

// Audio framing shared by every leg.
const (
	SampleRate    = 8000
	FrameDuration = 20 * time.Millisecond
	FrameSamples  = 160 // samples (and G.711 bytes) in one frame
)

// Direction names one side of a leg's audio.
type Direction uint8

const (
	// FromParty is what the party says: the leg's inbound audio.
	FromParty Direction = iota
	// ToParty is what the party hears: the leg's outbound audio.
	ToParty
)

// DigitSource tells how a digit reached us.
type DigitSource uint8

const (
	DigitRFC4733 DigitSource = iota
	DigitINFO
	DigitInband
)

func (s DigitSource) String() string {
	switch s {
	case DigitRFC4733:
		return "rfc4733"
	case DigitINFO:
		return "info"
	case DigitInband:
		return "inband"
	}
	return "unknown"
}

// Digit is one key press, de-duplicated across retransmissions.
type Digit struct {
	Key      byte // '0'-'9', '*', '#', 'A'-'D'
	At       time.Time
	Duration time.Duration
	Source   DigitSource
}

// Source yields audio one 20 ms frame at a time.
type Source interface {
	// ReadFrame writes the next frame, encoded in c, into p (len FrameSamples).
	// It returns false when it has no audio for this frame; the leg then sends silence.
	// It is called from the media clock and must not block or allocate.
	ReadFrame(c Codec, p []byte) bool
}

// Sink receives audio one 20 ms frame at a time (recording, supervision, detectors).
type Sink interface {
	// WriteFrame is called with one 20 ms frame encoded in c: from the media clock,
	// or, for a party whose packets are relayed, as each one arrives. It must not
	// block or write to p, which is only valid during the call.
	WriteFrame(c Codec, p []byte)
}

// Leg is one party's audio: a SIP/RTP leg or a WebRTC leg alike.
type Leg interface {
	// Inbound returns a new reader of what this party says (decoded, de-jittered).
	// Each reader has its own position, so a bridge, a recorder and a supervisor
	// can all read the same party.
	Inbound() Source
	// SetOutbound sets what the party hears (prompt → hold music → agent); an atomic swap.
	// nil means silence.
	SetOutbound(src Source)
	// Tap adds a sink on one direction; the returned func removes it.
	Tap(dir Direction, s Sink) (remove func())
	// Digits delivers key presses (RFC 4733, SIP INFO or in-band), de-duplicated.
	Digits() <-chan Digit
	// Done is closed when the leg ends.
	Done() <-chan struct{}
	Close() error
}
