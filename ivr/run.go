package ivr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/hotline-12345/hotline/media"
)

// Defaults of RunOptions.
const (
	DefaultMaxSteps      = 500
	DefaultMaxPathEvents = 1000
)

// chinaStandardTime is the hotline's time zone. China has no daylight saving, so a fixed
// zone is exact and needs no tzdata on the host.
var chinaStandardTime = time.FixedZone("CST", 8*3600)

// RunOptions carries what one call brings to a flow.
type RunOptions struct {
	CallID   string
	Dialled  string // the number the caller dialled: 12345, 12369, …
	Caller   string // the caller's number
	Language string // starting language; "" means the flow's
	// Vars are starting variables (e.g. queue_position for a spoken announcement).
	// dialled and caller are always set from the fields above.
	Vars map[string]string

	Clock    Clock          // nil: SystemClock
	Location *time.Location // for time, weekday and calendar branches; nil: China Standard Time
	Calendar Calendar       // nil: Monday to Friday are working days, no holidays
	Callers  CallerLookup   // nil: no caller has attributes
	Recorder Recorder       // nil: record nodes log an error and carry on
	Logger   *slog.Logger
	Metrics  *Metrics

	// FlushDigits drops the keys already waiting on the leg when the run starts (recorded
	// as ignored). Set it for the survey: keys pressed while talking to the agent are not
	// a rating. Leave it off for the intake, where a key pressed while the call was being
	// set up is meant for the greeting.
	FlushDigits bool

	MaxSteps      int // nodes one run may enter before it is stopped; 0: DefaultMaxSteps
	MaxPathEvents int // events kept in the Path; 0: DefaultMaxPathEvents

	// beforeWait is called, in tests only, each time the interpreter is about to block.
	beforeWait func()
}

// ErrTooManySteps stops a run that entered more nodes than RunOptions.MaxSteps: a caller
// pressing the same barge-in key over and over, for instance. The Outcome is still filled
// in so the call layer can queue the call with what was chosen so far.
var ErrTooManySteps = errors.New("ivr: too many steps")

// errHangup unwinds a run when the caller hangs up.
var errHangup = errors.New("ivr: caller hung up")

// Run runs the flow from its start node until it queues, transfers or hangs up the call,
// or the caller hangs up (ctx ends or the leg is done). A hang-up is not an error: the
// Outcome says ActionAbandoned.
func (f *Flow) Run(ctx context.Context, leg media.Leg, opts RunOptions) (Outcome, error) {
	return f.RunFrom(ctx, leg, f.start, opts)
}

// RunFrom runs the flow from entry, one of its nodes: the call layer starts the survey
// this way after the agent hangs up.
func (f *Flow) RunFrom(ctx context.Context, leg media.Leg, entry string, opts RunOptions) (Outcome, error) {
	if _, ok := f.nodes[entry]; !ok {
		return Outcome{}, fmt.Errorf("ivr: flow %s has no node %q", f.name, entry)
	}
	r := newRun(ctx, f, leg, entry, opts)
	if m := r.opts.Metrics; m != nil {
		m.active.Inc()
		defer m.active.Dec()
	}
	if opts.FlushDigits {
		r.flush(f.nodes[entry])
	}
	err := r.loop(entry)
	r.out.Path.End = r.clock.Now()
	r.out.Language = r.lang
	if len(r.vars) > 0 {
		r.out.Vars = r.vars
	}
	if m := r.opts.Metrics; m != nil {
		m.runs.WithLabelValues(f.name, entry, string(r.out.Action)).Inc()
	}
	return r.out, err
}

type run struct {
	ctx    context.Context
	f      *Flow
	leg    media.Leg
	opts   RunOptions
	clock  Clock
	log    *slog.Logger
	lang   string
	skill  string
	queue  string
	prio   int
	vars   map[string]string
	out    Outcome
	buf    []byte
	digits <-chan media.Digit
}

func newRun(ctx context.Context, f *Flow, leg media.Leg, entry string, opts RunOptions) *run {
	r := &run{ctx: ctx, f: f, leg: leg, opts: opts, clock: opts.Clock, log: opts.Logger, lang: f.language,
		digits: leg.Digits()}
	if r.clock == nil {
		r.clock = SystemClock()
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.log = r.log.With("call_id", opts.CallID, "flow", f.name)
	if r.opts.Location == nil {
		r.opts.Location = chinaStandardTime
	}
	if r.opts.MaxSteps <= 0 {
		r.opts.MaxSteps = DefaultMaxSteps
	}
	if r.opts.MaxPathEvents <= 0 {
		r.opts.MaxPathEvents = DefaultMaxPathEvents
	}
	if opts.Language != "" && slices.Contains(f.langs, opts.Language) {
		r.lang = opts.Language
	}
	r.vars = make(map[string]string, len(opts.Vars)+2)
	maps.Copy(r.vars, opts.Vars)
	r.vars["dialled"] = opts.Dialled
	r.vars["caller"] = opts.Caller
	r.out.Path = Path{Flow: f.name, Entry: entry, Start: r.clock.Now(), Events: make([]Event, 0, 16)}
	return r
}

func (r *run) flush(n *node) {
	for {
		select {
		case d, ok := <-r.digits:
			if !ok {
				return
			}
			r.digitEvent(n, d, DigitIgnored)
		default:
			return
		}
	}
}

func (r *run) loop(cur string) error {
	for step := 0; ; step++ {
		n := r.f.nodes[cur]
		r.out.Node = n.name
		if r.hungUp() {
			r.abandon(n)
			return nil
		}
		if step >= r.opts.MaxSteps {
			r.event(Event{Kind: EventError, Node: n.name, Result: ErrTooManySteps.Error()})
			r.countError()
			r.log.Warn("flow stopped", "node", n.name, "err", ErrTooManySteps)
			r.finish(ActionQueue)
			return ErrTooManySteps
		}
		r.event(Event{Kind: EventNode, Node: n.name, NodeKind: n.kind})
		if m := r.opts.Metrics; m != nil {
			m.nodes.WithLabelValues(r.f.name, n.kind.String()).Inc()
		}
		next, err := r.exec(n)
		if errors.Is(err, errHangup) {
			r.abandon(n)
			return nil
		}
		if err != nil {
			return err
		}
		if next == "" {
			return nil // a terminal node filled in the outcome
		}
		cur = next
	}
}

func (r *run) abandon(n *node) {
	r.event(Event{Kind: EventHangup, Node: n.name})
	r.out.Action = ActionAbandoned
}

func (r *run) hungUp() bool {
	select {
	case <-r.ctx.Done():
		return true
	case <-r.leg.Done():
		return true
	default:
		return false
	}
}

func (r *run) finish(a Action) {
	r.out.Action = a
	if a == ActionQueue {
		r.out.Skill, r.out.Queue, r.out.Priority = r.skill, r.queue, r.prio
	}
}

// exec runs one node and returns the next node's name, or "" when the flow ends here.
func (r *run) exec(n *node) (string, error) {
	switch n.kind {
	case KindPlay:
		return r.execPlay(n)
	case KindMenu:
		return r.execMenu(n)
	case KindCollect:
		return r.execCollect(n)
	case KindSurvey:
		return r.execSurvey(n)
	case KindRecord:
		return r.execRecord(n)
	case KindBranch:
		return r.execBranch(n), nil
	case KindSet:
		s := n.set
		if s.language != "" {
			r.lang = s.language
		}
		if s.skill != "" {
			r.skill = s.skill
		}
		if s.queue != "" {
			r.queue = s.queue
		}
		if s.priority != nil {
			r.prio = *s.priority
		}
		for _, k := range slices.Sorted(maps.Keys(s.vars)) {
			r.vars[k] = s.vars[k]
		}
		return n.next.name, nil
	case KindQueue:
		if n.skill != "" {
			r.skill = n.skill
		}
		if n.queue != "" {
			r.queue = n.queue
		}
		if n.priority != nil {
			r.prio = *n.priority
		}
		r.finish(ActionQueue)
		r.event(Event{Kind: EventResult, Node: n.name, Result: "queue " + r.skill})
		return "", nil
	case KindTransfer:
		r.finish(ActionTransfer)
		r.out.Destination = n.dest
		r.event(Event{Kind: EventResult, Node: n.name, Result: "transfer " + n.dest})
		return "", nil
	case KindHangup:
		if _, _, err := r.say(n, n.prompts, nil); err != nil {
			return "", err
		}
		r.finish(ActionHangup)
		r.event(Event{Kind: EventResult, Node: n.name, Result: "hangup"})
		return "", nil
	}
	return "", fmt.Errorf("ivr: node %s has kind %d", n.name, n.kind)
}

// wake is what ended a wait.
type wake uint8

const (
	wakeDigit wake = iota
	wakePlayed
	wakeTimer
	wakeHangup
)

// wait blocks until a digit, the end of playback, the timer, or a hang-up. Nil channels
// are never ready, so one select serves every kind of wait.
func (r *run) wait(played <-chan struct{}, timer <-chan time.Time) (wake, media.Digit) {
	if r.opts.beforeWait != nil {
		r.opts.beforeWait()
	}
	select {
	case <-r.ctx.Done():
		return wakeHangup, media.Digit{}
	case <-r.leg.Done():
		return wakeHangup, media.Digit{}
	case d, ok := <-r.digits:
		if !ok {
			return wakeHangup, media.Digit{}
		}
		return wakeDigit, d
	case <-played:
		return wakePlayed, media.Digit{}
	case <-timer:
		return wakeTimer, media.Digit{}
	}
}

// say plays items. A digit for which bargein returns true stops the prompts and is
// returned; other digits are recorded as ignored.
func (r *run) say(n *node, items []item, bargein func(byte) bool) (media.Digit, bool, error) {
	names := r.resolve(items)
	if len(names) == 0 {
		return media.Digit{}, false, nil
	}
	pb := r.f.audio.Play(r.leg, r.lang, names)
	for {
		w, d := r.wait(pb.Done(), nil)
		switch w {
		case wakeHangup:
			r.promptEvent(n, names, pb.Stop(), true)
			return media.Digit{}, false, errHangup
		case wakeDigit:
			if bargein != nil && bargein(d.Key) {
				r.promptEvent(n, names, pb.Stop(), true)
				if m := r.opts.Metrics; m != nil {
					m.bargeins.Inc()
				}
				return d, true, nil
			}
			r.digitEvent(n, d, DigitIgnored)
		case wakePlayed:
			r.promptEvent(n, names, pb.Stop(), false)
			return media.Digit{}, false, nil
		}
	}
}

// listen plays items (cut by any digit when bargein), then waits up to timeout for one
// digit. got is false on timeout.
func (r *run) listen(n *node, items []item, bargein bool, timeout time.Duration) (d media.Digit, got bool, err error) {
	d, got, err = r.say(n, items, func(byte) bool { return bargein })
	if err != nil || got {
		return d, got, err
	}
	t := r.clock.NewTimer(timeout)
	defer t.Stop()
	switch w, d := r.wait(nil, t.C()); w {
	case wakeHangup:
		return d, false, errHangup
	case wakeDigit:
		return d, true, nil
	}
	r.timeoutEvent(n)
	return media.Digit{}, false, nil
}

func (r *run) execPlay(n *node) (string, error) {
	accept := func(k byte) bool { _, ok := n.digits[k]; return ok }
	d, cut, err := r.say(n, n.prompts, accept)
	if err != nil {
		return "", err
	}
	if cut {
		r.digitEvent(n, d, DigitOption)
		return n.digits[d.Key].name, nil
	}
	if n.wait > 0 && len(n.digits) > 0 {
		t := r.clock.NewTimer(n.wait)
		defer t.Stop()
		for {
			w, d := r.wait(nil, t.C())
			switch w {
			case wakeHangup:
				return "", errHangup
			case wakeTimer:
				return n.next.name, nil
			}
			if accept(d.Key) {
				r.digitEvent(n, d, DigitOption)
				return n.digits[d.Key].name, nil
			}
			r.digitEvent(n, d, DigitIgnored)
		}
	}
	return n.next.name, nil
}

// retry decides what follows a failed try of a menu, collect or survey: the handler's
// prompt then the node's prompt again, or, after the last try, the handler's prompt and
// its destination.
func (r *run) retry(n *node, h handler, tries int, fallback string) (items []item, next string, err error) {
	if tries < n.tries {
		return slices.Concat(h.prompts, n.prompts), "", nil
	}
	if _, _, err := r.say(n, h.prompts, nil); err != nil {
		return nil, "", err
	}
	next = h.next.name
	if next == "" {
		next = fallback
	}
	r.event(Event{Kind: EventResult, Node: n.name, Result: "gave up after " + strconv.Itoa(tries) + " tries"})
	return nil, next, nil
}

func (r *run) execMenu(n *node) (string, error) {
	items := n.prompts
	for tries := 1; ; tries++ {
		d, got, err := r.listen(n, items, !n.noBargein, n.timeout)
		if err != nil {
			return "", err
		}
		var h handler
		if got {
			if next, ok := n.digits[d.Key]; ok {
				r.digitEvent(n, d, DigitOption)
				return next.name, nil
			}
			r.digitEvent(n, d, DigitInvalid)
			h = n.onInvalid
		} else {
			h = n.onTimeout
		}
		items2, next, err := r.retry(n, h, tries, n.onTimeout.next.name)
		if err != nil || next != "" {
			return next, err
		}
		items = items2
	}
}

func (r *run) execCollect(n *node) (string, error) {
	items := n.prompts
	for tries := 1; ; tries++ {
		d, got, err := r.listen(n, items, true, n.timeout)
		if err != nil {
			return "", err
		}
		if !got {
			items2, next, err := r.retry(n, n.onTimeout, tries, n.onTimeout.next.name)
			if err != nil || next != "" {
				return next, err
			}
			items = items2
			continue
		}
		r.buf = r.buf[:0]
		done := r.feed(n, d)
		for !done {
			t := r.clock.NewTimer(n.interDigit)
			w, d := r.wait(nil, t.C())
			t.Stop()
			switch w {
			case wakeHangup:
				return "", errHangup
			case wakeTimer:
				r.timeoutEvent(n)
				done = true
			default:
				done = r.feed(n, d)
			}
		}
		if len(r.buf) >= n.min {
			v := string(r.buf)
			r.vars[n.into] = v
			r.event(Event{Kind: EventResult, Node: n.name, Result: n.into + "=" + v})
			return n.next.name, nil
		}
		r.event(Event{Kind: EventResult, Node: n.name, Result: "too short: " + strconv.Itoa(len(r.buf)) + " digits"})
		fallback := n.onInvalid.next.name
		if fallback == "" {
			fallback = n.onTimeout.next.name
		}
		items2, next, err := r.retry(n, n.onInvalid, tries, fallback)
		if err != nil || next != "" {
			return next, err
		}
		items = items2
	}
}

// feed adds one key to a collect and reports whether the entry is complete.
func (r *run) feed(n *node, d media.Digit) bool {
	switch k := d.Key; {
	case k >= '0' && k <= '9':
		r.buf = append(r.buf, k)
		r.digitEvent(n, d, DigitEntered)
		return len(r.buf) >= n.max
	case k == '#':
		r.digitEvent(n, d, DigitFinished)
		return true
	case k == '*':
		r.buf = r.buf[:0]
		r.digitEvent(n, d, DigitCleared)
		return false
	}
	r.digitEvent(n, d, DigitIgnored)
	return false
}

func (r *run) execSurvey(n *node) (string, error) {
	r.out.ScoreScale = n.scale
	items := n.prompts
	for tries := 1; ; tries++ {
		d, got, err := r.listen(n, items, true, n.timeout)
		if err != nil {
			return "", err
		}
		var h handler
		if got {
			if d.Key >= '1' && int(d.Key-'0') <= n.scale {
				r.out.Score = int(d.Key - '0')
				if n.into != "" {
					r.vars[n.into] = string(d.Key)
				}
				r.digitEvent(n, d, DigitScore)
				return n.next.name, nil
			}
			r.digitEvent(n, d, DigitInvalid)
			h = n.onInvalid
		} else {
			h = n.onTimeout
		}
		fallback := n.onTimeout.next.name
		if fallback == "" {
			fallback = n.next.name
		}
		items2, next, err := r.retry(n, h, tries, fallback)
		if err != nil || next != "" {
			return next, err
		}
		items = items2
	}
}

func (r *run) execRecord(n *node) (string, error) {
	items := n.prompts
	if n.beep {
		items = append(slices.Clip(items), item{prompt: promptBeep})
	}
	if _, _, err := r.say(n, items, nil); err != nil {
		return "", err
	}
	if r.opts.Recorder == nil {
		r.fail(n, errors.New("no recorder configured"))
		return n.next.name, nil
	}
	msg, err := r.opts.Recorder.StartMessage(r.ctx, MessageInfo{CallID: r.opts.CallID, Caller: r.opts.Caller,
		Dialled: r.opts.Dialled, Flow: r.f.name, Node: n.name, Max: n.recordMax})
	if err != nil {
		r.fail(n, fmt.Errorf("start message: %w", err))
		return n.next.name, nil
	}
	remove := r.leg.Tap(media.FromParty, msg)
	t := r.clock.NewTimer(n.recordMax)
	hung := false
wait:
	for {
		switch w, d := r.wait(nil, t.C()); w {
		case wakeHangup:
			hung = true
			break wait
		case wakeTimer:
			r.timeoutEvent(n)
			break wait
		case wakeDigit:
			if d.Key == '#' {
				r.digitEvent(n, d, DigitStopRec)
				break wait
			}
			r.digitEvent(n, d, DigitIgnored)
		}
	}
	t.Stop()
	remove()
	if err := msg.Close(); err != nil {
		r.fail(n, fmt.Errorf("close message: %w", err))
	}
	ref := msg.Ref()
	r.out.Messages = append(r.out.Messages, ref)
	if n.into != "" {
		r.vars[n.into] = ref
	}
	r.event(Event{Kind: EventResult, Node: n.name, Result: "message " + ref})
	if hung {
		return "", errHangup
	}
	return n.next.name, nil
}

func (r *run) execBranch(n *node) string {
	now := r.clock.Now().In(r.opts.Location)
	for i := range n.cases {
		if r.match(&n.cases[i], now) {
			r.event(Event{Kind: EventResult, Node: n.name, Result: "case " + strconv.Itoa(i+1)})
			return n.cases[i].next.name
		}
	}
	r.event(Event{Kind: EventResult, Node: n.name, Result: "default"})
	return n.def.name
}

func (r *run) match(c *branchCase, now time.Time) bool {
	if len(c.dialled) > 0 && !slices.Contains(c.dialled, r.opts.Dialled) {
		return false
	}
	if c.caller != nil && !c.caller.MatchString(r.opts.Caller) {
		return false
	}
	if c.timeFrom >= 0 {
		m := now.Hour()*60 + now.Minute()
		in := m >= c.timeFrom && m < c.timeTo
		if c.timeFrom > c.timeTo { // spans midnight
			in = m >= c.timeFrom || m < c.timeTo
		}
		if !in {
			return false
		}
	}
	if len(c.weekdays) > 0 && !slices.Contains(c.weekdays, now.Weekday()) {
		return false
	}
	if c.calendar != "" {
		working, holiday := r.day(now)
		switch c.calendar {
		case CalendarWorkingDay:
			if !working {
				return false
			}
		case CalendarRestDay:
			if working {
				return false
			}
		case CalendarHoliday:
			if !holiday {
				return false
			}
		}
	}
	if c.language != "" && c.language != r.lang {
		return false
	}
	for k, v := range c.vars {
		if r.vars[k] != v {
			return false
		}
	}
	// Last, as it may ask a database.
	if c.attribute == AttributeOpenCase {
		if r.opts.Callers == nil || !r.opts.Callers.HasOpenCase(r.ctx, r.opts.Caller) {
			return false
		}
	}
	return true
}

func (r *run) day(now time.Time) (working, holiday bool) {
	if r.opts.Calendar == nil {
		wd := now.Weekday()
		return wd != time.Saturday && wd != time.Sunday, false
	}
	return r.opts.Calendar.IsWorkingDay(now), r.opts.Calendar.IsHoliday(now)
}

// resolve expands items into prompt names in the current language.
func (r *run) resolve(items []item) []string {
	if len(items) == 0 {
		return nil
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch {
		case it.prompt != "":
			out = append(out, it.prompt)
		case it.digits != "":
			out = appendDigits(out, r.vars[it.digits])
		case it.number != "":
			v := r.vars[it.number]
			if x, err := strconv.ParseInt(v, 10, 64); err == nil {
				out = appendNumber(out, r.lang, x)
			} else {
				out = appendDigits(out, v)
			}
		}
	}
	return out
}

func (r *run) fail(n *node, err error) {
	r.log.Error("flow step failed", "node", n.name, "err", err)
	r.event(Event{Kind: EventError, Node: n.name, Result: err.Error()})
	r.countError()
}

func (r *run) countError() {
	if m := r.opts.Metrics; m != nil {
		m.errors.Inc()
	}
}

func (r *run) event(e Event) {
	if len(r.out.Path.Events) >= r.opts.MaxPathEvents {
		r.out.Path.Dropped++
		return
	}
	if e.At.IsZero() {
		e.At = r.clock.Now()
	}
	r.out.Path.Events = append(r.out.Path.Events, e)
}

func (r *run) promptEvent(n *node, names []string, played time.Duration, cut bool) {
	r.event(Event{Kind: EventPrompt, Node: n.name, Prompts: names, Language: r.lang, Cut: cut,
		PlayedMS: played.Milliseconds()})
}

func (r *run) timeoutEvent(n *node) {
	r.event(Event{Kind: EventTimeout, Node: n.name})
	if m := r.opts.Metrics; m != nil {
		m.timeouts.WithLabelValues(n.kind.String()).Inc()
	}
}

func (r *run) digitEvent(n *node, d media.Digit, result string) {
	at := d.At
	now := r.clock.Now()
	if at.IsZero() {
		at = now
	}
	r.event(Event{At: at, Kind: EventDigit, Node: n.name, Digit: string(d.Key), Result: result})
	if m := r.opts.Metrics; m != nil {
		m.digits.WithLabelValues(result).Inc()
		if result != DigitIgnored && !d.At.IsZero() {
			m.digitAction.Observe(now.Sub(d.At).Seconds())
		}
	}
}
