// Package metrics exposes astro-runner's Prometheus metrics: HTTP requests,
// store operations, the job queue, plan runs, and the Go runtime and
// process. Names follow Prometheus conventions: the astro_ prefix, base
// units, _total counters and histograms for durations. No label takes
// values without bound (no plan IDs; plan names only with
// Options.PlanLabels).
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure the metrics.
type Options struct {
	// PlanLabels adds the plan's name as a label to the run metrics
	// (ASTRO_METRICS_PLAN_LABELS). Off by default: plan names are
	// unbounded.
	PlanLabels bool
}

// Metrics holds astro-runner's collectors, registered in a registry of
// their own.
type Metrics struct {
	reg *prometheus.Registry
	// HTTP observes API requests.
	HTTP *HTTPMetrics
	// Store observes store operations.
	Store *StoreMetrics
	// Queue observes the job queue and its worker pools.
	Queue *QueueMetrics
	// Runs observes plan runs.
	Runs *RunMetrics
}

// New returns the metrics, with the Go runtime and process collectors.
func New(o Options) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return &Metrics{
		reg:   reg,
		HTTP:  newHTTPMetrics(reg),
		Store: newStoreMetrics(reg),
		Queue: newQueueMetrics(reg),
		Runs:  newRunMetrics(reg, o.PlanLabels),
	}
}

// Registry returns the registry the collectors are in, to add more.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}
