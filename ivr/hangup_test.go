package ivr

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// A caller may hang up in any node: the run ends as abandoned in that node, stops its
// prompt, closes a message being recorded, and leaves no timer or goroutine behind.
func TestHangupInEveryNodeKind(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := time.Second
	tests := []struct {
		kind   Kind
		entry  string
		steps  []step
		before bool // hang up before the run starts (nodes that do not wait)
		node   string
	}{
		{KindPlay, "start", []step{hangupAt(2 * s)}, false, "start"},
		{KindMenu, "menu", []step{hangupAt(500 * time.Millisecond)}, false, "menu"},
		{KindMenu, "menu", []step{hangupAt(3 * s)}, false, "menu"},
		{KindCollect, "collect_case", []step{press(2*s, "12"), hangupAt(2500 * time.Millisecond)}, false, "collect_case"},
		{KindRecord, "record_msg", []step{hangupAt(10 * s)}, false, "record_msg"},
		{KindRecord, "record_msg", []step{hangupAt(500 * time.Millisecond)}, false, "record_msg"},
		{KindSurvey, "survey", []step{hangupAt(2 * s)}, false, "survey"},
		{KindHangup, "bye", []step{hangupAt(500 * time.Millisecond)}, false, "bye"},
		{KindSet, "english", nil, true, "english"},
		{KindBranch, "hours", nil, true, "hours"},
		{KindQueue, "to_queue", nil, true, "to_queue"},
		{KindTransfer, "emergency", nil, true, "emergency"},
	}
	for _, tc := range tests {
		t.Run(tc.kind.String()+"/"+tc.entry, func(t *testing.T) {
			h := newHarness(t, tc.steps...)
			f := loadTestFlow(t, h)
			if tc.before {
				h.leg.Close()
			}
			rec := &fakeRecorder{}
			o := h.opts()
			o.Recorder = rec
			out := h.run(f, tc.entry, o)
			if out.Action != ActionAbandoned {
				t.Fatalf("action = %s, want abandoned\n%s", out.Action, pathString(out.Path))
			}
			if out.Node != tc.node || f.nodes[out.Node].kind != tc.kind {
				t.Errorf("ended in %s, want %s", out.Node, tc.node)
			}
			last := out.Path.Events[len(out.Path.Events)-1]
			if last.Kind != EventHangup || last.Node != tc.node {
				t.Errorf("last event %+v, want a hang-up in %s", last, tc.node)
			}
			for _, m := range rec.msgs {
				if !m.closed {
					t.Errorf("message %s left open", m.ref)
				}
			}
			if h.leg.ntaps() != 0 {
				t.Errorf("%d taps left", h.leg.ntaps())
			}
		})
	}
}

// The same on the system clock, with the hang-up coming from another goroutine as it does
// on a real call: Run returns promptly and leaves nothing running.
func TestHangupOnSystemClock(t *testing.T) {
	defer goleak.VerifyNone(t)
	for _, entry := range []string{"start", "menu", "collect_case", "survey", "record_msg"} {
		t.Run(entry, func(t *testing.T) {
			h := newHarness(t)
			f := loadTestFlow(t, h)
			// Prompts that never end on their own: the fake clock is never advanced.
			ctx, cancel := context.WithCancel(context.Background())
			res := make(chan Outcome)
			go func() {
				out, _ := f.RunFrom(ctx, h.leg, entry, RunOptions{Recorder: &fakeRecorder{}})
				res <- out
			}()
			cancel()
			out := <-res
			if out.Action != ActionAbandoned {
				t.Errorf("action = %s", out.Action)
			}
		})
	}
}
