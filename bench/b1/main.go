// Command b1 measures call setup (B1 in BENCHMARKS.md): SIPp places calls
// (INVITE → 200 → ACK → a short talk → BYE) at rising rates against hotline pinned
// to core 0 with GOMAXPROCS=1, SIPp on core 1. It reports INVITE→200 p50/p95/p99
// (SIPp rtd, millisecond resolution), failed calls, retransmissions, and the
// server's CPU-ms per call from /proc/PID/stat.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
)

func main() {
	rates := flag.String("rates", "27,53,101,203", "calls per second, one step each (off the 20 ms grid)")
	seconds := flag.Int("seconds", 10, "seconds of calls per step")
	hold := flag.Duration("hold", time.Second, "how long each call stays up")
	number := flag.String("number", "12345", "number to dial")
	config := flag.String("config", "bench/hotline-bench.yaml", "hotline config (relative to the module root)")
	results := flag.String("results", "", "append the report to this markdown file")
	table := flag.String("table", "", "append summary rows to this file")
	flag.Parse()
	if err := run(*rates, *seconds, *hold, *number, *config, *results, *table); err != nil {
		fmt.Fprintln(os.Stderr, "b1:", err)
		os.Exit(1)
	}
}

func run(rates string, seconds int, hold time.Duration, number, config, results, table string) error {
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hotline-b1-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
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
		Title:     "B1: call setup",
		Method: fmt.Sprintf("hotline (config %s) on core 0, GOMAXPROCS=1; SIPp 3.6.1 on core 1 (scenario uac_call: "+
			"INVITE with PCMU/PCMA offer, 200, ACK, %v talk, BYE) to %s; %d s of calls per rate; "+
			"INVITE→200 on the wire from a tshark capture of lo (first INVITE to first 200 per Call-ID; SIPp's 1 ms rtd "+
			"when tshark is missing); server CPU from /proc/PID/stat over the step.",
			cfgDesc, hold, number, seconds),
	}
	// Warm up: the first calls pay for lazy initialisation, not for setup.
	if _, _, err := harness.RunSIPp(ctx, dir, "warmup", testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Target: h.SIPAddr, Number: number, Calls: 20, Rate: 20, Pause: hold,
	}); err != nil {
		return fmt.Errorf("warm-up calls failed (is the server answering %s?): %w\n%s", number, err, h.LogTail())
	}
	for _, f := range strings.Split(rates, ",") {
		rate, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil {
			return fmt.Errorf("bad rate %q", f)
		}
		calls := int(rate * float64(seconds))
		// tshark times the wire (µs); SIPp's own rtd has 1 ms resolution and its
		// scheduling in it. Without tshark, SIPp's figures are reported.
		capture, capErr := harness.StartSIPCapture(dir, port(h.SIPAddr))
		cpu0, _ := harness.ProcCPU(h.Pid())
		t0 := time.Now()
		res, sippCPU, runErr := harness.RunSIPp(ctx, dir, fmt.Sprintf("rate%v", rate), testkit.SIPpOpts{
			Scenario: testkit.ScenarioCall, Target: h.SIPAddr, Number: number,
			Calls: calls, Rate: rate, Pause: hold, TraceRTT: true,
		})
		elapsed := time.Since(t0)
		cpu1, _ := harness.ProcCPU(h.Pid())
		if runErr != nil && res.Created == 0 {
			return runErr
		}
		load := fmt.Sprintf("%v calls/s", rate)
		st, source := res.SetupTimes, "SIPp rtd"
		if capErr == nil {
			wire, unanswered, err := capture.SetupTimes(ctx)
			if err == nil && len(wire) > 0 {
				st, source = wire, fmt.Sprintf("wire, %d unanswered", unanswered)
			}
		} else {
			fmt.Fprintf(&r.Detail, "  no capture (%v): SIPp's rtd instead\n", capErr)
		}
		p50, p95, p99 := harness.Percentile(st, 50), harness.Percentile(st, 95), harness.Percentile(st, 99)
		target := "–"
		if rate >= 100 && rate < 200 {
			target = "p95 ≤ 10 ms, 0 failed"
		}
		sippPct := 100 * sippCPU.Seconds() / elapsed.Seconds()
		void := ""
		if sippPct > 70 {
			void = fmt.Sprintf(" (VOID: SIPp at %.0f %%)", sippPct)
		}
		r.Add("B1", load, "INVITE→200 p50/p95/p99 ("+source+")",
			fmt.Sprintf("%v / %v / %v%s", ms(p50), ms(p95), ms(p99), void), target)
		r.Add("B1", load, "failed / created, retransmissions",
			fmt.Sprintf("%d / %d, %d", res.Failed, res.Created, res.Retransmissions), "0 failed")
		r.Add("B1", load, "server CPU per call",
			fmt.Sprintf("%.2f ms", float64((cpu1-cpu0).Microseconds())/1000/float64(max(1, res.Created))), "report")
		fmt.Fprintf(&r.Detail, "%v calls/s: %d calls, %d ok, %d failed %v, %d retrans, setup samples %d, server CPU %v over %v, SIPp CPU %.0f %%\n",
			rate, res.Created, res.Successful, res.Failed, res.FailedBy, res.Retransmissions, len(st),
			cpu1-cpu0, elapsed.Round(time.Millisecond), sippPct)
		if runErr != nil {
			fmt.Fprintf(&r.Detail, "  sipp: %v\n", firstLine(runErr.Error()))
		}
	}
	return r.Finish(os.Stdout, results, table)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + " ms"
}

func port(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
