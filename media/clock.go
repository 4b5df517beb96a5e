package media

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ticker is something the media clock drives once per 20 ms at its own phase.
type ticker interface {
	// tick is called when a frame may be due; now is the clock's reading.
	tick(now time.Time)
}

// slotCount is the number of 1 ms phases in a frame: each leg lives in the slot of the
// millisecond it started in, so that calls started at different times send at different
// instants instead of all at once.
const slotCount = int(FrameDuration / time.Millisecond)

// pacer is one shared media clock: a goroutine that wakes every millisecond and ticks the
// legs whose phase is due. There is no timer per call; a leg computes its due frames from
// its absolute start time, so lateness never accumulates.
type pacer struct {
	mu    sync.Mutex
	slots [slotCount]atomic.Pointer[[]ticker] // copy-on-write: the clock reads without locks
	count atomic.Int64
	stop  chan struct{}
	done  chan struct{}
	log   *slog.Logger

	lateness prometheus.Observer
}

func newPacer(log *slog.Logger, lateness prometheus.Observer) *pacer {
	p := &pacer{stop: make(chan struct{}), done: make(chan struct{}), log: log, lateness: lateness}
	for i := range p.slots {
		p.slots[i].Store(&[]ticker{})
	}
	go p.run()
	return p
}

func slotOf(t time.Time) int { return int(t.UnixMilli() % int64(slotCount)) }

func (p *pacer) add(t ticker, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[slotOf(start)]
	old := *s.Load()
	next := make([]ticker, len(old), len(old)+1)
	copy(next, old)
	next = append(next, t)
	s.Store(&next)
	p.count.Add(1)
}

func (p *pacer) remove(t ticker, start time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[slotOf(start)]
	old := *s.Load()
	next := make([]ticker, 0, len(old))
	for _, x := range old {
		if x != t {
			next = append(next, x)
		}
	}
	if len(next) != len(old) {
		p.count.Add(-1)
	}
	s.Store(&next)
}

func (p *pacer) run() {
	defer close(p.done)
	last := time.Now().UnixMilli()
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		now := time.Now()
		nowMs := now.UnixMilli()
		from := last + 1
		if nowMs-from >= int64(slotCount) { // stalled a whole frame: visit every slot once
			from = nowMs - int64(slotCount) + 1
		}
		for m := from; m <= nowMs; m++ {
			legs := *p.slots[m%int64(slotCount)].Load()
			if len(legs) == 0 {
				continue
			}
			if p.lateness != nil {
				p.lateness.Observe(now.Sub(time.UnixMilli(m)).Seconds())
			}
			for _, l := range legs {
				l.tick(now)
			}
		}
		last = nowMs
		if p.count.Load() == 0 { // idle: no need to wake every millisecond
			select {
			case <-p.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			last = time.Now().UnixMilli()
			continue
		}
		// Sleep to the next millisecond boundary; the Go timer floor is about 1 ms.
		next := time.UnixMilli(nowMs + 1)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
}

func (p *pacer) close() {
	close(p.stop)
	<-p.done
}
