package ivr

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/media"
)

func builtinPromptAudio(t testing.TB) (*PromptAudio, *media.PromptSet) {
	t.Helper()
	set, err := media.LoadPromptSet(BuiltinPrompts, "")
	if err != nil {
		t.Fatalf("load the embedded prompts: %v", err)
	}
	return NewPromptAudio(set), set
}

// The built-in flows load against the embedded prompts with no error and no warning:
// every prompt they use is recorded in both languages.
func TestBuiltinFlowsAgainstEmbeddedPrompts(t *testing.T) {
	a, set := builtinPromptAudio(t)
	flows, err := LoadBuiltin(builtinOpts(a))
	if err != nil {
		t.Fatal(err)
	}
	for name, f := range flows {
		if w := f.Warnings(); len(w) > 0 {
			t.Errorf("flow %s: %v", name, w)
		}
	}
	// The whole contract is there (English may lack the Mandarin place words).
	for _, p := range contractPrompts {
		for _, lang := range []string{"zh", "en"} {
			_, used, ok := set.Lookup(lang, p)
			if !ok || (used != lang && !(lang == "en" && strings.HasPrefix(p, "num_"))) {
				t.Errorf("prompt %s/%s: found %v in %q", lang, p, ok, used)
			}
		}
	}
	if _, _, ok := set.Lookup("music", "hold"); !ok {
		t.Error("no music/hold")
	}
}

// pumpLeg plays its outbound source as fast as a goroutine can read it, standing in for
// the media clock, so that real media.Players finish.
type pumpLeg struct {
	*fakeLeg
	frames int
}

func (l *pumpLeg) pump(stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, media.FrameSamples)
	for {
		select {
		case <-stop:
			return
		default:
		}
		l.mu.Lock()
		src := l.out
		l.mu.Unlock()
		if src != nil && src.ReadFrame(media.PCMU, buf) {
			l.frames++
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

func TestIntakeOnRealPlayers(t *testing.T) {
	a, set := builtinPromptAudio(t)
	flows, err := LoadBuiltin(builtinOpts(a))
	if err != nil {
		t.Fatal(err)
	}
	f := flows[IntakeFlow]
	for number, skill := range BuiltinSkills() {
		t.Run(number, func(t *testing.T) {
			leg := &pumpLeg{fakeLeg: newFakeLeg()}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go leg.pump(stop, &wg)
			out, err := f.Run(context.Background(), leg, RunOptions{Dialled: number})
			close(stop)
			wg.Wait()
			if err != nil || out.Action != ActionQueue || out.Skill != skill {
				t.Fatalf("outcome %s %q err %v", out.Action, out.Skill, err)
			}
			var want time.Duration
			for _, e := range out.Path.Events {
				if e.Kind != EventPrompt {
					continue
				}
				var d time.Duration
				for _, name := range e.Prompts {
					p, _, _ := set.Lookup("zh", name)
					d += p.Duration()
				}
				if e.Cut || e.PlayedMS != d.Milliseconds() {
					t.Errorf("%s: played %d ms of %s, want all %d ms", e.Node, e.PlayedMS, e.Prompts, d.Milliseconds())
				}
				want += d
			}
			if got := time.Duration(leg.frames) * media.FrameDuration; got != want {
				t.Errorf("leg played %s, prompts last %s", got, want)
			}
		})
	}
}

// A key already pressed when the greeting starts cuts it before its first frame.
func TestBargeInOnRealPlayer(t *testing.T) {
	a, _ := builtinPromptAudio(t)
	flows, err := LoadBuiltin(builtinOpts(a))
	if err != nil {
		t.Fatal(err)
	}
	leg := newFakeLeg()
	leg.digits <- media.Digit{Key: '9', At: time.Now()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Outcome)
	go func() {
		out, _ := flows[IntakeFlow].Run(ctx, leg, RunOptions{Dialled: "12345"})
		done <- out
	}()
	// Nothing reads the players, so the notice (the second thing played) never ends:
	// hang up once it has started.
	for leg.outbounds() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	out := <-done
	path := pathString(out.Path)
	if !strings.Contains(path, "prompt greet_12345 greeting_12345,press9_english zh cut") || out.Language != "en" {
		t.Fatalf("greeting not cut:\n%s", path)
	}
	for _, e := range out.Path.Events {
		if e.Kind == EventPrompt && e.Node == "greet_12345" && e.PlayedMS != 0 {
			t.Errorf("greeting played %d ms before the barge-in", e.PlayedMS)
		}
	}
	if !strings.Contains(path, "prompt notice emergency_notice en cut") || out.Action != ActionAbandoned {
		t.Errorf("notice not cut by the hang-up:\n%s", path)
	}
}

func TestHoldMusicAndAnnounce(t *testing.T) {
	a, set := builtinPromptAudio(t)
	src, ok := a.HoldMusic()
	if !ok {
		t.Fatal("no hold music")
	}
	hold, _, _ := set.Lookup("music", "hold")
	buf := make([]byte, media.FrameSamples)
	for i := 0; i < hold.Frames()+5; i++ { // loops past the end
		if !src.ReadFrame(media.PCMA, buf) {
			t.Fatalf("hold music stopped at frame %d", i)
		}
	}
	leg := newFakeLeg()
	pb := a.Announce(leg, "zh", "queue_position_before", 12, "queue_position_after")
	var want time.Duration
	for _, n := range []string{"queue_position_before", "num_10", "digit_2", "queue_position_after"} {
		p, _, _ := set.Lookup("zh", n)
		want += p.Duration()
	}
	p := leg.out.(*media.Player)
	frames := 0
	for p.ReadFrame(media.PCMU, buf) {
		frames++
	}
	<-pb.Done()
	if got := time.Duration(frames) * media.FrameDuration; got != want {
		t.Errorf("announcement lasts %s, want %s", got, want)
	}
}
