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
	"slices"
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
	repeat := flag.Int("repeat", 3, "runs per rate; the median of each percentile is reported")
	number := flag.String("number", "12345", "number to dial")
	config := flag.String("config", "bench/hotline-bench.yaml", "hotline config (relative to the module root)")
	results := flag.String("results", "", "append the report to this markdown file")
	table := flag.String("table", "", "append summary rows to this file")
	flag.Parse()
	if err := run(*rates, *seconds, *repeat, *hold, *number, *config, *results, *table); err != nil {
		fmt.Fprintln(os.Stderr, "b1:", err)
		os.Exit(1)
	}
}

func run(rates string, seconds, repeat int, hold time.Duration, number, config, results, table string) error {
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
			"INVITE with PCMU/PCMA offer, 200, ACK, %v talk, BYE) to %s; %d s of calls per rate, %d runs per rate (medians); "+
			"INVITE→200 on the wire from a tshark capture of lo (first INVITE to first 200 per Call-ID; SIPp's 1 ms rtd "+
			"when tshark is missing); server CPU from /proc/PID/stat over the step.",
			cfgDesc, hold, number, seconds, repeat),
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
		var p50s, p95s, p99s, cpuMS, sippPcts []float64
		failed, created, retrans := 0, 0, 0
		source := "SIPp rtd"
		for run := range max(1, repeat) {
			// tshark times the wire (µs); SIPp's own rtd has 1 ms resolution and its
			// scheduling in it. Without tshark, SIPp's figures are reported.
			capture, capErr := harness.StartSIPCapture(dir, port(h.SIPAddr))
			cpu0, _ := harness.ProcCPU(h.Pid())
			t0 := time.Now()
			res, sippCPU, runErr := harness.RunSIPp(ctx, dir, fmt.Sprintf("rate%v-%d", rate, run), testkit.SIPpOpts{
				Scenario: testkit.ScenarioCall, Target: h.SIPAddr, Number: number,
				Calls: calls, Rate: rate, Pause: hold, TraceRTT: true,
			})
			elapsed := time.Since(t0)
			cpu1, _ := harness.ProcCPU(h.Pid())
			if runErr != nil && res.Created == 0 {
				if capErr == nil {
					capture.Stop()
				}
				return runErr
			}
			st := res.SetupTimes
			if capErr == nil {
				wire, unanswered, err := capture.SetupTimes(ctx)
				if err == nil && len(wire) > 0 {
					st, source = wire, "wire"
					if unanswered > 0 {
						fmt.Fprintf(&r.Detail, "  %d INVITEs got no 200 on the wire\n", unanswered)
					}
				}
			} else if run == 0 {
				fmt.Fprintf(&r.Detail, "  no capture (%v): SIPp's rtd instead\n", capErr)
			}
			p50s = append(p50s, msf(harness.Percentile(st, 50)))
			p95s = append(p95s, msf(harness.Percentile(st, 95)))
			p99s = append(p99s, msf(harness.Percentile(st, 99)))
			cpuMS = append(cpuMS, float64((cpu1-cpu0).Microseconds())/1000/float64(max(1, res.Created)))
			sippPct := 100 * sippCPU.Seconds() / elapsed.Seconds()
			sippPcts = append(sippPcts, sippPct)
			failed += res.Failed
			created += res.Created
			retrans += res.Retransmissions
			fmt.Fprintf(&r.Detail, "%v calls/s run %d: %d calls, %d ok, %d failed %v, %d retrans, setup p50/p95/p99 %.2f/%.2f/%.2f ms (%s, %d samples), server CPU %v over %v, SIPp CPU %.0f %%\n",
				rate, run+1, res.Created, res.Successful, res.Failed, res.FailedBy, res.Retransmissions,
				p50s[run], p95s[run], p99s[run], source, len(st), cpu1-cpu0, elapsed.Round(time.Millisecond), sippPct)
			if runErr != nil {
				fmt.Fprintf(&r.Detail, "  sipp: %v\n", firstLine(runErr.Error()))
			}
		}
		load := fmt.Sprintf("%v calls/s", rate)
		target := "–"
		if rate >= 100 && rate < 200 {
			target = "p95 ≤ 10 ms, 0 failed"
		}
		void := ""
		if m := slices.Max(sippPcts); m > 70 {
			void = fmt.Sprintf(" (VOID: SIPp at %.0f %%)", m)
		}
		r.Add("B1", load, "INVITE→200 p50/p95/p99 ("+source+", median of runs)",
			fmt.Sprintf("%.2f / %.2f / %.2f ms%s", harness.Median(p50s), harness.Median(p95s), harness.Median(p99s), void), target)
		r.Add("B1", load, "failed / created, retransmissions", fmt.Sprintf("%d / %d, %d", failed, created, retrans), "0 failed")
		r.Add("B1", load, "server CPU per call (median)", fmt.Sprintf("%.2f ms", harness.Median(cpuMS)), "report")
	}
	return r.Finish(os.Stdout, results, table)
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func port(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}
