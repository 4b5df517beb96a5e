// Command b7 measures supervision (B7 in BENCHMARKS.md): B4's bridged calls (SIPp
// callers sending 20 ms PCMU → hotline pinned to core 0, GOMAXPROCS=1 → SIP agents that
// are all one SIPp UAS with -rtp_echo on core 1), then supervisors on some of them
// through the monitor API, each supervisor's phone a call to a second SIPp UAS with
// -rtp_echo (so a supervisor sends audio like a phone does). Phases over one set of
// calls: none monitored → listen on M calls → whisper → barge → left. Per phase: server
// CPU, and the CPU a monitored call adds over the unmonitored baseline (÷ M); the round
// trip of an unmonitored probe call (our UDP socket as its caller: tagged packets through
// hotline, the agent's echo and hotline again), and hotline's loss and drop counters,
// to show that unmonitored calls are unaffected.
package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/bench/b4/bridge"
	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
	"github.com/hotline-12345/hotline/internal/testkit"
)

func main() {
	calls := flag.Int("calls", 400, "concurrent bridged calls (B4's load)")
	monitored := flag.Int("monitored", 50, "calls a supervisor joins")
	rate := flag.Float64("rate", 53, "calls per second while ramping (off the 20 ms grid)")
	window := flag.Duration("window", 10*time.Second, "measurement window per phase")
	results := flag.String("results", "bench/RESULTS.md", "append the report to this markdown file ('' = none)")
	flag.Parse()
	if *monitored <= 0 || *monitored > *calls {
		fmt.Fprintln(os.Stderr, "b7: -monitored must be 1 to -calls")
		os.Exit(2)
	}
	if err := run(*calls, *monitored, *rate, *window, *results); err != nil {
		fmt.Fprintln(os.Stderr, "b7:", err)
		os.Exit(1)
	}
}

// phase is one measurement window.
type phase struct {
	name          string
	cpuPct        float64
	forwarded     float64
	lost, dropped float64
	socketDrops   int64
	probe         rtt
	sippPct       float64
}

func run(n, m int, rate float64, window time.Duration, results string) error {
	ctx := context.Background()
	root, err := harness.ModuleRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "hotline-b7-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	harness.RaiseUDPBuffers()
	loadStart := kit.LoadAvg()
	s, err := bridge.Start(ctx, root, dir, n+50, 0)
	if err != nil {
		return err
	}
	defer s.Stop()
	sups, err := harness.StartSIPp(ctx, dir, "supervisors", testkit.SIPpOpts{
		Scenario: testkit.ScenarioUASEcho, RTPEcho: true, Calls: 1000000, RecvTimeout: 10 * time.Minute, Timeout: 3 * time.Hour,
	})
	if err != nil {
		return err
	}
	defer sups.Stop()

	// Five phases, each settle + window, after the ramp: the calls talk through all of them.
	ramp := time.Duration(float64(n) / rate * float64(time.Second))
	settle := 3 * time.Second
	talk := ramp + 5*(settle+window+2*time.Second) + 30*time.Second
	load, err := harness.StartSIPp(ctx, dir, "callers", testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Number: "12345", Target: s.H.SIPAddr,
		Calls: n, Rate: rate, Concurrency: n, Pause: talk, AudioUL: s.UL, RecvTimeout: 60 * time.Second,
	})
	if err != nil {
		return err
	}
	defer load.Stop()
	// The unmonitored probe call: our socket is its caller's media.
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	defer pc.Close()
	_ = pc.SetReadBuffer(4 << 20)
	probePort := pc.LocalAddr().(*net.UDPAddr).Port
	probeCall, err := harness.StartSIPp(ctx, dir, "probe", testkit.SIPpOpts{
		Scenario: testkit.ScenarioCall, Number: "12345", Target: s.H.SIPAddr,
		Calls: 1, Rate: 1, Pause: talk, MediaPort: probePort, RecvTimeout: 60 * time.Second,
	})
	if err != nil {
		return err
	}
	defer probeCall.Stop()
	time.Sleep(ramp + settle)

	// The bridged calls: the probe's (by its media address) and the others.
	probeWant := fmt.Sprintf("127.0.0.1:%d", probePort)
	var probeDst netip.AddrPort
	var ids []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		ids, probeDst = bridgedCalls(s.H.HTTPAddr, probeWant)
		if (len(ids) >= m && probeDst.IsValid()) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(ids) < m || !probeDst.IsValid() {
		return fmt.Errorf("only %d bridged calls (probe found: %v) after the ramp", len(ids), probeDst.IsValid())
	}
	ids = ids[:m]

	r := &harness.Report{
		Title:     "B7: supervision (listen, whisper, barge)",
		LoadStart: loadStart,
		Method: fmt.Sprintf("B4's load: %d bridged calls (SIPp callers, rtp_stream 20 ms PCMU, ramped at %v calls/s; agents all on one SIPp UAS "+
			"with -rtp_echo; every call recorded), hotline on core 0 (GOMAXPROCS=1), SIPp on core 1. Supervisors join %d of the calls through "+
			"POST /api/calls/{id}/monitor (the admin token naming a supervisor and a contact): hotline rings each supervisor's phone, a second "+
			"SIPp UAS with -rtp_echo (so each supervisor sends audio back, as a phone does). Phases on the same calls, each after %v to settle, "+
			"measured over %v: none monitored, listen, whisper, barge, after leaving (DELETE). Server CPU from /proc/PID/stat; the cost of a "+
			"monitored call is (phase CPU − unmonitored CPU) ÷ %d. Unmonitored calls: a probe call whose caller media is our socket sends one "+
			"tagged PCMU packet per 20 ms, back through hotline, the agent's echo and hotline again (round trip p50/p99 per phase), and "+
			"hotline's lost/dropped packet counters and socket drops.", n, rate, m, settle, window, m),
	}
	var phases []phase
	measure := func(name string) {
		time.Sleep(settle)
		ph := phase{name: name}
		cpu0, _ := harness.ProcCPU(s.H.Pid())
		l0, _ := harness.ProcCPU(load.Pid())
		d0, _ := harness.ProcUDPDrops(s.H.Pid())
		m0, _ := kit.Scrape(s.H.HTTPAddr)
		t0 := time.Now()
		ph.probe = roundTrips(pc, probeDst, window)
		el := time.Since(t0)
		cpu1, _ := harness.ProcCPU(s.H.Pid())
		l1, _ := harness.ProcCPU(load.Pid())
		d1, _ := harness.ProcUDPDrops(s.H.Pid())
		m1, _ := kit.Scrape(s.H.HTTPAddr)
		ph.cpuPct = 100 * (cpu1 - cpu0).Seconds() / el.Seconds()
		ph.sippPct = 100 * (l1 - l0).Seconds() / el.Seconds()
		ph.socketDrops = d1 - d0
		ph.forwarded = m1.Sum("hotline_rtp_packets_sent_total") - m0.Sum("hotline_rtp_packets_sent_total")
		ph.lost = m1.Sum("hotline_rtp_packets_lost_total") - m0.Sum("hotline_rtp_packets_lost_total")
		ph.dropped = m1.Sum("hotline_rtp_packets_dropped_total") - m0.Sum("hotline_rtp_packets_dropped_total")
		phases = append(phases, ph)
		fmt.Printf("phase %s: server %.1f %% of a core, probe %s\n", name, ph.cpuPct, ph.probe)
	}
	supAddr := sups.Addr()
	setMode := func(mode string) error {
		failed := 0
		var first string
		for i, id := range ids {
			body := fmt.Sprintf(`{"mode":%q,"supervisor":"sup%d","contact":"sip:sup%d@%s"}`, mode, i, i, supAddr)
			if code, msg := api(s.H.HTTPAddr, "POST", "/api/calls/"+id+"/monitor", body); code != 200 {
				failed++
				if first == "" {
					first = fmt.Sprintf("%d %s", code, msg)
				}
			}
		}
		if failed > 0 {
			fmt.Fprintf(&r.Detail, "%s: %d of %d monitor requests failed (first: %s)\n", mode, failed, len(ids), first)
		}
		return nil
	}

	measure("none monitored")
	for _, mode := range []string{"listen", "whisper", "barge"} {
		t0 := time.Now()
		if err := setMode(mode); err != nil {
			return err
		}
		fmt.Fprintf(&r.Detail, "%s: %d requests took %v\n", mode, len(ids), time.Since(t0).Round(time.Millisecond))
		measure(mode)
	}
	left := 0
	for i, id := range ids {
		if code, _ := api(s.H.HTTPAddr, "DELETE", fmt.Sprintf("/api/calls/%s/monitor?supervisor=sup%d", id, i), ""); code == 200 {
			left++
		}
	}
	fmt.Fprintf(&r.Detail, "left: %d of %d sessions ended by DELETE\n", left, len(ids))
	measure("after leaving")

	base := phases[0]
	for _, ph := range phases {
		load := fmt.Sprintf("%d bridged, %s", n, ph.name)
		if ph.sippPct > 70 {
			load += fmt.Sprintf(" VOID (SIPp %.0f %%)", ph.sippPct)
		}
		r.Add("B7", load, "server CPU", fmt.Sprintf("%.1f %% of a core", ph.cpuPct), "")
		if ph.name != base.name && ph.name != "after leaving" {
			per := (ph.cpuPct - base.cpuPct) / float64(m)
			r.Add("B7", load, "CPU a monitored call adds", fmt.Sprintf("%.3f %% of a core (%.0f µs/s)", per, per*1e4), "")
		}
		r.Add("B7", load, "unmonitored probe round trip p50 / p99",
			fmt.Sprintf("%.2f ms / %.2f ms (%d/%d back)", ms(ph.probe.p50), ms(ph.probe.p99), ph.probe.back, ph.probe.sent), "as with none monitored")
		r.Add("B7", load, "lost / dropped at hotline, socket drops", fmt.Sprintf("%.0f / %.0f, %d", ph.lost, ph.dropped, ph.socketDrops), "0")
		fmt.Fprintf(&r.Detail, "%s: server %.1f %%, forwarded %.0f pkts, SIPp callers %.0f %%, probe %s\n", ph.name, ph.cpuPct, ph.forwarded, ph.sippPct, ph.probe)
	}
	fmt.Fprintf(&r.Detail, "load average at the end: %s\n", kit.LoadAvg())
	return r.Finish(os.Stdout, results, "")
}

// bridgedCalls lists the live calls with an agent (ids of all but the probe's) and the
// probe call's RTP address at hotline.
func bridgedCalls(httpAddr, probeRemote string) (ids []string, probe netip.AddrPort) {
	var body struct {
		Calls []struct {
			ID     string `json:"id"`
			State  string `json:"state"`
			Agent  string `json:"agent"`
			Events []struct {
				Kind string `json:"kind"`
			} `json:"events"`
			RTP *struct{ Local, Remote string }
		}
	}
	if kit.GetJSON(httpAddr, "/api/calls?state=answered", &body) != nil {
		return nil, probe
	}
	for _, c := range body.Calls {
		connected := false
		for _, e := range c.Events {
			connected = connected || e.Kind == "connect"
		}
		if !connected || c.RTP == nil {
			continue
		}
		if c.RTP.Remote == probeRemote {
			probe, _ = netip.ParseAddrPort(c.RTP.Local)
			continue
		}
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids, probe
}

// api sends one admin request and returns the status and the body's start.
func api(httpAddr, method, path, body string) (int, string) {
	req, _ := http.NewRequest(method, "http://"+httpAddr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+kit.Token)
	req.Header.Set("Content-Type", "application/json")
	c := http.Client{Timeout: 40 * time.Second}
	res, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, 300))
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return res.StatusCode, e.Error
	}
	return res.StatusCode, string(b)
}

type rtt struct {
	sent, back int
	p50, p99   time.Duration
}

func (r rtt) String() string {
	return fmt.Sprintf("%d/%d back, p50 %.2f ms, p99 %.2f ms", r.back, r.sent, ms(r.p50), ms(r.p99))
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// roundTrips sends a tagged 20 ms PCMU packet every 20 ms for d to dst and times each
// that comes back (B4's method: the tag is μ-law bytes that survive decode and encode).
func roundTrips(conn *net.UDPConn, dst netip.AddrPort, d time.Duration) rtt {
	n := int(d / (20 * time.Millisecond))
	sent := make([]time.Time, n)
	seen := make([]bool, n)
	var mu sync.Mutex
	var rtts []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(d + 2*time.Second))
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			if k < 12+8 || buf[12] != 0x27 || buf[13] != 0x30 {
				continue
			}
			var i int
			ok := true
			for _, c := range buf[14:20] {
				if c&0xf0 != 0x40 {
					ok = false
					break
				}
				i = i<<4 | int(c&0x0f)
			}
			mu.Lock()
			if ok && i < n && !sent[i].IsZero() && !seen[i] {
				seen[i] = true
				rtts = append(rtts, now.Sub(sent[i]))
			}
			mu.Unlock()
		}
	}()
	pkt := make([]byte, 12+160)
	ssrc := uint32(time.Now().UnixNano())
	to := net.UDPAddrFromAddrPort(dst)
	start := time.Now()
	for i := 0; i < n; i++ {
		if w := time.Until(start.Add(time.Duration(i) * 20 * time.Millisecond)); w > 0 {
			time.Sleep(w)
		}
		pkt[0], pkt[1] = 0x80, 0
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		binary.BigEndian.PutUint32(pkt[4:], uint32(i*160))
		binary.BigEndian.PutUint32(pkt[8:], ssrc)
		p := pkt[12:]
		for j := range p {
			p[j] = 0x55
		}
		p[0], p[1] = 0x27, 0x30
		v := i
		for j := 7; j >= 2; j-- {
			p[j] = 0x40 | byte(v&0xf)
			v >>= 4
		}
		mu.Lock()
		sent[i] = time.Now()
		mu.Unlock()
		_, _ = conn.WriteToUDP(pkt, to)
	}
	time.Sleep(time.Second)
	_ = conn.SetReadDeadline(time.Now())
	<-done
	mu.Lock()
	defer mu.Unlock()
	r := rtt{sent: n, back: len(rtts)}
	if len(rtts) > 0 {
		r.p50 = harness.Percentile(rtts, 50)
		r.p99 = harness.Percentile(rtts, 99)
	}
	return r
}
