package ivr

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func loadTestFlow(t testing.TB, h *harness) *Flow {
	t.Helper()
	data, err := os.ReadFile("testdata/all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := Load("all.yaml", data, LoadOptions{Audio: h.audio, Skills: []string{"general"},
		Destinations: []string{"emergency"}})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func countEvents(p Path, kind EventKind, node string) int {
	n := 0
	for _, e := range p.Events {
		if e.Kind == kind && (node == "" || e.Node == node) {
			n++
		}
	}
	return n
}

func digitResults(p Path) string {
	var b []string
	for _, e := range p.Events {
		if e.Kind == EventDigit {
			b = append(b, e.Digit+":"+e.Result)
		}
	}
	return strings.Join(b, " ")
}

func TestRunNodeKinds(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	tests := []struct {
		name      string
		entry     string
		steps     []step
		opts      func(*RunOptions)
		action    Action
		node      string
		lang      string
		vars      map[string]string
		digits    string // digit:result list, "" means not checked
		timeouts  int    // -1: not checked
		score     int
		elapsed   time.Duration // virtual time the run took; 0: not checked
		pathCheck func(t *testing.T, p Path)
	}{
		{name: "silent caller ends in the queue after three tries", action: ActionQueue, node: "to_queue", lang: "zh",
			timeouts: 3, elapsed: 5*s + (1*s + 5*s) + (2*s + 5*s) + (2*s + 5*s) + 1*s},
		{name: "press 9 during the greeting cuts it and switches to English", steps: []step{press(2*s, "9"), press(4*s, "3")},
			action: ActionQueue, node: "to_queue", lang: "en", vars: map[string]string{"chose": "english"},
			digits: "9:option 3:option", timeouts: 0,
			pathCheck: func(t *testing.T, p Path) {
				e := p.Events[1]
				if e.Kind != EventPrompt || !e.Cut || e.PlayedMS != 2000 || e.Language != "zh" {
					t.Errorf("greeting event = %+v, want cut after 2000 ms in zh", e)
				}
				for _, e := range p.Events {
					if e.Kind == EventPrompt && e.Node == "menu" && e.Language != "en" {
						t.Errorf("menu played in %s after choosing English", e.Language)
					}
				}
			}},
		{name: "a digit not in the barge-in map is ignored during the greeting", steps: []step{press(1*s, "5"), press(6*s+500*ms, "3")},
			action: ActionQueue, lang: "zh", digits: "5:ignored 3:option", timeouts: 0,
			pathCheck: func(t *testing.T, p Path) {
				for _, e := range p.Events {
					if e.Kind == EventDigit && e.Digit == "3" && e.At.Sub(p.Start) != 6*s+500*ms {
						t.Errorf("digit timestamp: %+v", e)
					}
				}
			}},
		{name: "menu option by barge-in during the menu prompt", entry: "menu", steps: []step{press(300*ms, "0")},
			action: ActionTransfer, node: "emergency", digits: "0:option",
			pathCheck: func(t *testing.T, p Path) {
				if countEvents(p, EventPrompt, "menu") != 1 || !p.Events[1].Cut {
					t.Errorf("menu prompt not cut: %s", pathString(p))
				}
			}},
		{name: "menu option after the prompt, before the timeout", entry: "menu", steps: []step{press(5900*ms, "3")},
			action: ActionQueue, digits: "3:option", timeouts: 0},
		{name: "star and pound where a menu digit is expected", entry: "menu", steps: []step{press(2*s, "*"), press(4*s, "#"), press(6*s, "*")},
			action: ActionQueue, node: "to_queue", digits: "*:invalid #:invalid *:invalid",
			pathCheck: func(t *testing.T, p Path) {
				if !strings.Contains(pathString(p), "prompt menu invalid_input zh\n") {
					t.Errorf("final invalid_input not played:\n%s", pathString(p))
				}
			}},
		{name: "digit after the menu timed out barges into the retry", entry: "menu", steps: []step{press(6500*ms, "1"), press(9*s, "2026#")},
			action: ActionQueue, digits: "1:option 2:entered 0:entered 2:entered 6:entered #:finished", timeouts: 1,
			vars: map[string]string{"case_number": "2026"}},
		{name: "digit after the last timeout is ignored and the flow goes on", entry: "menu", steps: []step{press(20*s+500*ms, "3")},
			action: ActionQueue, digits: "3:ignored", timeouts: 3},
		{name: "collect a case number ended by pound and read it back", entry: "collect_case", steps: []step{press(2*s, "20261127#")},
			action: ActionQueue, vars: map[string]string{"case_number": "20261127"}, digits: "2:entered 0:entered 2:entered 6:entered 1:entered 1:entered 2:entered 7:entered #:finished",
			pathCheck: func(t *testing.T, p Path) {
				want := "case_number_is,digit_2,digit_0,digit_2,digit_6,digit_1,digit_1,digit_2,digit_7"
				if !strings.Contains(pathString(p), want) {
					t.Errorf("read back missing %s:\n%s", want, pathString(p))
				}
			}},
		{name: "star in a collect starts the entry again", entry: "collect_case", steps: []step{press(2*s, "99*12345#")},
			action: ActionQueue, vars: map[string]string{"case_number": "12345"}},
		{name: "inter-digit timeout ends a collect", entry: "collect_case", steps: []step{press(2*s, "20261")},
			action: ActionQueue, vars: map[string]string{"case_number": "20261"}, timeouts: 1},
		{name: "too short, then silence: on_timeout", entry: "collect_case", steps: []step{press(2*s, "12#")},
			action: ActionQueue, timeouts: 1, pathCheck: func(t *testing.T, p Path) {
				if !strings.Contains(pathString(p), "too short: 2 digits") {
					t.Errorf("no too-short result:\n%s", pathString(p))
				}
			}},
		{name: "200 digits in a collect keep the first twelve", entry: "collect_case", steps: []step{press(2*s, strings.Repeat("0123456789", 20))},
			action: ActionQueue, vars: map[string]string{"case_number": "012345678901"},
			pathCheck: func(t *testing.T, p Path) {
				// The rest arrive while the number is read back, which listens for nothing.
				got := digitResults(p)
				want := strings.TrimSpace(strings.Repeat("x:entered ", 12))
				if n := strings.Count(got, ":entered"); n != 12 || strings.Count(got, ":ignored") < 50 {
					t.Errorf("digits = %s, want %s then ignored ones", got, want)
				}
			}},
		{name: "a silent collect ends on its timeout path", entry: "collect_case", action: ActionQueue, timeouts: 2},
		{name: "record until pound", entry: "record_msg", steps: []step{press(5*s, "#")},
			opts: func(o *RunOptions) { o.Recorder = &fakeRecorder{} }, action: ActionHangup, node: "bye",
			vars: map[string]string{"message": "msg-1"}, digits: "#:stop"},
		{name: "silent recording ends at its max length", entry: "record_msg",
			opts: func(o *RunOptions) { o.Recorder = &fakeRecorder{} }, action: ActionHangup, timeouts: 1,
			elapsed: 1*s + 400*ms + 30*s + 1*s},
		{name: "record without a recorder carries on", entry: "record_msg", action: ActionHangup,
			pathCheck: func(t *testing.T, p Path) {
				if countEvents(p, EventError, "record_msg") != 1 {
					t.Errorf("no error event:\n%s", pathString(p))
				}
			}},
		{name: "survey score 2", entry: "survey", steps: []step{press(1*s, "2")}, action: ActionHangup, node: "bye", score: 2,
			digits: "2:score"},
		{name: "survey answered out of range twice gives no score", entry: "survey", steps: []step{press(5*s, "7"), press(7*s, "#"), press(9*s, "1")},
			// Two invalid answers use up the two tries; on_invalid has no next, so the survey
			// falls back to on_timeout's (goodbye) with no score, and the 1 comes too late.
			action: ActionHangup, node: "bye", score: 0, digits: "7:invalid #:invalid 1:ignored"},
		{name: "survey invalid then 1", entry: "survey", steps: []step{press(5*s, "4"), press(6*s, "1")},
			action: ActionHangup, node: "bye", score: 1, digits: "4:invalid 1:score"},
		{name: "silent survey leaves no score", entry: "survey", action: ActionHangup, score: 0, timeouts: 2},
		{name: "announce a number in Mandarin", entry: "announce", opts: func(o *RunOptions) { o.Vars = map[string]string{"position": "12"} },
			action: ActionQueue, pathCheck: func(t *testing.T, p Path) {
				if !strings.Contains(pathString(p), "queue_position_before,num_10,digit_2,queue_position_after") {
					t.Errorf("12 not spoken as 十二:\n%s", pathString(p))
				}
			}},
		{name: "announce a number in English", entry: "announce", opts: func(o *RunOptions) {
			o.Vars = map[string]string{"position": "12"}
			o.Language = "en"
		},
			action: ActionQueue, lang: "en", pathCheck: func(t *testing.T, p Path) {
				if !strings.Contains(pathString(p), "queue_position_before,digit_1,digit_2,queue_position_after") {
					t.Errorf("12 not spoken as 1 2:\n%s", pathString(p))
				}
			}},
		{name: "hangup node plays goodbye", entry: "bye", action: ActionHangup, elapsed: 1 * s},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.steps...)
			f := loadTestFlow(t, h)
			o := h.opts()
			if tc.opts != nil {
				tc.opts(&o)
			}
			out := h.run(f, tc.entry, o)
			if out.Action != tc.action {
				t.Errorf("action = %s, want %s\n%s", out.Action, tc.action, pathString(out.Path))
			}
			if tc.node != "" && out.Node != tc.node {
				t.Errorf("ended in %s, want %s", out.Node, tc.node)
			}
			if tc.lang != "" && out.Language != tc.lang {
				t.Errorf("language = %s, want %s", out.Language, tc.lang)
			}
			for k, v := range tc.vars {
				if out.Vars[k] != v {
					t.Errorf("var %s = %q, want %q", k, out.Vars[k], v)
				}
			}
			if tc.digits != "" {
				if got := digitResults(out.Path); got != tc.digits {
					t.Errorf("digits = %q, want %q", got, tc.digits)
				}
			}
			if tc.timeouts >= 0 && (tc.timeouts > 0 || tc.digits != "") {
				if got := countEvents(out.Path, EventTimeout, ""); got != tc.timeouts {
					t.Errorf("%d timeouts, want %d\n%s", got, tc.timeouts, pathString(out.Path))
				}
			}
			if out.Score != tc.score {
				t.Errorf("score = %d, want %d", out.Score, tc.score)
			}
			if tc.elapsed != 0 {
				if got := out.Path.End.Sub(out.Path.Start); got != tc.elapsed {
					t.Errorf("run took %s, want %s\n%s", got, tc.elapsed, pathString(out.Path))
				}
			}
			if out.Action == ActionQueue && out.Skill != "general" {
				t.Errorf("queued for skill %q", out.Skill)
			}
			if h.leg.ntaps() != 0 {
				t.Errorf("%d taps left on the leg", h.leg.ntaps())
			}
			if tc.pathCheck != nil {
				tc.pathCheck(t, out.Path)
			}
		})
	}
}
