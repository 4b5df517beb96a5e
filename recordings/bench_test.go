package recordings

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/media"
)

// discardFile is a disk that costs nothing, to measure the recorder's own CPU.
type discardFile struct{}

func (discardFile) Write(p []byte) (int, error)            { return len(p), nil }
func (discardFile) WriteAt(p []byte, _ int64) (int, error) { return len(p), nil }
func (discardFile) Sync() error                            { return nil }
func (discardFile) Close() error                           { return nil }

func benchRecorder(b *testing.B, disk bool) (*Recorder, *fakeClock) {
	clk := newFakeClock()
	s, _ := testStore(b, clk)
	if !disk {
		s.Create = func(string) (File, error) { return discardFile{}, nil }
	}
	r, err := s.Start("bench", clk.Now())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	return r, clk
}

func toneFrame(c media.Codec, freq float64) []byte {
	p := make([]byte, media.FrameSamples)
	media.NewToneSource(0.5, freq).ReadFrame(c, p)
	return p
}

// BenchmarkSinkFramePair is what the media clock pays per 20 ms of a recorded
// call: one frame into each channel's sink.
func BenchmarkSinkFramePair(b *testing.B) {
	r, _ := benchRecorder(b, false)
	l, rr := r.Left(), r.Right()
	pl, pr := toneFrame(media.PCMU, 1000), toneFrame(media.PCMU, 1700)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		l.WriteFrame(media.PCMU, pl)
		rr.WriteFrame(media.PCMU, pr)
		if i%64 == 63 { // stand in for the writer, outside what the clock pays
			for cl := r.q.front(); cl != nil; cl = r.q.front() {
				r.q.release(cl)
			}
		}
	}
}

// BenchmarkRecordFramePair is the whole CPU per frame pair: sinks plus the
// writer's drain, decode, layout and write calls (to a disk that costs nothing),
// pumped as often as in production.
func BenchmarkRecordFramePair(b *testing.B) { benchRecord(b, false) }

// BenchmarkRecordFramePairDisk adds real writes and an fsync per flush interval
// of call time to a file in the test's temporary folder.
func BenchmarkRecordFramePairDisk(b *testing.B) { benchRecord(b, true) }

func benchRecord(b *testing.B, disk bool) {
	r, clk := benchRecorder(b, disk)
	l, rr := r.Left(), r.Right()
	pl, pr := toneFrame(media.PCMU, 1000), toneFrame(media.PCMA, 1700)
	perPump := int(pumpEvery / media.FrameDuration)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for i := 1; b.Loop(); i++ {
		clk.Advance(media.FrameDuration)
		l.WriteFrame(media.PCMU, pl)
		rr.WriteFrame(media.PCMA, pr)
		if i%perPump == 0 {
			r.pump(clk.Now(), false)
		}
	}
	// CPU, not wall time: an fsync waits for the disk without using a core.
	cpu := float64(cpuTime(b)-cpu0) / float64(b.N)
	b.ReportMetric(cpu, "cpu-ns/op")
	b.ReportMetric(cpu/float64(media.FrameDuration)*100, "%core/call")
}

// cpuTime is the process's user and system CPU so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRecord100Calls is the production path for 100 concurrent calls on real
// files: sinks, writer pumps, header rewrites and one shared syncfs per flush
// interval of call time. cpu-ns/pair is the process CPU (user + system) per frame
// pair per call, what B5 compares with a bridged call's cost.
func BenchmarkRecord100Calls(b *testing.B) {
	const calls = 100
	clk := newFakeClock()
	s, _ := testStore(b, clk)
	recs := make([]*Recorder, calls)
	sinks := make([][2]media.Sink, calls)
	for i := range recs {
		r, err := s.Start(fmt.Sprintf("bench-%d", i), clk.Now())
		if err != nil {
			b.Fatal(err)
		}
		recs[i] = r
		sinks[i] = [2]media.Sink{r.Left(), r.Right()}
	}
	b.Cleanup(func() {
		for _, r := range recs {
			r.Close()
		}
	})
	pl, pr := toneFrame(media.PCMU, 1000), toneFrame(media.PCMA, 1700)
	perPump := int(pumpEvery / media.FrameDuration)
	perSync := int(s.FlushInterval / media.FrameDuration)
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for i := 1; b.Loop(); i++ {
		clk.Advance(media.FrameDuration)
		for _, sk := range sinks {
			sk[0].WriteFrame(media.PCMU, pl)
			sk[1].WriteFrame(media.PCMA, pr)
		}
		if i%perPump == 0 {
			for _, r := range recs {
				r.pump(clk.Now(), false)
			}
		}
		if i%perSync == 0 && !s.syncOnce() {
			b.Fatal("syncfs failed")
		}
	}
	cpu := float64(cpuTime(b)-cpu0) / float64(b.N) / calls
	b.ReportMetric(cpu, "cpu-ns/pair")
	b.ReportMetric(cpu/float64(media.FrameDuration)*100*1000, "%core/1000calls")
}

// BenchmarkSinks1000Calls is what the taps pay per frame pair with 1,000 recordings
// open, their frames arriving one call after another as a loaded server's relays
// deliver them (every caller's frame, then every agent's), so that each recorder's
// memory has gone cold by its next frame, as at B4's and B5's loads. The writer's
// pumps (to a disk that costs nothing) run outside the timed part. ns/pair.
func BenchmarkSinks1000Calls(b *testing.B) {
	const calls = 1000
	clk := newFakeClock()
	s, _ := testStore(b, clk)
	s.Create = func(string) (File, error) { return discardFile{}, nil }
	recs := make([]*Recorder, calls)
	lefts, rights := make([]media.Sink, calls), make([]media.Sink, calls)
	for i := range recs {
		r, err := s.Start(fmt.Sprintf("bench-%d", i), clk.Now())
		if err != nil {
			b.Fatal(err)
		}
		recs[i], lefts[i], rights[i] = r, r.Left(), r.Right()
	}
	b.Cleanup(func() {
		for _, r := range recs {
			r.Close()
		}
	})
	pl, pr := toneFrame(media.PCMA, 1000), toneFrame(media.PCMU, 1700)
	perPump := int(pumpEvery / media.FrameDuration)
	b.ReportAllocs()
	var taps time.Duration
	for i := 1; b.Loop(); i++ {
		clk.Advance(media.FrameDuration)
		t0 := time.Now()
		for _, sk := range lefts {
			sk.WriteFrame(media.PCMA, pl)
		}
		for _, sk := range rights {
			sk.WriteFrame(media.PCMU, pr)
		}
		taps += time.Since(t0)
		if i%perPump == 0 {
			for _, r := range recs {
				r.pump(clk.Now(), false)
			}
		}
	}
	b.ReportMetric(float64(taps)/float64(b.N)/calls, "tap-ns/pair")
}
