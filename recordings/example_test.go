package recordings_test

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hotline-12345/hotline/media"
	"github.com/hotline-12345/hotline/recordings"
)

// How the call layer records a bridged call: one recorder for the whole call,
// taps added and removed as legs come and go.
func Example() {
	store := &recordings.Store{Dir: "./hotline-data/recordings", Log: slog.Default(), Registerer: prometheus.NewRegistry()}
	// At start, before any call: make files left by a crash valid again.
	_, _ = recordings.Repair(store.Dir, slog.Default())

	var caller, agent media.Leg // from the trunk and the agent's phone
	rec, err := store.Start("c-20261127-000123", time.Now())
	if err != nil {
		return // the call goes on unrecorded; the failure is logged and counted
	}
	if caller != nil && agent != nil {
		defer caller.Tap(media.FromParty, rec.Left())()
		untap := agent.Tap(media.FromParty, rec.Right())
		rec.Pause() // the citizen reads out a card number
		rec.Resume()
		untap() // back to the queue; a second agent gets rec.Right() again
	}
	info, err := rec.Close()
	_, _ = info, err // info.Path goes into the case record

	// Nightly: keep recordings for 180 days.
	_, _ = store.Prune(180 * 24 * time.Hour)
}
