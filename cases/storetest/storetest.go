// Package storetest is the conformance suite every cases.Store passes, and
// the PostgreSQL helpers the tests need: a fresh database per test on the
// machine's server, and a private server that a test may stop and start.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// Backend makes a fresh, empty database for one test and returns a function
// that opens a store on it. The function may be called again after Close,
// to simulate a restart of the server on the same database.
type Backend func(t *testing.T) func(o cases.Options) (cases.Store, error)

// Clock is a settable clock for Options.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Add moves the clock forward.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// T0 is the suite's "now": a Friday morning in China, a working day.
var T0 = time.Date(2026, 11, 27, 1, 30, 0, 0, time.UTC)

var (
	reviewer = cases.Actor{ID: "reviewer-1", Role: cases.RoleReviewer}
	agent    = cases.Actor{ID: "agent-7", Role: cases.RoleAgent}
)

type env struct {
	t     *testing.T
	ctx   context.Context
	clk   *Clock
	open  func(o cases.Options) (cases.Store, error)
	s     cases.Store
	state string
}

func (e *env) opts() cases.Options {
	return cases.Options{Now: e.clk.Now, StateDir: e.state, Node: 1}
}

func newEnv(t *testing.T, b Backend) *env {
	e := &env{t: t, ctx: context.Background(), clk: NewClock(T0), state: t.TempDir()}
	e.open = b(t)
	s, err := e.open(e.opts())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	e.s = s
	t.Cleanup(func() { e.s.Close() })
	return e
}

func (e *env) create(nc cases.NewCase) cases.Case {
	e.t.Helper()
	if nc.Category == "" {
		nc.Category = "0201"
	}
	c, err := e.s.Create(e.ctx, nc, agent)
	if err != nil {
		e.t.Fatalf("create: %v", err)
	}
	return c
}

func (e *env) apply(c cases.Case, cmd cases.Command) cases.Case {
	e.t.Helper()
	if cmd.Actor.Role == "" {
		cmd.Actor = reviewer
	}
	cmd.Version = c.Version
	nc, err := e.s.Apply(e.ctx, c.ID, cmd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", cmd.Action, c.Number, err)
	}
	return nc
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// Run runs the suite. Every subtest gets its own database.
func Run(t *testing.T, b Backend) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"CallTimeline", testCallTimeline},
		{"CreateValidation", testCreateValidation},
		{"SQLTextVerbatim", testSQLTextVerbatim},
		{"Lifecycle", testLifecycle},
		{"RefusedTransitions", testRefusedTransitions},
		{"VersionConflict", testVersionConflict},
		{"ConcurrentNoLostUpdate", testConcurrentNoLostUpdate},
		{"RepeatRequests", testRepeatRequests},
		{"MergeAndUnmerge", testMerge},
		{"Confidential", testConfidential},
		{"Search", testSearch},
		{"Satisfaction", testSatisfaction},
		{"Deadlines", testDeadlines},
		{"Reports", testReports},
		{"RepeatReportsOutOfOrder", testRepeatReportsOutOfOrder},
		{"CrashRecovery", testCrashRecovery},
		{"NumbersUnique", testNumbersUnique},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newEnv(t, b)) })
	}
}

func testCallTimeline(t *testing.T, e *env) {
	c, err := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "call-1", Caller: "13812345678", Dialled: "12369"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.InCall || c.State != cases.StateReceived || c.Channel != cases.ChannelPhone || c.Node != 1 {
		t.Fatalf("opened case: %+v", c)
	}
	if len(c.Number) != 15 || !strings.HasPrefix(c.Number, "20261127-1") {
		t.Fatalf("number %q: want 20261127-1NNNNN", c.Number)
	}
	evs := []cases.Event{
		{Type: cases.EventIVRPath, Payload: json.RawMessage(`{"nodes":["welcome","lang:zh"]}`)},
		{Type: cases.EventCallOffered},
		{Type: cases.EventCallAnswered, Value: 9000, Actor: "agent-7"},
		{Type: cases.EventRecording, Payload: json.RawMessage(`{"path":"2026/11/27/x.wav"}`)},
	}
	if err := e.s.AppendEvents(e.ctx, c.ID, evs); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AppendEvents(e.ctx, c.ID, []cases.Event{{Type: cases.EventNote, Reason: "caller upset"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.FinishCall(e.ctx, c.ID, cases.CallEnd{CallID: "call-1", Cause: "caller hangup", Survey: cases.Satisfied}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Get(e.ctx, c.Number)
	if err != nil {
		t.Fatal(err)
	}
	if got.InCall || got.CallScore != cases.Satisfied || got.DialledNumber != "12369" || got.Version != 2 {
		t.Errorf("after FinishCall: %+v", got)
	}
	tl, err := e.s.Timeline(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, ev := range tl {
		types = append(types, string(ev.Type))
		if i > 0 && ev.Seq <= tl[i-1].Seq {
			t.Errorf("timeline not in order")
		}
	}
	want := "case.created ivr.path call.offered call.answered recording.ref note call.ended survey.call"
	if strings.Join(types, " ") != want {
		t.Errorf("timeline:\n got %s\nwant %s", strings.Join(types, " "), want)
	}
	if tl[3].Value != 9000 || string(tl[1].Payload) == "" {
		t.Errorf("event data lost: %+v", tl[3])
	}
	// Bad input from the call flow.
	wantErr(t, "unknown case", e.s.AppendEvents(e.ctx, "no-such-case", []cases.Event{{Type: cases.EventNote}}), cases.ErrNotFound)
	wantErr(t, "bad payload", e.s.AppendEvents(e.ctx, c.ID, []cases.Event{{Type: cases.EventNote, Payload: json.RawMessage(`{`)}}), cases.ErrInvalid)
	wantErr(t, "no type", e.s.AppendEvents(e.ctx, c.ID, []cases.Event{{}}), cases.ErrInvalid)
	_, err = e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "x", Caller: "138' OR 1=1"})
	wantErr(t, "malformed caller", err, cases.ErrInvalid)
	_, err = e.s.OpenForCall(e.ctx, cases.CallInfo{Caller: "1"})
	wantErr(t, "no call id", err, cases.ErrInvalid)
}

func testCreateValidation(t *testing.T, e *env) {
	bad := []cases.NewCase{
		{Category: "0299"},
		{Category: "02"}, // a top-level category is not a leaf
		{Category: "0201", CallerNumber: "abc"},
		{Category: "0201", CallerNumber: strings.Repeat("1", 40)},
		{Category: "0201", Description: strings.Repeat("x", cases.MaxDescriptionLen+1)},
		{Category: "0201", Location: string([]byte{0xff, 0xfe})},
		{Category: "0201", Location: "a\x00b"},
		{Category: "0201", Urgency: "whenever"},
		{Category: "0201", Channel: "fax"},
	}
	for i, nc := range bad {
		_, err := e.s.Create(e.ctx, nc, agent)
		wantErr(t, fmt.Sprintf("bad case %d", i), err, cases.ErrInvalid)
	}
	c := e.create(cases.NewCase{CallerNumber: "+8613800000000", Description: strings.Repeat("长", cases.MaxDescriptionLen)})
	if got, _ := e.s.Get(e.ctx, c.ID); got.Description != c.Description {
		t.Error("a description of the maximum length was not kept whole")
	}
	_, err := e.s.Get(e.ctx, "20261127-999999")
	wantErr(t, "unknown number", err, cases.ErrNotFound)
	_, err = e.s.Update(e.ctx, c.ID, c.Version, cases.Patch{Category: ptr("9999")}, reviewer)
	wantErr(t, "update to unknown category", err, cases.ErrInvalid)
	_, err = e.s.Update(e.ctx, c.ID, c.Version, cases.Patch{Location: ptr("x")}, cases.Actor{})
	wantErr(t, "anonymous update", err, cases.ErrForbidden)
}

func ptr[T any](v T) *T { return &v }

func testSQLTextVerbatim(t *testing.T, e *env) {
	evil := []string{
		`'); DROP TABLE cases; --`,
		`" OR 1=1 --`,
		`Robert'); DELETE FROM events WHERE ('1'='1`,
		`100% _wild_ \ backslash`,
		`$1 $2 ? :name @p`,
	}
	for _, s := range evil {
		c := e.create(cases.NewCase{Description: s, Location: s, CallerName: "O'Brien"})
		got, err := e.s.Get(e.ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Description != s || got.Location != s || got.CallerName != "O'Brien" {
			t.Errorf("stored %q as %q", s, got.Description)
		}
		p, err := e.s.Search(e.ctx, cases.Query{Text: s})
		if err != nil {
			t.Fatal(err)
		}
		if p.Total != 1 || p.Cases[0].ID != c.ID {
			t.Errorf("search %q found %d", s, p.Total)
		}
	}
	// LIKE wildcards in a search match themselves only.
	p, _ := e.s.Search(e.ctx, cases.Query{Text: "%"})
	if p.Total != 1 {
		t.Errorf("search for %% found %d, want the one case containing it", p.Total)
	}
	p, _ = e.s.Search(e.ctx, cases.Query{})
	if p.Total != len(evil) {
		t.Errorf("%d cases, want %d: something was dropped", p.Total, len(evil))
	}
}

func testLifecycle(t *testing.T, e *env) {
	c := e.create(cases.NewCase{CallerNumber: "13900000001", Category: "0101", Location: "西湖区文三路 1 号"})
	c = e.apply(c, cases.Command{Action: cases.ActDispatch, Dept: "cgj", Assisting: []string{"zjj"}})
	wantDeadline := e.s.Policy().Calendar.AddWorkingDays(T0, 15)
	if !c.Deadline.Equal(wantDeadline) || c.LeadDept != "cgj" || len(c.AssistDepts) != 1 {
		t.Fatalf("dispatched: deadline %s want %s, %+v", c.Deadline, wantDeadline, c)
	}
	handler := cases.Actor{ID: "h-cgj", Role: cases.RoleHandler, Dept: "cgj"}
	e.clk.Add(time.Hour)
	c = e.apply(c, cases.Command{Action: cases.ActReturn, Actor: handler, Reason: "地址不在辖区"})
	c = e.apply(c, cases.Command{Action: cases.ActDispatch, Dept: "cgj", Urgency: cases.UrgencyUrgent})
	if !c.Deadline.Equal(T0.Add(time.Hour + 24*time.Hour)) {
		t.Errorf("urgent re-dispatch deadline %s", c.Deadline)
	}
	c = e.apply(c, cases.Command{Action: cases.ActSign, Actor: handler})
	c = e.apply(c, cases.Command{Action: cases.ActExtend, Actor: handler, Reason: "需要测绘", Days: 2})
	c = e.apply(c, cases.Command{Action: cases.ActReply, Actor: handler, Reason: "已拆除", Resolved: true})
	c = e.apply(c, cases.Command{Action: cases.ActClose})
	c = e.apply(c, cases.Command{Action: cases.ActFollowUp, Reason: "电话回访"})
	c = e.apply(c, cases.Command{Action: cases.ActEvaluate, Score: cases.Satisfied})
	if c.State != cases.StateEvaluated || !c.Resolved || c.Extensions != 1 || c.ClosedAt.IsZero() {
		t.Errorf("end of lifecycle: %+v", c)
	}
	tl, err := e.s.Timeline(e.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	var tr []string
	for _, ev := range tl {
		if ev.Type != cases.EventCaseTransition {
			continue
		}
		var p struct{ Action, From, To string }
		json.Unmarshal(ev.Payload, &p)
		tr = append(tr, p.From+">"+p.To)
		if ev.Actor == "" || ev.At.IsZero() {
			t.Errorf("transition event without who or when: %+v", ev)
		}
		if p.Action == "return" && ev.Reason != "地址不在辖区" {
			t.Errorf("return reason lost: %q", ev.Reason)
		}
	}
	want := "received>dispatched dispatched>returned returned>dispatched dispatched>signed signed>signed signed>replied replied>closed closed>followed_up followed_up>evaluated"
	if strings.Join(tr, " ") != want {
		t.Errorf("transitions:\n got %s\nwant %s", strings.Join(tr, " "), want)
	}
	// Answered directly by the centre.
	d := e.create(cases.NewCase{Category: "9901"})
	d = e.apply(d, cases.Command{Action: cases.ActAnswer, Actor: agent, Reason: "告知办事指南"})
	d = e.apply(d, cases.Command{Action: cases.ActClose})
	if d.State != cases.StateClosed {
		t.Errorf("answered directly: %s", d.State)
	}
}

func testRefusedTransitions(t *testing.T, e *env) {
	c := e.create(cases.NewCase{})
	_, err := e.s.Apply(e.ctx, c.ID, cases.Command{Action: cases.ActSign, Actor: reviewer, Version: c.Version})
	wantErr(t, "sign a received case", err, cases.ErrTransition)
	if !strings.Contains(err.Error(), "cannot sign a case that is received") {
		t.Errorf("message: %q", err)
	}
	_, err = e.s.Apply(e.ctx, c.ID, cases.Command{Action: cases.ActDispatch, Actor: reviewer, Dept: "nope", Version: c.Version})
	wantErr(t, "unknown department", err, cases.ErrInvalid)
	_, err = e.s.Apply(e.ctx, c.ID, cases.Command{Action: cases.ActDispatch, Actor: reviewer, Dept: "cgj", Deadline: T0.Add(-time.Hour), Version: c.Version})
	wantErr(t, "deadline in the past", err, cases.ErrInvalid)
	_, err = e.s.Apply(e.ctx, c.ID, cases.Command{Action: cases.ActDispatch, Actor: agent, Dept: "cgj", Version: c.Version})
	wantErr(t, "agent dispatches", err, cases.ErrForbidden)
	_, err = e.s.Apply(e.ctx, c.ID, cases.Command{Action: "fly", Actor: reviewer, Version: c.Version})
	wantErr(t, "unknown action", err, cases.ErrTransition)
	got, _ := e.s.Get(e.ctx, c.ID)
	if got.Version != c.Version || got.State != cases.StateReceived {
		t.Errorf("a refused transition changed the case: %+v", got)
	}
	tl, _ := e.s.Timeline(e.ctx, c.ID)
	if len(tl) != 1 {
		t.Errorf("refused transitions left %d events", len(tl)-1)
	}
	d := e.apply(c, cases.Command{Action: cases.ActDispatch, Dept: "cgj", Deadline: T0.Add(48 * time.Hour)})
	if !d.Deadline.Equal(T0.Add(48 * time.Hour)) {
		t.Errorf("explicit deadline %s", d.Deadline)
	}
}

func testVersionConflict(t *testing.T, e *env) {
	c := e.create(cases.NewCase{})
	a, err := e.s.Update(e.ctx, c.ID, c.Version, cases.Patch{Location: ptr("A")}, agent)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Update(e.ctx, c.ID, c.Version, cases.Patch{Location: ptr("B")}, agent)
	wantErr(t, "stale update", err, cases.ErrConflict)
	_, err = e.s.Apply(e.ctx, c.ID, cases.Command{Action: cases.ActDispatch, Actor: reviewer, Dept: "cgj", Version: c.Version})
	wantErr(t, "stale transition", err, cases.ErrConflict)
	got, _ := e.s.Get(e.ctx, c.ID)
	if got.Location != "A" || got.Version != a.Version {
		t.Errorf("after conflicts: %+v", got)
	}
}

// Many writers each append to the description with read-modify-write and
// retry on conflict: every append must survive.
func testConcurrentNoLostUpdate(t *testing.T, e *env) {
	c := e.create(cases.NewCase{})
	const writers, each = 4, 5
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				for {
					cur, err := e.s.Get(e.ctx, c.ID)
					if err != nil {
						errs <- err
						return
					}
					d := cur.Description + fmt.Sprintf("[%d.%d]", w, i)
					_, err = e.s.Update(e.ctx, c.ID, cur.Version, cases.Patch{Description: &d}, agent)
					if errors.Is(err, cases.ErrConflict) {
						conflicts.Add(1)
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, _ := e.s.Get(e.ctx, c.ID)
	for w := range writers {
		for i := range each {
			if !strings.Contains(got.Description, fmt.Sprintf("[%d.%d]", w, i)) {
				t.Errorf("lost update [%d.%d]", w, i)
			}
		}
	}
	if got.Version != 1+writers*each {
		t.Errorf("version %d, want %d", got.Version, 1+writers*each)
	}
	t.Logf("%d conflicts retried", conflicts.Load())
}

func testRepeatRequests(t *testing.T, e *env) {
	a := e.create(cases.NewCase{CallerNumber: "13700000001", Category: "0201", Location: "A 小区"})
	b := e.create(cases.NewCase{CallerNumber: "13700000001", Category: "0201", Location: "B 小区"})
	if b.RepeatOf != a.ID || a.RepeatOf != "" {
		t.Errorf("same caller, same category: repeat_of %q, want %q", b.RepeatOf, a.ID)
	}
	c := e.create(cases.NewCase{CallerNumber: "13700000001", Category: "0801", Location: "A 小区"})
	if c.RepeatOf != a.ID {
		t.Errorf("same caller, same place: repeat_of %q", c.RepeatOf)
	}
	d := e.create(cases.NewCase{CallerNumber: "13700000001", Category: "0901", Location: "学校"})
	if d.RepeatOf != "" {
		t.Errorf("another topic was linked to %s", d.RepeatOf)
	}
	other := e.create(cases.NewCase{CallerNumber: "13700000002", Category: "0201", Location: "A 小区"})
	if other.RepeatOf != "" {
		t.Error("another caller was linked")
	}
	// A call opens without a category; the agent sets it during the call.
	call, _ := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "c2", Caller: "13700000001", Dialled: "12345"})
	u, err := e.s.Update(e.ctx, call.ID, call.Version, cases.Patch{Category: ptr("0201")}, agent)
	if err != nil {
		t.Fatal(err)
	}
	if u.RepeatOf != a.ID {
		t.Errorf("repeat not linked on update: %q", u.RepeatOf)
	}
	tl, _ := e.s.Timeline(e.ctx, u.ID)
	if tl[len(tl)-1].Type != cases.EventCaseRepeat {
		t.Errorf("no repeat event: %v", tl[len(tl)-1].Type)
	}
	open, err := e.s.OpenCasesByCaller(e.ctx, "13700000001")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != 5 {
		t.Errorf("%d open cases, want 5", len(open))
	}
	e.apply(d, cases.Command{Action: cases.ActClose, Reason: "撤诉"})
	open, _ = e.s.OpenCasesByCaller(e.ctx, "13700000001")
	if len(open) != 4 {
		t.Errorf("%d open cases after closing one, want 4", len(open))
	}
	none, err := e.s.OpenCasesByCaller(e.ctx, "")
	if err != nil || len(none) != 0 {
		t.Errorf("withheld number: %v %d", err, len(none))
	}
	_, err = e.s.OpenCasesByCaller(e.ctx, "1' OR '1'='1")
	wantErr(t, "malformed number", err, cases.ErrInvalid)
}

func testMerge(t *testing.T, e *env) {
	a := e.create(cases.NewCase{CallerNumber: "13600000001"})
	b := e.create(cases.NewCase{CallerNumber: "13600000002"})
	c := e.create(cases.NewCase{CallerNumber: "13600000003"})
	_, err := e.s.Merge(e.ctx, a.ID, a.Number, a.Version, reviewer)
	wantErr(t, "merge into itself", err, cases.ErrInvalid)
	_, err = e.s.Merge(e.ctx, a.ID, b.ID, a.Version, agent)
	wantErr(t, "agent merges", err, cases.ErrForbidden)
	am, err := e.s.Merge(e.ctx, a.ID, b.ID, a.Version, reviewer)
	if err != nil {
		t.Fatal(err)
	}
	if am.State != cases.StateMerged || am.MergedInto != b.ID || am.PrevState != cases.StateReceived {
		t.Fatalf("merged: %+v", am)
	}
	b, _ = e.s.Get(e.ctx, b.ID)
	_, err = e.s.Merge(e.ctx, b.ID, a.ID, b.Version, reviewer)
	wantErr(t, "two-case cycle", err, cases.ErrInvalid)
	cm, err := e.s.Merge(e.ctx, c.ID, a.ID, c.Version, reviewer) // c → a → b
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Merge(e.ctx, b.ID, c.ID, b.Version, reviewer) // b → c → a → b
	wantErr(t, "three-case cycle", err, cases.ErrInvalid)
	_, err = e.s.Merge(e.ctx, a.ID, c.ID, am.Version, reviewer)
	wantErr(t, "merge a merged case", err, cases.ErrTransition)
	un, err := e.s.Unmerge(e.ctx, c.ID, cm.Version, reviewer)
	if err != nil {
		t.Fatal(err)
	}
	if un.State != cases.StateReceived || un.MergedInto != "" {
		t.Errorf("unmerged: %+v", un)
	}
	_, err = e.s.Unmerge(e.ctx, c.ID, un.Version, reviewer)
	wantErr(t, "unmerge twice", err, cases.ErrTransition)
	tl, _ := e.s.Timeline(e.ctx, b.ID)
	var merges int
	for _, ev := range tl {
		if ev.Type == cases.EventCaseMerged {
			merges++
		}
	}
	if merges != 1 {
		t.Errorf("the parent's timeline shows %d merges, want 1", merges)
	}
	open, _ := e.s.OpenCasesByCaller(e.ctx, "13600000001")
	if len(open) != 0 {
		t.Error("a merged case is still listed as open")
	}
}

func testConfidential(t *testing.T, e *env) {
	c := e.create(cases.NewCase{CallerNumber: "13512345678", CallerName: "李四", Confidential: true, Category: "1102"})
	got, _ := e.s.Get(e.ctx, c.ID)
	if got.CallerNumber != "13512345678" {
		t.Fatal("the store must keep the real number; masking is for views")
	}
	m := got.Masked()
	if strings.Contains(m.CallerNumber, "12345") || m.CallerName == "李四" {
		t.Errorf("masked: %+v", m)
	}
	p, _ := e.s.Search(e.ctx, cases.Query{Caller: "13512345678"})
	if p.Total != 0 {
		t.Error("a search by caller without the right found a confidential case")
	}
	p, _ = e.s.Search(e.ctx, cases.Query{Caller: "13512345678", IncludeConfidential: true})
	if p.Total != 1 {
		t.Error("an authorised search did not find the confidential case")
	}
	_, err := e.s.Update(e.ctx, c.ID, c.Version, cases.Patch{Confidential: ptr(false)}, agent)
	wantErr(t, "an agent lifts confidentiality", err, cases.ErrForbidden)
	if u, err := e.s.Update(e.ctx, c.ID, c.Version, cases.Patch{Confidential: ptr(false)}, reviewer); err != nil || u.Confidential {
		t.Errorf("a reviewer lifts confidentiality: %v", err)
	}
}

func testSearch(t *testing.T, e *env) {
	var made []cases.Case
	for i := range 12 {
		e.clk.Set(T0.Add(time.Duration(i) * time.Hour))
		cat := "0201"
		if i%3 == 0 {
			cat = "0101"
		}
		made = append(made, e.create(cases.NewCase{CallerNumber: fmt.Sprintf("1380000%04d", i%4), Category: cat,
			Description: fmt.Sprintf("第%d号 噪音扰民", i)}))
	}
	e.apply(made[0], cases.Command{Action: cases.ActDispatch, Dept: "cgj"})
	check := func(name string, q cases.Query, want int) cases.Page {
		t.Helper()
		p, err := e.s.Search(e.ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Total != want {
			t.Errorf("%s: total %d, want %d", name, p.Total, want)
		}
		return p
	}
	check("all", cases.Query{}, 12)
	check("number", cases.Query{Number: made[5].Number}, 1)
	check("caller", cases.Query{Caller: "13800000001"}, 3)
	check("text", cases.Query{Text: "第1"}, 3) // 1, 10, 11
	check("leaf category", cases.Query{Category: "0101"}, 4)
	check("top category", cases.Query{Category: "01"}, 4)
	check("state", cases.Query{State: cases.StateDispatched}, 1)
	check("date range", cases.Query{From: T0.Add(2 * time.Hour), To: T0.Add(5 * time.Hour)}, 3)
	p := check("page 1", cases.Query{Limit: 5}, 12)
	if len(p.Cases) != 5 || p.Next != 5 || p.Cases[0].ID != made[11].ID {
		t.Errorf("page 1: %d cases, next %d", len(p.Cases), p.Next)
	}
	p = check("page 3", cases.Query{Limit: 5, Offset: 10}, 12)
	if len(p.Cases) != 2 || p.Next != 0 {
		t.Errorf("last page: %d cases, next %d", len(p.Cases), p.Next)
	}
	for _, q := range []cases.Query{{Category: "77"}, {State: "lost"}, {Limit: 501}, {Offset: -1}, {Caller: "x"}} {
		_, err := e.s.Search(e.ctx, q)
		wantErr(t, fmt.Sprintf("search %+v", q), err, cases.ErrInvalid)
	}
}

func testSatisfaction(t *testing.T, e *env) {
	c, _ := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "s1", Caller: "13300000000", Dialled: "12345"})
	wantErr(t, "bad survey", e.s.FinishCall(e.ctx, c.ID, cases.CallEnd{CallID: "s1", Survey: 9}), cases.ErrInvalid)
	if err := e.s.FinishCall(e.ctx, c.ID, cases.CallEnd{CallID: "s1", Survey: cases.BasicallySatisfed}); err != nil {
		t.Fatal(err)
	}
	c, _ = e.s.Update(e.ctx, c.ID, 0, cases.Patch{Category: ptr("0204")}, agent)
	c = e.apply(c, cases.Command{Action: cases.ActDispatch, Dept: "cgj"})
	c = e.apply(c, cases.Command{Action: cases.ActSign})
	c = e.apply(c, cases.Command{Action: cases.ActReply, Reason: "已清运", Resolved: true})
	c = e.apply(c, cases.Command{Action: cases.ActClose})
	c = e.apply(c, cases.Command{Action: cases.ActFollowUp, Reason: "回访"})
	c = e.apply(c, cases.Command{Action: cases.ActEvaluate, Score: cases.Unsatisfied})
	if c.CallScore != cases.BasicallySatisfed || c.Evaluation != cases.Unsatisfied {
		t.Errorf("scores: call %d case %d", c.CallScore, c.Evaluation)
	}
	c = e.apply(c, cases.Command{Action: cases.ActReopen, Reason: "垃圾仍未清运，核实属实"})
	if c.State != cases.StateReopened || c.Reopened != 1 || !c.Open() {
		t.Errorf("reopened: %+v", c)
	}
	c = e.apply(c, cases.Command{Action: cases.ActDispatch, Dept: "cgj"})
	if c.Evaluation != cases.Unsatisfied || c.Resolved {
		t.Errorf("re-dispatch after reopen: %+v", c)
	}
}

func testDeadlines(t *testing.T, e *env) {
	c := e.create(cases.NewCase{Urgency: cases.UrgencyUrgent})
	c = e.apply(c, cases.Command{Action: cases.ActDispatch, Dept: "cgj"}) // due T0+24h; reminder from T0+18h
	other := e.create(cases.NewCase{})
	e.apply(other, cases.Command{Action: cases.ActDispatch, Dept: "jtj"}) // 7 working days
	sweep := func(at time.Duration) []cases.Notice {
		t.Helper()
		n, err := e.s.SweepDeadlines(e.ctx, T0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := sweep(17 * time.Hour); len(n) != 0 {
		t.Errorf("early sweep: %+v", n)
	}
	if n := sweep(19 * time.Hour); len(n) != 1 || n[0].Kind != cases.EventCaseReminded || n[0].Dept != "cgj" {
		t.Errorf("reminder: %+v", n)
	}
	if n := sweep(20 * time.Hour); len(n) != 0 {
		t.Errorf("reminded twice: %+v", n)
	}
	if n := sweep(25 * time.Hour); len(n) != 1 || n[0].Kind != cases.EventCaseOverdue {
		t.Errorf("overdue: %+v", n)
	}
	if n := sweep(49 * time.Hour); len(n) != 1 || n[0].Kind != cases.EventCaseEscalated {
		t.Errorf("escalated: %+v", n)
	}
	if n := sweep(100 * time.Hour); len(n) != 0 {
		t.Errorf("after escalation: %+v", n)
	}
	got, _ := e.s.Get(e.ctx, c.ID)
	if got.Escalation != 2 || !got.Reminded {
		t.Errorf("escalation %d reminded %v", got.Escalation, got.Reminded)
	}
	// An extension moves the deadline and clears the escalation.
	got = e.apply(got, cases.Command{Action: cases.ActExtend, Reason: "需协调", Days: 3})
	if got.Escalation != 0 || !got.Deadline.After(c.Deadline) {
		t.Errorf("after extension: %+v", got)
	}
}

func testReports(t *testing.T, e *env) {
	prevStart := T0.Add(-7 * 24 * time.Hour)
	mk := func(at time.Time, cat, dialled, caller, loc string) cases.Case {
		e.clk.Set(at)
		c, err := e.s.Create(e.ctx, cases.NewCase{Channel: cases.ChannelPhone, Category: cat, DialledNumber: dialled,
			CallerNumber: caller, Location: loc}, agent)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// Previous week: 2 noise, 2 illegal construction.
	mk(prevStart, "0201", "12345", "1", "")
	mk(prevStart.Add(time.Hour), "0201", "12345", "2", "")
	mk(prevStart.Add(2*time.Hour), "0101", "12369", "3", "")
	mk(prevStart.Add(3*time.Hour), "0101", "12345", "4", "")
	// This week: 3 noise, 1 illegal construction, 1 price.
	var cur []cases.Case
	cur = append(cur, mk(T0, "0201", "12369", "13000000001", "X 路 1 号"))
	cur = append(cur, mk(T0.Add(time.Hour), "0201", "12345", "13000000001", "X 路 1 号"))
	cur = append(cur, mk(T0.Add(2*time.Hour), "0202", "12345", "13000000001", "Y 路"))
	cur = append(cur, mk(T0.Add(3*time.Hour), "0101", "12358", "13000000002", "X 路 1 号"))
	cur = append(cur, mk(T0.Add(4*time.Hour), "0301", "12358", "13000000003", ""))
	week := cases.Period{From: T0, To: T0.Add(7 * 24 * time.Hour)}

	r, err := e.s.ByCategory(e.ctx, week, 2)
	if err != nil {
		t.Fatal(err)
	}
	if r.Total != 5 || r.PrevTotal != 4 || r.Rows[0].Key != "0201" || r.Rows[0].Count != 2 || r.Rows[0].PrevCount != 2 {
		t.Fatalf("by category: %+v", r)
	}
	if r.Rows[0].Change == nil || *r.Rows[0].Change != 0 || r.Rows[0].Share != 0.4 || r.Rows[0].Name != "噪音油烟" {
		t.Errorf("noise row: %+v", r.Rows[0])
	}
	r1, _ := e.s.ByCategory(e.ctx, week, 1)
	if r1.Rows[0].Key != "02" || r1.Rows[0].Count != 3 || *r1.Rows[0].Change != 0.5 {
		t.Errorf("level 1: %+v", r1.Rows[0])
	}
	for _, row := range r1.Rows {
		if row.Key == "01" && (*row.Change != -0.5) {
			t.Errorf("illegal construction change %v, want -0.5", *row.Change)
		}
		if row.Key == "03" && row.Change != nil {
			t.Error("change from zero must be absent")
		}
	}
	d, _ := e.s.ByDialled(e.ctx, week)
	if d.Rows[0].Key != "12345" || d.Rows[0].Count != 2 || d.Rows[1].Key != "12358" {
		t.Errorf("by dialled: %+v", d.Rows)
	}
	tc, _ := e.s.TopCallers(e.ctx, week, 10)
	if len(tc) != 1 || tc[0].Key != "13000000001" || tc[0].Cases != 3 || tc[0].Open != 3 {
		t.Errorf("top callers: %+v", tc)
	}
	tlocs, _ := e.s.TopLocations(e.ctx, week, 10)
	if len(tlocs) != 1 || tlocs[0].Key != "X 路 1 号" || tlocs[0].Cases != 3 {
		t.Errorf("top locations: %+v", tlocs)
	}
	// Department KPIs: cgj gets two (one on time and resolved, one late), jtj one.
	e.clk.Set(T0.Add(5 * time.Hour))
	a := e.apply(cur[0], cases.Command{Action: cases.ActDispatch, Dept: "cgj"})
	b := e.apply(cur[1], cases.Command{Action: cases.ActDispatch, Dept: "cgj", Urgency: cases.UrgencyEmergency})
	e.apply(cur[4], cases.Command{Action: cases.ActDispatch, Dept: "jtj"})
	a = e.apply(a, cases.Command{Action: cases.ActSign})
	a = e.apply(a, cases.Command{Action: cases.ActReply, Reason: "ok", Resolved: true})
	a = e.apply(e.apply(e.apply(a, cases.Command{Action: cases.ActClose}), cases.Command{Action: cases.ActFollowUp, Reason: "x"}),
		cases.Command{Action: cases.ActEvaluate, Score: cases.Satisfied})
	e.clk.Set(T0.Add(9 * time.Hour)) // past b's 2-hour limit
	b = e.apply(b, cases.Command{Action: cases.ActSign})
	e.apply(b, cases.Command{Action: cases.ActReply, Reason: "late", Resolved: false})
	k, err := e.s.DepartmentKPIs(e.ctx, week)
	if err != nil {
		t.Fatal(err)
	}
	if len(k) != 2 || k[0].Dept != "cgj" || k[0].Dispatched != 2 || k[0].OnTime != 1 || k[0].Late != 1 ||
		k[0].OnTimeRate != 0.5 || k[0].ResolutionRate != 0.5 || k[0].SatisfactionRate != 1 || k[0].Name == "" {
		t.Errorf("cgj KPIs: %+v", k)
	}
	// Answer rates from call events.
	calls := []int64{3000, 14000, 15000, 16000, 3600000, -1} // -1: abandoned
	var lastCall cases.Case
	for i, w := range calls {
		c, _ := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: fmt.Sprint("r", i), Caller: "13100000000", Dialled: "12345"})
		lastCall = c
		evs := []cases.Event{{Type: cases.EventCallOffered, At: T0.Add(time.Hour)}}
		if w >= 0 {
			evs = append(evs, cases.Event{Type: cases.EventCallAnswered, Value: w, At: T0.Add(time.Hour)})
		} else {
			evs = append(evs, cases.Event{Type: cases.EventCallAbandoned, Value: 40000, At: T0.Add(time.Hour)})
		}
		if err := e.s.AppendEvents(e.ctx, c.ID, evs); err != nil {
			t.Fatal(err)
		}
	}
	ar, err := e.s.AnswerRates(e.ctx, week)
	if err != nil {
		t.Fatal(err)
	}
	if ar.Offered != 6 || ar.Answered != 5 || ar.AnsweredIn15s != 3 || ar.AnsweredIn24h != 5 || ar.Abandoned != 1 || ar.Rate15s != 0.5 {
		t.Errorf("answer rates: %+v", ar)
	}
	// Whole China days are answered from the daily rollups: same figures.
	dayStart := time.Date(2026, 11, 27, 0, 0, 0, 0, cases.ChinaTime)
	aligned := cases.Period{From: dayStart, To: dayStart.AddDate(0, 0, 7)}
	// A category set after the case was counted moves it in the rollup.
	if _, err := e.s.Update(e.ctx, lastCall.ID, 0, cases.Patch{Category: ptr("0301")}, agent); err != nil {
		t.Fatal(err)
	}
	// The same data through the raw rows: a period off midnight by 1 µs.
	raw := cases.Period{From: aligned.From.Add(time.Microsecond), To: aligned.To.Add(time.Microsecond)}
	ra, err := e.s.ByCategory(e.ctx, aligned, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = e.s.ByCategory(e.ctx, raw, 2)
	d, _ = e.s.ByDialled(e.ctx, raw)
	ar, _ = e.s.AnswerRates(e.ctx, raw)
	if r.Total != 11 {
		t.Errorf("raw total %d, want 11", r.Total)
	}
	if rowsString(ra.Rows) != rowsString(r.Rows) || ra.Total != r.Total || ra.PrevTotal != r.PrevTotal {
		t.Errorf("rollup by category:\n%s\nraw:\n%s", rowsString(ra.Rows), rowsString(r.Rows))
	}
	da, _ := e.s.ByDialled(e.ctx, aligned)
	if rowsString(da.Rows) != rowsString(d.Rows) {
		t.Errorf("rollup by dialled:\n%s\nraw:\n%s", rowsString(da.Rows), rowsString(d.Rows))
	}
	ka, _ := e.s.DepartmentKPIs(e.ctx, aligned)
	kr, _ := e.s.DepartmentKPIs(e.ctx, raw)
	if fmt.Sprintf("%+v", ka) != fmt.Sprintf("%+v", kr) || len(ka) != 2 {
		t.Errorf("rollup department KPIs:\n%+v\nraw:\n%+v", ka, kr)
	}
	aa, _ := e.s.AnswerRates(e.ctx, aligned)
	aa.Period = ar.Period
	if aa != ar {
		t.Errorf("rollup answer rates %+v, raw %+v", aa, ar)
	}
	_, err = e.s.ByCategory(e.ctx, cases.Period{From: T0, To: T0}, 1)
	wantErr(t, "empty period", err, cases.ErrInvalid)
	_, err = e.s.TopCallers(e.ctx, week, 0)
	wantErr(t, "top 0", err, cases.ErrInvalid)
}

// A crash between the call ending and its case being written: the next start
// of the same node closes the case as interrupted; another node's live call is
// left alone.
func testCrashRecovery(t *testing.T, e *env) {
	live, _ := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "live", Caller: "13200000000", Dialled: "12345"})
	handled, _ := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "h", Caller: "13200000001", Dialled: "12345"})
	handled, _ = e.s.Update(e.ctx, handled.ID, 0, cases.Patch{Category: ptr("9901")}, agent)
	handled = e.apply(handled, cases.Command{Action: cases.ActAnswer, Actor: agent, Reason: "已解答"})
	e.s.Close()

	// Node 2 shares the database and has a call up.
	o2 := e.opts()
	o2.Node, o2.StateDir = 2, t.TempDir()
	s2, err := e.open(o2)
	if err != nil {
		t.Fatal(err)
	}
	other, err := s2.OpenForCall(e.ctx, cases.CallInfo{CallID: "n2", Caller: "13200000002", Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()

	s, err := e.open(e.opts()) // node 1 restarts
	if err != nil {
		t.Fatal(err)
	}
	e.s = s
	got, _ := s.Get(e.ctx, live.ID)
	if got.InCall || got.State != cases.StateClosed || got.Resolution != "interrupted" {
		t.Errorf("interrupted case: %+v", got)
	}
	tl, _ := s.Timeline(e.ctx, live.ID)
	if tl[len(tl)-1].Type != cases.EventCaseInterrupted {
		t.Errorf("no interrupted event")
	}
	h, _ := s.Get(e.ctx, handled.ID)
	if h.InCall || h.State != cases.StateAnswered {
		t.Errorf("a case an agent already handled: %+v", h)
	}
	o, _ := s.Get(e.ctx, other.ID)
	if !o.InCall || o.State != cases.StateReceived {
		t.Errorf("node 2's live call was touched: %+v", o)
	}
	// Numbers continue after the restart.
	n, _ := s.OpenForCall(e.ctx, cases.CallInfo{CallID: "after", Caller: "1", Dialled: "12345"})
	if n.Number <= handled.Number {
		t.Errorf("number after restart %s is not past %s", n.Number, handled.Number)
	}
}

func testNumbersUnique(t *testing.T, e *env) {
	o2 := e.opts()
	o2.Node, o2.StateDir = 2, t.TempDir()
	s2, err := e.open(o2)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	seen := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range []cases.Store{e.s, s2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				c, err := s.OpenForCall(e.ctx, cases.CallInfo{CallID: fmt.Sprint(i), Caller: "1", Dialled: "12345"})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[c.Number] {
					t.Errorf("number %s given twice", c.Number)
				}
				seen[c.Number] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 40 {
		t.Errorf("%d numbers", len(seen))
	}
}

func rowsString(rows []cases.CountRow) string {
	var b strings.Builder
	for _, r := range rows {
		ch := "-"
		if r.Change != nil {
			ch = fmt.Sprintf("%.4f", *r.Change)
		}
		fmt.Fprintf(&b, "%s %s %d %.4f %d %s\n", r.Key, r.Name, r.Count, r.Share, r.PrevCount, ch)
	}
	return b.String()
}

// Top callers and locations stay exact when cases arrive out of time order
// (a spool replay) and when the location is filled in after the call.
func testRepeatReportsOutOfOrder(t *testing.T, e *env) {
	at := func(h int, nc cases.NewCase) cases.Case {
		e.clk.Set(T0.Add(time.Duration(h) * time.Hour))
		if nc.Category == "" {
			nc.Category = "0201"
		}
		c, err := e.s.Create(e.ctx, nc, agent)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	at(3, cases.NewCase{CallerNumber: "13900000001", Location: "L1"})
	at(1, cases.NewCase{CallerNumber: "13900000001"}) // earlier than the first
	at(0, cases.NewCase{CallerNumber: "13900000003", Location: "L1"})
	e.clk.Set(T0.Add(2 * time.Hour))
	call, err := e.s.OpenForCall(e.ctx, cases.CallInfo{CallID: "x", Caller: "13900000002", Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Update(e.ctx, call.ID, call.Version, cases.Patch{Location: ptr("L1")}, agent); err != nil {
		t.Fatal(err)
	}
	moved := at(4, cases.NewCase{CallerNumber: "13900000004", Location: "L1"})
	if _, err := e.s.Update(e.ctx, moved.ID, moved.Version, cases.Patch{Location: ptr("L2")}, agent); err != nil {
		t.Fatal(err)
	}
	dayStart := time.Date(2026, 11, 27, 0, 0, 0, 0, cases.ChinaTime)
	for _, p := range []cases.Period{{From: dayStart, To: dayStart.AddDate(0, 0, 1)}, {From: T0.Add(-time.Minute), To: T0.Add(5 * time.Hour)}} {
		tc, err := e.s.TopCallers(e.ctx, p, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(tc) != 1 || tc[0].Key != "13900000001" || tc[0].Cases != 2 {
			t.Errorf("top callers %v: %+v", p, tc)
		}
		tl, _ := e.s.TopLocations(e.ctx, p, 5)
		if len(tl) != 1 || tl[0].Key != "L1" || tl[0].Cases != 3 {
			t.Errorf("top locations %v: %+v", p, tl)
		}
	}
}
