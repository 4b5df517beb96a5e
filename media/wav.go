package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// WAV I/O for prompts and test fixtures. Operators drop their own recordings into a
// folder, so the decoder walks RIFF chunks as the format allows (LIST, fact, odd
// sizes padded to even, WAVE_FORMAT_EXTENSIBLE) and refuses anything that is not
// 8 kHz mono PCM16 or G.711 with a message that says exactly what to change: a prompt
// that plays at the wrong speed or as noise is worse than one refused at load.

// ErrBadWAV is wrapped by every error DecodeWAV returns, so callers can tell a bad
// file from an I/O error with errors.Is.
var ErrBadWAV = errors.New("wav")

// WAVE format tags (mmreg.h).
const (
	wavFormatPCM        = 0x0001
	wavFormatFloat      = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatMuLaw      = 0x0007
	wavFormatExtensible = 0xFFFE
)

// wavGUIDTail is bytes 2..15 of every KSDATAFORMAT_SUBTYPE_* GUID; bytes 0..1 carry
// the plain format tag.
var wavGUIDTail = [14]byte{0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71}

func wavErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrBadWAV}, args...)...)
}

func wavFormatName(tag uint16) string {
	switch tag {
	case wavFormatPCM:
		return "PCM"
	case wavFormatFloat:
		return "IEEE float"
	case wavFormatALaw:
		return "A-law"
	case wavFormatMuLaw:
		return "μ-law"
	case 0x0002:
		return "MS ADPCM"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0055:
		return "MP3"
	case wavFormatExtensible:
		return "extensible"
	}
	return "unknown"
}

// wavFormat is what DecodeWAV needs from the fmt chunk.
type wavFormat struct {
	tag           uint16 // resolved through WAVE_FORMAT_EXTENSIBLE
	bitsPerSample uint16
}

func parseWAVFormat(b []byte) (wavFormat, error) {
	if len(b) < 16 {
		return wavFormat{}, wavErr("fmt chunk is %d bytes, want at least 16", len(b))
	}
	le := binary.LittleEndian
	tag := le.Uint16(b[0:])
	channels := le.Uint16(b[2:])
	rate := le.Uint32(b[4:])
	blockAlign := le.Uint16(b[12:])
	bits := le.Uint16(b[14:])
	if tag == wavFormatExtensible {
		if len(b) < 40 || le.Uint16(b[16:]) < 22 {
			return wavFormat{}, wavErr("WAVE_FORMAT_EXTENSIBLE fmt chunk is %d bytes, want 40", len(b))
		}
		if valid := le.Uint16(b[18:]); valid != 0 && valid != bits {
			return wavFormat{}, wavErr("%d valid bits in %d-bit containers, want all bits valid", valid, bits)
		}
		if [14]byte(b[26:40]) != wavGUIDTail {
			return wavFormat{}, wavErr("WAVE_FORMAT_EXTENSIBLE sub-format % x is not a standard format GUID", b[24:40])
		}
		tag = le.Uint16(b[24:])
	}
	switch tag {
	case wavFormatPCM:
		if bits != 16 {
			return wavFormat{}, wavErr("%d-bit PCM, want 16-bit", bits)
		}
	case wavFormatALaw, wavFormatMuLaw:
		if bits != 8 {
			return wavFormat{}, wavErr("%s with %d bits per sample, want 8", wavFormatName(tag), bits)
		}
	default:
		return wavFormat{}, wavErr("format %s (tag %d), want PCM (1), A-law (6) or μ-law (7)", wavFormatName(tag), tag)
	}
	if channels != 1 {
		return wavFormat{}, wavErr("%d channels, want 1 (mono)", channels)
	}
	if rate != SampleRate {
		return wavFormat{}, wavErr("sample rate %d Hz, want %d", rate, SampleRate)
	}
	if blockAlign != bits/8 {
		return wavFormat{}, wavErr("block align %d, want %d for mono %d-bit samples", blockAlign, bits/8, bits)
	}
	return wavFormat{tag: tag, bitsPerSample: bits}, nil
}

// DecodeWAV decodes an 8 kHz mono WAV file in PCM16, A-law (format 6) or μ-law
// (format 7), plain or WAVE_FORMAT_EXTENSIBLE, into linear samples. Chunks other
// than fmt and data are skipped. A data chunk that claims more bytes than the file
// holds is read to the end of the file, as a recorder that crashed or streamed its
// output leaves it; a trailing half sample is dropped. Every error wraps ErrBadWAV
// and names what is wrong, e.g. "wav: sample rate 16000 Hz, want 8000".
func DecodeWAV(data []byte) (pcm []int16, err error) {
	if len(data) < 12 {
		return nil, wavErr("%d bytes, too short for a RIFF header", len(data))
	}
	if string(data[0:4]) != "RIFF" {
		if string(data[0:4]) == "RIFX" || string(data[0:4]) == "RF64" {
			return nil, wavErr("%q container, want little-endian RIFF", data[0:4])
		}
		return nil, wavErr("not a RIFF file (starts with %q)", data[0:4])
	}
	if string(data[8:12]) != "WAVE" {
		return nil, wavErr("RIFF form type %q, want \"WAVE\"", data[8:12])
	}
	// The RIFF size is ignored: streaming writers leave it 0 or 0xFFFFFFFF, and the
	// chunks themselves say where they end.
	var (
		format  wavFormat
		haveFmt bool
	)
	off := 12
	for off+8 <= len(data) {
		id := string(data[off : off+4])
		size := int64(binary.LittleEndian.Uint32(data[off+4:]))
		body := off + 8
		remain := int64(len(data) - body)
		switch id {
		case "fmt ":
			if haveFmt {
				return nil, wavErr("second fmt chunk at offset %d", off)
			}
			if size > remain {
				return nil, wavErr("fmt chunk at offset %d claims %d bytes but only %d remain", off, size, remain)
			}
			if format, err = parseWAVFormat(data[body : body+int(size)]); err != nil {
				return nil, err
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, wavErr("data chunk at offset %d before any fmt chunk", off)
			}
			size = min(size, remain)
			return decodeWAVData(format, data[body:body+int(size)]), nil
		default:
			if size > remain {
				return nil, wavErr("chunk %q at offset %d claims %d bytes but only %d remain", id, off, size, remain)
			}
		}
		// Chunks are padded to an even length (the pad byte is not counted in size).
		next := int64(body) + size + size&1
		if next > int64(len(data)) {
			break
		}
		off = int(next)
	}
	if !haveFmt {
		return nil, wavErr("no fmt chunk")
	}
	return nil, wavErr("no data chunk")
}

func decodeWAVData(f wavFormat, b []byte) []int16 {
	switch f.tag {
	case wavFormatALaw:
		pcm := make([]int16, len(b))
		DecodeFrame(PCMA, pcm, b)
		return pcm
	case wavFormatMuLaw:
		pcm := make([]int16, len(b))
		DecodeFrame(PCMU, pcm, b)
		return pcm
	}
	pcm := make([]int16, len(b)/2)
	for i := range pcm {
		pcm[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return pcm
}

// EncodeWAV returns a canonical 44-byte-header WAV file of 8 kHz mono PCM16 samples.
func EncodeWAV(pcm []int16) []byte {
	const header = 44
	n := 2 * len(pcm)
	b := make([]byte, header+n)
	le := binary.LittleEndian
	copy(b[0:], "RIFF")
	le.PutUint32(b[4:], uint32(36+n))
	copy(b[8:], "WAVEfmt ")
	le.PutUint32(b[16:], 16)
	le.PutUint16(b[20:], wavFormatPCM)
	le.PutUint16(b[22:], 1)
	le.PutUint32(b[24:], SampleRate)
	le.PutUint32(b[28:], SampleRate*2)
	le.PutUint16(b[32:], 2)
	le.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	le.PutUint32(b[40:], uint32(n))
	for i, s := range pcm {
		le.PutUint16(b[header+2*i:], uint16(s))
	}
	return b
}
