package media

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// RFC 4733 send side. The leg calls Next once per 20 ms frame from the media clock;
// while an event is active the leg sends its payload instead of audio, so the far
// end's audio path carries no half-tone and the RTP timestamps stay on the frame grid.
//
// Packets of one key of n frames (duration D = n × 20 ms), at frames k = 0 … n+1:
//
//	k = 0          marker, duration 160 (or the end packet at once when n = 1)
//	k = 1 … n-2    duration (k+1)·160
//	k = n-1        end, duration n·160
//	k = n, n+1     the end packet again (RFC 4733 §2.5.1.4: three in all)
//
// every one with the event's timestamp: the frame timestamp of k = 0. The end
// retransmissions fall inside the inter-key gap, whose default and minimum is 40 ms
// (ITU-T Q.24), measured on the timestamp axis from the end of one key's duration to
// the next key's timestamp.

// Limits for DTMFSender.Enqueue.
const (
	MinDTMFDuration     = 40 * time.Millisecond
	MaxDTMFDuration     = 8 * time.Second // 16-bit duration field at 8 kHz
	DefaultDTMFDuration = 100 * time.Millisecond
	DefaultDTMFGap      = 40 * time.Millisecond
	dtmfSendVolume      = 10 // -dBm0, what desk phones and SIPp send
	dtmfEndPackets      = 3
	dtmfQueueLen        = 64
)

// ErrDTMFQueueFull is returned when more keys are queued than a leg can hold.
var ErrDTMFQueueFull = errors.New("rfc4733: DTMF send queue full")

type dtmfKey struct {
	code   uint8
	frames int // key-down length in frames
}

// DTMFSender produces the telephone-event packets of one leg. The zero value is
// ready to use. Enqueue may be called from any goroutine while Next runs on the
// media clock.
type DTMFSender struct {
	// Gap between keys, at least MinDTMFDuration's 40 ms. Zero means DefaultDTMFGap.
	Gap time.Duration

	pending atomic.Int32 // queued + in progress; lets an idle Next skip the mutex

	mu    sync.Mutex
	queue [dtmfQueueLen]dtmfKey
	head  int // index of the first queued key
	count int // keys queued, not counting cur

	cur     dtmfKey
	active  bool   // cur is being sent
	frame   int    // frames of cur already sent
	eventTS uint32 // timestamp of cur
	// notBefore is the earliest timestamp for the next key: the end of the last
	// key's duration plus the gap.
	notBefore uint32
	sentAny   bool
}

// Enqueue queues keys ('0'-'9', '*', '#', 'A'-'D', lower case accepted) to be sent
// each for dur (0 means DefaultDTMFDuration), rounded up to whole frames. Nothing is
// queued when any key or the duration is invalid.
func (s *DTMFSender) Enqueue(keys string, dur time.Duration) error {
	if dur == 0 {
		dur = DefaultDTMFDuration
	}
	if dur < MinDTMFDuration || dur > MaxDTMFDuration {
		return fmt.Errorf("rfc4733: DTMF duration %v, want %v to %v", dur, MinDTMFDuration, MaxDTMFDuration)
	}
	if keys == "" {
		return errors.New("rfc4733: no DTMF keys to send")
	}
	for i := 0; i < len(keys); i++ {
		if _, ok := KeyEvent(keys[i]); !ok {
			return fmt.Errorf("rfc4733: %q at position %d of %q is not a DTMF key (0-9 * # A-D)", keys[i], i, keys)
		}
	}
	frames := int((dur + FrameDuration - 1) / FrameDuration)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.count+len(keys) > dtmfQueueLen {
		return fmt.Errorf("%w: %d queued, %d more asked, room for %d", ErrDTMFQueueFull, s.count, len(keys), dtmfQueueLen)
	}
	for i := 0; i < len(keys); i++ {
		code, _ := KeyEvent(keys[i])
		s.queue[(s.head+s.count)%dtmfQueueLen] = dtmfKey{code: code, frames: frames}
		s.count++
	}
	s.pending.Add(int32(len(keys)))
	return nil
}

// Pending returns the number of keys queued or being sent.
func (s *DTMFSender) Pending() int { return int(s.pending.Load()) }

// Clear drops queued keys. A key being sent still gets its end packets, so the far
// end never sees a key stuck down.
func (s *DTMFSender) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending.Add(int32(-s.count))
	s.head, s.count = 0, 0
}

func (s *DTMFSender) gapFrames() int {
	g := s.Gap
	if g < DefaultDTMFGap {
		g = DefaultDTMFGap
	}
	return int((g + FrameDuration - 1) / FrameDuration)
}

// Next is called once per frame with the frame's RTP timestamp. When active is
// true the leg sends p[:n] as a telephone-event packet with RTP timestamp eventTS and
// the given marker, instead of audio for this frame; otherwise it sends audio.
// p must hold at least TelephoneEventSize bytes. It does not allocate.
func (s *DTMFSender) Next(p []byte, frameTS uint32) (n int, eventTS uint32, marker bool, active bool) {
	if s.pending.Load() == 0 {
		return 0, 0, false, false
	}
	if len(p) < TelephoneEventSize {
		return 0, 0, false, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.active {
		if s.count == 0 {
			return 0, 0, false, false
		}
		// Wait out the gap; a timestamp far outside it (the leg restarted its
		// timestamps) does not make the key wait.
		if wait := s.notBefore - frameTS; s.sentAny && int32(wait) > 0 && wait <= uint32(s.gapFrames()*FrameSamples) {
			return 0, 0, false, false
		}
		s.cur = s.queue[s.head]
		s.head = (s.head + 1) % dtmfQueueLen
		s.count--
		s.active, s.frame, s.eventTS = true, 0, frameTS
	}
	k := s.frame
	s.frame++
	dur := min(k+1, s.cur.frames) * FrameSamples
	ev := TelephoneEvent{
		Event:    s.cur.code,
		End:      k >= s.cur.frames-1,
		Volume:   dtmfSendVolume,
		Duration: uint16(dur),
	}
	n = ev.MarshalTo(p)
	if k == s.cur.frames-1+dtmfEndPackets-1 {
		s.active, s.sentAny = false, true
		s.notBefore = s.eventTS + uint32((s.cur.frames+s.gapFrames())*FrameSamples)
		s.pending.Add(-1)
	}
	return n, s.eventTS, k == 0, true
}
