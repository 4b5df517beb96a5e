package media

import "github.com/zaf/g711"

// Silence byte per codec: the encoding of a zero sample.
func silenceByte(c Codec) byte {
	if c == PCMA {
		return 0xD5
	}
	return 0xFF
}

// silentFrame is 20 ms of silence in c; the caller must not write to it.
func silentFrame(c Codec) []byte {
	if c == PCMA {
		return silentPCMA[:]
	}
	return silentPCMU[:]
}

var silentPCMU, silentPCMA = silence(PCMU), silence(PCMA)

func silence(c Codec) (f [FrameSamples]byte) {
	FillSilence(c, f[:])
	return f
}

// FillSilence writes one frame of silence in codec c into p.
func FillSilence(c Codec, p []byte) {
	b := silenceByte(c)
	for i := range p {
		p[i] = b
	}
}

// DecodeFrame decodes G.711 bytes in src into linear samples in dst (len(dst) >= len(src)).
// zaf/g711 decodes through lookup tables, so this costs a table read per sample.
func DecodeFrame(c Codec, dst []int16, src []byte) {
	dst = dst[:len(src)]
	if c == PCMA {
		for i, b := range src {
			dst[i] = g711.DecodeAlawFrame(b)
		}
		return
	}
	for i, b := range src {
		dst[i] = g711.DecodeUlawFrame(b)
	}
}

// EncodeFrame encodes linear samples into G.711 bytes (len(dst) >= len(src)).
func EncodeFrame(c Codec, dst []byte, src []int16) {
	dst = dst[:len(src)]
	if c == PCMA {
		for i, s := range src {
			dst[i] = g711.EncodeAlawFrame(s)
		}
		return
	}
	for i, s := range src {
		dst[i] = g711.EncodeUlawFrame(s)
	}
}

// Transcode converts a G.711 frame from one law to the other in place-safe fashion
// (dst may equal src). Same codec is a copy.
func Transcode(from, to Codec, dst, src []byte) {
	switch {
	case from == to:
		copy(dst, src)
	case from == PCMA:
		for i, b := range src {
			dst[i] = g711.Alaw2UlawFrame(b)
		}
	default:
		for i, b := range src {
			dst[i] = g711.Ulaw2AlawFrame(b)
		}
	}
}
