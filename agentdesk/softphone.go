package agentdesk

// The agent's browser softphone, server side: one WebRTC PeerConnection per agent shift,
// signalled over a WebSocket, carrying G.711 both ways into one media leg paced by the
// shared media clock. Calls reuse the shift's connection, so accepting a call costs a
// WebSocket message and a pointer swap, never an ICE or DTLS handshake.
//
// Who offers: the browser. It owns the microphone, so its offer already carries its
// sending track and codec list; the server answers with exactly one G.711 codec (the
// first PCMU/PCMA in the browser's order) and telephone-event. The server does not
// trickle: pion gathers host candidates at once, so its answer carries them all. The
// page trickles (Chromium may take seconds to finish gathering), and even an offer
// with no candidate connects, because the browser's checks reach the server's.
//
// Page → server: offer{sdp} | resume{session} | candidate{candidate} | accept{call} |
// reject{call} | hangup{call} | hold/unhold/mute/unmute{call} | dtmf{call,digits} | bye |
// transfer{call,queue|destination} | conference{call,destination} |
// agent{state: ready|break|wrapup-done, reason}.
// Server → page: answer{sdp,session,codec} | ready | resumed{session,call?} |
// ring{call,caller,line,dialled,wait_ms,timeout_ms,pop} | hangup{call,reason} |
// agent{state,reason,wrapup_ms} | done{request} |
// error{reason,message,request?} (reasons: replaced, no-session, no-g711, bad-offer,
// connect-timeout, ice-failed, media-closed, shutdown, bad-message, no-such-call, refused).
// A resumed page that was ringing gets the ring again after "resumed".

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hotline-12345/hotline/media"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
)

// Softphone errors returned by Ring.
var (
	// ErrOffline: the agent has no connected softphone (no socket, or no media yet).
	ErrOffline = errors.New("softphone: the agent's softphone is not connected")
	// ErrBusy: the agent is already ringing or on a call.
	ErrBusy = errors.New("softphone: the agent is already ringing or on a call")
	// ErrRejected: the agent declined the call.
	ErrRejected = errors.New("softphone: the agent rejected the call")
	// ErrRingTimeout: the agent did not answer in time.
	ErrRingTimeout = errors.New("softphone: the agent did not answer")
)

// Why a softphone went away (OnVanish) or a call ended (CallLeg.EndReason).
const (
	ReasonAgentHangup    = "agent-hangup"    // the agent pressed hang up
	ReasonServerHangup   = "server-hangup"   // Hangup or CallLeg.Close
	ReasonDropped        = "dropped"         // the socket dropped and did not come back in time
	ReasonReplaced       = "replaced"        // a newer tab or a new offer took over
	ReasonBye            = "bye"             // the page ended the shift
	ReasonPageClosed     = "page-closed"     // the tab closed or left the page (WebSocket 1001)
	ReasonICEFailed      = "ice-failed"      // the media path broke
	ReasonMediaClosed    = "media-closed"    // the browser closed its side (DTLS close, track gone)
	ReasonConnectTimeout = "connect-timeout" // the browser answered no ICE/DTLS in time
	ReasonShutdown       = "shutdown"
)

// RingInfo is what the page shows while it rings (the screen pop).
type RingInfo struct {
	CallID  string
	Caller  string // as the agent may see it: the call layer masks a confidential number
	Line    string // the dialled line's name
	Dialled string
	Wait    time.Duration // how long the caller has waited
	// Pop is extra screen-pop data for the page (IVR path, earlier cases), passed through.
	Pop json.RawMessage
	// Timeout overrides Softphones.RingTimeout for this call.
	Timeout time.Duration
}

// Softphones serves the agents' browser softphones. Set the fields, then use Handler,
// Ring and Hangup; Close at shutdown. The zero value of every optional field works.
type Softphones struct {
	Engine     *media.Engine // required: paces every softphone leg
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// ICEServers are given to each PeerConnection (none by default: the browser and the
	// server reach each other directly, as on loopback or an office LAN).
	ICEServers []webrtc.ICEServer
	// Settings, if set, adjusts each PeerConnection's SettingEngine after the defaults
	// (loopback candidates on, mDNS off): UDP port range, NAT 1:1 addresses.
	Settings func(*webrtc.SettingEngine)

	// OriginPatterns are other origins whose pages may open the socket (host patterns,
	// as websocket.AcceptOptions has them); the page's own origin is always allowed.
	OriginPatterns []string

	RingTimeout    time.Duration // default 20 s
	OfferTimeout   time.Duration // socket open → offer or resume; default 10 s
	ConnectTimeout time.Duration // answer sent → media connected; default 15 s
	ResumeWithin   time.Duration // socket dropped → the page may resume; default 5 s
	PingInterval   time.Duration // WebSocket keepalive; default 15 s

	// Events for the call layer. They run on the softphone's goroutines and must not block.
	// OnReady: the agent's media is connected (a new shift connection, not a resume).
	OnReady func(agentID string)
	// OnHangup: the agent hung up the accepted call callID.
	OnHangup func(agentID, callID string)
	// OnVanish: the agent's softphone is gone (reason above); callID is the accepted call
	// it cut, "" if none. A ringing call instead ends Ring with ErrOffline.
	OnVanish func(agentID, callID, reason string)
	// OnControl: the agent pressed hold, unhold, mute or unmute on call callID.
	OnControl func(agentID, callID, action string)
	// OnRequest: the agent asked for a transfer, a three-way call or a state change
	// (Request). An error is shown to the page as refused; nil answers done. Transfer and
	// conference come only for the agent's accepted call.
	OnRequest func(agentID string, r Request) error

	init     sync.Once
	initErr  error
	log      *slog.Logger
	m        *softphoneMetrics
	mu       sync.Mutex // guards everything below and every session's and call's state
	sessions map[string]*session
	sockets  map[string]*spSocket
	states   map[string]agentNote // the last agent state told to each agent's page
	closed   bool
	wg       sync.WaitGroup // goroutines and timers we started
}

type softphoneMetrics struct {
	sessions prometheus.Gauge
	rings    *prometheus.CounterVec
	gone     *prometheus.CounterVec
	connect  prometheus.Histogram
}

func (s *Softphones) setup() error {
	s.init.Do(func() {
		s.log = s.Logger
		if s.log == nil {
			s.log = slog.New(slog.DiscardHandler)
		}
		if s.Engine == nil {
			s.initErr = errors.New("softphone: Softphones.Engine is required")
			return
		}
		reg := s.Registerer
		if reg == nil {
			reg = prometheus.NewRegistry()
		}
		m := &softphoneMetrics{
			sessions: prometheus.NewGauge(prometheus.GaugeOpts{Name: "hotline_softphone_sessions",
				Help: "Agent softphones with a shift connection (PeerConnection) open."}),
			rings: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_softphone_rings_total",
				Help: "Calls offered to browser softphones, by outcome."}, []string{"outcome"}),
			gone: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_softphone_sessions_ended_total",
				Help: "Shift connections ended, by reason."}, []string{"reason"}),
			connect: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotline_softphone_connect_seconds",
				Help:    "From the browser's offer to connected media (ICE and DTLS).",
				Buckets: []float64{0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10}}),
		}
		for _, c := range []prometheus.Collector{m.sessions, m.rings, m.gone, m.connect} {
			if err := reg.Register(c); err != nil {
				s.initErr = fmt.Errorf("softphone metrics: %w", err)
				return
			}
		}
		s.m = m
		s.sessions = map[string]*session{}
		s.sockets = map[string]*spSocket{}
		s.states = map[string]agentNote{}
	})
	return s.initErr
}

func durOr(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// session is one agent's shift connection: a PeerConnection and the leg over it.
// Its mutable fields are guarded by Softphones.mu.
type session struct {
	agent    string
	token    string // lets the same tab resume after a dropped socket
	tr       *pcTransport
	leg      *media.RTPLeg
	codec    media.Codec
	sock     *spSocket // nil while the socket is away
	ready    bool      // media connected
	gone     bool
	replaced bool     // a newer socket of the agent took over; cleared by a resume
	call     *CallLeg // ringing or accepted
	offered  time.Time
	timer    *time.Timer // connect timeout, then resume grace
	byeWait  *time.Timer // the media closed: waiting for the page's bye (mediaClosed)
}

// spMsg is every signalling message, both ways.
type spMsg struct {
	Type      string                   `json:"type"`
	SDP       string                   `json:"sdp,omitempty"`
	Session   string                   `json:"session,omitempty"`
	Codec     string                   `json:"codec,omitempty"`
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`
	Call      string                   `json:"call,omitempty"`
	Digits    string                   `json:"digits,omitempty"`
	Reason    string                   `json:"reason,omitempty"`
	Message   string                   `json:"message,omitempty"`
	Caller    string                   `json:"caller,omitempty"`
	Line      string                   `json:"line,omitempty"`
	Dialled   string                   `json:"dialled,omitempty"`
	WaitMS    int64                    `json:"wait_ms,omitempty"`
	TimeoutMS int64                    `json:"timeout_ms,omitempty"`
	Pop       json.RawMessage          `json:"pop,omitempty"`
	// transfer, conference and agent state
	Queue       string `json:"queue,omitempty"`
	Destination string `json:"destination,omitempty"`
	State       string `json:"state,omitempty"`
	Request     string `json:"request,omitempty"`
	WrapUpMS    int64  `json:"wrapup_ms,omitempty"`
}

// Request is what the agent asks of the call layer from the page.
type Request struct {
	Type        string // transfer, conference, ready, break, wrapup-done
	Call        string // transfer and conference: the accepted call
	Queue       string // transfer to a queue
	Destination string // transfer or conference with a configured destination (department)
	Reason      string // break
}

// maxName bounds the queue, destination and reason names a page may send.
const maxName = 64

// parseRequest checks a transfer, conference or agent message from the page.
func parseRequest(m spMsg) (Request, error) {
	for _, f := range []string{m.Queue, m.Destination, m.Reason} {
		if len(f) > maxName {
			return Request{}, fmt.Errorf("names are at most %d bytes", maxName)
		}
	}
	switch m.Type {
	case "transfer":
		if m.Call == "" {
			return Request{}, errors.New("transfer: no call")
		}
		if (m.Queue == "") == (m.Destination == "") {
			return Request{}, errors.New("transfer: give either a queue or a destination")
		}
		return Request{Type: m.Type, Call: m.Call, Queue: m.Queue, Destination: m.Destination}, nil
	case "conference":
		if m.Call == "" || m.Destination == "" || m.Queue != "" {
			return Request{}, errors.New("conference: give the call and a destination")
		}
		return Request{Type: m.Type, Call: m.Call, Destination: m.Destination}, nil
	case "agent":
		switch m.State {
		case "ready", "wrapup-done":
			return Request{Type: m.State}, nil
		case "break":
			if strings.TrimSpace(m.Reason) == "" {
				return Request{}, errors.New("a break needs a reason")
			}
			return Request{Type: "break", Reason: m.Reason}, nil
		}
		return Request{}, fmt.Errorf("agent: unknown state %q (ready, break, wrapup-done)", m.State)
	}
	return Request{}, fmt.Errorf("unknown request %q", m.Type)
}

// AgentState is the agent's ACD state as the page shows it (Notify).
type AgentState struct {
	State  string        // ready, reserved, on-call, wrap-up, break, logged-out
	Reason string        // a break's reason
	WrapUp time.Duration // wrap-up: how long it lasts from now, for the page's timer
}

// spSocket is one open WebSocket of an agent's page.
type spSocket struct {
	agent string
	conn  *websocket.Conn
}

// send writes one message; a page that cannot take it in 5 s is treated as gone.
func (k *spSocket) send(m spMsg) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return k.conn.Write(ctx, websocket.MessageText, b)
}

// Handler is the softphone's WebSocket endpoint. agentID says who the caller's
// authentication makes them; false answers 401.
func (s *Softphones) Handler(agentID func(*http.Request) (string, bool)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.setup(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		id, ok := agentID(r)
		if !ok || id == "" {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{OriginPatterns: s.OriginPatterns})
		if err != nil {
			return // Accept has answered
		}
		c.SetReadLimit(64 << 10) // an SDP offer is a few KB
		s.serve(r.Context(), &spSocket{agent: id, conn: c})
	})
}

// serve runs one socket until it closes.
func (s *Softphones) serve(ctx context.Context, k *spSocket) {
	log := s.log.With("agent_id", k.agent)
	if !s.attach(k) {
		_ = k.conn.Close(websocket.StatusGoingAway, ReasonShutdown)
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	var pingDone sync.WaitGroup
	pingDone.Add(1)
	go func() { // keepalive: finds a sleeping laptop or a dead NAT before the next ring does
		defer pingDone.Done()
		t := time.NewTicker(durOr(s.PingInterval, 15*time.Second))
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				pctx, pcancel := context.WithTimeout(ctx, durOr(s.PingInterval, 15*time.Second))
				err := k.conn.Ping(pctx)
				pcancel()
				if err != nil {
					k.conn.CloseNow()
					return
				}
			}
		}
	}()
	reason := ReasonDropped
	defer func() {
		cancel()
		pingDone.Wait()
		k.conn.CloseNow()
		s.detach(k, reason)
	}()

	started := false
	for {
		rctx, rcancel := ctx, context.CancelFunc(func() {})
		if !started {
			// A page that opens the socket and never offers is closed, not kept.
			rctx, rcancel = context.WithTimeout(ctx, durOr(s.OfferTimeout, 10*time.Second))
		}
		_, data, err := k.conn.Read(rctx)
		expired := rctx.Err() != nil && ctx.Err() == nil
		rcancel()
		if err != nil {
			if expired {
				log.Info("softphone: the page sent no offer in time; closing its socket")
			}
			if websocket.CloseStatus(err) == websocket.StatusGoingAway {
				// The tab closed or navigated away: its PeerConnection is gone with it and
				// nothing can resume; a caller must not wait out the grace for a drop.
				reason = ReasonPageClosed
			}
			return
		}
		var m spMsg
		if err := json.Unmarshal(data, &m); err != nil {
			_ = k.send(spMsg{Type: "error", Reason: "bad-message", Message: err.Error()})
			continue
		}
		switch m.Type {
		case "offer":
			if err := s.offer(k, m.SDP); err != nil {
				log.Warn("softphone: offer refused", "err", err)
				_ = k.send(spMsg{Type: "error", Reason: offerErrReason(err), Message: err.Error()})
				continue
			}
			started = true
		case "resume":
			if s.resume(k, m.Session) {
				started = true
			} else {
				_ = k.send(spMsg{Type: "error", Reason: "no-session", Message: "no connection to resume: send an offer"})
			}
		case "candidate":
			if m.Candidate != nil {
				if sess := s.sessionOf(k); sess != nil {
					_ = sess.tr.pc.AddICECandidate(*m.Candidate)
				}
			}
		case "accept", "reject", "hangup":
			s.answerCall(k, m.Type, m.Call)
		case "hold", "unhold", "mute", "unmute":
			s.control(k, m.Type, m.Call)
		case "dtmf":
			s.pageDTMF(k, m.Call, m.Digits)
		case "transfer", "conference", "agent":
			s.request(k, m)
		case "bye":
			reason = ReasonBye
			return
		default:
			_ = k.send(spMsg{Type: "error", Reason: "bad-message", Message: "unknown message type " + m.Type})
		}
	}
}

var errNoG711 = errors.New("the offer has no PCMU or PCMA audio")

func offerErrReason(err error) string {
	if errors.Is(err, errNoG711) {
		return "no-g711"
	}
	return "bad-offer"
}

// attach makes k the agent's socket; an older one of another tab is told and closed.
func (s *Softphones) attach(k *spSocket) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	old := s.sockets[k.agent]
	s.sockets[k.agent] = k
	if sess := s.sessions[k.agent]; sess != nil && old != nil && sess.sock == old {
		sess.sock = nil
		sess.replaced = true // however it ends now (the old tab closes its media), it was replaced
		s.startGraceLocked(sess)
	}
	if old != nil {
		s.wg.Add(1)
	}
	s.mu.Unlock()
	if old != nil {
		// The close handshake may wait for a stuck tab: not on this socket's goroutine.
		go func() {
			defer s.wg.Done()
			_ = old.send(spMsg{Type: "error", Reason: ReasonReplaced, Message: "this softphone was opened in another tab"})
			_ = old.conn.Close(websocket.StatusPolicyViolation, ReasonReplaced)
		}()
	}
	return true
}

// detach forgets a closed socket. Its session waits ResumeWithin for the page to come
// back; a page that said bye ends it at once.
func (s *Softphones) detach(k *spSocket, reason string) {
	s.mu.Lock()
	if s.sockets[k.agent] == k {
		delete(s.sockets, k.agent)
	}
	sess := s.sessions[k.agent]
	if sess == nil || sess.sock != k {
		s.mu.Unlock()
		return
	}
	sess.sock = nil
	if reason != ReasonBye && reason != ReasonPageClosed {
		s.startGraceLocked(sess)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.endSession(sess, reason, false)
}

// setTimerLocked replaces the session's timer. The wait group counts a pending timer
// so that Close waits for one that already fired.
func (s *Softphones) setTimerLocked(sess *session, d time.Duration, f func()) {
	s.stopTimerLocked(sess)
	s.wg.Add(1)
	sess.timer = time.AfterFunc(d, func() { defer s.wg.Done(); f() })
}

func (s *Softphones) stopTimerLocked(sess *session) {
	if sess.timer != nil && sess.timer.Stop() {
		s.wg.Done()
	}
	sess.timer = nil
}

func (s *Softphones) startGraceLocked(sess *session) {
	if sess.gone {
		return
	}
	s.setTimerLocked(sess, durOr(s.ResumeWithin, 5*time.Second), func() {
		s.mu.Lock()
		away := sess.sock == nil
		s.mu.Unlock()
		if away {
			s.endSession(sess, ReasonDropped, false)
		}
	})
}

func (s *Softphones) sessionOf(k *spSocket) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess := s.sessions[k.agent]; sess != nil && sess.sock == k {
		return sess
	}
	return nil
}

// resume reattaches the page's socket to its still-connected shift connection.
func (s *Softphones) resume(k *spSocket, token string) bool {
	s.mu.Lock()
	sess := s.sessions[k.agent]
	if sess == nil || sess.gone || token == "" || sess.token != token || !sess.ready ||
		s.sockets[k.agent] != k || sess.tr.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
		s.mu.Unlock()
		return false
	}
	s.stopTimerLocked(sess)
	sess.sock = k
	sess.replaced = false
	msg := spMsg{Type: "resumed", Session: sess.token, Codec: sess.codec.String()}
	var ring *spMsg
	if c := sess.call; c != nil {
		msg.Call = c.id
		if c.state == callRinging {
			msg.Reason = "ringing"
			ring = &c.ring // the new socket never saw it: ring again
		} else {
			msg.Reason = "active"
		}
	}
	s.mu.Unlock()
	_ = k.send(msg)
	s.sendState(k)
	if ring != nil {
		_ = k.send(*ring)
	}
	return true
}

// offer builds a new shift connection from the browser's offer and answers it. An
// earlier connection of the agent ends (its call, if any, vanishes as replaced).
func (s *Softphones) offer(k *spSocket, offerSDP string) error {
	codec, tePT, teFmtp, err := pickG711(offerSDP)
	if err != nil {
		return err
	}
	tr, err := s.newPeer(codec, tePT, teFmtp)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		_ = tr.Close()
		return err
	}
	if err := tr.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return fail(err)
	}
	sender, err := tr.pc.AddTrack(tr.track)
	if err != nil {
		return fail(err)
	}
	answer, err := tr.pc.CreateAnswer(nil)
	if err != nil {
		return fail(err)
	}
	gathered := webrtc.GatheringCompletePromise(tr.pc)
	if err := tr.pc.SetLocalDescription(answer); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return fail(errors.New("ICE gathering did not complete"))
	}
	leg, err := s.Engine.NewLeg(media.RTPLegOptions{ID: "softphone-" + k.agent}, tr)
	if err != nil {
		return fail(err)
	}
	leg.Configure(media.Remote{Codec: codec, DTMFPT: tePT, Send: true, Recv: true})
	sess := &session{agent: k.agent, token: newToken(), tr: tr, leg: leg, codec: codec, offered: time.Now()}

	s.mu.Lock()
	if s.closed || s.sockets[k.agent] != k {
		s.mu.Unlock()
		_ = leg.Close()
		return errors.New("the socket was replaced or the server is shutting down")
	}
	old := s.sessions[k.agent]
	s.sessions[k.agent] = sess
	sess.sock = k
	s.setTimerLocked(sess, durOr(s.ConnectTimeout, 15*time.Second), func() {
		s.mu.Lock()
		ready := sess.ready
		s.mu.Unlock()
		if !ready {
			s.endSession(sess, ReasonConnectTimeout, true)
		}
	})
	s.wg.Add(1)
	s.mu.Unlock()
	s.m.sessions.Inc()
	if old != nil {
		s.endSession(old, ReasonReplaced, false)
	}

	// pion runs these callbacks on its own goroutines; ending the session closes the
	// PeerConnection, which waits for those goroutines, so it runs on one of ours.
	tr.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			s.connected(sess)
		case webrtc.PeerConnectionStateFailed:
			s.goEnd(sess, ReasonICEFailed)
		case webrtc.PeerConnectionStateClosed:
			s.mediaClosed(sess)
		}
	})
	tr.onDead = func() { s.mediaClosed(sess) }
	go func() { // RTCP from the browser must be read for the report interceptor to see it
		defer s.wg.Done()
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	if err := leg.Start(); err != nil {
		s.endSession(sess, ReasonShutdown, false)
		return err
	}
	ld := tr.pc.LocalDescription()
	if err := k.send(spMsg{Type: "answer", SDP: ld.SDP, Session: sess.token, Codec: codec.String()}); err != nil {
		s.endSession(sess, ReasonDropped, false)
		return err
	}
	// The state may have turned connected before the callback was set.
	if tr.pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		s.connected(sess)
	}
	return nil
}

// byeGrace is how long a session whose browser closed its media waits, while the
// page's socket is still there, for the page's own word (a "bye" or the socket
// closing) before it ends as media-closed.
const byeGrace = 500 * time.Millisecond

// mediaClosed ends a session whose browser closed its side of the media. A page that
// ends the shift sends "bye" and closes its peer connection at once, and the DTLS
// close can overtake the bye: with the socket attached, the end waits byeGrace so
// that the reason given is the page's.
func (s *Softphones) mediaClosed(sess *session) {
	s.mu.Lock()
	waiting := sess.byeWait != nil
	wait := !waiting && sess.sock != nil && !sess.gone && !s.closed
	if wait {
		sess.byeWait = time.AfterFunc(byeGrace, func() { s.goEnd(sess, ReasonMediaClosed) })
	}
	s.mu.Unlock()
	if !waiting && !wait {
		s.goEnd(sess, ReasonMediaClosed)
	}
}

func (s *Softphones) goEnd(sess *session, reason string) {
	s.mu.Lock()
	if sess.gone || s.closed {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.endSession(sess, reason, true)
	}()
}

func (s *Softphones) connected(sess *session) {
	s.mu.Lock()
	if sess.gone || sess.ready {
		s.mu.Unlock()
		return
	}
	sess.ready = true
	if sess.sock != nil {
		s.stopTimerLocked(sess)
	} else {
		s.startGraceLocked(sess)
	}
	sock := sess.sock
	s.mu.Unlock()
	s.m.connect.Observe(time.Since(sess.offered).Seconds())
	if sock != nil {
		_ = sock.send(spMsg{Type: "ready", Session: sess.token, Codec: sess.codec.String()})
		s.sendState(sock)
	}
	if s.OnReady != nil {
		s.OnReady(sess.agent)
	}
}

// endSession closes a shift connection for good and tells whoever must know.
func (s *Softphones) endSession(sess *session, reason string, tellPage bool) {
	s.mu.Lock()
	if sess.gone {
		s.mu.Unlock()
		return
	}
	sess.gone = true
	if sess.byeWait != nil {
		sess.byeWait.Stop()
	}
	if sess.replaced {
		reason = ReasonReplaced
	}
	if s.sessions[sess.agent] == sess {
		delete(s.sessions, sess.agent)
	}
	s.stopTimerLocked(sess)
	callID := ""
	if c := sess.call; c != nil {
		if c.state == callActive {
			callID = c.id
		}
		s.endCallLocked(c, reason, ErrOffline)
	}
	sock, wasReady := sess.sock, sess.ready
	s.mu.Unlock()
	s.m.sessions.Dec()
	s.m.gone.WithLabelValues(reason).Inc()
	_ = sess.leg.Close() // closes the PeerConnection too
	if tellPage && sock != nil {
		_ = sock.send(spMsg{Type: "error", Reason: reason, Message: "the audio connection ended; reconnecting"})
	}
	s.log.Info("softphone: shift connection ended", "agent_id", sess.agent, "reason", reason, "call_id", callID)
	if wasReady && s.OnVanish != nil {
		s.OnVanish(sess.agent, callID, reason)
	}
}

// Connected reports whether the agent's softphone can take a call now.
func (s *Softphones) Connected(agentID string) bool {
	if s.setup() != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[agentID]
	return sess != nil && sess.ready && sess.sock != nil
}

// Ring offers a call to the agent's page and waits for the answer. On accept it
// returns the call's leg, ready to bridge (media.Bridge): it is the agent's shift leg
// seen through a call-scoped wrapper, which stops relaying when the call ends. Rejection,
// timeout, ctx and a vanished softphone return an error; the page stops ringing.
func (s *Softphones) Ring(ctx context.Context, agentID string, info RingInfo) (*CallLeg, error) {
	if err := s.setup(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	sess := s.sessions[agentID]
	if sess == nil || !sess.ready || sess.sock == nil || sess.gone {
		s.mu.Unlock()
		s.m.rings.WithLabelValues("offline").Inc()
		return nil, ErrOffline
	}
	if sess.call != nil {
		s.mu.Unlock()
		s.m.rings.WithLabelValues("busy").Inc()
		return nil, ErrBusy
	}
	id := info.CallID
	if id == "" {
		id = newToken()
	}
	timeout := durOr(info.Timeout, durOr(s.RingTimeout, 20*time.Second))
	c := &CallLeg{s: s, sess: sess, id: id, state: callRinging, answer: make(chan error, 1), done: make(chan struct{}),
		ring: spMsg{Type: "ring", Call: id, Caller: info.Caller, Line: info.Line, Dialled: info.Dialled,
			WaitMS: info.Wait.Milliseconds(), TimeoutMS: timeout.Milliseconds(), Pop: info.Pop}}
	sess.call = c
	sock := sess.sock
	s.mu.Unlock()

	if err := sock.send(c.ring); err != nil {
		s.cancelRing(c, "offline", ErrOffline)
		return nil, ErrOffline
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-c.answer:
		if err != nil {
			s.m.rings.WithLabelValues(outcomeOf(err)).Inc()
			return nil, err
		}
		s.m.rings.WithLabelValues("accepted").Inc()
		return c, nil
	case <-t.C:
		s.cancelRing(c, "timeout", ErrRingTimeout)
		return nil, ErrRingTimeout
	case <-ctx.Done():
		s.cancelRing(c, "cancelled", ctx.Err())
		return nil, ctx.Err()
	}
}

func outcomeOf(err error) string {
	switch {
	case errors.Is(err, ErrRejected):
		return "rejected"
	case errors.Is(err, ErrOffline):
		return "offline"
	}
	return "error"
}

// cancelRing ends a call Ring gives up on, also one the agent accepted at that moment.
func (s *Softphones) cancelRing(c *CallLeg, reason string, err error) {
	s.m.rings.WithLabelValues(reason).Inc()
	s.mu.Lock()
	if c.state == callEnded {
		s.mu.Unlock()
		return
	}
	s.endCallLocked(c, reason, err)
	sock := c.sess.sock
	s.mu.Unlock()
	if sock != nil {
		_ = sock.send(spMsg{Type: "hangup", Call: c.id, Reason: reason})
	}
}

// Hangup ends the agent's current call from the server side (the caller hung up, or
// the call layer moved it) and tells the page. It does nothing without a call.
func (s *Softphones) Hangup(agentID string) {
	if s.setup() != nil {
		return
	}
	s.mu.Lock()
	sess := s.sessions[agentID]
	if sess == nil || sess.call == nil {
		s.mu.Unlock()
		return
	}
	c := sess.call
	s.mu.Unlock()
	c.hangup(ReasonServerHangup)
}

// answerCall handles the page's accept, reject and hangup.
func (s *Softphones) answerCall(k *spSocket, action, callID string) {
	s.mu.Lock()
	sess := s.sessions[k.agent]
	if sess == nil || sess.sock != k || sess.call == nil || sess.call.id != callID {
		s.mu.Unlock()
		if action != "hangup" { // a hangup crossing ours is no news
			_ = k.send(spMsg{Type: "error", Reason: "no-such-call", Call: callID, Message: "no such call ringing or active"})
		}
		return
	}
	c := sess.call
	switch {
	case action == "accept" && c.state == callRinging:
		c.state = callActive
		for len(sess.leg.Digits()) > 0 { // keys pressed between calls are not this call's
			<-sess.leg.Digits()
		}
		c.answer <- nil
		s.mu.Unlock()
	case c.state == callRinging: // reject, or hangup while ringing
		s.endCallLocked(c, "rejected", ErrRejected)
		s.mu.Unlock()
	case action == "hangup" && c.state == callActive:
		s.endCallLocked(c, ReasonAgentHangup, nil)
		s.mu.Unlock()
		if s.OnHangup != nil {
			s.OnHangup(k.agent, callID)
		}
	default:
		s.mu.Unlock()
	}
}

func (s *Softphones) control(k *spSocket, action, callID string) {
	s.mu.Lock()
	sess := s.sessions[k.agent]
	ok := sess != nil && sess.sock == k && sess.call != nil && sess.call.id == callID && sess.call.state == callActive
	s.mu.Unlock()
	if ok && s.OnControl != nil {
		s.OnControl(k.agent, callID, action)
	}
}

// request hands a transfer, conference or state change to the call layer and answers
// the page with done or error.
func (s *Softphones) request(k *spSocket, m spMsg) {
	req, err := parseRequest(m)
	if err != nil {
		_ = k.send(spMsg{Type: "error", Reason: "bad-message", Request: m.Type, Call: m.Call, Message: err.Error()})
		return
	}
	if req.Call != "" {
		s.mu.Lock()
		sess := s.sessions[k.agent]
		ok := sess != nil && sess.sock == k && sess.call != nil && sess.call.id == req.Call && sess.call.state == callActive
		s.mu.Unlock()
		if !ok {
			_ = k.send(spMsg{Type: "error", Reason: "no-such-call", Request: m.Type, Call: req.Call, Message: "no such call active"})
			return
		}
	}
	if s.OnRequest == nil {
		err = errors.New("not available")
	} else {
		err = s.OnRequest(k.agent, req)
	}
	if err != nil {
		_ = k.send(spMsg{Type: "error", Reason: "refused", Request: m.Type, Call: req.Call, Message: err.Error()})
		return
	}
	_ = k.send(spMsg{Type: "done", Request: m.Type, Call: req.Call})
}

// Notify tells the agent's page their ACD state (the wrap-up timer, a break's reason).
// The last state is kept and sent again to a page that (re)connects.
func (s *Softphones) Notify(agentID string, st AgentState) {
	if s.setup() != nil {
		return
	}
	m := spMsg{Type: "agent", State: st.State, Reason: st.Reason, WrapUpMS: st.WrapUp.Milliseconds()}
	s.mu.Lock()
	s.states[agentID] = agentNote{m: m, at: time.Now()}
	k := s.sockets[agentID]
	s.mu.Unlock()
	if k != nil {
		_ = k.send(m)
	}
}

// agentNote is the last agent state sent; a wrap-up timer counts down from at.
type agentNote struct {
	m  spMsg
	at time.Time
}

// sendState sends the agent's last known state to a socket that just became theirs.
func (s *Softphones) sendState(k *spSocket) {
	s.mu.Lock()
	n, ok := s.states[k.agent]
	s.mu.Unlock()
	if !ok {
		return
	}
	if n.m.WrapUpMS > 0 {
		n.m.WrapUpMS = max(0, n.m.WrapUpMS-time.Since(n.at).Milliseconds())
	}
	_ = k.send(n.m)
}

// pageDTMF takes keys the page sends by signalling, for a browser whose RTCDTMFSender
// cannot send RFC 4733 (normally the keys arrive in the media and this is not used).
func (s *Softphones) pageDTMF(k *spSocket, callID, digits string) {
	s.mu.Lock()
	sess := s.sessions[k.agent]
	ok := sess != nil && sess.sock == k && sess.call != nil && sess.call.id == callID && sess.call.state == callActive
	s.mu.Unlock()
	if !ok || len(digits) > 32 {
		return
	}
	for i := 0; i < len(digits); i++ {
		if strings.IndexByte("0123456789*#ABCD", digits[i]) >= 0 {
			sess.leg.InjectDigit(media.Digit{Key: digits[i], At: time.Now(), Source: media.DigitINFO})
		}
	}
}

// Close ends every softphone and waits for the goroutines the softphones started.
// Sockets are closed; their handlers return.
func (s *Softphones) Close() error {
	if s.setup() != nil {
		return nil
	}
	s.mu.Lock()
	s.closed = true
	var sessions []*session
	for _, sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	var socks []*spSocket
	for _, k := range s.sockets {
		socks = append(socks, k)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		s.endSession(sess, ReasonShutdown, true)
	}
	for _, k := range socks {
		k.conn.CloseNow()
	}
	s.wg.Wait()
	return nil
}

func newToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Call states, guarded by Softphones.mu.
const (
	callRinging = iota
	callActive
	callEnded
)

// CallLeg is one accepted call on an agent's softphone: a media.Leg over the shift's
// leg that is valid for this call only. When the call ends (either side, or the
// softphone vanishes) Done closes, its taps are removed, its Inbound readers go quiet
// and SetOutbound is ignored, so nothing of this call leaks into the agent's next one.
type CallLeg struct {
	s      *Softphones
	sess   *session
	id     string
	answer chan error
	done   chan struct{}
	ended  atomic.Bool
	ring   spMsg // the ring message, sent again to a page that resumes while it rings
	// guarded by Softphones.mu
	state   int
	reason  string
	removes []func()
}

var _ media.Leg = (*CallLeg)(nil)

// endCallLocked ends c; a Ring still waiting gets err.
func (s *Softphones) endCallLocked(c *CallLeg, reason string, err error) {
	if c.state == callEnded {
		return
	}
	if c.state == callRinging {
		c.answer <- err
	}
	c.state = callEnded
	c.reason = reason
	c.ended.Store(true)
	if c.sess.call == c {
		c.sess.call = nil
	}
	for _, r := range c.removes {
		r()
	}
	c.removes = nil
	c.sess.leg.SetOutbound(nil)
	close(c.done)
}

func (c *CallLeg) hangup(reason string) {
	c.s.mu.Lock()
	if c.state == callEnded {
		c.s.mu.Unlock()
		return
	}
	c.s.endCallLocked(c, reason, ErrOffline)
	sock := c.sess.sock
	c.s.mu.Unlock()
	if sock != nil {
		_ = sock.send(spMsg{Type: "hangup", Call: c.id, Reason: reason})
	}
}

// ID is the call's id (RingInfo.CallID).
func (c *CallLeg) ID() string { return c.id }

// Codec is the G.711 variant the browser negotiated: bridge a trunk leg of the same
// codec and no sample is transcoded.
func (c *CallLeg) Codec() media.Codec { return c.sess.codec }

// Stats are the shift leg's RTP figures.
func (c *CallLeg) Stats() media.LegStats { return c.sess.leg.Stats() }

// EndReason says why the call ended ("" while it lasts).
func (c *CallLeg) EndReason() string {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.reason
}

func (c *CallLeg) Inbound() media.Source { return &callSource{c: c, src: c.sess.leg.Inbound()} }

func (c *CallLeg) SetOutbound(src media.Source) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.state == callActive {
		c.sess.leg.SetOutbound(src)
	}
}

func (c *CallLeg) Tap(dir media.Direction, sink media.Sink) (remove func()) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.state != callActive {
		return func() {}
	}
	r := c.sess.leg.Tap(dir, sink)
	c.removes = append(c.removes, r)
	return r // removing twice is harmless: the leg's remover runs once
}

// BridgeRTP bridges the call with another party's RTP leg as media.Bridge does: when
// the codecs match, each side's packets are relayed as they arrive, with no jitter buffer
// and no transcoding. The relay ends with the call, and the other leg's outbound is
// cleared then, so nothing of the agent's next call can reach that party. A later
// SetOutbound on either side (hold, mute) ends the relay too. False once the call ended.
func (c *CallLeg) BridgeRTP(other *media.RTPLeg) bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.state != callActive {
		return false
	}
	media.Bridge(other, c.sess.leg)
	c.removes = append(c.removes, func() { other.SetOutbound(nil) })
	return true
}

// Digits are the keys the agent presses (RFC 4733 from RTCDTMFSender). The channel is
// the shift's; keys left over from an earlier call are dropped at accept.
func (c *CallLeg) Digits() <-chan media.Digit { return c.sess.leg.Digits() }

func (c *CallLeg) Done() <-chan struct{} { return c.done }

// SendDTMF plays RFC 4733 keys to the agent's page.
func (c *CallLeg) SendDTMF(keys string, dur time.Duration) error {
	return c.sess.leg.SendDTMF(keys, dur)
}

// Close ends the call from the server side and tells the page; the shift connection
// stays up for the next call.
func (c *CallLeg) Close() error {
	c.hangup(ReasonServerHangup)
	return nil
}

// callSource reads the agent's voice for one call only.
type callSource struct {
	c   *CallLeg
	src media.Source
}

func (cs *callSource) ReadFrame(codec media.Codec, p []byte) bool {
	if cs.c.ended.Load() {
		return false
	}
	return cs.src.ReadFrame(codec, p)
}

// pickG711 finds the first PCMU or PCMA in the offer's first audio section, in the
// browser's order, and its telephone-event/8000.
func pickG711(offer string) (codec media.Codec, tePT uint8, teFmtp string, err error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal([]byte(offer)); err != nil {
		return 0, 0, "", fmt.Errorf("the offer is not valid SDP: %w", err)
	}
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" {
			continue
		}
		found := false
		for _, f := range md.MediaName.Formats {
			var pt uint8
			if _, err := fmt.Sscan(f, &pt); err != nil {
				continue
			}
			name, rate, fmtp := rtpmapOf(md, pt)
			switch {
			case !found && (strings.EqualFold(name, "PCMU") || (name == "" && pt == 0)) && (rate == 8000 || rate == 0):
				codec, found = media.PCMU, true
			case !found && (strings.EqualFold(name, "PCMA") || (name == "" && pt == 8)) && (rate == 8000 || rate == 0):
				codec, found = media.PCMA, true
			case tePT == 0 && strings.EqualFold(name, "telephone-event") && rate == 8000:
				tePT, teFmtp = pt, fmtp
			}
		}
		if !found {
			return 0, 0, "", errNoG711
		}
		return codec, tePT, teFmtp, nil
	}
	return 0, 0, "", errNoG711
}

// rtpmapOf reads a payload type's rtpmap and fmtp in one media section.
func rtpmapOf(md *sdp.MediaDescription, pt uint8) (name string, rate uint32, fmtp string) {
	prefix := fmt.Sprintf("%d ", pt)
	for _, a := range md.Attributes {
		switch a.Key {
		case "rtpmap":
			if v, ok := strings.CutPrefix(a.Value, prefix); ok {
				n, r, _ := strings.Cut(v, "/")
				name = n
				r, _, _ = strings.Cut(r, "/")
				_, _ = fmt.Sscan(r, &rate)
			}
		case "fmtp":
			if v, ok := strings.CutPrefix(a.Value, prefix); ok {
				fmtp = v
			}
		}
	}
	return name, rate, fmtp
}

// newPeer makes a PeerConnection that can only speak the chosen G.711 variant (and
// telephone-event), so the answer names exactly one audio codec.
func (s *Softphones) newPeer(codec media.Codec, tePT uint8, teFmtp string) (*pcTransport, error) {
	me := &webrtc.MediaEngine{}
	mime := webrtc.MimeTypePCMU
	if codec == media.PCMA {
		mime = webrtc.MimeTypePCMA
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 8000},
		PayloadType:        webrtc.PayloadType(codec),
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if tePT != 0 {
		if err := me.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: mimeTelephoneEvent, ClockRate: 8000, SDPFmtpLine: teFmtp},
			PayloadType:        webrtc.PayloadType(tePT),
		}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
	}
	return newPCTransport(me, s.settingEngine(), s.ICEServers, mime)
}

const mimeTelephoneEvent = "audio/telephone-event"

func (s *Softphones) settingEngine() webrtc.SettingEngine {
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// A closed tab is noticed by the socket first; a broken path fails in 10 s, not 30.
	se.SetICETimeouts(4*time.Second, 10*time.Second, 2*time.Second)
	if s.Settings != nil {
		s.Settings(&se)
	}
	return se
}

// pcTransport is a media.Transport over one PeerConnection's audio: the leg writes to
// a local track and reads the browser's remote track.
type pcTransport struct {
	pc     *webrtc.PeerConnection
	track  *legTrack
	remote atomic.Pointer[webrtc.TrackRemote]
	ready  chan struct{} // closed when the remote track arrives
	closed chan struct{}
	once   sync.Once
	rOnce  sync.Once
	// onDead is called once when the remote track ends while we did not close: the
	// browser went away. Set before the leg starts.
	onDead func()
	dead   sync.Once
}

var _ media.Transport = (*pcTransport)(nil)

func newPCTransport(me *webrtc.MediaEngine, se webrtc.SettingEngine, servers []webrtc.ICEServer, mime string) (*pcTransport, error) {
	ir := &interceptor.Registry{}
	// Sender and receiver reports only: G.711 needs no NACK, TWCC or FEC.
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	api := webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se))
	pc, err := api.NewPeerConnection(webrtc.Configuration{ICEServers: servers})
	if err != nil {
		return nil, err
	}
	t := &pcTransport{pc: pc, track: &legTrack{mime: mime}, ready: make(chan struct{}), closed: make(chan struct{})}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		t.rOnce.Do(func() {
			t.remote.Store(tr)
			close(t.ready)
		})
	})
	return t, nil
}

func (t *pcTransport) ReadRTP(b []byte) (int, netip.AddrPort, error) {
	select {
	case <-t.ready:
	case <-t.closed:
		return 0, netip.AddrPort{}, errors.New("softphone: transport closed")
	}
	n, _, err := t.remote.Load().Read(b)
	if err != nil {
		// Every error of a remote track is final (its buffer closed). Said as net.ErrClosed
		// so that the leg's read loop ends instead of retrying a dead track.
		select {
		case <-t.closed:
		default:
			if t.onDead != nil {
				t.dead.Do(t.onDead)
			}
		}
		return 0, netip.AddrPort{}, fmt.Errorf("%w: %v", net.ErrClosed, err)
	}
	return n, netip.AddrPort{}, nil
}

func (t *pcTransport) WriteRTP(b []byte, _ netip.AddrPort) error { return t.track.write(b) }

func (t *pcTransport) SinglePeer() bool { return true }

// Close closes the PeerConnection and waits for pion's goroutines. Never call it from
// a pion callback.
func (t *pcTransport) Close() error {
	var err error
	t.once.Do(func() {
		close(t.closed)
		err = t.pc.GracefulClose()
	})
	return err
}

// legTrack is a local audio track that sends the leg's packets as they are. pion's
// TrackLocalStaticRTP would overwrite every packet's payload type with the codec's,
// which turns the leg's RFC 4733 events into noise; this one rewrites only the SSRC.
type legTrack struct {
	mime    string // preferred G.711 variant
	binding atomic.Pointer[trackBinding]
	hdr     rtp.Header // the writer's (one leg's pacer at a time)
}

type trackBinding struct {
	ssrc uint32
	ws   webrtc.TrackLocalWriter
	id   string
}

var _ webrtc.TrackLocal = (*legTrack)(nil)

func (t *legTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	var pick *webrtc.RTPCodecParameters
	for i, c := range ctx.CodecParameters() {
		m := strings.ToLower(c.MimeType)
		if m == strings.ToLower(t.mime) {
			pick = &ctx.CodecParameters()[i]
			break
		}
		if pick == nil && (m == "audio/pcmu" || m == "audio/pcma") {
			pick = &ctx.CodecParameters()[i]
		}
	}
	if pick == nil {
		return webrtc.RTPCodecParameters{}, webrtc.ErrUnsupportedCodec
	}
	t.binding.Store(&trackBinding{ssrc: uint32(ctx.SSRC()), ws: ctx.WriteStream(), id: ctx.ID()})
	return *pick, nil
}

func (t *legTrack) Unbind(ctx webrtc.TrackLocalContext) error {
	if b := t.binding.Load(); b != nil && b.id == ctx.ID() {
		t.binding.Store(nil)
	}
	return nil
}

func (t *legTrack) ID() string                { return "audio" }
func (t *legTrack) RID() string               { return "" }
func (t *legTrack) StreamID() string          { return "hotline" }
func (t *legTrack) Kind() webrtc.RTPCodecType { return webrtc.RTPCodecTypeAudio }

// write sends one of the leg's packets; before DTLS is up it is dropped, as a network would.
func (t *legTrack) write(b []byte) error {
	bd := t.binding.Load()
	if bd == nil {
		return nil
	}
	n, err := t.hdr.Unmarshal(b)
	if err != nil {
		return err
	}
	t.hdr.SSRC = bd.ssrc
	_, err = bd.ws.WriteRTP(&t.hdr, b[n:])
	return err
}

//go:embed web/softphone.js
var softphoneJS []byte

// SoftphoneScript serves web/softphone.js (the page's side of this file).
func SoftphoneScript() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(softphoneJS)
	})
}
