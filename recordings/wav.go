package recordings

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/hotline-12345/hotline/media"
	"github.com/zaf/g711"
)

// The file format is fixed so that repair and splitting can trust it: a 58-byte
// canonical header (RIFF, WAVE, an 18-byte fmt chunk for G.711 A-law, a fact chunk
// with the samples per channel, data) followed by 8 kHz A-law stereo, interleaved
// left/right, one byte a sample, in whole 20 ms frames: 16,000 bytes a second.
//
// Why A-law and not PCM16: it is what a Chinese trunk carries (G.711 A-law), so a
// caller's audio is stored as it came, byte for byte, at half the size of PCM16
// (a city hotline keeps years of calls), and laying out half the bytes costs the
// media server half the memory traffic. A μ-law leg is converted by table
// (G.711's own A-law/μ-law mapping). Browsers, ffmpeg, sox and Windows play it;
// Split gives PCM16 for tools that want linear samples.
//
// Recordings written before (44-byte header, PCM16 stereo) are still repaired
// and split; see pcmFormat.
const (
	headerSize  = 58
	channels    = 2
	bytesPerSmp = 1
	blockAlign  = channels * bytesPerSmp          // one stereo sample
	frameBytes  = media.FrameSamples * blockAlign // one 20 ms stereo frame: 320 bytes
	byteRate    = media.SampleRate * blockAlign   // 16,000 bytes a second
	maxData     = 0xFFFFFFFF - 64                 // RIFF sizes are 32-bit
	wavSuffix   = ".wav"
	wavALaw     = 6

	pcmHeaderSize = 44 // the PCM16 header: Split's mono output, and older recordings
	wavPCM        = 1
)

// ErrNotRecording is wrapped when a file is not a recording this package wrote
// (another format, a foreign WAV), so callers can tell it from an I/O error.
var ErrNotRecording = errors.New("recordings: not a hotline stereo recording")

// putHeader writes the canonical A-law stereo header for dataLen bytes of audio.
func putHeader(h *[headerSize]byte, dataLen uint32) {
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], dataLen+headerSize-8)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 18)
	le.PutUint16(h[20:], wavALaw)
	le.PutUint16(h[22:], channels)
	le.PutUint32(h[24:], media.SampleRate)
	le.PutUint32(h[28:], byteRate)
	le.PutUint16(h[32:], blockAlign)
	le.PutUint16(h[34:], 8*bytesPerSmp)
	le.PutUint16(h[36:], 0) // cbSize: no extra format bytes
	copy(h[38:], "fact")
	le.PutUint32(h[42:], 4)
	le.PutUint32(h[46:], dataLen/blockAlign) // samples per channel
	copy(h[50:], "data")
	le.PutUint32(h[54:], dataLen)
}

// putPCMHeader writes a canonical 44-byte PCM16 header for dataLen bytes of ch
// channels: Split's output, and the header of older recordings.
func putPCMHeader(h *[pcmHeaderSize]byte, dataLen uint32, ch uint16) {
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], dataLen+pcmHeaderSize-8)
	copy(h[8:], "WAVEfmt ")
	le.PutUint32(h[16:], 16)
	le.PutUint16(h[20:], wavPCM)
	le.PutUint16(h[22:], ch)
	le.PutUint32(h[24:], media.SampleRate)
	le.PutUint32(h[28:], media.SampleRate*uint32(ch)*2)
	le.PutUint16(h[32:], ch*2)
	le.PutUint16(h[34:], 16)
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataLen)
}

// fileFormat is one layout of a recording file: today's A-law, or the PCM16 of
// recordings written before it.
type fileFormat struct {
	header int   // bytes before the audio
	sample int64 // bytes of one stereo sample
	frame  int64 // bytes of one 20 ms stereo frame
	// sizes writes the header for dataLen bytes of audio into h (len header).
	sizes func(h []byte, dataLen uint32)
	// fixed reports whether h (a whole header) matches, ignoring the size fields.
	fixed func(h []byte) bool
}

var (
	alawFormat = fileFormat{
		header: headerSize, sample: blockAlign, frame: frameBytes,
		sizes: func(h []byte, dataLen uint32) { putHeader((*[headerSize]byte)(h), dataLen) },
		fixed: func(h []byte) bool {
			var want [headerSize]byte
			putHeader(&want, 0)
			return bytes.Equal(h[0:4], want[0:4]) && bytes.Equal(h[8:46], want[8:46]) && bytes.Equal(h[50:54], want[50:54])
		},
	}
	pcmFormat = fileFormat{
		header: pcmHeaderSize, sample: 4, frame: media.FrameSamples * 4,
		sizes: func(h []byte, dataLen uint32) { putPCMHeader((*[pcmHeaderSize]byte)(h), dataLen, channels) },
		fixed: func(h []byte) bool {
			var want [pcmHeaderSize]byte
			putPCMHeader(&want, 0, channels)
			return bytes.Equal(h[0:4], want[0:4]) && bytes.Equal(h[8:40], want[8:40])
		},
	}
)

// detect tells the format of a recording from its first headerSize bytes (fewer
// when the file is shorter).
func detect(h []byte) (fileFormat, bool) {
	for _, f := range []fileFormat{alawFormat, pcmFormat} {
		if len(h) >= f.header && f.fixed(h[:f.header]) {
			return f, true
		}
	}
	return fileFormat{}, false
}

// isHeaderPrefix reports whether h (shorter than a header) could be the start of
// ours: what a crash between creating a file and writing its header leaves.
func isHeaderPrefix(h []byte) bool {
	var want [headerSize]byte
	putHeader(&want, 0)
	for i, b := range h {
		if (i >= 4 && i < 8) || (i >= 46 && i < 50) || i >= 54 {
			continue
		}
		if b != want[i] {
			return false
		}
	}
	return true
}

// Repair scans dir (recursively) for recordings left by a crash and makes each a
// valid WAV again: a trailing partial 20 ms frame is cut off, so the two channels
// stay interleaved and the length stays whole frames, and the RIFF and data sizes
// are rewritten from the file's length. A file cut before its header was complete
// becomes an empty recording. Files that are not ours are logged and left alone.
//
// Call it at start, before any recorder runs in dir: a file being written is
// always "wrong" for up to a second and Repair would race with its writer.
func Repair(dir string, log *slog.Logger) (repaired int, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var errs []error
	walkErr := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll // nothing recorded yet
			}
			errs = append(errs, err)
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), wavSuffix) {
			return nil
		}
		fixed, err := repairFile(path)
		switch {
		case errors.Is(err, ErrNotRecording):
			log.Warn("recordings: repair skips a file that is not a recording", "path", path)
		case err != nil:
			log.Error("recordings: cannot repair", "path", path, "err", err)
			errs = append(errs, err)
		case fixed:
			log.Info("recordings: repaired a recording left by a crash", "path", path)
			repaired++
		}
		return nil
	})
	if walkErr != nil {
		errs = append(errs, walkErr)
	}
	return repaired, errors.Join(errs...)
}

// repairFile fixes one file and reports whether it had to.
func repairFile(path string) (fixed bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return false, err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	size := st.Size()
	var h [headerSize]byte
	n, err := io.ReadFull(f, h[:])
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return false, err
	}
	format, ok := detect(h[:n])
	var data int64
	if !ok {
		if n >= headerSize || !isHeaderPrefix(h[:n]) {
			return false, fmt.Errorf("%w: %s", ErrNotRecording, path)
		}
		format = alawFormat // cut inside the header: an empty recording
	} else {
		data = size - int64(format.header)
		data -= data % format.frame
		if data > maxData {
			data = maxData - maxData%format.frame
		}
	}
	hdr := make([]byte, format.header)
	format.sizes(hdr, uint32(data))
	if ok && size == int64(format.header)+data && bytes.Equal(h[:format.header], hdr) {
		return false, nil
	}
	if _, err := f.WriteAt(hdr, 0); err != nil {
		return false, err
	}
	if err := f.Truncate(int64(format.header) + data); err != nil {
		return false, err
	}
	return true, f.Sync()
}

// Split streams a recording into two mono 8 kHz PCM16 WAVs, the caller (left) and
// the other party (right), e.g. for a player that shows each voice on its own or
// for speech analytics. The length comes from the file itself, not its header, so a
// recording still being written (its header up to a few seconds stale) splits too; a
// trailing partial stereo sample is ignored. It returns the samples per channel.
func Split(src io.ReadSeeker, left, right io.Writer) (samples int64, err error) {
	end, err := src.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	h := make([]byte, min(end, headerSize))
	if _, err := io.ReadFull(src, h); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotRecording, err)
	}
	format, ok := detect(h)
	if !ok {
		return 0, ErrNotRecording
	}
	if _, err := src.Seek(int64(format.header), io.SeekStart); err != nil {
		return 0, err
	}
	data := end - int64(format.header)
	data -= data % format.sample
	if data > maxData {
		data = maxData - maxData%format.sample
	}
	samples = data / format.sample
	var mono [pcmHeaderSize]byte
	putPCMHeader(&mono, uint32(samples*2), 1)
	if _, err := left.Write(mono[:]); err != nil {
		return 0, err
	}
	if _, err := right.Write(mono[:]); err != nil {
		return 0, err
	}
	const chunk = 4096 // stereo bytes per read, a multiple of both formats' samples
	in := make([]byte, chunk)
	perSample := int(format.sample)
	l := make([]byte, chunk/perSample*2)
	r := make([]byte, chunk/perSample*2)
	for rest := data; rest > 0; {
		n := int(min(rest, chunk))
		if _, err := io.ReadFull(src, in[:n]); err != nil {
			return 0, err
		}
		k := 0
		for i := 0; i < n; i, k = i+perSample, k+2 {
			if perSample == 4 { // PCM16 stereo
				l[k], l[k+1] = in[i], in[i+1]
				r[k], r[k+1] = in[i+2], in[i+3]
				continue
			}
			lv, rv := uint16(g711.DecodeAlawFrame(in[i])), uint16(g711.DecodeAlawFrame(in[i+1]))
			l[k], l[k+1] = byte(lv), byte(lv>>8)
			r[k], r[k+1] = byte(rv), byte(rv>>8)
		}
		if _, err := left.Write(l[:k]); err != nil {
			return 0, err
		}
		if _, err := right.Write(r[:k]); err != nil {
			return 0, err
		}
		rest -= int64(n)
	}
	return samples, nil
}
