package media

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A LoggedSink is a Sink that can take a relayed party's frames a moment later, in
// batches, with the time each arrived (a call recording). A leg whose packets are
// relayed does not call such a sink as each packet arrives: it copies the frame into its
// media clock's frame log, a small buffer that stays in the processor's cache, and the
// poller that relayed them hands the log's frames over after each batch it served (the
// clock, at its next millisecond tick, any that a relay on another goroutine left).
//
// Why: a sink's own memory (a recorder's slot layout, its locks, its streams) is touched
// once per frame, every 20 ms, and has long left the cache by then. Called as each packet
// arrives, every one of those cache misses waits for the one before it; handed a batch,
// WarmFrame first touches every frame's memory, so the misses overlap, and WriteFrameAt then
// finds it cached.
type LoggedSink interface {
	Sink
	// WarmFrame touches what WriteFrameAt will touch for a frame that arrived at at; it
	// must not change anything.
	WarmFrame(at time.Time)
	// WriteFrameAt is WriteFrame for a frame that arrived at at.
	WriteFrameAt(c Codec, p []byte, at time.Time)
}

// frameLogSize is how many frames a frame log holds between two drains: a poller's batch
// is at most 64 frames; should its drains stall, 1,000 relayed calls bring 100 a millisecond.
const frameLogSize = 1024

type loggedFrame struct {
	to    LoggedSink
	at    time.Time
	codec Codec
	n     uint8
	data  [FrameSamples]byte
}

type frameBatch struct {
	n int
	f [frameLogSize]loggedFrame
}

// frameLog collects frames for LoggedSinks between two drains. Any
// goroutine appends; drain hands them over in order, one drain at a time. Two batches
// take turns: producers fill one while the drain empties the other.
type frameLog struct {
	log    *slog.Logger       // for a sink that panics (nil: slog's default)
	panics prometheus.Counter // the engine's leg panics (nil: none)

	mu      sync.Mutex
	cur     *frameBatch
	drainMu sync.Mutex
	spare   *frameBatch // held by the drain
}

func newFrameLog() *frameLog {
	return &frameLog{cur: new(frameBatch), spare: new(frameBatch)}
}

// add copies a frame in. When the log is full (its drains stalled for 10 ms) it drains it
// first, here, so that a sink's frames keep their order.
func (fl *frameLog) add(to LoggedSink, c Codec, p []byte, at time.Time) {
	for range 2 {
		fl.mu.Lock()
		if b := fl.cur; b.n < len(b.f) {
			f := &b.f[b.n]
			f.to, f.at, f.codec = to, at, c
			f.n = uint8(copy(f.data[:], p))
			b.n++
			fl.mu.Unlock()
			return
		}
		fl.mu.Unlock()
		fl.drain()
	}
	to.WriteFrameAt(c, p, at) // filled again at once by other producers: give it now
}

// drain hands every frame added so far to its sink: first WarmFrame for all of them,
// then WriteFrameAt in order.
func (fl *frameLog) drain() {
	fl.drainMu.Lock()
	defer fl.drainMu.Unlock()
	fl.drainLocked()
}

// tryDrain is the poller's and the clock's drain: it never waits. If another goroutine
// is draining (a tap being removed, a producer that found the log full), that one hands
// the frames over.
func (fl *frameLog) tryDrain() {
	if fl.drainMu.TryLock() {
		defer fl.drainMu.Unlock()
		fl.drainLocked()
	}
}

func (fl *frameLog) drainLocked() {
	fl.mu.Lock()
	b := fl.cur
	if b.n == 0 {
		fl.mu.Unlock()
		return
	}
	fl.cur, fl.spare = fl.spare, b
	fl.mu.Unlock()
	frames := b.f[:b.n]
	fl.warm(frames)
	for i := 0; i < len(frames); {
		i = fl.write(frames, i)
	}
	for i := range frames {
		frames[i].to = nil // keeps no sink alive
	}
	b.n = 0
}

// warm calls WarmFrame for every frame. A sink that panics (a bug) ends the warming,
// which only makes the writes slower, and is reported.
func (fl *frameLog) warm(frames []loggedFrame) {
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("warming a frame", r)
		}
	}()
	for i := range frames {
		frames[i].to.WarmFrame(frames[i].at)
	}
}

// write hands frames[from:] over in order and returns len(frames), or the index just
// past a frame whose sink panicked (a bug: that frame is lost, reported, and the
// others still go out; the clock goes on).
func (fl *frameLog) write(frames []loggedFrame, from int) (next int) {
	next = from
	defer func() {
		if r := recover(); r != nil {
			fl.panicked("handing a frame over", r)
			next++
		}
	}()
	for ; next < len(frames); next++ {
		f := &frames[next]
		f.to.WriteFrameAt(f.codec, f.data[:f.n], f.at)
	}
	return next
}

func (fl *frameLog) panicked(what string, r any) {
	if fl.panics != nil {
		fl.panics.Inc()
	}
	log := fl.log
	if log == nil {
		log = slog.Default()
	}
	log.Error("media: panic in a logged sink, "+what, "panic", fmt.Sprint(r))
}
