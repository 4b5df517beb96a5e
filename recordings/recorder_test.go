package recordings

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/hotline-12345/hotline/media"
	"github.com/zaf/g711"
)

// helperTestEnv makes this test binary a disk helper for the Helper tests;
// helperFsizeEnv, when set, limits the files it writes to that many bytes (a disk
// that fills).
const (
	helperTestEnv  = "RECORDINGS_TEST_DISK_HELPER"
	helperFsizeEnv = "RECORDINGS_TEST_DISK_HELPER_FSIZE"
)

func TestMain(m *testing.M) {
	if dir, ok := os.LookupEnv(helperTestEnv); ok {
		if n, err := strconv.ParseUint(os.Getenv(helperFsizeEnv), 10, 64); err == nil {
			signal.Ignore(syscall.SIGXFSZ) // a write past the limit fails with EFBIG instead
			if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
				panic(err)
			}
		}
		if err := ServeHelper(dir, os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is a settable clock shared by the sinks and the writer.
type fakeClock struct {
	base time.Time
	ns   atomic.Int64
}

func newFakeClock() *fakeClock {
	return &fakeClock{base: time.Date(2026, 11, 27, 9, 30, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time          { return c.base.Add(time.Duration(c.ns.Load())) }
func (c *fakeClock) Set(d time.Duration)     { c.ns.Store(int64(d)) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testStore returns a store on a fake clock whose recorders are pumped by the test.
func testStore(t testing.TB, clk *fakeClock) (*Store, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s := &Store{Dir: t.TempDir(), Registerer: reg, Now: clk.Now, manual: true}
	return s, reg
}

// feeder plays a tone into a sink as a media clock would: frame k is delivered at
// k·20 ms + phase, with optional scheduling jitter and catch-up bursts.
type feeder struct {
	sink   media.Sink
	codec  media.Codec
	phase  time.Duration
	tone   *media.ToneSource
	marker *media.ToneSource // played instead of tone on marker frames
	marks  map[int64]bool
	from   int64 // first and last+1 frame delivered
	to     int64
	buf    [media.FrameSamples]byte
}

func newFeeder(s media.Sink, c media.Codec, phase time.Duration, freq float64, from, to time.Duration) *feeder {
	return &feeder{
		sink: s, codec: c, phase: phase,
		tone:   media.NewToneSource(0.5, freq),
		marker: media.NewToneSource(0.5, markerFreq),
		marks:  map[int64]bool{},
		from:   int64(from / media.FrameDuration), to: int64(to / media.FrameDuration),
	}
}

const markerFreq = 2400

func (f *feeder) frame(k int64) {
	src := f.tone
	if f.marks[k] {
		src = f.marker
	}
	src.ReadFrame(f.codec, f.buf[:])
	f.sink.WriteFrame(f.codec, f.buf[:])
}

// run advances clk from 0 to end in 1 ms steps, delivering every feeder's frames
// and pumping the recorder as its writer would. With rnd set, each feeder has jitter of up
// to 4 ms and, now and then, a 60 ms stall followed by a burst of three frames.
func run(r *Recorder, clk *fakeClock, end time.Duration, rnd *rand.Rand, at map[time.Duration]func(), fs ...*feeder) {
	type st struct {
		next    int64
		dueAt   time.Duration
		stalled bool
	}
	state := make([]st, len(fs))
	for i, f := range fs {
		state[i].next = f.from
		state[i].dueAt = time.Duration(f.from)*media.FrameDuration + f.phase
	}
	for now := time.Duration(0); now < end; now += time.Millisecond {
		clk.Set(now)
		if fn := at[now]; fn != nil {
			fn()
		}
		for i, f := range fs {
			s := &state[i]
			for s.next < f.to && now >= s.dueAt {
				f.frame(s.next)
				s.next++
				s.dueAt = time.Duration(s.next)*media.FrameDuration + f.phase
				if rnd != nil {
					if rnd.IntN(50) == 0 {
						s.dueAt += 2 * media.FrameDuration // a stall: the next three come at once
					} else {
						s.dueAt += time.Duration(rnd.IntN(5)) * time.Millisecond
					}
				}
			}
		}
		if now%pumpEvery == 0 {
			r.pump(clk.Now(), false)
		}
	}
	clk.Set(end)
}

// readChannels splits a recording with Split and decodes both mono WAVs.
func readChannels(t testing.TB, path string) (l, r []int16) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lb, rb bytes.Buffer
	n, err := Split(f, &lb, &rb)
	if err != nil {
		t.Fatal(err)
	}
	if l, err = media.DecodeWAV(lb.Bytes()); err != nil {
		t.Fatalf("left channel: %v", err)
	}
	if r, err = media.DecodeWAV(rb.Bytes()); err != nil {
		t.Fatalf("right channel: %v", err)
	}
	if int64(len(l)) != n || int64(len(r)) != n {
		t.Fatalf("split %d samples, decoded %d and %d", n, len(l), len(r))
	}
	return l, r
}

func frameOf(pcm []int16, k int) []int16 {
	return pcm[k*media.FrameSamples : (k+1)*media.FrameSamples]
}

// markers returns the frames of pcm that hold the marker tone.
func markers(pcm []int16) []int {
	var out []int
	for k := 0; k < len(pcm)/media.FrameSamples; k++ {
		if media.ToneLevel(frameOf(pcm, k), markerFreq) > -15 {
			out = append(out, k)
		}
	}
	return out
}

// silent: every sample is A-law's zero (which decodes to ±8, its smallest step).
func silent(pcm []int16) bool {
	for _, v := range pcm {
		if v < -8 || v > 8 {
			return false
		}
	}
	return true
}

func TestChannelsHoldTheirParty(t *testing.T) {
	clk := newFakeClock()
	s, reg := testStore(t, clk)
	r, err := s.Start("c1", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	caller := newFeeder(r.Left(), media.PCMU, 3*time.Millisecond, 1000, 0, 2*time.Second)
	agent := newFeeder(r.Right(), media.PCMA, 11*time.Millisecond, 1700, 0, 2*time.Second)
	run(r, clk, 2*time.Second, nil, nil, caller, agent)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(s.Dir, "2026", "11", "27", "c1.wav")
	if info.Path != want {
		t.Fatalf("path %q, want %q", info.Path, want)
	}
	if info.Duration != 2*time.Second || info.Bytes != headerSize+2*byteRate || info.Dropped != 0 {
		t.Fatalf("info %+v, want 2 s, %d bytes, none dropped", info, headerSize+2*byteRate)
	}
	l, rr := readChannels(t, info.Path)
	// Skip the first and last frames, where the tone starts and stops mid-window.
	lm, rm := l[media.FrameSamples:len(l)-media.FrameSamples], rr[media.FrameSamples:len(rr)-media.FrameSamples]
	for _, c := range []struct {
		name      string
		pcm       []int16
		own, leak float64
	}{{"left", lm, 1000, 1700}, {"right", rm, 1700, 1000}} {
		if lvl := media.ToneLevel(c.pcm, c.own); lvl < -8 {
			t.Errorf("%s channel: its party's %v Hz at %.1f dBFS, want about -6", c.name, c.own, lvl)
		}
		if lvl := media.ToneLevel(c.pcm, c.leak); lvl > -60 {
			t.Errorf("%s channel: the other party's %v Hz at %.1f dBFS, want none", c.name, c.leak, lvl)
		}
	}
	if got := testutil.ToFloat64(s.m.bytes); got != 2*byteRate {
		t.Errorf("bytes written %v, want %v", got, 2*byteRate)
	}
	if n, err := testutil.GatherAndCount(reg, "recordings_started_total"); err != nil || n != 1 {
		t.Errorf("recordings_started_total registered %d times, err %v", n, err)
	}
	if got := testutil.ToFloat64(s.m.started); got != 1 {
		t.Errorf("started %v, want 1", got)
	}
}

// TestAlignment runs one call through the events that shift naive recorders:
// jitter and catch-up bursts, the agent going away (hold, back to the queue), a
// second agent on another phase, a pause, and the caller hanging up first. Both
// parties send a marker in the same wall-clock frames; the markers must sit in
// the same slot of both channels, at the slot of their wall-clock time.
func TestAlignment(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("align", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	sec := func(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
	caller := newFeeder(r.Left(), media.PCMU, 3*time.Millisecond, 500, 0, sec(5.5))
	agent1 := newFeeder(r.Right(), media.PCMA, 17*time.Millisecond, 1200, 0, sec(2))
	agent2 := newFeeder(r.Right(), media.PCMU, 9*time.Millisecond, 1200, sec(3), sec(6))
	marks := []int64{40, 90, 170, 240, 270} // 0.8 s, 1.8 s, 3.4 s, 4.8 s, 5.4 s
	for _, k := range marks {
		caller.marks[k], agent1.marks[k], agent2.marks[k] = true, true, true
	}
	events := map[time.Duration]func(){
		sec(4.0): r.Pause,
		sec(4.5): r.Resume,
	}
	run(r, clk, sec(6), rand.New(rand.NewPCG(1, 2)), events, caller, agent1, agent2)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Duration != sec(6) {
		t.Errorf("duration %v, want 6 s (the call's wall time, paused time included)", info.Duration)
	}
	if info.Paused != sec(0.5) {
		t.Errorf("paused %v, want 500ms", info.Paused)
	}
	l, rr := readChannels(t, info.Path)
	lm, rmk := markers(l), markers(rr)
	want := make([]int, len(marks))
	for i, k := range marks {
		want[i] = int(k)
	}
	if !equalInts(lm, want) {
		t.Errorf("left markers at frames %v, want %v", lm, want)
	}
	if !equalInts(rmk, want) {
		t.Errorf("right markers at frames %v, want %v", rmk, want)
	}
	for k := 0; k < len(l)/media.FrameSamples; k++ {
		lf, rf := frameOf(l, k), frameOf(rr, k)
		switch {
		case k >= 200 && k < 225: // paused: nothing on either side
			if !silent(lf) || !silent(rf) {
				t.Fatalf("frame %d: audio while paused", k)
			}
		case k >= 100 && k < 150: // the agent has gone; the caller goes on
			if !silent(rf) {
				t.Fatalf("frame %d: right channel has audio while no agent was there", k)
			}
			if media.ToneLevel(lf, 500) < -10 {
				t.Fatalf("frame %d: caller missing while the agent was away", k)
			}
		case k >= 276: // the caller hung up; the second agent goes on
			if !silent(lf) {
				t.Fatalf("frame %d: left channel has audio after the caller left", k)
			}
			if media.ToneLevel(rf, 1200) < -10 {
				t.Fatalf("frame %d: agent missing after the caller left", k)
			}
		}
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestOverlapIsMixed: two streams on the right at once (a transfer's overlap)
// are both heard, and the left is untouched.
func TestOverlapIsMixed(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("mix", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := newFeeder(r.Right(), media.PCMU, 5*time.Millisecond, 700, 0, time.Second)
	b := newFeeder(r.Right(), media.PCMU, 15*time.Millisecond, 1300, 0, time.Second)
	a.tone = media.NewToneSource(0.25, 700)
	b.tone = media.NewToneSource(0.25, 1300)
	run(r, clk, time.Second, nil, nil, a, b)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	l, rr := readChannels(t, info.Path)
	mid := rr[10*media.FrameSamples : 40*media.FrameSamples]
	if a, b := media.ToneLevel(mid, 700), media.ToneLevel(mid, 1300); a < -14 || b < -14 {
		t.Errorf("mixed right channel: 700 Hz %.1f dBFS, 1300 Hz %.1f dBFS, want both about -12", a, b)
	}
	if !silent(l) {
		t.Error("left channel has audio")
	}
}

// TestWriterGoroutine runs the real writer goroutine while two producers and a
// pauser work concurrently (for -race), then checks the file is whole.
func TestWriterGoroutine(t *testing.T) {
	clk := newFakeClock()
	s := &Store{Dir: t.TempDir(), Now: clk.Now, FlushInterval: 10 * time.Millisecond}
	r, err := s.Start("live", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	// Two producers on the right, as during a transfer, contend for the ring.
	for i, sk := range []media.Sink{r.Left(), r.Right(), r.Right()} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := media.NewToneSource(0.5, 800+float64(i)*600)
			var buf [media.FrameSamples]byte
			for range 150 {
				src.ReadFrame(media.PCMU, buf[:])
				sk.WriteFrame(media.PCMU, buf[:])
				time.Sleep(time.Millisecond) // let the writer run
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range 40 {
			clk.Advance(50 * time.Millisecond)
			r.Pause()
			r.Resume()
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != info.Bytes || (info.Bytes-headerSize)%frameBytes != 0 || info.Bytes <= headerSize {
		t.Fatalf("file %d bytes, info %+v", st.Size(), info)
	}
	if n, err := Repair(s.Dir, nil); n != 0 || err != nil {
		t.Fatalf("a closed recording needed repair: %d, %v", n, err)
	}
	if _, err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// TestRingFullDrops: a writer that does not keep up costs frames, counted, and
// never blocks the media clock.
func TestRingFullDrops(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	s.RingFrames = 8
	r, err := s.Start("full", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	var buf [media.FrameSamples]byte
	sk := r.Left()
	r.pumpMu.Lock() // the writer is stuck in a write: frames can only queue
	for range 20 {
		sk.WriteFrame(media.PCMU, buf[:])
	}
	r.pumpMu.Unlock()
	clk.Advance(time.Second)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Dropped != 12 {
		t.Fatalf("dropped %d, want 12", info.Dropped)
	}
	if got := testutil.ToFloat64(s.m.dropped); got != 12 {
		t.Fatalf("recording_frames_dropped_total %v, want 12", got)
	}
}

// TestWriterNeverComes: a writer that does not run at all (not just one busy in a
// write) leaves the producers laying frames out until the staging slots are full,
// then queueing in the ring; only what fits in neither is dropped.
func TestWriterNeverComes(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	s.RingFrames = 8
	r, err := s.Start("stuck", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, 3*time.Second)
	const kept = stagingSlots + 8
	for k := range int64(kept + 5) {
		clk.Set(time.Duration(k) * media.FrameDuration)
		f.frame(k)
	}
	if got := r.dropped.Load(); got != 5 {
		t.Fatalf("dropped %d, want 5", got)
	}
	clk.Set(3 * time.Second)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Dropped != 5 {
		t.Fatalf("info %+v, want 5 dropped", info)
	}
	l, _ := readChannels(t, info.Path)
	for k := range kept + 5 {
		level := media.ToneLevel(frameOf(l, k), 1000)
		if k < kept && level < -15 || k >= kept && level > -40 {
			t.Fatalf("frame %d: tone at %.0f dB (kept: the first %d)", k, level, kept)
		}
	}
}

// TestQueuedFramesKeepTheirPlace: frames that queued in the ring while the writer held
// the recorder come out before the ones laid out directly after it let go.
func TestQueuedFramesKeepTheirPlace(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("order", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(r.Left(), media.PCMU, 0, 500, 0, time.Second)
	for _, k := range []int64{3, 14} {
		f.marks[k] = true
	}
	for k := int64(0); k < 20; k++ {
		if k == 0 {
			r.pumpMu.Lock()
		}
		if k == 10 {
			if r.q.front() == nil {
				t.Fatal("frames 0-9 did not queue while the writer held the recorder")
			}
			r.pumpMu.Unlock()
		}
		clk.Set(time.Duration(k) * media.FrameDuration)
		f.frame(k)
	}
	if r.q.front() != nil {
		t.Fatal("the ring still holds frames after a direct placement")
	}
	clk.Set(time.Second)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	l, _ := readChannels(t, info.Path)
	if m := markers(l); !equalInts(m, []int{3, 14}) {
		t.Fatalf("markers %v, want [3 14]", m)
	}
}

// failingFile fails every write once the disk "fills".
type failingFile struct {
	mu        sync.Mutex
	room      int
	writes    int
	failSync  bool
	closed    bool
	closeErrs int
}

func (f *failingFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	if len(p) > f.room {
		n := f.room
		f.room = 0
		return n, &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}
	}
	f.room -= len(p)
	return len(p), nil
}

func (f *failingFile) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

func (f *failingFile) Sync() error {
	if f.failSync {
		return &os.PathError{Op: "sync", Path: "x", Err: syscall.EIO}
	}
	return nil
}

func (f *failingFile) Close() error { f.closed = true; return nil }

// countHandler counts log records at error level.
type countHandler struct{ errors atomic.Int32 }

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		h.errors.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func TestDiskFull(t *testing.T) {
	for _, tc := range []struct {
		name string
		file *failingFile
		want error
	}{
		{"write", &failingFile{room: headerSize + 10*frameBytes + 100}, syscall.ENOSPC},
		{"sync", &failingFile{room: 1 << 30, failSync: true}, syscall.EIO},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			s, _ := testStore(t, clk)
			h := &countHandler{}
			s.Log = slog.New(h)
			s.Create = func(string) (File, error) { return tc.file, nil }
			r, err := s.Start("full", clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, 5*time.Second)
			g := newFeeder(r.Right(), media.PCMU, 0, 1000, 0, 5*time.Second)
			run(r, clk, 5*time.Second, nil, nil, f, g)
			if !r.Failed() {
				t.Fatal("recorder did not notice the failure")
			}
			// The sinks still take frames without blocking, and count them.
			var buf [media.FrameSamples]byte
			before := r.dropped.Load()
			r.Left().WriteFrame(media.PCMU, buf[:])
			if r.dropped.Load() != before+1 {
				t.Error("a frame after the failure was not counted as dropped")
			}
			info, err := r.Close()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Close error %v, want %v", err, tc.want)
			}
			if info.Dropped == 0 || !tc.file.closed {
				t.Errorf("info %+v, file closed %v", info, tc.file.closed)
			}
			if got := testutil.ToFloat64(s.m.failed); got != 1 {
				t.Errorf("recordings_failed_total %v, want 1", got)
			}
			if got := testutil.ToFloat64(s.m.dropped); got != float64(info.Dropped) {
				t.Errorf("recording_frames_dropped_total %v, want %d", got, info.Dropped)
			}
			if got := h.errors.Load(); got != 1 {
				t.Errorf("%d error logs, want exactly 1", got)
			}
		})
	}
}

func TestStartFails(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	s.Create = func(string) (File, error) { return nil, syscall.ENOSPC }
	if _, err := s.Start("c", clk.Now()); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("err %v, want ENOSPC", err)
	}
	if got := testutil.ToFloat64(s.m.failed); got != 1 {
		t.Errorf("recordings_failed_total %v, want 1", got)
	}
	s2, _ := testStore(t, clk)
	if _, err := s2.Start("dup", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Start("dup", clk.Now()); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second recording of one call: %v, want ErrExist", err)
	}
}

func TestUnsafeCallIDs(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	bad := []string{
		"", ".", "..", "../etc/passwd", "a/b", `a\b`, ".hidden", "-rf", "a b",
		"+8613800000000", "sip:12345@trunk", "名字", "x\x00y", "a\nb", string(make([]byte, 129)),
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	}
	for _, id := range bad {
		if _, err := s.Start(id, clk.Now()); !errors.Is(err, ErrBadCallID) {
			t.Errorf("Start(%q): %v, want ErrBadCallID", id, err)
		}
	}
	entries, _ := os.ReadDir(s.Dir)
	if len(entries) != 0 {
		t.Errorf("unsafe ids created %d entries", len(entries))
	}
	if got := testutil.ToFloat64(s.m.failed); got != float64(len(bad)) {
		t.Errorf("recordings_failed_total %v, want %d", got, len(bad))
	}
	for _, id := range []string{"c-20261127-000123", "A.b_c-9", "x..y"} {
		r, err := s.Start(id, clk.Now())
		if err != nil {
			t.Errorf("Start(%q): %v", id, err)
			continue
		}
		info, _ := r.Close()
		if filepath.Dir(info.Path) != filepath.Join(s.Dir, "2026", "11", "27") || filepath.Base(info.Path) != id+".wav" {
			t.Errorf("Start(%q) wrote %q", id, info.Path)
		}
	}
}

// TestSinkNoAllocs: the sink path and the writer's steady state allocate nothing.
func TestSinkNoAllocs(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	s.Create = func(string) (File, error) { return &failingFile{room: 1 << 40}, nil }
	r, err := s.Start("allocs", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	l, rr := r.Left(), r.Right()
	var buf [media.FrameSamples]byte
	media.FillSilence(media.PCMU, buf[:])
	// 101 runs of two frames fit the ring, so this measures the path that stores.
	if n := testing.AllocsPerRun(100, func() {
		l.WriteFrame(media.PCMU, buf[:])
		rr.WriteFrame(media.PCMA, buf[:])
	}); n != 0 {
		t.Errorf("sink path: %v allocs per frame pair, want 0", n)
	}
	if r.dropped.Load() != 0 {
		t.Fatal("the ring overflowed during the sink test")
	}
	r.pump(clk.Now(), false)
	var k int
	if n := testing.AllocsPerRun(1000, func() {
		k++
		clk.Advance(media.FrameDuration)
		l.WriteFrame(media.PCMU, buf[:])
		rr.WriteFrame(media.PCMA, buf[:])
		if k%5 == 0 {
			r.pump(clk.Now(), false)
		}
	}); n != 0 {
		t.Errorf("sink and writer: %v allocs per frame pair, want 0", n)
	}
}

func TestHeaderIsKeptCurrent(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("hdr", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	const d = 7 * time.Second
	f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, d)
	run(r, clk, d, nil, nil, f)
	// Without Close, the header (rewritten every headerEvery) must vouch for all but
	// the last headerEvery and a second; the file may hold more, which Repair
	// recovers after a crash.
	b, err := os.ReadFile(r.Path())
	if err != nil {
		t.Fatal(err)
	}
	data := binary.LittleEndian.Uint32(b[54:])
	if int64(data) > int64(len(b)-headerSize) || data%frameBytes != 0 {
		t.Fatalf("header says %d data bytes, file has %d", data, len(b)-headerSize)
	}
	if behind := d - time.Duration(int64(data)/frameBytes*frameNs); behind > headerEvery+time.Second {
		t.Fatalf("the header is %v behind", behind)
	}
	if written := time.Duration(int64(len(b)-headerSize) / frameBytes * frameNs); d-written > time.Second {
		t.Fatalf("the file holds %v of %v", written, d)
	}
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriterStall: a writer that stalls for two seconds (a slow disk) loses
// nothing the ring could hold, and the channels stay aligned.
func TestWriterStall(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("stall", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	caller := newFeeder(r.Left(), media.PCMU, 4*time.Millisecond, 500, 0, 2*time.Second)
	agent := newFeeder(r.Right(), media.PCMA, 16*time.Millisecond, 1200, 0, 2*time.Second)
	for _, k := range []int64{30, 90} {
		caller.marks[k], agent.marks[k] = true, true
	}
	for k := int64(0); k < 100; k++ {
		clk.Set(time.Duration(k)*media.FrameDuration + caller.phase)
		caller.frame(k)
		clk.Set(time.Duration(k)*media.FrameDuration + agent.phase)
		agent.frame(k)
	}
	clk.Set(2 * time.Second)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Dropped != 0 || info.Duration != 2*time.Second {
		t.Fatalf("info %+v, want 2 s and nothing dropped", info)
	}
	l, rr := readChannels(t, info.Path)
	if lm, rm := markers(l), markers(rr); !equalInts(lm, []int{30, 90}) || !equalInts(rm, []int{30, 90}) {
		t.Fatalf("markers left %v right %v, want [30 90] on both", lm, rm)
	}
}

// TestCloseWhilePaused: the pause runs to the end and is reported.
func TestCloseWhilePaused(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("paused", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, 3*time.Second)
	run(r, clk, 3*time.Second, nil, map[time.Duration]func(){
		time.Second: r.Pause, 1500 * time.Millisecond: r.Pause, // twice: no effect
	}, f)
	if !r.Paused() {
		t.Fatal("not paused")
	}
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	if info.Paused != 2*time.Second || info.Duration != 3*time.Second {
		t.Fatalf("info %+v, want 2 s paused of 3 s", info)
	}
	l, _ := readChannels(t, info.Path)
	if !silent(l[50*media.FrameSamples:]) {
		t.Fatal("audio recorded while paused")
	}
	if media.ToneLevel(l[media.FrameSamples:49*media.FrameSamples], 1000) < -8 {
		t.Fatal("audio before the pause missing")
	}
	r.Resume() // after Close: no effect, no panic
}

// TestOneWriterForAll: the store's one writer writes every open recording while
// it is open (not only at Close), keeps writing the others when one closes, stops
// with the last (goleak in TestMain) and starts again for the next.
func TestOneWriterForAll(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	start := func(id string) (*Recorder, media.Sink) {
		r, err := s.Start(id, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return r, r.Left()
	}
	size := func(r *Recorder) int64 {
		st, err := os.Stat(r.Path())
		if err != nil {
			t.Fatal(err)
		}
		return st.Size()
	}
	r1, s1 := start("one")
	r2, s2 := start("two")
	r3, s3 := start("three")
	talkFor(time.Second, s1, s2, s3)
	var at [3]int64
	for i, r := range []*Recorder{r1, r2, r3} {
		if at[i] = size(r); at[i] < headerSize+10*frameBytes {
			t.Fatalf("%s: %d bytes after 1 s open, want the writer to have written ≥ 200 ms", r.Path(), at[i])
		}
	}
	if _, err := r1.Close(); err != nil {
		t.Fatal(err)
	}
	talkFor(time.Second, s2, s3)
	for i, r := range []*Recorder{r2, r3} {
		if n := size(r); n < at[i+1]+10*frameBytes {
			t.Fatalf("%s: %d → %d bytes in the second after another closed", r.Path(), at[i+1], n)
		}
	}
	for _, r := range []*Recorder{r2, r3} {
		if _, err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	r4, s4 := start("four")
	talkFor(time.Second, s4)
	if n := size(r4); n < headerSize+10*frameBytes {
		t.Fatalf("a recording started after the writer stopped: %d bytes after 1 s", n)
	}
	if _, err := r4.Close(); err != nil {
		t.Fatal(err)
	}
}

// startHelper runs this test binary as a disk helper for dir (see TestMain), its
// files limited to fsize bytes unless fsize is 0.
func startHelper(t *testing.T, dir string, fsize int) (*Helper, error) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), helperTestEnv+"="+dir)
	if fsize > 0 {
		cmd.Env = append(cmd.Env, helperFsizeEnv+"="+strconv.Itoa(fsize))
	}
	cmd.Stderr = os.Stderr
	h, err := StartHelper(cmd)
	if err == nil {
		t.Cleanup(func() { h.Close() })
	}
	return h, err
}

// The disk helper as hotline runs it: files created, written and synced in the
// child, failures with their errno, nothing outside its folder.
func TestHelper(t *testing.T) {
	dir := t.TempDir()
	h, err := startHelper(t, dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := h.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "2026", "a.wav")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		t.Fatal(err)
	}
	f, err := h.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"hello", ", world"} {
		if n, err := f.Write([]byte(w)); err != nil || n != len(w) {
			t.Fatalf("Write: %d, %v", n, err)
		}
	}
	if _, err := f.WriteAt([]byte("J"), 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "Jello, world" {
		t.Fatalf("file holds %q (%v)", b, err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Fatalf("file mode %v (%v), want 0640", st.Mode(), err)
	}
	if _, err := h.Create(path); !errors.Is(err, os.ErrExist) {
		t.Fatalf("creating an existing file: %v, want ErrExist", err)
	}
	for _, bad := range []string{filepath.Join(t.TempDir(), "x.wav"), dir + "/../x.wav", dir} {
		if _, err := h.Create(bad); err == nil || errors.Is(err, ErrHelperGone) {
			t.Fatalf("Create(%q) outside the folder: %v", bad, err)
		}
	}
	if err := h.Close(); err != nil {
		t.Fatalf("the helper did not exit cleanly when its input closed: %v", err)
	}
	if err := h.Sync(); !errors.Is(err, ErrHelperGone) {
		t.Fatalf("Sync on a closed helper: %v, want ErrHelperGone", err)
	}
	if _, err := startHelper(t, filepath.Join(t.TempDir(), "missing"), 0); err == nil {
		t.Fatal("a helper for a missing folder started")
	}
}

// A disk that fills under the helper: the recording fails with the helper's errno,
// logged and counted once; the recorder never blocks.
func TestHelperDiskFull(t *testing.T) {
	s, _, logs := helperStore(t, headerSize+20*frameBytes)
	r, err := s.Start("full", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	talkFor(time.Second, r.Left(), r.Right())
	_, err = r.Close()
	if !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("Close: %v, want EFBIG from the helper", err)
	}
	if got := testutil.ToFloat64(s.m.failed); got != 1 {
		t.Errorf("recordings_failed_total %v, want 1", got)
	}
	if got := logs.errors.Load(); got != 1 {
		t.Errorf("%d error logs, want exactly 1", got)
	}
}

// A helper that dies: its open recordings fail (logged, counted), the calls go on,
// and the next recordings are written and synced in the process.
func TestHelperKilled(t *testing.T) {
	s, h, logs := helperStore(t, 0)
	r1, err := s.Start("before", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	talkFor(200*time.Millisecond, r1.Left())
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	talkFor(300*time.Millisecond, r1.Left())
	if _, err := r1.Close(); !errors.Is(err, ErrHelperGone) {
		t.Fatalf("a recording the dead helper held: %v, want ErrHelperGone", err)
	}
	r2, err := s.Start("after", time.Now())
	if err != nil {
		t.Fatalf("no recording after the helper died: %v", err)
	}
	talkFor(300*time.Millisecond, r2.Left())
	info, err := r2.Close()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(info.Path); err != nil || len(b) < headerSize+10*frameBytes {
		t.Fatalf("the recording after the helper died: %d bytes (%v)", len(b), err)
	}
	if !s.diskGone.Load() || testutil.ToFloat64(s.m.failed) != 1 || logs.errors.Load() != 2 {
		t.Fatalf("disk gone %v, recordings_failed_total %v, %d error logs; want true, 1, 2 (the recording, the helper)",
			s.diskGone.Load(), testutil.ToFloat64(s.m.failed), logs.errors.Load())
	}
}

// helperStore is a store on a fresh folder whose disk work a helper does (its files
// limited to fsize bytes unless 0), with a short flush interval, logging to a counter.
func helperStore(t *testing.T, fsize int) (*Store, *Helper, *countHandler) {
	t.Helper()
	dir := t.TempDir()
	h, err := startHelper(t, dir, fsize)
	if err != nil {
		t.Fatal(err)
	}
	logs := &countHandler{}
	return &Store{Dir: dir, Disk: h, Log: slog.New(logs), FlushInterval: 20 * time.Millisecond}, h, logs
}

// talkFor feeds a tone into sinks in real time, one frame each per 20 ms.
func talkFor(d time.Duration, sinks ...media.Sink) {
	var buf [media.FrameSamples]byte
	media.NewToneSource(0.5, 1000).ReadFrame(media.PCMU, buf[:])
	for range d / media.FrameDuration {
		for _, sk := range sinks {
			sk.WriteFrame(media.PCMU, buf[:])
		}
		time.Sleep(media.FrameDuration)
	}
}

// fakeDisk creates files in the process; its Sync counts and returns err, which
// also fails Create.
type fakeDisk struct {
	calls, creates atomic.Int32
	err            error
}

func (f *fakeDisk) Sync() error { f.calls.Add(1); return f.err }

func (f *fakeDisk) Create(path string) (File, error) {
	f.creates.Add(1)
	if f.err != nil {
		return nil, f.err
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
}

// The store's shared sync and file creation go through its Disk; a Disk whose
// process is gone is logged once and the store works in the process from then on;
// a Disk's sync that fails otherwise switches the recorders to their own fsync.
func TestStoreDisk(t *testing.T) {
	h := &countHandler{}
	good := &fakeDisk{}
	s := &Store{Dir: t.TempDir(), Disk: good, Log: slog.New(h), manual: true}
	s.init()
	for range 3 {
		if !s.syncOnce() {
			t.Fatal("sync failed")
		}
	}
	if _, err := s.Start("one", time.Now()); err != nil {
		t.Fatal(err)
	}
	if good.calls.Load() != 3 || good.creates.Load() != 1 {
		t.Fatalf("Disk synced %d times and created %d files, want 3 and 1", good.calls.Load(), good.creates.Load())
	}
	gone := &fakeDisk{err: fmt.Errorf("%w: exited", ErrHelperGone)}
	s.Disk = gone
	for range 3 {
		if !s.syncOnce() {
			t.Fatal("the in-process syncfs after the helper died failed")
		}
	}
	for _, id := range []string{"two", "three"} {
		if _, err := s.Start(id, time.Now()); err != nil {
			t.Fatalf("no recording in the process after the helper died: %v", err)
		}
	}
	if gone.calls.Load() != 1 || gone.creates.Load() != 0 || h.errors.Load() != 1 {
		t.Fatalf("gone Disk synced %d times, created %d files, %d error logs; want 1, 0, 1", gone.calls.Load(), gone.creates.Load(), h.errors.Load())
	}
	s2 := &Store{Dir: t.TempDir(), Disk: &fakeDisk{err: syscall.EIO}, Log: slog.New(h), manual: true}
	s2.init()
	if s2.syncOnce() || !s2.syncEach.Load() {
		t.Fatal("a failing sync did not switch the recorders to their own fsync")
	}
}

// TestALawStoredAsItCame: an A-law party is in the file byte for byte, a μ-law one
// through G.711's table, and a slot nobody spoke in is A-law silence.
func TestALawStoredAsItCame(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("exact", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	left, right := r.Left(), r.Right()
	caller, agent := media.NewToneSource(0.5, 1000), media.NewToneSource(0.3, 1700)
	var sentL, sentR [][media.FrameSamples]byte
	for k := range 50 {
		clk.Set(time.Duration(k) * media.FrameDuration)
		var a, u [media.FrameSamples]byte
		caller.ReadFrame(media.PCMA, a[:])
		left.WriteFrame(media.PCMA, a[:])
		sentL = append(sentL, a)
		if k < 40 { // the agent's last 200 ms: nothing
			agent.ReadFrame(media.PCMU, u[:])
			right.WriteFrame(media.PCMU, u[:])
			sentR = append(sentR, u)
		}
	}
	clk.Set(time.Second)
	b := closeAndRead(t, r)
	if len(b) != headerSize+50*frameBytes {
		t.Fatalf("%d bytes, want %d", len(b), headerSize+50*frameBytes)
	}
	data := b[headerSize:]
	for k := range 50 {
		for j := range media.FrameSamples {
			l, rr := data[k*frameBytes+2*j], data[k*frameBytes+2*j+1]
			if l != sentL[k][j] {
				t.Fatalf("frame %d sample %d: left %#x, the caller sent %#x", k, j, l, sentL[k][j])
			}
			want := byte(0xD5) // A-law silence
			if k < 40 {
				want = g711.Ulaw2AlawFrame(sentR[k][j])
			}
			if rr != want {
				t.Fatalf("frame %d sample %d: right %#x, want %#x", k, j, rr, want)
			}
		}
	}
}

// TestShortFrameEndsInSilence: a frame shorter than 20 ms (a prompt's last) fills
// the rest of its slot with silence, not with what the slot held before.
func TestShortFrameEndsInSilence(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("short", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	half := bytes.Repeat([]byte{0x2A}, media.FrameSamples/2)
	r.Left().WriteFrame(media.PCMU, half)
	clk.Set(media.FrameDuration)
	b := closeAndRead(t, r)
	for j := range media.FrameSamples {
		want := byte(0xD5)
		if j < len(half) {
			want = g711.Ulaw2AlawFrame(0x2A)
		}
		if got := b[headerSize+2*j]; got != want {
			t.Fatalf("sample %d: %#x, want %#x", j, got, want)
		}
	}
}

// TestWriterSyncsEveryRound: with the flush interval one pump (the default's
// shape), the writer's shared sync follows every round, whatever each round lasts.
func TestWriterSyncsEveryRound(t *testing.T) {
	syncer := &fakeDisk{}
	s := &Store{Dir: t.TempDir(), Disk: syncer, FlushInterval: 20 * time.Millisecond}
	s.init()
	if !haveSyncfs {
		t.Skip("no syncfs on this system: each recorder syncs its own file")
	}
	r, err := s.Start("rounds", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // about 25 rounds of 20 ms
	n := syncer.calls.Load()
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n < 15 {
		t.Fatalf("%d shared syncs in 25 rounds of the writer", n)
	}
}

// closeAndRead closes a recording and returns its file's bytes.
func closeAndRead(t *testing.T, r *Recorder) []byte {
	t.Helper()
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(info.Path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// viaLog hands frames over the way the media clock's frame log does (media.LoggedSink):
// warmed first, then written with their arrival time.
type viaLog struct {
	s   media.LoggedSink
	clk *fakeClock
}

func (v viaLog) WriteFrame(c media.Codec, p []byte) {
	at := v.clk.Now()
	v.s.WarmFrame(at)
	v.s.WarmFrame(at.Add(-time.Hour)) // warming any time changes nothing
	v.s.WriteFrameAt(c, p, at)
}

// Frames handed over through the media clock's frame log make the same file as frames
// written as they come.
func TestLoggedFramesMakeTheSameFile(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	record := func(id string, logged bool) []byte {
		clk.Set(0)
		r, err := s.Start(id, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		left, right := r.Left(), r.Right()
		if logged {
			left, right = viaLog{left.(media.LoggedSink), clk}, viaLog{right.(media.LoggedSink), clk}
		}
		caller := newFeeder(left, media.PCMU, 3*time.Millisecond, 1000, 0, 3*time.Second)
		agent := newFeeder(right, media.PCMA, 11*time.Millisecond, 1700, 500*time.Millisecond, 2500*time.Millisecond)
		run(r, clk, 3*time.Second, rand.New(rand.NewPCG(7, 7)), nil, caller, agent)
		return closeAndRead(t, r)
	}
	live, logged := record("live", false), record("logged", true)
	if len(live) != headerSize+3*byteRate {
		t.Fatalf("the recording has %d bytes, want %d", len(live), headerSize+3*byteRate)
	}
	if !bytes.Equal(live, logged) {
		t.Fatal("frames handed over through the frame log made another file than frames written as they came")
	}
}
