package ivr

import (
	"os"
	"testing"
	"time"
)

func BenchmarkLoadIntake(b *testing.B) {
	b.ReportAllocs()
	data, err := os.ReadFile("flows/intake.yaml")
	if err != nil {
		b.Fatal(err)
	}
	h := newHarness(b)
	opts := builtinOpts(h.audio)
	for b.Loop() {
		if _, err := Load("intake.yaml", data, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// One caller through the built-in intake with a barge-in: the interpreter's cost per
// call, fakes included.
func BenchmarkRunIntake(b *testing.B) {
	b.ReportAllocs()
	h := newHarness(b)
	f := loadIntake(b, h)
	for b.Loop() {
		h.leg = newFakeLeg()
		h.schedule(press(3*time.Second, "9"))
		out, err := f.Run(b.Context(), h.leg, h.opts())
		if err != nil || out.Action != ActionQueue {
			b.Fatal(out.Action, err)
		}
	}
}

// Twelve digits into a collect: the digit path (select, event, feed).
func BenchmarkCollectDigits(b *testing.B) {
	b.ReportAllocs()
	h := newHarness(b)
	f := loadTestFlow(b, h)
	for b.Loop() {
		h.leg = newFakeLeg()
		h.schedule(press(time.Second, "202611270001"))
		out, err := f.RunFrom(b.Context(), h.leg, "collect_case", h.opts())
		if err != nil || out.Vars["case_number"] != "202611270001" {
			b.Fatal(out.Vars, err)
		}
	}
}
