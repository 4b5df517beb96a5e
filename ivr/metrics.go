package ivr

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts what flows do. One Metrics is shared by every call; pass it in RunOptions.
type Metrics struct {
	runs        *prometheus.CounterVec
	nodes       *prometheus.CounterVec
	digits      *prometheus.CounterVec
	timeouts    *prometheus.CounterVec
	bargeins    prometheus.Counter
	errors      prometheus.Counter
	active      prometheus.Gauge
	digitAction prometheus.Histogram
	reloads     *prometheus.CounterVec
}

// NewMetrics registers the ivr metrics on reg (nil: not registered, still counted).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ivr_runs_total", Help: "Flow runs by flow, entry node and outcome action.",
		}, []string{"flow", "entry", "action"}),
		nodes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ivr_nodes_total", Help: "Nodes entered by flow and node kind.",
		}, []string{"flow", "kind"}),
		digits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ivr_digits_total", Help: "Key presses seen by flows, by what they did.",
		}, []string{"result"}),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ivr_timeouts_total", Help: "Input timeouts by node kind.",
		}, []string{"kind"}),
		bargeins: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ivr_bargeins_total", Help: "Prompts cut short by a key press.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "hotline_ivr_errors_total", Help: "Failures a flow carried on past (recorder, step limit).",
		}),
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "hotline_ivr_active_runs", Help: "Flows running now.",
		}),
		digitAction: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "hotline_ivr_digit_action_seconds",
			Help:    "From a key press reaching the leg to the flow acting on it.",
			Buckets: []float64{.001, .002, .005, .01, .02, .03, .05, .1, .25},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "hotline_ivr_reloads_total", Help: "Flow reloads by result (ok, error).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.runs, m.nodes, m.digits, m.timeouts, m.bargeins, m.errors, m.active, m.digitAction, m.reloads)
	}
	return m
}
