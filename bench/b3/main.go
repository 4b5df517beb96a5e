// Command b3 measures DTMF (B3 in BENCHMARKS.md): SIPp callers press thousands of keys
// into an IVR `collect` node that loops, so that every key is acted on and kept in the
// call's IVR path (GET /api/calls, ivr_paths). Three ways of sending keys: RFC 4733 from
// SIPp's stock pcaps (PT 101, identical SSRC/seq/timestamps on every replay, repeated
// keys included), play_dtmf (PT 96), and SIP INFO; each at idle and with load calls
// (SIPp callers sending 20 ms PCMU, sitting in the same collect node). hotline runs on
// core 0 with GOMAXPROCS=1, SIPp on core 1. Reported: keys decoded / sent, calls whose
// key sequence differs (missing, duplicated or reordered keys), and digit→action latency
// p50/p95/p99 from hotline_ivr_digit_action_seconds (key reaching the leg → the flow
// acting on it; interpolated inside the histogram's buckets).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
)

const collectFlow = `flow: intake
language: zh
start: digits
nodes:
  digits:
    collect: [beep]
    into: keys
    max: 64
    timeout: 60s
    inter_digit: 30s
    on_timeout: {next: bye}
    next: digits
  bye:
    hangup: []
`

func main() {
	calls := flag.Int("calls", 100, "DTMF calls per run")
	keys := flag.String("keys", "01123456789987765430", "keys each call presses (repeats included)")
	loadCalls := flag.Int("load", 400, "concurrent load calls for the loaded runs (0: idle only)")
	methods := flag.String("methods", "pcap,play,info", "pcap (RFC 4733 stock pcaps), play (play_dtmf), info (SIP INFO)")
	results := flag.String("results", "bench/RESULTS-b3-b6.md", "append the report here ('' = none)")
	flag.Parse()
	if err := run(*calls, *keys, *loadCalls, *methods, *results); err != nil {
		fmt.Fprintln(os.Stderr, "b3:", err)
		os.Exit(1)
	}
}

func run(calls int, keys string, loadCalls int, methods, results string) error {
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	if !testkit.CanRawSocket() {
		return fmt.Errorf("SIPp's pcap and play_dtmf need raw sockets: run as root")
	}
	dir, err := os.MkdirTemp("", "hotline-b3-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
	cfg, err := kit.WriteConfig(kit.Options{Dir: dir, Flow: collectFlow})
	if err != nil {
		return err
	}
	bin, err := harness.BuildHotline(ctx, root, dir)
	if err != nil {
		return err
	}
	r := &harness.Report{
		Title: "B3: DTMF",
		Method: fmt.Sprintf("hotline on core 0 (GOMAXPROCS=1) with a flow whose collect node loops (max 64 keys, timeout 60 s, inter-digit 30 s), "+
			"so each key is acted on and kept in the IVR path; SIPp on core 1: %d calls per run (10 calls/s, all up at once), each pressing %q "+
			"(%d keys); pcap = SIPp's stock RFC 4733 pcaps (PT 101, 500 ms apart), play = play_dtmf (PT 96), info = SIP INFO (300 ms apart). "+
			"Loaded runs add %d SIPp callers (rtp_stream PCMU) sitting in the same collect node. A fresh server per run. "+
			"Decoded = key events in the calls' IVR paths (GET /api/calls); a call is wrong if its keys differ from those sent in any way. "+
			"Latency from hotline_ivr_digit_action_seconds (interpolated in buckets .001 .002 .005 .01 .02 .03 .05 .1 .25 s).",
			calls, keys, len(keys), loadCalls),
	}
	loads := []int{0}
	if loadCalls > 0 {
		loads = append(loads, loadCalls)
	}
	ul := filepath.Join(root, "bench/testdata/caller_pcmu.ul")
	for _, method := range strings.Split(methods, ",") {
		for _, nload := range loads {
			if err := oneRun(ctx, r, bin, cfg, dir, ul, method, calls, keys, nload); err != nil {
				return err
			}
		}
	}
	return r.Finish(os.Stdout, results, "")
}

func oneRun(ctx context.Context, r *harness.Report, bin, cfg, dir, ul, method string, calls int, keys string, nload int) error {
	rdir, err := os.MkdirTemp(dir, method)
	if err != nil {
		return err
	}
	h, err := harness.StartHotline(ctx, bin, cfg, rdir)
	if err != nil {
		return err
	}
	defer h.Stop()
	var load *testkit.SIPp
	if nload > 0 {
		load, err = harness.StartSIPp(ctx, rdir, "load", testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: h.SIPAddr,
			Calls: nload, Rate: 53, Concurrency: nload, Pause: 10 * time.Minute, AudioUL: ul, RecvTimeout: 60 * time.Second})
		if err != nil {
			return err
		}
		time.Sleep(time.Duration(float64(nload)/53*float64(time.Second)) + 3*time.Second)
	}
	o := testkit.SIPpOpts{Target: h.SIPAddr, Calls: calls, Rate: 10, Concurrency: calls, Digits: keys, Pause: time.Second,
		RecvTimeout: 60 * time.Second}
	switch method {
	case "pcap":
		o.Scenario = testkit.ScenarioDTMFPcap
	case "play":
		o.Scenario = testkit.ScenarioDTMFPlay
		o.Pause = 12 * time.Second // play_dtmf returns at once; the keys go out over the next ~9 s (0.44 s each)
	case "info":
		o.Scenario = testkit.ScenarioDTMFInfo
	default:
		return fmt.Errorf("unknown method %q", method)
	}
	m0, _ := kit.Scrape(h.HTTPAddr)
	cpu0, _ := harness.ProcCPU(h.Pid())
	t0 := time.Now()
	res, sippCPU, err := harness.RunSIPp(ctx, rdir, "dtmf", o)
	elapsed := time.Since(t0)
	cpu1, _ := harness.ProcCPU(h.Pid())
	time.Sleep(time.Second) // the last calls' paths land
	m1, _ := kit.Scrape(h.HTTPAddr)
	var body struct {
		Calls []struct {
			State string `json:"state"`
			Paths []struct {
				Events []struct {
					Digit  string `json:"digit"`
					Result string `json:"result"`
				} `json:"events"`
			} `json:"ivr_paths"`
		}
	}
	if err := kit.GetJSON(h.HTTPAddr, "/api/calls", &body); err != nil {
		return err
	}
	decoded, wrong, ended := 0, 0, 0
	var examples []string
	results := map[string]int{}
	for _, c := range body.Calls {
		if c.State != "ended" {
			continue
		}
		ended++
		var got string
		for _, p := range c.Paths {
			for _, e := range p.Events {
				if e.Digit != "" {
					got += e.Digit
					results[e.Result]++
				}
			}
		}
		decoded += len(got)
		if got != keys {
			wrong++
			if len(examples) < 3 {
				examples = append(examples, got)
			}
		}
	}
	sent := res.Successful * len(keys)
	h1 := m1.Hist("hotline_ivr_digit_action_seconds").Minus(m0.Hist("hotline_ivr_digit_action_seconds"))
	loadDesc := "idle"
	if nload > 0 {
		loadDesc = fmt.Sprintf("%d load calls", nload)
		if s, err := load.Snapshot(); err == nil {
			loadDesc += fmt.Sprintf(" (%d up)", s.CurrentCalls)
		}
	}
	label := method + ", " + loadDesc
	sippPct := 100 * sippCPU.Seconds() / elapsed.Seconds()
	if sippPct > 70 {
		label += fmt.Sprintf(" VOID (SIPp %.0f %%)", sippPct)
	}
	r.Add("B3", label, "keys decoded / sent; calls wrong", fmt.Sprintf("%d / %d (%.2f %%); %d of %d calls", decoded, sent,
		100*float64(decoded)/float64(max(1, sent)), wrong, ended), "100 %, 0 duplicates")
	r.Add("B3", label, "digit→action p50 / p95 / p99", fmt.Sprintf("%.2f / %.2f / %.2f ms (%.0f keys)", 1000*h1.Quantile(.5),
		1000*h1.Quantile(.95), 1000*h1.Quantile(.99), h1.Count), "p95 ≤ 30 ms")
	fmt.Fprintf(&r.Detail, "%s: SIPp %d ok %d failed %v; %d calls ended; key results %v; server CPU %v over %v; SIPp %.0f %%; load average %s\n",
		label, res.Successful, res.Failed, res.FailedBy, ended, results, cpu1-cpu0, elapsed.Round(time.Millisecond), sippPct, kit.LoadAvg())
	for _, e := range examples {
		fmt.Fprintf(&r.Detail, "  a wrong call got %q (sent %q)\n", e, keys)
	}
	fmt.Printf("%s: %d/%d decoded, %d wrong, p95 %.2f ms\n", label, decoded, sent, wrong, 1000*h1.Quantile(.95))
	if load != nil {
		_, _ = load.Stop()
	}
	return nil
}
