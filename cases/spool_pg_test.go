package cases_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hotline-12345/hotline/cases"
	"github.com/hotline-12345/hotline/cases/storetest"
	"github.com/prometheus/client_golang/prometheus"
)

// The database goes away during calls and comes back: no call-flow write
// fails, none is lost, none is applied twice, and the order holds.
func TestSpoolWithRealPostgresStoppedAndStarted(t *testing.T) {
	ctx := context.Background()
	pg := storetest.StartPrivatePG(t)
	state := t.TempDir()
	reg := prometheus.NewRegistry()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts := cases.Options{StateDir: state, Node: 1, ReplayEvery: 50 * time.Millisecond, Registerer: reg, Logger: log}
	s, err := cases.OpenPostgres(ctx, pg.DSN(), opts)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := s.OpenForCall(ctx, cases.CallInfo{CallID: "c1", Caller: "13800000001", Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}

	// A writer keeps appending while the server stops and starts under it.
	const total = 300
	var written atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := range total {
			ev := cases.Event{ID: fmt.Sprintf("w-%03d", i), Type: cases.EventQueue, Value: int64(i)}
			if err := s.AppendEvents(ctx, c1.ID, []cases.Event{ev}); err != nil {
				done <- fmt.Errorf("write %d: %w", i, err)
				return
			}
			written.Add(1)
			time.Sleep(2 * time.Millisecond)
		}
		done <- nil
	}()
	for written.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	pg.Stop()
	stoppedAt := written.Load()

	// While it is down: the call flow goes on, the back office gets a clear error.
	c2, err := s.OpenForCall(ctx, cases.CallInfo{CallID: "c2", Caller: "13800000002", Dialled: "12369"})
	if err != nil {
		t.Fatalf("OpenForCall with the database down: %v", err)
	}
	if err := s.FinishCall(ctx, c2.ID, cases.CallEnd{CallID: "c2", Survey: cases.Satisfied}); err != nil {
		t.Fatal(err)
	}
	c3, err := s.OpenForCall(ctx, cases.CallInfo{CallID: "c3", Caller: "13800000003", Dialled: "12345"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, c1.ID); !errors.Is(err, cases.ErrUnavailable) {
		t.Errorf("Get with the database down: %v, want ErrUnavailable", err)
	}
	if _, err := s.Create(ctx, cases.NewCase{}, cases.SystemActor); !errors.Is(err, cases.ErrUnavailable) {
		t.Errorf("Create with the database down: %v, want ErrUnavailable", err)
	}
	for written.Load() < stoppedAt+50 {
		time.Sleep(time.Millisecond)
	}
	pg.Start()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if counter(t, reg, "hotline_cases_spooled_writes_total") == 0 {
		t.Error("nothing was spooled: the test did not exercise the spool")
	}
	if err := s.ReplaySpool(ctx); err != nil {
		t.Fatal(err)
	}
	if d := s.SpoolDepth(); d != 0 {
		t.Fatalf("spool depth %d after replay", d)
	}
	tl, err := s.Timeline(ctx, c1.ID)
	if err != nil {
		t.Fatal(err)
	}
	next := int64(0)
	for _, ev := range tl {
		if ev.Type != cases.EventQueue {
			continue
		}
		if ev.Value != next {
			t.Fatalf("queue event %d where %d was due: lost, duplicated or reordered", ev.Value, next)
		}
		next++
	}
	if next != total {
		t.Fatalf("%d of %d events arrived", next, total)
	}
	got2, err := s.Get(ctx, c2.ID)
	if err != nil || got2.InCall || got2.CallScore != cases.Satisfied {
		t.Errorf("the call that started and ended while the database was down: %+v %v", got2, err)
	}

	// Down again, with writes left in the spool when the server restarts:
	// the next start replays them before it looks for interrupted calls.
	pg.Stop()
	if err := s.FinishCall(ctx, c3.ID, cases.CallEnd{CallID: "c3"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	pg.Start()
	opts.Registerer = nil
	s, err = cases.OpenPostgres(ctx, pg.DSN(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got3, err := s.Get(ctx, c3.ID)
	if err != nil || got3.InCall || got3.State != cases.StateReceived {
		t.Errorf("a call finished while the database was down, then a restart: %+v %v", got3, err)
	}
	if counter(t, reg, "hotline_cases_rejected_writes_total") != 0 {
		t.Error("some writes were rejected")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}
