package testkit

import (
	"bufio"
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"text/template"
	"time"
)

//go:embed scenarios
var scenarioFS embed.FS

// Embedded SIPp scenarios (internal/testkit/scenarios), rendered from SIPpOpts.
const (
	// ScenarioCall: INVITE with an offer, 200, ACK, Pause (caller audio from
	// AudioPcap looped if set), BYE.
	ScenarioCall = "uac_call"
	// ScenarioLateOffer: INVITE without SDP, offer in the 200 (checked), answer in the ACK.
	ScenarioLateOffer = "uac_late_offer"
	// ScenarioError: expects final response ExpectCode carrying CheckHeaders.
	ScenarioError = "uac_error"
	// ScenarioCancel: CANCEL Pause after the 100/180; expects 200 and 487.
	ScenarioCancel = "uac_cancel"
	// ScenarioHold: re-INVITE a=sendonly (200 must say recvonly/inactive), then resume;
	// Hold "inactive" or "zero" (c=0.0.0.0) for the other styles of hold.
	ScenarioHold = "uac_hold"
	// ScenarioWaitBye: answered call that waits (up to Wait) for the server's BYE.
	ScenarioWaitBye = "uac_wait_bye"
	// ScenarioDTMFPcap: Digits replayed from SIPp's stock RFC 2833 pcaps (PT 101).
	ScenarioDTMFPcap = "uac_dtmf_pcap"
	// ScenarioDTMFPlay: Digits by play_dtmf (PT 96).
	ScenarioDTMFPlay = "uac_dtmf_play"
	// ScenarioDTMFInfo: Digits as SIP INFO (application/dtmf-relay), one per key.
	ScenarioDTMFInfo = "uac_dtmf_info"
	// ScenarioOptions: an out-of-dialog OPTIONS (a load balancer's ping); expects 200.
	ScenarioOptions = "uac_options"
	// ScenarioUASEcho: a callee answering after Ring (use RTPEcho for a null agent);
	// hangs up after Hangup if set, else waits for BYE.
	ScenarioUASEcho = "uas_echo"
	// ScenarioUASReject: a callee refusing with RejectCode (and Retry-After).
	ScenarioUASReject = "uas_reject"
)

// DTMFPcapDir holds SIPp's stock dtmf_2833_<key>.pcap files (Debian sip-tester).
const DTMFPcapDir = "/usr/share/sip-tester"

// SIPpOpts describes one SIPp run. Zero values give a single call to 12345.
type SIPpOpts struct {
	Scenario string // one of the Scenario* names, or a path to an XML file of your own
	Target   string // host:port to call (UAC scenarios); empty for a UAS
	Number   string // dialled number (-s); default "12345"

	Calls       int           // calls to make, or for a UAS to take before exiting (-m); default 1
	Rate        float64       // new calls per second (-r); default 10
	Concurrency int           // simultaneous calls cap (-l); 0: SIPp's default
	Pause       time.Duration // how long an answered call talks; also the CANCEL delay and the time on hold
	Wait        time.Duration // ScenarioWaitBye: how long to wait for the BYE; default 30 s

	// MediaPort is the port the SDP advertises, e.g. an RTPProbe's, so the server's
	// audio goes there. 0 advertises SIPp's own media port (its -mp).
	MediaPort int

	ExpectCode   int      // ScenarioError: the final response expected
	CheckHeaders []string // ScenarioError: headers it must carry, e.g. "Retry-After"
	SDP          string   // replaces the offer body (SDP lines; SIPp keywords allowed)

	DTMFPayloadType int    // telephone-event PT in the offer; default 101, 96 for ScenarioDTMFPlay
	Digits          string // ScenarioDTMFPcap / Play / Info: keys to send, e.g. "123#"
	Hold            string // ScenarioHold: "sendonly" (default), "inactive" or "zero" (c=0.0.0.0)

	// AuthUser and AuthPassword answer a 401/407 digest challenge to the INVITE
	// (ScenarioCall; -au/-ap). The challenge is then required.
	AuthUser, AuthPassword string

	// AudioPcap is the caller's audio (an RTP pcap, e.g. WritePCMUPcap's), looped
	// with play_pcap_audio for Pause; AudioPcapLength is its duration.
	AudioPcap       string
	AudioPcapLength time.Duration
	// AudioUL is the caller's audio as a headerless μ-law file (WriteUL), looped for
	// the whole call by SIPp's rtp_stream: far cheaper than AudioPcap (no thread per
	// call, no raw socket; 1,000 pcap players take more than SIPp's core), but SIPp
	// paces it unevenly (gap p99 ≈ 36 ms). For load; AudioPcap for exact pacing.
	AudioUL string

	Ring       time.Duration // ScenarioUASEcho: time between 180 and 200
	Hangup     time.Duration // ScenarioUASEcho: hang up this long after the ACK (0: wait for BYE)
	RTPEcho    bool          // -rtp_echo: echo received RTP (a null agent)
	RejectCode int           // ScenarioUASReject; default 486
	RetryAfter string        // ScenarioUASReject: Retry-After value, if any

	Transport   string            // -t: "u1" (default), "un", "t1"
	Vars        map[string]string // -set name value
	Keys        map[string]string // -key name value
	Timeout     time.Duration     // whole run (-timeout); default 60 s + calls / rate
	RecvTimeout time.Duration     // per expected message (-recv_timeout); default 10 s
	TraceRTT    bool              // record INVITE→200 times (SIPpResult.SetupTimes)
	Wrapper     []string          // command prefix, e.g. {"taskset", "-c", "1"}
	ExtraArgs   []string
	Dir         string // working directory for the scenario and logs; default a temp dir
}

// SIPpResult is what a run did. Counts come from SIPp's statistics file.
type SIPpResult struct {
	ExitCode        int // 0 all calls succeeded, 1 some failed, 254 bind error, 255 fatal, -1 killed
	Created         int
	Successful      int
	Failed          int
	Retransmissions int
	CurrentCalls    int // calls in progress at the last statistics dump (see SIPp.Snapshot)
	// FailedBy counts failures by SIPp's reason column (e.g. "FailedCallRejected",
	// "FailedUnexpectedMessage", "FailedRegexpDoesntMatch", "FailedMaxUDPRetrans").
	FailedBy   map[string]int
	SetupTimes []time.Duration // INVITE → 200 per call, with TraceRTT
	Port       int             // SIPp's SIP port (-p)
	MediaPort  int             // SIPp's own media port (-mp)
	Dir        string
	Output     string // SIPp's stdout and stderr
	ErrorLog   string // the start of SIPp's error log, if any
	Elapsed    time.Duration
}

// String summarises the result for a log line.
func (r SIPpResult) String() string {
	s := fmt.Sprintf("exit %d: %d created, %d successful, %d failed", r.ExitCode, r.Created, r.Successful, r.Failed)
	if len(r.FailedBy) > 0 {
		s += fmt.Sprintf(" %v", r.FailedBy)
	}
	if r.Retransmissions > 0 {
		s += fmt.Sprintf(", %d retransmissions", r.Retransmissions)
	}
	return s + fmt.Sprintf(" in %v", r.Elapsed.Round(time.Millisecond))
}

// SIPp is a running SIPp process (see StartSIPp).
type SIPp struct {
	Port      int // SIP port on 127.0.0.1
	MediaPort int // SIPp's own media port (-mp), where -rtp_echo listens
	opts      SIPpOpts
	cmd       *exec.Cmd
	out       *lockedBuffer
	start     time.Time
	done      chan struct{}
	waitErr   error
	once      sync.Once
	res       SIPpResult
	resErr    error
}

// Addr is SIPp's SIP address, for the server to call (UAS scenarios).
func (s *SIPp) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.Port) }

// RunSIPp runs SIPp to completion and returns its result. The error is non-nil
// when SIPp exits non-zero (some call failed, bind error, fatal error), and names
// the failures; the result is filled in either case.
func RunSIPp(t testing.TB, o SIPpOpts) (SIPpResult, error) {
	t.Helper()
	NeedTool(t, "sipp")
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	for attempt := 0; ; attempt++ {
		s, err := StartSIPpProcess(context.Background(), o)
		if err != nil {
			return SIPpResult{}, err
		}
		res, err := s.Wait()
		// A port taken between FreePort and SIPp's bind: try once more with new ones.
		if res.ExitCode == 254 && attempt < 2 {
			continue
		}
		return res, err
	}
}

// StartSIPp starts SIPp in the background (a UAS, or load running alongside a test)
// and stops it when the test ends. Wait collects the result.
func StartSIPp(t testing.TB, o SIPpOpts) *SIPp {
	t.Helper()
	NeedTool(t, "sipp")
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	for try := 1; ; try++ {
		s, err := StartSIPpProcess(context.Background(), o)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop() })
		// A UAS is useful only once it listens: wait for its SIP port (or its exit).
		if strings.HasPrefix(filepath.Base(o.Scenario), "uas") {
			if err := s.waitListening(10 * time.Second); err != nil {
				res, _ := s.Wait()
				// The free port we picked can be taken before SIPp binds it (by another
				// test's process): pick again.
				if try < 3 && strings.Contains(res.Output, "Unable to bind") {
					continue
				}
				t.Fatalf("testkit: sipp did not start: %v\n%s", err, res.Output)
			}
		}
		return s
	}
}

// StartSIPpProcess starts SIPp without a testing.TB (for benchmark programs).
// o.Dir must be set; the caller must Wait or Stop.
func StartSIPpProcess(ctx context.Context, o SIPpOpts) (*SIPp, error) {
	if o.Dir == "" {
		return nil, errors.New("testkit: SIPpOpts.Dir is required")
	}
	sipPort, err := freePorts(1, 1)
	if err != nil {
		return nil, err
	}
	// SIPp uses -mp and -mp+2 (audio and video echo) and their RTCP neighbours.
	mediaPort, err := freePorts(4, 2)
	if err != nil {
		return nil, err
	}
	ctlPort, err := freePorts(1, 1)
	if err != nil {
		return nil, err
	}
	scen, err := renderScenario(o, o.Dir)
	if err != nil {
		return nil, err
	}
	args := sippArgs(o, scen, sipPort, mediaPort, ctlPort)
	argv := append(append([]string{}, o.Wrapper...), "sipp")
	argv = append(argv, args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = o.Dir
	out := &lockedBuffer{}
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.Stdin = nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	s := &SIPp{Port: sipPort, MediaPort: mediaPort, opts: o, cmd: cmd, out: out, done: make(chan struct{})}
	s.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("testkit: start sipp: %w", err)
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	return s, nil
}

func sippArgs(o SIPpOpts, scen string, sipPort, mediaPort, ctlPort int) []string {
	calls := max(o.Calls, 1)
	rate := o.Rate
	if rate <= 0 {
		rate = 10
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 60*time.Second + time.Duration(float64(calls)/rate*float64(time.Second)) + o.Pause*3 + o.Wait
	}
	recvTimeout := o.RecvTimeout
	if recvTimeout <= 0 {
		recvTimeout = 10 * time.Second
	}
	number := o.Number
	if number == "" {
		number = "12345"
	}
	transport := o.Transport
	if transport == "" {
		transport = "u1"
	}
	args := []string{
		"-sf", scen,
		"-i", "127.0.0.1", "-mi", "127.0.0.1",
		"-p", strconv.Itoa(sipPort), "-mp", strconv.Itoa(mediaPort), "-cp", strconv.Itoa(ctlPort),
		"-t", transport,
		"-s", number,
		"-m", strconv.Itoa(calls),
		"-r", strconv.FormatFloat(rate, 'f', -1, 64),
		"-timeout", strconv.Itoa(int(timeout.Seconds()+0.999)) + "s", "-timeout_error",
		"-recv_timeout", strconv.Itoa(int(recvTimeout.Milliseconds())),
		"-nostdin", // never -bg: it daemonises and hides the exit code
		"-trace_stat", "-stf", "stat.csv", "-fd", "1",
		"-trace_err", "-error_file", "errors.log",
		"-trace_screen", "-screen_file", "screen.log",
		"-max_recv_loops", "10000",
	}
	if o.Concurrency > 0 {
		args = append(args, "-l", strconv.Itoa(o.Concurrency))
	}
	if o.TraceRTT {
		args = append(args, "-trace_rtt", "-rtt_freq", "1")
	}
	if o.RTPEcho {
		args = append(args, "-rtp_echo")
	}
	if o.AuthUser != "" {
		args = append(args, "-au", o.AuthUser, "-ap", o.AuthPassword)
	}
	if strings.HasPrefix(filepath.Base(scen), "uas") {
		// A callee answers OPTIONS, INFO, NOTIFY and UPDATE with 200 by itself.
		args = append(args, "-aa")
	}
	for k, v := range o.Vars {
		args = append(args, "-set", k, v)
	}
	for k, v := range o.Keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, o.ExtraArgs...)
	if o.Target != "" {
		args = append(args, o.Target)
	}
	return args
}

// Wait waits for SIPp to exit and parses its statistics. It may be called again.
func (s *SIPp) Wait() (SIPpResult, error) {
	<-s.done
	s.once.Do(func() { s.res, s.resErr = s.collect() })
	return s.res, s.resErr
}

// Stop asks SIPp to stop placing calls and finish the ones in progress
// (SIGUSR1), kills it after 10 s, and returns the result.
func (s *SIPp) Stop() (SIPpResult, error) {
	select {
	case <-s.done:
	default:
		_ = s.cmd.Process.Signal(syscall.SIGUSR1)
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
	return s.Wait()
}

// Snapshot reads the statistics SIPp dumped last (every second, -fd 1) while it
// runs: calls created, in progress, successful and failed so far.
func (s *SIPp) Snapshot() (SIPpResult, error) {
	r := SIPpResult{FailedBy: map[string]int{}, Port: s.Port, MediaPort: s.MediaPort, Dir: s.opts.Dir}
	err := parseSIPpStats(filepath.Join(s.opts.Dir, "stat.csv"), &r)
	return r, err
}

// Pid is SIPp's process id (CPU accounting in benchmarks).
func (s *SIPp) Pid() int { return s.cmd.Process.Pid }

func (s *SIPp) waitListening(d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return errors.New("sipp exited")
		default:
		}
		// A bind test: if we can bind the port, SIPp has not yet.
		var c io.Closer
		var err error
		if strings.HasPrefix(s.opts.Transport, "t") {
			c, err = net.Listen("tcp4", s.Addr())
		} else {
			c, err = net.ListenPacket("udp4", s.Addr())
		}
		if err != nil {
			return nil
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("timeout")
}

func (s *SIPp) collect() (SIPpResult, error) {
	r := SIPpResult{
		ExitCode:  -1,
		Port:      s.Port,
		MediaPort: s.MediaPort,
		Dir:       s.opts.Dir,
		Output:    s.out.String(),
		Elapsed:   time.Since(s.start),
		FailedBy:  map[string]int{},
	}
	if s.cmd.ProcessState != nil {
		r.ExitCode = s.cmd.ProcessState.ExitCode()
	}
	if b, err := os.ReadFile(filepath.Join(s.opts.Dir, "errors.log")); err == nil && len(b) > 0 {
		r.ErrorLog = string(b[:min(len(b), 4000)])
	}
	statErr := parseSIPpStats(filepath.Join(s.opts.Dir, "stat.csv"), &r)
	if s.opts.TraceRTT {
		r.SetupTimes = parseSIPpRTT(s.opts.Dir)
	}
	switch r.ExitCode {
	case 0:
		if statErr != nil {
			return r, statErr
		}
		return r, nil
	case 1:
		return r, fmt.Errorf("testkit: sipp %s: %d of %d calls failed %v\n%s", s.opts.Scenario, r.Failed, r.Created, r.FailedBy, head(r.ErrorLog, 1500))
	case 254:
		return r, fmt.Errorf("testkit: sipp %s: could not bind its ports\n%s", s.opts.Scenario, tail(r.Output, 2000))
	default:
		return r, fmt.Errorf("testkit: sipp %s: exit %d (fatal)\n%s\n%s", s.opts.Scenario, r.ExitCode, tail(r.Output, 2000), r.ErrorLog)
	}
}

// parseSIPpStats reads the last row of SIPp's -trace_stat CSV (cumulative counts).
func parseSIPpStats(path string, r *SIPpResult) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("testkit: sipp statistics: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return fmt.Errorf("testkit: sipp statistics %s: no rows", path)
	}
	head := strings.Split(lines[0], ";")
	row := strings.Split(lines[len(lines)-1], ";")
	for i, h := range head {
		if i >= len(row) {
			break
		}
		n, err := strconv.Atoi(strings.TrimSpace(row[i]))
		if err != nil {
			continue
		}
		switch h {
		case "TotalCallCreated":
			r.Created = n
		case "SuccessfulCall(C)":
			r.Successful = n
		case "FailedCall(C)":
			r.Failed = n
		case "Retransmissions(C)":
			r.Retransmissions = n
		case "CurrentCall":
			r.CurrentCalls = n
		default:
			if strings.HasPrefix(h, "Failed") && strings.HasSuffix(h, "(C)") && n > 0 {
				r.FailedBy[strings.TrimSuffix(h, "(C)")] = n
			}
		}
	}
	return nil
}

// parseSIPpRTT reads -trace_rtt files: "Date_ms;response_time_ms;rtd_no".
func parseSIPpRTT(dir string) []time.Duration {
	files, _ := filepath.Glob(filepath.Join(dir, "*_rtt.csv"))
	var out []time.Duration
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Split(sc.Text(), ";")
			if len(fields) < 3 {
				continue
			}
			ms, err := strconv.ParseFloat(strings.TrimSpace(fields[1]), 64)
			if err != nil {
				continue
			}
			out = append(out, time.Duration(ms*float64(time.Millisecond)))
		}
		fh.Close()
	}
	return out
}

// scenarioData is what the scenario templates see.
type scenarioData struct {
	PauseMs, WaitMs, RingMs, HangupMs int
	LateOffer                         bool
	NoRTD                             bool // no INVITE→200 timing (the scenario has no 200)
	Auth                              bool // the INVITE is challenged and sent again
	Authed                            bool // this INVITE carries credentials
	Hold                              string
	InfoKeys                          []string
	SDP                               string
	SDPPort                           string
	MediaIP                           string
	DTMF                              int
	ExpectCode                        int
	CheckHeaders                      []string
	AudioPcap                         string
	AudioUL                           string
	AudioLoops                        []int
	DigitPcaps                        []string
	Digits                            string
	RejectCode                        int
	RejectReason                      string
	RetryAfter                        string
}

type offerData struct {
	Version    int
	Conn, Port string
	DTMF       int
	Dir        string
}

type reinviteData struct {
	CSeq   int
	Offer  offerData
	Expect string
}

var reasonPhrases = map[int]string{
	403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	503: "Service Unavailable", 603: "Decline",
}

func renderScenario(o SIPpOpts, dir string) (string, error) {
	name := o.Scenario
	if name == "" {
		name = ScenarioCall
	}
	if strings.HasSuffix(name, ".xml") { // the caller's own file: use as is
		abs, err := filepath.Abs(name)
		if err != nil {
			return "", err
		}
		return abs, nil
	}
	d := scenarioData{
		PauseMs:      int(o.Pause.Milliseconds()),
		WaitMs:       int(o.Wait.Milliseconds()),
		RingMs:       int(o.Ring.Milliseconds()),
		HangupMs:     int(o.Hangup.Milliseconds()),
		SDPPort:      "[media_port]",
		MediaIP:      "[media_ip]",
		DTMF:         o.DTMFPayloadType,
		ExpectCode:   o.ExpectCode,
		CheckHeaders: o.CheckHeaders,
		AudioPcap:    o.AudioPcap,
		AudioUL:      o.AudioUL,
		Digits:       o.Digits,
		RejectCode:   o.RejectCode,
		RetryAfter:   o.RetryAfter,
		Auth:         o.AuthUser != "",
		Hold:         o.Hold,
	}
	switch d.Hold {
	case "", "sendonly", "inactive", "zero":
	default:
		return "", fmt.Errorf("testkit: Hold %q: want sendonly, inactive or zero", o.Hold)
	}
	if name == ScenarioDTMFInfo {
		for _, k := range []byte(o.Digits) {
			if _, ok := keyEvent(k); !ok {
				return "", fmt.Errorf("testkit: %q is not a DTMF key", k)
			}
			d.InfoKeys = append(d.InfoKeys, string(k))
		}
	}
	if d.WaitMs == 0 {
		d.WaitMs = 30000
	}
	if o.MediaPort > 0 {
		d.SDPPort = strconv.Itoa(o.MediaPort)
	}
	if d.DTMF == 0 {
		d.DTMF = 101
		if name == ScenarioDTMFPlay {
			d.DTMF = 96 // play_dtmf always sends PT 96
		}
	}
	if d.RejectCode == 0 {
		d.RejectCode = 486
	}
	d.RejectReason = reasonPhrases[d.RejectCode]
	if d.RejectReason == "" {
		d.RejectReason = "Rejected"
	}
	if name == ScenarioError && d.ExpectCode == 0 {
		return "", errors.New("testkit: ScenarioError needs ExpectCode")
	}
	if o.SDP != "" {
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(o.SDP), "\n") {
			b.WriteString("      " + strings.TrimSpace(l) + "\n")
		}
		d.SDP = b.String()
	}
	if o.AudioUL != "" {
		if _, err := os.Stat(o.AudioUL); err != nil {
			return "", fmt.Errorf("testkit: audio file: %w", err)
		}
		if o.AudioPcap != "" {
			return "", errors.New("testkit: AudioUL and AudioPcap are exclusive")
		}
	}
	if o.AudioPcap != "" {
		if o.AudioPcapLength <= 0 {
			return "", errors.New("testkit: AudioPcap needs AudioPcapLength")
		}
		if _, err := os.Stat(o.AudioPcap); err != nil {
			return "", fmt.Errorf("testkit: audio pcap: %w", err)
		}
		// Replay the pcap back to back for Pause; the last round is cut short.
		left := o.Pause
		for left > 0 {
			step := min(left, o.AudioPcapLength)
			d.AudioLoops = append(d.AudioLoops, int(step.Milliseconds()))
			left -= step
		}
	}
	for _, k := range []byte(o.Digits) {
		if name != ScenarioDTMFPcap {
			break
		}
		var f string
		switch {
		case k >= '0' && k <= '9':
			f = string(k)
		case k == '*':
			f = "star"
		case k == '#':
			f = "pound"
		default:
			return "", fmt.Errorf("testkit: no stock pcap for DTMF key %q", k)
		}
		d.DigitPcaps = append(d.DigitPcaps, filepath.Join(DTMFPcapDir, "dtmf_2833_"+f+".pcap"))
	}
	funcs := template.FuncMap{
		"offer": func(d scenarioData, dir string, version int) offerData {
			return offerData{Version: version, Conn: d.MediaIP, Port: d.SDPPort, DTMF: d.DTMF, Dir: dir}
		},
		"late":     func(d scenarioData) scenarioData { d.LateOffer = true; return d },
		"nortd":    func(d scenarioData) scenarioData { d.NoRTD = true; return d },
		"authed":   func(d scenarioData) scenarioData { d.Authed = true; return d },
		"holdzero": func(r reinviteData) reinviteData { r.Offer.Conn = "0.0.0.0"; return r },
		"add":      func(a, b int) int { return a + b },
		"reinvite": func(d scenarioData, cseq int, dir, expect string) reinviteData {
			return reinviteData{CSeq: cseq, Offer: offerData{Version: cseq, Conn: d.MediaIP, Port: d.SDPPort, DTMF: d.DTMF, Dir: dir}, Expect: expect}
		},
	}
	tmpl, err := template.New(name+".xml").Funcs(funcs).ParseFS(scenarioFS, "scenarios/common.tmpl", "scenarios/"+name+".xml")
	if err != nil {
		return "", fmt.Errorf("testkit: scenario %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := tmpl.ExecuteTemplate(&b, name+".xml", d); err != nil {
		return "", fmt.Errorf("testkit: scenario %s: %w", name, err)
	}
	path := filepath.Join(dir, name+".xml")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// RenderScenario writes the named embedded scenario, rendered from o, into dir and
// returns its path: for reading what SIPp will run, or running SIPp by hand.
func RenderScenario(o SIPpOpts, dir string) (string, error) { return renderScenario(o, dir) }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Keep the first 1 MiB: SIPp can print a screen a second for a long run.
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
