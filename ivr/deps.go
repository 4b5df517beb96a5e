package ivr

import (
	"context"
	"time"

	"github.com/hotline-12345/hotline/media"
)

// Clock is the time source of the interpreter, injected so that tests drive timeouts
// without sleeping.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// SystemClock is the wall clock.
func SystemClock() Clock { return systemClock{} }

type systemClock struct{}

func (systemClock) Now() time.Time                 { return time.Now() }
func (systemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop() bool          { return t.t.Stop() }

// Calendar answers the working-day questions of branch nodes. The real one, with China's
// adjusted working days (调休) published each year, lives with the case deadlines in `cases`;
// ivr cannot import it, so the call layer passes it in.
type Calendar interface {
	// IsWorkingDay reports whether the date of day is a working day, which includes a
	// weekend day made a working day by 调休.
	IsWorkingDay(day time.Time) bool
	// IsHoliday reports whether the date of day is a public holiday.
	IsHoliday(day time.Time) bool
}

// CallerLookup answers questions about the caller for branch nodes.
type CallerLookup interface {
	// HasOpenCase reports whether the caller has a case that is not closed. It should
	// answer within a few hundred milliseconds; ctx carries the call's lifetime.
	HasOpenCase(ctx context.Context, caller string) bool
}

// MessageInfo describes a message a record node is about to take.
type MessageInfo struct {
	CallID  string
	Caller  string
	Dialled string
	Flow    string
	Node    string
	Max     time.Duration
}

// Message is a recording in progress: the interpreter taps the caller's audio into it.
type Message interface {
	media.Sink
	// Ref names the message in the call record (a file or object key).
	Ref() string
	// Close ends the message and makes it durable; it is called even when the caller
	// hung up, since what they said is still part of the record.
	Close() error
}

// Recorder starts messages for record nodes.
type Recorder interface {
	StartMessage(ctx context.Context, m MessageInfo) (Message, error)
}

// Audio resolves and plays prompts. PromptAudio implements it over a *media.PromptSet;
// it is an interface so that the interpreter can be tested on a fake clock.
type Audio interface {
	// Has reports whether a prompt exists, and in which language it would be played
	// for lang (the other language when lang lacks it).
	Has(lang, name string) (usedLang string, ok bool)
	// Play starts the prompts, in order, as the leg's outbound audio. Names that do not
	// exist are skipped. With nothing to play, the Playback is done at once.
	Play(leg media.Leg, lang string, names []string) Playback
}

// Playback is prompts being played on a leg.
type Playback interface {
	// Done is closed when the last frame was played, or on Stop.
	Done() <-chan struct{}
	// Stop ends playback (barge-in, hang-up) and reports how much was played.
	Stop() (played time.Duration)
}
