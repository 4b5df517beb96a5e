package cases

import (
	"context"
	"log/slog"
	"time"
)

// Sweeper runs SweepDeadlines on a timer and hands what it did to Notify
// (e.g. to message the department or the supervisor's wallboard). One node
// is enough; several are harmless, since each reminder is written once under
// the version check.
type Sweeper struct {
	Store  Store
	Every  time.Duration // default 1 minute
	Logger *slog.Logger
	Notify func([]Notice)
	Now    func() time.Time // default time.Now
}

// Run sweeps until ctx ends.
func (w *Sweeper) Run(ctx context.Context) error {
	every, now, log := w.Every, w.Now, w.Logger
	if every <= 0 {
		every = time.Minute
	}
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ns, err := w.Store.SweepDeadlines(ctx, now())
		if err != nil && ctx.Err() == nil {
			log.Warn("deadline sweep failed; retrying at the next tick", "err", err)
		}
		if len(ns) > 0 {
			log.Info("deadline sweep", "notices", len(ns))
			if w.Notify != nil {
				w.Notify(ns)
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}
