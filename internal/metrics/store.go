package metrics

import "github.com/prometheus/client_golang/prometheus"

// StoreMetrics is a placeholder, filled in by the metrics work.
type StoreMetrics struct{}

func newStoreMetrics(reg *prometheus.Registry) *StoreMetrics { return &StoreMetrics{} }
