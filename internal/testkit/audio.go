package testkit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/cmplx"
	"os"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// Correlate finds reference inside received by normalised cross-correlation
// (Pearson's r at every lag, computed with an FFT so that 10 s of 8 kHz audio against
// a 5 s reference takes milliseconds). It returns the best score in [-1, 1] and the
// lag in samples at which reference starts in received.
//
// When received is shorter than reference (a call hung up mid-prompt), the roles are
// swapped and lag is negative: received starts -lag samples into reference.
// A decoded G.711 copy of a prompt scores above 0.9; a different prompt of the same
// voice, or noise, stays well below 0.5.
func Correlate(received, reference []int16) (score float64, lagSamples int) {
	long, short, sign := received, reference, 1
	if len(short) > len(long) {
		long, short, sign = reference, received, -1
	}
	m := len(short)
	if m == 0 {
		return 0, 0
	}
	// Zero-mean the short signal; then Σ x·(y−ȳ) over a window of x needs no mean of x.
	var mean float64
	for _, v := range short {
		mean += float64(v)
	}
	mean /= float64(m)
	var shortEnergy float64
	y := make([]float64, m)
	for i, v := range short {
		y[i] = float64(v) - mean
		shortEnergy += y[i] * y[i]
	}
	if shortEnergy == 0 {
		return 0, 0
	}
	n := 1
	for n < len(long)+m {
		n <<= 1
	}
	a := make([]complex128, n)
	b := make([]complex128, n)
	for i, v := range long {
		a[i] = complex(float64(v), 0)
	}
	for i, v := range y {
		b[i] = complex(v, 0)
	}
	fft(a, false)
	fft(b, false)
	for i := range a {
		a[i] *= cmplx.Conj(b[i])
	}
	fft(a, true) // a[k] = Σ long[k+i]·y[i]
	// Prefix sums of the long signal and its square give each window's variance.
	s1 := make([]float64, len(long)+1)
	s2 := make([]float64, len(long)+1)
	for i, v := range long {
		f := float64(v)
		s1[i+1] = s1[i] + f
		s2[i+1] = s2[i] + f*f
	}
	best, bestLag := 0.0, 0
	// Ignore windows 40 dB quieter than the reference: their r is noise over almost nothing.
	floor := shortEnergy * 1e-4
	for k := 0; k+m <= len(long); k++ {
		sum := s1[k+m] - s1[k]
		varw := (s2[k+m] - s2[k]) - sum*sum/float64(m)
		if varw <= floor {
			continue
		}
		r := real(a[k]) / float64(n) / math.Sqrt(varw*shortEnergy)
		if r > best {
			best, bestLag = r, k
		}
	}
	return best, sign * bestLag
}

// fft is an in-place iterative radix-2 FFT; len(x) must be a power of two.
// The inverse is unscaled (callers divide by len(x)).
func fft(x []complex128, inverse bool) {
	n := len(x)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		ang := 2 * math.Pi / float64(size)
		if !inverse {
			ang = -ang
		}
		wn := complex(math.Cos(ang), math.Sin(ang))
		half := size / 2
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range half {
				u := x[start+k]
				v := x[start+k+half] * w
				x[start+k] = u + v
				x[start+k+half] = u - v
				w *= wn
			}
		}
	}
}

// ToneRatio returns the share of the signal's energy at freq (Hz), by Goertzel over
// the whole slice: about 1 for a pure tone at freq, near 0 when it is absent.
// Use a slice of whole 20 ms frames (160 samples at 8 kHz) for a clean bin.
func ToneRatio(samples []int16, rate int, freq float64) float64 {
	n := len(samples)
	if n == 0 {
		return 0
	}
	coeff := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2, energy float64
	for _, v := range samples {
		x := float64(v)
		energy += x * x
		s := x + coeff*s1 - s2
		s2, s1 = s1, s
	}
	if energy == 0 {
		return 0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * power / (float64(n) * energy)
}

// ToneFrames splits samples into 20 ms frames and returns how many carry the tone
// (ToneRatio ≥ minRatio and RMS above −40 dBFS), which tolerates silence and
// gaps around it.
func ToneFrames(samples []int16, rate int, freq, minRatio float64) int {
	frame := rate / 50
	count := 0
	for i := 0; i+frame <= len(samples); i += frame {
		f := samples[i : i+frame]
		if RMS(f) < 328 { // −40 dBFS
			continue
		}
		if ToneRatio(f, rate, freq) >= minRatio {
			count++
		}
	}
	return count
}

// RMS is the root mean square of samples (full scale 32768).
func RMS(samples []int16) float64 {
	if len(samples) == 0 {
		return 0
	}
	var e float64
	for _, v := range samples {
		e += float64(v) * float64(v)
	}
	return math.Sqrt(e / float64(len(samples)))
}

// Tone synthesises a sine at freq with peak amplitude amp (0..1 of full scale).
func Tone(rate int, freq, amp float64, d time.Duration) []int16 {
	n := int(d.Seconds() * float64(rate))
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * 32767 * math.Sin(2*math.Pi*freq*float64(i)/float64(rate)))
	}
	return out
}

// DecodeG711 decodes μ-law (pt 0) or A-law (pt 8) bytes to linear samples.
func DecodeG711(pt uint8, payload []byte) []int16 {
	out := make([]int16, len(payload))
	for i, b := range payload {
		if pt == 8 {
			out[i] = g711.DecodeAlawFrame(b)
		} else {
			out[i] = g711.DecodeUlawFrame(b)
		}
	}
	return out
}

// EncodeG711 encodes linear samples to μ-law (pt 0) or A-law (pt 8).
func EncodeG711(pt uint8, pcm []int16) []byte {
	out := make([]byte, len(pcm))
	for i, s := range pcm {
		if pt == 8 {
			out[i] = g711.EncodeAlawFrame(s)
		} else {
			out[i] = g711.EncodeUlawFrame(s)
		}
	}
	return out
}

// WAV is decoded PCM16 audio, channels interleaved.
type WAV struct {
	Rate     int
	Channels int
	Samples  []int16
}

// Mono returns one channel (0-based) of an interleaved WAV.
func (w WAV) Mono(ch int) []int16 {
	if w.Channels <= 1 {
		return w.Samples
	}
	out := make([]int16, len(w.Samples)/w.Channels)
	for i := range out {
		out[i] = w.Samples[i*w.Channels+ch]
	}
	return out
}

// Duration is the length of the audio.
func (w WAV) Duration() time.Duration {
	if w.Rate == 0 || w.Channels == 0 {
		return 0
	}
	return time.Duration(len(w.Samples)/w.Channels) * time.Second / time.Duration(w.Rate)
}

// ReadWAV decodes a PCM16 RIFF/WAVE stream (any rate and channel count; other
// chunks are skipped). It is an independent reader for tests, not media's loader.
func ReadWAV(r io.Reader) (WAV, error) {
	var w WAV
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return w, fmt.Errorf("wav header: %w", err)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return w, errors.New("not a RIFF/WAVE file")
	}
	gotFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			if gotFmt && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) {
				return w, errors.New("wav: no data chunk")
			}
			return w, fmt.Errorf("wav chunk: %w", err)
		}
		size := binary.LittleEndian.Uint32(ch[4:])
		switch string(ch[0:4]) {
		case "fmt ":
			if size < 16 || size > 1<<16 {
				return w, fmt.Errorf("wav: fmt chunk of %d bytes", size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return w, fmt.Errorf("wav fmt: %w", err)
			}
			format := binary.LittleEndian.Uint16(b[0:])
			w.Channels = int(binary.LittleEndian.Uint16(b[2:]))
			w.Rate = int(binary.LittleEndian.Uint32(b[4:]))
			bits := binary.LittleEndian.Uint16(b[14:])
			if (format != 1 && format != 0xFFFE) || bits != 16 || w.Channels < 1 || w.Rate < 1 {
				return w, fmt.Errorf("wav: format %#x, %d bits, %d channels: want PCM16", format, bits, w.Channels)
			}
			gotFmt = true
		case "data":
			if !gotFmt {
				return w, errors.New("wav: data before fmt")
			}
			// baresip's sndfile leaves the size 0 or huge when killed: read to EOF then.
			b, err := io.ReadAll(io.LimitReader(r, int64(size)))
			if err != nil {
				return w, fmt.Errorf("wav data: %w", err)
			}
			if size == 0 {
				rest, err := io.ReadAll(r)
				if err != nil {
					return w, fmt.Errorf("wav data: %w", err)
				}
				b = rest
			}
			w.Samples = make([]int16, len(b)/2)
			for i := range w.Samples {
				w.Samples[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
			}
			return w, nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size+size%2)); err != nil {
				return w, fmt.Errorf("wav chunk %q: %w", ch[0:4], err)
			}
		}
	}
}

// ReadWAVFile reads a WAV from disk.
func ReadWAVFile(path string) (WAV, error) {
	f, err := os.Open(path)
	if err != nil {
		return WAV{}, err
	}
	defer f.Close()
	w, err := ReadWAV(f)
	if err != nil {
		return w, fmt.Errorf("%s: %w", path, err)
	}
	return w, nil
}

// ReadWAVFS reads a WAV from a file system such as ivr.BuiltinPrompts.
func ReadWAVFS(fsys fs.FS, name string) (WAV, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return WAV{}, err
	}
	defer f.Close()
	w, err := ReadWAV(f)
	if err != nil {
		return w, fmt.Errorf("%s: %w", name, err)
	}
	return w, nil
}

// WriteWAV writes 16-bit PCM, the layout baresip's aufile and SIPp helpers read.
func WriteWAV(wr io.Writer, rate, channels int, samples []int16) error {
	data := len(samples) * 2
	h := make([]byte, 44)
	copy(h[0:], "RIFF")
	binary.LittleEndian.PutUint32(h[4:], uint32(36+data))
	copy(h[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(h[16:], 16)
	binary.LittleEndian.PutUint16(h[20:], 1)
	binary.LittleEndian.PutUint16(h[22:], uint16(channels))
	binary.LittleEndian.PutUint32(h[24:], uint32(rate))
	binary.LittleEndian.PutUint32(h[28:], uint32(rate*channels*2))
	binary.LittleEndian.PutUint16(h[32:], uint16(channels*2))
	binary.LittleEndian.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	binary.LittleEndian.PutUint32(h[40:], uint32(data))
	b := make([]byte, data)
	for i, s := range samples {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(s))
	}
	if _, err := wr.Write(h); err != nil {
		return err
	}
	_, err := wr.Write(b)
	return err
}

// WriteWAVFile writes 8 kHz-or-other PCM16 to path.
func WriteWAVFile(path string, rate, channels int, samples []int16) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteWAV(f, rate, channels, samples); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// HeardThreshold is the correlation score above which a prompt counts as heard:
// a prompt through G.711 scores above 0.9, a different prompt of the same voice
// below 0.5 (TestCorrelateFindsPromptInNoiseAtOffset).
const HeardThreshold = 0.7

// RequireHeard fails the test unless reference (e.g. a prompt) is found in
// received, and returns where it starts (in samples).
func RequireHeard(t testing.TB, received, reference []int16, what string) int {
	t.Helper()
	score, lag := Correlate(received, reference)
	if score < HeardThreshold {
		t.Fatalf("testkit: %s not heard: best correlation %.3f (need %.2f) over %d received samples (%v)",
			what, score, HeardThreshold, len(received), time.Duration(len(received))*time.Second/8000)
	}
	return lag
}
