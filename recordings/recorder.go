// Package recordings owns call recording: one stereo WAV per call (the caller on
// the left channel, the agent or any other party on the right, 8 kHz A-law), fed by
// media taps, written incrementally so that a crash loses at most about a second,
// the storage layout under the data folder, retention, crash repair, and reading
// recordings back (whole, by range, or split into the two voices).
//
// # Real time
//
// Sinks run on the media clock, or as a relayed party's packets arrive, and never
// block, allocate or touch the disk: a frame is stamped with its arrival time and,
// when nobody holds the recorder (a TryLock), laid straight into its slot of the
// in-memory layout; otherwise (the
// writer is writing this recording, or the layout is full) it is copied into a
// preallocated lock-free ring, which whoever next holds the recorder drains first.
// The store's one writer goroutine writes every recording's finished slots every
// 750 ms. When the writer falls behind and the layout (1.28 s) and the ring (2.56 s)
// are full, frames are dropped and counted, never waited for. (Every frame went
// through the ring before: a copy into a cell last touched seconds ago, 2.8 % of
// the server's samples at 200 recorded calls, on top of the layout's own.)
//
// A relayed party's frames do not come as each packet arrives: the leg copies them
// into its media clock's frame log and the poller hands them over after the batch of
// packets it relayed them in (a sink is a media.LoggedSink). For each batch WarmFrame
// first reads every frame's recorder and staging slot, then WriteFrameAt lays the frames
// out: a recorder's memory has left the cache in the 20 ms since its last frame, and
// the misses of a batch's recorders then overlap instead of each waiting for the
// one before (in B4 at 400 recorded calls, 11 % less CPU per relayed packet).
//
// # Writing
//
// One writer per store, not one per recording: it pumps the open recordings one
// after another, pausing for a millisecond after each 250 µs of work so that the
// media clock and the relays are never held up for longer, then runs the shared
// syncfs. A write to a file is a system call of 10 to 20 µs, long enough for the
// Go runtime's monitor thread (sysmon) to take the processor from it and hand it
// to another thread, after which the monitor polls every 20 µs for a while. With
// one goroutine per recording the writes were spread over the whole pump interval and
// kept the monitor polling and threads switching all the time: at 200 recorded
// calls on one processor, perf put the monitor at 8 % of the server's samples
// (0.4 % unrecorded), and B5 measured +35 % of the unrecorded CPU (2.05 % of a
// core per 100 calls); written in one burst per round, +13 to +27 % per run, +18.5 %
// pooled over twelve on/off pairs (about 1.2 %; bench/RESULTS-b3-b6.md). Then, on
// another machine where that code measured +18 %: a 750 ms pump, taps laying frames
// out themselves and A-law files (half the bytes to lay out and write) gave +10.3 %
// pooled over eight pairs, 0.8 to 1.3 % of a core per 100 recorded calls.
//
// With a Disk (hotline's Helper) the writes themselves happen in a child process:
// the writer hands each one over through a pipe and never waits for the disk.
// ext4 can hold a write for milliseconds while its journal commits, and a Go
// program keeps its processor through a blocking system call (see Helper).
//
// # Alignment
//
// The file is a timeline of 20 ms slots counted from the recorder's start on the
// wall clock; slot k holds the left and right audio of [k·20 ms, (k+1)·20 ms). Each
// sink (each call to Left or Right) is a stream with its own timeline: its frames
// go to consecutive slots, so the jitter of the media clock (a leg's phase, a
// catch-up burst of up to three frames) never tears a continuous stream apart; but
// when a stream's next slot drifts more than three slots (60 ms) from the slot its
// arrival time falls in — after a hold, a pause, a leg that went away or a new leg
// with another phase — it is re-anchored at its arrival slot. A slot that no stream
// of a side filled is silence, and slots are written only once they are 120 ms in
// the past, so a side that stops or starts never shifts the other: both channels
// always share one clock. Two streams on one side at once (a transfer's overlap,
// a conference) are mixed.
//
// # Durability
//
// A slot is written (to the page cache) at most 870 ms after its time: the 120 ms
// commit lag plus one 750 ms pump, which is all a crash of the process can lose
// (what it had handed to a Helper is still written: the helper drains its pipe
// before it exits).
// (A write costs about 11 µs of CPU whether it carries 6 or 13 KB, so pumping less
// often is cheaper; 750 ms keeps the bound under a second.) Each pump round ends
// with the data made durable (FlushInterval, one pump by default), so a power loss
// or kernel crash loses about a second at most. The header's sizes are rewritten
// every 3 s (headerEvery) for whoever plays a recording still in progress, and at
// the end; they are not needed for safety: Repair makes a file left by a crash
// valid at the next start from its length.
//
// Durable how: an fsync per recording per interval costs about 170 µs of CPU on
// ext4 (measured: 1,000 calls would spend 40 to 95 % of a core on it), so on
// Linux the store instead runs one syncfs(2) of the recordings' filesystem per
// interval while any recording is open, which flushes every recording's data and
// header together (hotline runs it in a helper process, see Helper: a syncfs
// blocks for milliseconds, and in the process it would hold up the media clock).
// A recording that closes is made durable by the next syncfs, at most one
// interval later (the last one to close waits for a final syncfs), not by an fsync
// of its own: that too would block on the disk on the call's goroutine. If syncfs
// fails (or on other systems, or with an injected Create) each recorder fsyncs
// its own file at each interval and at close, so a failing disk is pinned on the
// recordings it hurts.
//
// # Pause
//
// Paused time is written as silence on both channels rather than skipped, so the
// file's timeline stays the call's timeline (an offset in the recording is an
// offset in the call, for the case record and for QA) and the channels stay
// aligned by construction. Frames that reach a sink while paused are discarded.
package recordings

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-12345/hotline/media"
	"github.com/zaf/g711"
)

const (
	frameNs      = int64(media.FrameDuration)
	jitterSlots  = 3  // the media clock catches up at most three frames at once
	commitLag    = 6  // slots kept open for frames still on their way (> jitterSlots)
	stagingSlots = 64 // slots laid out in memory before they are written: 1.28 s
	pumpEvery    = 750 * time.Millisecond
	headerEvery  = 3 * time.Second // the header's sizes, for readers of a recording in progress
	streamIdle   = 2 * time.Second // a stream silent this long is forgotten
	maxStreams   = 16              // streams remembered per recorder; more are rare
)

// Info describes a finished (or failed) recording.
type Info struct {
	Path     string
	Duration time.Duration // of audio in the file, paused silence included
	Bytes    int64         // file size, header included
	Dropped  int64         // frames lost: writer behind, late, or after a failure
	Paused   time.Duration // total time paused
}

// File is what a recorder writes to; *os.File satisfies it. Injected through
// Store.Create so tests can fail the disk.
type File interface {
	io.Writer
	io.WriterAt
	Sync() error
	Close() error
}

type side uint8

const (
	left  side = 0
	right side = 1
)

// cell is one frame in the ring. seq implements Vyukov's bounded queue: it tells
// producers and the consumer whose turn the cell is, and its atomic store
// publishes the fields written before it.
type cell struct {
	seq    atomic.Uint64
	at     int64 // arrival, ns since the recorder started
	stream uint32
	side   side
	codec  media.Codec
	n      uint16
	data   [media.FrameSamples]byte
}

// ring is a bounded multi-producer single-consumer queue of frames. More than one
// producer is normal: the two sides tick on different pacers, and a side may have
// two legs during a transfer.
type ring struct {
	mask  uint64 // mask and cells are read-only once built: shared by all
	cells []cell
	_     [32]byte
	head  atomic.Uint64 // written by producers
	_     [56]byte
	tail  uint64 // written by the consumer; padded apart to avoid false sharing
}

// init sizes the ring to a power of two of at least size cells.
func (q *ring) init(size int) {
	n := 1
	for n < size {
		n <<= 1
	}
	q.mask, q.cells = uint64(n-1), make([]cell, n)
	for i := range q.cells {
		q.cells[i].seq.Store(uint64(i))
	}
}

// push copies a frame in; false means the ring is full.
func (q *ring) push(at int64, stream uint32, s side, c media.Codec, p []byte) bool {
	for {
		pos := q.head.Load()
		cl := &q.cells[pos&q.mask]
		seq := cl.seq.Load()
		switch {
		case seq == pos:
			if q.head.CompareAndSwap(pos, pos+1) {
				cl.at, cl.stream, cl.side, cl.codec = at, stream, s, c
				cl.n = uint16(copy(cl.data[:], p))
				cl.seq.Store(pos + 1)
				return true
			}
		case seq < pos:
			return false
		}
		// Another producer took this cell first: try the next one.
	}
}

// front returns the oldest frame or nil; release hands its cell back.
func (q *ring) front() *cell {
	cl := &q.cells[q.tail&q.mask]
	if cl.seq.Load() != q.tail+1 {
		return nil
	}
	return cl
}

// waiting is front for a caller that expects an empty ring: nil at once when no
// producer has claimed a cell since the last release.
func (q *ring) waiting() *cell {
	if q.head.Load() == q.tail {
		return nil
	}
	return q.front()
}

func (q *ring) release(cl *cell) {
	cl.seq.Store(q.tail + q.mask + 1)
	q.tail++
}

// sink is one stream into one channel.
type sink struct {
	r      *Recorder
	side   side
	id     uint32
	warmed uint32 // WarmFrame's, written only by the media clock that drains this sink's frames
}

func (s *sink) WriteFrame(c media.Codec, p []byte) { s.r.push(s, c, p, s.r.now()) }

// WriteFrameAt takes a relayed frame from the media clock's frame log (see media.LoggedSink).
func (s *sink) WriteFrameAt(c media.Codec, p []byte, at time.Time) { s.r.push(s, c, p, at) }

var _ media.LoggedSink = (*sink)(nil)

// stream is the writer's view of one sink.
type stream struct {
	id   uint32
	next int64 // slot of the stream's next frame
	last int64 // arrival of its last frame, ns
}

// Recorder writes one call's stereo recording. Left, Right, Pause and Resume may
// be called from any goroutine; Close ends the recording.
type Recorder struct {
	path       string
	log        *slog.Logger
	m          *metrics
	now        func() time.Time
	t0         time.Time
	file       File
	flushEvery time.Duration
	release    func() // tells the store the file is no longer being written

	q       ring
	nextID  atomic.Uint32
	paused  atomic.Bool
	closed  atomic.Bool
	failed  atomic.Bool
	dropped atomic.Int64

	// Owned by whoever holds pumpMu: the store's writer, then Close.
	pumpMu    sync.Mutex
	streams   []stream
	base      int64 // first slot not yet written
	maxSlot   int64 // last slot that received audio
	staging   []byte
	has       [stagingSlots][2]bool
	dataLen   int64
	hdr       [headerSize]byte
	lastFlush time.Time
	lastHdr   time.Time
	dirSynced bool
	syncEach  *atomic.Bool // the store's: fsync this file at each flush
	reported  int64        // part of dropped already added to the counter
	werr      error

	mu        sync.Mutex // Pause, Resume, Close
	pausedFor time.Duration
	pausedAt  time.Time
	closeOnce sync.Once
	info      Info
	closeErr  error
}

// Left returns a new sink for the caller's channel; tap the caller's leg with it.
func (r *Recorder) Left() media.Sink { return r.newSink(left) }

// Right returns a new sink for the other channel (agent, second agent, supervisor
// in a barge); each call is its own stream, and concurrent streams are mixed.
func (r *Recorder) Right() media.Sink { return r.newSink(right) }

func (r *Recorder) newSink(s side) media.Sink {
	return &sink{r: r, side: s, id: r.nextID.Add(1)}
}

// Path is where the recording is written.
func (r *Recorder) Path() string { return r.path }

func (r *Recorder) push(s *sink, c media.Codec, p []byte, now time.Time) {
	if r.closed.Load() || r.paused.Load() {
		return
	}
	if r.failed.Load() {
		r.dropped.Add(1)
		return
	}
	at := int64(now.Sub(r.t0))
	// Most of the time nobody else holds the layout: lay the frame out now, behind
	// whatever waits in the ring, and skip the ring's copy (a cold one: each cell is
	// reused every 2.56 s). The writer holds it while it writes, another producer
	// for a moment: then the ring, which never waits.
	if r.pumpMu.TryLock() {
		placed := r.placeNow(at, s.id, s.side, c, p)
		r.pumpMu.Unlock()
		if placed {
			return
		}
	}
	if !r.q.push(at, s.id, s.side, c, p) {
		r.dropped.Add(1)
	}
}

// placeNow lays out, in order, the frames waiting in the ring and then this one, as
// far as they fit in the staging slots: making room would mean a write, which is the
// writer's. It reports whether this frame was placed; the caller holds pumpMu.
// Frames of one stream keep their order: a stream's producer pushes into the ring only
// while this one is busy or full, and its next frame here comes after those.
func (r *Recorder) placeNow(at int64, id uint32, sd side, c media.Codec, p []byte) bool {
	if r.failed.Load() {
		return false
	}
	// The ring is nearly always empty: ask its head, not its next cell, which was
	// last touched seconds ago and would be a cache miss on every frame.
	for cl := r.q.waiting(); cl != nil; cl = r.q.waiting() {
		if !r.place(cl.at, cl.stream, cl.side, cl.codec, cl.data[:cl.n], false) {
			return false
		}
		r.q.release(cl)
	}
	return r.place(at, id, sd, c, p, false)
}

// Pause stops recording (privacy: a card number, an ID number) until Resume; the
// paused time becomes silence. Pausing a paused recording does nothing.
func (r *Recorder) Pause() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.paused.Load() || r.closed.Load() {
		return
	}
	r.pausedAt = r.now()
	r.paused.Store(true)
}

// Resume continues a paused recording in the same file.
func (r *Recorder) Resume() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.paused.Load() || r.closed.Load() {
		return
	}
	r.paused.Store(false)
	r.pausedFor += r.now().Sub(r.pausedAt)
}

// Paused reports whether the recording is paused.
func (r *Recorder) Paused() bool { return r.paused.Load() }

// Failed reports whether the recording stopped on a write error; the call goes on.
func (r *Recorder) Failed() bool { return r.failed.Load() }

// Close writes what is left, fixes the header and closes the file, which the store's
// next shared sync makes durable (see Durability; the last one waits for it). Taps may
// be removed before or after; frames after Close are ignored. It returns the error
// that made the recording fail, if any, with the Info of what was kept.
func (r *Recorder) Close() (Info, error) {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed.Store(true)
		if r.paused.Load() {
			r.pausedFor += r.now().Sub(r.pausedAt)
		}
		paused := r.pausedFor
		r.mu.Unlock()
		r.pumpMu.Lock()
		r.pump(r.now(), true)
		r.pumpMu.Unlock()
		err := r.werr
		if cerr := r.file.Close(); cerr != nil && err == nil {
			err = cerr
			r.m.failed.Inc()
			r.log.Error("recordings: closing the recording failed", "err", cerr)
		}
		r.release()
		r.info = Info{
			Path:     r.path,
			Duration: time.Duration(r.dataLen / frameBytes * frameNs),
			Bytes:    headerSize + r.dataLen,
			Dropped:  r.dropped.Load(),
			Paused:   paused,
		}
		r.closeErr = err
	})
	return r.info, r.closeErr
}

// pumpShared is the store writer's pump: nothing once Close has begun, which
// writes the rest itself.
func (r *Recorder) pumpShared(now time.Time) {
	r.pumpMu.Lock()
	defer r.pumpMu.Unlock()
	if !r.closed.Load() {
		r.pump(now, false)
	}
}

// pump drains the ring into the slot layout, writes every slot that can no longer
// receive audio, and flushes when due. final writes everything up to now.
func (r *Recorder) pump(now time.Time, final bool) {
	for cl := r.q.front(); cl != nil; cl = r.q.front() {
		if r.failed.Load() {
			r.dropped.Add(1)
		} else {
			r.place(cl.at, cl.stream, cl.side, cl.codec, cl.data[:cl.n], true)
		}
		r.q.release(cl)
	}
	wall := int64(now.Sub(r.t0)) / frameNs
	upto := wall - commitLag
	if final {
		upto = max(wall, r.maxSlot+1)
	}
	r.commit(upto)
	if final || now.Sub(r.lastFlush) >= r.flushEvery {
		r.lastFlush = now
		r.flush(now, final)
		r.forget(int64(now.Sub(r.t0)))
	}
}

// place lays one frame out at its stream's slot (see Alignment in the package doc).
// A slot past the staging area needs the oldest slots written first: with write
// false (a producer, see placeNow) place leaves such a frame alone and reports false.
func (r *Recorder) place(at int64, id uint32, sd side, c media.Codec, data []byte, write bool) bool {
	at = max(at, 0)
	w := at / frameNs
	st := r.stream(id, w)
	slot := st.next
	if slot < w-jitterSlots || slot > w+jitterSlots {
		slot = w
	}
	if !write && slot >= r.base+stagingSlots {
		return false
	}
	st.next = slot + 1
	st.last = at
	if slot < r.base {
		r.dropped.Add(1) // its slot is already on disk
		return true
	}
	if slot >= r.base+stagingSlots {
		r.commit(slot - stagingSlots + 1)
		if r.failed.Load() {
			r.dropped.Add(1)
			return true
		}
	}
	var src *[media.FrameSamples]byte
	if len(data) >= media.FrameSamples {
		src = (*[media.FrameSamples]byte)(data)
	} else { // a short frame ends in silence
		src = new([media.FrameSamples]byte)
		media.FillSilence(c, src[copy(src[:], data):])
	}
	i := slot % stagingSlots
	frame := (*[frameBytes]byte)(r.staging[i*frameBytes:])
	mix := r.has[i][sd]
	r.has[i][sd] = true
	dst := (*[frameBytes - 1]byte)(frame[sd:])
	switch {
	case mix:
		mixChannel(dst, c, src)
	case c == media.PCMA:
		putChannel(dst, src, &identity)
	default:
		putChannel(dst, src, &ulawToAlaw)
	}
	r.maxSlot = max(r.maxSlot, slot)
	return true
}

// The file's samples are A-law: an A-law frame is copied, a μ-law one converted
// through G.711's own table.
var identity, ulawToAlaw [256]byte

func init() {
	for b := range 256 {
		identity[b] = byte(b)
		ulawToAlaw[b] = g711.Ulaw2AlawFrame(byte(b))
	}
}

// putChannel writes a frame into every other byte of an interleaved stereo frame
// (dst starts at the channel's first byte), through table. The fixed-size arrays
// let the compiler drop the bounds checks: this loop is most of a tap's CPU.
func putChannel(dst *[frameBytes - 1]byte, src *[media.FrameSamples]byte, table *[256]byte) {
	for j, b := range src {
		dst[j*blockAlign] = table[b]
	}
}

// mixChannel adds a frame to what a channel already holds in that slot (two
// streams on one side: a transfer's overlap, a conference), with saturation.
func mixChannel(dst *[frameBytes - 1]byte, c media.Codec, src *[media.FrameSamples]byte) {
	var pcm [media.FrameSamples]int16
	media.DecodeFrame(c, pcm[:], src[:])
	for j, v := range pcm {
		k := j * blockAlign
		sum := int32(g711.DecodeAlawFrame(dst[k])) + int32(v)
		dst[k] = g711.EncodeAlawFrame(int16(min(max(sum, -32768), 32767)))
	}
}

// stream finds or starts the writer's state for a sink; a new stream starts at
// its arrival slot.
func (r *Recorder) stream(id uint32, w int64) *stream {
	for i := range r.streams {
		if r.streams[i].id == id {
			return &r.streams[i]
		}
	}
	if len(r.streams) == maxStreams {
		r.streams = r.streams[:copy(r.streams, r.streams[1:])] // forget the oldest
	}
	r.streams = append(r.streams, stream{id: id, next: w})
	return &r.streams[len(r.streams)-1]
}

// forget drops streams that have gone quiet, so a long call's taps do not pile up.
func (r *Recorder) forget(nowNs int64) {
	kept := r.streams[:0]
	for _, st := range r.streams {
		if nowNs-st.last < int64(streamIdle) {
			kept = append(kept, st)
		}
	}
	r.streams = kept
}

// commit writes slots [base, upto) and frees them for reuse.
func (r *Recorder) commit(upto int64) {
	for r.base < upto {
		i := r.base % stagingSlots
		run := min(upto-r.base, stagingSlots-i)
		buf := r.staging[i*frameBytes : (i+run)*frameBytes]
		if !r.failed.Load() {
			if r.dataLen+int64(len(buf)) > maxData {
				r.fail(fmt.Errorf("recordings: %s reached the WAV size limit", r.path))
			} else {
				n, err := r.file.Write(buf)
				r.dataLen += int64(n)
				r.m.bytes.Add(float64(n))
				if err == nil && n < len(buf) {
					err = io.ErrShortWrite
				}
				if err != nil {
					r.fail(err)
				}
			}
		}
		media.FillSilence(media.PCMA, buf)
		clear(r.has[i : i+run])
		r.base += run
	}
}

// flush makes the header true to what was written (at the end, every headerEvery
// for readers of a recording in progress, and each time when this recorder syncs its
// own file) and, when this recorder syncs its own file (see Store.syncEach), makes
// it durable. In the shared mode the store's syncfs does that for every recording
// at once, a closed one's last writes included (see Durability).
func (r *Recorder) flush(now time.Time, final bool) {
	if d := r.dropped.Load(); d > r.reported {
		r.m.dropped.Add(float64(d - r.reported))
		r.reported = d
	}
	if r.failed.Load() {
		return
	}
	syncEach := r.syncEach.Load()
	if final || syncEach || now.Sub(r.lastHdr) >= headerEvery {
		r.lastHdr = now
		putHeader(&r.hdr, uint32(r.dataLen))
		if _, err := r.file.WriteAt(r.hdr[:], 0); err != nil {
			r.fail(err)
			return
		}
	}
	if !syncEach {
		return
	}
	if err := r.file.Sync(); err != nil {
		r.fail(err)
		return
	}
	if !r.dirSynced {
		// A new file's name is durable only once its folder is synced; done here,
		// off the call's goroutine, and only once. Best effort: the data is safe.
		r.dirSynced = true
		if d, err := os.Open(filepath.Dir(r.path)); err == nil {
			_ = d.Sync()
			_ = d.Close()
		}
	}
}

// fail stops the recording for good (the call goes on): logged and counted once.
func (r *Recorder) fail(err error) {
	if !r.failed.CompareAndSwap(false, true) {
		return
	}
	r.werr = err
	r.m.failed.Inc()
	r.log.Error("recordings: write failed; recording stopped, the call goes on", "err", err)
}
