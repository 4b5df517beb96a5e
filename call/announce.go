package call

import (
	"time"

	"github.com/hotline-12345/hotline/acd"
	"github.com/hotline-12345/hotline/ivr"
	"github.com/hotline-12345/hotline/media"
)

// Announce configures what a waiting caller hears over the hold music.
type Announce struct {
	// Every is the interval of position and wait announcements (0: none).
	Every time.Duration
	// OnlyWhenImproved says the position only when it is better than the last time said.
	OnlyWhenImproved bool
	// Callback offers "press 1 to be called back without losing your place".
	Callback bool
}

// callbackKey is the key a waiting caller presses to be called back.
const callbackKey = '1'

// announcer times one waiting caller's announcements.
type announcer struct {
	cfg     Announce
	timer   *time.Timer
	playing <-chan struct{}
	last    int // position said last time
}

func newAnnouncer(cfg Announce) *announcer {
	a := &announcer{cfg: cfg}
	if cfg.Every > 0 {
		a.timer = time.NewTimer(cfg.Every)
	}
	return a
}

// due fires when an announcement is due (never, when they are off).
func (a *announcer) due() <-chan time.Time {
	if a.timer == nil {
		return nil
	}
	return a.timer.C
}

// ended fires when the announcement being played is over.
func (a *announcer) ended() <-chan struct{} { return a.playing }

// worthSaying decides on this turn and arms the next one.
func (a *announcer) worthSaying(st acd.Status) bool {
	a.timer.Reset(a.cfg.Every)
	if st.Position <= 0 || (a.cfg.OnlyWhenImproved && a.last != 0 && st.Position >= a.last) {
		return false
	}
	a.last = st.Position
	return true
}

func (a *announcer) stop() {
	if a.timer != nil {
		a.timer.Stop()
	}
}

// announcement builds "there are N callers ahead of you, the wait is about M minutes
// (press 1 to be called back)" from prompt fragments in the caller's language.
func (s *Service) announcement(lang string, st acd.Status) *media.Player {
	names := []string{"queue_position_before"}
	names = append(names, ivr.SayNumber(lang, int64(st.Position-1))...)
	names = append(names, "queue_position_after")
	if st.EWTKnown && st.EWT > 0 {
		mins := int64((st.EWT + time.Minute - 1) / time.Minute)
		names = append(names, "wait_minutes_before")
		names = append(names, ivr.SayNumber(lang, mins)...)
		names = append(names, "wait_minutes_after")
	}
	if s.cfg.Announce.Callback && s.cfg.CallbackURI != "" {
		names = append(names, "callback_offer")
	}
	var ps []*media.Prompt
	for _, n := range names {
		if p, _, ok := s.cfg.Prompts.Lookup(lang, n); ok {
			ps = append(ps, p)
		}
	}
	return media.NewPlayer(ps...)
}
