// Command b6 simulates the contact centre over SIP (B6 in BENCHMARKS.md) and compares it
// with queueing theory. Callers (a sipgo user agent in this program) arrive as a Poisson
// process and are queued at once (a straight-to-queue intake); each has an exponential
// patience and hangs up (BYE) if no agent has answered by then. Agents are configured
// seats with static contacts on one SIPp UAS that answers at once, echoes RTP and hangs
// up after an exponential pause (pause distribution="exponential"): the handle time.
// hotline runs on core 0 with GOMAXPROCS=1, SIPp on core 1.
//
// Measured (from each call's events in GET /api/calls): service level (answered within
// 15 s and 20 s of queueing, over all callers), ASA (mean wait of answered callers),
// abandonment, P(wait); with batch-means standard errors. Compared with Erlang A
// (acd/acdsim, M/M/n+M) and with acdsim's discrete-event simulation of the same inputs on
// the real dispatcher. Routing latency p50/p99 from hotline_acd_routing_seconds. An SVG
// plot of waiting callers and agents by state (GET /api/queues every 500 ms).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/acd/acdsim"
	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
)

func main() {
	rate := flag.Float64("rate", 3, "arrivals per second (Poisson)")
	aht := flag.Duration("aht", 20*time.Second, "mean handle time (exponential)")
	patience := flag.Duration("patience", 30*time.Second, "mean patience (exponential); 0: callers never hang up")
	agents := flag.Int("agents", 62, "agents (seats on the SIPp UAS)")
	warmup := flag.Duration("warmup", 60*time.Second, "arrivals before this are not counted")
	duration := flag.Duration("duration", 240*time.Second, "counted arrivals after the warm-up")
	seed := flag.Uint64("seed", 12345, "random seed (arrivals, patience)")
	svg := flag.String("svg", "bench/b6/queue.svg", "write the plot here ('' = none)")
	results := flag.String("results", "bench/RESULTS-b3-b6.md", "append the report here ('' = none)")
	flag.Parse()
	if err := run(*rate, *aht, *patience, *agents, *warmup, *duration, *seed, *svg, *results); err != nil {
		fmt.Fprintln(os.Stderr, "b6:", err)
		os.Exit(1)
	}
}

// uasExponential is testkit's uas_echo rendered with a placeholder hang-up pause that is
// replaced by an exponential one.
func uasExponential(dir string, aht time.Duration) (string, error) {
	const marker = 12345
	path, err := testkit.RenderScenario(testkit.SIPpOpts{Scenario: testkit.ScenarioUASEcho, Hangup: marker * time.Millisecond}, dir)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	old := fmt.Sprintf(`<pause milliseconds="%d"/>`, marker)
	if !strings.Contains(string(b), old) {
		return "", fmt.Errorf("b6: uas_echo has no hang-up pause to replace")
	}
	s := strings.Replace(string(b), old, fmt.Sprintf(`<pause distribution="exponential" mean="%d"/>`, aht.Milliseconds()), 1)
	out := filepath.Join(dir, "uas_exponential.xml")
	return out, os.WriteFile(out, []byte(s), 0o644)
}

type callInfo struct {
	ID        string    `json:"id"`
	SIPCallID string    `json:"sip_call_id"`
	State     string    `json:"state"`
	Received  time.Time `json:"received_at"`
	Agent     string    `json:"agent"`
	Events    []struct {
		At     time.Time `json:"at"`
		Kind   string    `json:"kind"`
		Detail string    `json:"detail"`
	} `json:"events"`
}

func (c callInfo) times() (queued, connected time.Time) {
	for _, e := range c.Events {
		switch e.Kind {
		case "queue":
			if queued.IsZero() {
				queued = e.At
			}
		case "connect":
			if connected.IsZero() {
				connected = e.At
			}
		}
	}
	return
}

type sample struct {
	At      time.Duration
	Waiting int
	Agents  map[acd.AgentState]int
}

func run(rate float64, aht, patience time.Duration, agents int, warmup, duration time.Duration, seed uint64, svgPath, results string) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hotline-b6-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
	scen, err := uasExponential(dir, aht)
	if err != nil {
		return err
	}
	uas, err := harness.StartSIPp(ctx, dir, "agents", testkit.SIPpOpts{Scenario: scen, RTPEcho: true, Calls: 1000000,
		RecvTimeout: 30 * time.Minute, Timeout: 3 * time.Hour})
	if err != nil {
		return err
	}
	defer uas.Stop()
	cfg, err := kit.WriteConfig(kit.Options{Dir: dir, Agents: agents, AgentAddr: uas.Addr(), WrapUp: 0, RTPTimeout: time.Hour})
	if err != nil {
		return err
	}
	bin, err := harness.BuildHotline(ctx, root, dir)
	if err != nil {
		return err
	}
	h, err := harness.StartHotline(ctx, bin, cfg, dir)
	if err != nil {
		return err
	}
	defer h.Stop()
	loadStart := kit.LoadAvg()

	// The callers' user agent and a sink for the RTP hotline sends them.
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer sink.Close()
	_ = sink.SetReadBuffer(4 << 20)
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, err := sink.Read(buf); err != nil {
				return
			}
		}
	}()
	sipPort, err := harness.FreePort()
	if err != nil {
		return err
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		return err
	}
	defer ua.Close()
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		return err
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(sipPort))
	if err != nil {
		return err
	}
	dc := sipgo.NewDialogClientCache(cli, sip.ContactHeader{Address: sip.Uri{User: "citizen", Host: "127.0.0.1", Port: sipPort}})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) { _ = dc.ReadBye(req, tx) })
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	})
	go func() { _ = srv.ListenAndServe(ctx, "udp", fmt.Sprintf("127.0.0.1:%d", sipPort)) }()
	time.Sleep(300 * time.Millisecond)
	hostAP, err := net.ResolveUDPAddr("udp4", h.SIPAddr)
	if err != nil {
		return err
	}
	target := sip.Uri{User: "12345", Host: "127.0.0.1", Port: hostAP.Port}
	sdp := fmt.Sprintf("v=0\r\no=citizen 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\n"+
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n", sink.LocalAddr().(*net.UDPAddr).Port)

	// The calls as hotline reports them, polled; and the wallboard, sampled.
	var mu sync.Mutex
	calls := map[string]callInfo{} // by hotline id
	bySIP := map[string]string{}
	poll := func() error {
		var body struct{ Calls []callInfo }
		if err := kit.GetJSON(h.HTTPAddr, "/api/calls", &body); err != nil {
			return err
		}
		mu.Lock()
		for _, c := range body.Calls {
			calls[c.ID] = c
			bySIP[c.SIPCallID] = c.ID
		}
		mu.Unlock()
		return nil
	}
	var samples []sample
	t0 := time.Now()
	var serverGone atomic.Bool
	go func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		n := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			var snap acd.Snapshot
			if err := kit.GetJSON(h.HTTPAddr, "/api/queues", &snap); err != nil {
				serverGone.Store(true)
				continue
			}
			s := sample{At: time.Since(t0), Agents: map[acd.AgentState]int{}}
			for _, q := range snap.Queues {
				s.Waiting += q.Waiting + q.Ringing
			}
			for _, a := range snap.Agents {
				s.Agents[a.State]++
			}
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			if n++; n%4 == 0 {
				_ = poll()
			}
		}
	}()

	m0, err := kit.Scrape(h.HTTPAddr)
	if err != nil {
		return err
	}
	cpu0, _ := harness.ProcCPU(h.Pid())
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var wg sync.WaitGroup
	var placed, failedInvites, abandonedByUs, hungUpByServer atomic.Int64
	arrivalsEnd := warmup + duration
	next := time.Duration(0)
	fmt.Printf("b6: %v calls/s, AHT %v, patience %v, %d agents: %v of arrivals\n", rate, aht, patience, agents, arrivalsEnd)
	for next < arrivalsEnd {
		if d := time.Until(t0.Add(next)); d > 0 {
			time.Sleep(d)
		}
		p := time.Duration(0)
		if patience > 0 {
			p = time.Duration(rng.ExpFloat64() * float64(patience))
		}
		wg.Add(1)
		placed.Add(1)
		go func(p time.Duration) {
			defer wg.Done()
			cctx, ccancel := context.WithTimeout(ctx, 30*time.Minute)
			defer ccancel()
			sess, err := dc.Invite(cctx, target, []byte(sdp), sip.NewHeader("Content-Type", "application/sdp"))
			if err != nil {
				failedInvites.Add(1)
				return
			}
			defer sess.Close()
			if err := sess.WaitAnswer(cctx, sipgo.AnswerOptions{}); err != nil {
				failedInvites.Add(1)
				return
			}
			if err := sess.Ack(cctx); err != nil {
				failedInvites.Add(1)
				return
			}
			sipID := sess.InviteRequest.CallID().Value()
			var patienceC <-chan time.Time
			if p > 0 {
				patienceC = time.After(p)
			}
			select {
			case <-sess.Context().Done():
				hungUpByServer.Add(1)
				return
			case <-patienceC:
			}
			// Patience is over: hang up unless an agent has answered.
			if connected(h.HTTPAddr, &mu, bySIP, sipID, poll) {
				<-sess.Context().Done()
				hungUpByServer.Add(1)
				return
			}
			abandonedByUs.Add(1)
			bctx, bcancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = sess.Bye(bctx)
			bcancel()
		}(p)
		next += time.Duration(rng.ExpFloat64() / rate * float64(time.Second))
	}
	fmt.Printf("b6: arrivals done (%d placed); waiting for the calls to end\n", placed.Load())
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Minute):
		fmt.Println("b6: calls still up after 15 minutes; measuring what ended")
	}
	elapsed := time.Since(t0)
	cpu1, _ := harness.ProcCPU(h.Pid())
	time.Sleep(time.Second)
	_ = poll()
	m1, _ := kit.Scrape(h.HTTPAddr)
	cancel()
	mu.Lock()
	defer mu.Unlock()

	// Measured, over the callers who arrived in [warmup, warmup+duration).
	type obs struct {
		arrived   time.Duration
		wait      time.Duration
		answered  bool
		abandoned bool
	}
	var os_ []obs
	for _, c := range calls {
		if c.State != "ended" {
			continue
		}
		q, conn := c.times()
		if q.IsZero() {
			continue
		}
		at := q.Sub(t0)
		if at < warmup || at >= warmup+duration {
			continue
		}
		o := obs{arrived: at}
		if !conn.IsZero() {
			o.answered, o.wait = true, conn.Sub(q)
		} else {
			o.abandoned = true
		}
		os_ = append(os_, o)
	}
	if os.Getenv("B6_DEBUG") != "" {
		k := 0
		for _, c := range calls {
			if k++; k > 4 {
				break
			}
			for _, e := range c.Events {
				fmt.Printf("%s %s %s %s\n", c.ID, e.At.Format("15:04:05.000"), e.Kind, e.Detail)
			}
		}
	}
	sort.Slice(os_, func(i, j int) bool { return os_[i].arrived < os_[j].arrived })
	const batches = 10
	type figs struct{ sl15, sl20, asa, ab, pw float64 }
	compute := func(v []obs) figs {
		var f figs
		var n, ans, w15, w20, ab, waited float64
		var sumWait float64
		for _, o := range v {
			n++
			if o.answered {
				ans++
				sumWait += o.wait.Seconds()
				if o.wait <= 15*time.Second {
					w15++
				}
				if o.wait <= 20*time.Second {
					w20++
				}
				if o.wait > 500*time.Millisecond {
					waited++
				}
			} else {
				ab++
				waited++
			}
		}
		if n == 0 {
			return f
		}
		f.sl15, f.sl20, f.ab, f.pw = w15/n, w20/n, ab/n, waited/n
		if ans > 0 {
			f.asa = sumWait / ans
		}
		return f
	}
	all := compute(os_)
	var per []figs
	for b := 0; b < batches; b++ {
		lo, hi := b*len(os_)/batches, (b+1)*len(os_)/batches
		per = append(per, compute(os_[lo:hi]))
	}
	se := func(get func(figs) float64) float64 {
		var m, s float64
		for _, p := range per {
			m += get(p)
		}
		m /= float64(len(per))
		for _, p := range per {
			s += (get(p) - m) * (get(p) - m)
		}
		return math.Sqrt(s / float64(len(per)-1) / float64(len(per)))
	}
	seSL15 := se(func(f figs) float64 { return f.sl15 })
	seSL20 := se(func(f figs) float64 { return f.sl20 })
	seASA := se(func(f figs) float64 { return f.asa })
	seAb := se(func(f figs) float64 { return f.ab })

	// The models, same inputs.
	model, err := acdsim.NewErlangA(agents, rate, aht, patience)
	if err != nil {
		return err
	}
	sim, err := acdsim.Run(acdsim.Config{Seed: seed, ArrivalRate: rate, AHT: aht, Patience: patience, Agents: agents,
		Warmup: warmup, Duration: duration * 5})
	if err != nil {
		return err
	}
	route := m1.Hist("hotline_acd_routing_seconds").Minus(m0.Hist("hotline_acd_routing_seconds"))

	r := &harness.Report{
		Title: "B6: the contact centre",
		Method: fmt.Sprintf("hotline on core 0 (GOMAXPROCS=1), a straight-to-queue intake, one queue, wrap-up 0, %d agents (static contacts) "+
			"all on one SIPp UAS (core 1) that answers at once, echoes RTP and hangs up after pause distribution=\"exponential\" mean %v. "+
			"Callers: a sipgo UA in the benchmark, Poisson arrivals at %v/s for %v (the first %v not counted), exponential patience mean %v "+
			"(BYE at patience unless GET /api/calls/{id} shows the call connected). Waits from each call's queue and connect events "+
			"(GET /api/calls). Standard errors by %d batch means over arrival order. Erlang A (M/M/n+M) from acd/acdsim; acdsim.Run "+
			"simulates the same inputs on the real dispatcher with a fake clock (%v counted). Load average at start %s.",
			agents, aht, rate, warmup+duration, warmup, patienceDesc(patience), batches, duration*5, loadStart),
	}
	load := fmt.Sprintf("λ %v/s, AHT %v, %d agents, patience %s", rate, aht, agents, patienceDesc(patience))
	pct := func(v, s float64) string { return fmt.Sprintf("%.1f %% ± %.1f", 100*v, 100*s) }
	r.Add("B6", load, "callers counted", fmt.Sprintf("%d (placed %d in all; INVITE failures %d; server gone: %v)", len(os_), placed.Load(), failedInvites.Load(), serverGone.Load()), "")
	r.Add("B6", load, "service level 15 s: measured / simulated / Erlang A", fmt.Sprintf("%s / %s / %.1f %%", pct(all.sl15, seSL15),
		pct(sim.ServiceLevel[15*time.Second], sim.ServiceLevelStdErr[15*time.Second]), 100*model.ServiceLevel(15*time.Second)), "agree within sampling error")
	r.Add("B6", load, "service level 20 s: measured / simulated / Erlang A", fmt.Sprintf("%s / %s / %.1f %%", pct(all.sl20, seSL20),
		pct(sim.ServiceLevel[20*time.Second], sim.ServiceLevelStdErr[20*time.Second]), 100*model.ServiceLevel(20*time.Second)), "agree")
	r.Add("B6", load, "ASA: measured / simulated / Erlang A", fmt.Sprintf("%.2f s ± %.2f / %.2f s ± %.2f / %.2f s", all.asa, seASA,
		sim.ASA.Seconds(), sim.ASAStdErr.Seconds(), model.ASA().Seconds()), "agree")
	r.Add("B6", load, "abandonment: measured / simulated / Erlang A", fmt.Sprintf("%s / %s / %.1f %%", pct(all.ab, seAb),
		pct(sim.AbandonRate, sim.AbandonStdErr), 100*model.PAbandon()), "agree")
	r.Add("B6", load, "P(wait): measured (> 0.5 s) / simulated / Erlang A", fmt.Sprintf("%.1f %% / %.1f %% / %.1f %%", 100*all.pw, 100*sim.PWait, 100*model.PWait()), "")
	r.Add("B6", load, "routing latency p50 / p99 (hotline_acd_routing_seconds)", fmt.Sprintf("%.1f µs / %.1f µs (%.0f decisions)",
		1e6*route.Quantile(.5), 1e6*route.Quantile(.99), route.Count), "p99 ≤ 5 ms")
	abRate := 0.0
	if e := m1.Sum("hotline_acd_calls_entered_total") - m0.Sum("hotline_acd_calls_entered_total"); e > 0 {
		abRate = (m1.Sum("hotline_acd_calls_abandoned_total") - m0.Sum("hotline_acd_calls_abandoned_total")) / e
	}
	fmt.Fprintf(&r.Detail, "hotline's own counters over the whole run: entered %.0f, answered %.0f, abandoned %.0f (%.1f %%), answered within 15 s %.0f, 20 s %.0f\n",
		m1.Sum("hotline_acd_calls_entered_total")-m0.Sum("hotline_acd_calls_entered_total"),
		m1.Sum("hotline_acd_calls_answered_total")-m0.Sum("hotline_acd_calls_answered_total"),
		m1.Sum("hotline_acd_calls_abandoned_total")-m0.Sum("hotline_acd_calls_abandoned_total"), 100*abRate,
		m1.Sum("hotline_acd_calls_answered_within_total", `threshold="15s"`)-m0.Sum("hotline_acd_calls_answered_within_total", `threshold="15s"`),
		m1.Sum("hotline_acd_calls_answered_within_total", `threshold="20s"`)-m0.Sum("hotline_acd_calls_answered_within_total", `threshold="20s"`))
	fmt.Fprintf(&r.Detail, "callers: placed %d, hung up at patience %d, hung up by hotline %d, INVITE failures %d; server CPU %v over %v (%.1f %% of a core); load average %s\n",
		placed.Load(), abandonedByUs.Load(), hungUpByServer.Load(), failedInvites.Load(), cpu1-cpu0, elapsed.Round(time.Second),
		100*(cpu1-cpu0).Seconds()/elapsed.Seconds(), kit.LoadAvg())
	fmt.Fprintf(&r.Detail, "simulated (acdsim): offered %d answered %d abandoned %d\n", sim.Offered, sim.Answered, sim.Abandoned)
	if serverGone.Load() {
		fmt.Fprintf(&r.Detail, "the server stopped answering during the run; its log ends:\n%s\n", h.LogTail())
	}
	if svgPath != "" {
		if !filepath.IsAbs(svgPath) {
			svgPath = filepath.Join(root, svgPath)
		}
		if err := writeSVG(svgPath, samples, agents, load); err != nil {
			return err
		}
		fmt.Fprintf(&r.Detail, "plot: %s (%d samples)\n", filepath.Base(svgPath), len(samples))
	}
	return r.Finish(os.Stdout, results, "")
}

func patienceDesc(p time.Duration) string {
	if p <= 0 {
		return "none (callers never hang up)"
	}
	return p.String()
}

// connected asks hotline whether the caller's call has been answered by an agent.
func connected(httpAddr string, mu *sync.Mutex, bySIP map[string]string, sipID string, poll func() error) bool {
	mu.Lock()
	id, ok := bySIP[sipID]
	mu.Unlock()
	if !ok {
		_ = poll()
		mu.Lock()
		id, ok = bySIP[sipID]
		mu.Unlock()
		if !ok {
			return false
		}
	}
	var c callInfo
	if err := kit.GetJSON(httpAddr, "/api/calls/"+id, &c); err != nil {
		return false
	}
	_, conn := c.times()
	return !conn.IsZero()
}

// writeSVG plots waiting callers and agents by state over time.
func writeSVG(path string, samples []sample, agents int, title string) error {
	const W, H, L, R, T, B = 960, 420, 60, 170, 40, 40
	pw, ph := float64(W-L-R), float64(H-T-B)
	if len(samples) == 0 {
		return nil
	}
	tmax := samples[len(samples)-1].At.Seconds()
	ymax := float64(agents)
	for _, s := range samples {
		ymax = math.Max(ymax, float64(s.Waiting))
	}
	ymax = math.Ceil(ymax/10) * 10
	x := func(t float64) float64 { return L + pw*t/tmax }
	y := func(v float64) float64 { return T + ph*(1-v/ymax) }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", W, H)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%d" y="20" font-size="14">B6: %s</text>`+"\n", L, escape(title))
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n", L, L+pw, y(v), y(v), L-6, y(v)+4, v)
	}
	for i := 0; i <= 6; i++ {
		t := tmax * float64(i) / 6
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%.0f s</text>`+"\n", x(t), H-B+18, t)
	}
	series := []struct {
		name  string
		color string
		get   func(sample) int
	}{
		{"callers waiting", "#d62728", func(s sample) int { return s.Waiting }},
		{"agents on call", "#1f77b4", func(s sample) int { return s.Agents[acd.OnCall] }},
		{"agents ready", "#2ca02c", func(s sample) int { return s.Agents[acd.Ready] }},
		{"agents ringing", "#ff7f0e", func(s sample) int { return s.Agents[acd.Reserved] }},
		{"agents wrap-up", "#9467bd", func(s sample) int { return s.Agents[acd.WrapUp] }},
		{"agents on break", "#7f7f7f", func(s sample) int { return s.Agents[acd.Break] }},
	}
	for i, sr := range series {
		var pts []string
		for _, s := range samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(s.At.Seconds()), y(float64(sr.get(s)))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", sr.color, strings.Join(pts, " "))
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%d" y="%d">%s</text>`+"\n",
			W-R+10, W-R+30, T+10+18*i, T+10+18*i, sr.color, W-R+36, T+14+18*i, sr.name)
	}
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#333"/>`+"\n", L, T, pw, ph)
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

var _ = json.Marshal
