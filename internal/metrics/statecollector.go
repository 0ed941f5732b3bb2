package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// JobStatser is what the queue state collector reads: the JobStats method
// of storage.Store.
type JobStatser interface {
	// JobStats counts jobs by queue and state.
	JobStats(ctx context.Context) ([]*storage.JobQueueStats, error)
}

// QueueStateOptions configure a QueueStateCollector.
type QueueStateOptions struct {
	// MaxAge is how long one read of JobStats serves scrapes before the
	// next scrape reads again. Defaults to 5s.
	MaxAge time.Duration
	// Timeout bounds one read of JobStats. Defaults to 5s.
	Timeout time.Duration
}

// WithDefaults returns a copy of o with defaults filled in.
func (o QueueStateOptions) WithDefaults() QueueStateOptions {
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	return o
}

// QueueStateCollector reports the job queue's state at scrape time, read
// with one JobStats call and kept for QueueStateOptions.MaxAge, so that a
// scrape every second costs one query every few seconds. Its series are:
//
//   - astro_jobs{queue,state}, the jobs of each queue that has any, in
//     every state (available, running, retryable, completed, discarded,
//     cancelled; 0 when none);
//   - astro_queue_oldest_available_age_seconds{queue}, how long the oldest
//     due, unclaimed job of the queue has waited, 0 when none waits.
//
// When JobStats fails, a scrape reports neither (the failure counts in
// astro_store_errors_total when the store is instrumented) until the next
// read, MaxAge later. Concurrent scrapes share one read.
type QueueStateCollector struct {
	st   JobStatser
	opts QueueStateOptions
	// now is the clock; tests replace it.
	now func() time.Time

	jobs *prometheus.Desc
	age  *prometheus.Desc

	mu     sync.Mutex
	readAt time.Time // zero before the first read
	stats  []*storage.JobQueueStats
}

// NewQueueStateCollector returns a collector of st's queue state. Register
// it once, with Metrics.Registry().MustRegister or Metrics.CollectQueueState.
func NewQueueStateCollector(st JobStatser, o QueueStateOptions) *QueueStateCollector {
	return &QueueStateCollector{
		st:   st,
		opts: o.WithDefaults(),
		now:  time.Now,
		jobs: prometheus.NewDesc("astro_jobs",
			"Jobs by queue and state, read at scrape time (cached for a few seconds).",
			[]string{"queue", "state"}, nil),
		age: prometheus.NewDesc("astro_queue_oldest_available_age_seconds",
			"How long the oldest due, unclaimed job of the queue has waited; 0 when none waits.",
			[]string{"queue"}, nil),
	}
}

// CollectQueueState registers a QueueStateCollector of st in m's registry.
// Call it at most once per Metrics.
func (m *Metrics) CollectQueueState(st JobStatser, o QueueStateOptions) {
	m.reg.MustRegister(NewQueueStateCollector(st, o))
}

// Describe sends the descriptions of the collector's series.
func (c *QueueStateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.jobs
	ch <- c.age
}

// Collect sends the queue state, read now if the last read is older than
// MaxAge.
// Past MaxQueueLabels queues, the others are summed under queue="other"
// (their oldest age the largest of theirs).
func (c *QueueStateCollector) Collect(ch chan<- prometheus.Metric) {
	for _, qs := range boundQueues(c.read()) {
		for _, state := range storage.JobStates {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(qs.Counts[state]), qs.Queue, string(state))
		}
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, qs.OldestAvailableAge.Seconds(), qs.Queue)
	}
}

// boundQueues returns stats with the queues past the first MaxQueueLabels
// summed into one named OtherQueue.
func boundQueues(stats []*storage.JobQueueStats) []*storage.JobQueueStats {
	if len(stats) <= MaxQueueLabels {
		return stats
	}
	out := append([]*storage.JobQueueStats(nil), stats[:MaxQueueLabels]...)
	other := &storage.JobQueueStats{Queue: OtherQueue, Counts: map[storage.JobState]int64{}}
	for _, qs := range stats[MaxQueueLabels:] {
		for state, n := range qs.Counts {
			other.Counts[state] += n
		}
		other.OldestAvailableAge = max(other.OldestAvailableAge, qs.OldestAvailableAge)
	}
	return append(out, other)
}

// read returns the cached stats, reading them again when they are older
// than MaxAge. A failed read caches no stats.
func (c *QueueStateCollector) read() []*storage.JobQueueStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if !c.readAt.IsZero() && now.Sub(c.readAt) < c.opts.MaxAge {
		return c.stats
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	defer cancel()
	stats, err := c.st.JobStats(ctx)
	if err != nil {
		stats = nil
	}
	c.stats, c.readAt = stats, now
	return stats
}
