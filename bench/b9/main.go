// Command b9 measures the WebRTC agent leg (B9 in BENCHMARKS.md): B4's bridged calls
// (SIPp callers sending 20 ms PCMU → hotline pinned to core 0, GOMAXPROCS=1, a
// straight-to-queue intake), once with SIP agents (all one SIPp UAS with -rtp_echo, as
// B4) and once with WebRTC agents (contact: webrtc; pion clients in a child of this
// program pinned to core 1, each on the browser softphone's WebSocket, accepting every
// ring and echoing every packet back), at the same steps in the same run. Per step and
// configuration: server CPU per forwarded packet (B4's formula), server CPU % per 100
// calls, the added latency of B4's probe call and loss; then what a WebRTC agent leg
// costs over a SIP agent leg, in µs of server CPU per second of call.
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

	"github.com/hotline-12345/hotline/bench/b4/bridge"
	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
)

func main() {
	steps := flag.String("steps", "50,100", "concurrent bridged calls, one step each per configuration")
	rate := flag.Float64("rate", 53, "calls per second while ramping (off the 20 ms grid)")
	window := flag.Duration("window", 10*time.Second, "measurement window once a step is up")
	results := flag.String("results", "bench/RESULTS-b3-b6.md", "append the report to this markdown file ('' = none)")
	floorOnly := flag.Bool("floor-only", false, "internal: measure the B0 floor and print it as JSON")
	child := flag.String("agents-child", "", "internal: run the WebRTC agents against this HTTP address")
	first := flag.Int("agents-first", 1000, "internal: the first agent id")
	count := flag.Int("agents-n", 0, "internal: how many agents")
	flag.Parse()
	switch {
	case *floorOnly:
		f, err := harness.MeasureFloor(100000, 3)
		if err != nil {
			fmt.Fprintln(os.Stderr, "b9:", err)
			os.Exit(1)
		}
		_ = json.NewEncoder(os.Stdout).Encode(f)
		return
	case *child != "":
		if err := runAgents(*child, *first, *count); err != nil {
			fmt.Fprintln(os.Stderr, "b9 agents:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*steps, *rate, *window, *results); err != nil {
		fmt.Fprintln(os.Stderr, "b9:", err)
		os.Exit(1)
	}
}

// step is one configuration at one load.
type step struct {
	kind     string // "SIP" or "WebRTC"
	n        int
	res      bridge.Result
	benchPct float64 // the WebRTC agents' process, % of core 1, over the window
	agents   string  // the agents' counters at the end
	// WebRTC: the softphones connected for the step, and the server with them all idle.
	connected int
	idle      idleWin
	base      idleWin // the server with no softphone connected
}

// spare is how many WebRTC agents beyond the step's calls (and the probe's) connect.
const spare = 1

// idleWin is a window with the agents connected and no call.
type idleWin struct {
	serverPct, agentsPct, sentPerS float64
}

// measureIdle measures the server (and the agents' process) with no call.
func measureIdle(h *harness.Hotline, agentsPid int, window time.Duration) idleWin {
	c0, _ := harness.ProcCPU(h.Pid())
	var a0, a1 time.Duration
	if agentsPid > 0 {
		a0, _ = harness.ProcCPU(agentsPid)
	}
	m0, _ := kit.Scrape(h.HTTPAddr)
	t0 := time.Now()
	time.Sleep(window)
	el := time.Since(t0).Seconds()
	c1, _ := harness.ProcCPU(h.Pid())
	if agentsPid > 0 {
		a1, _ = harness.ProcCPU(agentsPid)
	}
	m1, _ := kit.Scrape(h.HTTPAddr)
	return idleWin{
		serverPct: 100 * (c1 - c0).Seconds() / el,
		agentsPct: 100 * (a1 - a0).Seconds() / el,
		sentPerS:  (m1.Sum("hotline_rtp_packets_sent_total") - m0.Sum("hotline_rtp_packets_sent_total")) / el,
	}
}

func run(steps string, rate float64, window time.Duration, results string) error {
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
	agents := maxN + 10 // every call and the probe's, and a few spare
	dir, err := os.MkdirTemp("", "hotline-b9-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
	floor, err := harness.MeasureFloorPinned()
	if err != nil {
		return err
	}
	loadStart := kit.LoadAvg()
	r := &harness.Report{
		Title:     "B9: WebRTC agent leg",
		LoadStart: loadStart,
		Method: fmt.Sprintf("B4's bridged calls at steps %s, in two configurations one after the other in the same run, each its own hotline "+
			"on core 0 (GOMAXPROCS=1, a straight-to-queue intake, one queue, %d agents, every call recorded as shipped): "+
			"SIP agents with static contacts all on one SIPp UAS with -rtp_echo (B4 exactly), then WebRTC agents (contact: webrtc, no desk "+
			"phone) played by pion in a child of this program pinned to core 1: each opens GET /softphone?agent=ID with the admin token, "+
			"offers a PCMU track (and telephone-event 126), applies the answer, waits for ready, sends agent{state: ready}, accepts every "+
			"ring and writes every PCMU packet of the remote track back out of its local track (SIPp's -rtp_echo, over SRTP). SIPp callers "+
			"(rtp_stream, 10 s of speech as 20 ms PCMU) ramp at %v calls/s on core 1. A %v window per step: server CPU from /proc/PID/stat ÷ RTP "+
			"packets hotline sent (hotline_rtp_packets_sent_total) = CPU µs per forwarded packet, ÷ 2 × the B0 floor (%.2f µs, this run); "+
			"server CPU %% per 100 calls = server %% ÷ (n+1 calls, the probe's included) × 100; the WebRTC agent leg's extra cost = "+
			"(WebRTC server CPU − SIP server CPU) ÷ (n+1), in µs of CPU per second of call. Added latency: B4's probe (tagged PCMU from our "+
			"socket, back through hotline, the agent's echo and hotline) minus a direct round trip to the SIPp UAS's echo (for WebRTC the "+
			"pion echo's own cost is inside it). A step is VOID when SIPp or the WebRTC agents' process is above 70 %% of its core "+
			"(the pion agents' CPU over the middle of the window). WebRTC: for each step the agents' process connects n+1+%d softphones (a "+
			"connected softphone carries media both ways between calls, as a browser sends its disabled microphone as silence), the server is "+
			"measured over a window with them all idle (CPU per idle softphone: over the server's with no softphone, measured first), then the step runs; the idle spares' cost is taken out of "+
			"the per-call figure. SIP agents cost nothing idle.", steps, agents, rate, window, floor.PacketOpUS, spare),
	}
	fmt.Fprintf(&r.Detail, "B0 floor this run: %s\n", floor)
	var all []step

	// SIP agents: B4.
	sipDir := filepath.Join(dir, "sip")
	if err := os.MkdirAll(sipDir, 0o755); err != nil {
		return err
	}
	s, err := bridge.Start(ctx, root, sipDir, agents, 0)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	baseSIP := measureIdle(s.H, 0, window)
	fmt.Printf("SIP server idle: %.1f %%\n", baseSIP.serverPct)
	for _, n := range ns {
		res, err := s.Step(ctx, n, rate, window)
		if err != nil {
			s.Stop()
			return err
		}
		all = append(all, step{kind: "SIP", n: n, res: res})
		fmt.Printf("SIP step %d: server %.1f %%, %.2f µs/fwd, up %d\n", n, res.CPUPct, res.USPerForwarded, res.Up)
		time.Sleep(5 * time.Second)
	}
	s.Stop()
	bin := filepath.Join(sipDir, "hotline")

	// WebRTC agents.
	webDir := filepath.Join(dir, "webrtc")
	if err := os.MkdirAll(webDir, 0o755); err != nil {
		return err
	}
	w, err := startWebRTC(ctx, root, bin, webDir, agents)
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	baseWeb := measureIdle(w.H, 0, window)
	fmt.Printf("WebRTC server idle, no softphone: %.1f %%\n", baseWeb.serverPct)
	for _, n := range ns {
		// Exactly the step's calls and one spare: a connected softphone carries media
		// both ways even between calls, so idle ones would weigh on the step.
		k := n + 1 + spare
		ap, connected, err := startAgents(w.H.HTTPAddr, 1000, k, filepath.Join(webDir, fmt.Sprintf("agents%d.log", n)))
		if err != nil {
			w.Stop()
			return err
		}
		if connected < n+1 {
			fmt.Fprintf(&r.Detail, "WebRTC step %d skipped: only %d of %d agents connected\n", n, connected, k)
			ap.Stop()
			continue
		}
		time.Sleep(5 * time.Second) // handshakes over
		idle := measureIdle(w.H, ap.Pid(), window)
		fmt.Printf("WebRTC %d agents idle: server %.1f %%, agents %.0f %%, %.0f pkts sent/s\n", connected, idle.serverPct, idle.agentsPct, idle.sentPerS)
		// The agents' CPU over the middle of the window: Step's window opens after the
		// ramp and 3 s to settle.
		ramp := time.Duration(float64(n) / rate * float64(time.Second))
		benchCh := make(chan float64, 1)
		go func() {
			time.Sleep(ramp + 3*time.Second + window/10)
			c0, _ := harness.ProcCPU(ap.Pid())
			t0 := time.Now()
			time.Sleep(window * 8 / 10)
			c1, _ := harness.ProcCPU(ap.Pid())
			benchCh <- 100 * (c1 - c0).Seconds() / time.Since(t0).Seconds()
		}()
		res, err := w.Step(ctx, n, rate, window)
		if err != nil {
			ap.Stop()
			w.Stop()
			return err
		}
		st := step{kind: "WebRTC", n: n, res: res, benchPct: <-benchCh, agents: ap.Stats(), connected: connected, idle: idle, base: baseWeb}
		all = append(all, st)
		fmt.Printf("WebRTC step %d: server %.1f %%, %.2f µs/fwd, up %d, agents %.0f %% (%s)\n", n, res.CPUPct, res.USPerForwarded, res.Up, st.benchPct, st.agents)
		ap.Stop()
		time.Sleep(5 * time.Second)
	}
	w.Stop()

	for _, st := range all {
		res := st.res
		load := fmt.Sprintf("%d bridged, %s agents", st.n, st.kind)
		if void := voidReason(st); void != "" {
			load += " VOID (" + void + ")"
		}
		calls := float64(st.n + 1)
		probeLoss, serverLoss := losses(res)
		r.Add("B9", load, "server CPU per forwarded packet ÷ floor", fmt.Sprintf("%.2f µs ÷ (2 × %.2f µs) = %.2f",
			res.USPerForwarded, floor.PacketOpUS, res.USPerForwarded/(2*floor.PacketOpUS)), "")
		r.Add("B9", load, "server CPU per 100 calls", fmt.Sprintf("%.1f %% of a core (server %.1f %%)", 100*res.CPUPct/calls, res.CPUPct), "")
		r.Add("B9", load, "added latency p50 / p99 (2 bridge passes)", fmt.Sprintf("%.2f ms / %.2f ms",
			ms(res.ViaHotline.P50-res.Direct.P50), ms(res.ViaHotline.P99-res.Direct.P99)), "")
		r.Add("B9", load, "loss: probe / at hotline (lost+dropped)", fmt.Sprintf("%.2f %% / %.3f %%", probeLoss, serverLoss), "0")
		r.Add("B9", load, "failed calls", fmt.Sprintf("%d of %d (up %d)", res.Failed, res.Created, res.Up), "0")
		fmt.Fprintf(&r.Detail, "%s %d calls: up %d; created %d failed %d; server CPU %v (%.1f %%); forwarded %.0f pkts (%.1f/s/call), received %.0f; "+
			"lost %.0f dropped %.0f socket drops %d; SIPp callers %.0f %%, UAS %.0f %%, WebRTC agents' process %.0f %%\n  via hotline: %s\n  direct echo: %s\n  recordings: %d files, %d bytes %s\n",
			st.kind, st.n, res.Up, res.Created, res.Failed, res.ServerCPU, res.CPUPct, res.Forwarded, res.Forwarded/res.Window.Seconds()/calls,
			res.Received, res.ServerLost, res.ServerDropped, res.SocketDrops, res.CallerSIPpPct, res.UASPct, st.benchPct,
			res.ViaHotline, res.Direct, res.Recordings, res.BytesWritten, res.Err)
		if st.kind == "WebRTC" {
			fmt.Fprintf(&r.Detail, "  WebRTC agents' counters at the end: %s\n", st.agents)
			fmt.Fprintf(&r.Detail, "  before the step, %d softphones connected, no call: server %.1f %%, %.0f RTP pkts sent/s, agents' process %.0f %%\n",
				st.connected, st.idle.serverPct, st.idle.sentPerS, st.idle.agentsPct)
			r.Add("B9", fmt.Sprintf("%d WebRTC agents connected, no call", st.connected), "server CPU per idle connected softphone",
				fmt.Sprintf("%.0f µs/s (server %.1f %%, %.1f %% with none; %.1f RTP pkts sent/s each)", idleUS(st), st.idle.serverPct, st.base.serverPct, st.idle.sentPerS/float64(max(1, st.connected))), "")
		}
	}
	// The comparison, step by step.
	for _, n := range ns {
		var sip, web *step
		for i := range all {
			if all[i].n == n && all[i].kind == "SIP" {
				sip = &all[i]
			}
			if all[i].n == n && all[i].kind == "WebRTC" {
				web = &all[i]
			}
		}
		if sip == nil || web == nil {
			continue
		}
		calls := float64(n + 1)
		load := fmt.Sprintf("%d bridged", n)
		if voidReason(*sip) != "" || voidReason(*web) != "" {
			load += " VOID"
		}
		// The spare softphones were idle through the step: their idle cost is taken out.
		idleSpare := idleUS(*web) * float64(max(0, web.connected-(n+1))) / 1e4 // % of a core
		perSIP := 100 * sip.res.CPUPct / calls
		perWeb := 100 * (web.res.CPUPct - idleSpare) / calls
		diffUS := (web.res.CPUPct - idleSpare - sip.res.CPUPct) / 100 * 1e6 / calls
		r.Add("B9", load, "CPU per WebRTC agent leg vs per SIP agent leg", fmt.Sprintf("%.1f %% vs %.1f %% of a core per 100 calls; "+
			"a WebRTC agent leg costs %+.0f µs/s more (%.2f× the SIP call; %.1f %% of idle spare softphones taken out)", perWeb, perSIP, diffUS, perWeb/perSIP, idleSpare), "")
		r.Add("B9", load, "CPU per forwarded packet, WebRTC vs SIP", fmt.Sprintf("%.2f µs vs %.2f µs", web.res.USPerForwarded, sip.res.USPerForwarded), "")
	}
	fmt.Fprintf(&r.Detail, "server with no call and no softphone: SIP configuration %.1f %%, WebRTC configuration %.1f %% (%.0f RTP pkts sent/s)\n",
		baseSIP.serverPct, baseWeb.serverPct, baseWeb.sentPerS)
	fmt.Fprintf(&r.Detail, "load average at the end: %s\n", kit.LoadAvg())
	return r.Finish(os.Stdout, results, "")
}

// startWebRTC starts hotline with WebRTC agents 1000.. (and a SIPp UAS with -rtp_echo
// that agents do not use: B4's probe measures its direct round trip against it).
func startWebRTC(ctx context.Context, root, bin, dir string, agents int) (*bridge.Setup, error) {
	uas, err := harness.StartSIPp(ctx, dir, "uas", testkit.SIPpOpts{
		Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Calls: 1000000, RecvTimeout: 10 * time.Minute, Timeout: 3 * time.Hour,
	})
	if err != nil {
		return nil, err
	}
	var extra strings.Builder
	extra.WriteString("agents:\n")
	for i := range agents {
		fmt.Fprintf(&extra, "  - {id: \"%d\", skills: {general: 5}, contact: webrtc}\n", 1000+i)
	}
	s := &bridge.Setup{UAS: uas, Dir: dir, UL: filepath.Join(root, "bench/testdata/caller_pcmu.ul"), RecDir: filepath.Join(dir, "rec")}
	cfg, err := kit.WriteConfig(kit.Options{Dir: dir, RecordDir: s.RecDir, Extra: extra.String()})
	if err != nil {
		uas.Stop()
		return nil, err
	}
	if s.H, err = harness.StartHotline(ctx, bin, cfg, dir); err != nil {
		uas.Stop()
		return nil, err
	}
	return s, nil
}

// idleUS is the server's CPU per idle connected softphone, µs per second: the idle
// window's over the server's with no softphone, ÷ the softphones.
func idleUS(st step) float64 {
	if st.connected == 0 {
		return 0
	}
	return max(0, st.idle.serverPct-st.base.serverPct) / 100 * 1e6 / float64(st.connected)
}

func voidReason(st step) string {
	var why []string
	if st.res.CallerSIPpPct > 70 {
		why = append(why, fmt.Sprintf("SIPp callers %.0f %%", st.res.CallerSIPpPct))
	}
	if st.res.UASPct > 70 {
		why = append(why, fmt.Sprintf("SIPp UAS %.0f %%", st.res.UASPct))
	}
	if st.benchPct > 70 {
		why = append(why, fmt.Sprintf("WebRTC agents %.0f %%", st.benchPct))
	}
	return strings.Join(why, ", ")
}

func losses(res bridge.Result) (probe, server float64) {
	if res.ViaHotline.Sent > 0 {
		probe = 100 * float64(res.ViaHotline.Sent-res.ViaHotline.Back) / float64(res.ViaHotline.Sent)
	}
	if res.Received > 0 {
		server = 100 * (res.ServerLost + res.ServerDropped) / (res.Received + res.ServerLost)
	}
	return
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }
