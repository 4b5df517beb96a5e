// Command b2 measures IVR playback capacity and pacing (B2 in BENCHMARKS.md):
// steps of 250 → 2,000 concurrent answered calls hearing a prompt while, like
// phones, sending 20 ms PCMU themselves. hotline runs on core 0 with GOMAXPROCS=1,
// SIPp on core 1.
//
// The callers' audio is 10 s of speech looped by SIPp's rtp_stream
// (bench/testdata/caller_pcmu.ul) by default. SIPp's play_pcap_audio
// (bench/testdata/caller_pcmu_20ms.pcap, -caller-audio pcap) runs a thread per
// call: measured here, 250 calls took 40 % of SIPp's core and 1,000 took all of it,
// which voids the step; rtp_stream carries 1,000 calls in under 20 %.
//
// A few probe calls point their media at an RTPProbe (which also
// talks back, so the server latches to it) to measure the server's pacing.
//
// Reported per step: failed calls, probe gaps (p99 |gap−20 ms|, max gap), server
// CPU % per 100 calls, RSS growth per call, server CPU per packet ÷ the B0 floor
// measured in the same run, drops at the server's sockets, and SIPp's own CPU (a step whose
// generator passes 70 % is void).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
)

const (
	pcapRel = "bench/testdata/caller_pcmu_20ms.pcap"
	ulRel   = "bench/testdata/caller_pcmu.ul"
)

func main() {
	steps := flag.String("steps", "250,500,1000,1500,2000", "concurrent calls, one step each")
	rate := flag.Float64("rate", 53, "calls per second while ramping (off the 20 ms grid)")
	window := flag.Duration("window", 15*time.Second, "measurement window once a step is up")
	probes := flag.Int("probes", 3, "probe calls whose server stream is measured")
	number := flag.String("number", "12345", "number to dial")
	config := flag.String("config", "bench/hotline-bench.yaml", "hotline config (relative to the module root)")
	genPcap := flag.Bool("gen-pcap", false, "regenerate "+pcapRel+" and "+ulRel+" and exit")
	callerAudio := flag.String("caller-audio", "stream", "how SIPp sends the callers' audio: stream (rtp_stream) or pcap (play_pcap_audio)")
	results := flag.String("results", "", "append the report to this markdown file")
	table := flag.String("table", "", "append summary rows to this file")
	floorOnly := flag.Bool("floor-only", false, "internal: measure the B0 floor and print it as JSON")
	flag.Parse()

	if *floorOnly {
		f, err := harness.MeasureFloor(100000, 3)
		if err != nil {
			fmt.Fprintln(os.Stderr, "b2:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(f)
		return
	}
	root, err := harness.ModuleRoot()
	if err == nil && *genPcap {
		err = writeCallerPcap(root)
	} else if err == nil {
		err = run(root, *steps, *rate, *window, *probes, *number, *config, *callerAudio, *results, *table)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "b2:", err)
		os.Exit(1)
	}
}

// writeCallerPcap makes the caller's audio: a Mandarin prompt (speech, as a caller
// talks) padded with silence to exactly 10 s, as 500 packets of 20 ms PCMU, and the
// same as headerless μ-law for rtp_stream.
func writeCallerPcap(root string) error {
	w, err := testkit.ReadWAVFile(filepath.Join(root, "ivr/prompts/zh/survey.wav"))
	if err != nil {
		return err
	}
	pcm := w.Samples
	if len(pcm) > 80000 {
		pcm = pcm[:80000]
	}
	pcm = append(pcm, make([]int16, 80000-len(pcm))...)
	if err := testkit.WriteUL(filepath.Join(root, ulRel), pcm); err != nil {
		return err
	}
	return testkit.WritePCMUPcap(filepath.Join(root, pcapRel), pcm)
}

const pcapLength = 10 * time.Second

func run(root, steps string, rate float64, window time.Duration, probes int, number, config, callerAudio, results, table string) error {
	ctx := context.Background()
	pcap, ul := filepath.Join(root, pcapRel), filepath.Join(root, ulRel)
	for _, f := range []string{pcap, ul} {
		if _, err := os.Stat(f); err != nil {
			if err := writeCallerPcap(root); err != nil {
				return err
			}
		}
	}
	var audio testkit.SIPpOpts
	switch callerAudio {
	case "stream":
		audio.AudioUL = ul
	case "pcap":
		if !testkit.CanRawSocket() {
			return fmt.Errorf("SIPp's play_pcap_audio needs a raw socket: run as root or under unshare -r -n")
		}
		audio.AudioPcap, audio.AudioPcapLength = pcap, pcapLength
	default:
		return fmt.Errorf("-caller-audio %q: want stream or pcap", callerAudio)
	}
	dir, err := os.MkdirTemp("", "hotline-b2-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()

	floor, err := harness.MeasureFloorPinned()
	if err != nil {
		return err
	}
	bin, err := harness.BuildHotline(ctx, root, dir)
	if err != nil {
		return err
	}
	cfg, cfgDesc, err := harness.ResolveConfig(root, config, dir)
	if err != nil {
		return err
	}
	h, err := harness.StartHotline(ctx, bin, cfg, dir)
	if err != nil {
		return err
	}
	defer h.Stop()

	r := &harness.Report{
		LoadStart: harness.LoadAverage(),
		Title:     "B2: IVR playback capacity and pacing",
		Method: fmt.Sprintf("hotline (config %s) on core 0, GOMAXPROCS=1; SIPp 3.6.1 on core 1 ramps calls to %s at %v calls/s, "+
			"each looping 10 s of speech as 20 ms PCMU (%s); %d probe calls send their own PCMU from an RTP probe and measure the "+
			"server's stream (arrival gaps, loopback); a %v window once each step is up: server CPU from /proc/PID/stat, "+
			"VmRSS against the idle server, CPU per packet (50 sent + 50 received per call per second) ÷ B0 floor per send-or-receive "+
			"(%.2f µs, measured in this run).",
			cfgDesc, number, rate, map[string]string{"stream": "SIPp rtp_stream", "pcap": "SIPp play_pcap_audio"}[callerAudio],
			probes, window, floor.PacketOpUS),
	}
	fmt.Fprintf(&r.Detail, "B0 floor this run: %s\n", floor)

	if _, _, err := harness.RunSIPp(ctx, dir, "warmup", testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Target: h.SIPAddr, Number: number, Calls: 20, Rate: 20, Pause: time.Second,
	}); err != nil {
		return fmt.Errorf("warm-up calls failed (is the server answering %s?): %w\n%s", number, err, h.LogTail())
	}
	time.Sleep(2 * time.Second)
	idleRSS, _ := harness.ProcRSS(h.Pid())

	for _, f := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad step %q", f)
		}
		if err := step(ctx, r, h, dir, audio, n, rate, window, probes, number, floor, idleRSS); err != nil {
			return err
		}
		time.Sleep(3 * time.Second) // let the server finish tearing down
	}
	return r.Finish(os.Stdout, results, table)
}

func step(ctx context.Context, r *harness.Report, h *harness.Hotline, dir string, audio testkit.SIPpOpts, n int, rate float64,
	window time.Duration, probes int, number string, floor harness.Floor, idleRSS int64) error {
	ramp := time.Duration(float64(n) / rate * float64(time.Second))
	settle := 3 * time.Second
	talk := ramp + settle + window + 5*time.Second
	load, err := harness.StartSIPp(ctx, dir, fmt.Sprintf("load%d", n), testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Target: h.SIPAddr, Number: number,
		Calls: n, Rate: rate, Concurrency: n, Pause: talk,
		AudioUL: audio.AudioUL, AudioPcap: audio.AudioPcap, AudioPcapLength: audio.AudioPcapLength,
		RecvTimeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	time.Sleep(ramp)
	probe, err := testkit.ListenRTPProbe()
	if err != nil {
		return err
	}
	defer probe.Close()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	caller, err := testkit.ReadWAVFile(filepath.Join(root, "ivr/prompts/zh/survey.wav"))
	if err != nil {
		return err
	}
	probe.ReplyWith(0, caller.Samples)
	probeCalls, err := harness.StartSIPp(ctx, dir, fmt.Sprintf("probe%d", n), testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Target: h.SIPAddr, Number: number,
		Calls: probes, Rate: 10, Pause: settle + window + 2*time.Second, MediaPort: probe.Port(),
		RecvTimeout: 30 * time.Second,
	})
	if err != nil {
		return err
	}
	time.Sleep(settle)

	probe.Reset()
	m0, _ := h.Metrics()
	cpu0, _ := harness.ProcCPU(h.Pid())
	sipp0, _ := harness.ProcCPU(load.Pid())
	drops0, _ := harness.ProcUDPDrops(h.Pid())
	t0 := time.Now()
	time.Sleep(window)
	elapsed := time.Since(t0)
	cpu1, _ := harness.ProcCPU(h.Pid())
	sipp1, _ := harness.ProcCPU(load.Pid())
	rss, _ := harness.ProcRSS(h.Pid())
	drops1, _ := harness.ProcUDPDrops(h.Pid())
	pk := probe.Packets()
	up, _ := load.Snapshot() // SIPp dumps every second: calls up at the window's end
	m1, _ := h.Metrics()

	pres, perr := probeCalls.Wait()
	lres, lerr := load.Wait()

	var worstP99, worstMax time.Duration
	var probeDetail []string
	for _, src := range probe.Sources() {
		g := testkit.Gaps(testkit.FromSource(pk, src))
		worstP99 = max(worstP99, g.P99Jitter)
		worstMax = max(worstMax, g.MaxGap)
		probeDetail = append(probeDetail, fmt.Sprintf("  probe stream %v: %v", src, g))
	}
	calls := n + probes
	cpu := cpu1 - cpu0
	cpuPct := 100 * cpu.Seconds() / elapsed.Seconds()
	per100 := cpuPct / (float64(calls) / 100)
	rssPerCall := float64(rss-idleRSS) / float64(calls) / 1024
	ops := float64(calls) * 100 * elapsed.Seconds()
	usPerOp := float64(cpu.Microseconds()) / ops
	sippPct := 100 * (sipp1 - sipp0).Seconds() / elapsed.Seconds()
	void := ""
	if sippPct > 70 {
		void = fmt.Sprintf(" VOID (SIPp %.0f %%)", sippPct)
	}
	load1 := fmt.Sprintf("%d calls%s", n, void)
	failed := lres.Failed + pres.Failed
	// What the server says it sent, against 50 packets per call per second: a server
	// that falls behind shows here even when the probes are few.
	sent := (m1["hotline_rtp_packets_sent_total"] - m0["hotline_rtp_packets_sent_total"]) / elapsed.Seconds()
	recv := (m1["hotline_rtp_packets_received_total"] - m0["hotline_rtp_packets_received_total"]) / elapsed.Seconds()
	late := m1["hotline_media_clock_lateness_seconds_sum"] - m0["hotline_media_clock_lateness_seconds_sum"]
	lateN := m1["hotline_media_clock_lateness_seconds_count"] - m0["hotline_media_clock_lateness_seconds_count"]
	r.Add("B2", load1, "failed calls (up during window)", fmt.Sprintf("%d of %d (%d)", failed, lres.Created+pres.Created, up.CurrentCalls), "0 (at 1,000)")
	r.Add("B2", load1, "probe gaps p99 |gap−20 ms| / max", fmt.Sprintf("%.2f ms / %.2f ms (%d streams)",
		msf(worstP99), msf(worstMax), len(probe.Sources())), "p99 ≤ 1 ms (gap ≤ 21 ms), max ≤ 40 ms")
	r.Add("B2", load1, "server RTP sent / expected (per s)", fmt.Sprintf("%.0f / %d", sent, calls*50), "100 %")
	r.Add("B2", load1, "server CPU per 100 calls", fmt.Sprintf("%.2f %% of a core (total %.1f %%)", per100, cpuPct), "≤ 5 %")
	r.Add("B2", load1, "RSS growth per call", fmt.Sprintf("%.1f KiB", rssPerCall), "≤ 48 KiB")
	r.Add("B2", load1, "CPU per packet ÷ B0 floor", fmt.Sprintf("%.2f µs ÷ %.2f µs = %.2f", usPerOp, floor.PacketOpUS, usPerOp/floor.PacketOpUS), "report")
	fmt.Fprintf(&r.Detail, "%d calls: %d up at the window's end; load %d created %d ok %d failed %v; probes %d ok %d failed; server CPU %v in %v; RSS %d KiB (idle %d KiB); server socket drops %d; SIPp CPU %.0f %%\n",
		n, up.CurrentCalls, lres.Created, lres.Successful, lres.Failed, lres.FailedBy, pres.Successful, pres.Failed,
		cpu, elapsed.Round(time.Millisecond), rss/1024, idleRSS/1024, drops1-drops0, sippPct)
	meanLate := 0.0
	if lateN > 0 {
		meanLate = late / lateN * 1000
	}
	fmt.Fprintf(&r.Detail, "  server metrics over the window: %.0f RTP packets/s sent, %.0f received; media clock lateness mean %.3f ms over %.0f ticks\n",
		sent, recv, meanLate, lateN)
	for _, l := range probeDetail {
		fmt.Fprintln(&r.Detail, l)
	}
	if lerr != nil {
		fmt.Fprintf(&r.Detail, "  load sipp: %s\n", firstLine(lerr.Error()))
	}
	if perr != nil {
		fmt.Fprintf(&r.Detail, "  probe sipp: %s\n", firstLine(perr.Error()))
	}
	if len(pk) == 0 {
		fmt.Fprintf(&r.Detail, "  the probe received nothing: server log tail:\n%s\n", h.LogTail())
	}
	return nil
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
