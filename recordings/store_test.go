package recordings

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/media"
)

// crashed records d of a caller tone without closing, then "kills" the process:
// the file is closed behind the recorder's back with whatever was written.
func crashed(t *testing.T, dir string, id string, d time.Duration) string {
	t.Helper()
	clk := newFakeClock()
	s := &Store{Dir: dir, Now: clk.Now, manual: true, FlushInterval: time.Hour}
	r, err := s.Start(id, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, d)
	run(r, clk, d, nil, nil, f)
	r.pump(clk.Now().Add(commitLag*media.FrameDuration), false) // write, not flush, the tail
	if err := r.file.Close(); err != nil {
		t.Fatal(err)
	}
	r.release()
	return r.Path()
}

func header(t *testing.T, path string) (riff, data uint32, size int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < headerSize {
		t.Fatalf("%s is %d bytes", path, len(b))
	}
	return binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[54:]), int64(len(b))
}

func TestRepair(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	stale := crashed(t, s.Dir, "stale", 2*time.Second)
	partial := crashed(t, s.Dir, "partial", 1500*time.Millisecond)
	// A crash mid-write leaves part of a frame.
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(bytes.Repeat([]byte{0x55}, 301)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	day := filepath.Dir(stale)
	empty := filepath.Join(day, "empty.wav") // crashed between create and header
	if err := os.WriteFile(empty, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	var h [headerSize]byte
	putHeader(&h, 0)
	cut := filepath.Join(day, "cut.wav") // crashed mid-header
	if err := os.WriteFile(cut, h[:20], 0o640); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(day, "foreign.wav")
	if err := os.WriteFile(foreign, media.EncodeWAV(make([]int16, 800)), 0o640); err != nil {
		t.Fatal(err)
	}
	foreignBefore, _ := os.ReadFile(foreign)
	// A PCM16 recording of an older hotline, crashed: 1 s of a 1 kHz caller, stale
	// sizes, half a frame at the end.
	var ph [pcmHeaderSize]byte
	putPCMHeader(&ph, 0, channels)
	legacyData := make([]byte, 0, 32000+100)
	tone := media.NewToneSource(0.5, 1000)
	var g [media.FrameSamples]byte
	var pcm [media.FrameSamples]int16
	for range 50 {
		tone.ReadFrame(media.PCMU, g[:])
		media.DecodeFrame(media.PCMU, pcm[:], g[:])
		for _, v := range pcm {
			legacyData = append(legacyData, byte(v), byte(uint16(v)>>8), 0, 0)
		}
	}
	legacy := filepath.Join(day, "legacy.wav")
	if err := os.WriteFile(legacy, append(append(ph[:], legacyData...), make([]byte, 100)...), 0o640); err != nil {
		t.Fatal(err)
	}
	good, err := s.Start("good", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.Close(); err != nil {
		t.Fatal(err)
	}

	if _, data, _ := header(t, stale); data != 0 {
		t.Fatalf("test setup: the crashed header already says %d bytes", data)
	}
	n, err := Repair(s.Dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Fatalf("repaired %d, want 5 (stale, partial, empty, cut, legacy)", n)
	}
	if b, _ := os.ReadFile(legacy); len(b) != pcmHeaderSize+32000 || binary.LittleEndian.Uint32(b[40:]) != 32000 ||
		binary.LittleEndian.Uint32(b[4:]) != 32000+pcmHeaderSize-8 {
		t.Errorf("legacy recording after repair: %d bytes, header % x", len(b), b[:pcmHeaderSize])
	}
	if ll, lr := readChannels(t, legacy); len(ll) != 8000 || media.ToneLevel(ll[media.FrameSamples:], 1000) < -8 || media.ToneLevel(lr, 1000) > -40 {
		t.Errorf("legacy recording split: %d samples, left 1 kHz %.1f dBFS, right %.1f dBFS", len(ll),
			media.ToneLevel(ll[media.FrameSamples:], 1000), media.ToneLevel(lr, 1000))
	}
	for _, c := range []struct {
		path string
		want int64 // data bytes
	}{
		{stale, 2 * byteRate}, {partial, 1500 * byteRate / 1000}, {empty, 0}, {cut, 0},
	} {
		riff, data, size := header(t, c.path)
		if int64(data) != c.want || size != headerSize+c.want || riff != data+headerSize-8 {
			t.Errorf("%s: riff %d, data %d, size %d; want data %d", filepath.Base(c.path), riff, data, size, c.want)
		}
	}
	l, _ := readChannels(t, partial)
	if lvl := media.ToneLevel(l[media.FrameSamples:], 1000); lvl < -8 {
		t.Errorf("repaired audio: 1 kHz at %.1f dBFS", lvl)
	}
	if after, _ := os.ReadFile(foreign); !bytes.Equal(after, foreignBefore) {
		t.Error("Repair changed a file that is not a recording")
	}
	if n, err := Repair(s.Dir, nil); n != 0 || err != nil {
		t.Errorf("second Repair: %d, %v; want nothing to do", n, err)
	}
	if n, err := Repair(filepath.Join(s.Dir, "nothing-yet"), nil); n != 0 || err != nil {
		t.Errorf("Repair of a missing folder: %d, %v", n, err)
	}
}

func TestPrune(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	old := clk.Now().AddDate(-1, 0, 0)
	r1, _ := s.Start("old", old)
	r1.Close()
	r2, _ := s.Start("new", clk.Now())
	r2.Close()
	live, _ := s.Start("live", old)
	defer live.Close()
	for _, p := range []string{r1.Path(), live.Path()} {
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(0); err == nil {
		t.Fatal("Prune(0) accepted")
	}
	n, err := s.Prune(90 * 24 * time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v; want 1 removed", n, err)
	}
	if _, err := os.Stat(r1.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("old recording kept")
	}
	for _, p := range []string{r2.Path(), live.Path()} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
	live.Close()
	if err := os.Chtimes(live.Path(), old, old); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Prune(90 * 24 * time.Hour); err != nil || n != 1 {
		t.Fatalf("second Prune: %d, %v", n, err)
	}
	if _, err := os.Stat(filepath.Join(s.Dir, old.Format("2006"))); !errors.Is(err, os.ErrNotExist) {
		t.Error("emptied year folder kept")
	}
	if _, err := os.Stat(r2.Path()); err != nil {
		t.Error("new recording removed")
	}
}

func TestOpenServesRanges(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	r, err := s.Start("play", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, time.Second)
	run(r, clk, time.Second, nil, nil, f)
	info, err := r.Close()
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(s.Dir, info.Path)
	for _, p := range []string{info.Path, rel} {
		file, err := s.Open(p)
		if err != nil {
			t.Fatalf("Open(%q): %v", p, err)
		}
		file.Close()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		file, err := s.Open(req.URL.Query().Get("p"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		defer file.Close()
		http.ServeContent(w, req, "x.wav", time.Time{}, file)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"?p="+rel, nil)
	req.Header.Set("Range", "bytes=44-1067")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	whole, _ := os.ReadFile(info.Path)
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(body, whole[44:1068]) {
		t.Fatalf("range request: status %d, %d bytes", resp.StatusCode, len(body))
	}

	outside := filepath.Join(t.TempDir(), "secret.wav")
	os.WriteFile(outside, []byte("secret"), 0o600)
	link := filepath.Join(s.Dir, "link.wav")
	if err := os.Symlink(outside, link); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../x.wav", "/etc/passwd", outside, link, "link.wav", "2026/../../x.wav", rel[:len(rel)-4]} {
		if file, err := s.Open(p); err == nil {
			file.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestSplitRejectsForeign(t *testing.T) {
	var l, r bytes.Buffer
	if _, err := Split(bytes.NewReader(media.EncodeWAV(make([]int16, 160))), &l, &r); !errors.Is(err, ErrNotRecording) {
		t.Fatalf("mono WAV: %v, want ErrNotRecording", err)
	}
	if _, err := Split(bytes.NewReader([]byte("RIFF")), &l, &r); !errors.Is(err, ErrNotRecording) {
		t.Fatalf("short file: %v, want ErrNotRecording", err)
	}
}

// countingFile counts fsyncs.
type countingFile struct {
	discardFile
	syncs int
}

func (f *countingFile) Sync() error { f.syncs++; return nil }

// TestSharedSync: with syncfs, recorders do not fsync per flush;
// when syncfs fails, every recorder falls back to its own fsync.
func TestSharedSync(t *testing.T) {
	clk := newFakeClock()
	s, _ := testStore(t, clk)
	h := &countHandler{}
	s.Log = slog.New(h)
	var fail bool
	syncs := 0
	s.syncfs = func(int) error {
		syncs++
		if fail {
			return syscall.EIO
		}
		return nil
	}
	file := &countingFile{}
	s.Create = func(string) (File, error) { return file, nil }
	r, err := s.Start("shared", clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	f := newFeeder(r.Left(), media.PCMU, 0, 1000, 0, 2*time.Second)
	run(r, clk, 2*time.Second, nil, nil, f)
	if !s.syncOnce() || syncs != 1 {
		t.Fatalf("syncfs ran %d times", syncs)
	}
	if file.syncs != 0 {
		t.Fatalf("%d per-file fsyncs in shared mode, want 0", file.syncs)
	}
	fail = true
	if s.syncOnce() {
		t.Fatal("a failing syncfs reported success")
	}
	for range 10 { // 2 s more
		clk.Advance(pumpEvery)
		r.pump(clk.Now(), false)
	}
	if file.syncs < 3 {
		t.Fatalf("%d per-file fsyncs after syncfs failed, want one a flush", file.syncs)
	}
	before := file.syncs
	if _, err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if file.syncs != before+1 {
		t.Errorf("Close did not fsync")
	}
	if h.errors.Load() != 1 {
		t.Errorf("%d error logs, want 1", h.errors.Load())
	}
}

// TestCloseLeavesSyncToStore: in the shared mode a closing recording does not fsync
// on the caller's goroutine; the store's writer runs a syncfs after the last one.
func TestCloseLeavesSyncToStore(t *testing.T) {
	var syncs atomic.Int32
	files := make(chan *countingFile, 2)
	s := &Store{Dir: t.TempDir(), FlushInterval: time.Hour}
	s.syncfs = func(int) error { syncs.Add(1); return nil }
	s.Create = func(string) (File, error) {
		f := &countingFile{}
		files <- f
		return f, nil
	}
	a, err := s.Start("a", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Start("b", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 0 {
		t.Fatalf("%d syncfs while a recording is still open and no flush is due", n)
	}
	if _, err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d syncfs after the last recording closed, want 1", n)
	}
	close(files)
	for f := range files {
		if f.syncs != 0 {
			t.Errorf("a recording fsynced its own file %d times", f.syncs)
		}
	}
}
