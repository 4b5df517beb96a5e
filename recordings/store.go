package recordings

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hotline-12345/hotline/media"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for the zero Store fields.
const (
	// DefaultFlushInterval is one pump: each round of the writer ends with the
	// shared sync, so what a power loss can lose (the 120 ms commit lag, one 750 ms
	// pump and the sync itself) stays under about a second.
	DefaultFlushInterval = pumpEvery
	// DefaultRingFrames is 2.56 s of both channels: room for a slow fsync.
	DefaultRingFrames = 256
	maxCallIDLen      = 128
)

// ErrBadCallID is wrapped when a call id cannot be a file name.
var ErrBadCallID = errors.New("recordings: unsafe call id")

// Store files recordings under Dir as Dir/YYYY/MM/DD/<callID>.wav, the date being
// the call's start in the location of the time given to Start. The zero values of
// the optional fields are the defaults.
type Store struct {
	Dir        string
	Log        *slog.Logger
	Registerer prometheus.Registerer // nil: metrics are kept but not exported

	// Now is the clock for alignment and retention; time.Now when nil.
	Now func() time.Time
	// Create opens a new recording file; nil creates it exclusively with mode 0640,
	// through Disk when set.
	// Tests inject a failing writer here.
	Create func(path string) (File, error)
	// Disk, when set (and Create is nil), creates and writes the files and runs the
	// shared sync in another process (hotline's Helper, see there why). If that
	// process ends, the store logs it once and does its disk work in this process
	// from then on (recordings it had open fail).
	Disk Disk
	// FlushInterval bounds how much a crash loses; DefaultFlushInterval when zero.
	FlushInterval time.Duration
	// RingFrames is the frames (both channels together) that may wait for the
	// writer before frames are dropped; DefaultRingFrames when zero.
	RingFrames int

	once   sync.Once
	m      *metrics
	mu     sync.Mutex
	active map[string]struct{}
	manual bool // tests: no writer goroutine, the test pumps

	// The writer (see Writing in the package doc): one goroutine while any
	// recording is open pumps every recorder and runs the shared syncfs.
	syncEach atomic.Bool
	syncfs   func(fd int) error // nil where the system has none
	recs     []*Recorder        // open recordings the writer pumps
	// diskGone: Disk's process ended.
	diskGone atomic.Bool
	wStop    chan struct{}
	wDone    chan struct{}
}

type metrics struct {
	started, failed, dropped, bytes prometheus.Counter
}

func (s *Store) init() {
	s.once.Do(func() {
		if s.Log == nil {
			s.Log = slog.New(slog.DiscardHandler)
		}
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Create == nil {
			s.Create = s.create
			if s.syncfs == nil && haveSyncfs {
				s.syncfs = syncfs
			}
		}
		s.syncEach.Store(s.syncfs == nil)
		if s.FlushInterval <= 0 {
			s.FlushInterval = DefaultFlushInterval
		}
		if s.RingFrames <= 0 {
			s.RingFrames = DefaultRingFrames
		}
		s.active = make(map[string]struct{})
		s.m = &metrics{
			started: s.counter("recordings_started_total", "Recordings started."),
			failed:  s.counter("recordings_failed_total", "Recordings that could not start or stopped on a write error (the call went on)."),
			dropped: s.counter("recording_frames_dropped_total", "20 ms frames lost to a writer that fell behind, a late arrival or a failed recording."),
			bytes:   s.counter("recording_bytes_written_total", "Audio bytes written to recordings."),
		}
	})
}

// counter registers a counter, sharing one already registered under the name so
// that two stores (or a restart of one) on one registry count together.
func (s *Store) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	if s.Registerer == nil {
		return c
	}
	if err := s.Registerer.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if ec, ok := are.ExistingCollector.(prometheus.Counter); ok {
				return ec
			}
		}
		s.Log.Error("recordings: cannot register metric", "metric", name, "err", err)
	}
	return c
}

// ValidCallID reports whether id can name a file: 1 to 128 of [A-Za-z0-9._-], not
// starting with a dot or a dash (hidden files, "..", options to shell tools). The
// call layer passes its own generated id, never caller-controlled text such as a
// number or a SIP Call-ID, which this rule does not make safe to expose.
func ValidCallID(id string) error {
	if id == "" || len(id) > maxCallIDLen {
		return fmt.Errorf("%w: length %d, want 1 to %d", ErrBadCallID, len(id), maxCallIDLen)
	}
	if id[0] == '.' || id[0] == '-' {
		return fmt.Errorf("%w: %q starts with %q", ErrBadCallID, id, id[0])
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has byte %#x at %d", ErrBadCallID, id, c, i)
		}
	}
	return nil
}

// Start creates the call's recording and starts its writer. The recording's
// timeline starts now. It creates a folder and a file, so call it from the call's
// goroutine, never from the media clock. An error (an unsafe id, a file that
// exists, a full disk) is logged and counted as a failed recording; the call
// should go on without one.
func (s *Store) Start(callID string, started time.Time) (*Recorder, error) {
	s.init()
	dir := filepath.Join(s.Dir, started.Format("2006"), started.Format("01"), started.Format("02"))
	path := filepath.Join(dir, callID+wavSuffix)
	err := ValidCallID(callID)
	var r *Recorder
	if err == nil {
		r, err = s.start(callID, dir, path)
	} else {
		path = "" // not a path: it would carry the unsafe id
	}
	if err != nil {
		s.m.failed.Inc()
		s.Log.Error("recordings: cannot start recording", "call_id", callID, "path", path, "err", err)
		return nil, err
	}
	s.m.started.Inc()
	return r, nil
}

func (s *Store) start(callID, dir, path string) (*Recorder, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := s.Create(path)
	if err != nil {
		return nil, err
	}
	r := &Recorder{
		path:       path,
		log:        s.Log.With("call_id", callID, "path", path),
		m:          s.m,
		now:        s.Now,
		file:       f,
		flushEvery: s.FlushInterval,
		maxSlot:    -1,
		syncEach:   &s.syncEach,
		staging:    make([]byte, stagingSlots*frameBytes),
		streams:    make([]stream, 0, maxStreams),
	}
	r.q.init(s.RingFrames)
	media.FillSilence(media.PCMA, r.staging)
	putHeader(&r.hdr, 0)
	if _, err := f.Write(r.hdr[:]); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return nil, err
	}
	r.t0 = s.Now()
	r.lastFlush, r.lastHdr = r.t0, r.t0
	s.mu.Lock()
	s.active[path] = struct{}{}
	s.mu.Unlock()
	r.release = func() {
		s.mu.Lock()
		delete(s.active, path)
		s.mu.Unlock()
		if !s.manual {
			s.detach(r)
		}
	}
	if !s.manual {
		s.attach(r)
	}
	return r, nil
}

// attach hands a recorder to the writer, starting the writer for the first.
func (s *Store) attach(r *Recorder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	if len(s.recs) == 1 {
		s.wStop, s.wDone = make(chan struct{}), make(chan struct{})
		go s.writer(s.wStop, s.wDone)
	}
}

// detach takes a closed recorder from the writer and stops the writer when it was
// the last, so an idle store holds no goroutine and needs no Close.
func (s *Store) detach(r *Recorder) {
	s.mu.Lock()
	if i := slices.Index(s.recs, r); i >= 0 {
		last := len(s.recs) - 1
		s.recs[i] = s.recs[last]
		s.recs[last] = nil
		s.recs = s.recs[:last]
	}
	var stop, done chan struct{}
	if len(s.recs) == 0 {
		stop, done = s.wStop, s.wDone
		s.wStop, s.wDone = nil, nil
	}
	s.mu.Unlock()
	if stop != nil {
		close(stop)
		<-done
	}
}

// writerSlice and writerBreak pace the writer's round: at most writerSlice of work,
// then a pause in which the processor polls the network and runs the media clock.
const (
	writerSlice = 250 * time.Microsecond
	writerBreak = time.Millisecond
)

// writer pumps every open recording each pumpEvery, one after the other in slices,
// then runs the shared syncfs when a flush is due. One goroutine and one timer for
// all recordings: the file writes come in one burst per round instead of spread
// over it, which on a media server with one processor saves the thread handoffs
// that writes spread over time cost (see Writing in the package doc).
func (s *Store) writer(stop, done chan struct{}) {
	defer close(done)
	every := min(pumpEvery, s.FlushInterval)
	t := time.NewTicker(every)
	defer t.Stop()
	// The shared sync runs every syncRounds rounds: counted, not timed, so that a round
	// that ends a little earlier than the one before does not skip its sync.
	syncRounds := max(1, int((s.FlushInterval+every-1)/every))
	round := 0
	var batch []*Recorder // recs for one round
	for {
		select {
		case <-stop:
			// The last recording has closed: make its last writes durable.
			if s.sharedSync() {
				s.syncOnce()
			}
			return
		case <-t.C:
		}
		s.mu.Lock()
		batch = append(batch[:0], s.recs...)
		s.mu.Unlock()
		slice := time.Now()
		for i, r := range batch {
			r.pumpShared(s.Now())
			batch[i] = nil
			// A round over a thousand recordings is tens of milliseconds of work:
			// step aside every writerSlice. Not runtime.Gosched: that requeues the
			// writer ahead of the network poller, and the media clock and the relays
			// (woken through it) would wait for the whole round.
			if time.Since(slice) >= writerSlice {
				time.Sleep(writerBreak)
				slice = time.Now()
			}
		}
		if round++; round%syncRounds == 0 && s.sharedSync() {
			s.syncOnce()
		}
	}
}

// sharedSync reports whether the writer's syncfs makes the recordings durable (rather
// than each recorder's own fsync).
func (s *Store) sharedSync() bool { return s.syncfs != nil && !s.syncEach.Load() }

// syncOnce runs one syncfs of Dir's filesystem. On failure it switches every
// recorder to its own fsync, which tells which recordings the failing disk hurts,
// and reports false.
func (s *Store) syncOnce() bool {
	err := s.syncDir()
	if err == nil {
		return true
	}
	s.syncEach.Store(true)
	s.Log.Error("recordings: syncfs failed; each recording now syncs its own file", "dir", s.Dir, "err", err)
	return false
}

// create is the default Create: through Disk while its process runs.
func (s *Store) create(path string) (File, error) {
	if s.Disk != nil && !s.diskGone.Load() {
		f, err := s.Disk.Create(path)
		if !s.lostDisk(err) {
			return f, err
		}
	}
	return os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
}

// lostDisk reports whether err says Disk's process has ended, logging that once.
func (s *Store) lostDisk(err error) bool {
	if !errors.Is(err, ErrHelperGone) {
		return false
	}
	if s.diskGone.CompareAndSwap(false, true) {
		s.Log.Error("recordings: disk helper gone; writing and syncing in this process", "err", err)
	}
	return true
}

func (s *Store) syncDir() error {
	if s.Disk != nil && !s.diskGone.Load() {
		if err := s.Disk.Sync(); !s.lostDisk(err) {
			return err
		}
	}
	d, err := os.Open(s.Dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return s.syncfs(int(d.Fd()))
}

// Prune removes recordings last written more than olderThan ago, and the day,
// month and year folders it empties. Recordings being written are never removed.
func (s *Store) Prune(olderThan time.Duration) (removed int, err error) {
	s.init()
	if olderThan <= 0 {
		// A retention of zero is a configuration mistake, not "delete everything".
		return 0, fmt.Errorf("recordings: retention %v must be positive", olderThan)
	}
	cutoff := s.Now().Add(-olderThan)
	var errs, dirs []string
	var errList []error
	walkErr := filepath.WalkDir(s.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == s.Dir {
				return fs.SkipAll
			}
			errList = append(errList, err)
			return nil
		}
		if d.IsDir() {
			if path != s.Dir {
				dirs = append(dirs, path)
			}
			return nil
		}
		if !d.Type().IsRegular() || !strings.HasSuffix(d.Name(), wavSuffix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			errList = append(errList, err)
			return nil
		}
		if !fi.ModTime().Before(cutoff) {
			return nil
		}
		s.mu.Lock()
		_, busy := s.active[path]
		s.mu.Unlock()
		if busy {
			return nil
		}
		if err := os.Remove(path); err != nil {
			errList = append(errList, err)
			errs = append(errs, path)
			return nil
		}
		removed++
		return nil
	})
	if walkErr != nil {
		errList = append(errList, walkErr)
	}
	// Deepest first; a folder that still holds something stays.
	slices.Reverse(dirs)
	for _, d := range dirs {
		_ = os.Remove(d)
	}
	if len(errs) > 0 {
		s.Log.Error("recordings: prune could not remove some recordings", "count", len(errs), "first", errs[0])
	}
	return removed, errors.Join(errList...)
}

// Open opens a recording for reading back, e.g. with http.ServeContent, which
// serves range requests through the returned file's Seek. path is what Info.Path
// or Recorder.Path gave, or the same relative to Dir; anything that resolves
// outside Dir (.., symlinks) or is not a .wav is refused. The caller closes the
// file. A recording still being written can be opened; its header may be up to a
// flush interval behind its length.
func (s *Store) Open(path string) (*os.File, error) {
	s.init()
	rel := path
	if r, err := filepath.Rel(s.Dir, path); err == nil && filepath.IsLocal(r) {
		rel = r // a path as the recorder gave it
	} else if filepath.IsAbs(path) {
		return nil, fmt.Errorf("recordings: %q is outside %q", path, s.Dir)
	}
	if !strings.HasSuffix(rel, wavSuffix) {
		return nil, fmt.Errorf("recordings: %q is not a recording", path)
	}
	root, err := os.OpenRoot(s.Dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.Open(filepath.ToSlash(rel))
}
