package acd

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Proficiency bounds: 1 is a beginner, 5 an expert.
const (
	MinProficiency = 1
	MaxProficiency = 5
)

// Destination says where a caller goes when a queue cannot keep them (full,
// waited too long, no agents). Queue moves the request inside the dispatcher,
// keeping its arrival time and priority; otherwise Target is handed back to
// the call layer in an *ExitError (e.g. "voicemail", "ivr:closed", "hangup").
type Destination struct {
	Queue  string `yaml:"queue,omitempty"`
	Target string `yaml:"target,omitempty"`
}

// EmptyRule decides when a queue counts as having no agents, for joining and
// leaving (Asterisk's joinempty/leavewhenempty).
type EmptyRule uint8

const (
	// EmptyNever: callers join and stay whatever the agents do.
	EmptyNever EmptyRule = iota
	// EmptyNoneLoggedIn: empty when no agent with the skill is logged in.
	EmptyNoneLoggedIn
	// EmptyNoneServing: empty when every agent with the skill is logged out or on break.
	EmptyNoneServing
)

var emptyRuleNames = [...]string{EmptyNever: "never", EmptyNoneLoggedIn: "none-logged-in", EmptyNoneServing: "none-serving"}

func (r EmptyRule) String() string {
	if int(r) < len(emptyRuleNames) {
		return emptyRuleNames[r]
	}
	return fmt.Sprintf("EmptyRule(%d)", uint8(r))
}

// MarshalText writes the rule's name, as configuration files spell it.
func (r EmptyRule) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText reads "never", "none-logged-in" or "none-serving".
func (r *EmptyRule) UnmarshalText(b []byte) error {
	for i, n := range emptyRuleNames {
		if n == string(b) {
			*r = EmptyRule(i)
			return nil
		}
	}
	return fmt.Errorf("acd: unknown empty rule %q (want never, none-logged-in or none-serving)", b)
}

// RelaxStep widens who may take a request once it has waited After in the
// queue. Steps apply in order and accumulate.
type RelaxStep struct {
	After time.Duration `yaml:"after"`
	// MinProficiency, if non-zero, lowers the proficiency the queue's skill requires.
	MinProficiency int `yaml:"min_proficiency,omitempty"`
	// FallbackSkill, if set, also lets agents with this skill (any proficiency) answer.
	FallbackSkill string `yaml:"fallback_skill,omitempty"`
	// Overflow, if set, moves the request to that queue (keeping its arrival
	// time and priority, so it does not lose its place to later callers there).
	Overflow string `yaml:"overflow,omitempty"`
}

// QueueConfig configures one queue. One queue serves one skill.
type QueueConfig struct {
	Name  string `yaml:"name"`
	Skill string `yaml:"skill"`
	// MinProficiency is the proficiency required before any relaxation (default 1).
	MinProficiency int `yaml:"min_proficiency,omitempty"`
	// MaxWait (0 = none) and OnMaxWait: where a live caller goes after waiting too long.
	MaxWait   time.Duration `yaml:"max_wait,omitempty"`
	OnMaxWait Destination   `yaml:"on_max_wait,omitempty"`
	// MaxLength (0 = none) counts live callers, not callbacks; OnFull is where
	// a caller who finds the queue full goes.
	MaxLength int         `yaml:"max_length,omitempty"`
	OnFull    Destination `yaml:"on_full,omitempty"`
	// JoinEmpty refuses new callers and LeaveEmpty sends waiting callers away
	// when the queue is empty by that rule; both go to OnEmpty.
	JoinEmpty  EmptyRule   `yaml:"join_empty,omitempty"`
	LeaveEmpty EmptyRule   `yaml:"leave_empty,omitempty"`
	OnEmpty    Destination `yaml:"on_empty,omitempty"`
	// LeaveEmptyGrace is how long a queue must stay empty before its callers
	// are sent away, so that a shift change does not empty it (0: at once).
	LeaveEmptyGrace time.Duration `yaml:"leave_empty_grace,omitempty"`
	Relax           []RelaxStep   `yaml:"relax,omitempty"`
	// WrapUp is the after-call work time an agent gets after a call from this queue.
	WrapUp time.Duration `yaml:"wrap_up,omitempty"`
	// RingTimeout bounds an offer to an agent: if the call layer has not
	// reported Answered by then, the offer counts as not answered. Default 20 s.
	RingTimeout time.Duration `yaml:"ring_timeout,omitempty"`
	// ServiceLevels are the answer-time thresholds counted in metrics (default 15 s, 20 s).
	ServiceLevels []time.Duration `yaml:"service_levels,omitempty"`
	// DefaultHandleTime seeds the wait estimate before any call was handled (default 180 s).
	DefaultHandleTime time.Duration `yaml:"default_handle_time,omitempty"`

	// Callbacks.
	// CallbackAttempts is how many times a callback is dialled (default 3);
	// CallbackRetryDelay the pause after a busy or unanswered attempt (default 5 min);
	// CallbackTimeout bounds one attempt from agent reservation to connect (default 90 s).
	CallbackAttempts   int           `yaml:"callback_attempts,omitempty"`
	CallbackRetryDelay time.Duration `yaml:"callback_retry_delay,omitempty"`
	CallbackTimeout    time.Duration `yaml:"callback_timeout,omitempty"`
	// MissedCallback turns a caller who hangs up after waiting at least
	// MissedCallbackMinWait into a callback request (漏接回拨), in their place.
	MissedCallback        bool          `yaml:"missed_callback,omitempty"`
	MissedCallbackMinWait time.Duration `yaml:"missed_callback_min_wait,omitempty"`
}

// Config is the dispatcher's routing configuration.
type Config struct {
	Queues []QueueConfig `yaml:"queues"`
	// MaxNoAnswer is how many offers in a row an agent may miss before being
	// put on break with reason NoAnswerReason (default 2).
	MaxNoAnswer int `yaml:"max_no_answer,omitempty"`
}

// NoAnswerReason is the break reason given to an agent who missed MaxNoAnswer offers.
const NoAnswerReason = "no-answer"

// Options are the dispatcher's collaborators.
type Options struct {
	Clock      Clock                 // default RealClock
	Logger     *slog.Logger          // default: discard
	Registerer prometheus.Registerer // nil: no metrics
	// Sink receives every event, in order, synchronously, outside the
	// dispatcher's lock (it may call the dispatcher). It should be quick —
	// hand off to a buffered writer: the goroutine that made a change
	// delivers its events and those queued meanwhile by others. The call
	// layer stores these (queue_log).
	Sink func(Event)
	// OnCallback receives callback assignments: an agent is reserved and the
	// number must be dialled now. Called like Sink; start a goroutine to dial.
	// Without it, callbacks are refused (ErrNoCallbacks).
	OnCallback func(Assignment)
}

func (q *QueueConfig) setDefaults() {
	if q.MinProficiency == 0 {
		q.MinProficiency = MinProficiency
	}
	if q.RingTimeout == 0 {
		q.RingTimeout = 20 * time.Second
	}
	if len(q.ServiceLevels) == 0 {
		q.ServiceLevels = []time.Duration{15 * time.Second, 20 * time.Second}
	}
	if q.DefaultHandleTime == 0 {
		q.DefaultHandleTime = 180 * time.Second
	}
	if q.CallbackAttempts == 0 {
		q.CallbackAttempts = 3
	}
	if q.CallbackRetryDelay == 0 {
		q.CallbackRetryDelay = 5 * time.Minute
	}
	if q.CallbackTimeout == 0 {
		q.CallbackTimeout = 90 * time.Second
	}
}

// Validate checks the configuration; New calls it.
func (c *Config) Validate() error {
	names := map[string]bool{}
	var errs []error
	for _, q := range c.Queues {
		if q.Name == "" {
			errs = append(errs, errors.New("acd: queue without a name"))
			continue
		}
		if names[q.Name] {
			errs = append(errs, fmt.Errorf("acd: queue %q defined twice", q.Name))
		}
		names[q.Name] = true
	}
	known := func(name string) bool { return name == "" || names[name] }
	for _, q := range c.Queues {
		if q.Skill == "" {
			errs = append(errs, fmt.Errorf("acd: queue %q: no skill", q.Name))
		}
		if q.MinProficiency != 0 && (q.MinProficiency < MinProficiency || q.MinProficiency > MaxProficiency) {
			errs = append(errs, fmt.Errorf("acd: queue %q: min_proficiency %d outside 1-5", q.Name, q.MinProficiency))
		}
		if q.MaxWait < 0 || q.MaxLength < 0 || q.WrapUp < 0 || q.RingTimeout < 0 || q.CallbackAttempts < 0 ||
			q.CallbackRetryDelay < 0 || q.CallbackTimeout < 0 || q.MissedCallbackMinWait < 0 || q.LeaveEmptyGrace < 0 {
			errs = append(errs, fmt.Errorf("acd: queue %q: negative limit", q.Name))
		}
		for _, d := range []Destination{q.OnMaxWait, q.OnFull, q.OnEmpty} {
			if !known(d.Queue) || d.Queue == q.Name && d.Queue != "" {
				errs = append(errs, fmt.Errorf("acd: queue %q: bad destination queue %q", q.Name, d.Queue))
			}
		}
		var last time.Duration
		for i, s := range q.Relax {
			if s.After < last {
				errs = append(errs, fmt.Errorf("acd: queue %q: relax step %d goes back in time", q.Name, i))
			}
			last = s.After
			if s.MinProficiency != 0 && (s.MinProficiency < MinProficiency || s.MinProficiency > MaxProficiency) {
				errs = append(errs, fmt.Errorf("acd: queue %q: relax step %d: min_proficiency %d outside 1-5", q.Name, i, s.MinProficiency))
			}
			if !known(s.Overflow) || s.Overflow == q.Name {
				errs = append(errs, fmt.Errorf("acd: queue %q: relax step %d: bad overflow queue %q", q.Name, i, s.Overflow))
			}
			if s.MinProficiency == 0 && s.FallbackSkill == "" && s.Overflow == "" {
				errs = append(errs, fmt.Errorf("acd: queue %q: relax step %d does nothing", q.Name, i))
			}
		}
		for _, sl := range q.ServiceLevels {
			if sl <= 0 {
				errs = append(errs, fmt.Errorf("acd: queue %q: service level threshold %v", q.Name, sl))
			}
		}
	}
	if c.MaxNoAnswer < 0 {
		errs = append(errs, errors.New("acd: negative max_no_answer"))
	}
	return errors.Join(errs...)
}
