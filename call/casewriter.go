package call

import (
	"context"
	"encoding/json"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/hotline-12345/hotline/cases"
)

// caseWriters keep every call's work order off the calls' goroutines: a call's case is
// opened at the first ring and its events appended in order by one of a few workers (a
// call always goes to the same one), so a call never waits for the database (the store
// itself spools writes while the database is away), and a thousand calls cost a handful
// of goroutines, not a thousand.
type caseWriters struct {
	store cases.Store
	log   *slog.Logger
	jobs  []chan caseJob
	wg    sync.WaitGroup
	// mu orders sends against close: a call still ending after shutdown loses its last
	// writes (logged) instead of panicking on a closed channel.
	mu     sync.RWMutex
	closed bool
}

type caseJob struct {
	w   *caseWriter
	ci  *cases.CallInfo // open
	ev  *cases.Event    // append
	end *cases.CallEnd  // finish
}

// caseWorkers and caseBacklog size the pool; past the backlog, events are dropped and
// logged rather than holding up a call.
const (
	caseWorkers = 4
	caseBacklog = 4096
)

func newCaseWriters(store cases.Store, log *slog.Logger) *caseWriters {
	p := &caseWriters{store: store, log: log}
	for i := 0; i < caseWorkers; i++ {
		ch := make(chan caseJob, caseBacklog)
		p.jobs = append(p.jobs, ch)
		p.wg.Add(1)
		go p.work(ch)
	}
	return p
}

// close stops the workers once their backlogs are written, and waits for them.
func (p *caseWriters) close() {
	p.mu.Lock()
	p.closed = true
	for _, ch := range p.jobs {
		close(ch)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *caseWriters) work(jobs <-chan caseJob) {
	defer p.wg.Done()
	ctx := context.Background()
	for j := range jobs {
		w := j.w
		switch {
		case j.ci != nil:
			cs, err := p.store.OpenForCall(ctx, *j.ci)
			if err != nil {
				w.log.Error("call: no work order for this call", "error", err)
				continue
			}
			w.mu.Lock()
			w.id, w.number = cs.ID, cs.Number
			w.mu.Unlock()
		case j.ev != nil:
			if id := w.caseID(); id != "" {
				if err := p.store.AppendEvents(ctx, id, []cases.Event{*j.ev}); err != nil {
					w.log.Error("call: case event lost", "case_id", id, "type", j.ev.Type, "error", err)
				}
			}
		case j.end != nil:
			if id := w.caseID(); id != "" {
				if err := p.store.FinishCall(ctx, id, *j.end); err != nil {
					w.log.Error("call: finishing the work order", "case_id", id, "error", err)
				}
			}
			close(w.done)
		}
	}
}

// caseWriter is one call's work order.
type caseWriter struct {
	p    *caseWriters
	jobs chan<- caseJob
	log  *slog.Logger
	done chan struct{}

	mu     sync.Mutex
	id     string
	number string
}

// open queues the opening of a call's case.
func (p *caseWriters) open(ci cases.CallInfo, log *slog.Logger) *caseWriter {
	h := fnv.New32a()
	h.Write([]byte(ci.CallID))
	w := &caseWriter{p: p, jobs: p.jobs[h.Sum32()%uint32(len(p.jobs))], log: log, done: make(chan struct{})}
	w.send(caseJob{w: w, ci: &ci})
	return w
}

func (w *caseWriter) send(j caseJob) bool {
	w.p.mu.RLock()
	defer w.p.mu.RUnlock()
	if w.p.closed {
		w.log.Error("call: work-order writer closed; write dropped")
		return false
	}
	select {
	case w.jobs <- j:
		return true
	default:
		w.log.Error("call: work-order backlog full; write dropped")
		return false
	}
}

func (w *caseWriter) caseID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
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
	w.send(caseJob{w: w, ev: &ev})
}

// finish closes the call part of the case and waits (bounded) for the writes to land.
func (w *caseWriter) finish(end cases.CallEnd) {
	if w == nil {
		return
	}
	if !w.send(caseJob{w: w, end: &end}) {
		return
	}
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
