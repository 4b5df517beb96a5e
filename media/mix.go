package media

import "math"

// Mix returns a Source that sums the given sources, frame by frame, with saturation: a
// whisper (the caller and the supervisor to the agent), a barge, a three-way call, an
// announcement over hold music. A source with nothing for a frame adds nothing; the mix
// reports false only when every source had nothing.
func Mix(srcs ...Source) Source { return &mixer{srcs: srcs} }

type mixer struct {
	srcs []Source
	buf  [FrameSamples]byte
	pcm  [FrameSamples]int16
	sum  [FrameSamples]int32
}

func (m *mixer) ReadFrame(c Codec, p []byte) bool {
	clear(m.sum[:])
	any := false
	for _, s := range m.srcs {
		if s == nil || !s.ReadFrame(c, m.buf[:]) {
			continue
		}
		any = true
		DecodeFrame(c, m.pcm[:], m.buf[:])
		for i, v := range m.pcm {
			m.sum[i] += int32(v)
		}
	}
	if !any {
		return false
	}
	for i, v := range m.sum {
		m.pcm[i] = int16(max(min(v, math.MaxInt16), math.MinInt16))
	}
	EncodeFrame(c, p[:FrameSamples], m.pcm[:])
	return true
}

// Gain scales a source by a factor (0.25 is about −12 dB): hold music under an
// announcement, a supervisor's whisper at a comfortable level.
func Gain(src Source, factor float64) Source {
	return &gain{src: src, f: int32(factor * 1024)}
}

type gain struct {
	src Source
	f   int32 // factor in 1/1024
	pcm [FrameSamples]int16
}

func (g *gain) ReadFrame(c Codec, p []byte) bool {
	if !g.src.ReadFrame(c, p) {
		return false
	}
	DecodeFrame(c, g.pcm[:], p[:FrameSamples])
	for i, v := range g.pcm {
		g.pcm[i] = int16(max(min(int32(v)*g.f>>10, math.MaxInt16), math.MinInt16))
	}
	EncodeFrame(c, p[:FrameSamples], g.pcm[:])
	return true
}
