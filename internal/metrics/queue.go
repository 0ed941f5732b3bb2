package metrics

import "github.com/prometheus/client_golang/prometheus"

// QueueMetrics is a placeholder, filled in by the metrics work.
type QueueMetrics struct{}

func newQueueMetrics(reg *prometheus.Registry) *QueueMetrics { return &QueueMetrics{} }
