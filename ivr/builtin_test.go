package ivr

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/hotline-12345/hotline/media"
)

// contractPrompts is the prompt contract shared with the prompt generator: every name the
// built-in flows use must be on it.
var contractPrompts = []string{"greeting_12345", "greeting_12369", "greeting_12358", "greeting_967111",
	"press9_english", "emergency_notice", "transfer_emergency", "please_hold", "queue_position_before",
	"queue_position_after", "wait_minutes_before", "wait_minutes_after", "callback_offer",
	"callback_confirmed", "survey", "survey_thanks", "invalid_input", "no_input", "goodbye",
	"after_hours", "record_after_beep", "beep", "case_number_is", "digit_0", "digit_1", "digit_2",
	"digit_3", "digit_4", "digit_5", "digit_6", "digit_7", "digit_8", "digit_9", "digit_star",
	"digit_pound", "num_10", "num_100", "num_1000", "num_10000"}

func builtinOpts(a Audio) LoadOptions {
	skills := []string{}
	for _, s := range BuiltinSkills() {
		skills = append(skills, s)
	}
	return LoadOptions{Audio: a, Skills: skills, Destinations: []string{EmergencyDestination}}
}

func loadIntake(t testing.TB, h *harness) *Flow {
	t.Helper()
	flows, err := LoadBuiltin(builtinOpts(h.audio))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := flows[IntakeFlow]
	if !ok {
		t.Fatalf("no %s flow in %v", IntakeFlow, FlowNames(flows))
	}
	return f
}

func TestBuiltinIntakeUsesOnlyContractPrompts(t *testing.T) {
	h := newHarness(t)
	f := loadIntake(t, h)
	for _, p := range f.Prompts() {
		if !slices.Contains(contractPrompts, p) {
			t.Errorf("intake uses %q, which is not in the prompt contract", p)
		}
	}
	if w := f.Warnings(); len(w) != 0 {
		t.Errorf("warnings on the built-in intake: %v", w)
	}
	if !slices.Equal(f.Entries(), []string{SurveyEntry}) {
		t.Errorf("entries = %v", f.Entries())
	}
}

func TestBuiltinIntakePerNumber(t *testing.T) {
	for number, skill := range BuiltinSkills() {
		t.Run(number, func(t *testing.T) {
			h := newHarness(t)
			f := loadIntake(t, h)
			o := h.opts()
			o.Dialled = number
			out := h.run(f, "", o)
			if out.Action != ActionQueue || out.Skill != skill || out.Language != "zh" {
				t.Errorf("outcome %s skill %q lang %s, want queue %q zh", out.Action, out.Skill, out.Language, skill)
			}
			want := "greeting_" + number + ",press9_english zh\n"
			if !strings.Contains(pathString(out.Path), want) {
				t.Errorf("no %q in path:\n%s", want, pathString(out.Path))
			}
			// No menu: greeting, notice, please hold, queue; nothing to wait for.
			if n := countEvents(out.Path, EventTimeout, ""); n != 0 {
				t.Errorf("%d timeouts on the plain intake", n)
			}
			if got := out.Path.End.Sub(out.Path.Start); got != 4*time.Second+time.Second+4*time.Second+time.Second {
				t.Errorf("intake took %s", got)
			}
		})
	}
}

func TestBuiltinIntakeUnknownNumberGoesToGeneral(t *testing.T) {
	h := newHarness(t)
	o := h.opts()
	o.Dialled = "0571-12345"
	if out := h.run(loadIntake(t, h), "", o); out.Skill != "general" {
		t.Errorf("skill = %q", out.Skill)
	}
}

func TestBuiltinIntakeEnglish(t *testing.T) {
	h := newHarness(t, press(3*time.Second, "9"))
	o := h.opts()
	o.Dialled = "12369"
	out := h.run(loadIntake(t, h), "", o)
	if out.Language != "en" || out.Skill != "environment" || out.Action != ActionQueue {
		t.Fatalf("outcome %+v", out)
	}
	p := pathString(out.Path)
	for _, want := range []string{"prompt greet_12369 greeting_12369,press9_english zh cut", "digit greet_12369 9 option",
		"prompt notice emergency_notice en", "prompt hold please_hold en"} {
		if !strings.Contains(p, want) {
			t.Errorf("no %q in:\n%s", want, p)
		}
	}
}

// A 9 typed before the greeting even starts (during call set-up) is taken by the greeting.
func TestBuiltinIntakeDigitBeforeThePrompt(t *testing.T) {
	h := newHarness(t)
	h.leg.digits <- media.Digit{Key: '9', At: t0.Add(-time.Second)}
	out := h.run(loadIntake(t, h), "", h.opts())
	if out.Language != "en" {
		t.Fatalf("language %s\n%s", out.Language, pathString(out.Path))
	}
	if !strings.Contains(pathString(out.Path), "0s prompt greet_12345 greeting_12345,press9_english zh cut\n-1s digit greet_12345 9 option") {
		t.Errorf("greeting not cut at once:\n%s", pathString(out.Path))
	}
}

func TestBuiltinIntakeEmergency(t *testing.T) {
	for name, at := range map[string]time.Duration{
		"during the notice":     6 * time.Second,
		"during please hold":    8*time.Second + 500*time.Millisecond,
		"during the greeting":   -1, // ignored: 0 is not offered yet
		"after the hold prompt": -2, // too late: in the queue
	} {
		t.Run(name, func(t *testing.T) {
			var steps []step
			switch at {
			case -1:
				steps = []step{press(time.Second, "0")}
			case -2:
				steps = []step{press(11*time.Second, "0")}
			default:
				steps = []step{press(at, "0")}
			}
			h := newHarness(t, steps...)
			out := h.run(loadIntake(t, h), "", h.opts())
			if at < 0 {
				if out.Action != ActionQueue {
					t.Errorf("action %s, want queue", out.Action)
				}
				return
			}
			if out.Action != ActionTransfer || out.Destination != EmergencyDestination {
				t.Errorf("outcome %s %q, want transfer to %s\n%s", out.Action, out.Destination, EmergencyDestination, pathString(out.Path))
			}
			if !strings.Contains(pathString(out.Path), "prompt emergency transfer_emergency zh\n") {
				t.Errorf("no transfer announcement:\n%s", pathString(out.Path))
			}
		})
	}
}

func TestBuiltinSurvey(t *testing.T) {
	tests := []struct {
		steps []step
		score int
	}{
		{[]step{press(2*time.Second, "1")}, 1},
		{[]step{press(5*time.Second, "3")}, 3},
		{[]step{press(5*time.Second, "5"), press(6*time.Second, "2")}, 2},
		{nil, 0},
	}
	for _, tc := range tests {
		h := newHarness(t, tc.steps...)
		o := h.opts()
		o.Language = "en"
		out := h.run(loadIntake(t, h), SurveyEntry, o)
		if out.Score != tc.score || out.ScoreScale != 3 || out.Action != ActionHangup {
			t.Errorf("%v: score %d/%d action %s, want %d/3 hangup\n%s", tc.steps, out.Score, out.ScoreScale, out.Action, tc.score, pathString(out.Path))
		}
		thanked := strings.Contains(pathString(out.Path), "survey_thanks")
		if thanked != (tc.score > 0) {
			t.Errorf("thanked = %v with score %d", thanked, tc.score)
		}
		if tc.score > 0 && out.Vars["call_rating"] != string(rune('0'+tc.score)) {
			t.Errorf("call_rating = %q", out.Vars["call_rating"])
		}
	}
}

// A key pressed while talking to the agent is still on the leg when the survey starts;
// with FlushDigits it is not taken as a rating.
func TestSurveyFlushesEarlierDigits(t *testing.T) {
	for _, flush := range []bool{false, true} {
		h := newHarness(t)
		h.leg.digits <- media.Digit{Key: '3', At: t0.Add(-time.Minute)}
		o := h.opts()
		o.FlushDigits = flush
		out := h.run(loadIntake(t, h), SurveyEntry, o)
		want := 3
		if flush {
			want = 0
		}
		if out.Score != want {
			t.Errorf("flush %v: score %d, want %d\n%s", flush, out.Score, want, pathString(out.Path))
		}
	}
}

func TestPathIsJSON(t *testing.T) {
	h := newHarness(t, press(3*time.Second, "9"))
	out := h.run(loadIntake(t, h), "", h.opts())
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Action string `json:"action"`
		Skill  string `json:"skill"`
		Path   struct {
			Flow   string `json:"flow"`
			Events []struct {
				Kind     string `json:"kind"`
				NodeKind string `json:"node_kind"`
				Cut      bool   `json:"cut"`
				PlayedMS int64  `json:"played_ms"`
				Digit    string `json:"digit"`
				At       time.Time
			} `json:"events"`
		} `json:"path"`
	}
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.Action != "queue" || back.Skill != "general" || back.Path.Flow != "intake" {
		t.Errorf("decoded %+v", back)
	}
	var cut, digit, kinds bool
	for _, e := range back.Path.Events {
		cut = cut || (e.Kind == "prompt" && e.Cut && e.PlayedMS == 3000)
		digit = digit || (e.Kind == "digit" && e.Digit == "9" && e.At.Equal(t0.Add(3*time.Second)))
		kinds = kinds || (e.Kind == "node" && e.NodeKind == "branch")
	}
	if !cut || !digit || !kinds {
		t.Errorf("cut %v digit %v kinds %v in %s", cut, digit, kinds, b)
	}
}

func TestLoadFSReportsAllFiles(t *testing.T) {
	h := newHarness(t)
	fsys := fstest.MapFS{
		"a.yaml":    {Data: []byte("nodes:\n  a:\n    hangup: [nope]\n")},
		"b.yml":     {Data: []byte("nodes:\n  b:\n    transfer: x\n")},
		"c.yaml":    {Data: []byte("flow: dup\nnodes:\n  a:\n    hangup: []\n")},
		"d.yaml":    {Data: []byte("flow: dup\nnodes:\n  a:\n    hangup: []\n")},
		"notes.txt": {Data: []byte("ignored")},
	}
	_, err := LoadFS(fsys, LoadOptions{Audio: h.audio, Destinations: []string{"emergency"}})
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{`a.yaml:3:14: node a: unknown prompt "nope"`, `b.yml:3:15: node b: unknown destination "x"`, `d.yaml: flow "dup" is already defined in c.yaml`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestRegistryReloadKeepsRunningCallsOnTheirFlow(t *testing.T) {
	h := newHarness(t)
	flows, err := LoadBuiltin(builtinOpts(h.audio))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMetrics(nil)
	reg := NewRegistry(flows, nil, m)
	old, _ := reg.Flow(IntakeFlow)

	// A broken reload keeps the flows in service.
	if err := reg.Reload(func() (map[string]*Flow, error) {
		return LoadFS(fstest.MapFS{"intake.yaml": {Data: []byte("nodes: {a: {play: [x]}}")}}, builtinOpts(h.audio))
	}); err == nil {
		t.Fatal("broken reload accepted")
	}
	if f, _ := reg.Flow(IntakeFlow); f != old {
		t.Fatal("broken reload replaced the flow")
	}
	// A good reload swaps; a call that looked up the old flow still runs it.
	newSrc := strings.Replace(mustRead(t, "flows/intake.yaml"), "set: {skill: general}", "set: {skill: housing}", 1)
	if err := reg.Reload(func() (map[string]*Flow, error) {
		return LoadFS(fstest.MapFS{"intake.yaml": {Data: []byte(newSrc)}}, builtinOpts(h.audio))
	}); err != nil {
		t.Fatal(err)
	}
	cur, _ := reg.Flow(IntakeFlow)
	if cur == old {
		t.Fatal("good reload did not swap")
	}
	if out := h.run(old, "", h.opts()); out.Skill != "general" {
		t.Errorf("call on the old flow queued for %q", out.Skill)
	}
	h.leg = newFakeLeg() // the next call, on the same prompts and clock
	if out := h.run(cur, "", h.opts()); out.Skill != "housing" {
		t.Errorf("call on the new flow queued for %q", out.Skill)
	}
}

// Lookups race with reloads under -race.
func TestRegistryConcurrentReload(t *testing.T) {
	h := newHarness(t)
	flows, err := LoadBuiltin(builtinOpts(h.audio))
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry(flows, nil, nil)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 200 {
				if f, ok := reg.Flow(IntakeFlow); !ok || f.Name() != IntakeFlow {
					t.Error("flow missing during reload")
					return
				}
			}
		})
	}
	for range 50 {
		reg.Swap(flows)
	}
	wg.Wait()
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := builtinFlows.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
