package metrics

import (
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/astro-runner/astro-runner/internal/worker"
)

// Buckets of the queue's histograms, in seconds.
var (
	// pickupBuckets span a pool woken at once (about a millisecond) to a
	// backlog minutes deep.
	pickupBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	// jobDurationBuckets span a no-op job to a plan run at its default
	// limit of 15 minutes.
	jobDurationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900}
)

// QueueMetrics observes the job queue's worker pools. It is a
// worker.Observer: set it as each pool's worker.Config.Observer.
//
// Its metrics, by queue:
//   - astro_jobs_claimed_total: jobs claimed.
//   - astro_jobs_completed_total: jobs completed.
//   - astro_jobs_failed_total: attempts that failed and will be retried.
//   - astro_jobs_discarded_total: attempts that failed for good (their
//     error said so, or it was their last attempt).
//   - astro_jobs_lease_lost_total: attempts whose lease the pool lost, so
//     that it wrote nothing for them.
//   - astro_job_pickup_latency_seconds: histogram of the time from when a
//     job was due to when its handler started.
//   - astro_job_duration_seconds (also by kind): histogram of how long
//     handlers ran, whatever their outcome.
//   - astro_workers{state="busy"|"idle"}: the workers of running pools,
//     read when scraped.
//
// And astro_jobs_rescued_total: jobs with expired leases handed back by
// the rescuers, of any queue.
//
// The per-job calls take no lock once a queue and kind have been seen,
// and allocate nothing.
type QueueMetrics struct {
	claimed, completed, failed, discarded, leaseLost *prometheus.CounterVec

	rescued  prometheus.Counter
	pickup   *prometheus.HistogramVec
	duration *prometheus.HistogramVec
	pools    *poolCollector

	// mu serializes the copy-on-write updates of queues and kinds, which
	// the per-job calls read without a lock.
	mu     sync.Mutex
	queues atomic.Pointer[map[string]*queueSeries]
	kinds  atomic.Pointer[map[queueKind]prometheus.Observer]
}

// queueSeries are one queue's series of the per-queue metrics.
type queueSeries struct {
	claimed, completed, failed, discarded, leaseLost prometheus.Counter
	pickup                                           prometheus.Observer
}

// queueKind names a series of astro_job_duration_seconds.
type queueKind struct{ queue, kind string }

var _ worker.Observer = (*QueueMetrics)(nil)

func newQueueMetrics(reg *prometheus.Registry) *QueueMetrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"queue"})
	}
	q := &QueueMetrics{
		claimed:   counter("astro_jobs_claimed_total", "Jobs claimed by this process's worker pools."),
		completed: counter("astro_jobs_completed_total", "Jobs completed."),
		failed:    counter("astro_jobs_failed_total", "Job attempts that failed and will be retried."),
		discarded: counter("astro_jobs_discarded_total", "Job attempts that failed for good: the job will not run again."),
		leaseLost: counter("astro_jobs_lease_lost_total", "Job attempts whose lease the worker lost, so that their outcome was not written and another worker may run the job."),
		rescued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "astro_jobs_rescued_total",
			Help: "Running jobs whose lease expired (their worker stopped or hung) that this process's rescuers handed back, of any queue.",
		}),
		pickup: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astro_job_pickup_latency_seconds",
			Help:    "Time from when a job was due (the later of its run_at and created_at) to when its handler started.",
			Buckets: pickupBuckets,
		}, []string{"queue"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astro_job_duration_seconds",
			Help:    "How long job handlers ran, whatever their outcome.",
			Buckets: jobDurationBuckets,
		}, []string{"queue", "kind"}),
		pools: &poolCollector{
			desc: prometheus.NewDesc("astro_workers",
				"Workers of this process's running pools, busy (holding a job) or idle.", []string{"queue", "state"}, nil),
			running: map[*worker.Pool]struct{}{},
		},
	}
	q.queues.Store(&map[string]*queueSeries{})
	q.kinds.Store(&map[queueKind]prometheus.Observer{})
	reg.MustRegister(q.claimed, q.completed, q.failed, q.discarded, q.leaseLost, q.rescued, q.pickup, q.duration, q.pools)
	return q
}

// PoolStarted implements worker.Observer: the pool's workers count in
// astro_workers until it stops, and its queue's series start at zero.
func (q *QueueMetrics) PoolStarted(p *worker.Pool) {
	q.series(p.Queue())
	q.pools.add(p)
}

// PoolStopped implements worker.Observer.
func (q *QueueMetrics) PoolStopped(p *worker.Pool) { q.pools.remove(p) }

// JobClaimed implements worker.Observer.
func (q *QueueMetrics) JobClaimed(queue, _ string, pickup time.Duration) {
	s := q.series(queue)
	s.claimed.Inc()
	s.pickup.Observe(pickup.Seconds())
}

// JobFinished implements worker.Observer.
func (q *QueueMetrics) JobFinished(queue, kind string, outcome worker.Outcome, took time.Duration) {
	s := q.series(queue)
	switch outcome {
	case worker.OutcomeCompleted:
		s.completed.Inc()
	case worker.OutcomeFailed:
		s.failed.Inc()
	case worker.OutcomeDiscarded:
		s.discarded.Inc()
	case worker.OutcomeLeaseLost:
		s.leaseLost.Inc()
	}
	q.durationOf(queue, kind).Observe(took.Seconds())
}

// JobsRescued implements worker.Observer.
func (q *QueueMetrics) JobsRescued(n int64) { q.rescued.Add(float64(n)) }

// series returns the queue's series, creating them at zero the first time.
func (q *QueueMetrics) series(queue string) *queueSeries {
	if s, ok := (*q.queues.Load())[queue]; ok {
		return s
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.queues.Load()
	if s, ok := old[queue]; ok {
		return s
	}
	s := &queueSeries{
		claimed:   q.claimed.WithLabelValues(queue),
		completed: q.completed.WithLabelValues(queue),
		failed:    q.failed.WithLabelValues(queue),
		discarded: q.discarded.WithLabelValues(queue),
		leaseLost: q.leaseLost.WithLabelValues(queue),
		pickup:    q.pickup.WithLabelValues(queue),
	}
	next := maps.Clone(old)
	next[queue] = s
	q.queues.Store(&next)
	return s
}

// durationOf returns the astro_job_duration_seconds series of a queue and
// kind, creating it the first time.
func (q *QueueMetrics) durationOf(queue, kind string) prometheus.Observer {
	key := queueKind{queue, kind}
	if o, ok := (*q.kinds.Load())[key]; ok {
		return o
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	old := *q.kinds.Load()
	if o, ok := old[key]; ok {
		return o
	}
	o := q.duration.WithLabelValues(queue, kind)
	next := maps.Clone(old)
	next[key] = o
	q.kinds.Store(&next)
	return o
}

// poolCollector reports astro_workers from the pools that run, read when
// scraped, so that the pools pay nothing per job for it.
type poolCollector struct {
	desc    *prometheus.Desc
	mu      sync.Mutex
	running map[*worker.Pool]struct{}
}

func (c *poolCollector) add(p *worker.Pool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.running[p] = struct{}{}
}

func (c *poolCollector) remove(p *worker.Pool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.running, p)
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector: the busy and idle workers of
// the running pools, summed by queue.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	type counts struct{ busy, all int }
	byQueue := map[string]counts{}
	c.mu.Lock()
	for p := range c.running {
		n := byQueue[p.Queue()]
		n.busy += p.Busy()
		n.all += p.Workers()
		byQueue[p.Queue()] = n
	}
	c.mu.Unlock()
	for queue, n := range byQueue {
		busy := min(n.busy, n.all)
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(busy), queue, "busy")
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.all-busy), queue, "idle")
	}
}
