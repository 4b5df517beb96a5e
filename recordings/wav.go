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
)

// The file format is fixed so that repair and splitting can trust it: a 44-byte
// canonical header (RIFF, WAVE, a 16-byte PCM fmt chunk, data) followed by 8 kHz
// PCM16 stereo, interleaved left/right, in whole 20 ms frames.
const (
	headerSize  = 44
	channels    = 2
	bytesPerSmp = 2
	blockAlign  = channels * bytesPerSmp             // one stereo sample
	frameBytes  = media.FrameSamples * blockAlign    // one 20 ms stereo frame: 640 bytes
	byteRate    = media.SampleRate * blockAlign      // 32,000 bytes a second
	maxData     = 0xFFFFFFFF - (headerSize - 8) - 64 // RIFF sizes are 32-bit
	wavSuffix   = ".wav"
	fmtChunkLen = 16
	wavPCM      = 1
)

// ErrNotRecording is wrapped when a file is not a recording this package wrote
// (another format, a foreign WAV), so callers can tell it from an I/O error.
var ErrNotRecording = errors.New("recordings: not a hotline stereo recording")

// putHeader writes the canonical header for dataLen bytes of stereo audio into h.
func putHeader(h *[headerSize]byte, dataLen uint32, ch uint16) {
	le := binary.LittleEndian
	copy(h[0:], "RIFF")
	le.PutUint32(h[4:], dataLen+headerSize-8)
	copy(h[8:], "WAVE")
	copy(h[12:], "fmt ")
	le.PutUint32(h[16:], fmtChunkLen)
	le.PutUint16(h[20:], wavPCM)
	le.PutUint16(h[22:], ch)
	le.PutUint32(h[24:], media.SampleRate)
	le.PutUint32(h[28:], media.SampleRate*uint32(ch)*bytesPerSmp)
	le.PutUint16(h[32:], ch*bytesPerSmp)
	le.PutUint16(h[34:], 8*bytesPerSmp)
	copy(h[36:], "data")
	le.PutUint32(h[40:], dataLen)
}

// checkHeader reports whether h is our stereo header, ignoring the two size fields,
// which a crash leaves stale.
func checkHeader(h []byte) bool {
	var want [headerSize]byte
	putHeader(&want, 0, channels)
	if len(h) < headerSize {
		return false
	}
	return bytes.Equal(h[0:4], want[0:4]) && bytes.Equal(h[8:40], want[8:40])
}

// isHeaderPrefix reports whether h (shorter than a header) could be the start of
// ours: what a crash between creating a file and writing its header leaves.
func isHeaderPrefix(h []byte) bool {
	var want [headerSize]byte
	putHeader(&want, 0, channels)
	for i, b := range h {
		if (i >= 4 && i < 8) || i >= 40 {
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
	var data int64
	if n < headerSize {
		if !isHeaderPrefix(h[:n]) {
			return false, fmt.Errorf("%w: %s", ErrNotRecording, path)
		}
	} else {
		if !checkHeader(h[:]) {
			return false, fmt.Errorf("%w: %s", ErrNotRecording, path)
		}
		data = size - headerSize
		data -= data % frameBytes
		if data > maxData {
			data = maxData - maxData%frameBytes
		}
		le := binary.LittleEndian
		if size == headerSize+data && le.Uint32(h[40:]) == uint32(data) &&
			le.Uint32(h[4:]) == uint32(data)+headerSize-8 {
			return false, nil
		}
	}
	putHeader(&h, uint32(data), channels)
	if _, err := f.WriteAt(h[:], 0); err != nil {
		return false, err
	}
	if err := f.Truncate(headerSize + data); err != nil {
		return false, err
	}
	return true, f.Sync()
}

// Split streams a recording into two mono 8 kHz PCM16 WAVs, the caller (left) and
// the other party (right), e.g. for a player that shows each voice on its own or
// for speech analytics. The length comes from the file itself, not its header, so a
// recording still being written (its header up to a second stale) splits too; a
// trailing partial stereo sample is ignored. It returns the samples per channel.
func Split(src io.ReadSeeker, left, right io.Writer) (samples int64, err error) {
	end, err := src.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(src, h[:]); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotRecording, err)
	}
	if !checkHeader(h[:]) {
		return 0, ErrNotRecording
	}
	data := end - headerSize
	data -= data % blockAlign
	if data > maxData {
		data = maxData - maxData%blockAlign
	}
	samples = data / blockAlign
	var mono [headerSize]byte
	putHeader(&mono, uint32(samples*bytesPerSmp), 1)
	if _, err := left.Write(mono[:]); err != nil {
		return 0, err
	}
	if _, err := right.Write(mono[:]); err != nil {
		return 0, err
	}
	const chunk = 4096 // stereo bytes per read
	in := make([]byte, chunk)
	l := make([]byte, chunk/2)
	r := make([]byte, chunk/2)
	for rest := data; rest > 0; {
		n := int(min(rest, chunk))
		if _, err := io.ReadFull(src, in[:n]); err != nil {
			return 0, err
		}
		for i, j := 0, 0; i < n; i, j = i+blockAlign, j+bytesPerSmp {
			l[j], l[j+1] = in[i], in[i+1]
			r[j], r[j+1] = in[i+2], in[i+3]
		}
		if _, err := left.Write(l[:n/2]); err != nil {
			return 0, err
		}
		if _, err := right.Write(r[:n/2]); err != nil {
			return 0, err
		}
		rest -= int64(n)
	}
	return samples, nil
}
