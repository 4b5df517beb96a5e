package acd

import "time"

type queue struct {
	cfg        QueueConfig
	waiting    map[*entry]struct{} // indexed requests whose queue this is
	live       int                 // live callers waiting or ringing, for MaxLength
	callbacks  int                 // callback requests not yet done
	emptyTimer Timer               // LeaveEmptyGrace running

	// aht is an exponentially weighted mean of handle time (connect to end of
	// wrap-up) over recent calls; it feeds the wait estimate.
	aht     time.Duration
	handled int
}

// ahtWeight is the weight of the newest call in the mean handle time: about
// the last 20 calls count, so the estimate follows a change of call mix
// within minutes without jumping on one long call.
const ahtWeight = 0.05

func newQueue(cfg QueueConfig) *queue {
	return &queue{cfg: cfg, waiting: map[*entry]struct{}{}, aht: cfg.DefaultHandleTime}
}

func (q *queue) observeHandle(d time.Duration) {
	if d < 0 {
		return
	}
	q.handled++
	// A running mean until there are enough calls for the weighted one.
	w := 1 / float64(q.handled)
	if w < ahtWeight {
		w = ahtWeight
	}
	q.aht += time.Duration(w * float64(d-q.aht))
}
