package ivr

import (
	"log/slog"
	"sync/atomic"
)

// Registry holds the flows in service. A reload builds and validates a complete new set
// and swaps it in with one pointer store: a call looks its flow up once and keeps that
// *Flow to the end, so calls in progress never see a half-reloaded configuration.
type Registry struct {
	cur     atomic.Pointer[map[string]*Flow]
	log     *slog.Logger
	metrics *Metrics
}

// NewRegistry returns a registry serving flows. logger and metrics may be nil.
func NewRegistry(flows map[string]*Flow, logger *slog.Logger, metrics *Metrics) *Registry {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{log: logger, metrics: metrics}
	r.Swap(flows)
	return r
}

// Flow returns the flow in service under name.
func (r *Registry) Flow(name string) (*Flow, bool) {
	m := r.cur.Load()
	if m == nil {
		return nil, false
	}
	f, ok := (*m)[name]
	return f, ok
}

// Swap puts flows in service. The map must not be changed afterwards.
func (r *Registry) Swap(flows map[string]*Flow) {
	if flows == nil {
		flows = map[string]*Flow{}
	}
	r.cur.Store(&flows)
}

// Reload runs load and, if it succeeds, swaps its flows in; on error the flows in service
// stay, and the error (a *LoadError listing every problem) is returned for the operator.
// It is what SIGHUP and the admin API call.
func (r *Registry) Reload(load func() (map[string]*Flow, error)) error {
	flows, err := load()
	if err != nil {
		r.log.Error("flow reload failed; keeping the flows in service", "err", err)
		if r.metrics != nil {
			r.metrics.reloads.WithLabelValues("error").Inc()
		}
		return err
	}
	r.Swap(flows)
	for _, name := range FlowNames(flows) {
		for _, w := range flows[name].warnings {
			r.log.Warn("flow warning", "flow", name, "warning", w.String())
		}
	}
	r.log.Info("flows reloaded", "flows", FlowNames(flows))
	if r.metrics != nil {
		r.metrics.reloads.WithLabelValues("ok").Inc()
	}
	return nil
}
