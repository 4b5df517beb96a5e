package acd

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	reg        prometheus.Registerer
	collectors []prometheus.Collector

	entered, abandoned, answered *prometheus.CounterVec
	answeredWithin               *prometheus.CounterVec
	exited, noAnswer, callbacks  *prometheus.CounterVec
	dropped                      prometheus.Counter
	routing                      prometheus.Histogram
}

func newMetrics(d *Dispatcher, reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		entered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_calls_entered_total",
			Help: "Callers who joined a queue."}, []string{"queue"}),
		abandoned: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_calls_abandoned_total",
			Help: "Callers who hung up while queued or ringing; abandon rate = abandoned / entered."}, []string{"queue"}),
		answered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_calls_answered_total",
			Help: "Live calls answered by an agent, by the queue that answered them."}, []string{"queue"}),
		answeredWithin: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_calls_answered_within_total",
			Help: "Live calls answered within the threshold of arrival; service level = this / (answered + abandoned)."},
			[]string{"queue", "threshold"}),
		exited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_calls_exited_total",
			Help: "Callers refused or sent away (full, max-wait, empty)."}, []string{"queue", "reason"}),
		noAnswer: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_offers_missed_total",
			Help: "Offers an agent did not take."}, []string{"queue", "reason"}),
		callbacks: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "hotline_acd_callbacks_total",
			Help: "Callback requests and outcomes."}, []string{"queue", "outcome"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "hotline_acd_subscriber_events_dropped_total",
			Help: "Events not delivered to a slow subscriber."}),
		routing: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "hotline_acd_routing_seconds",
			Help:    "Time one routing decision takes (wall clock, under the dispatcher lock).",
			Buckets: prometheus.ExponentialBuckets(250e-9, 2, 16)}),
	}
	m.collectors = []prometheus.Collector{m.entered, m.abandoned, m.answered, m.answeredWithin, m.exited,
		m.noAnswer, m.callbacks, m.dropped, m.routing, newStateCollector(d)}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, r := range m.collectors[:i] {
				reg.Unregister(r)
			}
			return nil, fmt.Errorf("acd: metrics: %w", err)
		}
	}
	// Series exist from the start so rates and ratios are defined at zero.
	for _, q := range d.queues {
		m.entered.WithLabelValues(q.cfg.Name)
		m.abandoned.WithLabelValues(q.cfg.Name)
		m.answered.WithLabelValues(q.cfg.Name)
		for _, sl := range q.cfg.ServiceLevels {
			m.answeredWithin.WithLabelValues(q.cfg.Name, sl.String())
		}
	}
	return m, nil
}

func (m *metrics) unregister() {
	for _, c := range m.collectors {
		m.reg.Unregister(c)
	}
}

func (m *metrics) observeAnswer(q *queue, wait time.Duration) {
	m.answered.WithLabelValues(q.cfg.Name).Inc()
	for _, sl := range q.cfg.ServiceLevels {
		if wait <= sl {
			m.answeredWithin.WithLabelValues(q.cfg.Name, sl.String()).Inc()
		}
	}
}

// stateCollector reads the gauges straight from the state machine at scrape
// time, so they cannot drift from it.
type stateCollector struct {
	d                                        *Dispatcher
	waiting, longest, callbacks, ewt, agents *prometheus.Desc
}

func newStateCollector(d *Dispatcher) *stateCollector {
	return &stateCollector{
		d: d,
		waiting: prometheus.NewDesc("hotline_acd_queue_callers_waiting",
			"Live callers waiting in the queue (not yet ringing an agent).", []string{"queue"}, nil),
		longest: prometheus.NewDesc("hotline_acd_queue_longest_wait_seconds",
			"Longest current wait among the queue's live callers.", []string{"queue"}, nil),
		callbacks: prometheus.NewDesc("hotline_acd_queue_callbacks_pending",
			"Callback requests waiting or between attempts.", []string{"queue"}, nil),
		ewt: prometheus.NewDesc("hotline_acd_queue_estimated_wait_seconds",
			"Estimated wait for a caller joining now (absent when no agent serves the queue).", []string{"queue"}, nil),
		agents: prometheus.NewDesc("hotline_acd_agents", "Agents by state.", []string{"state"}, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.waiting
	ch <- c.longest
	ch <- c.callbacks
	ch <- c.ewt
	ch <- c.agents
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	d.mu.Lock()
	now := d.clock.Now()
	qs := make([]QueueStatus, 0, len(d.queues))
	for _, q := range d.queues {
		qs = append(qs, d.queueStatus(q, now))
	}
	byState := d.byState
	d.mu.Unlock()
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(q.Waiting), q.Name)
		ch <- prometheus.MustNewConstMetric(c.longest, prometheus.GaugeValue, q.Longest.Seconds(), q.Name)
		ch <- prometheus.MustNewConstMetric(c.callbacks, prometheus.GaugeValue, float64(q.Callbacks), q.Name)
		if q.EWTKnown {
			ch <- prometheus.MustNewConstMetric(c.ewt, prometheus.GaugeValue, q.EWT.Seconds(), q.Name)
		}
	}
	for st := Ready; st < numAgentStates; st++ {
		ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(byState[st]), st.String())
	}
}
