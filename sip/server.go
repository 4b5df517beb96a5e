// Package sip owns the SIP side of hotline: trunks (by source address, optional digest
// auth), INVITE/ACK/BYE/CANCEL/OPTIONS/INFO and re-INVITE on sipgo, SDP offer/answer on
// pion/sdp, and admission control (503 with Retry-After past capacity). It hands each
// admitted call, with its media leg, to a CallHandler — shaped like net/http — whose
// goroutine owns the call for its life. SIP code never touches audio samples.
package sip

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-12345/hotline/media"
	"github.com/prometheus/client_golang/prometheus"
)

// CallHandler answers calls. ctx ends when the caller hangs up (BYE or CANCEL), on RTP
// timeout, at the maximum call length, or at the end of a drain.
type CallHandler interface {
	HandleCall(ctx context.Context, c *InboundCall)
}

// CallHandlerFunc adapts a function to CallHandler.
type CallHandlerFunc func(ctx context.Context, c *InboundCall)

func (f CallHandlerFunc) HandleCall(ctx context.Context, c *InboundCall) { f(ctx, c) }

// Trunk is a carrier connection, recognised by the source address of its requests.
type Trunk struct {
	Name    string
	Sources []netip.Prefix
	// Username and Password, when set, require digest authentication of every INVITE.
	Username, Password string
	// DTMF is how the trunk sends digits: "rfc4733" (default), "inband" or "info".
	DTMF string
}

// Config configures a Server. Zero values take the defaults named.
type Config struct {
	// Host is the address put in Contact headers (default: the listen host).
	Host   string
	Trunks []Trunk
	// Numbers reports whether a dialled number is served; others get 404.
	Numbers func(dialled string) bool
	// Codecs in order of preference (default PCMU, PCMA).
	Codecs []media.Codec
	// MaxCalls and MaxCPS bound concurrent calls and new calls per second (0: unlimited).
	MaxCalls int
	MaxCPS   float64
	// RetryAfter is sent with 503 (default 5 s; rounded up to whole seconds).
	RetryAfter time.Duration
	// MaxCallDuration ends any call after this long (default 4 h; negative: no limit).
	MaxCallDuration time.Duration
	// RTPTimeout ends a call after this long without RTP while not on hold (default 30 s; negative: never).
	RTPTimeout time.Duration
	// AgentPassword gives the SIP password of an agent (by id), for REGISTER and feature
	// codes from desk phones; nil: agents' phones cannot register.
	AgentPassword func(agentID string) (string, bool)
	// OnRegistrationExpired is called (on its own goroutine) when an agent's phone
	// registration ends without renewal.
	OnRegistrationExpired func(agentID string)
	// UserAgent is the name sent in User-Agent and Server headers.
	UserAgent  string
	Media      *media.Engine
	Handler    CallHandler
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

// Server is a SIP user agent server for trunk calls.
type Server struct {
	cfg       Config
	log       *slog.Logger
	ua        *sipgo.UserAgent
	srv       *sipgo.Server
	client    *sipgo.Client
	dialogUA  *sipgo.DialogUA
	adm       *admission
	m         *sipMetrics
	nonces    *nonceStore
	calls     sync.Map // sipgo.Dialog ID → *InboundCall
	outbound  sync.Map // sipgo.Dialog ID → *OutboundCall
	reg       *registrar
	active    atomic.Int64
	admitMu   sync.Mutex // orders admission against the start of a drain
	draining  atomic.Bool
	baseCtx   context.Context
	cancelAll context.CancelCauseFunc

	mu        sync.Mutex
	listeners []net.Listener
	packets   []net.PacketConn
	addr      netip.AddrPort
}

type sipMetrics struct {
	requests  *prometheus.CounterVec
	responses *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	setup     prometheus.Histogram
}

// ErrDraining ends calls still up when a drain's deadline passes.
var ErrDraining = errors.New("server draining")

// NewServer prepares a server; Serve starts it.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Media == nil || cfg.Handler == nil {
		return nil, errors.New("sip: Media and Handler are required")
	}
	if len(cfg.Codecs) == 0 {
		cfg.Codecs = []media.Codec{media.PCMU, media.PCMA}
	}
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	if cfg.MaxCallDuration == 0 {
		cfg.MaxCallDuration = 4 * time.Hour
	}
	if cfg.RTPTimeout == 0 {
		cfg.RTPTimeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "hotline"
	}
	if cfg.Numbers == nil {
		cfg.Numbers = func(string) bool { return true }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, adm: newAdmission(cfg.MaxCalls, cfg.MaxCPS), nonces: newNonceStore(),
		reg: newRegistrar()}
	s.m = &sipMetrics{
		requests:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_sip_requests_total", Help: "SIP requests received, by method."}, []string{"method"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_sip_responses_total", Help: "SIP final and provisional responses sent, by status code."}, []string{"code"}),
		rejected:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_admission_rejections_total", Help: "INVITEs refused with 503, by reason (capacity, rate, draining, ports)."}, []string{"reason"}),
		setup: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotline_sip_invite_to_answer_seconds", Help: "Time from INVITE received to 200 OK sent.",
			Buckets: []float64{0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5}}),
	}
	for _, c := range []prometheus.Collector{s.m.requests, s.m.responses, s.m.rejected, s.m.setup} {
		if err := cfg.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("sip metrics: %w", err)
		}
	}
	s.baseCtx, s.cancelAll = context.WithCancelCause(context.Background())
	go s.expireRegistrations()
	return s, nil
}

// listenBoth binds UDP on addr, then TCP on the port UDP got. With port 0 the UDP port
// the kernel picks may be taken for TCP (another listener, or an outgoing connection's
// local port), so it picks again a few times before giving up.
func listenBoth(addr string) (net.PacketConn, net.Listener, netip.AddrPort, error) {
	_, port, _ := net.SplitHostPort(addr)
	tries := 1
	if port == "0" {
		tries = 20
	}
	for i := 1; ; i++ {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, netip.AddrPort{}, fmt.Errorf("sip: listen udp %s: %w", addr, err)
		}
		ap := pc.LocalAddr().(*net.UDPAddr).AddrPort()
		ln, err := net.Listen("tcp", ap.String())
		if err == nil {
			return pc, ln, ap, nil
		}
		pc.Close()
		if i >= tries {
			return nil, nil, netip.AddrPort{}, fmt.Errorf("sip: listen tcp %s: %w", ap, err)
		}
	}
}

// Listen binds UDP and TCP on addr (host:port; port 0 picks one, the same for both).
func (s *Server) Listen(addr string) (netip.AddrPort, error) {
	pc, ln, ap, err := listenBoth(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if uc, ok := pc.(*net.UDPConn); ok {
		_ = uc.SetReadBuffer(4 << 20)
	}
	host := s.cfg.Host
	if host == "" {
		host = ap.Addr().String()
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(s.cfg.UserAgent), sipgo.WithUserAgentHostname(host))
	if err != nil {
		return netip.AddrPort{}, err
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(s.log))
	if err != nil {
		return netip.AddrPort{}, err
	}
	client, err := sipgo.NewClient(ua, sipgo.WithClientHostname(host), sipgo.WithClientPort(int(ap.Port())),
		// Send from the listening socket: carriers and phones see one address for hotline.
		sipgo.WithClientConnectionAddr(ap.String()), sipgo.WithClientLogger(s.log))
	if err != nil {
		return netip.AddrPort{}, err
	}
	s.ua, s.srv, s.client = ua, srv, client
	s.dialogUA = &sipgo.DialogUA{Client: client, ContactHDR: sip.ContactHeader{
		Address: sip.Uri{User: "hotline", Host: host, Port: int(ap.Port())}}}
	srv.OnInvite(s.onInvite)
	srv.OnAck(s.onAck)
	srv.OnBye(s.onBye)
	srv.OnOptions(s.onOptions)
	srv.OnInfo(s.onInfo)
	srv.OnRegister(s.onRegister)
	srv.OnCancel(func(req *sip.Request, tx sip.ServerTransaction) {
		// A CANCEL that matched no INVITE transaction (sipgo answers matched ones itself).
		s.respond(tx, sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
	})
	s.mu.Lock()
	s.listeners, s.packets, s.addr = append(s.listeners, ln), append(s.packets, pc), ap
	s.mu.Unlock()
	go func() { _ = srv.ServeUDP(pc) }()
	go func() { _ = srv.ServeTCP(ln) }()
	return ap, nil
}

// Addr is the bound SIP address.
func (s *Server) Addr() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ActiveCalls is the number of calls being handled.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Drain refuses new calls with 503 and waits for calls in progress to end; when ctx ends
// first, the remaining calls are hung up. Then the listeners close.
func (s *Server) Drain(ctx context.Context) error {
	s.admitMu.Lock()
	s.draining.Store(true)
	s.admitMu.Unlock()
	idle := func(ctx context.Context) bool {
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for s.active.Load() > 0 {
			select {
			case <-t.C:
			case <-ctx.Done():
				return false
			}
		}
		return true
	}
	var err error
	if !idle(ctx) {
		err = fmt.Errorf("sip: drain deadline passed with %d calls up; hanging them up", s.active.Load())
		s.cancelAll(ErrDraining)
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		idle(hctx)
		cancel()
	}
	s.Close()
	return err
}

// Close stops listening at once; calls in progress are cancelled.
func (s *Server) Close() {
	s.cancelAll(ErrDraining)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.listeners {
		l.Close()
	}
	for _, p := range s.packets {
		p.Close()
	}
	s.listeners, s.packets = nil, nil
	if s.ua != nil {
		s.ua.Close()
	}
}

func (s *Server) respond(tx sip.ServerTransaction, res *sip.Response) {
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	s.m.responses.WithLabelValues(strconv.Itoa(int(res.StatusCode))).Inc()
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip: respond failed", "code", res.StatusCode, "error", err)
	}
}

func (s *Server) reply(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	s.respond(tx, res)
}

func (s *Server) retryAfter() sip.Header {
	secs := int((s.cfg.RetryAfter + time.Second - 1) / time.Second)
	return sip.NewHeader("Retry-After", strconv.Itoa(secs))
}

// trunkFor finds the trunk whose sources include the request's source address.
func (s *Server) trunkFor(req *sip.Request) *Trunk {
	host, _, err := net.SplitHostPort(req.Source())
	if err != nil {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil
	}
	ip = ip.Unmap()
	for i := range s.cfg.Trunks {
		for _, p := range s.cfg.Trunks[i].Sources {
			if p.Contains(ip) {
				return &s.cfg.Trunks[i]
			}
		}
	}
	return nil
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("OPTIONS").Inc()
	if s.draining.Load() {
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	res := sip.NewResponseFromRequest(req, 200, "OK", nil)
	res.AppendHeader(sip.NewHeader("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"))
	res.AppendHeader(sip.NewHeader("Accept", "application/sdp, application/dtmf-relay, application/dtmf"))
	s.respond(tx, res)
}

func (s *Server) lookup(req *sip.Request) *InboundCall {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	if c, ok := s.calls.Load(id); ok {
		return c.(*InboundCall)
	}
	return nil
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("INVITE").Inc()
	received := time.Now()
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReinvite(req, tx)
		return
	}
	if s.draining.Load() {
		s.m.rejected.WithLabelValues("draining").Inc()
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	dialled := req.Recipient.User
	trunk := s.trunkFor(req)
	agentID := ""
	switch {
	case strings.HasPrefix(dialled, "*") && s.cfg.AgentPassword != nil:
		// A feature code from an agent's desk phone (never a citizen's number): the agent
		// authenticates, from whatever address.
		id, ok := s.authorize(req, tx, s.cfg.AgentPassword)
		if !ok {
			return
		}
		agentID = id
		trunk = &Trunk{Name: "agent:" + id}
	case trunk == nil:
		s.log.Info("sip: INVITE from unknown source refused", "source", req.Source())
		s.reply(req, tx, 403, "Forbidden")
		return
	case trunk.Username != "":
		if _, ok := s.authorize(req, tx, func(u string) (string, bool) { return trunk.Password, u == trunk.Username }); !ok {
			return
		}
	}
	if agentID == "" && !s.cfg.Numbers(dialled) {
		s.reply(req, tx, 404, "Not Found")
		return
	}
	s.admitMu.Lock()
	reason := s.adm.admit(s.active.Load(), received)
	if s.draining.Load() {
		reason = "draining"
	}
	if reason == "" {
		s.active.Add(1)
	}
	s.admitMu.Unlock()
	if reason != "" {
		s.m.rejected.WithLabelValues(reason).Inc()
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	defer s.active.Add(-1)
	var offer *Offer
	var codec media.Codec
	if body := req.Body(); len(body) > 0 {
		if ct := req.ContentType(); ct != nil && !strings.EqualFold(strings.TrimSpace(strings.Split(ct.Value(), ";")[0]), "application/sdp") {
			s.reply(req, tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/sdp"))
			return
		}
		var err error
		if offer, err = ParseSDP(body); err == nil {
			codec, err = offer.Choose(s.cfg.Codecs)
		}
		if err != nil {
			s.reply(req, tx, 488, "Not Acceptable Here", warning(err))
			return
		}
	}
	s.respond(tx, sip.NewResponseFromRequest(req, 100, "Trying", nil))

	ds, err := s.dialogUA.ReadInvite(req, tx)
	if err != nil {
		s.reply(req, tx, 400, "Bad Request")
		return
	}
	defer ds.Close()
	leg, err := s.cfg.Media.NewRTPLeg(media.RTPLegOptions{ID: req.CallID().Value(), InbandDTMF: trunk.DTMF == "inband",
		RTPTimeout: max(s.cfg.RTPTimeout, 0)})
	if err != nil {
		s.m.rejected.WithLabelValues("ports").Inc()
		s.log.Error("sip: no media for a new call", "error", err)
		s.reply(req, tx, 503, "Service Unavailable", s.retryAfter())
		return
	}
	defer leg.Close()

	c := &InboundCall{
		ID:        newID(),
		SIPCallID: req.CallID().Value(),
		Caller:    callerNumber(req),
		Dialled:   dialled,
		Trunk:     trunk.Name,
		Agent:     agentID,
		Received:  received,
		Leg:       leg,
		s:         s,
		ds:        ds,
		offer:     offer,
		codec:     codec,
		acks:      make(chan *sip.Request, 4),
	}
	if from := req.From(); from != nil {
		c.CallerName = from.DisplayName
	}
	s.calls.Store(ds.ID, c)
	defer s.calls.Delete(ds.ID)

	ctx, cancel := context.WithCancelCause(s.baseCtx)
	defer cancel(nil)
	c.cancel = cancel
	stop := context.AfterFunc(ds.Context(), func() { c.end(EndCancel) })
	defer stop()
	if s.cfg.MaxCallDuration > 0 {
		t := time.AfterFunc(s.cfg.MaxCallDuration, func() { c.end(EndMaxDuration) })
		defer t.Stop()
	}
	leg.OnTimeout(func() { c.end(EndRTPTimeout) })
	context.AfterFunc(ctx, func() {
		if errors.Is(context.Cause(ctx), ErrDraining) {
			c.setReason(EndDrain)
		}
	})

	func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("sip: panic in call handler; ending this call only", "call_id", c.ID, "panic", fmt.Sprint(r))
				c.setReason(EndError)
			}
		}()
		s.cfg.Handler.HandleCall(ctx, c)
	}()
	c.finish()
}

func warning(err error) sip.Header {
	msg := strings.ReplaceAll(err.Error(), `"`, "'")
	return sip.NewHeader("Warning", `305 hotline "`+msg+`"`)
}

// callerNumber prefers P-Asserted-Identity, as carriers put the verified number there.
func callerNumber(req *sip.Request) string {
	if h := req.GetHeader("P-Asserted-Identity"); h != nil {
		var u sip.Uri
		v := h.Value()
		if i := strings.IndexByte(v, '<'); i >= 0 {
			if j := strings.IndexByte(v[i:], '>'); j > 0 {
				v = v[i+1 : i+j]
			}
		}
		if err := sip.ParseUri(strings.TrimSpace(v), &u); err == nil && u.User != "" {
			return u.User
		}
	}
	if from := req.From(); from != nil {
		return from.Address.User
	}
	return ""
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(b[:4])
}

func randUint64() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

func (s *Server) onAck(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("ACK").Inc()
	c := s.lookup(req)
	if c == nil {
		return
	}
	select {
	case c.acks <- req:
	default:
	}
	if len(req.Body()) > 0 {
		c.onAnswerInAck(req.Body())
	}
	_ = c.ds.ReadAck(req, tx)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("BYE").Inc()
	c := s.lookup(req)
	if c == nil {
		if !s.onOutboundBye(req, tx) {
			s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		}
		return
	}
	c.setReason(EndCallerBye)
	if err := c.ds.ReadBye(req, tx); err != nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	s.m.responses.WithLabelValues("200").Inc()
	c.end(EndCallerBye)
}

func (s *Server) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	s.m.requests.WithLabelValues("INFO").Inc()
	c := s.lookup(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	ct := ""
	if h := req.ContentType(); h != nil {
		ct = h.Value()
	}
	if len(req.Body()) == 0 { // an empty INFO is a keep-alive
		s.reply(req, tx, 200, "OK")
		return
	}
	key, dur, err := ParseDTMFInfo(ct, req.Body())
	if err != nil {
		s.reply(req, tx, 415, "Unsupported Media Type", sip.NewHeader("Accept", "application/dtmf-relay, application/dtmf"))
		return
	}
	c.Leg.InjectDigit(media.Digit{Key: key, At: time.Now(), Duration: dur, Source: media.DigitINFO})
	s.reply(req, tx, 200, "OK")
}

// onReinvite handles an in-dialog INVITE: hold, resume, a new address, a session refresh.
func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := s.lookup(req)
	if c == nil {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return
	}
	if err := c.ds.ReadRequest(req, tx); err != nil {
		s.reply(req, tx, 500, "Server Internal Error", sip.NewHeader("Retry-After", "1"))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var body []byte
	var err error
	if len(req.Body()) == 0 {
		// No offer: we offer our current session and expect the answer in the ACK.
		c.awaitAnswer = true
		body, err = c.sdpLocked(nil)
	} else {
		var offer *Offer
		if offer, err = ParseSDP(req.Body()); err == nil {
			codec := c.codec
			if !containsCodec(offer.Codecs, codec) {
				codec, err = offer.Choose(s.cfg.Codecs)
			}
			if err == nil {
				c.offer, c.codec = offer, codec
				c.Leg.Configure(offer.Remote(codec))
				body, err = c.sdpLocked(offer)
			}
		}
	}
	if err != nil {
		s.reply(req, tx, 488, "Not Acceptable Here", warning(err))
		return
	}
	res := sip.NewSDPResponseFromRequest(req, body)
	res.AppendHeader(&s.dialogUA.ContactHDR)
	s.respond(tx, res)
	go c.retransmit2xx(tx, res, req.CSeq().SeqNo)
}

func containsCodec(cs []media.Codec, c media.Codec) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}
