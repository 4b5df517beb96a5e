package media

import (
	"math"
	"time"
)

// In-band DTMF: some trunks carry key presses as audio instead of RFC 4733 events.
// The detector runs Goertzel filters at the eight DTMF frequencies over 15 ms
// windows (120 samples) advanced every 10 ms, so that detection does not depend on
// how a key's tone lines up with our frames. 15 ms resolves the low group (tones
// 73-89 Hz apart leak at most -13 dB into each other) while a tone 1.5 % off its
// nominal frequency, which keypads may be, loses only 2 dB. A window holds a key when:
//   - each of its two tones is at least MinLevel (default -36 dBFS, about -33 dBm0);
//   - the twist is within what lines do to DTMF: the high tone at most 4 dB above or
//     8 dB below the low tone;
//   - each tone stands at least 8 dB above the other tones of its group;
//   - the two tones hold at least 60 % of the window's energy: speech and noise
//     spread their energy, a keypad does not;
//   - neither tone has a strong second harmonic, which voiced speech has and a keypad
//     does not: the high tone's must be 12 dB down; the low tone's only 6 dB, because
//     twice a low-group frequency lies among the high group (2 × 770 Hz is 63 Hz
//     from 1477 Hz), so the high tone itself leaks into that filter at about -13 dB.
// A key is reported once three consecutive windows agree (35 ms of audio): every
// tone of 40 ms or more is caught whatever its alignment, tones under 23 ms never are.
// It is released after four consecutive windows without it: any pause of 40 ms
// re-arms it, a drop-out of 20 ms or less (a noise burst) never splits a press.
// (A window holds a tone when the tone covers 60 % of it, 9 ms.)

var (
	dtmfRowFreqs = [4]float64{697, 770, 852, 941}
	dtmfColFreqs = [4]float64{1209, 1336, 1477, 1633}
	dtmfPad      = [4][4]byte{
		{'1', '2', '3', 'A'},
		{'4', '5', '6', 'B'},
		{'7', '8', '9', 'C'},
		{'*', '0', '#', 'D'},
	}
	// Goertzel coefficients of the 8 DTMF frequencies (rows then columns) and of
	// their second harmonics; computed once, never written.
	dtmfCoefs, dtmfHarmonicCoefs = func() (c, h [8]float64) {
		for i, f := range append(dtmfRowFreqs[:], dtmfColFreqs[:]...) {
			c[i], h[i] = goertzelCoef(f), goertzelCoef(2*f)
		}
		return c, h
	}()
)

// DTMFFreqs returns the low- and high-group frequencies of a key ('0'-'9', '*',
// '#', 'A'-'D'), e.g. to play it in-band with NewToneSource(0.3, low, high).
func DTMFFreqs(key byte) (low, high float64, ok bool) {
	code, ok := KeyEvent(key)
	if !ok {
		return 0, 0, false
	}
	k := dtmfKeys[code]
	for r := range dtmfPad {
		for c := range dtmfPad[r] {
			if dtmfPad[r][c] == k {
				return dtmfRowFreqs[r], dtmfColFreqs[c], true
			}
		}
	}
	return 0, 0, false
}

// Detection thresholds, as power ratios.
const (
	inbandWindow       = 120 // 15 ms
	inbandHop          = 80  // 10 ms
	inbandOnWindows    = 3
	inbandOffWindows   = 4
	inbandPending      = 4     // digits confirmed within one Process call
	inbandDefaultLevel = -36.0 // dBFS per tone
)

var (
	inbandReverseTwist = math.Pow(10, 4.0/10)  // high tone up to 4 dB above the low
	inbandNormalTwist  = math.Pow(10, 8.0/10)  // high tone up to 8 dB below the low
	inbandRelativePeak = math.Pow(10, 8.0/10)  // peak over the other tones of its group
	inbandHarmonicHigh = math.Pow(10, 12.0/10) // high tone over its second harmonic
	inbandHarmonicLow  = math.Pow(10, 6.0/10)  // low tone over its second harmonic
	inbandToTotal      = 0.6                   // share of window energy in the two tones
)

// InbandDetector finds DTMF key presses in 8 kHz linear audio. The zero value is
// ready to use. One detector per inbound stream; not safe for concurrent use.
type InbandDetector struct {
	// MinLevel is the weakest tone accepted, in dBFS per tone (see ToneLevel).
	// Zero means -36 dBFS.
	MinLevel float64

	ring   [inbandWindow]int16 // the latest samples; pos is the oldest
	pos    int
	filled int // samples in ring, up to inbandWindow
	since  int // samples since the last window was analysed

	cand     byte // key seen in the latest windows, 0 for none
	candHits int  // consecutive windows holding cand
	down     byte // key reported and not yet released, 0 for none
	misses   int  // consecutive windows without down

	ampFor, minAmp float64 // MinLevel as a peak amplitude, computed once

	pending  [inbandPending]Digit // confirmed, not yet returned (only with calls of many samples)
	nPending int
	digits   uint64
	dropped  uint64
}

// Digits returns how many key presses the detector has reported.
func (d *InbandDetector) Digits() uint64 { return d.digits }

// Reset forgets the audio seen so far, e.g. when the stream restarts after hold.
func (d *InbandDetector) Reset() {
	n := d.digits
	level := d.MinLevel
	*d = InbandDetector{MinLevel: level, digits: n}
}

// Process takes the next samples of the stream (normally one 160-sample frame;
// any length works) and returns a key press when one is confirmed in them. now is
// when the samples arrived and becomes the Digit's At; Duration is how long the tone
// had lasted when it was confirmed (35 ms: three windows). It does not allocate.
func (d *InbandDetector) Process(pcm []int16, now time.Time) (Digit, bool) {
	for len(pcm) > 0 {
		// Copy up to the next hop or the end of the ring, whichever comes first.
		n := min(len(pcm), inbandHop-d.since, inbandWindow-d.pos)
		copy(d.ring[d.pos:], pcm[:n])
		pcm = pcm[n:]
		d.pos = (d.pos + n) % inbandWindow
		d.filled = min(d.filled+n, inbandWindow)
		d.since += n
		if d.since == inbandHop {
			d.since = 0
			if d.filled == inbandWindow {
				d.step(d.classify(), now)
			}
		}
	}
	if d.nPending == 0 {
		return Digit{}, false
	}
	dg := d.pending[0]
	copy(d.pending[:], d.pending[1:d.nPending])
	d.nPending--
	return dg, true
}

// step advances the press state machine by one window holding key k (0: none).
func (d *InbandDetector) step(k byte, now time.Time) {
	if k != 0 && k == d.cand {
		d.candHits++
	} else {
		d.cand, d.candHits = k, 0
		if k != 0 {
			d.candHits = 1
		}
	}
	if d.down != 0 {
		if k == d.down {
			d.misses = 0
		} else if d.misses++; d.misses >= inbandOffWindows {
			d.down, d.misses = 0, 0
		}
	}
	if d.cand != 0 && d.cand != d.down && d.candHits >= inbandOnWindows {
		d.down, d.misses = d.cand, 0
		d.digits++
		if d.nPending == len(d.pending) {
			d.dropped++
			return
		}
		d.pending[d.nPending] = Digit{
			Key:      d.cand,
			At:       now,
			Duration: time.Duration(inbandWindow+(d.candHits-1)*inbandHop) * (time.Second / SampleRate),
			Source:   DigitInband,
		}
		d.nPending++
	}
}

// classify returns the key held by the window in the ring, or 0.
func (d *InbandDetector) classify() byte {
	a, b := d.ring[d.pos:], d.ring[:d.pos]
	var energy float64
	for _, x := range a {
		energy += float64(x) * float64(x)
	}
	for _, x := range b {
		energy += float64(x) * float64(x)
	}
	level := d.MinLevel
	if level == 0 {
		level = inbandDefaultLevel
	}
	if level != d.ampFor || d.minAmp == 0 {
		d.ampFor, d.minAmp = level, 32768*math.Pow(10, level/20)
	}
	// A tone of peak A has Goertzel power (A·N/2)² and energy A²·N/2.
	const n = float64(inbandWindow)
	minAmp := d.minAmp
	minPower := minAmp * minAmp * n * n / 4
	if energy < minAmp*minAmp*n { // two tones at the minimum level
		return 0
	}
	var p [8]float64
	goertzel8(&p, a, b)
	r, c := 0, 4
	for i := 1; i < 4; i++ {
		if p[i] > p[r] {
			r = i
		}
		if p[4+i] > p[c] {
			c = 4 + i
		}
	}
	pr, pc := p[r], p[c]
	switch {
	case pr < minPower || pc < minPower:
		return 0
	case pc > pr*inbandReverseTwist || pr > pc*inbandNormalTwist:
		return 0
	case 2*(pr+pc) < inbandToTotal*n*energy:
		return 0
	}
	for i := 0; i < 4; i++ {
		if i != r && p[i]*inbandRelativePeak > pr {
			return 0
		}
		if 4+i != c && p[4+i]*inbandRelativePeak > pc {
			return 0
		}
	}
	if goertzel(dtmfHarmonicCoefs[r], a, b)*inbandHarmonicLow > pr ||
		goertzel(dtmfHarmonicCoefs[c], a, b)*inbandHarmonicHigh > pc {
		return 0
	}
	return dtmfPad[r][c-4]
}

// goertzel8 runs the eight DTMF filters as two passes of four: four independent
// recurrences per sample keep the multipliers busy where one filter would wait on
// its own dependency chain, and four fit in registers where eight spill.
func goertzel8(p *[8]float64, a, b []int16) {
	goertzel4((*[4]float64)(dtmfCoefs[0:4]), (*[4]float64)(p[0:4]), a, b)
	goertzel4((*[4]float64)(dtmfCoefs[4:8]), (*[4]float64)(p[4:8]), a, b)
}

func goertzel4(c, p *[4]float64, a, b []int16) {
	c0, c1, c2, c3 := c[0], c[1], c[2], c[3]
	var u0, u1, u2, u3, v0, v1, v2, v3 float64 // s[n-1], s[n-2] of each filter
	for _, xs := range [2][]int16{a, b} {
		for _, s := range xs {
			x := float64(s)
			u0, v0 = x+c0*u0-v0, u0
			u1, v1 = x+c1*u1-v1, u1
			u2, v2 = x+c2*u2-v2, u2
			u3, v3 = x+c3*u3-v3, u3
		}
	}
	p[0] = u0*u0 + v0*v0 - c0*u0*v0
	p[1] = u1*u1 + v1*v1 - c1*u1*v1
	p[2] = u2*u2 + v2*v2 - c2*u2*v2
	p[3] = u3*u3 + v3*v3 - c3*u3*v3
}
