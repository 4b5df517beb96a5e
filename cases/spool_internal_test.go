package cases

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSpoolTornTailAndReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spool")
	sp, err := openSpool(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := sp.append(spoolRecord{ID: string(rune('a' + i)), Op: opEvents, CaseID: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	sp.close()
	// A crash in the middle of the fourth append.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`0badc0de {"id":"d","op":"ev`)
	f.Close()
	sp, err = openSpool(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.depth() != 3 {
		t.Fatalf("depth %d after a torn append, want 3", sp.depth())
	}
	kept, _ := filepath.Glob(path + ".tail-*")
	if len(kept) != 1 {
		t.Fatalf("the torn tail was not kept aside: %v", kept)
	}
	recs, ends := sp.mustNext(t)
	if len(recs) != 3 || recs[2].ID != "c" {
		t.Fatalf("records: %+v", recs)
	}
	// Appends after a reopen land after the good records, not after the junk.
	if err := sp.append(spoolRecord{ID: "e", Op: opEvents, CaseID: "c"}); err != nil {
		t.Fatal(err)
	}
	for _, end := range ends {
		sp.advance(end)
	}
	recs, ends = sp.mustNext(t)
	if len(recs) != 1 || recs[0].ID != "e" {
		t.Fatalf("after advance: %+v", recs)
	}
	sp.advance(ends[0])
	if st, _ := os.Stat(path); st.Size() != 0 || sp.pending() {
		t.Errorf("a drained spool is %d bytes, pending %v", st.Size(), sp.pending())
	}
}

func (sp *spool) mustNext(t *testing.T) ([]spoolRecord, []int64) {
	t.Helper()
	recs, ends, err := sp.next()
	if err != nil {
		t.Fatal(err)
	}
	return recs, ends
}

func TestSpoolCorruptMiddleKeepsLaterRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spool")
	sp, _ := openSpool(path, discard())
	sp.append(spoolRecord{ID: "a", Op: opEvents, CaseID: "c"})
	sp.append(spoolRecord{ID: "b", Op: opEvents, CaseID: "c"})
	sp.close()
	b, _ := os.ReadFile(path)
	b[3] ^= 0x01 // flip a bit of the first checksum
	os.WriteFile(path, b, 0o600)
	sp, err := openSpool(path, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer sp.close()
	if sp.depth() != 0 {
		t.Errorf("depth %d", sp.depth())
	}
	kept, _ := filepath.Glob(path + ".tail-*")
	if len(kept) != 1 {
		t.Fatal("nothing kept aside")
	}
	k, _ := os.ReadFile(kept[0])
	if !strings.Contains(string(k), `"id":"b"`) {
		t.Error("the record after the corruption was lost")
	}
}

// Replaying a record twice (a crash between applying it and truncating the
// spool) must not duplicate anything.
func TestApplyRecordIdempotent(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := Case{ID: "case-1", Number: "20261127-000001", Channel: ChannelPhone, Urgency: UrgencyNormal, State: StateReceived,
		InCall: true, CreatedAt: now, UpdatedAt: now, Version: 1}
	recs := []spoolRecord{
		{Op: opOpen, Case: &c, Events: []Event{{ID: "e1", CaseID: c.ID, Type: EventCaseCreated, At: now}}},
		{Op: opEvents, CaseID: c.ID, Events: []Event{{ID: "e2", CaseID: c.ID, Type: EventCallOffered, At: now}}},
		{Op: opFinish, CaseID: c.ID, End: &CallEnd{Survey: Satisfied}, Events: []Event{{ID: "e3", CaseID: c.ID, Type: EventCallEnded, At: now}}},
	}
	for round := range 2 {
		for _, r := range recs {
			if err := s.applyRecord(ctx, r); err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	tl, _ := s.Timeline(ctx, c.ID)
	got, _ := s.Get(ctx, c.ID)
	if len(tl) != 3 || got.Version != 2 || got.InCall || got.CallScore != Satisfied {
		t.Errorf("after a double replay: %d events, %+v", len(tl), got)
	}
	// A record the database refuses for good goes to the rejected file.
	err = s.applyRecord(ctx, spoolRecord{Op: opEvents, CaseID: "nope", Events: []Event{{ID: "x", CaseID: "nope", Type: EventNote, At: now}}})
	if err == nil || s.d.unavailable(err) {
		t.Errorf("an event for an unknown case: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
