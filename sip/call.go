package sip

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-12345/hotline/media"
)

// End reasons of a call, as reported by EndReason.
const (
	EndCallerBye   = "caller_bye"   // the caller hung up
	EndHangup      = "hangup"       // we hung up (BYE sent)
	EndCancel      = "cancel"       // CANCEL before answer
	EndRTPTimeout  = "rtp_timeout"  // no RTP for too long while not on hold
	EndMaxDuration = "max_duration" // the maximum call length passed
	EndNoAck       = "no_ack"       // our 200 was never acknowledged
	EndRejected    = "rejected"     // the handler refused the call
	EndDrain       = "drain"        // the server was stopped
	EndError       = "error"        // a failure in the call's own handling
)

// InboundCall is one call from a trunk. Its handler's goroutine owns it: Ring, Answer,
// Reject and Hangup are called from there; the server cancels the handler's ctx when the
// call ends from outside.
type InboundCall struct {
	ID         string // ours, unique, safe for file names
	SIPCallID  string
	Caller     string // P-Asserted-Identity or From user
	CallerName string
	Dialled    string // Request-URI user: the number the citizen dialled
	Trunk      string
	Agent      string // set when an agent's phone dialled a feature code (e.g. *1)
	Received   time.Time
	Leg        *media.RTPLeg

	s      *Server
	ds     *sipgo.DialogServerSession
	cancel context.CancelCauseFunc
	acks   chan *sip.Request

	mu          sync.Mutex
	offer       *Offer
	codec       media.Codec
	answered    time.Time
	ended       time.Time
	reason      string
	rejected    bool
	sdpVersion  uint64
	sessionID   uint64
	awaitAnswer bool // we sent an offer (late offer); the ACK must carry the answer
	answerErr   error
}

// ErrCallEnded is returned by actions on a call that is already over.
var ErrCallEnded = errors.New("sip: call ended")

func (c *InboundCall) setReason(r string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = r
	}
	c.mu.Unlock()
}

// end records why the call ended (the first reason wins) and cancels the handler's ctx.
func (c *InboundCall) end(reason string) {
	c.setReason(reason)
	c.cancel(errors.New(reason))
}

// EndReason says why the call ended, "" while it is up.
func (c *InboundCall) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

// Answered is when the call was answered, zero if not.
func (c *InboundCall) Answered() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answered
}

// Codec is the negotiated codec.
func (c *InboundCall) Codec() media.Codec { return c.Leg.Codec() }

// OnHold reports whether the caller has put the call on hold.
func (c *InboundCall) OnHold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offer != nil && c.offer.Hold()
}

// Ring sends 180 Ringing.
func (c *InboundCall) Ring() error {
	c.s.m.responses.WithLabelValues("180").Inc()
	return c.ds.Respond(180, "Ringing", nil)
}

// Reject refuses the call before answer with a final status, e.g. 480 or 486.
func (c *InboundCall) Reject(code int, reason string, hdrs ...sip.Header) error {
	c.mu.Lock()
	if !c.answered.IsZero() {
		c.mu.Unlock()
		return errors.New("sip: cannot reject an answered call")
	}
	c.rejected = true
	c.mu.Unlock()
	c.setReason(EndRejected)
	c.s.m.responses.WithLabelValues(fmt.Sprint(code)).Inc()
	return c.ds.Respond(code, reason, nil, hdrs...)
}

// Answer sends 200 OK with our SDP, starts the media and waits for the ACK.
// For a late offer (INVITE without SDP), our offer goes in the 200 and the answer is
// taken from the ACK.
func (c *InboundCall) Answer(ctx context.Context) error {
	c.mu.Lock()
	c.sessionID = randUint64()
	late := c.offer == nil
	if late {
		c.awaitAnswer = true
	} else {
		c.Leg.Configure(c.offer.Remote(c.codec))
	}
	body, err := c.sdpLocked(c.offer)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if !late {
		if err := c.Leg.Start(); err != nil {
			return err
		}
	}
	res := sip.NewSDPResponseFromRequest(c.ds.InviteRequest, body)
	res.AppendHeader(sip.NewHeader("Server", c.s.cfg.UserAgent))
	c.s.m.responses.WithLabelValues("200").Inc()
	c.s.m.setup.Observe(time.Since(c.Received).Seconds())
	c.mu.Lock()
	c.answered = time.Now()
	c.mu.Unlock()
	if err := c.ds.WriteResponse(res); err != nil {
		if ctx.Err() != nil || c.ds.Context().Err() != nil {
			c.end(EndCancel)
			return ErrCallEnded
		}
		c.end(EndNoAck)
		return fmt.Errorf("sip: answer: %w", err)
	}
	if late {
		c.mu.Lock()
		aerr := c.answerErr
		if aerr == nil && c.awaitAnswer {
			aerr = errors.New("ACK carried no SDP answer")
		}
		c.mu.Unlock()
		if aerr != nil {
			// An ACK cannot be refused: end the call with a BYE.
			_ = c.Hangup(context.WithoutCancel(ctx))
			c.setReason(EndError)
			return fmt.Errorf("sip: late offer: %w", aerr)
		}
		if err := c.Leg.Start(); err != nil {
			return err
		}
	}
	return nil
}

// onAnswerInAck applies the SDP answer carried by an ACK (late offer, or a re-INVITE without SDP).
func (c *InboundCall) onAnswerInAck(body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.awaitAnswer {
		return
	}
	c.awaitAnswer = false
	ans, err := ParseSDP(body)
	if err == nil {
		var codec media.Codec
		if codec, err = ans.Choose(c.s.cfg.Codecs); err == nil {
			c.offer, c.codec = ans, codec
			c.Leg.Configure(ans.Remote(codec))
			return
		}
	}
	c.answerErr = err
}

// sdpLocked builds our SDP: an answer to offer, or an offer of our own when offer is nil.
func (c *InboundCall) sdpLocked(offer *Offer) ([]byte, error) {
	c.sdpVersion++
	p := SDPParams{Local: c.Leg.LocalAddr(), SessionID: c.sessionID, Version: c.sdpVersion, DTMFPT: 101}
	if offer == nil {
		p.Codecs = c.s.cfg.Codecs
		if c.offer != nil { // re-offer of the running session
			p.Codecs = []media.Codec{c.codec}
			if c.offer.DTMFPT != 0 {
				p.DTMFPT = c.offer.DTMFPT
			}
		}
		return BuildSDP(p)
	}
	p.Codecs = []media.Codec{c.codec}
	p.DTMFPT = offer.DTMFPT // telephone-event at whatever payload type the offer used
	p.Direction = answerDirection(offer.Direction)
	p.MediaIdx = offer.MediaIdx
	p.PeerLines = offer.Lines
	return BuildSDP(p)
}

// Hangup ends an answered call with a BYE (or refuses an unanswered one with 480).
func (c *InboundCall) Hangup(ctx context.Context) error {
	c.mu.Lock()
	answered := !c.answered.IsZero()
	rejected := c.rejected
	c.mu.Unlock()
	if !answered {
		if rejected {
			return nil
		}
		return c.Reject(480, "Temporarily Unavailable")
	}
	if c.ds.LoadState() == sip.DialogStateEnded {
		return nil
	}
	c.setReason(EndHangup)
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	err := c.ds.Bye(ctx)
	c.s.m.requests.WithLabelValues("BYE_sent").Inc()
	c.cancel(errors.New(EndHangup))
	return err
}

// finish runs after the handler returns: whatever is still open is closed properly.
func (c *InboundCall) finish() {
	ctx := context.WithoutCancel(context.Background())
	c.mu.Lock()
	answered := !c.answered.IsZero()
	rejected := c.rejected
	c.mu.Unlock()
	switch {
	case !answered && !rejected && c.ds.Context().Err() == nil:
		_ = c.Reject(480, "Temporarily Unavailable")
	case answered && c.ds.LoadState() != sip.DialogStateEnded:
		_ = c.Hangup(ctx)
	}
	c.mu.Lock()
	c.ended = time.Now()
	if c.reason == "" {
		c.reason = EndHangup
	}
	c.mu.Unlock()
}

// retransmit2xx resends a re-INVITE's 200 until its ACK arrives (RFC 3261 §13.3.1.4).
func (c *InboundCall) retransmit2xx(tx sip.ServerTransaction, res *sip.Response, cseq uint32) {
	t := sip.T1
	deadline := time.Now().Add(64 * sip.T1)
	for time.Now().Before(deadline) {
		select {
		case ack := <-c.acks:
			if ack.CSeq() != nil && ack.CSeq().SeqNo == cseq {
				return
			}
		case <-time.After(t):
			if c.ds.LoadState() == sip.DialogStateEnded {
				return
			}
			_ = tx.Respond(res)
			t = min(2*t, sip.T2)
		case <-c.Leg.Done():
			return
		}
	}
}
