package main

// The WebRTC agents: a child of this program pinned to core 1 (as SIPp is) plays every
// agent's browser page with pion, as agentdesk/softphone_test.go's test phone does: it
// opens GET /softphone?agent=ID with the admin token, offers a PCMU track (and Chrome's
// telephone-event), applies the answer, waits for "ready", asks to be ready through the
// page's agent message, accepts every ring, and echoes every RTP packet of the remote
// track out of its local track (as SIPp's -rtp_echo does for the SIP agents).

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/hotline-12345/hotline/bench/b4/kit"
	"github.com/hotline-12345/hotline/bench/internal/harness"
)

// spMsg is the softphone's WebSocket message (the fields the bench uses; agentdesk's
// own type is unexported).
type spMsg struct {
	Type    string `json:"type"`
	SDP     string `json:"sdp,omitempty"`
	Session string `json:"session,omitempty"`
	Call    string `json:"call,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	State   string `json:"state,omitempty"`
	Request string `json:"request,omitempty"`
}

// agentStats are counted over every agent of the child.
type agentStats struct {
	rings, accepts, hangups, echoed, errors atomic.Int64
}

// runAgents is the child: connect agents first..first+n-1 to the server at httpAddr,
// print "READY n" once all are ready, report counts on "stats" lines every second, and
// run until stdin closes.
func runAgents(httpAddr string, first, n int) error {
	var st agentStats
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 8) // DTLS handshakes a few at a time
	var phones []*phone
	var mu sync.Mutex
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			p, err := connectAgent(ctx, httpAddr, fmt.Sprint(first+i), &st)
			<-sem
			if err != nil {
				errs <- fmt.Errorf("agent %d: %w", first+i, err)
				return
			}
			mu.Lock()
			phones = append(phones, p)
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed < 5 {
			fmt.Fprintln(os.Stderr, "b9 agents:", err)
		}
		failed++
	}
	fmt.Printf("READY %d %d\n", len(phones), failed)
	go func() {
		for range time.Tick(time.Second) {
			fmt.Printf("stats rings=%d accepts=%d hangups=%d echoed=%d errors=%d\n",
				st.rings.Load(), st.accepts.Load(), st.hangups.Load(), st.echoed.Load(), st.errors.Load())
		}
	}()
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // the parent closes stdin (or kills us)
	cancel()
	for _, p := range phones {
		p.close()
	}
	return nil
}

type phone struct {
	id   string
	conn *websocket.Conn
	pc   *webrtc.PeerConnection
	wmu  sync.Mutex
}

func (p *phone) send(m spMsg) error {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.wmu.Lock()
	defer p.wmu.Unlock()
	return p.conn.Write(ctx, websocket.MessageText, b)
}

func (p *phone) close() {
	_ = p.send(spMsg{Type: "bye"})
	p.conn.CloseNow()
	_ = p.pc.Close()
}

// newPeer is the page's PeerConnection: PCMU (payload 0) and telephone-event 126, RTCP
// reports only (as the server's), host candidates on loopback.
func newPeer() (*webrtc.PeerConnection, *webrtc.TrackLocalStaticRTP, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000},
		PayloadType:        0}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: "audio/telephone-event", ClockRate: 8000, SDPFmtpLine: "0-15"},
		PayloadType:        126}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, nil, err
	}
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, nil, err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypePCMU, ClockRate: 8000}, "audio", "b9")
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	tr, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		pc.Close()
		return nil, nil, err
	}
	go func() { // drain the sender's RTCP, as a browser does
		buf := make([]byte, 1500)
		for {
			if _, _, err := tr.Sender().Read(buf); err != nil {
				return
			}
		}
	}()
	return pc, track, nil
}

// connectAgent opens agent id's softphone, connects its media and makes it ready.
func connectAgent(ctx context.Context, httpAddr, id string, st *agentStats) (*phone, error) {
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+kit.Token)
	conn, _, err := websocket.Dial(dctx, "ws://"+httpAddr+"/softphone?agent="+id, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		return nil, err
	}
	conn.SetReadLimit(1 << 20)
	pc, track, err := newPeer()
	if err != nil {
		conn.CloseNow()
		return nil, err
	}
	p := &phone{id: id, conn: conn, pc: pc}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go func() { // the echo: every packet heard goes back out
			for {
				pkt, _, err := tr.ReadRTP()
				if err != nil {
					return
				}
				if pkt.PayloadType != 0 {
					continue // telephone-event, not audio
				}
				if track.WriteRTP(pkt) == nil {
					st.echoed.Add(1)
				}
			}
		}()
	})
	fail := func(err error) (*phone, error) {
		conn.CloseNow()
		_ = pc.Close()
		return nil, err
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(err)
	}
	g := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return fail(err)
	}
	<-g
	if err := p.send(spMsg{Type: "offer", SDP: pc.LocalDescription().SDP}); err != nil {
		return fail(err)
	}
	msgs := make(chan spMsg, 16)
	go func() { // the page's message loop
		defer close(msgs)
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var m spMsg
			if json.Unmarshal(b, &m) != nil {
				continue
			}
			switch m.Type {
			case "ring":
				st.rings.Add(1)
				if p.send(spMsg{Type: "accept", Call: m.Call}) == nil {
					st.accepts.Add(1)
				}
				continue
			case "hangup":
				st.hangups.Add(1)
				continue
			case "error":
				st.errors.Add(1)
			}
			select {
			case msgs <- m:
			default: // nobody waits any more
			}
		}
	}()
	wait := func(typ string) (spMsg, error) {
		t := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return m, errors.New("socket closed waiting for " + typ)
				}
				if m.Type == typ {
					return m, nil
				}
				if m.Type == "error" {
					return m, fmt.Errorf("error %s: %s (waiting for %s)", m.Reason, m.Message, typ)
				}
			case <-t:
				return spMsg{}, errors.New("timeout waiting for " + typ)
			}
		}
	}
	ans, err := wait("answer")
	if err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		return fail(err)
	}
	if _, err := wait("ready"); err != nil {
		return fail(err)
	}
	if err := p.send(spMsg{Type: "agent", State: "ready"}); err != nil {
		return fail(err)
	}
	if _, err := wait("done"); err != nil {
		return fail(err)
	}
	return p, nil
}

// agentsProc is the running child.
type agentsProc struct {
	cmd    *exec.Cmd
	stdin  interface{ Close() error }
	mu     sync.Mutex
	last   string // the last stats line
	exited chan struct{}
}

// startAgents runs this program as the agents' child pinned to core 1 and waits until
// its agents are ready.
func startAgents(httpAddr string, first, n int, logPath string) (*agentsProc, int, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, 0, err
	}
	argv := append(harness.Pin(1), self, "-agents-child", httpAddr, "-agents-first", fmt.Sprint(first), "-agents-n", fmt.Sprint(n))
	cmd := exec.Command(argv[0], argv[1:]...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, 0, err
	}
	cmd.Stderr = logf
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, 0, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, 0, err
	}
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	a := &agentsProc{cmd: cmd, stdin: in, exited: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, "READY") {
				ready <- l
				continue
			}
			a.mu.Lock()
			a.last = l
			a.mu.Unlock()
		}
	}()
	go func() { _ = cmd.Wait(); logf.Close(); close(a.exited) }()
	select {
	case l := <-ready:
		var ok, failed int
		_, _ = fmt.Sscanf(l, "READY %d %d", &ok, &failed)
		if ok == 0 {
			a.Stop()
			b, _ := os.ReadFile(logPath)
			return nil, 0, fmt.Errorf("no WebRTC agent connected (%d failed):\n%.2000s", failed, b)
		}
		return a, ok, nil
	case <-a.exited:
		b, _ := os.ReadFile(logPath)
		return nil, 0, fmt.Errorf("the agents' process exited:\n%.2000s", b)
	case <-time.After(3 * time.Minute):
		a.Stop()
		return nil, 0, errors.New("the WebRTC agents were not ready within 3 minutes")
	}
}

func (a *agentsProc) Pid() int { return a.cmd.Process.Pid }

func (a *agentsProc) Stats() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

// Stop closes the child's stdin (it says bye on every socket) and kills it after 10 s.
func (a *agentsProc) Stop() {
	_ = a.stdin.Close()
	select {
	case <-a.exited:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}
