package media

import (
	"math"
	"time"
)

// Tones: a Goertzel level meter, used by tests to prove that audio really flows
// end to end, and a tone generator Source for ringback, beeps and test signals.

// toneFloorDBFS is what ToneLevel reports for silence, so that callers and metrics
// never see -Inf. 16-bit audio has no component below about -100 dBFS anyway.
const toneFloorDBFS = -120.0

// goertzelCoef returns the Goertzel coefficient 2·cos(2πf/fs) for f Hz at 8 kHz.
func goertzelCoef(freq float64) float64 {
	return 2 * math.Cos(2*math.Pi*freq/SampleRate)
}

// goertzel returns |X(f)|² over the samples of a then b (two slices so a sliding
// window needs no copy), where coef = goertzelCoef(f). f need not fall on a DFT bin.
func goertzel(coef float64, a, b []int16) float64 {
	var s1, s2 float64
	for _, x := range a {
		s0 := float64(x) + coef*s1 - s2
		s2, s1 = s1, s0
	}
	for _, x := range b {
		s0 := float64(x) + coef*s1 - s2
		s2, s1 = s1, s0
	}
	return s1*s1 + s2*s2 - coef*s1*s2
}

// ToneLevel returns the level of the freq Hz component of 8 kHz samples in dBFS:
// 0 dBFS is a full-scale sine (peak 32768), a sine of peak amplitude A reads
// 20·log10(A/32768) when it lasts the whole slice, and silence reads -120. Unlike a
// plain RMS meter it ignores everything more than about 8000/len(pcm) Hz away, so a
// test can check that the 1 kHz it sent arrived through noise and codecs.
func ToneLevel(pcm []int16, freq float64) float64 {
	if len(pcm) == 0 {
		return toneFloorDBFS
	}
	p := goertzel(goertzelCoef(freq), pcm, nil)
	amp := 2 * math.Sqrt(max(p, 0)) / float64(len(pcm))
	if amp <= 0 {
		return toneFloorDBFS
	}
	return max(20*math.Log10(amp/32768), toneFloorDBFS)
}

// ToneShare returns the fraction (0..1) of the energy of pcm that lies in the freq
// Hz component: about 1 for a clean tone, about 2/len(pcm) for white noise. It tells
// "the tone is there" from "something loud is there".
func ToneShare(pcm []int16, freq float64) float64 {
	var energy float64
	for _, x := range pcm {
		energy += float64(x) * float64(x)
	}
	if energy == 0 {
		return 0
	}
	p := goertzel(goertzelCoef(freq), pcm, nil)
	return min(max(2*p/(float64(len(pcm))*energy), 0), 1)
}

var _ Source = (*ToneSource)(nil)

// maxToneFreqs bounds the components of one ToneSource (dual tones need two; the
// bound keeps the generator's state a fixed-size array).
const maxToneFreqs = 4

// ToneSource is a Source of a continuous tone, optionally cadenced and of limited
// duration: ringback (450 Hz, 1 s on, 4 s off), a beep (1 kHz, 200 ms), dial tone,
// test signals. Each component runs as a rotating phasor, so the tone is phase
// continuous across frames and costs a few multiplications per sample, encoded per
// frame without allocating. Not safe for concurrent ReadFrame: one reader per source.
type ToneSource struct {
	n      int
	re, im [maxToneFreqs]float64 // phasor of each component, amplitude in sample units
	cr, ci [maxToneFreqs]float64 // per-sample rotation
	amp    float64

	cadence [8]int // on/off lengths in samples, alternating, starting with on
	ncad    int
	cadIdx  int // current cadence segment
	cadLeft int // samples left in it

	total   int // samples to play in all; 0 = forever
	played  int
	scratch [FrameSamples]int16
}

// NewToneSource returns a tone of the given frequencies (Hz, at most 4), each a sine
// of peak amplitude amplitude × full scale (0..1; the sum is clipped). It plays
// continuously until WithCadence or WithDuration say otherwise.
func NewToneSource(amplitude float64, freqs ...float64) *ToneSource {
	t := &ToneSource{amp: min(max(amplitude, 0), 1) * 32767}
	t.n = min(len(freqs), maxToneFreqs)
	for i := 0; i < t.n; i++ {
		w := 2 * math.Pi * freqs[i] / SampleRate
		t.cr[i], t.ci[i] = math.Cos(w), math.Sin(w)
	}
	t.Reset()
	return t
}

// WithCadence sets an on/off pattern repeated for as long as the tone plays, e.g.
// WithCadence(time.Second, 4*time.Second) for ringback, or up to four on/off pairs
// for distinctive patterns. During off periods ReadFrame writes silence and still
// returns true, so a bridge or mixer sees a continuous stream. Call before the first
// ReadFrame.
func (t *ToneSource) WithCadence(onOff ...time.Duration) *ToneSource {
	t.ncad = 0
	for i, d := range onOff {
		if i >= len(t.cadence) {
			break
		}
		t.cadence[i] = durationSamples(d)
		t.ncad++
	}
	if t.ncad%2 == 1 { // an odd list means the last on period has no off after it
		t.cadence[t.ncad] = 0
		t.ncad++
	}
	sum := 0
	for i := 0; i < t.ncad; i++ {
		sum += t.cadence[i]
	}
	if sum == 0 {
		t.ncad = 0 // no pattern at all: continuous
	}
	t.Reset()
	return t
}

// WithDuration makes the tone end after d (rounded to samples); ReadFrame returns
// false from then on. d <= 0 means forever. Call before the first ReadFrame.
func (t *ToneSource) WithDuration(d time.Duration) *ToneSource {
	t.total = durationSamples(d)
	t.Reset()
	return t
}

func durationSamples(d time.Duration) int {
	return max(int(d*SampleRate/time.Second), 0)
}

// Reset rewinds the tone to its start (phase, cadence and duration).
func (t *ToneSource) Reset() {
	for i := 0; i < t.n; i++ {
		t.re[i], t.im[i] = t.amp, 0 // start at the sine's zero crossing (im is the sine)
	}
	t.played, t.cadIdx = 0, 0
	if t.ncad > 0 {
		t.cadLeft = t.cadence[0]
	}
}

// Done reports whether a tone with a duration has played all of it.
func (t *ToneSource) Done() bool { return t.total > 0 && t.played >= t.total }

// ReadFrame implements Source.
func (t *ToneSource) ReadFrame(c Codec, p []byte) bool {
	if t.Done() {
		return false
	}
	for off := 0; off < len(p); off += FrameSamples {
		chunk := p[off:min(off+FrameSamples, len(p))]
		pcm := t.scratch[:len(chunk)]
		t.generate(pcm)
		EncodeFrame(c, chunk, pcm)
	}
	return true
}

func (t *ToneSource) generate(pcm []int16) {
	for j := range pcm {
		on := t.total == 0 || t.played < t.total
		if t.ncad > 0 {
			for t.cadLeft == 0 {
				t.cadIdx = (t.cadIdx + 1) % t.ncad
				t.cadLeft = t.cadence[t.cadIdx]
			}
			on = on && t.cadIdx%2 == 0
			t.cadLeft--
		}
		var v float64
		for i := 0; i < t.n; i++ {
			v += t.im[i]
			re := t.re[i]*t.cr[i] - t.im[i]*t.ci[i]
			t.im[i] = t.re[i]*t.ci[i] + t.im[i]*t.cr[i]
			t.re[i] = re
		}
		t.played++
		if !on {
			pcm[j] = 0
			continue
		}
		// Truncation instead of rounding: under 1 LSB, far below G.711's step, and
		// a third of the frame's cost saved.
		switch {
		case v >= 32767:
			pcm[j] = 32767
		case v <= -32768:
			pcm[j] = -32768
		default:
			pcm[j] = int16(v)
		}
	}
	// Rounding makes each phasor's magnitude drift by about 1e-16 per sample; pull it
	// back once per frame so an hour-long tone keeps its level.
	for i := 0; i < t.n; i++ {
		m := t.re[i]*t.re[i] + t.im[i]*t.im[i]
		if m > 0 {
			k := t.amp / math.Sqrt(m)
			t.re[i] *= k
			t.im[i] *= k
		}
	}
}
