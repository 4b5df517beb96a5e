package ivr

import (
	"errors"
	"strings"
	"testing"
)

func loadString(t *testing.T, src string) (*Flow, *LoadError) {
	t.Helper()
	h := newHarness(t)
	f, err := Load("test.yaml", []byte(src), LoadOptions{Audio: h.audio, Skills: []string{"general", "environment"},
		Queues: []string{"main"}, Destinations: []string{"emergency", "police"}})
	if err == nil {
		return f, nil
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error is %T, want *LoadError: %v", err, err)
	}
	return nil, le
}

// Each bad flow is a minimal good flow with one mistake; the test checks the message,
// the line and the node of the error.
func TestLoadReportsEachKindOfError(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		node      string
		msg       string
	}{
		{"unknown node", `
start: a
nodes:
  a:
    play: [goodbye]
    next: nowhere
`, 6, "a", `next: unknown node "nowhere"`},
		{"unknown prompt", `
nodes:
  a:
    hangup: [goodby]
`, 4, "a", `unknown prompt "goodby"`},
		{"unknown skill", `
nodes:
  a:
    queue: {skill: genral}
`, 4, "a", `unknown skill "genral"`},
		{"unknown queue", `
nodes:
  a:
    set: {queue: side}
    next: b
  b:
    queue: {}
`, 4, "a", `unknown queue "side"`},
		{"unknown destination", `
nodes:
  a:
    transfer: fire
`, 4, "a", `unknown destination "fire"`},
		{"unreachable node", `
nodes:
  a:
    queue: {}
  b:
    hangup: [goodbye]
`, 5, "b", "unreachable node"},
		{"loop without input", `
nodes:
  a:
    play: [please_hold]
    next: b
  b:
    set: {skill: general}
    next: a
`, 3, "a", "loop without input: a → b → a"},
		{"loop without input through a menu timeout", `
nodes:
  m:
    menu: [menu_main]
    options: {"1": q}
    on_timeout: {prompt: no_input, next: m}
  q:
    queue: {}
`, 3, "m", "loop without input: m → m"},
		{"menu without a timeout path", `
nodes:
  m:
    menu: [menu_main]
    options: {"1": q}
  q:
    queue: {}
`, 3, "m", "menu has no timeout path"},
		{"collect without a timeout path", `
nodes:
  c:
    collect: [enter_case_number]
    into: n
    next: q
  q:
    queue: {}
`, 3, "c", "collect has no timeout path"},
		{"unknown field", `
nodes:
  m:
    menu: [menu_main]
    options: {"1": q}
    timout: 5s
    on_timeout: {next: q}
  q:
    queue: {}
`, 6, "m", `unknown field "timout"`},
		{"two kinds in one node", `
nodes:
  a:
    play: [goodbye]
    hangup: [goodbye]
`, 3, "a", "more than one kind (play, hangup)"},
		{"no kind", `
nodes:
  a:
    next: a
`, 3, "a", "no kind"},
		{"not a phone key", `
nodes:
  a:
    play: [goodbye]
    digits: {"10": b}
    next: b
  b:
    queue: {}
`, 5, "a", `"10" is not a key on a phone`},
		{"bad duration", `
nodes:
  m:
    menu: [menu_main]
    options: {"1": q}
    timeout: 5 seconds
    on_timeout: {next: q}
  q:
    queue: {}
`, 6, "m", `bad duration "5 seconds"`},
		{"timeout too long", `
nodes:
  m:
    menu: [menu_main]
    options: {"1": q}
    timeout: 1h
    on_timeout: {next: q}
  q:
    queue: {}
`, 6, "m", "out of range"},
		{"branch without default", `
nodes:
  b:
    branch:
      - {dialled: "12369", next: q}
  q:
    queue: {}
`, 3, "b", "branch needs default"},
		{"bad time range", `
nodes:
  b:
    branch:
      - {time: "8-17", next: q}
    default: q
  q:
    queue: {}
`, 5, "b", `bad time range "8-17"`},
		{"bad caller pattern", `
nodes:
  b:
    branch:
      - {caller: "^(138", next: q}
    default: q
  q:
    queue: {}
`, 5, "b", "bad caller pattern"},
		{"unknown attribute", `
nodes:
  b:
    branch:
      - {attribute: vip, next: q}
    default: q
  q:
    queue: {}
`, 5, "b", `unknown caller attribute "vip"`},
		{"unknown language", `
nodes:
  a:
    set: {language: fr}
    next: q
  q:
    queue: {}
`, 4, "a", `unknown language "fr"`},
		{"unknown start", `
start: begin
nodes:
  q:
    queue: {}
`, 2, "", `start: unknown node "begin"`},
		{"node defined twice", `
nodes:
  q:
    queue: {}
  q:
    queue: {}
`, 5, "q", "node defined twice (first at line 3)"},
		// yaml.v3 places this error at the line before the bracket; we report what it says.
		{"yaml syntax", "nodes:\n  a:\n    play: [goodbye\n", 2, "", "did not find expected"},
		{"star unquoted is a yaml alias", "nodes:\n  a:\n    play: [goodbye]\n    digits: {*: a}\n    next: a\n", 4, "", ""},
		{"empty file", "", 0, "", "empty flow file"},
		{"not a mapping", "- a\n- b\n", 1, "", "a flow file is a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, le := loadString(t, tc.src)
			if le == nil {
				t.Fatalf("loaded a bad flow (%d nodes)", len(f.nodes))
			}
			for _, d := range le.Diagnostics {
				if d.File != "test.yaml" {
					t.Errorf("diagnostic without the file name: %+v", d)
				}
				if strings.Contains(d.Msg, tc.msg) && d.Line == tc.line && d.Node == tc.node {
					return
				}
			}
			t.Errorf("no error %q at line %d node %q; got:\n%v", tc.msg, tc.line, tc.node, le)
		})
	}
}

func TestLoadReportsAllErrorsAtOnce(t *testing.T) {
	_, le := loadString(t, `
flow: broken
start: a
nodes:
  a:
    play: [greting]
    next: b
  b:
    menu: [menu_main]
    options: {"1": c, "2": ghost}
  c:
    queue: {skill: plumbing}
  d:
    transfer: moon
`)
	if le == nil {
		t.Fatal("loaded")
	}
	want := []string{
		`test.yaml:6:12: node a: unknown prompt "greting"`,
		`test.yaml:8:3: node b: menu has no timeout path`,
		`test.yaml:10:28: node b: digit 2: unknown node "ghost"`,
		`test.yaml:12:20: node c: unknown skill "plumbing"`,
		`test.yaml:13:3: node d: unreachable node`,
		`test.yaml:14:15: node d: unknown destination "moon"`,
	}
	got := le.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if len(le.Diagnostics) != len(want) {
		t.Errorf("%d errors, want %d:\n%s", len(le.Diagnostics), len(want), got)
	}
	for i := 1; i < len(le.Diagnostics); i++ {
		if le.Diagnostics[i].Line < le.Diagnostics[i-1].Line {
			t.Errorf("errors not in line order:\n%s", got)
		}
	}
}

func TestPromptMissingInOneLanguageFallsBackWithAWarning(t *testing.T) {
	h := newHarness(t)
	delete(h.audio.prompts["en"], "after_hours")
	f, err := Load("w.yaml", []byte(`
nodes:
  a:
    play: [after_hours, {number: n}]
    next: b
  b:
    hangup: [goodbye]
`), LoadOptions{Audio: h.audio})
	if err != nil {
		t.Fatal(err)
	}
	ws := f.Warnings()
	var msgs []string
	for _, w := range ws {
		if w.Severity != SeverityWarning {
			t.Errorf("warning with severity %s", w.Severity)
		}
		msgs = append(msgs, w.String())
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{
		`w.yaml:4:12: warning: node a: prompt "after_hours" has no en recording; en callers hear the zh one`,
		`prompt "num_10" has no en recording; en callers hear the zh one`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing warning %q in:\n%s", want, all)
		}
	}
}

func TestLoadNeedsAudio(t *testing.T) {
	if _, err := Load("x.yaml", []byte("nodes: {a: {hangup: }}"), LoadOptions{}); err == nil {
		t.Fatal("loaded without a prompt set")
	}
}

func TestLoadTooLarge(t *testing.T) {
	h := newHarness(t)
	_, err := Load("big.yaml", make([]byte, maxFlowBytes+1), LoadOptions{Audio: h.audio})
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("err = %v", err)
	}
}

func TestFlowPromptsListsFragments(t *testing.T) {
	h := newHarness(t)
	f := loadTestFlow(t, h)
	ps := f.Prompts()
	for _, want := range []string{"greeting_12345", "beep", "digit_0", "num_10000", "no_input"} {
		found := false
		for _, p := range ps {
			found = found || p == want
		}
		if !found {
			t.Errorf("Prompts() lacks %s: %v", want, ps)
		}
	}
}
