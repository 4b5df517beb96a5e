package media

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// RFC 4733 telephone-event: the payload format and the receive state machine.
//
// A key press arrives as a run of packets that share one RTP timestamp (the event's
// start), carry a growing duration, and end with an end packet sent three times. The
// receiver reports each press once, on the first packet it sees, because a caller
// who presses a key during a prompt expects the prompt to stop at once: waiting for
// the end packet would add the whole key-down time to every digit-to-action latency.
// Presses longer than the 16-bit duration field are sent as segments with new
// timestamps (RFC 4733 §2.5.1.3) and stay one press.
//
// Real peers bend the rules, and the receiver is built around what they do:
//   - SIPp's stock dtmf_2833_*.pcap files replay the same SSRC, sequence numbers and
//     timestamp each time they are played, so "11" is two presses with identical
//     packets. A packet that would be more than RearmAfter late if it belonged to
//     the press already seen (time since that press's end, plus the key-down time
//     its duration field says lies between them) starts a new press instead.
//   - SIPp's play_dtmf switches to a new SSRC mid-call and sets the reserved R bit at
//     random; events are keyed by SSRC as well as timestamp, and R is ignored.
//   - Packets get lost: a press whose first packets (or only packets but the end) were
//     lost is still reported once, from whatever packet arrives first.
//   - Late or duplicated packets (the three end packets, reordering) never produce a
//     second digit.
// Anything absurd (events that are not DTMF keys, short payloads, durations that go
// backwards or run past MaxDuration) is ignored and counted; the leg exports the
// counters as metrics.

// TelephoneEventSize is the size of one RFC 4733 event payload.
const TelephoneEventSize = 4

// ErrShortTelephoneEvent is returned for a payload shorter than TelephoneEventSize.
var ErrShortTelephoneEvent = errors.New("rfc4733: telephone-event payload shorter than 4 bytes")

// TelephoneEvent is one RFC 4733 §2.3 payload.
type TelephoneEvent struct {
	Event    uint8  // 0-9, 10 '*', 11 '#', 12-15 'A'-'D'; other codes are not DTMF keys
	End      bool   // E bit: this is (a retransmission of) the event's last packet
	Volume   uint8  // power level in -dBm0, 0-63
	Duration uint16 // in timestamp units (1/8000 s) since the event's RTP timestamp
}

// ParseTelephoneEvent parses a telephone-event payload. Bytes past the first four are
// ignored (some gateways pad); the reserved R bit is ignored as RFC 4733 requires.
func ParseTelephoneEvent(payload []byte) (ev TelephoneEvent, err error) {
	if len(payload) < TelephoneEventSize {
		return TelephoneEvent{}, ErrShortTelephoneEvent
	}
	return TelephoneEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3F,
		Duration: uint16(payload[2])<<8 | uint16(payload[3]),
	}, nil
}

// MarshalTo writes the 4-byte payload into p and returns TelephoneEventSize, or 0 when
// p is too short.
func (ev TelephoneEvent) MarshalTo(p []byte) int {
	if len(p) < TelephoneEventSize {
		return 0
	}
	p[0] = ev.Event
	p[1] = ev.Volume & 0x3F
	if ev.End {
		p[1] |= 0x80
	}
	p[2] = byte(ev.Duration >> 8)
	p[3] = byte(ev.Duration)
	return TelephoneEventSize
}

func (ev TelephoneEvent) String() string {
	k, ok := EventKey(ev.Event)
	key := string(k)
	if !ok {
		key = fmt.Sprintf("event %d", ev.Event)
	}
	return fmt.Sprintf("%s end=%t vol=-%d dur=%d", key, ev.End, ev.Volume, ev.Duration)
}

const dtmfKeys = "0123456789*#ABCD"

// EventKey maps an event code to its DTMF key; ok is false for codes above 15.
func EventKey(code uint8) (key byte, ok bool) {
	if int(code) >= len(dtmfKeys) {
		return 0, false
	}
	return dtmfKeys[code], true
}

// KeyEvent maps a DTMF key ('0'-'9', '*', '#', 'A'-'D', lower case accepted) to its
// event code.
func KeyEvent(key byte) (code uint8, ok bool) {
	switch {
	case key >= '0' && key <= '9':
		return key - '0', true
	case key == '*':
		return 10, true
	case key == '#':
		return 11, true
	case key >= 'A' && key <= 'D':
		return key - 'A' + 12, true
	case key >= 'a' && key <= 'd':
		return key - 'a' + 12, true
	}
	return 0, false
}

// Defaults for DTMFReceiver's zero-valued fields.
const (
	DefaultDTMFRearmAfter    = 80 * time.Millisecond
	DefaultDTMFEndRearmAfter = 200 * time.Millisecond
	DefaultDTMFMaxDuration   = 10 * time.Second
)

// DefaultDTMFClockRate is the telephone-event clock with G.711 (RFC 4733 §2.1:
// the event clock is the audio codec's, so WebRTC peers on Opus use 48000).
const DefaultDTMFClockRate = SampleRate

// dtmfHistory is how many recent events the receiver remembers, so that a late or
// retransmitted packet of an earlier key ("12": the '1' end packets arriving after
// '2' began) is recognised instead of reported again.
const dtmfHistory = 8

// DTMFStats counts what a DTMFReceiver did; the leg exports it as metrics.
type DTMFStats struct {
	Digits      uint64 // key presses reported
	Rearmed     uint64 // presses recognised on a key whose packets repeat an earlier press exactly (SIPp pcap replays)
	FromEnd     uint64 // presses first seen on an end packet: all their updates were lost
	Duplicates  uint64 // retransmitted end packets, duplicated or late packets of a known press: ignored
	Continued   uint64 // RFC 4733 §2.5.1.3 long-event segments that continue a press: not a new digit
	SSRCChanges uint64 // telephone-event SSRC switches (SIPp play_dtmf starts a new one)
	Malformed   uint64 // payloads shorter than 4 bytes: ignored
	NotDTMF     uint64 // event codes above 15 (flash, tones, modem events): ignored
	BadDuration uint64 // duration going backwards within a press, or a press past MaxDuration: ignored
}

// dtmfEvent is one remembered press, keyed by SSRC, RTP timestamp and event code.
type dtmfEvent struct {
	used     bool
	ssrc     uint32
	ts       uint32
	code     uint8
	ended    bool
	lastSeq  uint16
	lastDur  uint16
	base     uint32    // duration of earlier segments of the same press (long events)
	lastAt   time.Time // last packet of any kind
	lastEnd  time.Time // last end packet
	firstEnd time.Time // first end packet
	overlong bool      // ran past MaxDuration: ignored until it ends
}

// DTMFReceiver turns RFC 4733 telephone-event packets of one leg into key presses.
// The zero value is ready to use. Handle is called from the leg's receive path only;
// Stats may be called from any goroutine.
type DTMFReceiver struct {
	// RearmAfter: a non-end packet that would be this late as part of the press
	// with the same SSRC, timestamp and key is a new press of that key. It must
	// exceed network jitter and stay below the length of a press. Default 80 ms.
	RearmAfter time.Duration
	// EndRearmAfter: the same for an end packet, which is only a new press when all of
	// that press's other packets were lost. Longer than RearmAfter, because senders
	// space their three end packets by up to one update interval (50 ms). Default 200 ms.
	EndRearmAfter time.Duration
	// MaxDuration is the longest press believed; a stuck key is ignored past it.
	// Default 10 s.
	MaxDuration time.Duration
	// ClockRate is the telephone-event clock in Hz, from the SDP rtpmap.
	// Default 8000.
	ClockRate uint32

	events   [dtmfHistory]dtmfEvent
	next     int // ring position for the next new event
	lastSSRC uint32
	seenAny  bool

	digits, rearmed, fromEnd, duplicates, continued atomic.Uint64
	ssrcChanges, malformed, notDTMF, badDuration    atomic.Uint64
}

// Stats returns the receiver's counters. Safe to call concurrently with Handle.
func (r *DTMFReceiver) Stats() DTMFStats {
	return DTMFStats{
		Digits:      r.digits.Load(),
		Rearmed:     r.rearmed.Load(),
		FromEnd:     r.fromEnd.Load(),
		Duplicates:  r.duplicates.Load(),
		Continued:   r.continued.Load(),
		SSRCChanges: r.ssrcChanges.Load(),
		Malformed:   r.malformed.Load(),
		NotDTMF:     r.notDTMF.Load(),
		BadDuration: r.badDuration.Load(),
	}
}

// Reset forgets all presses (counters are kept), e.g. after a re-INVITE that changes
// the telephone-event payload type.
func (r *DTMFReceiver) Reset() {
	r.events = [dtmfHistory]dtmfEvent{}
	r.next = 0
	r.seenAny = false
}

func (r *DTMFReceiver) rearmAfter() time.Duration {
	if r.RearmAfter > 0 {
		return r.RearmAfter
	}
	return DefaultDTMFRearmAfter
}

func (r *DTMFReceiver) endRearmAfter() time.Duration {
	if r.EndRearmAfter > 0 {
		return r.EndRearmAfter
	}
	return DefaultDTMFEndRearmAfter
}

// units converts timestamp units to time, exactly at any clock rate.
func (r *DTMFReceiver) units(n uint64) time.Duration {
	return time.Duration(n) * time.Second / time.Duration(r.rate())
}

func (r *DTMFReceiver) rate() uint32 {
	if r.ClockRate > 0 {
		return r.ClockRate
	}
	return DefaultDTMFClockRate
}

func (r *DTMFReceiver) maxUnits() uint64 {
	d := r.MaxDuration
	if d <= 0 {
		d = DefaultDTMFMaxDuration
	}
	return uint64(d/time.Millisecond) * uint64(r.rate()) / 1000
}

// Handle takes one telephone-event packet (payload, SSRC, sequence number and RTP
// timestamp from its header; now is when it arrived) and returns a digit the first
// time a press is seen. Duration is the press's duration known at that moment: zero
// when the first packet is the usual start packet, the full duration when the first
// packet to arrive is the end. It does not allocate.
func (r *DTMFReceiver) Handle(payload []byte, ssrc uint32, seq uint16, ts uint32, now time.Time) (Digit, bool) {
	ev, err := ParseTelephoneEvent(payload)
	if err != nil {
		r.malformed.Add(1)
		return Digit{}, false
	}
	key, ok := EventKey(ev.Event)
	if !ok {
		r.notDTMF.Add(1)
		return Digit{}, false
	}
	if r.seenAny && ssrc != r.lastSSRC {
		r.ssrcChanges.Add(1)
	}
	r.seenAny, r.lastSSRC = true, ssrc

	e := r.find(ssrc, ts, ev.Event)
	if e == nil {
		if prev := r.continues(ssrc, ts, ev.Event); prev != nil {
			return r.continueSegment(prev, ev, ssrc, seq, ts, now)
		}
		e = r.alloc()
		if uint64(ev.Duration) > r.maxUnits() {
			// First seen already past MaxDuration: remember it, so that its
			// later packets are not taken for a press, but report nothing.
			e.record(ev, ssrc, seq, ts, now)
			e.overlong = true
			r.badDuration.Add(1)
			return Digit{}, false
		}
		return r.start(e, key, ev, ssrc, seq, ts, now, false)
	}
	if e.ended {
		if ev.End {
			if now.Sub(e.lastEnd) > r.endRearmAfter() {
				// Only an end packet, long after the last one: a press of which
				// everything else was lost.
				return r.start(e, key, ev, ssrc, seq, ts, now, true)
			}
			e.lastEnd, e.lastAt = now, now
			r.duplicates.Add(1)
			return Digit{}, false
		}
		if r.lateness(now, e.firstEnd, e.lastDur, ev.Duration) > r.rearmAfter() {
			// Same SSRC, timestamp and key, but far too late to belong to the press
			// that ended: the sender replays identical packets for a new press.
			return r.start(e, key, ev, ssrc, seq, ts, now, true)
		}
		r.duplicates.Add(1)
		return Digit{}, false
	}
	if ev.Duration < e.lastDur {
		if !ev.End && r.lateness(now, e.lastAt, e.lastDur, ev.Duration) > r.rearmAfter() {
			// An identical replay began before this press's end packets came (they
			// were lost, or SIPp cut the previous play short).
			return r.start(e, key, ev, ssrc, seq, ts, now, true)
		}
		if int16(seq-e.lastSeq) <= 0 {
			r.duplicates.Add(1) // reordered: an older update arriving late
		} else {
			r.badDuration.Add(1)
		}
		return Digit{}, false
	}
	if e.overlong || uint64(e.base)+uint64(ev.Duration) > r.maxUnits() {
		// A stuck key: ignore it until it ends, then let a new press of it through.
		e.overlong = true
		r.badDuration.Add(1)
		if ev.End {
			e.ended, e.lastEnd, e.firstEnd, e.lastAt = true, now, now, now
		}
		return Digit{}, false
	}
	if ev.Duration == e.lastDur && !ev.End && int16(seq-e.lastSeq) <= 0 {
		r.duplicates.Add(1)
	}
	e.lastDur, e.lastAt = ev.Duration, now
	if int16(seq-e.lastSeq) > 0 {
		e.lastSeq = seq
	}
	if ev.End {
		e.ended, e.lastEnd, e.firstEnd = true, now, now
	}
	return Digit{}, false
}

// lateness is how late a packet of duration dur, arriving now, would be if it
// belonged to a press whose packet of duration refDur arrived at ref: the time since
// then plus the key-down time between the two. A reordered packet of the same press
// is late by no more than network jitter; the start of an identical replay is late
// by the whole previous press.
func (r *DTMFReceiver) lateness(now, ref time.Time, refDur, dur uint16) time.Duration {
	late := now.Sub(ref)
	if dur < refDur {
		late += r.units(uint64(refDur - dur))
	}
	return late
}

// start records a new press in e and reports it.
func (r *DTMFReceiver) start(e *dtmfEvent, key byte, ev TelephoneEvent, ssrc uint32, seq uint16, ts uint32, now time.Time, rearm bool) (Digit, bool) {
	e.record(ev, ssrc, seq, ts, now)
	r.digits.Add(1)
	if rearm {
		r.rearmed.Add(1)
	}
	if ev.End {
		r.fromEnd.Add(1)
	}
	return Digit{
		Key:      key,
		At:       now,
		Duration: r.units(uint64(ev.Duration)),
		Source:   DigitRFC4733,
	}, true
}

// record makes e a new press that begins with packet ev.
func (e *dtmfEvent) record(ev TelephoneEvent, ssrc uint32, seq uint16, ts uint32, now time.Time) {
	*e = dtmfEvent{
		used:    true,
		ssrc:    ssrc,
		ts:      ts,
		code:    ev.Event,
		ended:   ev.End,
		lastSeq: seq,
		lastDur: ev.Duration,
		lastAt:  now,
	}
	if ev.End {
		e.lastEnd, e.firstEnd = now, now
	}
}

func (r *DTMFReceiver) find(ssrc, ts uint32, code uint8) *dtmfEvent {
	for i := range r.events {
		e := &r.events[i]
		if e.used && e.ts == ts && e.ssrc == ssrc && e.code == code {
			return e
		}
	}
	return nil
}

func (r *DTMFReceiver) alloc() *dtmfEvent {
	e := &r.events[r.next]
	r.next = (r.next + 1) % dtmfHistory
	return e
}

// newest returns the most recently started event.
func (r *DTMFReceiver) newest() *dtmfEvent {
	e := &r.events[(r.next+dtmfHistory-1)%dtmfHistory]
	if !e.used {
		return nil
	}
	return e
}

// continues returns the press that a packet with a new timestamp continues, per
// RFC 4733 §2.5.1.3: a press longer than the 16-bit duration field can hold is sent
// as segments, each starting where the previous one's duration ran out, without an
// end packet in between.
func (r *DTMFReceiver) continues(ssrc, ts uint32, code uint8) *dtmfEvent {
	p := r.newest()
	if p == nil || p.ended || p.ssrc != ssrc || p.code != code {
		return nil
	}
	// The previous segment must have run close to the 16-bit limit, and this one must
	// begin about where it stopped (within a second, for senders that round).
	second := r.rate()
	if uint32(p.lastDur) < 0xFFFF-min(second, 0x8000) {
		return nil
	}
	d := ts - p.ts
	if int32(d) <= 0 || d > 0xFFFF+second {
		return nil
	}
	return p
}

func (r *DTMFReceiver) continueSegment(p *dtmfEvent, ev TelephoneEvent, ssrc uint32, seq uint16, ts uint32, now time.Time) (Digit, bool) {
	r.continued.Add(1)
	base := p.base + (ts - p.ts)
	overlong := p.overlong || uint64(base)+uint64(ev.Duration) > r.maxUnits()
	if overlong && !p.overlong {
		r.badDuration.Add(1)
	}
	e := r.alloc()
	*e = dtmfEvent{
		used:     true,
		ssrc:     ssrc,
		ts:       ts,
		code:     ev.Event,
		ended:    ev.End,
		lastSeq:  seq,
		lastDur:  ev.Duration,
		base:     base,
		lastAt:   now,
		overlong: overlong,
	}
	if ev.End {
		e.lastEnd, e.firstEnd = now, now
	}
	return Digit{}, false
}

// Ignored is the number of packets dropped as malformed or absurd (short payloads,
// non-DTMF events, bad durations): the "absurd DTMF events" metric.
func (s DTMFStats) Ignored() uint64 { return s.Malformed + s.NotDTMF + s.BadDuration }
