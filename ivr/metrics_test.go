package ivr

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMetricsCountRunsDigitsAndReloads(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	h := newHarness(t, press(2*time.Second, "9"))
	f := loadIntake(t, h)
	o := h.opts()
	o.Metrics = m
	h.run(f, "", o)
	if got := testutil.ToFloat64(m.runs.WithLabelValues("intake", "route", "queue")); got != 1 {
		t.Errorf("runs = %v", got)
	}
	if got := testutil.ToFloat64(m.bargeins); got != 1 {
		t.Errorf("barge-ins = %v", got)
	}
	if got := testutil.ToFloat64(m.digits.WithLabelValues(DigitOption)); got != 1 {
		t.Errorf("digits = %v", got)
	}
	if got := testutil.ToFloat64(m.nodes.WithLabelValues("intake", "play")); got != 3 {
		t.Errorf("play nodes = %v", got)
	}
	if got := testutil.ToFloat64(m.active); got != 0 {
		t.Errorf("active = %v after the run", got)
	}
	r := NewRegistry(nil, nil, m)
	_ = r.Reload(func() (map[string]*Flow, error) { return map[string]*Flow{"intake": f}, nil })
	if got := testutil.ToFloat64(m.reloads.WithLabelValues("ok")); got != 1 {
		t.Errorf("reloads = %v", got)
	}
	if n, err := testutil.GatherAndCount(reg); err != nil || n == 0 {
		t.Errorf("gather: %d %v", n, err)
	}
}
