package cases

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var reviewer = Actor{ID: "r1", Role: RoleReviewer}

func testRules(now time.Time) rules {
	return rules{policy: &Policy{Calendar: BuiltinCalendar(), Taxonomy: BuiltinTaxonomy()}, depts: DemoDirectory(), now: now}
}

func TestLifecycleHappyPath(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	r := testRules(now)
	c := Case{Number: "20261127-000001", State: StateReceived, Category: "0201", Urgency: UrgencyNormal}
	handler := Actor{ID: "h1", Role: RoleHandler, Dept: "sthjj"}
	steps := []struct {
		cmd  Command
		want State
	}{
		{Command{Action: ActDispatch, Actor: reviewer, Dept: "sthjj", Assisting: []string{"cgj"}}, StateDispatched},
		{Command{Action: ActReturn, Actor: handler, Reason: "不属于本单位职责"}, StateReturned},
		{Command{Action: ActDispatch, Actor: reviewer, Dept: "sthjj"}, StateDispatched},
		{Command{Action: ActSign, Actor: handler}, StateSigned},
		{Command{Action: ActExtend, Actor: handler, Reason: "需要现场检测", Days: 3}, StateSigned},
		{Command{Action: ActReply, Actor: handler, Reason: "已责令整改", Resolved: true}, StateReplied},
		{Command{Action: ActClose, Actor: reviewer}, StateClosed},
		{Command{Action: ActFollowUp, Actor: reviewer, Reason: "回访"}, StateFollowedUp},
		{Command{Action: ActEvaluate, Actor: reviewer, Score: Unsatisfied}, StateEvaluated},
		{Command{Action: ActReopen, Actor: reviewer, Reason: "油烟仍然扰民，情况属实"}, StateReopened},
		{Command{Action: ActDispatch, Actor: reviewer, Dept: "sthjj"}, StateDispatched},
	}
	for i, st := range steps {
		nc, ev, err := decide(c, st.cmd, r)
		if err != nil {
			t.Fatalf("step %d %s: %v", i, st.cmd.Action, err)
		}
		if nc.State != st.want {
			t.Fatalf("step %d: state %s, want %s", i, nc.State, st.want)
		}
		if ev.Type != EventCaseTransition || ev.Actor != st.cmd.Actor.ID || ev.Reason != st.cmd.Reason {
			t.Fatalf("step %d: event %+v", i, ev)
		}
		c = nc
	}
	if c.Reopened != 1 || c.Deadline.IsZero() || c.LeadDept != "sthjj" || c.Extensions != 0 {
		t.Errorf("after reopen and re-dispatch: %+v", c)
	}
}

func TestInvalidTransitions(t *testing.T) {
	r := testRules(time.Now())
	for _, s := range AllStates {
		for _, a := range []Action{ActAnswer, ActDispatch, ActSign, ActReturn, ActReply, ActClose, ActFollowUp, ActEvaluate, ActReopen, ActExtend} {
			if _, ok := transitions[s][a]; ok {
				continue
			}
			c := Case{Number: "20261127-000002", State: s, Category: "0201"}
			_, _, err := decide(c, Command{Action: a, Actor: SystemActor, Reason: "x", Dept: "cgj", Days: 1, Score: 1}, r)
			var te *TransitionError
			if !errors.As(err, &te) || !errors.Is(err, ErrTransition) {
				t.Fatalf("%s in %s: err %v, want a TransitionError", a, s, err)
			}
			if !strings.Contains(err.Error(), string(a)) || !strings.Contains(err.Error(), string(s)) {
				t.Errorf("message does not say what and where: %q", err)
			}
		}
	}
}

func TestDecideRefusals(t *testing.T) {
	now := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	r := testRules(now)
	recv := Case{Number: "n", State: StateReceived, Category: "0201", Urgency: UrgencyNormal}
	tests := []struct {
		name string
		c    Case
		cmd  Command
		want error
	}{
		{"unknown dept", recv, Command{Action: ActDispatch, Actor: reviewer, Dept: "nope"}, ErrInvalid},
		{"unknown assisting", recv, Command{Action: ActDispatch, Actor: reviewer, Dept: "cgj", Assisting: []string{"x"}}, ErrInvalid},
		{"lead also assisting", recv, Command{Action: ActDispatch, Actor: reviewer, Dept: "cgj", Assisting: []string{"cgj"}}, ErrInvalid},
		{"deadline in the past", recv, Command{Action: ActDispatch, Actor: reviewer, Dept: "cgj", Deadline: now.Add(-time.Minute)}, ErrInvalid},
		{"no category", Case{State: StateReceived}, Command{Action: ActDispatch, Actor: reviewer, Dept: "cgj"}, ErrTransition},
		{"agent dispatches", recv, Command{Action: ActDispatch, Actor: Actor{ID: "a", Role: RoleAgent}, Dept: "cgj"}, ErrForbidden},
		{"anonymous", recv, Command{Action: ActAnswer, Reason: "x"}, ErrForbidden},
		{"other dept signs", Case{State: StateDispatched, LeadDept: "cgj"}, Command{Action: ActSign, Actor: Actor{ID: "h", Role: RoleHandler, Dept: "jtj"}}, ErrForbidden},
		{"return without reason", Case{State: StateDispatched, LeadDept: "cgj"}, Command{Action: ActReturn, Actor: reviewer}, ErrInvalid},
		{"bad score", Case{State: StateFollowedUp}, Command{Action: ActEvaluate, Actor: reviewer, Score: 7}, ErrInvalid},
		{"reopen satisfied", Case{State: StateEvaluated, Evaluation: Satisfied}, Command{Action: ActReopen, Actor: reviewer, Reason: "x"}, ErrTransition},
		{"extend 0 days", Case{State: StateSigned}, Command{Action: ActExtend, Actor: reviewer, Reason: "x"}, ErrInvalid},
		{"extend a third time", Case{State: StateSigned, Extensions: 2}, Command{Action: ActExtend, Actor: reviewer, Reason: "x", Days: 1}, ErrTransition},
		{"over-long reason", Case{State: StateDispatched}, Command{Action: ActReturn, Actor: reviewer, Reason: strings.Repeat("长", MaxReasonLen+1)}, ErrInvalid},
		{"close unhandled without reason", recv, Command{Action: ActClose, Actor: reviewer}, ErrInvalid},
	}
	for _, tc := range tests {
		_, _, err := decide(tc.c, tc.cmd, r)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestTaxonomy(t *testing.T) {
	tx := BuiltinTaxonomy()
	if c, ok := tx.Lookup("0101"); !ok || c.Name != "违法建设" || c.WorkingDays != 15 {
		t.Errorf("0101 = %+v", c)
	}
	if !tx.Leaf("0201") || tx.Leaf("02") || tx.Leaf("0299") {
		t.Error("Leaf is wrong")
	}
	if n := len(tx.Children("02")); n != 4 {
		t.Errorf("environment has %d children", n)
	}
	for _, bad := range [][]Category{
		{{Code: "1", Name: "x"}},
		{{Code: "01", Name: "a"}, {Code: "01", Name: "b"}},
		{{Code: "0101", Name: "orphan", WorkingDays: 7}},
		{{Code: "01", Name: "a"}, {Code: "0101", Name: "no limit"}},
		{{Code: "0a", Name: "x"}},
	} {
		if _, err := NewTaxonomy(bad); err == nil {
			t.Errorf("NewTaxonomy(%v) accepted", bad)
		}
	}
	if _, err := NewDirectory([]Department{{Code: "a b"}}); err == nil {
		t.Error("bad department code accepted")
	}
}

func TestMaskNumber(t *testing.T) {
	c := Case{CallerNumber: "13812345678", CallerName: "张三", Confidential: true}
	m := c.Masked()
	if m.CallerNumber != "138******78" || m.CallerName != "***" {
		t.Errorf("masked: %q %q", m.CallerNumber, m.CallerName)
	}
	c.Confidential = false
	if c.Masked().CallerNumber != "13812345678" {
		t.Error("masked a case that is not confidential")
	}
}

func TestNumbererSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n")
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	n, err := newNumberer(3, path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 150 {
		s, err := n.take(now)
		if err != nil {
			t.Fatal(err)
		}
		seen[s] = true
	}
	if !seen["20261127-300001"] || !seen["20261127-300150"] {
		t.Fatalf("unexpected numbers: %d given", len(seen))
	}
	// A crash now: the next process starts past the reserved block.
	n2, err := newNumberer(3, path)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := n2.take(now)
	if seen[s] || s != "20261127-300201" {
		t.Errorf("after restart: %s", s)
	}
	if s, _ := n2.take(now.Add(24 * time.Hour)); s != "20261128-300001" {
		t.Errorf("next day: %s", s)
	}
	if _, err := newNumberer(10, ""); err == nil {
		t.Error("node 10 accepted")
	}
	if b, _ := os.ReadFile(path); !strings.HasPrefix(string(b), "20261128 ") {
		t.Errorf("state file: %q", b)
	}
}
