package cases

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

func BenchmarkDecideDispatch(b *testing.B) {
	b.ReportAllocs()
	r := testRules(time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC))
	c := Case{Number: "20261127-100001", State: StateReceived, Category: "0201", Urgency: UrgencyNormal}
	cmd := Command{Action: ActDispatch, Actor: reviewer, Dept: "sthjj", Assisting: []string{"cgj"}}
	for b.Loop() {
		if _, _, err := decide(c, cmd, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSpoolAppend(b *testing.B) {
	b.ReportAllocs()
	sp, err := openSpool(filepath.Join(b.TempDir(), "spool"), discard())
	if err != nil {
		b.Fatal(err)
	}
	defer sp.close()
	rec := spoolRecord{ID: "w", Op: opEvents, CaseID: "c", Events: []Event{{ID: "e", CaseID: "c", Type: EventCallAnswered, Value: 9000}}}
	for b.Loop() {
		if err := sp.append(rec); err != nil { // includes the fsync
			b.Fatal(err)
		}
	}
}

func benchSQLite(b *testing.B) *SQLStore {
	s, err := OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// The agent screen and the IVR ask this at every call.
func BenchmarkOpenCasesByCallerSQLite(b *testing.B) {
	b.ReportAllocs()
	s := benchSQLite(b)
	ctx := context.Background()
	g := NewGenerator(GenConfig{Year: 2026, Cases: 20000, Seed: 7}, s.Taxonomy(), s.Policy().Calendar)
	for {
		cs, evs := g.Next(5000)
		if cs == nil {
			break
		}
		if err := s.BulkLoad(ctx, cs, evs); err != nil {
			b.Fatal(err)
		}
	}
	i := 0
	for b.Loop() {
		i++
		if _, err := s.OpenCasesByCaller(ctx, fmt.Sprintf("139%08d", i%20000*4999%100000000)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenForCallSQLite(b *testing.B) {
	b.ReportAllocs()
	s := benchSQLite(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.OpenForCall(ctx, CallInfo{CallID: fmt.Sprint(i), Caller: "13800138000", Dialled: "12345"}); err != nil {
			b.Fatal(err)
		}
	}
}

// A call's event on its open case: the write a call in progress makes most.
func BenchmarkAppendEventSQLite(b *testing.B) {
	b.ReportAllocs()
	s := benchSQLite(b)
	ctx := context.Background()
	c, err := s.OpenForCall(ctx, CallInfo{CallID: "bench", Caller: "13800138000", Dialled: "12345"})
	if err != nil {
		b.Fatal(err)
	}
	ev := []Event{{Type: EventIVRPath, Actor: SystemActor.ID, Payload: []byte(`["welcome","menu"]`)}}
	for b.Loop() {
		if err := s.AppendEvents(ctx, c.ID, ev); err != nil {
			b.Fatal(err)
		}
	}
}
