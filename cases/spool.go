package cases

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// The spool is the write-ahead log of call-flow writes that could not reach
// the database. One record per line:
//
//	<crc32c of the JSON, 8 hex digits> <JSON>\n
//
// Each append is fsynced before the write is acknowledged, so an
// acknowledged write survives a crash. A torn last line (a crash during an
// append) fails its checksum and is cut off at open. Records carry unique IDs
// (the case's, every event's), and replaying applies them with "on conflict
// do nothing", so a record replayed twice, e.g. after a crash between
// applying it and truncating the spool, changes nothing.

const (
	opOpen   = "open"
	opEvents = "events"
	opFinish = "finish"
)

type spoolRecord struct {
	ID     string   `json:"id"` // this write's unique ID, for logs
	Op     string   `json:"op"`
	Case   *Case    `json:"case,omitempty"`
	CaseID string   `json:"case_id,omitempty"`
	Events []Event  `json:"events,omitempty"`
	End    *CallEnd `json:"end,omitempty"`
}

func (r *spoolRecord) caseID() string {
	if r.Case != nil {
		return r.Case.ID
	}
	return r.CaseID
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// maxSpoolLine bounds one record: a write of MaxEventsPerWrite events with
// full payloads fits.
const maxSpoolLine = 16 << 20

type spool struct {
	path string
	log  *slog.Logger

	mu   sync.Mutex
	f    *os.File
	size int64 // bytes in the file
	done int64 // bytes already replayed
	n    int   // records not yet replayed
	wake chan struct{}
}

func openSpool(path string, log *slog.Logger) (*spool, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cases: spool: %w", err)
	}
	sp := &spool{path: path, log: log, f: f, wake: make(chan struct{}, 1)}
	recs, _, good := sp.read(0)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if good < st.Size() {
		// Usually a torn last append. Keep the bytes aside anyway: if it is
		// corruption in the middle, the records after it are still there.
		keep := fmt.Sprintf("%s.tail-%d", path, time.Now().UnixNano())
		if err := copyTail(f, good, keep); err != nil {
			f.Close()
			return nil, fmt.Errorf("cases: spool: keeping the bad tail: %w", err)
		}
		log.Warn("spool: a torn or corrupt tail was cut and kept aside", "path", path, "bytes", st.Size()-good, "kept", keep)
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("cases: spool: %w", err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("cases: spool: %w", err)
		}
	}
	sp.size, sp.n = good, len(recs)
	return sp, nil
}

func frame(rec spoolRecord) ([]byte, error) {
	j, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	if len(j)+10 > maxSpoolLine {
		return nil, fmt.Errorf("record of %d bytes is too large", len(j))
	}
	b := make([]byte, 0, len(j)+10)
	b = fmt.Appendf(b, "%08x ", crc32.Checksum(j, castagnoli))
	b = append(b, j...)
	return append(b, '\n'), nil
}

// read parses records from offset to the first bad frame; good is the offset
// after the last good one.
func (sp *spool) read(from int64) (recs []spoolRecord, ends []int64, good int64) {
	r := bufio.NewReaderSize(io.NewSectionReader(sp.f, from, 1<<62), 64<<10)
	good = from
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			var big []byte
			big = append(big, line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(big) < maxSpoolLine {
				line, err = r.ReadSlice('\n')
				big = append(big, line...)
			}
			line = big
		}
		if err != nil {
			return recs, ends, good // EOF; a partial line without '\n' is torn
		}
		rec, ok := parseFrame(line)
		if !ok {
			return recs, ends, good
		}
		recs = append(recs, rec)
		good += int64(len(line))
		ends = append(ends, good)
	}
}

func parseFrame(line []byte) (spoolRecord, bool) {
	var rec spoolRecord
	if len(line) < 11 || line[8] != ' ' || line[len(line)-1] != '\n' {
		return rec, false
	}
	var sum uint32
	if _, err := fmt.Sscanf(string(line[:8]), "%08x", &sum); err != nil {
		return rec, false
	}
	j := line[9 : len(line)-1]
	if crc32.Checksum(j, castagnoli) != sum {
		return rec, false
	}
	if err := json.Unmarshal(bytes.Clone(j), &rec); err != nil {
		return rec, false
	}
	return rec, true
}

func (sp *spool) append(rec spoolRecord) error {
	b, err := frame(rec)
	if err != nil {
		return err
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.f == nil {
		return errors.New("spool closed")
	}
	if _, err := sp.f.WriteAt(b, sp.size); err != nil {
		return err
	}
	if err := sp.f.Sync(); err != nil {
		// The bytes may be half there: cut them so the next append starts clean.
		_ = sp.f.Truncate(sp.size)
		return err
	}
	sp.size += int64(len(b))
	sp.n++
	return nil
}

func (sp *spool) pending() bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.n > 0
}

func (sp *spool) depth() int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.n
}

func (sp *spool) kick() {
	select {
	case sp.wake <- struct{}{}:
	default:
	}
}

// next returns the records appended since the last replay step.
func (sp *spool) next() ([]spoolRecord, []int64, error) {
	sp.mu.Lock()
	from, to := sp.done, sp.size
	sp.mu.Unlock()
	if from >= to {
		return nil, nil, nil
	}
	recs, ends, _ := sp.read(from)
	return recs, ends, nil
}

// advance marks bytes up to end as replayed; when everything is, the file is
// emptied.
func (sp *spool) advance(end int64) error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.done = end
	sp.n--
	if sp.done < sp.size {
		return nil
	}
	if err := sp.f.Truncate(0); err != nil {
		return err
	}
	if err := sp.f.Sync(); err != nil {
		return err
	}
	sp.size, sp.done, sp.n = 0, 0, 0
	return nil
}

func (sp *spool) close() error {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.f == nil {
		return nil
	}
	err := sp.f.Close()
	sp.f = nil
	return err
}

// reject keeps a record that the database refuses for good (not for being
// away), so that it is neither lost nor retried forever.
func (s *SQLStore) reject(rec spoolRecord, cause error) {
	s.m.rejected.Inc()
	s.log.Error("spooled case write refused by the database; kept in the rejected file",
		"case_id", rec.caseID(), "write_id", rec.ID, "err", cause)
	b, err := frame(rec)
	if err == nil {
		var f *os.File
		f, err = os.OpenFile(s.spool.path+".rejected", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			_, err = f.Write(b)
			if err == nil {
				err = f.Sync()
			}
			f.Close()
		}
	}
	if err != nil {
		s.log.Error("cannot keep a rejected case write", "case_id", rec.caseID(), "err", err)
	}
}

// ReplaySpool applies spooled writes now; it returns when the spool is empty
// or the database is still away. The store also replays on its own.
func (s *SQLStore) ReplaySpool(ctx context.Context) error {
	if s.spool == nil {
		return nil
	}
	return s.replay(ctx)
}

// SpoolDepth is the number of writes waiting in the spool.
func (s *SQLStore) SpoolDepth() int {
	if s.spool == nil {
		return 0
	}
	return s.spool.depth()
}

func (s *SQLStore) replay(ctx context.Context) error {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	for {
		recs, ends, err := s.spool.next()
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			s.m.spoolDepth.Set(0)
			return nil
		}
		for i, rec := range recs {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := s.applyRecord(actx, rec)
			cancel()
			if err != nil && (s.d.unavailable(err) || ctx.Err() != nil) {
				return fmt.Errorf("%w: %v", ErrUnavailable, err)
			}
			if err != nil {
				s.reject(rec, err)
			} else {
				s.m.replayed.Inc()
			}
			if err := s.spool.advance(ends[i]); err != nil {
				return err
			}
			s.m.spoolDepth.Set(float64(s.spool.depth()))
		}
		s.log.Info("spooled case writes replayed", "writes", len(recs))
	}
}

func (s *SQLStore) replayLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.ReplayEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.spool.wake:
		}
		if !s.spool.pending() {
			continue
		}
		if err := s.replay(ctx); err != nil {
			s.log.Debug("spool replay deferred", "err", err)
			continue
		}
		// Calls closed while the database was away may have left cases
		// in_call only if their FinishCall was never written (a crash); that
		// is handled at the next start, not here.
	}
}

func copyTail(f *os.File, from int64, to string) error {
	out, err := os.OpenFile(to, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, from, 1<<62))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
