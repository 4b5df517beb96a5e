package testkit

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// promptsDir finds ivr/prompts from this file, so the test reads the committed
// prompts without importing package ivr (someone else's, and free to change).
func promptsDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "ivr", "prompts")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("prompts folder: %v", err)
	}
	return dir
}

func loadPrompt(t *testing.T, rel string) []int16 {
	t.Helper()
	w, err := ReadWAVFile(filepath.Join(promptsDir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	if w.Rate != 8000 || w.Channels != 1 {
		t.Fatalf("%s: %d Hz %d ch, want 8000 Hz mono", rel, w.Rate, w.Channels)
	}
	return w.Samples
}

// g711RoundTrip is what a prompt sounds like after a trip through a PCMU call.
func g711RoundTrip(pt uint8, pcm []int16) []int16 { return DecodeG711(pt, EncodeG711(pt, pcm)) }

func TestCorrelateFindsPromptInNoiseAtOffset(t *testing.T) {
	ref := loadPrompt(t, "zh/greeting_12369.wav")
	other := loadPrompt(t, "zh/greeting_12358.wav") // same voice, same ending: the hard case
	rng := rand.New(rand.NewPCG(1, 2))
	const offset = 12345
	for _, tc := range []struct {
		name string
		ref  []int16
		want bool
	}{
		{"same prompt", ref, true},
		{"different prompt", other, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 10 s received: noise, then the prompt through PCMU at an odd offset.
			rx := make([]int16, 80000)
			for i := range rx {
				rx[i] = int16(rng.NormFloat64() * 600) // about −35 dBFS of hiss
			}
			coded := g711RoundTrip(0, tc.ref)
			for i, v := range coded {
				if offset+i < len(rx) {
					rx[offset+i] = clamp16(int32(rx[offset+i]) + int32(v))
				}
			}
			score, lag := Correlate(rx, ref)
			t.Logf("score %.3f lag %d", score, lag)
			if tc.want {
				if score < 0.9 || lag != offset {
					t.Fatalf("prompt not found: score %.3f lag %d, want ≥ 0.9 at %d", score, lag, offset)
				}
			} else if score > 0.5 {
				t.Fatalf("a different prompt scored %.3f (lag %d), want < 0.5", score, lag)
			}
		})
	}
}

func TestCorrelateShortReceived(t *testing.T) {
	ref := loadPrompt(t, "en/greeting_12345.wav")
	// The call hung up mid-prompt: we hold only 1.5 s starting 0.5 s in.
	rx := g711RoundTrip(8, ref[4000:16000])
	score, lag := Correlate(rx, ref)
	if score < 0.9 || lag != -4000 {
		t.Fatalf("score %.3f lag %d, want ≥ 0.9 at -4000", score, lag)
	}
}

func TestCorrelateSilenceAndEmpty(t *testing.T) {
	if s, _ := Correlate(make([]int16, 8000), loadPrompt(t, "zh/goodbye.wav")); s != 0 {
		t.Fatalf("silence scored %.3f", s)
	}
	if s, _ := Correlate(nil, nil); s != 0 {
		t.Fatalf("empty scored %.3f", s)
	}
}

func TestToneRatio(t *testing.T) {
	tone := Tone(8000, 1000, 0.5, time.Second)
	if r := ToneRatio(tone[:160], 8000, 1000); r < 0.95 {
		t.Fatalf("1 kHz in 1 kHz bin: %.3f", r)
	}
	if r := ToneRatio(tone[:160], 8000, 697); r > 0.05 {
		t.Fatalf("1 kHz in 697 Hz bin: %.3f", r)
	}
	beep := loadPrompt(t, "zh/beep.wav")
	if n := ToneFrames(g711RoundTrip(0, beep), 8000, 1000, 0.9); n < 18 {
		t.Fatalf("beep prompt: %d frames of 1 kHz, want ≥ 18 of 20", n)
	}
	if n := ToneFrames(loadPrompt(t, "zh/goodbye.wav"), 8000, 1000, 0.9); n != 0 {
		t.Fatalf("speech: %d frames of 1 kHz", n)
	}
}

func TestWAVRoundTrip(t *testing.T) {
	in := Tone(8000, 440, 0.3, 100*time.Millisecond)
	var b bytes.Buffer
	if err := WriteWAV(&b, 8000, 1, in); err != nil {
		t.Fatal(err)
	}
	w, err := ReadWAV(&b)
	if err != nil {
		t.Fatal(err)
	}
	if w.Rate != 8000 || w.Channels != 1 || len(w.Samples) != len(in) || w.Samples[7] != in[7] {
		t.Fatalf("round trip: %d Hz %d ch %d samples", w.Rate, w.Channels, len(w.Samples))
	}
	if _, err := ReadWAV(bytes.NewReader([]byte("RIFF\x00\x00\x00\x00WAVEjunk"))); err == nil {
		t.Fatal("truncated WAV accepted")
	}
}

// FuzzReadWAV: the reader takes files written by other programs (baresip's sndfile
// when killed mid-write), so it must fail cleanly on anything.
func FuzzReadWAV(f *testing.F) {
	var b bytes.Buffer
	_ = WriteWAV(&b, 8000, 1, Tone(8000, 440, 0.3, 10*time.Millisecond))
	f.Add(b.Bytes())
	f.Add([]byte("RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEdata\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, data []byte) {
		w, err := ReadWAV(bytes.NewReader(data))
		if err == nil && (w.Rate <= 0 || w.Channels <= 0) {
			t.Fatalf("accepted %d Hz %d channels", w.Rate, w.Channels)
		}
	})
}

func BenchmarkCorrelate10sAgainst5s(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	rx := make([]int16, 80000)
	ref := make([]int16, 40000)
	for i := range rx {
		rx[i] = int16(rng.IntN(20000) - 10000)
	}
	copy(ref, rx[20000:])
	b.ReportAllocs()
	for b.Loop() {
		Correlate(rx, ref)
	}
}

func clamp16(v int32) int16 {
	return int16(max(-32768, min(32767, v)))
}

func TestRequireHeard(t *testing.T) {
	ref := loadPrompt(t, "en/goodbye.wav")
	rx := append(make([]int16, 4000), g711RoundTrip(0, ref)...)
	if lag := RequireHeard(t, rx, ref, "goodbye"); lag != 4000 {
		t.Fatalf("lag %d", lag)
	}
	ft := &fakeTB{TB: t}
	func() {
		defer func() { _ = recover() }()
		RequireHeard(ft, make([]int16, 8000), ref, "goodbye")
	}()
	if !ft.failed {
		t.Fatal("silence passed as the prompt")
	}
}

// fakeTB records Fatalf instead of ending the test (RequireHeard's failure path).
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(string, ...any) {
	f.failed = true
	panic("fatal")
}
