package ivr_test

import (
	"fmt"
	"io/fs"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/internal/testkit"
	"github.com/hotline-12345/hotline/ivr"
)

// The prompt names are a contract between the call flow, the IVR and
// scripts/gen-prompts; an operator's folder overrides them by the same names.
var promptNames = []string{
	"greeting_12345", "greeting_12369", "greeting_12358", "greeting_967111",
	"press9_english", "emergency_notice", "transfer_emergency", "please_hold",
	"queue_position_before", "queue_position_after", "wait_minutes_before", "wait_minutes_after",
	"callback_offer", "callback_confirmed", "survey", "survey_thanks", "invalid_input", "no_input",
	"goodbye", "after_hours", "record_after_beep", "beep", "case_number_is",
	"digit_0", "digit_1", "digit_2", "digit_3", "digit_4", "digit_5", "digit_6", "digit_7", "digit_8", "digit_9",
	"digit_star", "digit_pound",
}

// Mandarin only: English numbers are spoken digit by digit.
var zhNumbers = []string{"num_1", "num_2", "num_10", "num_100", "num_1000", "num_10000"}

func load(t *testing.T, path string) []int16 {
	t.Helper()
	w, err := testkit.ReadWAVFS(ivr.BuiltinPrompts, path)
	if err != nil {
		t.Fatal(err)
	}
	if w.Rate != 8000 || w.Channels != 1 {
		t.Fatalf("%s: %d Hz, %d channels: want 8 kHz mono", path, w.Rate, w.Channels)
	}
	return w.Samples
}

func seconds(s []int16) float64 { return float64(len(s)) / 8000 }

func TestBuiltinPromptsComplete(t *testing.T) {
	for _, lang := range []string{"zh", "en"} {
		names := promptNames
		if lang == "zh" {
			names = append(append([]string{}, names...), zhNumbers...)
		}
		for _, name := range names {
			path := fmt.Sprintf("prompts/%s/%s.wav", lang, name)
			pcm := load(t, path)
			d := seconds(pcm)
			if d < 0.2 || d > 15 {
				t.Errorf("%s lasts %.2f s", path, d)
			}
			peak := 0
			for _, v := range pcm {
				peak = max(peak, int(math.Abs(float64(v))))
			}
			// Normalised to −3 dBFS (the beep to −6): never clipped, never near-silent.
			if peak > 23300 || peak < 8000 {
				t.Errorf("%s peaks at %d", path, peak)
			}
		}
	}
	// Nothing outside the contract sneaks in unnoticed.
	known := map[string]bool{"music/hold": true}
	for _, n := range append(append([]string{}, promptNames...), zhNumbers...) {
		known["zh/"+n], known["en/"+n] = true, true
	}
	err := fs.WalkDir(ivr.BuiltinPrompts, "prompts", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !known[strings.TrimSuffix(strings.TrimPrefix(p, "prompts/"), ".wav")] {
			t.Errorf("unexpected prompt %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestGreetingsAreDistinct: integration tests tell which greeting a call heard by
// correlation, so no greeting may pass for another (they share "now part of 12345").
func TestGreetingsAreDistinct(t *testing.T) {
	numbers := []string{"12345", "12369", "12358", "967111"}
	for _, lang := range []string{"zh", "en"} {
		for _, a := range numbers {
			ref := load(t, fmt.Sprintf("prompts/%s/greeting_%s.wav", lang, a))
			for _, b := range numbers {
				heard := load(t, fmt.Sprintf("prompts/%s/greeting_%s.wav", lang, b))
				heard = testkit.DecodeG711(0, testkit.EncodeG711(0, heard)) // as through a call
				score, _ := testkit.Correlate(heard, ref)
				if a == b && score < 0.95 {
					t.Errorf("%s %s against itself: %.3f", lang, a, score)
				}
				if a != b && score >= testkit.HeardThreshold {
					t.Errorf("%s greeting %s passes for %s: %.3f", lang, b, a, score)
				}
			}
		}
	}
}

func TestBeepAndHoldMusic(t *testing.T) {
	beep := load(t, "prompts/zh/beep.wav")
	if n := testkit.ToneFrames(beep, 8000, 1000, 0.9); n < len(beep)/160-2 { // 10 ms fades at each end
		t.Errorf("beep: 1 kHz in %d of %d frames", n, len(beep)/160)
	}
	hold := load(t, "prompts/music/hold.wav")
	if d := time.Duration(seconds(hold) * float64(time.Second)); d < 29*time.Second || d > 31*time.Second {
		t.Errorf("hold music lasts %v", d)
	}
	rms := testkit.RMS(hold)
	if db := 20 * math.Log10(rms/32768); db < -30 || db > -15 {
		t.Errorf("hold music RMS %.1f dBFS", db)
	}
	// Loopable: it fades in and out, so the joint does not click.
	edge := 400 // 50 ms
	if testkit.RMS(hold[:edge]) > rms/4 || testkit.RMS(hold[len(hold)-edge:]) > rms/4 {
		t.Errorf("hold music edges: %.0f / %.0f against %.0f RMS", testkit.RMS(hold[:edge]), testkit.RMS(hold[len(hold)-edge:]), rms)
	}
	// Music, not a test tone: no single frequency holds the energy.
	for _, f := range []float64{261.63, 329.63, 392, 440, 1000} {
		if r := testkit.ToneRatio(hold[8000:16000], 8000, f); r > 0.5 {
			t.Errorf("hold music is %.0f %% %.0f Hz", 100*r, f)
		}
	}
}
