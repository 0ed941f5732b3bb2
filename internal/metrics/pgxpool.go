package metrics

import (
	"maps"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStater is a store with pgx connection pools, such as pgstore.Store.
type PoolStater interface {
	// PoolStats returns a snapshot of each pool, by name.
	PoolStats() map[string]*pgxpool.Stat
}

// PoolCollector reports the pgx connection pools of a Postgres store at
// scrape time, each with its name as the pool label ("main", and "queue"
// for pgstore's queue pool). Its series are:
//
//   - astro_pgxpool_acquired_connections, astro_pgxpool_idle_connections,
//     astro_pgxpool_constructing_connections, astro_pgxpool_total_connections
//     and astro_pgxpool_max_connections (gauges);
//   - astro_pgxpool_acquires_total, the connections acquired;
//     astro_pgxpool_empty_acquires_total, those that had to wait because no
//     connection was idle; astro_pgxpool_canceled_acquires_total, those
//     abandoned because their context ended;
//   - astro_pgxpool_acquire_duration_seconds_total, the time spent
//     acquiring connections, and astro_pgxpool_empty_acquire_wait_seconds_total,
//     the time spent waiting for one when none was idle (divide by the
//     acquire counts for averages).
type PoolCollector struct {
	p     PoolStater
	descs poolDescs
}

// poolDescs are the descriptions of PoolCollector's series.
type poolDescs struct {
	acquired, idle, constructing, total, max *prometheus.Desc
	acquires, emptyAcquires, canceled        *prometheus.Desc
	acquireSeconds, emptyWaitSeconds         *prometheus.Desc
}

// NewPoolCollector returns a collector of p's pools. Register it once,
// with Metrics.Registry().MustRegister or Metrics.CollectPools.
func NewPoolCollector(p PoolStater) *PoolCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("astro_pgxpool_"+name, help, []string{"pool"}, nil)
	}
	return &PoolCollector{p: p, descs: poolDescs{
		acquired:         d("acquired_connections", "Connections of the Postgres pool in use."),
		idle:             d("idle_connections", "Idle connections of the Postgres pool."),
		constructing:     d("constructing_connections", "Connections of the Postgres pool being opened."),
		total:            d("total_connections", "Connections of the Postgres pool: acquired, idle and being opened."),
		max:              d("max_connections", "Most connections the Postgres pool may open."),
		acquires:         d("acquires_total", "Connections acquired from the Postgres pool."),
		emptyAcquires:    d("empty_acquires_total", "Acquires from the Postgres pool that waited because no connection was idle."),
		canceled:         d("canceled_acquires_total", "Acquires from the Postgres pool abandoned because their context ended."),
		acquireSeconds:   d("acquire_duration_seconds_total", "Time spent acquiring connections from the Postgres pool."),
		emptyWaitSeconds: d("empty_acquire_wait_seconds_total", "Time spent waiting for a connection of the Postgres pool when none was idle."),
	}}
}

// CollectPools registers a PoolCollector of p in m's registry. Call it at
// most once per Metrics.
func (m *Metrics) CollectPools(p PoolStater) {
	m.reg.MustRegister(NewPoolCollector(p))
}

// Describe sends the descriptions of the collector's series.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	d := &c.descs
	for _, desc := range []*prometheus.Desc{d.acquired, d.idle, d.constructing, d.total, d.max,
		d.acquires, d.emptyAcquires, d.canceled, d.acquireSeconds, d.emptyWaitSeconds} {
		ch <- desc
	}
}

// Collect sends a snapshot of every pool.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	stats := c.p.PoolStats()
	d := &c.descs
	for _, name := range slices.Sorted(maps.Keys(stats)) {
		s := stats[name]
		if s == nil {
			continue
		}
		gauge := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, name)
		}
		counter := func(desc *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, v, name)
		}
		gauge(d.acquired, float64(s.AcquiredConns()))
		gauge(d.idle, float64(s.IdleConns()))
		gauge(d.constructing, float64(s.ConstructingConns()))
		gauge(d.total, float64(s.TotalConns()))
		gauge(d.max, float64(s.MaxConns()))
		counter(d.acquires, float64(s.AcquireCount()))
		counter(d.emptyAcquires, float64(s.EmptyAcquireCount()))
		counter(d.canceled, float64(s.CanceledAcquireCount()))
		counter(d.acquireSeconds, s.AcquireDuration().Seconds())
		counter(d.emptyWaitSeconds, s.EmptyAcquireWaitTime().Seconds())
	}
}
