package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/hotline-12345/hotline/media"
)

// DialOptions describe a call hotline places: a transfer destination, an agent's phone,
// a citizen to call back.
type DialOptions struct {
	URI string // e.g. sip:110@10.20.0.1:5060
	// From is the user part presented as the caller (e.g. the citizen's number on a
	// transfer to 110, so the emergency desk sees who is calling); default "hotline".
	From    string
	Timeout time.Duration // how long it may ring (default 30 s)
	// OnRinging is called on 180/183.
	OnRinging func()
}

// DialError is a call that was not answered, with the final status if there was one.
type DialError struct {
	Status int    // 486, 480, 404 …; 0 for a timeout or a transport failure
	Reason string // e.g. "Busy Here", "timeout"
}

func (e *DialError) Error() string {
	if e.Status == 0 {
		return "sip: dial: " + e.Reason
	}
	return fmt.Sprintf("sip: dial: %d %s", e.Status, e.Reason)
}

// OutboundCall is a call hotline placed. Done is closed when it ends for any reason.
type OutboundCall struct {
	ID       string
	URI      string
	Leg      *media.RTPLeg
	Answered time.Time

	s      *Server
	ds     *sipgo.DialogClientSession
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	reason string
}

// Done is closed when the call ends.
func (c *OutboundCall) Done() <-chan struct{} { return c.done }

// EndReason is "remote_bye", "hangup" or "" while up.
func (c *OutboundCall) EndReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reason
}

func (c *OutboundCall) ended(reason string) {
	c.once.Do(func() {
		c.mu.Lock()
		c.reason = reason
		c.mu.Unlock()
		c.s.outbound.Delete(c.ds.ID)
		c.Leg.Close()
		c.s.active.Add(-1)
		close(c.done)
	})
}

// Hangup sends BYE (if the call is still up) and releases the media.
func (c *OutboundCall) Hangup(ctx context.Context) error {
	select {
	case <-c.done:
		return nil
	default:
	}
	ctx, cancel := context.WithTimeout(ctx, 32*time.Second)
	defer cancel()
	err := c.ds.Bye(ctx)
	c.ended("hangup")
	return err
}

// Dial places a call and returns once it is answered, with its media started; it fails
// with a *DialError when the far end refuses or does not answer in time. Cancelling ctx
// before the answer sends CANCEL.
func (s *Server) Dial(ctx context.Context, o DialOptions) (*OutboundCall, error) {
	if s.dialogUA == nil {
		return nil, errors.New("sip: dial before Listen")
	}
	var uri sip.Uri
	if err := sip.ParseUri(o.URI, &uri); err != nil {
		return nil, fmt.Errorf("sip: dial %q: %w", o.URI, err)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.From == "" {
		o.From = "hotline"
	}
	leg, err := s.cfg.Media.NewRTPLeg(media.RTPLegOptions{ID: "out-" + newID(), RTPTimeout: max(s.cfg.RTPTimeout, 0)})
	if err != nil {
		return nil, err
	}
	offer, err := BuildSDP(SDPParams{Local: leg.LocalAddr(), SessionID: randUint64(), Version: 1, Codecs: s.cfg.Codecs, DTMFPT: 101})
	if err != nil {
		leg.Close()
		return nil, err
	}
	host := s.dialogUA.ContactHDR.Address.Host
	from := &sip.FromHeader{Address: sip.Uri{User: o.From, Host: host}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req := sip.NewRequest(sip.INVITE, uri)
	req.SetBody(offer)
	req.AppendHeader(from)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	s.m.requests.WithLabelValues("INVITE_sent").Inc()

	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ds, err := s.dialogUA.WriteInvite(dctx, req)
	if err != nil {
		leg.Close()
		return nil, &DialError{Reason: err.Error()}
	}
	err = ds.WaitAnswer(dctx, sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if (res.StatusCode == 180 || res.StatusCode == 183) && o.OnRinging != nil {
			o.OnRinging()
		}
		return nil
	}})
	if err != nil {
		leg.Close()
		ds.Close()
		var re *sipgo.ErrDialogResponse
		if errors.As(err, &re) {
			return nil, &DialError{Status: int(re.Res.StatusCode), Reason: re.Res.Reason}
		}
		if dctx.Err() != nil {
			return nil, &DialError{Reason: "no answer (timeout or cancelled)"}
		}
		return nil, &DialError{Reason: err.Error()}
	}
	c := &OutboundCall{ID: newID(), URI: o.URI, Leg: leg, Answered: time.Now(), s: s, ds: ds, done: make(chan struct{})}
	s.active.Add(1)
	s.outbound.Store(ds.ID, c)
	fail := func(err error) (*OutboundCall, error) {
		_ = ds.Ack(context.WithoutCancel(ctx))
		_ = c.Hangup(context.WithoutCancel(ctx))
		return nil, err
	}
	ans, err := ParseSDP(ds.InviteResponse.Body())
	if err != nil {
		return fail(err)
	}
	codec, err := ans.Choose(s.cfg.Codecs)
	if err != nil {
		return fail(err)
	}
	leg.Configure(ans.Remote(codec))
	if err := ds.Ack(ctx); err != nil {
		return fail(err)
	}
	if err := leg.Start(); err != nil {
		return fail(err)
	}
	leg.OnTimeout(func() { _ = c.Hangup(context.Background()) })
	return c, nil
}

// lookupOutbound finds the placed call an in-dialog request belongs to.
func (s *Server) lookupOutbound(req *sip.Request) *OutboundCall {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	if c, ok := s.outbound.Load(id); ok {
		return c.(*OutboundCall)
	}
	return nil
}

// onOutboundBye handles a BYE from the far end of a call we placed.
func (s *Server) onOutboundBye(req *sip.Request, tx sip.ServerTransaction) bool {
	c := s.lookupOutbound(req)
	if c == nil {
		return false
	}
	if err := c.ds.ReadBye(req, tx); err != nil && !strings.Contains(err.Error(), "terminated") {
		s.reply(req, tx, 481, "Call/Transaction Does Not Exist")
		return true
	}
	s.m.responses.WithLabelValues("200").Inc()
	c.ended("remote_bye")
	return true
}
