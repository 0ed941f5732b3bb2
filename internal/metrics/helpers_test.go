package metrics_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// series returns the series of the metric family name in reg whose labels
// include want, keyed by nothing: the caller checks what it needs.
func series(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) []*dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var out []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			out = append(out, m)
		}
	}
	return out
}

// histCount returns the number of observations of the histogram series of
// name with labels want, summed over the matching series.
func histCount(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) uint64 {
	t.Helper()
	var n uint64
	for _, m := range series(t, reg, name, want) {
		n += m.GetHistogram().GetSampleCount()
	}
	return n
}

// value returns the value of the counter or gauge series of name with
// labels want, summed over the matching series.
func value(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	var v float64
	for _, m := range series(t, reg, name, want) {
		switch {
		case m.Counter != nil:
			v += m.GetCounter().GetValue()
		case m.Gauge != nil:
			v += m.GetGauge().GetValue()
		}
	}
	return v
}
