package media

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

func sineWave(n int, freq, amp float64) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(math.Round(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/SampleRate)))
	}
	return pcm
}

func TestToneLevel(t *testing.T) {
	for _, tc := range []struct {
		freq, amp float64
		want      float64
	}{
		{1000, 1, 0}, {1000, 0.5, -6.02}, {450, 0.1, -20}, {697, 0.01, -40}, {3000, 0.001, -60},
	} {
		if got := ToneLevel(sineWave(160, tc.freq, tc.amp), tc.freq); math.Abs(got-tc.want) > 0.1 {
			t.Errorf("%v Hz at %v: %.2f dBFS, want %.2f", tc.freq, tc.amp, got, tc.want)
		}
	}
	// 1 kHz is invisible at 450 Hz and 2 kHz.
	pcm := sineWave(160, 1000, 0.5)
	if l := ToneLevel(pcm, 450); l > -60 {
		t.Errorf("1 kHz read %.1f dBFS at 450 Hz", l)
	}
	if l := ToneLevel(make([]int16, 160), 1000); l != -120 {
		t.Errorf("silence: %v", l)
	}
	if l := ToneLevel(nil, 1000); l != -120 {
		t.Errorf("nothing: %v", l)
	}
}

func TestToneShare(t *testing.T) {
	if s := ToneShare(sineWave(160, 1000, 0.3), 1000); s < 0.99 {
		t.Errorf("clean tone share %.3f", s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 160)
	for i := range noise {
		noise[i] = int16(rng.NormFloat64() * 3000)
	}
	if s := ToneShare(noise, 1000); s > 0.1 {
		t.Errorf("white noise share %.3f", s)
	}
	if s := ToneShare(make([]int16, 160), 1000); s != 0 {
		t.Errorf("silence share %v", s)
	}
}

// readToneFrames reads frames from src and returns them decoded, and how many frames
// ReadFrame reported audio for.
func readToneFrames(src Source, c Codec, frames int) ([]int16, int) {
	var p [FrameSamples]byte
	out := make([]int16, 0, frames*FrameSamples)
	var ok int
	for range frames {
		FillSilence(c, p[:])
		if src.ReadFrame(c, p[:]) {
			ok++
		}
		var pcm [FrameSamples]int16
		DecodeFrame(c, pcm[:], p[:])
		out = append(out, pcm[:]...)
	}
	return out, ok
}

func TestToneSourceContinuous(t *testing.T) {
	for _, c := range []Codec{PCMU, PCMA} {
		// 997 Hz: not a multiple of 50 Hz, so each frame starts at another phase.
		pcm, ok := readToneFrames(NewToneSource(0.5, 997), c, 500)
		if ok != 500 {
			t.Fatalf("%v: %d frames of testAudio, want 500", c, ok)
		}
		// Phase continuity: the whole 10 s is one clean sine, so a window straddling
		// any frame boundary holds the tone alone, at -6 dBFS.
		for _, start := range []int{80, 160*250 - 40, 160*499 - 100} {
			w := pcm[start : start+160]
			if l := ToneLevel(w, 997); math.Abs(l+6.02) > 0.3 {
				t.Errorf("%v: window at %d: %.2f dBFS", c, start, l)
			}
			if s := ToneShare(w, 997); s < 0.99 {
				t.Errorf("%v: window at %d: share %.4f", c, start, s)
			}
		}
		// Compare to an ideal sine over the last frame: amplitude held over 10 s.
		ideal := sineWave(len(pcm), 997, 0.5)
		var maxErr float64
		for i := len(pcm) - 160; i < len(pcm); i++ {
			maxErr = max(maxErr, math.Abs(float64(pcm[i])-float64(ideal[i])))
		}
		if maxErr > 600 { // G.711 quantisation at 16 kHz amplitude
			t.Errorf("%v: drifted from the ideal sineWave by %v", c, maxErr)
		}
	}
}

func TestToneSourceDualAndClip(t *testing.T) {
	pcm, _ := readToneFrames(NewToneSource(0.3, 350, 440), PCMU, 5) // dial tone
	// Over 100 ms both tones fall on analysis bins and do not leak into each other.
	if a, b := ToneLevel(pcm[:800], 350), ToneLevel(pcm[:800], 440); math.Abs(a+10.46) > 0.2 || math.Abs(b+10.46) > 0.2 {
		t.Errorf("dial tone levels %.2f, %.2f dBFS, want -10.46", a, b)
	}
	// Two full-scale tones clip instead of wrapping around.
	loud, _ := readToneFrames(NewToneSource(1, 500, 600), PCMU, 5)
	ideal1, ideal2 := sineWave(len(loud), 500, 1), sineWave(len(loud), 600, 1)
	for i, s := range loud {
		sum := int(ideal1[i]) + int(ideal2[i])
		if sum > 40000 && s < 30000 || sum < -40000 && s > -30000 {
			t.Fatalf("sample %d: %d where the sum is %d", i, s, sum)
		}
	}
}

func TestToneSourceCadence(t *testing.T) {
	// Ringback: 450 Hz, 1 s on, 4 s off, twice.
	pcm, ok := readToneFrames(NewToneSource(0.2, 450).WithCadence(time.Second, 4*time.Second), PCMA, 500)
	if ok != 500 {
		t.Fatalf("cadenced tone ended: %d frames", ok)
	}
	for f := 0; f < 500; f++ {
		on := f%250 < 50
		l := ToneLevel(pcm[f*160:(f+1)*160], 450)
		if on && math.Abs(l+14) > 0.5 || !on && l > -70 {
			t.Fatalf("frame %d (on=%t): %.1f dBFS", f, on, l)
		}
	}
}

func TestToneSourceDuration(t *testing.T) {
	// Beep: 1 kHz for 210 ms (10.5 frames).
	src := NewToneSource(0.5, 1000).WithDuration(210 * time.Millisecond)
	pcm, ok := readToneFrames(src, PCMU, 15)
	if ok != 11 || !src.Done() {
		t.Fatalf("%d frames of testAudio, want 11; done %t", ok, src.Done())
	}
	if l := ToneLevel(pcm[10*160:10*160+80], 1000); math.Abs(l+6) > 0.5 {
		t.Errorf("last half frame %.2f dBFS", l)
	}
	if l := ToneLevel(pcm[10*160+80:11*160], 1000); l > -70 {
		t.Errorf("after the end %.2f dBFS", l)
	}
	src.Reset()
	if _, ok := readToneFrames(src, PCMU, 15); ok != 11 {
		t.Fatalf("after Reset %d frames", ok)
	}
}

func TestToneSourceAllocs(t *testing.T) {
	src := NewToneSource(0.3, 697, 1209).WithCadence(100*time.Millisecond, 100*time.Millisecond)
	var p [FrameSamples]byte
	if a := testing.AllocsPerRun(1000, func() { src.ReadFrame(PCMU, p[:]) }); a != 0 {
		t.Fatalf("ReadFrame allocates %v", a)
	}
}

func BenchmarkToneSourceReadFrame(b *testing.B) {
	for _, tc := range []struct {
		name string
		src  *ToneSource
	}{
		{"1kHz", NewToneSource(0.5, 1000)},
		{"dual", NewToneSource(0.3, 697, 1209)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var p [FrameSamples]byte
			b.ReportAllocs()
			for b.Loop() {
				tc.src.ReadFrame(PCMU, p[:])
			}
		})
	}
}

func BenchmarkToneLevel(b *testing.B) {
	pcm := sineWave(160, 1000, 0.5)
	b.ReportAllocs()
	for b.Loop() {
		ToneLevel(pcm, 1000)
	}
}
