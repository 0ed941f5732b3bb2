package metrics

import "github.com/prometheus/client_golang/prometheus"

// HTTPMetrics is a placeholder, filled in by the metrics work.
type HTTPMetrics struct{}

func newHTTPMetrics(reg *prometheus.Registry) *HTTPMetrics { return &HTTPMetrics{} }
