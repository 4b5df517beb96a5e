package agentdesk

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hotline-12345/hotline/media"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// spRig is a softphone server on httptest; the agent is named by ?agent=.
type spRig struct {
	t   *testing.T
	sp  *Softphones
	srv *httptest.Server
	e   *media.Engine

	mu      sync.Mutex
	events  []string // "hangup agent call", "vanish agent call reason", "ready agent", "control …"
	evNotif chan struct{}
}

func newSPRig(t *testing.T, tune func(*Softphones)) *spRig {
	t.Helper()
	ign := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ign) }) // registered first: runs last
	e, err := media.NewEngine(media.EngineConfig{Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	r := &spRig{t: t, e: e, evNotif: make(chan struct{}, 64)}
	r.sp = &Softphones{
		Engine: e, Registerer: prometheus.NewRegistry(),
		OnReady:   func(a string) { r.event("ready " + a) },
		OnHangup:  func(a, c string) { r.event("hangup " + a + " " + c) },
		OnVanish:  func(a, c, why string) { r.event("vanish " + a + " " + c + " " + why) },
		OnControl: func(a, c, act string) { r.event("control " + a + " " + c + " " + act) },
	}
	if tune != nil {
		tune(r.sp)
	}
	mux := http.NewServeMux()
	mux.Handle("/softphone", r.sp.Handler(func(req *http.Request) (string, bool) {
		a := req.URL.Query().Get("agent")
		return a, a != ""
	}))
	mux.Handle("/softphone.js", SoftphoneScript())
	mux.HandleFunc("/page", func(w http.ResponseWriter, req *http.Request) {
		http.ServeFile(w, req, "testdata/softphone_page.html")
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		r.sp.Close()
		r.srv.Close()
		e.Close()
	})
	return r
}

func (r *spRig) event(s string) {
	r.mu.Lock()
	r.events = append(r.events, s)
	r.mu.Unlock()
	select {
	case r.evNotif <- struct{}{}:
	default:
	}
}

// waitEvent waits for an event that starts with prefix.
func (r *spRig) waitEvent(prefix string, d time.Duration) string {
	r.t.Helper()
	deadline := time.After(d)
	for {
		r.mu.Lock()
		for _, e := range r.events {
			if strings.HasPrefix(e, prefix) {
				r.mu.Unlock()
				return e
			}
		}
		r.mu.Unlock()
		select {
		case <-r.evNotif:
		case <-deadline:
			r.t.Fatalf("no event %q within %v; events: %q", prefix, d, r.events)
		}
	}
}

func (r *spRig) hasEvent(prefix string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if strings.HasPrefix(e, prefix) {
			return true
		}
	}
	return false
}

// testPhone is the agent's page played by a pion peer in the test: the same leg over
// a PeerConnection, so it sends and hears audio like the browser does.
type testPhone struct {
	t       *testing.T
	r       *spRig
	conn    *websocket.Conn
	msgs    chan spMsg
	tr      *pcTransport
	leg     *media.RTPLeg
	heard   *pcmSink
	session string
	codec   media.Codec
}

func (r *spRig) dial(agent string) *testPhone {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(r.srv.URL, "http") + "/softphone?agent=" + agent
	c, _, err := websocket.Dial(ctx, url, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	p := &testPhone{t: r.t, r: r, conn: c, msgs: make(chan spMsg, 64), heard: &pcmSink{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(p.msgs)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			var m spMsg
			if json.Unmarshal(b, &m) == nil {
				p.msgs <- m
			}
		}
	}()
	r.t.Cleanup(func() {
		c.CloseNow()
		<-done
		p.closeMedia()
	})
	return p
}

func (p *testPhone) closeMedia() {
	if p.leg != nil {
		p.leg.Close()
	} else if p.tr != nil {
		p.tr.Close()
	}
}

func (p *testPhone) send(m spMsg) {
	p.t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.conn.Write(ctx, websocket.MessageText, b); err != nil {
		p.t.Fatalf("send %s: %v", m.Type, err)
	}
}

// expect returns the next message of type typ, skipping others; ok is false when the
// socket closed first.
func (p *testPhone) expect(typ string, d time.Duration) (spMsg, bool) {
	p.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-p.msgs:
			if !ok {
				return spMsg{}, false
			}
			if m.Type == typ {
				return m, true
			}
		case <-deadline:
			p.t.Fatalf("no %q message within %v", typ, d)
		}
	}
}

func (p *testPhone) mustExpect(typ string, d time.Duration) spMsg {
	p.t.Helper()
	m, ok := p.expect(typ, d)
	if !ok {
		p.t.Fatalf("socket closed while waiting for %q", typ)
	}
	return m
}

// newClientPeer is the browser's side of a shift connection, made in Go: a
// PeerConnection offering codecs in this order and Chrome's telephone-event, with its
// local description (all candidates) set.
func newClientPeer(tb testing.TB, codecs ...media.Codec) *pcTransport {
	tb.Helper()
	me := &webrtc.MediaEngine{}
	for _, c := range codecs {
		mime := webrtc.MimeTypePCMU
		if c == media.PCMA {
			mime = webrtc.MimeTypePCMA
		}
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000},
			PayloadType:        webrtc.PayloadType(c)}, webrtc.RTPCodecTypeAudio); err != nil {
			tb.Fatal(err)
		}
	}
	// Chrome's telephone-event payload type for 8 kHz.
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 8000, SDPFmtpLine: "0-15"},
		PayloadType:        126}, webrtc.RTPCodecTypeAudio); err != nil {
		tb.Fatal(err)
	}
	mime := webrtc.MimeTypePCMU
	if len(codecs) > 0 && codecs[0] == media.PCMA {
		mime = webrtc.MimeTypePCMA
	}
	tr, err := newPCTransport(me, (&Softphones{}).settingEngine(), nil, mime)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tr.pc.AddTransceiverFromTrack(tr.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		tb.Fatal(err)
	}
	drainRTCP(tr.pc)
	o, err := tr.pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(tr.pc)
	if err := tr.pc.SetLocalDescription(o); err != nil {
		tb.Fatal(err)
	}
	<-g
	return tr
}

// drainRTCP reads the senders' RTCP until the PeerConnection closes, as the server does.
func drainRTCP(pc *webrtc.PeerConnection) {
	for _, s := range pc.GetSenders() {
		go func() {
			buf := make([]byte, 1500)
			for {
				if _, _, err := s.Read(buf); err != nil {
					return
				}
			}
		}()
	}
}

// offer makes the phone's PeerConnection and sends its offer (non-trickle). It does
// not wait for the answer.
func (p *testPhone) offer(codecs ...media.Codec) {
	p.t.Helper()
	p.tr = newClientPeer(p.t, codecs...)
	p.send(spMsg{Type: "offer", SDP: p.tr.pc.LocalDescription().SDP})
}

// connect offers, applies the answer, starts the phone's leg and waits for "ready".
func (p *testPhone) connect(codecs ...media.Codec) {
	p.t.Helper()
	if len(codecs) == 0 {
		codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	p.offer(codecs...)
	ans := p.mustExpect("answer", 5*time.Second)
	if err := p.tr.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: ans.SDP}); err != nil {
		p.t.Fatal(err)
	}
	codec, tePT, _, err := pickG711(ans.SDP)
	if err != nil {
		p.t.Fatal(err)
	}
	if strings.Count(ans.SDP, "a=rtpmap:") != 2 {
		p.t.Errorf("the answer should name one G.711 codec and telephone-event:\n%s", ans.SDP)
	}
	p.session, p.codec = ans.Session, codec
	leg, err := p.r.e.NewLeg(media.RTPLegOptions{ID: "test-phone"}, p.tr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.leg = leg
	leg.Configure(media.Remote{Codec: codec, DTMFPT: tePT, Send: true, Recv: true})
	leg.Tap(media.FromParty, p.heard)
	if err := leg.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.mustExpect("ready", 5*time.Second)
}

// pcmSink collects what a leg hears, decoded.
type pcmSink struct {
	mu  sync.Mutex
	pcm []int16
}

func (s *pcmSink) WriteFrame(c media.Codec, p []byte) {
	var x [media.FrameSamples]int16
	media.DecodeFrame(c, x[:], p)
	s.mu.Lock()
	s.pcm = append(s.pcm, x[:len(p)]...)
	s.mu.Unlock()
}

// share is the tone's share of the last d of audio.
func (s *pcmSink) share(freq float64, d time.Duration) float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := int(d * media.SampleRate / time.Second)
	if len(s.pcm) < n {
		return 0
	}
	return media.ToneShare(s.pcm[len(s.pcm)-n:], freq)
}

// waitTone polls until the tone holds most of the last 200 ms.
func (s *pcmSink) waitTone(freq float64, within time.Duration) (time.Duration, bool) {
	start := time.Now()
	for time.Since(start) < within {
		if s.share(freq, 200*time.Millisecond) > 0.8 {
			return time.Since(start), true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, false
}

// ringAccept rings the agent and accepts on the phone.
func (r *spRig) ringAccept(p *testPhone, agent, callID string) *CallLeg {
	r.t.Helper()
	type res struct {
		c   *CallLeg
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := r.sp.Ring(context.Background(), agent, RingInfo{CallID: callID, Caller: "138****0000", Line: "12345", Wait: 3 * time.Second})
		ch <- res{c, err}
	}()
	m := p.mustExpect("ring", 5*time.Second)
	if m.Call != callID || m.Caller != "138****0000" || m.Line != "12345" || m.WaitMS != 3000 {
		r.t.Errorf("ring message: %+v", m)
	}
	p.send(spMsg{Type: "accept", Call: callID})
	got := <-ch
	if got.err != nil {
		r.t.Fatalf("Ring: %v", got.err)
	}
	return got.c
}

const (
	toneCaller = 941.0  // what the server side (the citizen) says
	toneAgent  = 1209.0 // what the agent's microphone says
)

// Audio both ways over the shift's PeerConnection, DTMF both ways (RFC 4733 payload
// types kept), the agent's hang-up, and a second call on the same connection.
func TestSoftphoneTwoWayAudio(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offer  []media.Codec
		expect media.Codec
	}{
		{"PCMU first", []media.Codec{media.PCMU, media.PCMA}, media.PCMU},
		{"PCMA first", []media.Codec{media.PCMA, media.PCMU}, media.PCMA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSPRig(t, nil)
			p := r.dial("a1")
			p.connect(tc.offer...)
			r.waitEvent("ready a1", 2*time.Second)
			if p.codec != tc.expect {
				t.Fatalf("negotiated %v, want %v", p.codec, tc.expect)
			}
			r.sp.mu.Lock()
			firstPC := r.sp.sessions["a1"].tr.pc
			r.sp.mu.Unlock()

			p.leg.SetOutbound(media.NewToneSource(0.5, toneAgent))
			c := r.ringAccept(p, "a1", "call-1")
			if c.Codec() != tc.expect {
				t.Errorf("call leg codec %v", c.Codec())
			}
			heard := &pcmSink{}
			c.Tap(media.FromParty, heard)
			c.SetOutbound(media.NewToneSource(0.5, toneCaller))
			if _, ok := heard.waitTone(toneAgent, 3*time.Second); !ok {
				t.Errorf("the server did not hear the agent's tone (share %.2f)", heard.share(toneAgent, 200*time.Millisecond))
			}
			if _, ok := p.heard.waitTone(toneCaller, 3*time.Second); !ok {
				t.Errorf("the agent did not hear the caller's tone (share %.2f)", p.heard.share(toneCaller, 200*time.Millisecond))
			}

			// DTMF both ways: the telephone-event payload type survives the track.
			if err := p.leg.SendDTMF("5", 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			select {
			case d := <-c.Digits():
				if d.Key != '5' {
					t.Errorf("digit %q", d.Key)
				}
			case <-time.After(3 * time.Second):
				t.Error("the agent's RFC 4733 digit did not arrive")
			}
			if err := c.SendDTMF("7", 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			select {
			case d := <-p.leg.Digits():
				if d.Key != '7' {
					t.Errorf("digit %q", d.Key)
				}
			case <-time.After(3 * time.Second):
				t.Error("the server's RFC 4733 digit did not reach the agent")
			}

			// Page controls reach the call layer.
			p.send(spMsg{Type: "hold", Call: "call-1"})
			r.waitEvent("control a1 call-1 hold", 2*time.Second)

			// The agent hangs up.
			p.send(spMsg{Type: "hangup", Call: "call-1"})
			r.waitEvent("hangup a1 call-1", 2*time.Second)
			select {
			case <-c.Done():
			case <-time.After(2 * time.Second):
				t.Fatal("the call leg did not end")
			}
			if c.EndReason() != ReasonAgentHangup {
				t.Errorf("end reason %q", c.EndReason())
			}
			// A source of the ended call goes quiet, and its outbound no longer reaches the agent.
			buf := make([]byte, media.FrameSamples)
			if c.Inbound().ReadFrame(media.PCMU, buf) {
				t.Error("an ended call's inbound still reads audio")
			}
			c.SetOutbound(media.NewToneSource(0.5, 697))

			// A second call reuses the PeerConnection: no new ICE or DTLS.
			c2 := r.ringAccept(p, "a1", "call-2")
			c2.SetOutbound(media.NewToneSource(0.5, 1477))
			if _, ok := p.heard.waitTone(1477, 3*time.Second); !ok {
				t.Error("second call: the agent did not hear the caller")
			}
			r.sp.mu.Lock()
			samePC := r.sp.sessions["a1"].tr.pc == firstPC
			r.sp.mu.Unlock()
			if !samePC {
				t.Error("the second call made a new PeerConnection")
			}
			r.sp.Hangup("a1")
			if m := p.mustExpect("hangup", 2*time.Second); m.Call != "call-2" || m.Reason != ReasonServerHangup {
				t.Errorf("hangup message %+v", m)
			}
			<-c2.Done()
			if r.hasEvent("hangup a1 call-2") {
				t.Error("a server hang-up was reported as the agent's")
			}
		})
	}
}

func TestSoftphoneRingOutcomes(t *testing.T) {
	r := newSPRig(t, nil)
	ctx := context.Background()
	if _, err := r.sp.Ring(ctx, "nobody", RingInfo{CallID: "x"}); !errors.Is(err, ErrOffline) {
		t.Errorf("ring an absent agent: %v", err)
	}
	p := r.dial("a2")
	p.connect()

	ring := func(info RingInfo, ctx context.Context) chan error {
		ch := make(chan error, 1)
		go func() {
			_, err := r.sp.Ring(ctx, "a2", info)
			ch <- err
		}()
		return ch
	}

	t.Run("reject", func(t *testing.T) {
		ch := ring(RingInfo{CallID: "r1"}, ctx)
		p.mustExpect("ring", 2*time.Second)
		p.send(spMsg{Type: "reject", Call: "r1"})
		if err := <-ch; !errors.Is(err, ErrRejected) {
			t.Errorf("got %v", err)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		ch := ring(RingInfo{CallID: "r2", Timeout: 200 * time.Millisecond}, ctx)
		if m := p.mustExpect("ring", 2*time.Second); m.TimeoutMS != 200 {
			t.Errorf("ring timeout_ms %d", m.TimeoutMS)
		}
		if err := <-ch; !errors.Is(err, ErrRingTimeout) {
			t.Errorf("got %v", err)
		}
		if m := p.mustExpect("hangup", 2*time.Second); m.Call != "r2" || m.Reason != "timeout" {
			t.Errorf("the page was not told the ring ended: %+v", m)
		}
		p.send(spMsg{Type: "accept", Call: "r2"}) // too late
		if m := p.mustExpect("error", 2*time.Second); m.Reason != "no-such-call" {
			t.Errorf("late accept: %+v", m)
		}
	})
	t.Run("caller hangs up while ringing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		ch := ring(RingInfo{CallID: "r3"}, cctx)
		p.mustExpect("ring", 2*time.Second)
		cancel()
		if err := <-ch; !errors.Is(err, context.Canceled) {
			t.Errorf("got %v", err)
		}
		if m := p.mustExpect("hangup", 2*time.Second); m.Call != "r3" || m.Reason != "cancelled" {
			t.Errorf("hangup %+v", m)
		}
	})
	t.Run("busy", func(t *testing.T) {
		ch := ring(RingInfo{CallID: "r4"}, ctx)
		p.mustExpect("ring", 2*time.Second)
		if _, err := r.sp.Ring(ctx, "a2", RingInfo{CallID: "r5"}); !errors.Is(err, ErrBusy) {
			t.Errorf("second ring: %v", err)
		}
		p.send(spMsg{Type: "reject", Call: "r4"})
		<-ch
	})
	t.Run("softphone vanishes while ringing", func(t *testing.T) {
		ch := ring(RingInfo{CallID: "r6"}, ctx)
		p.mustExpect("ring", 2*time.Second)
		p.send(spMsg{Type: "bye"})
		if err := <-ch; !errors.Is(err, ErrOffline) {
			t.Errorf("got %v", err)
		}
		if e := r.waitEvent("vanish a2", 2*time.Second); e != "vanish a2  bye" {
			t.Errorf("event %q", e)
		}
	})
}

// Two tabs of one agent: the newer wins, the older is told and closed; the older's
// connection ends when the newer offers.
func TestSoftphoneTwoTabs(t *testing.T) {
	r := newSPRig(t, nil)
	a := r.dial("a3")
	a.connect()
	r.sp.mu.Lock()
	first := r.sp.sessions["a3"]
	r.sp.mu.Unlock()
	b := r.dial("a3")
	if m := a.mustExpect("error", 2*time.Second); m.Reason != ReasonReplaced {
		t.Errorf("older tab got %+v", m)
	}
	if _, ok := a.expect("never", 2*time.Second); ok {
		t.Error("the older tab's socket stays open")
	}
	// The new tab cannot take over the old tab's connection without its token.
	b.send(spMsg{Type: "resume", Session: "forged"})
	if m := b.mustExpect("error", 2*time.Second); m.Reason != "no-session" {
		t.Errorf("forged resume: %+v", m)
	}
	b.connect()
	r.waitEvent("vanish a3  replaced", 2*time.Second)
	r.sp.mu.Lock()
	gone := first.gone
	r.sp.mu.Unlock()
	if !gone {
		t.Error("the older tab's PeerConnection is still up")
	}
	c := r.ringAccept(b, "a3", "t1")
	c.SetOutbound(media.NewToneSource(0.5, toneCaller))
	if _, ok := b.heard.waitTone(toneCaller, 3*time.Second); !ok {
		t.Error("the newer tab hears nothing")
	}
}

// A dropped socket comes back within ResumeWithin and resumes the same
// PeerConnection mid-call; one that stays away ends the call as vanished.
func TestSoftphoneDropAndResume(t *testing.T) {
	r := newSPRig(t, func(s *Softphones) { s.ResumeWithin = 700 * time.Millisecond })
	p := r.dial("a4")
	p.connect()
	p.leg.SetOutbound(media.NewToneSource(0.5, toneAgent))
	c := r.ringAccept(p, "a4", "d1")
	c.SetOutbound(media.NewToneSource(0.5, toneCaller))
	if _, ok := p.heard.waitTone(toneCaller, 3*time.Second); !ok {
		t.Fatal("no audio before the drop")
	}

	// The socket drops; the media goes on; the page reconnects and resumes.
	p.conn.CloseNow()
	time.Sleep(100 * time.Millisecond)
	if _, err := r.sp.Ring(context.Background(), "a4", RingInfo{CallID: "d2"}); !errors.Is(err, ErrBusy) && !errors.Is(err, ErrOffline) {
		t.Errorf("ring while the socket is away: %v", err)
	}
	p2 := r.dial("a4")
	p2.send(spMsg{Type: "resume", Session: p.session})
	m := p2.mustExpect("resumed", 2*time.Second)
	if m.Call != "d1" || m.Reason != "active" {
		t.Errorf("resumed %+v", m)
	}
	time.Sleep(900 * time.Millisecond) // past ResumeWithin: the resume cancelled the grace
	select {
	case <-c.Done():
		t.Fatal("the call ended across a resumed drop")
	default:
	}
	heard := &pcmSink{}
	c.Tap(media.FromParty, heard)
	if _, ok := heard.waitTone(toneAgent, 3*time.Second); !ok {
		t.Error("no audio from the agent after the resume")
	}
	// The resumed socket carries the call's signalling.
	p2.send(spMsg{Type: "hangup", Call: "d1"})
	r.waitEvent("hangup a4 d1", 2*time.Second)

	// Now a drop that does not come back.
	c2 := r.ringAccept(p2, "a4", "d3")
	p2.conn.CloseNow()
	if e := r.waitEvent("vanish a4", 3*time.Second); e != "vanish a4 d3 dropped" {
		t.Errorf("event %q", e)
	}
	select {
	case <-c2.Done():
	case <-time.After(time.Second):
		t.Fatal("the vanished call's leg did not end")
	}
	if c2.EndReason() != ReasonDropped {
		t.Errorf("end reason %q", c2.EndReason())
	}
	// Too late to resume: the page must offer again.
	p3 := r.dial("a4")
	p3.send(spMsg{Type: "resume", Session: p.session})
	if m := p3.mustExpect("error", 2*time.Second); m.Reason != "no-session" {
		t.Errorf("late resume: %+v", m)
	}
}

// A page that never offers is closed; one whose media never connects is cleaned up;
// an offer without G.711 is refused. Everything ends without a goroutine left.
func TestSoftphoneBrokenPages(t *testing.T) {
	r := newSPRig(t, func(s *Softphones) {
		s.OfferTimeout = 300 * time.Millisecond
		s.ConnectTimeout = 500 * time.Millisecond
	})
	t.Run("no offer", func(t *testing.T) {
		p := r.dial("b1")
		if _, ok := p.expect("never", 3*time.Second); ok {
			t.Error("the socket stays open without an offer")
		}
	})
	t.Run("answer never applied", func(t *testing.T) {
		p := r.dial("b2")
		p.offer(media.PCMU)
		p.mustExpect("answer", 3*time.Second)
		// The page never sets the answer: no ICE, no DTLS.
		if m := p.mustExpect("error", 3*time.Second); m.Reason != ReasonConnectTimeout {
			t.Errorf("got %+v", m)
		}
		r.sp.mu.Lock()
		n := len(r.sp.sessions)
		r.sp.mu.Unlock()
		if n != 0 {
			t.Errorf("%d sessions left", n)
		}
		if r.hasEvent("vanish b2") {
			t.Error("a connection that never was ready was reported as vanished")
		}
	})
	t.Run("no G.711", func(t *testing.T) {
		p := r.dial("b3")
		sdpOpus := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
		p.send(spMsg{Type: "offer", SDP: sdpOpus})
		if m := p.mustExpect("error", 2*time.Second); m.Reason != "no-g711" {
			t.Errorf("got %+v", m)
		}
		p.send(spMsg{Type: "bogus"})
		if m := p.mustExpect("error", 2*time.Second); m.Reason != "bad-message" {
			t.Errorf("got %+v", m)
		}
	})
	t.Run("unauthenticated", func(t *testing.T) {
		resp, err := http.Get(r.srv.URL + "/softphone")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("status %d", resp.StatusCode)
		}
	})
}

func TestSoftphonePickG711(t *testing.T) {
	chrome := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\nc=IN IP4 0.0.0.0\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\na=rtpmap:9 G722/8000\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:13 CN/8000\r\n" +
		"a=rtpmap:110 telephone-event/48000\r\na=rtpmap:126 telephone-event/8000\r\n"
	c, pt, _, err := pickG711(chrome)
	if err != nil || c != media.PCMU || pt != 126 {
		t.Errorf("chrome offer: %v %d %v", c, pt, err)
	}
	c, _, _, err = pickG711(strings.Replace(chrome, "0 8 13", "8 0 13", 1))
	if err != nil || c != media.PCMA {
		t.Errorf("PCMA first: %v %v", c, err)
	}
	if _, _, _, err := pickG711("garbage"); err == nil {
		t.Error("garbage accepted")
	}
}

// pcPair connects a server PeerConnection (as Softphones makes it) to a client one in
// the process, without signalling, for benchmarks.
func pcPair(tb testing.TB) (srv, cli *pcTransport, codec media.Codec, tePT uint8) {
	tb.Helper()
	cli = newClientPeer(tb, media.PCMU)
	offer := cli.pc.LocalDescription().SDP
	codec, tePT, teFmtp, err := pickG711(offer)
	if err != nil {
		tb.Fatal(err)
	}
	srv, err = (&Softphones{}).newPeer(codec, tePT, teFmtp)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close(); cli.Close() })
	if err := srv.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		tb.Fatal(err)
	}
	if _, err := srv.pc.AddTrack(srv.track); err != nil {
		tb.Fatal(err)
	}
	drainRTCP(srv.pc)
	ans, err := srv.pc.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	g := webrtc.GatheringCompletePromise(srv.pc)
	if err := srv.pc.SetLocalDescription(ans); err != nil {
		tb.Fatal(err)
	}
	<-g
	if err := cli.pc.SetRemoteDescription(*srv.pc.LocalDescription()); err != nil {
		tb.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if srv.track.binding.Load() != nil && cli.track.binding.Load() != nil {
			return srv, cli, codec, tePT
		}
		if time.Now().After(deadline) {
			tb.Fatal("the pair did not connect")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchWrites sends b.N G.711 packets with write while a goroutine reads them with
// read, and reports the process's CPU per packet (send and receive together: both
// ends run here) and the share that arrived.
func benchWrites(b *testing.B, write func([]byte) error, read func([]byte) error) {
	pkt := make([]byte, 12+media.FrameSamples)
	pkt[0], pkt[1] = 0x80, 0 // RTP v2, PCMU
	binary.BigEndian.PutUint32(pkt[8:], 0x1234)
	var got atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1500)
		for read(buf) == nil {
			got.Add(1)
		}
	}()
	// Warm up: the first packets open the remote track (pion reads one to learn it).
	for i := 0; i < 200; i++ {
		binary.BigEndian.PutUint16(pkt[2:], uint16(i))
		_ = write(pkt)
	}
	time.Sleep(100 * time.Millisecond)
	got.Store(0)
	b.ReportAllocs()
	cpu0 := cpuTime()
	n := 0
	for b.Loop() {
		binary.BigEndian.PutUint16(pkt[2:], uint16(n+200))
		binary.BigEndian.PutUint32(pkt[4:], uint32((n+200)*media.FrameSamples))
		if err := write(pkt); err != nil {
			b.Fatal(err)
		}
		n++
		if n%64 == 0 { // at most 64 packets ahead of the reader, as paced traffic would be
			for deadline := time.Now().Add(50 * time.Millisecond); got.Load() < int64(n-64) && time.Now().Before(deadline); {
				time.Sleep(20 * time.Microsecond) // sleeping, not spinning: the CPU figure stays the packets'
			}
		}
	}
	time.Sleep(20 * time.Millisecond)
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/pkt")
	b.ReportMetric(100*float64(got.Load())/float64(n), "recv-%")
	b.Cleanup(func() { <-done })
}

// One packet through pion: the leg's bytes to the track (header parse, SRTP, sendto)
// on one side, and the remote track's read (recvfrom, SRTP, interceptors) on the other.
func BenchmarkSoftphoneTransport(b *testing.B) {
	srv, cli, _, _ := pcPair(b)
	benchWrites(b, func(p []byte) error { return srv.WriteRTP(p, netip.AddrPort{}) },
		func(p []byte) error { _, _, err := cli.ReadRTP(p); return err })
	srv.Close()
	cli.Close()
}

// The same packet over a plain UDP socket pair: what a SIP leg's transport costs.
func BenchmarkSoftphoneUDPBaseline(b *testing.B) {
	a, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	dst := c.LocalAddr().(*net.UDPAddr).AddrPort()
	benchWrites(b, func(p []byte) error { _, err := a.WriteToUDPAddrPort(p, dst); return err },
		func(p []byte) error { _, _, err := c.ReadFromUDPAddrPort(p); return err })
	a.Close()
	c.Close()
}

// B9's core figure: whole legs paced by the media clock, each sending a tone and
// receiving its peer's (jitter buffer, taps, RTCP), 20 pairs at once: WebRTC legs over
// pion against RTP legs over UDP. Reported as CPU per leg and per packet sent and
// received; run with -benchtime=5s or more.
func BenchmarkSoftphoneLegs(b *testing.B) {
	const pairs = 20
	for _, kind := range []string{"webrtc", "rtp"} {
		b.Run(kind, func(b *testing.B) {
			e, err := media.NewEngine(media.EngineConfig{Registerer: prometheus.NewRegistry(), PortMin: 40000, PortMax: 40999})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			var legs []*media.RTPLeg
			defer func() {
				for _, l := range legs {
					l.Close()
				}
			}()
			for i := 0; i < pairs; i++ {
				var x, y *media.RTPLeg
				r := media.Remote{Codec: media.PCMU, DTMFPT: 126, Send: true, Recv: true}
				if kind == "webrtc" {
					srv, cli, codec, pt := pcPair(b)
					r.Codec, r.DTMFPT = codec, pt
					x, _ = e.NewLeg(media.RTPLegOptions{ID: "srv"}, srv)
					y, _ = e.NewLeg(media.RTPLegOptions{ID: "cli"}, cli)
					x.Configure(r)
					y.Configure(r)
				} else {
					if x, err = e.NewRTPLeg(media.RTPLegOptions{ID: "a"}); err != nil {
						b.Fatal(err)
					}
					if y, err = e.NewRTPLeg(media.RTPLegOptions{ID: "b"}); err != nil {
						b.Fatal(err)
					}
					rx, ry := r, r
					rx.Addr, ry.Addr = y.LocalAddr(), x.LocalAddr()
					x.Configure(rx)
					y.Configure(ry)
				}
				legs = append(legs, x, y)
				x.SetOutbound(media.NewToneSource(0.3, toneCaller))
				y.SetOutbound(media.NewToneSource(0.3, toneAgent))
				x.Tap(media.FromParty, discardSink{})
				x.Start()
				y.Start()
			}
			time.Sleep(500 * time.Millisecond) // past the start-up
			in0 := legs[0].Stats().PacketsIn
			cpu0, t0 := cpuTime(), time.Now()
			for b.Loop() {
				time.Sleep(media.FrameDuration)
			}
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			nLegs := float64(len(legs))
			pkts := nLegs * float64(wall/media.FrameDuration) // each leg sends one and receives one
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds()/nLegs, "cpu-%/leg")
			b.ReportMetric(float64(cpu)/pkts, "cpu-ns/leg-pkt")
			if got := legs[0].Stats().PacketsIn - in0; float64(got) < 0.9*float64(wall/media.FrameDuration) {
				b.Errorf("a leg received %d packets in %v", got, wall)
			}
		})
	}
}

type discardSink struct{}

func (discardSink) WriteFrame(media.Codec, []byte) {}

// The browser closes its PeerConnection while the socket stays: the server notices
// from the media (DTLS close or the track ending), ends the call as vanished and tells
// the page, which can offer again.
func TestSoftphoneMediaGone(t *testing.T) {
	r := newSPRig(t, nil)
	p := r.dial("a5")
	p.connect()
	c := r.ringAccept(p, "a5", "m1")
	start := time.Now()
	p.leg.Close()
	e := r.waitEvent("vanish a5 m1 ", 15*time.Second)
	t.Logf("%q after %v", e, time.Since(start).Round(time.Millisecond))
	<-c.Done()
	if m := p.mustExpect("error", 2*time.Second); m.Reason != ReasonMediaClosed && m.Reason != ReasonICEFailed {
		t.Errorf("page told %+v", m)
	}
	p.leg = nil
	p.connect() // a new shift connection on the same socket
	c2 := r.ringAccept(p, "a5", "m2")
	c2.SetOutbound(media.NewToneSource(0.5, toneCaller))
	if _, ok := p.heard.waitTone(toneCaller, 3*time.Second); !ok {
		t.Error("no audio on the new connection")
	}
}

// The leg's packets go to pion without an allocation of ours or pion's (header parse
// into a reused header, SRTP in place). Pion's receive side allocates about 3 times a
// packet (BenchmarkSoftphoneTransport).
func TestSoftphoneSendPathAllocatesNothing(t *testing.T) {
	ign := goleak.IgnoreCurrent()
	srv, cli, _, _ := pcPair(t)
	pkt := make([]byte, 12+media.FrameSamples)
	pkt[0] = 0x80
	write := func() { _ = srv.WriteRTP(pkt, netip.AddrPort{}) }
	// Measure the steady state: until DTLS/SRTP is up, pion refuses writes with errors it
	// allocates, which is not the path a call takes.
	deadline := time.Now().Add(5 * time.Second)
	for srv.track.binding.Load() == nil || srv.WriteRTP(pkt, netip.AddrPort{}) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the WebRTC transport never accepted a packet")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < 100; i++ {
		write()
	}
	if n := testing.AllocsPerRun(1000, write); n != 0 {
		t.Errorf("sending through pion allocates %.1f times per packet, want 0", n)
	}
	srv.Close()
	cli.Close()
	goleak.VerifyNone(t, ign)
}

// Any offer text: pickG711 answers a codec it found or an error, never panics.
func FuzzSoftphonePickG711(f *testing.F) {
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 126\r\n" +
		"a=rtpmap:111 opus/48000/2\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:126 telephone-event/8000\r\na=fmtp:126 0-15\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 8\r\n")
	f.Add("v=0\r\nm=video 9 RTP/AVP 96\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		c, _, _, err := pickG711(offer)
		if err == nil && c != media.PCMU && c != media.PCMA {
			t.Fatalf("codec %v", c)
		}
	})
}

// The page's requests: a malformed one is refused with bad-message and says why, one for
// a call that is not active with no-such-call, one the call layer refuses with refused,
// and a good one reaches OnRequest and is answered done. Notify's agent state reaches the
// page, and again after a resume, its wrap-up counted down.
func TestSoftphoneRequests(t *testing.T) {
	var mu sync.Mutex
	var got []Request
	r := newSPRig(t, func(s *Softphones) {
		s.OnRequest = func(agent string, req Request) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, req)
			if req.Destination == "nowhere" {
				return errors.New("no destination nowhere")
			}
			return nil
		}
	})
	p := r.dial("q1")
	p.connect()
	for _, tc := range []struct {
		m      spMsg
		reason string
	}{
		{spMsg{Type: "transfer", Call: "c1"}, "bad-message"},                                    // neither queue nor destination
		{spMsg{Type: "transfer", Call: "c1", Queue: "a", Destination: "b"}, "bad-message"},      // both
		{spMsg{Type: "transfer", Queue: "general"}, "bad-message"},                              // no call
		{spMsg{Type: "conference", Call: "c1"}, "bad-message"},                                  // no destination
		{spMsg{Type: "agent", State: "dancing"}, "bad-message"},                                 // no such state
		{spMsg{Type: "agent", State: "break"}, "bad-message"},                                   // no reason
		{spMsg{Type: "agent", State: "break", Reason: strings.Repeat("x", 65)}, "bad-message"},  // too long
		{spMsg{Type: "transfer", Call: "not-active", Queue: "general"}, "no-such-call"},         // no such call
		{spMsg{Type: "conference", Call: "not-active", Destination: "housing"}, "no-such-call"}, // no such call
	} {
		p.send(tc.m)
		m := p.mustExpect("error", 2*time.Second)
		if m.Reason != tc.reason || m.Request != tc.m.Type || m.Message == "" {
			t.Errorf("%+v: got %+v, want %s", tc.m, m, tc.reason)
		}
	}
	p.send(spMsg{Type: "agent", State: "break", Reason: "lunch"})
	if m := p.mustExpect("done", 2*time.Second); m.Request != "agent" {
		t.Errorf("got %+v", m)
	}
	c := r.ringAccept(p, "q1", "c1")
	p.send(spMsg{Type: "transfer", Call: "c1", Destination: "nowhere"})
	if m := p.mustExpect("error", 2*time.Second); m.Reason != "refused" || !strings.Contains(m.Message, "nowhere") {
		t.Errorf("got %+v", m)
	}
	p.send(spMsg{Type: "transfer", Call: "c1", Queue: "general"})
	if m := p.mustExpect("done", 2*time.Second); m.Request != "transfer" || m.Call != "c1" {
		t.Errorf("got %+v", m)
	}
	mu.Lock()
	want := []Request{{Type: "break", Reason: "lunch"}, {Type: "transfer", Call: "c1", Destination: "nowhere"}, {Type: "transfer", Call: "c1", Queue: "general"}}
	if !slices.Equal(got, want) {
		t.Errorf("requests %+v, want %+v", got, want)
	}
	mu.Unlock()
	c.Close()

	r.sp.Notify("q1", AgentState{State: "wrap-up", WrapUp: 15 * time.Second})
	if m := p.mustExpect("agent", 2*time.Second); m.State != "wrap-up" || m.WrapUpMS != 15000 {
		t.Errorf("got %+v", m)
	}
	// The socket drops; the page resumes and is told its state again, the timer running.
	r.sp.mu.Lock()
	sock := r.sp.sockets["q1"]
	r.sp.mu.Unlock()
	sock.conn.CloseNow()
	time.Sleep(200 * time.Millisecond)
	p2 := r.dial("q1")
	p2.send(spMsg{Type: "resume", Session: p.session})
	p2.mustExpect("resumed", 2*time.Second)
	if m := p2.mustExpect("agent", 2*time.Second); m.State != "wrap-up" || m.WrapUpMS <= 0 || m.WrapUpMS > 14900 {
		t.Errorf("after the resume: %+v", m)
	}
}

// Any request message: parseRequest returns a well-formed request or an error, never
// panics, and never lets a name longer than maxName through.
func FuzzSoftphoneRequest(f *testing.F) {
	for _, m := range []string{
		`{"type":"transfer","call":"c1","queue":"general"}`,
		`{"type":"transfer","call":"c1","destination":"housing"}`,
		`{"type":"conference","call":"c1","destination":"housing"}`,
		`{"type":"agent","state":"break","reason":"lunch"}`,
		`{"type":"agent","state":"ready"}`,
		`{"type":"agent","state":"wrapup-done"}`,
		`{"type":"transfer","call":"c1","queue":"a","destination":"b"}`,
		`{"type":"agent","state":"break","reason":"   "}`,
		`{"type":"agent"`,
	} {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var m spMsg
		if json.Unmarshal([]byte(raw), &m) != nil {
			return
		}
		req, err := parseRequest(m)
		if err != nil {
			return
		}
		for _, s := range []string{req.Queue, req.Destination, req.Reason} {
			if len(s) > maxName {
				t.Fatalf("a name of %d bytes passed", len(s))
			}
		}
		switch req.Type {
		case "transfer":
			if req.Call == "" || (req.Queue == "") == (req.Destination == "") {
				t.Fatalf("bad transfer passed: %+v", req)
			}
		case "conference":
			if req.Call == "" || req.Destination == "" {
				t.Fatalf("bad conference passed: %+v", req)
			}
		case "break":
			if strings.TrimSpace(req.Reason) == "" {
				t.Fatalf("a break without a reason passed")
			}
		case "ready", "wrapup-done":
		default:
			t.Fatalf("unknown request type %q passed", req.Type)
		}
	})
}
