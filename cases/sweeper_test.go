package cases

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestSweeperNotifiesAndStops(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 1, 0, 0, 0, time.UTC)
	s, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "db"), Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Create(ctx, NewCase{Category: "0201", Urgency: UrgencyEmergency}, SystemActor)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(ctx, c.ID, Command{Action: ActDispatch, Actor: SystemActor, Dept: "cgj", Version: c.Version}); err != nil {
		t.Fatal(err)
	}
	got := make(chan []Notice, 1)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	w := &Sweeper{Store: s, Every: time.Hour, Now: func() time.Time { return now.Add(3 * time.Hour) },
		Notify: func(ns []Notice) { got <- ns }}
	go func() { done <- w.Run(rctx) }()
	ns := <-got // the first sweep runs at once
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v", err)
	}
	if len(ns) != 1 || ns[0].Kind != EventCaseOverdue || ns[0].Number != c.Number {
		t.Errorf("notices: %+v", ns)
	}
}
