package call

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// caseWriter keeps one call's work order: it opens the case at the first ring and appends
// the call's events in order, on its own goroutine, so that the call never waits for the
// database (the store itself spools writes while the database is away).
type caseWriter struct {
	store  cases.Store
	log    *slog.Logger
	events chan cases.Event
	done   chan struct{}

	mu     sync.Mutex
	id     string
	number string
}

// caseEvents bounds how many events of one call wait for the store; past it, events are
// dropped and logged rather than holding up the call.
const caseEvents = 32

func openCase(store cases.Store, ci cases.CallInfo, log *slog.Logger) *caseWriter {
	w := &caseWriter{store: store, log: log, events: make(chan cases.Event, caseEvents), done: make(chan struct{})}
	go w.run(ci)
	return w
}

func (w *caseWriter) run(ci cases.CallInfo) {
	defer close(w.done)
	ctx := context.Background()
	cs, err := w.store.OpenForCall(ctx, ci)
	if err != nil {
		w.log.Error("call: no work order for this call", "error", err)
		for range w.events { // keep the call's sends from blocking
		}
		return
	}
	w.mu.Lock()
	w.id, w.number = cs.ID, cs.Number
	w.mu.Unlock()
	for ev := range w.events {
		if ev.Type == cases.EventCallEnded {
			var end cases.CallEnd
			_ = json.Unmarshal(ev.Payload, &end)
			if err := w.store.FinishCall(ctx, cs.ID, end); err != nil {
				w.log.Error("call: finishing the work order", "case_id", cs.ID, "error", err)
			}
			continue
		}
		if err := w.store.AppendEvents(ctx, cs.ID, []cases.Event{ev}); err != nil {
			w.log.Error("call: case event lost", "case_id", cs.ID, "type", ev.Type, "error", err)
		}
	}
}

// Number is the case number, "" until the case is open.
func (w *caseWriter) Number() string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.number
}

func (w *caseWriter) add(typ cases.EventType, value int64, payload any) {
	if w == nil {
		return
	}
	ev := cases.Event{Type: typ, At: time.Now(), Value: value, Actor: cases.SystemActor.ID}
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			w.log.Error("call: case event payload", "type", typ, "error", err)
			return
		}
		ev.Payload = b
	}
	select {
	case w.events <- ev:
	default:
		w.log.Error("call: case events backlog full; event dropped", "type", typ)
	}
}

// finish closes the call part of the case and waits (bounded) for the writes to land.
func (w *caseWriter) finish(end cases.CallEnd) {
	if w == nil {
		return
	}
	b, _ := json.Marshal(end)
	select {
	case w.events <- cases.Event{Type: cases.EventCallEnded, Payload: b}:
	default:
		w.log.Error("call: case events backlog full; call end not written")
	}
	close(w.events)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		w.log.Error("call: work order writes still pending after 10 s")
	}
}

// satisfaction maps a survey rating (1 = best, up to scale) onto the case's three levels.
func satisfaction(score, scale int) cases.Satisfaction {
	if score < 1 || scale < 2 || score > scale {
		return cases.Unscored
	}
	// 1 → Satisfied (3) … scale → Unsatisfied (1)
	return cases.Satisfaction(3 - ((score-1)*2+(scale-1)/2)/(scale-1))
}
