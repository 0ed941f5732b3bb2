package metrics

import "github.com/prometheus/client_golang/prometheus"

// RunMetrics is a placeholder, filled in by the metrics work.
type RunMetrics struct{}

func newRunMetrics(reg *prometheus.Registry, planLabels bool) *RunMetrics { return &RunMetrics{} }
