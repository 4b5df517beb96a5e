package media

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// dtmfFreqs returns the two frequencies of key.
func dtmfFreqs(key byte) (low, high float64) {
	low, high, ok := DTMFFreqs(key)
	if !ok {
		panic(fmt.Sprintf("no key %q", key))
	}
	return low, high
}

func TestDTMFFreqs(t *testing.T) {
	for key, want := range map[byte][2]float64{'1': {697, 1209}, '5': {770, 1336}, '#': {941, 1477}, 'd': {941, 1633}, '0': {941, 1336}} {
		if lo, hi, ok := DTMFFreqs(key); !ok || lo != want[0] || hi != want[1] {
			t.Errorf("DTMFFreqs(%q) = %v, %v, %t", key, lo, hi, ok)
		}
	}
	if _, _, ok := DTMFFreqs('x'); ok {
		t.Error("DTMFFreqs('x') ok")
	}
}

// testAudio builds a test signal in float samples so that parts can be mixed before
// it is quantised.
type testAudio []float64

// tone appends a key's dual tone: each tone at lowDB / highDB dBFS (peak), with the
// frequencies scaled by 1+dev.
func (a testAudio) tone(key byte, ms int, lowDB, highDB, dev float64) testAudio {
	lo, hi := dtmfFreqs(key)
	al, ah := 32768*math.Pow(10, lowDB/20), 32768*math.Pow(10, highDB/20)
	n := ms * SampleRate / 1000
	start := len(a)
	for i := range n {
		x := float64(start + i) // phase from the signal's start: no click at joins
		a = append(a, al*math.Sin(2*math.Pi*lo*(1+dev)*x/SampleRate)+ah*math.Sin(2*math.Pi*hi*(1+dev)*x/SampleRate))
	}
	return a
}

func (a testAudio) silence(ms int) testAudio {
	return append(a, make([]float64, ms*SampleRate/1000)...)
}

// keys appends each key for onMS with offMS of silence after it, at -10 dBFS per tone.
func (a testAudio) keys(keys string, onMS, offMS int) testAudio {
	for i := 0; i < len(keys); i++ {
		a = a.tone(keys[i], onMS, -10, -10, 0).silence(offMS)
	}
	return a
}

// noise adds white Gaussian noise at db dBFS RMS.
func (a testAudio) noise(db float64, seed uint64) testAudio {
	rng := rand.New(rand.NewPCG(seed, 7))
	rms := 32768 * math.Pow(10, db/20)
	for i := range a {
		a[i] += rng.NormFloat64() * rms
	}
	return a
}

// g711 quantises the signal through a codec, as a trunk delivers it.
func (a testAudio) g711(c Codec) []int16 {
	pcm := make([]int16, len(a))
	for i, x := range a {
		pcm[i] = int16(min(max(math.Round(x), -32768), 32767))
	}
	enc := make([]byte, len(pcm))
	EncodeFrame(c, enc, pcm)
	DecodeFrame(c, pcm, enc)
	return pcm
}

// detectKeys runs pcm through a fresh detector in chunks of size samples and returns
// the keys, and the offset (in samples) at which each was reported.
func detectKeys(d *InbandDetector, pcm []int16, size int) (string, []int) {
	var keys []byte
	var at []int
	for off := 0; off < len(pcm); off += size {
		end := min(off+size, len(pcm))
		if dg, ok := d.Process(pcm[off:end], testEpoch.Add(time.Duration(end)*time.Second/SampleRate)); ok {
			keys = append(keys, dg.Key)
			at = append(at, end)
			if dg.Source != DigitInband || dg.Duration < 30*time.Millisecond {
				panic(fmt.Sprintf("bad digit %+v", dg))
			}
		}
	}
	return string(keys), at
}

func TestInbandAllKeys(t *testing.T) {
	const keys = "0123456789*#ABCD"
	sig := testAudio{}.silence(100).keys(keys, 100, 100)
	for _, c := range []Codec{PCMU, PCMA} {
		var d InbandDetector
		got, at := detectKeys(&d, sig.g711(c), FrameSamples)
		if got != keys {
			t.Fatalf("%v: got %q, want %q", c, got, keys)
		}
		// Reported within 30-50 ms of each tone's start.
		for i, end := range at {
			start := (100 + i*200) * 8
			if lat := end - start; lat < 240 || lat > 400 {
				t.Errorf("%v: key %q reported %d samples after its start", c, keys[i], lat)
			}
		}
		if d.Digits() != uint64(len(keys)) {
			t.Errorf("Digits() = %d", d.Digits())
		}
	}
}

// Whatever the alignment of tones to frames: 40 ms tones with 40 ms pauses are
// all seen, tones of 22 ms never are, a 20 ms drop-out does not split a press.
func TestInbandTiming(t *testing.T) {
	for shift := 0; shift < FrameSamples; shift += 3 {
		lead := float64(shift) / 8
		sig := testAudio(make([]float64, shift)).keys("1122", 40, 40).silence(100)
		var d InbandDetector
		if got, _ := detectKeys(&d, sig.g711(PCMU), FrameSamples); got != "1122" {
			t.Fatalf("40/40 ms shifted %.1f ms: got %q", lead, got)
		}
		short := testAudio(make([]float64, shift)).keys("3456", 22, 60)
		d = InbandDetector{}
		if got, _ := detectKeys(&d, short.g711(PCMU), FrameSamples); got != "" {
			t.Fatalf("22 ms tones shifted %.1f ms: got %q", lead, got)
		}
		split := testAudio(make([]float64, shift)).tone('7', 60, -10, -10, 0).silence(20).tone('7', 60, -10, -10, 0).silence(60)
		d = InbandDetector{}
		if got, _ := detectKeys(&d, split.g711(PCMU), FrameSamples); got != "7" {
			t.Fatalf("7 with a 20 ms drop-out shifted %.1f ms: got %q", lead, got)
		}
	}
}

// The detector keeps no assumption about frame size.
func TestInbandChunkSizes(t *testing.T) {
	pcm := testAudio{}.keys("159#", 60, 50).g711(PCMA)
	for _, size := range []int{1, 37, 80, 160, 240, 1000} {
		var d InbandDetector
		if got, _ := detectKeys(&d, pcm, size); got != "159#" {
			t.Errorf("chunks of %d: got %q", size, got)
		}
	}
	// One call holding several presses returns them one per call.
	var d InbandDetector
	long := testAudio{}.keys("12", 60, 60).g711(PCMU)
	d1, ok1 := d.Process(long, testEpoch)
	d2, ok2 := d.Process(nil, testEpoch)
	if !ok1 || !ok2 || d1.Key != '1' || d2.Key != '2' {
		t.Fatalf("got %v %v, %v %v", d1, ok1, d2, ok2)
	}
}

func TestInbandLevelAndTwist(t *testing.T) {
	for _, tc := range []struct {
		low, high float64 // dBFS per tone
		dev       float64
		want      bool
	}{
		{-10, -10, 0, true},
		{-3, -3, 0, true},
		{-30, -30, 0, true},
		{-34, -34, 0, true},
		{-40, -40, 0, false}, // below MinLevel
		{-10, -13, 0, true},  // typical line: high tone weaker
		{-10, -17.5, 0, true},
		{-10, -19, 0, false}, // high 9 dB below: past normal twist
		{-10, -6.5, 0, true},
		{-10, -5, 0, false}, // high 5 dB above: past reverse twist
		{-10, -10, 0.015, true},
		{-10, -10, -0.015, true},
	} {
		name := fmt.Sprintf("low %v high %v dev %v", tc.low, tc.high, tc.dev)
		for _, key := range []byte("1D*9") {
			sig := testAudio{}.silence(40).tone(key, 80, tc.low, tc.high, tc.dev).silence(60)
			var d InbandDetector
			got, _ := detectKeys(&d, sig.g711(PCMU), FrameSamples)
			if want := map[bool]string{true: string(key)}[tc.want]; got != want {
				t.Errorf("%s key %q: got %q, want %q", name, key, got, want)
			}
		}
	}
	// A lower MinLevel catches what the default misses.
	sig := testAudio{}.tone('5', 80, -42, -42, 0).silence(60)
	d := InbandDetector{MinLevel: -45}
	if got, _ := detectKeys(&d, sig.g711(PCMU), FrameSamples); got != "5" {
		t.Errorf("MinLevel -45: got %q", got)
	}
}

// A third tone in a group, or a strong second harmonic, is not DTMF.
func TestInbandRejects(t *testing.T) {
	// '1' plus 770 Hz at the same level: two row tones.
	three := testAudio{}.tone('1', 100, -12, -12, 0)
	for i := range three {
		three[i] += 32768 * math.Pow(10, -12.0/20) * math.Sin(2*math.Pi*770*float64(i)/SampleRate)
	}
	// '5' with its tones' second harmonics 6 dB down (a buzzy, speech-like source).
	buzzy := testAudio{}.tone('5', 100, -10, -10, 0)
	for i := range buzzy {
		x := float64(i)
		buzzy[i] += 32768 * math.Pow(10, -16.0/20) * (math.Sin(2*math.Pi*1540*x/SampleRate) + math.Sin(2*math.Pi*2672*x/SampleRate))
	}
	for name, sig := range map[string]testAudio{"three tones": three, "harmonics": buzzy} {
		var d InbandDetector
		if got, _ := detectKeys(&d, sig.silence(60).g711(PCMU), FrameSamples); got != "" {
			t.Errorf("%s: got %q", name, got)
		}
	}
}

// White noise at various SNRs (per tone, against the noise's power): every key
// still seen once down to 6 dB, and noise alone never gives a key.
func TestInbandNoise(t *testing.T) {
	const keys = "147*2580369#ABCD"
	for _, snr := range []float64{30, 20, 10, 6} {
		for seed := range uint64(5) {
			// Tones at -13 dBFS peak are -16 dBFS RMS each.
			sig := testAudio{}.silence(60)
			for i := 0; i < len(keys); i++ {
				sig = sig.tone(keys[i], 70, -13, -13, 0).silence(70)
			}
			sig = sig.noise(-16-snr, seed)
			var d InbandDetector
			if got, _ := detectKeys(&d, sig.g711(PCMU), FrameSamples); got != keys {
				t.Errorf("SNR %v dB seed %d: got %q, want %q", snr, seed, got, keys)
			}
		}
	}
	for _, db := range []float64{-50, -30, -20, -10, -3} {
		sig := testAudio{}.silence(10_000).noise(db, uint64(-db))
		var d InbandDetector
		if got, _ := detectKeys(&d, sig.g711(PCMA), FrameSamples); got != "" {
			t.Errorf("noise alone at %v dBFS: got %q", db, got)
		}
	}
}

func speechFixture(t testing.TB) []int16 {
	pcm, err := DecodeWAV(readFixture(t, "speech_zh_en.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if len(pcm) < 10*SampleRate {
		t.Fatalf("speech fixture is %d samples", len(pcm))
	}
	return pcm
}

// Talk-off: 21 s of Mandarin and English speech (espeak-ng, testdata/gen.sh) with
// digits spoken aloud gives no key, at its own level and 10 dB louder (clipped).
func TestInbandSpeech(t *testing.T) {
	pcm := speechFixture(t)
	for _, gain := range []float64{0.1, 1, 3.16} {
		sig := make([]int16, len(pcm))
		for i, s := range pcm {
			sig[i] = int16(min(max(float64(s)*gain, -32768), 32767))
		}
		for _, size := range []int{FrameSamples, 80} {
			var d InbandDetector
			if got, _ := detectKeys(&d, sig, size); got != "" {
				t.Errorf("speech x%.2f in chunks of %d: detected %q", gain, size, got)
			}
		}
	}
}

// Voiced-speech-like buzz: every fundamental from 80 to 400 Hz with all its
// harmonics up to 3.4 kHz, two of which often fall near a row and a column tone,
// never gives a key: the harmonic and energy-share tests reject it.
func TestInbandHarmonicComplexes(t *testing.T) {
	var sig testAudio
	for f0 := 80.0; f0 <= 400; f0 += 0.5 {
		n := 60 * SampleRate / 1000
		start := len(sig)
		for i := range n {
			x := float64(start + i)
			var v float64
			for k := 1.0; k*f0 < 3400; k++ {
				v += math.Sin(2*math.Pi*k*f0*x/SampleRate) / k
			}
			sig = append(sig, 6000*v)
		}
	}
	var d InbandDetector
	if got, _ := detectKeys(&d, sig.g711(PCMU), FrameSamples); got != "" {
		t.Fatalf("harmonic complexes gave %q", got)
	}
}

// Keys pressed between phrases, and over speech 10 dB below them, are all found.
func TestInbandKeysAndSpeech(t *testing.T) {
	pcm := speechFixture(t)
	var sig testAudio
	keys := "2580"
	for i := 0; i < len(keys); i++ {
		part := pcm[i*SampleRate : (i+1)*SampleRate] // a second of speech
		for _, s := range part {
			sig = append(sig, float64(s))
		}
		sig = sig.silence(30).tone(keys[i], 80, -8, -8, 0).silence(50)
	}
	var d InbandDetector
	if got, _ := detectKeys(&d, sig.g711(PCMU), FrameSamples); got != keys {
		t.Errorf("keys between phrases: got %q, want %q", got, keys)
	}
	// Speech underneath, scaled to about 10 dB below the key tones.
	var rms float64
	for _, s := range pcm[:4*SampleRate] {
		rms += float64(s) * float64(s)
	}
	rms = math.Sqrt(rms / float64(4*SampleRate))
	toneRMS := 32768 * math.Pow(10, -8.0/20) / math.Sqrt2 * math.Sqrt2 // two tones
	gain := toneRMS / rms * math.Pow(10, -10.0/20)
	over := testAudio{}
	for i := 0; i < len(keys); i++ {
		over = over.tone(keys[i], 100, -8, -8, 0).silence(100)
	}
	for i := range over {
		over[i] += float64(pcm[SampleRate+i]) * gain
	}
	d = InbandDetector{}
	if got, _ := detectKeys(&d, over.g711(PCMU), FrameSamples); got != keys {
		t.Errorf("keys over speech 10 dB down: got %q, want %q", got, keys)
	}
}

// A dual tone written by sox (testdata/gen.sh), as a real tool makes it.
func TestInbandSoxTone(t *testing.T) {
	pcm, err := DecodeWAV(readFixture(t, "sox_dtmf5.wav"))
	if err != nil {
		t.Fatal(err)
	}
	var d InbandDetector
	if got, _ := detectKeys(&d, pcm, FrameSamples); got != "5" {
		t.Fatalf("got %q", got)
	}
}

// What ToneSource generates for a key, the detector finds: the two halves of the
// package agree on the keypad.
func TestInbandToneSource(t *testing.T) {
	var d InbandDetector
	var got strings.Builder
	for _, key := range []byte("0123456789*#ABCD") {
		lo, hi := dtmfFreqs(key)
		src := NewToneSource(0.3, lo, hi).WithDuration(60 * time.Millisecond)
		pcm, _ := readToneFrames(src, PCMA, 6)
		if k, _ := detectKeys(&d, pcm, FrameSamples); k != "" {
			got.WriteString(k)
		}
	}
	if got.String() != "0123456789*#ABCD" {
		t.Fatalf("got %q", got.String())
	}
}

func TestInbandReset(t *testing.T) {
	d := InbandDetector{MinLevel: -30}
	pcm := testAudio{}.tone('9', 100, -10, -10, 0).g711(PCMU)
	detectKeys(&d, pcm, FrameSamples)
	d.Reset()
	if d.MinLevel != -30 || d.Digits() != 1 {
		t.Fatalf("Reset lost settings or counters: %+v", d)
	}
	// The key is still down in the audio, but after Reset it is a new press.
	if got, _ := detectKeys(&d, pcm, FrameSamples); got != "9" {
		t.Fatalf("after Reset got %q", got)
	}
}

func TestInbandProcessAllocs(t *testing.T) {
	var d InbandDetector
	pcm := testAudio{}.keys("123", 60, 60).noise(-40, 1).g711(PCMU)
	i := 0
	a := testing.AllocsPerRun(500, func() {
		off := (i * FrameSamples) % (len(pcm) - FrameSamples)
		d.Process(pcm[off:off+FrameSamples], testEpoch)
		i++
	})
	if a != 0 {
		t.Fatalf("Process allocates %v", a)
	}
}

func BenchmarkInbandDetectorProcess(b *testing.B) {
	for name, pcm := range map[string][]int16{
		"speech":  speechFixture(b)[:SampleRate*5],
		"dtmf":    testAudio{}.keys("123456789", 60, 60).g711(PCMU),
		"silence": make([]int16, SampleRate),
	} {
		b.Run(name, func(b *testing.B) {
			var d InbandDetector
			b.ReportAllocs()
			off := 0
			for b.Loop() {
				if off+FrameSamples > len(pcm) {
					off = 0
				}
				d.Process(pcm[off:off+FrameSamples], testEpoch)
				off += FrameSamples
			}
		})
	}
}
