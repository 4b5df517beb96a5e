package cases

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	spoolDepth prometheus.Gauge
	spooled    prometheus.Counter
	replayed   prometheus.Counter
	rejected   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		spoolDepth: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "hotline", Subsystem: "cases",
			Name: "spool_depth", Help: "Case writes waiting in the spool for the database."}),
		spooled: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hotline", Subsystem: "cases",
			Name: "spooled_writes_total", Help: "Case writes spooled because the database was unreachable."}),
		replayed: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hotline", Subsystem: "cases",
			Name: "replayed_writes_total", Help: "Spooled case writes applied to the database."}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "hotline", Subsystem: "cases",
			Name: "rejected_writes_total", Help: "Spooled case writes the database refused; kept in the rejected file."}),
	}
	if reg != nil {
		reg.MustRegister(m.spoolDepth, m.spooled, m.replayed, m.rejected)
	}
	return m
}
