package ivr

import (
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/media"
)

// t0 is a Friday morning in Hangzhou, a working day.
var t0 = time.Date(2026, 11, 27, 9, 30, 0, 0, chinaStandardTime)

// fakeClock is a manual clock. Timers fire when the harness advances it; a timer may carry
// a func instead of a channel (fake playback ends).
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk *fakeClock
	at  time.Time
	c   chan time.Time
	fn  func()
}

func newFakeClock(at time.Time) *fakeClock { return &fakeClock{now: at} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	return c.add(d, nil)
}

func (c *fakeClock) add(d time.Duration, fn func()) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clk: c, at: c.now.Add(d), c: make(chan time.Time, 1), fn: fn}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	i := slices.Index(t.clk.timers, t)
	if i < 0 {
		return false
	}
	t.clk.timers = slices.Delete(t.clk.timers, i, i+1)
	return true
}

// next is the earliest pending timer.
func (c *fakeClock) next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.timers) == 0 {
		return time.Time{}, false
	}
	at := c.timers[0].at
	for _, t := range c.timers[1:] {
		if t.at.Before(at) {
			at = t.at
		}
	}
	return at, true
}

func (c *fakeClock) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

func (c *fakeClock) setNow(at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if at.After(c.now) {
		c.now = at
	}
}

// advance moves the clock to at and fires the timers due by then.
func (c *fakeClock) advance(at time.Time) {
	c.mu.Lock()
	if at.After(c.now) {
		c.now = at
	}
	var due []*fakeTimer
	keep := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			due = append(due, t)
		} else {
			keep = append(keep, t)
		}
	}
	c.timers = keep
	now := c.now
	c.mu.Unlock()
	sort.SliceStable(due, func(i, j int) bool { return due[i].at.Before(due[j].at) })
	for _, t := range due {
		if t.fn != nil {
			t.fn()
		} else {
			t.c <- now
		}
	}
}

// fakeAudio knows prompts per language with a duration each; playback ends on the fake clock.
type fakeAudio struct {
	clk     *fakeClock
	prompts map[string]map[string]time.Duration // lang → name → duration
	mu      sync.Mutex
	played  [][]string
}

func (a *fakeAudio) Has(lang, name string) (string, bool) {
	if _, ok := a.prompts[lang][name]; ok {
		return lang, true
	}
	for _, l := range []string{"zh", "en"} {
		if _, ok := a.prompts[l][name]; ok {
			return l, true
		}
	}
	return "", false
}

func (a *fakeAudio) Play(leg media.Leg, lang string, names []string) Playback {
	var total time.Duration
	for _, n := range names {
		if used, ok := a.Has(lang, n); ok {
			total += a.prompts[used][n]
		}
	}
	a.mu.Lock()
	a.played = append(a.played, slices.Clone(names))
	a.mu.Unlock()
	p := &fakePlayback{clk: a.clk, start: a.clk.Now(), total: total, done: make(chan struct{})}
	if total == 0 {
		close(p.done)
		return p
	}
	p.timer = a.clk.add(total, p.finish)
	leg.SetOutbound(media.Silence{})
	return p
}

type fakePlayback struct {
	clk   *fakeClock
	start time.Time
	total time.Duration
	timer *fakeTimer
	once  sync.Once
	done  chan struct{}
}

func (p *fakePlayback) finish()               { p.once.Do(func() { close(p.done) }) }
func (p *fakePlayback) Done() <-chan struct{} { return p.done }
func (p *fakePlayback) Stop() time.Duration {
	if p.timer != nil {
		p.timer.Stop()
	}
	p.finish()
	return min(p.clk.Now().Sub(p.start), p.total)
}

// testPrompts is the shared prompt contract, with English missing the Mandarin place words.
func testPrompts(clk *fakeClock) *fakeAudio {
	names := []string{"greeting_12345", "greeting_12369", "greeting_12358", "greeting_967111",
		"press9_english", "emergency_notice", "transfer_emergency", "please_hold",
		"queue_position_before", "queue_position_after", "wait_minutes_before", "wait_minutes_after",
		"callback_offer", "callback_confirmed", "survey", "survey_thanks", "invalid_input",
		"no_input", "goodbye", "after_hours", "record_after_beep", "beep", "case_number_is",
		"digit_star", "digit_pound", "menu_main", "enter_case_number"}
	for i := range 10 {
		names = append(names, digitPrompts[i])
	}
	a := &fakeAudio{clk: clk, prompts: map[string]map[string]time.Duration{"zh": {}, "en": {}}}
	for _, n := range names {
		d := time.Second
		if strings.HasPrefix(n, "greeting_") || n == "emergency_notice" || n == "survey" {
			d = 4 * time.Second
		}
		if strings.HasPrefix(n, "digit_") || n == "beep" {
			d = 400 * time.Millisecond
		}
		a.prompts["zh"][n] = d
		a.prompts["en"][n] = d
	}
	for _, n := range []string{promptShi, promptBai, promptQian, promptWan} {
		a.prompts["zh"][n] = 400 * time.Millisecond
	}
	return a
}

// fakeLeg is a media.Leg whose digits and hang-up the harness controls.
type fakeLeg struct {
	digits   chan media.Digit
	done     chan struct{}
	doneOnce sync.Once
	mu       sync.Mutex
	out      media.Source
	nout     int
	taps     map[int]media.Sink
	tapID    int
}

func newFakeLeg() *fakeLeg {
	return &fakeLeg{digits: make(chan media.Digit, 512), done: make(chan struct{}), taps: map[int]media.Sink{}}
}

func (l *fakeLeg) Inbound() media.Source { return media.Silence{} }
func (l *fakeLeg) SetOutbound(s media.Source) {
	l.mu.Lock()
	l.out = s
	l.nout++
	l.mu.Unlock()
}

func (l *fakeLeg) outbounds() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nout
}
func (l *fakeLeg) Tap(dir media.Direction, s media.Sink) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tapID++
	id := l.tapID
	l.taps[id] = s
	return func() {
		l.mu.Lock()
		delete(l.taps, id)
		l.mu.Unlock()
	}
}
func (l *fakeLeg) ntaps() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.taps)
}
func (l *fakeLeg) Digits() <-chan media.Digit { return l.digits }
func (l *fakeLeg) Done() <-chan struct{}      { return l.done }
func (l *fakeLeg) Close() error {
	l.doneOnce.Do(func() { close(l.done) })
	return nil
}

var _ media.Leg = (*fakeLeg)(nil)

// step is one thing the caller does, at an offset from the start of the run.
type step struct {
	at     time.Duration
	keys   string // each key is pressed 100 ms after the previous
	hangup bool
}

// press returns a step pressing keys from at.
func press(at time.Duration, keys string) step { return step{at: at, keys: keys} }
func hangupAt(at time.Duration) step           { return step{at: at, hangup: true} }

type scheduled struct {
	at     time.Time
	key    byte
	hangup bool
}

// harness drives one run deterministically: each time the interpreter is about to block it
// makes exactly one thing happen, the earliest of the caller's next action and the next timer.
type harness struct {
	t      testing.TB
	clk    *fakeClock
	leg    *fakeLeg
	audio  *fakeAudio
	events []scheduled
	waits  int
	stuck  bool
}

func newHarness(t testing.TB, steps ...step) *harness {
	clk := newFakeClock(t0)
	h := &harness{t: t, clk: clk, leg: newFakeLeg(), audio: testPrompts(clk)}
	h.schedule(steps...)
	return h
}

func (h *harness) schedule(steps ...step) {
	start := h.clk.Now()
	for _, s := range steps {
		at := start.Add(s.at)
		if s.hangup {
			h.events = append(h.events, scheduled{at: at, hangup: true})
			continue
		}
		for i := 0; i < len(s.keys); i++ {
			h.events = append(h.events, scheduled{at: at.Add(time.Duration(i) * 100 * time.Millisecond), key: s.keys[i]})
		}
	}
	slices.SortStableFunc(h.events, func(a, b scheduled) int { return a.at.Compare(b.at) })
}

func (h *harness) beforeWait() {
	h.waits++
	if h.waits > 100000 {
		h.stuck = true
		h.leg.Close()
		return
	}
	if len(h.leg.digits) > 0 {
		return // a key is already waiting: let the interpreter take it before anything else happens
	}
	timerAt, hasTimer := h.clk.next()
	if len(h.events) > 0 && (!hasTimer || !h.events[0].at.After(timerAt)) {
		ev := h.events[0]
		h.events = h.events[1:]
		// Move the clock without firing timers due at this very instant: they fire on the
		// next step, so that exactly one thing is ready each time the interpreter waits.
		h.clk.setNow(ev.at)
		if ev.hangup {
			h.leg.Close()
			return
		}
		h.leg.digits <- media.Digit{Key: ev.key, At: h.clk.Now(), Duration: 100 * time.Millisecond}
		return
	}
	if hasTimer {
		h.clk.advance(timerAt)
		return
	}
	// Nothing can ever happen: the flow would wait forever. Hang up to end the run.
	h.stuck = true
	h.leg.Close()
}

func (h *harness) opts() RunOptions {
	return RunOptions{CallID: "call-1", Dialled: "12345", Caller: "13800138000", Clock: h.clk, beforeWait: h.beforeWait}
}

func (h *harness) run(f *Flow, entry string, o RunOptions) Outcome {
	h.t.Helper()
	if entry == "" {
		entry = f.start
	}
	out, err := f.RunFrom(context.Background(), h.leg, entry, o)
	if err != nil {
		h.t.Fatalf("run: %v", err)
	}
	if h.stuck {
		h.t.Fatalf("flow waited with nothing left to happen (stuck); path:\n%s", pathString(out.Path))
	}
	if n := h.clk.pending(); n != 0 {
		h.t.Errorf("%d timers left running after the run", n)
	}
	return out
}

// pathString renders a path compactly for failure messages and golden comparisons.
func pathString(p Path) string {
	var b strings.Builder
	for _, e := range p.Events {
		b.WriteString(e.At.Sub(p.Start).String())
		b.WriteString(" ")
		b.WriteString(string(e.Kind))
		b.WriteString(" ")
		b.WriteString(e.Node)
		switch e.Kind {
		case EventPrompt:
			b.WriteString(" " + strings.Join(e.Prompts, ","))
			b.WriteString(" " + e.Language)
			if e.Cut {
				b.WriteString(" cut")
			}
		case EventDigit:
			b.WriteString(" " + e.Digit + " " + e.Result)
		case EventResult, EventError:
			b.WriteString(" " + e.Result)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// fakeRecorder records messages in memory.
type fakeRecorder struct {
	mu   sync.Mutex
	msgs []*fakeMessage
	err  error
}

type fakeMessage struct {
	ref    string
	info   MessageInfo
	frames int
	closed bool
}

func (r *fakeRecorder) StartMessage(ctx context.Context, m MessageInfo) (Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return nil, r.err
	}
	msg := &fakeMessage{ref: "msg-" + string(rune('1'+len(r.msgs))), info: m}
	r.msgs = append(r.msgs, msg)
	return msg, nil
}

func (m *fakeMessage) WriteFrame(c media.Codec, p []byte) { m.frames++ }
func (m *fakeMessage) Ref() string                        { return m.ref }
func (m *fakeMessage) Close() error                       { m.closed = true; return nil }

// calendar2026 is China's 2026 public holidays and adjusted working days (调休), as
// published by the State Council; the real one lives in cases.
type calendar2026 struct{}

var (
	holidays2026 = [][2]string{
		{"2026-01-01", "2026-01-03"}, // 元旦
		{"2026-02-15", "2026-02-23"}, // 春节
		{"2026-04-04", "2026-04-06"}, // 清明
		{"2026-05-01", "2026-05-05"}, // 劳动节
		{"2026-06-19", "2026-06-21"}, // 端午
		{"2026-09-25", "2026-09-27"}, // 中秋
		{"2026-10-01", "2026-10-07"}, // 国庆
	}
	adjustedWorkdays2026 = []string{"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"}
)

func (calendar2026) IsHoliday(d time.Time) bool {
	day := d.Format(time.DateOnly)
	for _, r := range holidays2026 {
		if day >= r[0] && day <= r[1] {
			return true
		}
	}
	return false
}

func (c calendar2026) IsWorkingDay(d time.Time) bool {
	if slices.Contains(adjustedWorkdays2026, d.Format(time.DateOnly)) {
		return true
	}
	if c.IsHoliday(d) {
		return false
	}
	return d.Weekday() != time.Saturday && d.Weekday() != time.Sunday
}

type openCases map[string]bool

func (o openCases) HasOpenCase(ctx context.Context, caller string) bool { return o[caller] }
