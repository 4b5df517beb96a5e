package media

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Files written by sox (testdata/gen.sh): the accepted ones decode to the 1 kHz
// tone they hold, the others are refused with what is wrong.
func TestDecodeWAVSox(t *testing.T) {
	for _, name := range []string{"sox_pcm16.wav", "sox_alaw.wav", "sox_ulaw.wav"} {
		pcm, err := DecodeWAV(readFixture(t, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(pcm) != 400 { // 50 ms
			t.Errorf("%s: %d samples, want 400", name, len(pcm))
		}
		// vol 0.5: a 1 kHz sine at -6 dBFS, whatever the encoding.
		if lvl := ToneLevel(pcm[:320], 1000); math.Abs(lvl+6) > 0.5 {
			t.Errorf("%s: 1 kHz at %.2f dBFS, want -6", name, lvl)
		}
	}
	for name, want := range map[string]string{
		"sox_16k.wav":    "wav: sample rate 16000 Hz, want 8000",
		"sox_stereo.wav": "wav: 2 channels, want 1 (mono)",
		"sox_u8.wav":     "wav: 8-bit PCM, want 16-bit",
		"sox_float.wav":  "wav: format IEEE float (tag 3), want PCM (1), A-law (6) or μ-law (7)",
		"sox_adpcm.wav":  "wav: format IMA ADPCM (tag 17), want PCM (1), A-law (6) or μ-law (7)",
		"sox_24bit.wav":  "wav: 24-bit PCM, want 16-bit",
	} {
		_, err := DecodeWAV(readFixture(t, name))
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
		if !errors.Is(err, ErrBadWAV) {
			t.Errorf("%s: error does not wrap ErrBadWAV", name)
		}
	}
}

func TestEncodeDecodeWAVRoundTrip(t *testing.T) {
	pcm := make([]int16, 1234)
	for i := range pcm {
		pcm[i] = int16(i*53 - 32768)
	}
	pcm[0], pcm[1] = math.MaxInt16, math.MinInt16
	b := EncodeWAV(pcm)
	if len(b) != 44+2*len(pcm) || binary.LittleEndian.Uint32(b[4:]) != uint32(len(b)-8) {
		t.Fatalf("header sizes wrong: len %d riff %d", len(b), binary.LittleEndian.Uint32(b[4:]))
	}
	got, err := DecodeWAV(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pcm) {
		t.Fatalf("%d samples, want %d", len(got), len(pcm))
	}
	for i := range pcm {
		if got[i] != pcm[i] {
			t.Fatalf("sample %d: %d, want %d", i, got[i], pcm[i])
		}
	}
	if got, err := DecodeWAV(EncodeWAV(nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty: %v, %v", got, err)
	}
}

// wavBuilder writes RIFF files chunk by chunk, for layouts no tool at hand writes.
type wavBuilder struct{ b []byte }

func newWAV() *wavBuilder { return &wavBuilder{b: []byte("RIFF\x00\x00\x00\x00WAVE")} }

func (w *wavBuilder) chunk(id string, body []byte) *wavBuilder {
	return w.chunkSized(id, uint32(len(body)), body)
}

func (w *wavBuilder) chunkSized(id string, size uint32, body []byte) *wavBuilder {
	w.b = append(w.b, id...)
	w.b = binary.LittleEndian.AppendUint32(w.b, size)
	w.b = append(w.b, body...)
	if len(body)%2 == 1 {
		w.b = append(w.b, 0)
	}
	return w
}

func (w *wavBuilder) bytes() []byte {
	binary.LittleEndian.PutUint32(w.b[4:], uint32(len(w.b)-8))
	return w.b
}

func fmtChunk(tag, channels uint16, rate uint32, bits uint16) []byte {
	le := binary.LittleEndian
	b := le.AppendUint16(nil, tag)
	b = le.AppendUint16(b, channels)
	b = le.AppendUint32(b, rate)
	b = le.AppendUint32(b, rate*uint32(channels*bits/8))
	b = le.AppendUint16(b, channels*bits/8)
	return le.AppendUint16(b, bits)
}

func extensibleFmt(sub uint16, bits, valid uint16) []byte {
	le := binary.LittleEndian
	b := fmtChunk(wavFormatExtensible, 1, 8000, bits)
	b = le.AppendUint16(b, 22)
	b = le.AppendUint16(b, valid)
	b = le.AppendUint32(b, 4) // channel mask: front centre
	b = le.AppendUint16(b, sub)
	return append(b, wavGUIDTail[:]...)
}

func pcmBytes(pcm ...int16) []byte {
	var b []byte
	for _, s := range pcm {
		b = binary.LittleEndian.AppendUint16(b, uint16(s))
	}
	return b
}

func TestDecodeWAVChunks(t *testing.T) {
	ulaw := []byte{0xFF, 0x80, 0x00, 0x7F, 0xFE} // odd length: padded in the file
	wantUlaw := make([]int16, len(ulaw))
	DecodeFrame(PCMU, wantUlaw, ulaw)
	alaw := []byte{0xD5, 0x55, 0x2A}
	wantAlaw := make([]int16, len(alaw))
	DecodeFrame(PCMA, wantAlaw, alaw)

	for _, tc := range []struct {
		name string
		file []byte
		want []int16
	}{
		{"LIST and odd-sized junk before fmt", newWAV().
			chunk("LIST", []byte("INFOISFT\x05\x00\x00\x00sox!\x00")).
			chunk("junk", []byte{1, 2, 3}).
			chunk("fmt ", fmtChunk(1, 1, 8000, 16)).
			chunk("data", pcmBytes(1, -2, 3)).bytes(), []int16{1, -2, 3}},
		{"fact and μ-law with odd data", newWAV().
			chunk("fmt ", append(fmtChunk(7, 1, 8000, 8), 0, 0)).
			chunk("fact", []byte{5, 0, 0, 0}).
			chunk("data", ulaw).
			chunk("LIST", []byte("INFO")).bytes(), wantUlaw},
		{"A-law", newWAV().chunk("fmt ", fmtChunk(6, 1, 8000, 8)).chunk("data", alaw).bytes(), wantAlaw},
		{"extensible PCM", newWAV().chunk("fmt ", extensibleFmt(1, 16, 16)).chunk("data", pcmBytes(7, 8)).bytes(), []int16{7, 8}},
		{"extensible μ-law", newWAV().chunk("fmt ", extensibleFmt(7, 8, 8)).chunk("data", ulaw).bytes(), wantUlaw},
		{"data size past the end (crashed recorder)", newWAV().chunk("fmt ", fmtChunk(1, 1, 8000, 16)).
			chunkSized("data", 0xFFFFFFFF, pcmBytes(4, 5, 6)).bytes(), []int16{4, 5, 6}},
		{"trailing half sample", newWAV().chunk("fmt ", fmtChunk(1, 1, 8000, 16)).
			chunk("data", append(pcmBytes(9), 0x12)).bytes(), []int16{9}},
		{"RIFF size 0 (streamed)", func() []byte {
			b := newWAV().chunk("fmt ", fmtChunk(1, 1, 8000, 16)).chunk("data", pcmBytes(1)).bytes()
			binary.LittleEndian.PutUint32(b[4:], 0)
			return b
		}(), []int16{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeWAV(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestDecodeWAVErrors(t *testing.T) {
	pcm16 := fmtChunk(1, 1, 8000, 16)
	badAlign := fmtChunk(1, 1, 8000, 16)
	binary.LittleEndian.PutUint16(badAlign[12:], 4)
	badGUID := extensibleFmt(1, 16, 16)
	badGUID[len(badGUID)-1] ^= 0xFF
	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "wav: 0 bytes, too short for a RIFF header"},
		{"mp3", []byte("ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00"), `wav: not a RIFF file (starts with "ID3\x03")`},
		{"RIFX", []byte("RIFX\x00\x00\x00\x00WAVE"), `wav: "RIFX" container, want little-endian RIFF`},
		{"AVI", []byte("RIFF\x00\x00\x00\x00AVI "), `wav: RIFF form type "AVI ", want "WAVE"`},
		{"no chunks", newWAV().bytes(), "wav: no fmt chunk"},
		{"no data", newWAV().chunk("fmt ", pcm16).bytes(), "wav: no data chunk"},
		{"data first", newWAV().chunk("data", pcmBytes(1)).chunk("fmt ", pcm16).bytes(), "wav: data chunk at offset 12 before any fmt chunk"},
		{"two fmt", newWAV().chunk("fmt ", pcm16).chunk("fmt ", pcm16).bytes(), "wav: second fmt chunk at offset 36"},
		{"short fmt", newWAV().chunk("fmt ", pcm16[:14]).chunk("data", nil).bytes(), "wav: fmt chunk is 14 bytes, want at least 16"},
		{"fmt past end", newWAV().chunkSized("fmt ", 100, pcm16).bytes(), "wav: fmt chunk at offset 12 claims 100 bytes but only 16 remain"},
		{"LIST past end", newWAV().chunkSized("LIST", 1000, []byte("INFO")).bytes(), `wav: chunk "LIST" at offset 12 claims 1000 bytes but only 4 remain`},
		{"44.1 kHz", newWAV().chunk("fmt ", fmtChunk(1, 1, 44100, 16)).chunk("data", nil).bytes(), "wav: sample rate 44100 Hz, want 8000"},
		{"16-bit μ-law", newWAV().chunk("fmt ", fmtChunk(7, 1, 8000, 16)).chunk("data", nil).bytes(), "wav: μ-law with 16 bits per sample, want 8"},
		{"block align", newWAV().chunk("fmt ", badAlign).chunk("data", nil).bytes(), "wav: block align 4, want 2 for mono 16-bit samples"},
		{"GSM", newWAV().chunk("fmt ", fmtChunk(0x31, 1, 8000, 0)).chunk("data", nil).bytes(), "wav: format GSM 6.10 (tag 49), want PCM (1), A-law (6) or μ-law (7)"},
		{"short extensible", newWAV().chunk("fmt ", fmtChunk(wavFormatExtensible, 1, 8000, 16)).bytes(), "wav: WAVE_FORMAT_EXTENSIBLE fmt chunk is 16 bytes, want 40"},
		{"extensible 12 of 16 bits", newWAV().chunk("fmt ", extensibleFmt(1, 16, 12)).bytes(), "wav: 12 valid bits in 16-bit containers, want all bits valid"},
		{"extensible foreign GUID", newWAV().chunk("fmt ", badGUID).bytes(), "is not a standard format GUID"},
		{"extensible float", newWAV().chunk("fmt ", extensibleFmt(3, 32, 32)).bytes(), "wav: format IEEE float (tag 3)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pcm, err := DecodeWAV(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %d samples, error %v; want %q", len(pcm), err, tc.want)
			}
			if !errors.Is(err, ErrBadWAV) {
				t.Fatalf("%v does not wrap ErrBadWAV", err)
			}
		})
	}
}

func FuzzDecodeWAV(f *testing.F) {
	for _, name := range []string{"sox_pcm16.wav", "sox_alaw.wav", "sox_ulaw.wav", "sox_16k.wav",
		"sox_stereo.wav", "sox_float.wav", "sox_adpcm.wav", "sox_24bit.wav", "sox_dtmf5.wav"} {
		f.Add(readFixture(f, name))
	}
	f.Add(EncodeWAV([]int16{1, 2, 3}))
	f.Add(newWAV().chunk("LIST", []byte("INFO")).chunk("fmt ", extensibleFmt(7, 8, 8)).chunk("data", []byte{1, 2, 3}).bytes())
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, err := DecodeWAV(b)
		if err != nil {
			if !errors.Is(err, ErrBadWAV) || pcm != nil {
				t.Fatalf("error %v with %d samples", err, len(pcm))
			}
			return
		}
		// Never more samples than bytes: no decoder invents audio.
		if len(pcm) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(b))
		}
		again, err := DecodeWAV(EncodeWAV(pcm))
		if err != nil || len(again) != len(pcm) {
			t.Fatalf("re-encoded: %d samples, %v", len(again), err)
		}
		for i := range pcm {
			if again[i] != pcm[i] {
				t.Fatalf("re-encoded sample %d differs", i)
			}
		}
	})
}
