// Package bridge runs bridged calls for B4 and B5: SIPp callers (20 ms PCMU from
// rtp_stream) → hotline (straight-to-queue intake, one queue) → SIP agents that are all
// one SIPp UAS with -rtp_echo, and a probe call whose caller is a UDP socket of ours
// sending tagged PCMU: its packets come back through hotline, the agent's echo and
// hotline again, and the round trip minus a direct round trip to the same echo
// (measured side by side) is what the two bridge passes add.
package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
	"golang.org/x/net/ipv4"
)

// Setup is a running hotline with its agents' UAS.
type Setup struct {
	H      *harness.Hotline
	UAS    *testkit.SIPp
	Dir    string
	UL     string // caller audio (headerless μ-law)
	RecDir string
	// PacedMedia: the callers' media comes from this process, not from SIPp: SIPp
	// places the calls (signalling only) and one socket of ours sends each call's 20 ms
	// PCMU (the caller audio) to its leg at hotline, the calls' phases spread evenly
	// over the 20 ms, as a trunk carrying independent calls delivers them; hotline
	// latches each leg onto it. SIPp's rtp_stream sends its calls' packets in clumps
	// (up to 226 within 50 µs at 300 calls), which the server drains in fewer wake-ups
	// than a trunk's arrivals would cost it.
	PacedMedia bool
}

// Start builds and starts hotline with agents agents, all on one SIPp UAS echoing RTP.
func Start(ctx context.Context, root, dir string, agents int, jitter time.Duration) (*Setup, error) {
	// This process (probes, the lo capture, scrapes) runs beside SIPp on core 1, never on
	// the server's core.
	if err := harness.PinSelf(1); err != nil {
		return nil, err
	}
	uas, err := harness.StartSIPp(ctx, dir, "agents", testkit.SIPpOpts{
		Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Calls: 1000000, RecvTimeout: 10 * time.Minute,
		Timeout: 3 * time.Hour,
	})
	if err != nil {
		return nil, err
	}
	s := &Setup{UAS: uas, Dir: dir, UL: filepath.Join(root, "bench/testdata/caller_pcmu.ul"), RecDir: filepath.Join(dir, "rec")}
	cfg, err := kit.WriteConfig(kit.Options{Dir: dir, Agents: agents, AgentAddr: uas.Addr(), RecordDir: s.RecDir, Jitter: jitter})
	if err != nil {
		uas.Stop()
		return nil, err
	}
	bin, err := harness.BuildHotline(ctx, root, dir)
	if err != nil {
		uas.Stop()
		return nil, err
	}
	s.H, err = harness.StartHotline(ctx, bin, cfg, dir)
	if err != nil {
		uas.Stop()
		return nil, err
	}
	return s, nil
}

// Stop ends the server and the UAS.
func (s *Setup) Stop() {
	s.H.Stop()
	s.UAS.Stop()
}

// RecordingOff makes recording fail for new calls (the directory becomes a file: the
// recorder cannot create its day folder, logs it, and the call goes on unrecorded);
// RecordingOn restores it.
func (s *Setup) RecordingOff() error {
	if err := os.RemoveAll(s.RecDir); err != nil {
		return err
	}
	return os.WriteFile(s.RecDir, []byte("recording off for B5\n"), 0o644)
}

func (s *Setup) RecordingOn() error {
	if st, err := os.Stat(s.RecDir); err == nil && !st.IsDir() {
		if err := os.Remove(s.RecDir); err != nil {
			return err
		}
	}
	return os.MkdirAll(s.RecDir, 0o755)
}

// RecordedBytes sums the sizes of the recordings on disk.
func (s *Setup) RecordedBytes() (n int64, files int) {
	_ = filepath.Walk(s.RecDir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
			files++
		}
		return nil
	})
	return
}

// Result is one step.
type Result struct {
	Calls                 int
	Created, Failed       int
	Up                    int // bridged calls at the window's end (SIPp's count)
	Window                time.Duration
	ServerCPU             time.Duration
	CPUPct                float64
	Forwarded             float64 // RTP packets hotline sent in the window (all forwarded when all calls are bridged)
	Received              float64
	ServerLost            float64 // by sequence number, at hotline's legs
	ServerDropped         float64 // late / dropped inbound at hotline
	SocketDrops           int64
	USPerForwarded        float64
	CallerSIPpPct, UASPct float64
	BenchPct              float64 // this process: probes, capture and (PacedMedia) the callers' media
	// Probe round trips.
	ViaHotline, Direct Stats
	// OnWire is the time the probe's packets spent in hotline, from a capture of lo: per
	// packet, caller→agent pass plus agent→caller pass (see Residence).
	OnWire       Residence
	BytesWritten int64
	Recordings   int
	// PacedStreams is how many load calls this process sent media for (Setup.PacedMedia);
	// PacedSent and PacedBack count their packets sent and come back over the step.
	PacedStreams int
	PacedSent    int64
	PacedBack    int64
	// StealPct is the hypervisor's steal on core 0 (the server's) and core 1 in the window.
	StealPct [2]float64
	// BusyPct is how busy each core was (all processes, kernel included), SoftirqPct
	// the part in softirq context: a packet sent on lo is delivered on the sender's core.
	BusyPct, SoftirqPct [2]float64
	Err                 string
}

// Stats are round trips of tagged packets.
type Stats struct {
	Sent, Back    int
	P50, P99, Max time.Duration
	RTTs          []time.Duration
	ByIndex       []time.Duration // 0: not back
	SendLateP99   time.Duration   // how late our own sends were against their 20 ms schedule
}

func (st Stats) String() string {
	return fmt.Sprintf("%d/%d back, p50 %.2f ms, p99 %.2f ms, max %.2f ms (our sends late p99 %.2f ms)", st.Back, st.Sent, ms(st.P50), ms(st.P99), ms(st.Max), ms(st.SendLateP99))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Step runs n bridged calls (ramped at rate) plus one probe call, and measures over window.
func (s *Setup) Step(ctx context.Context, n int, rate float64, window time.Duration) (Result, error) {
	r := Result{Calls: n, Window: window}
	ramp := time.Duration(float64(n) / rate * float64(time.Second))
	settle := 3 * time.Second
	talk := ramp + settle + window + 8*time.Second
	opts := testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Number: "12345", Target: s.H.SIPAddr,
		Calls: n, Rate: rate, Concurrency: n, Pause: talk, AudioUL: s.UL, RecvTimeout: 60 * time.Second,
	}
	if s.PacedMedia {
		opts.AudioUL = ""
	}
	load, err := harness.StartSIPp(ctx, s.Dir, fmt.Sprintf("callers%d-%d", n, time.Now().UnixNano()%100000), opts)
	if err != nil {
		return r, err
	}
	// The probe call: our socket is the caller's media.
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return r, err
	}
	defer pc.Close()
	_ = pc.SetReadBuffer(4 << 20)
	dc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return r, err
	}
	defer dc.Close()
	probePort := pc.LocalAddr().(*net.UDPAddr).Port
	probeCall, err := harness.StartSIPp(ctx, s.Dir, fmt.Sprintf("probe%d-%d", n, time.Now().UnixNano()%100000), testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Number: "12345", Target: s.H.SIPAddr,
		Calls: 1, Rate: 1, Pause: talk, MediaPort: probePort, RecvTimeout: 60 * time.Second,
	})
	if err != nil {
		load.Stop()
		return r, err
	}
	// Keep the probe's leg latched on our socket from the start (silence until tagged packets).
	stopKeep := make(chan struct{})
	hotlineRTP := make(chan netip.AddrPort, 1)
	go func() { // find hotline's RTP address for the probe call
		for {
			if legs, err := s.answeredLegs(probePort); err == nil && len(legs) > 0 {
				hotlineRTP <- legs[0]
				return
			}
			select {
			case <-stopKeep:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	time.Sleep(ramp + settle)
	var dst netip.AddrPort
	select {
	case dst = <-hotlineRTP:
	case <-time.After(20 * time.Second):
		close(stopKeep)
		r.Err = "probe call not found in /api/calls"
	}
	uasMedia := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(s.UAS.MediaPort))
	stopMedia := func() {}
	if s.PacedMedia {
		stopMedia, err = s.paceCallers(load.MediaPort, &r)
		if err != nil {
			load.Stop()
			probeCall.Stop()
			return r, err
		}
		defer stopMedia()
		time.Sleep(2 * time.Second) // every leg latched onto our socket
	}

	cpu0, _ := harness.ProcTreeCPU(s.H.Pid())
	core0a, _ := harness.ReadCoreTimes(0)
	core1a, _ := harness.ReadCoreTimes(1)
	self0 := harness.SelfCPU()
	l0, _ := harness.ProcCPU(load.Pid())
	u0, _ := harness.ProcCPU(s.UAS.Pid())
	drops0, _ := harness.ProcUDPDrops(s.H.Pid())
	m0, _ := kit.Scrape(s.H.HTTPAddr)
	t0 := time.Now()
	tap, tapErr := harness.StartLoTap(0x20|viaMagic&0x0f, 0xff, 0x30)
	if tapErr != nil {
		r.Err = tapErr.Error()
	}
	var wg sync.WaitGroup
	if dst.IsValid() {
		wg.Add(2)
		go func() { defer wg.Done(); r.ViaHotline = roundTrips(pc, dst, window, viaMagic) }()
		go func() { defer wg.Done(); r.Direct = roundTrips(dc, uasMedia, window, 0x22) }()
	}
	// For latency work: an execution trace and a CPU profile of the window, when asked.
	s.saveDebug("B4_TRACE", "trace", window/3, n)
	s.saveDebug("B4_PROFILE", "profile", window/2, n)
	time.Sleep(window)
	elapsed := time.Since(t0)
	cpu1, _ := harness.ProcTreeCPU(s.H.Pid())
	core0b, _ := harness.ReadCoreTimes(0)
	core1b, _ := harness.ReadCoreTimes(1)
	r.StealPct = [2]float64{harness.StealPct(core0a, core0b), harness.StealPct(core1a, core1b)}
	r.BusyPct = [2]float64{harness.BusyPct(core0a, core0b), harness.BusyPct(core1a, core1b)}
	r.SoftirqPct = [2]float64{harness.SoftirqPct(core0a, core0b), harness.SoftirqPct(core1a, core1b)}
	self1 := harness.SelfCPU()
	l1, _ := harness.ProcCPU(load.Pid())
	u1, _ := harness.ProcCPU(s.UAS.Pid())
	drops1, _ := harness.ProcUDPDrops(s.H.Pid())
	m1, _ := kit.Scrape(s.H.HTTPAddr)
	up, _ := load.Snapshot()
	wg.Wait()
	stopMedia()
	if tap != nil {
		seen, err := tap.Stop()
		if err != nil && r.Err == "" {
			r.Err = err.Error()
		}
		r.OnWire = residence(seen, uint16(probePort), uint16(s.UAS.MediaPort))
	}
	if r.Err == "" {
		close(stopKeep)
	}
	r.Up = up.CurrentCalls
	r.ServerCPU = cpu1 - cpu0
	r.CPUPct = 100 * r.ServerCPU.Seconds() / elapsed.Seconds()
	r.CallerSIPpPct = 100 * (l1 - l0).Seconds() / elapsed.Seconds()
	r.UASPct = 100 * (u1 - u0).Seconds() / elapsed.Seconds()
	r.BenchPct = 100 * (self1 - self0).Seconds() / elapsed.Seconds()
	r.SocketDrops = drops1 - drops0
	r.Forwarded = m1.Sum("hotline_rtp_packets_sent_total") - m0.Sum("hotline_rtp_packets_sent_total")
	r.Received = m1.Sum("hotline_rtp_packets_received_total") - m0.Sum("hotline_rtp_packets_received_total")
	r.ServerLost = m1.Sum("hotline_rtp_packets_lost_total") - m0.Sum("hotline_rtp_packets_lost_total")
	r.ServerDropped = m1.Sum("hotline_rtp_packets_dropped_total") - m0.Sum("hotline_rtp_packets_dropped_total")
	if r.Forwarded > 0 {
		r.USPerForwarded = float64(r.ServerCPU.Microseconds()) / r.Forwarded
	}
	pres, _ := probeCall.Wait()
	lres, lerr := load.Wait()
	r.Created, r.Failed = lres.Created+pres.Created, lres.Failed+pres.Failed
	if lerr != nil && r.Err == "" {
		r.Err = firstLine(lerr.Error())
	}
	r.BytesWritten, r.Recordings = s.RecordedBytes()
	if _, err := kit.Get(s.H.HTTPAddr, "/healthz"); err != nil {
		r.Err += "; the server is gone: " + err.Error() + "\n" + s.H.LogTail()
		_ = os.WriteFile(filepath.Join(os.TempDir(), fmt.Sprintf("b4-hotline-%d.log", n)), []byte(s.H.LogTail()), 0o644)
	}
	return r, nil
}

// saveDebug saves the server's /api/debug/pprof/<what> over d (at least a second) to
// $env.<step>, in the background, when that variable names a path.
func (s *Setup) saveDebug(env, what string, d time.Duration, step int) {
	path := os.Getenv(env)
	if path == "" {
		return
	}
	go func() {
		if b, err := kit.Get(s.H.HTTPAddr, fmt.Sprintf("/api/debug/pprof/%s?seconds=%d", what, max(1, int(d.Seconds())))); err == nil {
			_ = os.WriteFile(fmt.Sprintf("%s.%d", path, step), b, 0o644)
		}
	}()
}

// answeredLegs lists hotline's RTP addresses (from /api/calls) of the answered calls
// whose signalled media is 127.0.0.1:port.
func (s *Setup) answeredLegs(port int) ([]netip.AddrPort, error) {
	var body struct {
		Calls []struct {
			State string `json:"state"`
			RTP   *struct{ Local, Remote string }
		}
	}
	if err := kit.GetJSON(s.H.HTTPAddr, "/api/calls", &body); err != nil {
		return nil, err
	}
	want := fmt.Sprintf("127.0.0.1:%d", port)
	var legs []netip.AddrPort
	for _, c := range body.Calls {
		if c.State == "answered" && c.RTP != nil && c.RTP.Remote == want {
			if ap, err := netip.ParseAddrPort(c.RTP.Local); err == nil {
				legs = append(legs, ap)
			}
		}
	}
	return legs, nil
}

// paceCallers finds the load calls' legs at hotline (answered calls whose signalled
// media is SIPp's port) and sends each its caller audio from one socket of ours, paced
// (harness.PaceStreams); what hotline sends back to the callers is read and counted.
func (s *Setup) paceCallers(sippMedia int, r *Result) (stop func(), err error) {
	dsts, err := s.answeredLegs(sippMedia)
	if err != nil {
		return nil, err
	}
	if len(dsts) == 0 {
		return nil, errors.New("bridge: no answered load call in /api/calls")
	}
	audio, err := os.ReadFile(s.UL)
	if err != nil {
		return nil, err
	}
	if len(audio) < 160 {
		return nil, fmt.Errorf("bridge: %s holds less than a frame", s.UL)
	}
	frames := int64(len(audio) / 160)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(4 << 20)
	_ = c.SetWriteBuffer(4 << 20)
	pc := ipv4.NewPacketConn(c)
	done := make(chan struct{})
	var sent, back atomic.Int64
	go harness.CountReplies(pc, &back)
	ssrc := uint32(time.Now().UnixNano())
	go harness.PaceStreams(pc, dsts, done, &sent, func(stream int, frame int64, b []byte) {
		b[0], b[1] = 0x80, 0 // PCMU
		binary.BigEndian.PutUint16(b[2:], uint16(frame))
		binary.BigEndian.PutUint32(b[4:], uint32(frame*160))
		binary.BigEndian.PutUint32(b[8:], ssrc+uint32(stream))
		at := (frame + int64(stream)*37) % frames // each caller at another point of the speech
		copy(b[12:], audio[at*160:at*160+160])
	})
	r.PacedStreams = len(dsts)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			r.PacedSent, r.PacedBack = sent.Load(), back.Load()
			c.Close()
		})
	}, nil
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

// roundTrips sends a 20 ms PCMU packet every 20 ms for d to dst from conn, each tagged
// (magic byte, sequence) in its payload, and times each tagged packet that comes back.
// Payload bytes are μ-law values that survive decode/encode unchanged.
func roundTrips(conn *net.UDPConn, dst netip.AddrPort, d time.Duration, magic byte) Stats {
	n := int(d / (20 * time.Millisecond))
	sent := make([]time.Time, n)
	var mu sync.Mutex
	var rtts []time.Duration
	seen := make([]bool, n)
	byIndex := make([]time.Duration, n)
	done := make(chan struct{})
	// The kernel's receive time, not ours: this process is not pinned and shares the
	// cores with SIPp and hotline, so its goroutine may read a packet milliseconds late.
	testkit.KernelTimestamps(conn)
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		oob := make([]byte, 128)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(d + 2*time.Second))
			k, oobn, _, _, err := conn.ReadMsgUDP(buf, oob)
			if err != nil {
				return
			}
			now := testkit.KernelTime(oob[:oobn])
			if k < 12+8 {
				continue
			}
			p := buf[12:k]
			if p[0] != 0x20|magic&0x0f || p[1] != 0x30 {
				continue
			}
			i := int(harness.TagDecode(p[2:8]))
			mu.Lock()
			if i >= 0 && i < n && !sent[i].IsZero() && !seen[i] {
				seen[i] = true
				rtts = append(rtts, now.Sub(sent[i]))
				byIndex[i] = now.Sub(sent[i])
			}
			mu.Unlock()
		}
	}()
	ssrc := uint32(time.Now().UnixNano()) ^ uint32(magic)<<24
	pkt := make([]byte, 12+160)
	to := net.UDPAddrFromAddrPort(dst)
	start := time.Now()
	var late []time.Duration
	for i := 0; i < n; i++ {
		next := start.Add(time.Duration(i) * 20 * time.Millisecond)
		if w := time.Until(next); w > 0 {
			time.Sleep(w)
		}
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		p := pkt[12:]
		for j := range p {
			p[j] = 0x55 // a quiet, unambiguous μ-law value
		}
		p[0], p[1] = 0x20|magic&0x0f, 0x30
		harness.TagEncode(p[2:8], uint32(i))
		mu.Lock()
		sent[i] = time.Now()
		late = append(late, sent[i].Sub(next))
		mu.Unlock()
		_, _ = conn.WriteToUDP(pkt, to)
	}
	time.Sleep(time.Second)
	_ = conn.SetReadDeadline(time.Now())
	<-done
	mu.Lock()
	defer mu.Unlock()
	st := Stats{Sent: n, Back: len(rtts), RTTs: rtts, ByIndex: byIndex, SendLateP99: harness.Percentile(late, 99)}
	if len(rtts) > 0 {
		st.P50 = harness.Percentile(rtts, 50)
		st.P99 = harness.Percentile(rtts, 99)
		st.Max = harness.Percentile(rtts, 100)
	}
	return st
}

// viaMagic tags the probe packets sent through hotline (the direct ones: 0x22).
const viaMagic = 0x11

// Residence is the time tagged probe packets spent inside hotline, as seen on lo.
type Residence struct {
	Packets    int // probe packets seen on all four hops
	Incomplete int // probe packets seen on fewer hops (lost, or the capture missed one)
	// Per packet: in from the caller to out to the agent, in from the agent to out to
	// the caller, and the two together.
	ToAgent, ToCaller, Both struct{ P50, P99, Max time.Duration }
	// Slow are the passes that took over a millisecond (at most 100), by when the packet
	// arrived: to line up with a scheduler trace of the server's core (B4_DEBUG prints them).
	Slow []SlowPass
}

// SlowPass is one probe packet's slow pass through hotline, as the lo capture saw it.
type SlowPass struct {
	In, Out time.Time
	ToAgent bool
}

func (r Residence) String() string {
	f := func(q struct{ P50, P99, Max time.Duration }) string {
		return fmt.Sprintf("p50 %.3f p99 %.3f max %.3f ms", ms(q.P50), ms(q.P99), ms(q.Max))
	}
	return fmt.Sprintf("%d packets (%d incomplete); caller→agent %s; agent→caller %s; both %s",
		r.Packets, r.Incomplete, f(r.ToAgent), f(r.ToCaller), f(r.Both))
}

// residence pairs the four sightings of each via-hotline probe packet: probe→hotline,
// hotline→agent (to the UAS's media port), agent→hotline (from it), hotline→probe. The
// time from the first to the second, and from the third to the fourth, is hotline's.
func residence(seen []harness.Sighting, probe, uas uint16) Residence {
	type hops struct{ in1, out1, in2, out2 time.Time }
	by := map[int64]*hops{}
	for _, s := range seen {
		if s.Tag[0] != 0x20|viaMagic&0x0f {
			continue
		}
		i := harness.TagDecode(s.Tag[2:8])
		if i < 0 {
			continue
		}
		h := by[i]
		if h == nil {
			h = &hops{}
			by[i] = h
		}
		switch {
		case s.Src == probe:
			h.in1 = s.At
		case s.Dst == uas:
			h.out1 = s.At
		case s.Src == uas:
			h.in2 = s.At
		case s.Dst == probe:
			h.out2 = s.At
		}
	}
	var r Residence
	var a, b, both []time.Duration
	for _, h := range by {
		if h.in1.IsZero() || h.out1.IsZero() || h.in2.IsZero() || h.out2.IsZero() {
			r.Incomplete++
			continue
		}
		r.Packets++
		for _, p := range []SlowPass{{h.in1, h.out1, true}, {h.in2, h.out2, false}} {
			if p.Out.Sub(p.In) > time.Millisecond && len(r.Slow) < 100 {
				r.Slow = append(r.Slow, p)
			}
		}
		a = append(a, h.out1.Sub(h.in1))
		b = append(b, h.out2.Sub(h.in2))
		both = append(both, h.out1.Sub(h.in1)+h.out2.Sub(h.in2))
	}
	q := func(ds []time.Duration) (s struct{ P50, P99, Max time.Duration }) {
		if len(ds) > 0 {
			s.P50, s.P99, s.Max = harness.Percentile(ds, 50), harness.Percentile(ds, 99), harness.Percentile(ds, 100)
		}
		return s
	}
	r.ToAgent, r.ToCaller, r.Both = q(a), q(b), q(both)
	return r
}

var ErrNoProbe = errors.New("bridge: probe call not found")
