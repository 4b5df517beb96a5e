package ivr

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary flow files to the loader and validator. Whatever the input:
// no panic; a rejected file yields a *LoadError whose every entry names the file; an
// accepted file has no dangling reference and, run for a caller who never presses
// anything, ends without looping forever or waiting for nothing.
func FuzzLoad(f *testing.F) {
	for _, p := range []string{"testdata/all.yaml", "flows/intake.yaml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	seeds, _ := filepath.Glob("testdata/seeds/*.yaml")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("nodes:\n  a:\n    play: [goodbye]\n    next: b\n  b:\n    set: {skill: general}\n    next: a\n"))
	f.Add([]byte("nodes:\n  m:\n    menu: [menu_main]\n    options: {\"1\": m}\n    on_timeout: {next: q}\n  q:\n    queue: {}\n"))
	f.Add([]byte("nodes: &a [*a]"))
	f.Add([]byte("nodes:\n  c:\n    collect: []\n    into: x\n    min: 0\n    next: c\n    on_timeout: {next: q}\n  q: {hangup: }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h := newHarness(t)
		fl, err := Load("fuzz.yaml", data, LoadOptions{Audio: h.audio, Skills: []string{"general"}, Destinations: []string{"emergency"}})
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) || len(le.Diagnostics) == 0 {
				t.Fatalf("error %T without diagnostics: %v", err, err)
			}
			for _, d := range le.Diagnostics {
				if d.File != "fuzz.yaml" || d.Severity != SeverityError || d.Msg == "" {
					t.Fatalf("bad diagnostic %+v", d)
				}
			}
			return
		}
		if _, ok := fl.nodes[fl.start]; !ok {
			t.Fatalf("accepted a flow whose start %q does not exist", fl.start)
		}
		for _, n := range fl.nodes {
			for _, e := range n.edges() {
				if _, ok := fl.nodes[e.to.name]; !ok {
					t.Fatalf("accepted node %s with %s to unknown %q", n.name, e.what, e.to.name)
				}
			}
		}
		out, err := fl.RunFrom(t.Context(), h.leg, fl.start, RunOptions{Clock: h.clk, beforeWait: h.beforeWait, Recorder: &fakeRecorder{}})
		if err != nil && !(errors.Is(err, ErrTooManySteps) && len(fl.nodes) > DefaultMaxSteps) {
			t.Fatalf("silent run: %v\n%s", err, pathString(out.Path))
		}
		if h.stuck {
			t.Fatalf("silent run waited for nothing:\n%s", pathString(out.Path))
		}
		if out.Action == ActionAbandoned || out.Action == "" {
			t.Fatalf("silent run ended with action %q:\n%s", out.Action, pathString(out.Path))
		}
	})
}
