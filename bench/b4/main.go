// Command b4 measures bridged calls (B4 in BENCHMARKS.md): SIPp callers sending 20 ms
// PCMU → hotline (pinned to core 0, GOMAXPROCS=1; a straight-to-queue intake) → SIP
// agents that are all one SIPp UAS with -rtp_echo (core 1), in steps of concurrent
// bridged calls until the knee. Per step: server CPU per forwarded RTP packet ÷ the B0
// floor measured in the same run, the latency the two bridge passes add (a probe call
// whose caller is our own socket sends tagged packets that go through hotline to the
// agent's echo and back; a capture of lo times each packet's stay in hotline, both
// ways), and loss (probe packets not back; sequence gaps and drops counted by hotline).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hotline-12345/hotline/bench/b4/bridge"
	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
)

func main() {
	steps := flag.String("steps", "200,400,600,800,1000,1200", "concurrent bridged calls, one step each")
	rate := flag.Float64("rate", 53, "calls per second while ramping (off the 20 ms grid)")
	window := flag.Duration("window", 10*time.Second, "measurement window once a step is up")
	results := flag.String("results", "bench/RESULTS-b3-b6.md", "append the report to this markdown file ('' = none)")
	jitter := flag.Duration("jitter", 0, "media.jitter_buffer for the server (0: its default, 40 ms)")
	atKnee := flag.Float64("at-knee", 0.8, "after the steps, one more at this share of the knee they found (0: none)")
	callerMedia := flag.String("caller-media", "paced", "who sends the callers' audio: paced (this program, calls' phases spread evenly over the 20 ms; SIPp signals) or sipp (SIPp's rtp_stream, which sends in clumps)")
	record := flag.Bool("record", true, "record every bridged call, as shipped (false: the B5 'off' state)")
	shield := flag.Bool("shield", true, "move the machine's other processes off the server's core for the run (restored at the end)")
	floorOnly := flag.Bool("floor-only", false, "internal: measure the B0 floor and print it as JSON")
	echoServer := flag.String("paced-echo-server", "", "internal: the minimal echo server of the paced B0 floor, with this many sockets")
	echoClient := flag.String("paced-echo", "", "internal: measure the paced B0 floor (streams,window) and print it as JSON")
	flag.Parse()
	if ok, err := harness.PacedEchoMain("-paced-echo-server", *echoServer, "-paced-echo", *echoClient); ok {
		if err != nil {
			fmt.Fprintln(os.Stderr, "b4:", err)
			os.Exit(1)
		}
		return
	}
	if *floorOnly {
		f, err := harness.MeasureFloor(100000, 3)
		if err != nil {
			fmt.Fprintln(os.Stderr, "b4:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(f)
		return
	}
	if err := run(*steps, *rate, *window, *results, *jitter, *record, *shield, *callerMedia, *atKnee); err != nil {
		fmt.Fprintln(os.Stderr, "b4:", err)
		os.Exit(1)
	}
}

func run(steps string, rate float64, window time.Duration, results string, jitter time.Duration, record, shield bool, callerMedia string, atKnee float64) error {
	if callerMedia != "paced" && callerMedia != "sipp" {
		return fmt.Errorf("-caller-media %q: paced or sipp", callerMedia)
	}
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	var ns []int
	maxN := 0
	for _, f := range strings.Split(steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return fmt.Errorf("bad step %q", f)
		}
		ns = append(ns, n)
		maxN = max(maxN, n)
	}
	dir, err := os.MkdirTemp("", "hotline-b4-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
	shieldDesc := "The rest of the machine was not moved."
	if shield {
		restore, moved, kept, err := harness.Shield(0, nil)
		if err != nil {
			return err
		}
		// A run stopped by a signal still gives the machine's other threads their cores
		// back (a killed run once left 119 of them on core 1 alone).
		restore = sync.OnceFunc(restore)
		defer restore()
		interrupted := make(chan os.Signal, 1)
		signal.Notify(interrupted, os.Interrupt, syscall.SIGTERM)
		defer signal.Stop(interrupted)
		go func() {
			sig := <-interrupted
			restore()
			fmt.Fprintf(os.Stderr, "b4: %v: core 0's shield lifted, stopping\n", sig)
			os.Exit(1)
		}()
		shieldDesc = fmt.Sprintf("Core 0 shielded for the run (as a media server's core is kept in production): %d threads of the machine's other processes moved to core 1, %d bound to core 0 left (per-core kernel threads).", moved, kept)
	}
	floor, err := harness.MeasureFloorPinned()
	if err != nil {
		return err
	}
	// The paced floor of each step: a minimal Go echo answering as many 20 ms streams
	// as the step's calls have legs, before the server starts.
	paced := map[int]harness.PacedEcho{}
	for _, n := range ns {
		p, err := harness.MeasurePacedEchoPinned("-paced-echo", 2*n, 8*time.Second)
		if err != nil {
			return err
		}
		paced[n] = p
		fmt.Printf("paced floor for %d bridged: %s\n", n, p)
	}
	loadStart := kit.LoadAvg()
	s, err := bridge.Start(ctx, root, dir, maxN+50, jitter)
	if err != nil {
		return err
	}
	defer s.Stop()
	s.PacedMedia = callerMedia == "paced"
	mediaDesc := "SIPp callers (rtp_stream, 10 s of speech as 20 ms PCMU)"
	if s.PacedMedia {
		mediaDesc = "SIPp callers for the signalling; their audio (10 s of speech as 20 ms PCMU) sent by this program from one socket to each call's leg, the calls' phases spread evenly over the 20 ms (-caller-media paced; hotline latches each leg onto it)"
	}
	recordingDesc := "Every bridged call is also recorded (stereo WAV, as shipped)."
	if !record {
		if err := s.RecordingOff(); err != nil {
			return err
		}
		recordingDesc = "Recording OFF (-record=false: the recordings folder is a file, as in B5's off runs)."
	}
	r := &harness.Report{
		Title: "B4: bridged calls",
		Method: fmt.Sprintf("hotline on core 0 (GOMAXPROCS=1), config written at run time: a straight-to-queue intake, one queue, "+
			"%d agents with static contacts all on one SIPp UAS with -rtp_echo; %s; "+
			"the calls ramp at %v calls/s; both SIPp and this program on core 1. %s A %v window per step: "+
			"server CPU from /proc/PID/stat ÷ RTP packets hotline sent (hotline_rtp_packets_sent_total: each one a forwarded packet, "+
			"a receive and a send) = CPU µs per forwarded packet, ÷ 2 × the B0 per-operation floor (%.2f µs, measured in this run) = the ratio; "+
			"also ÷ the paced B0 floor: a minimal Go echo (a goroutine per socket reading and sending back) on core 0 answering as many 20 ms streams "+
			"as the step has legs, sent from another process on core 1, measured in this run before the server starts. "+
			"Added latency: a probe call whose caller media is our UDP socket sends one tagged PCMU packet per 20 ms; each comes back "+
			"caller→hotline→agent echo→hotline→caller (two bridge passes). The added latency is the time each such packet spent in hotline, "+
			"from a capture of lo (a packet socket with a kernel filter for the probe's tag, kernel timestamps as each packet arrives): "+
			"from its arrival from the caller to its departure to the agent, plus from its arrival from the agent to its departure to the caller. "+
			"Also reported: the probe's round trip minus a direct round trip to the same SIPp echo, sent side by side (both cross SIPp's loaded core). "+
			"media.jitter_buffer %s. This process (probe, capture) pinned to core 1. %s Load average at start %s.", maxN+50, mediaDesc, rate, recordingDesc, window, floor.PacketOpUS, jitterDesc(jitter), shieldDesc, loadStart),
	}
	fmt.Fprintf(&r.Detail, "B0 floor this run: %s\n", floor)
	time.Sleep(2 * time.Second)
	// measure runs one step and reports it; ok: its loss is within the knee's bound,
	// stop: past the knee.
	measure := func(n int, tag string) (ok, stop bool, err error) {
		res, err := s.Step(ctx, n, rate, window)
		if err != nil {
			return false, false, err
		}
		load := fmt.Sprintf("%d bridged", n) + tag
		if res.CallerSIPpPct > 70 || res.UASPct > 70 || res.BenchPct > 70 {
			load += fmt.Sprintf(" VOID (SIPp %.0f %% / %.0f %%, bench %.0f %%)", res.CallerSIPpPct, res.UASPct, res.BenchPct)
		}
		ratio := res.USPerForwarded / (2 * floor.PacketOpUS)
		addP50 := res.ViaHotline.P50 - res.Direct.P50
		addP99 := res.ViaHotline.P99 - res.Direct.P99
		probeLoss := 0.0
		if res.ViaHotline.Sent > 0 {
			probeLoss = 100 * float64(res.ViaHotline.Sent-res.ViaHotline.Back) / float64(res.ViaHotline.Sent)
		}
		serverLoss := 0.0
		if res.Received > 0 {
			serverLoss = 100 * (res.ServerLost + res.ServerDropped) / (res.Received + res.ServerLost)
		}
		r.Add("B4", load, "CPU per forwarded packet ÷ floor", fmt.Sprintf("%.2f µs ÷ (2 × %.2f µs) = %.2f (server %.0f %% of a core)",
			res.USPerForwarded, floor.PacketOpUS, ratio, res.CPUPct), "≤ 2")
		if p, ok := paced[n]; ok && p.USPerPkt > 0 {
			r.Add("B4", load, "CPU per forwarded packet ÷ paced floor (minimal Go echo, same streams)", fmt.Sprintf("%.2f µs ÷ %.2f µs = %.2f (echo %.0f %% of a core at %.0f packets/s)",
				res.USPerForwarded, p.USPerPkt, res.USPerForwarded/p.USPerPkt, p.CPUPct, p.PPS), "≤ 2")
			fmt.Fprintf(&r.Detail, "paced B0 floor for %d bridged: %s\n", n, p)
		}
		w := res.OnWire.Both
		r.Add("B4", load, "added latency p50 / p99 (2 bridge passes, on the wire)", fmt.Sprintf("%.2f ms / %.2f ms (max %.2f ms, %d packets)", ms(w.P50), ms(w.P99), ms(w.Max), res.OnWire.Packets), "p99 ≤ 1 ms idle, ≤ 2 ms at 80 % knee")
		if p, ok := paced[n]; ok && p.OnWire.Packets > 0 {
			r.Add("B4", load, "latency floor: the minimal Go echo's one pass p50 / p99, on the wire (hotline's per pass: caller→agent, agent→caller)",
				fmt.Sprintf("%.2f / %.2f ms (hotline p99 %.2f, %.2f ms)", ms(p.OnWire.P50), ms(p.OnWire.P99), ms(res.OnWire.ToAgent.P99), ms(res.OnWire.ToCaller.P99)), "")
		}
		r.Add("B4", load, "round trip via hotline − direct, p50 / p99", fmt.Sprintf("%.2f ms / %.2f ms", ms(addP50), ms(addP99)), "")
		r.Add("B4", load, "loss: probe / at hotline (lost+dropped)", fmt.Sprintf("%.2f %% / %.3f %%", probeLoss, serverLoss), "0")
		r.Add("B4", load, "failed calls", fmt.Sprintf("%d of %d (up %d)", res.Failed, res.Created, res.Up), "0")
		fmt.Fprintf(&r.Detail, "%d calls: up %d; created %d failed %d; server CPU %v (%.1f %%); forwarded %.0f pkts (%.1f/s/call), received %.0f; "+
			"lost %.0f dropped %.0f socket drops %d; SIPp callers %.0f %%, UAS %.0f %%, bench %.0f %%; paced caller media: %d streams, %d sent, %d back; load %s; cores busy %.0f %% / %.0f %% (softirq %.0f %% / %.0f %%); hypervisor steal core 0 %.1f %%, core 1 %.1f %%\n  via hotline: %s\n  direct echo: %s\n  in hotline (lo capture): %s\n  recordings: %d files, %d bytes %s\n",
			n, res.Up, res.Created, res.Failed, res.ServerCPU, res.CPUPct, res.Forwarded, res.Forwarded/res.Window.Seconds()/float64(max(1, res.Up)),
			res.Received, res.ServerLost, res.ServerDropped, res.SocketDrops, res.CallerSIPpPct, res.UASPct, res.BenchPct, res.PacedStreams, res.PacedSent, res.PacedBack, kit.LoadAvg(), res.BusyPct[0], res.BusyPct[1], res.SoftirqPct[0], res.SoftirqPct[1], res.StealPct[0], res.StealPct[1], res.ViaHotline, res.Direct, res.OnWire,
			res.Recordings, res.BytesWritten, res.Err)
		if os.Getenv("B4_DEBUG") != "" {
			for _, p := range res.OnWire.Slow {
				fmt.Printf("slow pass (to agent %v): in %s out %s (%.3f ms)\n", p.ToAgent, p.In.Format("15:04:05.000000"), p.Out.Format("15:04:05.000000"), ms(p.Out.Sub(p.In)))
			}
			for i, d := range res.ViaHotline.ByIndex {
				fmt.Printf("%d:%.1f ", i, ms(d))
			}
			fmt.Println()
		}
		fmt.Printf("step %d done: %.2f µs/fwd, added p99 %.2f ms on the wire (round trips: %.2f ms), loss %.2f%%, cpu %.0f%%\n", n, res.USPerForwarded, ms(w.P99), ms(addP99), probeLoss, res.CPUPct)
		first, last := trend(res.ViaHotline.ByIndex)
		fmt.Fprintf(&r.Detail, "  probe round trip through hotline, median of the first / last tenth of the window: %.1f ms / %.1f ms\n", first, last)
		if res.Failed > n/200 || res.CPUPct > 95 || res.ViaHotline.Back == 0 {
			fmt.Fprintf(&r.Detail, "  past the knee at %d (failed calls, the server's core saturated, or no probe packet back): stopping\n", n)
			return false, true, nil
		}
		return probeLoss <= 1 && serverLoss <= 1, false, nil
	}
	knee := 0
	for _, n := range ns {
		ok, stop, err := measure(n, "")
		if err != nil {
			return err
		}
		if stop {
			break
		}
		if ok {
			knee = n
		}
		time.Sleep(5 * time.Second)
	}
	if atKnee > 0 && knee > 0 {
		// The latency target's load, measured in the same run as the knee it is a share of
		// (this machine's speed drifts from hour to hour).
		n := int(atKnee*float64(knee) + 0.5)
		time.Sleep(5 * time.Second)
		if _, _, err := measure(n, fmt.Sprintf(" (%.0f %% of the knee)", 100*atKnee)); err != nil {
			return err
		}
	}
	r.Add("B4", "", "knee (last step with loss ≤ 1 % and no failures)", fmt.Sprintf("%d bridged calls", knee), "1,000 on two cores")
	return r.Finish(os.Stdout, results, "")
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func jitterDesc(d time.Duration) string {
	if d <= 0 {
		return "default (40 ms)"
	}
	return d.String()
}

// trend is the median round trip of the first and the last tenth of the probe's packets
// (those that came back): a rising playout delay shows as last > first.
func trend(by []time.Duration) (first, last float64) {
	k := len(by) / 10
	med := func(ds []time.Duration) float64 {
		var v []float64
		for _, d := range ds {
			if d > 0 {
				v = append(v, ms(d))
			}
		}
		return harness.Median(v)
	}
	if k == 0 {
		return 0, 0
	}
	return med(by[:k]), med(by[len(by)-k:])
}
