package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/agentdesk"
	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/sip"
)

const testToken = "test-token"

// Each app in this package's tests gets its own RTP port range.
var nextPorts atomic.Int32

// syncBuffer collects the server's log; it is printed when a test fails.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startTestApp runs hotline in-process on loopback ports picked by the kernel.
func startTestApp(t *testing.T, mutate func(*Config), hooks ...startHooks) *app {
	t.Helper()
	cfg := Defaults()
	cfg.SIP.Listen = "127.0.0.1:0"
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.HTTP.AdminToken = testToken
	cfg.LogLevel = "debug"
	base := 30000 + int(nextPorts.Add(1))*400
	cfg.Media.RTPPorts = fmt.Sprintf("%d-%d", base, base+399)
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate("test"); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := start(cfg, logs, hooks...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.Shutdown(context.Background(), 2*time.Second)
		if t.Failed() {
			t.Logf("server log:\n%s", tail(logs.String(), 80))
		}
	})
	return a
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

func apiCalls(t *testing.T, a *app) []agentdesk.CallInfo {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+a.HTTPAddr()+"/api/calls", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct{ Calls []agentdesk.CallInfo }
	if res.StatusCode != 200 {
		t.Fatalf("/api/calls: %s", res.Status)
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Calls
}

// waitEnded waits until n calls have ended and returns them.
func waitEnded(t *testing.T, a *app, n int) []agentdesk.CallInfo {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		var ended []agentdesk.CallInfo
		for _, c := range apiCalls(t, a) {
			if c.State == "ended" {
				ended = append(ended, c)
			}
		}
		if len(ended) >= n || time.Now().After(deadline) {
			if len(ended) < n {
				t.Fatalf("%d calls ended, want %d", len(ended), n)
			}
			return ended
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func sipp(t *testing.T, a *app, o testkit.SIPpOpts) testkit.SIPpResult {
	t.Helper()
	o.Target = a.SIPAddr().String()
	res, err := testkit.RunSIPp(t, o)
	if err != nil {
		t.Fatalf("sipp %s: %v\n%s\n%s", o.Scenario, err, res.Output, res.ErrorLog)
	}
	return res
}

func mustSucceed(t *testing.T, res testkit.SIPpResult, calls int) {
	t.Helper()
	if res.ExitCode != 0 || res.Successful != calls || res.Failed != 0 {
		t.Fatalf("sipp: exit %d, %d successful, %d failed (%v), want %d successful\n%s\n%s",
			res.ExitCode, res.Successful, res.Failed, res.FailedBy, calls, tail(res.Output, 30), res.ErrorLog)
	}
}

func promptPCM(t *testing.T, lang, name string) []int16 {
	t.Helper()
	sub, _ := fs.Sub(ivr.BuiltinPrompts, "prompts")
	set, err := media.LoadPromptSet(sub, "")
	if err != nil {
		t.Fatal(err)
	}
	p, _, ok := set.Lookup(lang, name)
	if !ok {
		t.Fatalf("no prompt %s/%s", lang, name)
	}
	return p.PCM()
}

// Each number answers with its own greeting: the audio received at the caller correlates
// with that number's Mandarin greeting, and better than with any other number's.
func TestGreetingPerNumber(t *testing.T) {
	a := startTestApp(t, nil)
	numbers := []string{"12345", "12369", "12358", "967111"}
	refs := map[string][]int16{}
	for _, n := range numbers {
		refs[n] = promptPCM(t, "zh", "greeting_"+n)[:2*media.SampleRate]
	}
	var wg sync.WaitGroup
	for _, n := range numbers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe := testkit.NewRTPProbe(t)
			res := sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Number: n, MediaPort: probe.Port(), Pause: 3 * time.Second})
			mustSucceed(t, res, 1)
			heard := testkit.Audio(probe.Packets())
			if len(heard) < 2*media.SampleRate {
				t.Errorf("%s: heard only %d samples", n, len(heard))
				return
			}
			best, bestScore := "", -1.0
			scores := map[string]float64{}
			for _, m := range numbers {
				s, _ := testkit.Correlate(heard, refs[m])
				scores[m] = s
				if s > bestScore {
					best, bestScore = m, s
				}
			}
			if best != n || scores[n] < 0.8 {
				t.Errorf("caller of %s heard the greeting of %s (scores %v)", n, best, scores)
			}
		}()
	}
	wg.Wait()
	for _, c := range waitEnded(t, a, 4) {
		if c.EndReason != "caller_bye" || c.RTP.PacketsOut < 100 {
			t.Errorf("call %s to %s: end %q, %d packets out", c.ID, c.Dialled, c.EndReason, c.RTP.PacketsOut)
		}
	}
}

// Digits sent by SIPp's stock RFC 2833 pcaps (identical SSRC/seq/ts every time, a repeated
// key) and by play_dtmf (PT 96, a new SSRC) are each decoded exactly once.
func TestDTMFFromSIPp(t *testing.T) {
	testkit.NeedRawSocket(t)
	a := startTestApp(t, nil)
	cases := []struct {
		scenario, keys string
	}{
		{testkit.ScenarioDTMFPcap, "1195#"},
		{testkit.ScenarioDTMFPlay, "2468*0"},
	}
	for _, tc := range cases {
		res := sipp(t, a, testkit.SIPpOpts{Scenario: tc.scenario, Digits: tc.keys})
		mustSucceed(t, res, 1)
	}
	got := map[string]bool{}
	for _, c := range waitEnded(t, a, 2) {
		got[keysPressed(t, c)] = true
		for _, d := range c.Digits {
			if d.Source != "rfc4733" {
				t.Errorf("digit %s came by %s", d.Key, d.Source)
			}
		}
	}
	for _, tc := range cases {
		if !got[tc.keys] {
			t.Errorf("%s sent %q; calls recorded %v", tc.scenario, tc.keys, got)
		}
	}
}

// keysPressed is every key of a call, in order: those the IVR flows took (ignored or
// acted on), then those pressed on hold.
func keysPressed(t *testing.T, c agentdesk.CallInfo) string {
	t.Helper()
	var keys string
	for _, p := range ivrPaths(t, c) {
		for _, e := range p.Events {
			keys += e.Digit
		}
	}
	for _, d := range c.Digits {
		keys += d.Key
	}
	return keys
}

func ivrPaths(t *testing.T, c agentdesk.CallInfo) []ivr.Path {
	t.Helper()
	b, _ := json.Marshal(c.Paths)
	var paths []ivr.Path
	if err := json.Unmarshal(b, &paths); err != nil {
		t.Fatal(err)
	}
	return paths
}

// Unknown source 403, unknown number 404, no common codec 488 with Warning, over
// capacity and over rate 503 with Retry-After; calls in progress are untouched.
func TestRejections(t *testing.T) {
	t.Run("403 unknown source", func(t *testing.T) {
		a := startTestApp(t, func(c *Config) { c.SIP.Trunks[0].Sources = []string{"10.9.9.0/24"} })
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, ExpectCode: 403}), 1)
	})
	a := startTestApp(t, func(c *Config) { c.SIP.MaxCalls = 1; c.SIP.MaxCPS = 0 })
	t.Run("404 unknown number", func(t *testing.T) {
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, Number: "110", ExpectCode: 404}), 1)
	})
	t.Run("488 no common codec", func(t *testing.T) {
		sdp := "v=0\no=user1 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio [media_port] RTP/AVP 18\na=rtpmap:18 G729/8000\n"
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, SDP: sdp, ExpectCode: 488, CheckHeaders: []string{"Warning"}}), 1)
	})
	t.Run("488 unparseable SDP", func(t *testing.T) {
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, SDP: "this is not SDP\n", ExpectCode: 488}), 1)
	})
	t.Run("503 at capacity", func(t *testing.T) {
		probe := testkit.NewRTPProbe(t)
		long := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(),
			MediaPort: probe.Port(), Pause: 3 * time.Second})
		deadline := time.Now().Add(5 * time.Second)
		for a.sip.ActiveCalls() < 1 && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, ExpectCode: 503, CheckHeaders: []string{"Retry-After"}}), 1)
		// The call in progress kept hearing its greeting, with no packet missing, while the
		// extra call was refused.
		res, err := long.Wait()
		if err != nil {
			t.Fatal(err)
		}
		mustSucceed(t, res, 1)
		if g := testkit.Gaps(probe.Packets()); g.Lost != 0 || g.Packets < 100 {
			t.Errorf("the admitted call's audio: %v", g)
		}
	})
	t.Run("503 over the call rate", func(t *testing.T) {
		b := startTestApp(t, func(c *Config) { c.SIP.MaxCPS = 0.2 })
		mustSucceed(t, sipp(t, b, testkit.SIPpOpts{Scenario: testkit.ScenarioCall}), 1)
		mustSucceed(t, sipp(t, b, testkit.SIPpOpts{Scenario: testkit.ScenarioError, ExpectCode: 503, CheckHeaders: []string{"Retry-After"}}), 1)
	})
}

// CANCEL while ringing gets 200 and 487; the call ends as cancelled.
func TestCancelBeforeAnswer(t *testing.T) {
	a := startTestApp(t, func(c *Config) { c.SIP.AnswerAfter = Duration(5 * time.Second) })
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCancel, Pause: 300 * time.Millisecond}), 1)
	c := waitEnded(t, a, 1)[0]
	if c.EndReason != "cancel" || c.Answered != nil {
		t.Errorf("end reason %q, answered %v", c.EndReason, c.Answered)
	}
}

func TestLateOfferAndHold(t *testing.T) {
	a := startTestApp(t, nil)
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioLateOffer, Pause: time.Second}), 1)
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioHold, Pause: time.Second}), 1)
	for _, c := range waitEnded(t, a, 2) {
		if c.EndReason != "caller_bye" || c.RTP.PacketsOut == 0 {
			t.Errorf("call %s: end %q, %d packets out", c.ID, c.EndReason, c.RTP.PacketsOut)
		}
	}
}

// hotline hangs up itself at the maximum call length and when RTP stops.
func TestServerHangsUp(t *testing.T) {
	t.Run("max call duration", func(t *testing.T) {
		a := startTestApp(t, func(c *Config) { c.SIP.MaxCallDuration = Duration(1500 * time.Millisecond) })
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Wait: 10 * time.Second}), 1)
		if c := waitEnded(t, a, 1)[0]; c.EndReason != "max_duration" {
			t.Errorf("end reason %q", c.EndReason)
		}
	})
	t.Run("no RTP", func(t *testing.T) {
		a := startTestApp(t, func(c *Config) { c.SIP.RTPTimeout = Duration(time.Second) })
		mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Wait: 10 * time.Second}), 1)
		if c := waitEnded(t, a, 1)[0]; c.EndReason != "rtp_timeout" {
			t.Errorf("end reason %q", c.EndReason)
		}
	})
}

// 100 calls up at once, all answered, all hearing audio, none failing.
func TestHundredConcurrentCalls(t *testing.T) {
	a := startTestApp(t, nil)
	res := sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Calls: 100, Rate: 53, Concurrency: 100,
		Pause: 4 * time.Second})
	mustSucceed(t, res, 100)
	ended := waitEnded(t, a, 100)
	for _, c := range ended {
		if c.EndReason != "caller_bye" || c.RTP.PacketsOut < 100 {
			t.Fatalf("call %s: end %q, %d packets out", c.ID, c.EndReason, c.RTP.PacketsOut)
		}
	}
}

// A drain refuses new calls with 503 while a call in progress finishes normally.
func TestDrain(t *testing.T) {
	a := startTestApp(t, nil)
	long := testkit.StartSIPp(t, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Target: a.SIPAddr().String(), Pause: 3 * time.Second})
	deadline := time.Now().Add(5 * time.Second)
	for a.sip.ActiveCalls() < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	drained := make(chan struct{})
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = a.sip.Drain(ctx)
		close(drained)
	}()
	time.Sleep(200 * time.Millisecond)
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, ExpectCode: 503, CheckHeaders: []string{"Retry-After"}}), 1)
	res, err := long.Wait()
	if err != nil {
		t.Fatal(err)
	}
	mustSucceed(t, res, 1)
	select {
	case <-drained:
	case <-time.After(10 * time.Second):
		t.Fatal("drain did not end after the last call")
	}
}

// TestMain lets a test run this test binary as hotline itself (HOTLINE_ARGS set), and
// as the recordings' disk helper that the servers the tests start run.
func TestMain(m *testing.M) {
	if dir, ok := os.LookupEnv(diskHelperEnv); ok {
		os.Exit(serveDiskHelper(dir))
	}
	if args, ok := os.LookupEnv("HOTLINE_ARGS"); ok {
		os.Exit(run(strings.Split(args, "\x1f"), os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// The real process: it serves, SIGTERM drains and exits 0, and the generated admin
// token file is private (0600).
func TestProcessSignals(t *testing.T) {
	dir := t.TempDir()
	base := 30000 + int(nextPorts.Add(1))*400
	cfgFile := dir + "/hotline.yaml"
	if err := os.WriteFile(cfgFile, fmt.Appendf(nil, "media:\n  rtp_ports: %d-%d\n", base, base+399), 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t))
	args := []string{"serve", "--config", cfgFile, "--sip", fmt.Sprintf("127.0.0.1:%d", testkit.FreePort(t)),
		"--http", httpAddr, "--data", dir + "/data"}
	var out syncBuffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "HOTLINE_ARGS="+strings.Join(args, "\x1f"), "HOTLINE_ADMIN_TOKEN=")
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("hotline did not come up:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := os.Stat(dir + "/data/admin.token")
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin token file: %v, mode %v", err, st.Mode())
	}
	res, err := http.Get("http://" + httpAddr + "/api/calls")
	if err != nil || res.StatusCode != 401 {
		t.Errorf("/api/calls without a token: %v %v", err, res.Status)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit after SIGTERM: %v\n%s", err, out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("no exit 15 s after SIGTERM:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Errorf("no orderly stop in the log:\n%s", out.String())
	}
}

// A panic in one call's handling ends that call only: it is hung up, and the next call works.
func TestPanicEndsOneCall(t *testing.T) {
	var calls atomic.Int32
	a := startTestApp(t, nil, startHooks{wrap: func(next sip.CallHandler) sip.CallHandler {
		return sip.CallHandlerFunc(func(ctx context.Context, c *sip.InboundCall) {
			switch calls.Add(1) {
			case 1:
				_ = c.Answer(ctx)
				panic("a bug in one call")
			case 2:
				panic("a bug before answering")
			}
			next.HandleCall(ctx, c)
		})
	}})
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioWaitBye, Wait: 10 * time.Second}), 1)
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioError, ExpectCode: 480}), 1)
	mustSucceed(t, sipp(t, a, testkit.SIPpOpts{Scenario: testkit.ScenarioCall, Pause: 500 * time.Millisecond}), 1)
}
