package metrics_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

var _ worker.Observer = (*metrics.QueueMetrics)(nil)

func TestQueueMetricsCountClaimsAndOutcomesByQueue(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	q := m.Queue
	q.JobClaimed("a", "k", 2*time.Second)
	q.JobClaimed("a", "k", 500*time.Millisecond)
	q.JobClaimed("b", "other", 0)
	for _, o := range []worker.Outcome{
		worker.OutcomeCompleted, worker.OutcomeCompleted, worker.OutcomeFailed, worker.OutcomeDiscarded,
		worker.OutcomeLeaseLost, worker.OutcomeCancelled, worker.OutcomeReleased,
	} {
		q.JobFinished("a", "k", o, time.Second)
	}
	q.JobFinished("b", "other", worker.OutcomeCompleted, 250*time.Millisecond)
	q.JobsRescued(3)
	q.JobsRescued(2)

	got := scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`astro_jobs_claimed_total{queue="a"}`:                                 2,
		`astro_jobs_claimed_total{queue="b"}`:                                 1,
		`astro_jobs_completed_total{queue="a"}`:                               2,
		`astro_jobs_completed_total{queue="b"}`:                               1,
		`astro_jobs_failed_total{queue="a"}`:                                  1,
		`astro_jobs_failed_total{queue="b"}`:                                  0,
		`astro_jobs_discarded_total{queue="a"}`:                               1,
		`astro_jobs_lease_lost_total{queue="a"}`:                              1,
		`astro_jobs_rescued_total`:                                            5,
		`astro_job_pickup_latency_seconds_count{queue="a"}`:                   2,
		`astro_job_pickup_latency_seconds_sum{queue="a"}`:                     2.5,
		`astro_job_pickup_latency_seconds_bucket{queue="a",le="1"}`:           1,
		`astro_job_pickup_latency_seconds_bucket{queue="a",le="+Inf"}`:        2,
		`astro_job_duration_seconds_count{kind="k",queue="a"}`:                7,
		`astro_job_duration_seconds_sum{kind="k",queue="a"}`:                  7,
		`astro_job_duration_seconds_count{kind="other",queue="b"}`:            1,
		`astro_job_duration_seconds_bucket{kind="other",queue="b",le="0.25"}`: 1,
	} {
		if assert.Contains(t, got, series) {
			assert.Equal(t, want, got[series], series)
		}
	}
}

func TestQueueMetricsPerJobCallsDoNotAllocate(t *testing.T) {
	m := metrics.New(metrics.Options{})
	q := m.Queue
	q.JobClaimed("default", "execute_plan", time.Millisecond) // The first call creates the series.
	q.JobFinished("default", "execute_plan", worker.OutcomeCompleted, time.Millisecond)
	allocs := testing.AllocsPerRun(1000, func() {
		q.JobClaimed("default", "execute_plan", time.Millisecond)
		q.JobFinished("default", "execute_plan", worker.OutcomeCompleted, time.Millisecond)
	})
	assert.Zero(t, allocs)
}

func TestQueueMetricsReadTheWorkersOfRunningPools(t *testing.T) {
	t.Parallel()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := metrics.New(metrics.Options{})
	pool := worker.New(st, worker.Config{
		Queue: "w", Workers: 3, Observer: m.Queue, PollInterval: 20 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler),
	})
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	pool.Handle("hold", func(context.Context, *storage.Job) error {
		started <- struct{}{}
		<-release
		return nil
	})
	before := scrape(t, m.Handler())
	assert.NotContains(t, before, `astro_workers{queue="w",state="idle"}`)
	assert.NotContains(t, before, `astro_jobs_completed_total{queue="w"}`)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	require.Eventually(t, func() bool {
		return scrape(t, m.Handler())[`astro_workers{queue="w",state="idle"}`] == 3
	}, 10*time.Second, 5*time.Millisecond, "a running pool's workers are idle")
	got := scrape(t, m.Handler())
	assert.Equal(t, 0.0, got[`astro_workers{queue="w",state="busy"}`])
	assert.Contains(t, got, `astro_jobs_completed_total{queue="w"}`, "a pool's queue has its series from the start")

	_, err = st.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "w", Kind: "hold"})
	require.NoError(t, err)
	pool.Wake()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the job never started")
	}
	got = scrape(t, m.Handler())
	assert.Equal(t, 1.0, got[`astro_workers{queue="w",state="busy"}`])
	assert.Equal(t, 2.0, got[`astro_workers{queue="w",state="idle"}`])

	close(release)
	require.Eventually(t, func() bool {
		return scrape(t, m.Handler())[`astro_jobs_completed_total{queue="w"}`] == 1
	}, 10*time.Second, 5*time.Millisecond, "the job's completion is counted")
	cancel()
	wg.Wait()
	assert.NotContains(t, scrape(t, m.Handler()), `astro_workers{queue="w",state="idle"}`, "a stopped pool's workers are not counted")
}

// TestMetricsFollowPrometheusNaming lints the queue's and runs' metrics
// with the checks promtool runs (base units, _total counters, help).
func TestMetricsFollowPrometheusNaming(t *testing.T) {
	t.Parallel()
	for _, planLabels := range []bool{false, true} {
		m := metrics.New(metrics.Options{PlanLabels: planLabels})
		m.Queue.JobClaimed("default", "execute_plan", time.Millisecond)
		m.Queue.JobFinished("default", "execute_plan", worker.OutcomeCompleted, time.Millisecond)
		exerciseRuns(m.Runs)
		mfs, err := m.Registry().Gather()
		require.NoError(t, err)
		problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
		require.NoError(t, err)
		for _, p := range problems {
			if strings.HasPrefix(p.Metric, "astro_") {
				t.Errorf("%s: %s", p.Metric, p.Text)
			}
		}
	}
}

// BenchmarkQueueMetricsPerJob measures what the queue metrics add to each
// job: the two calls a pool makes per job, from every core at once.
func BenchmarkQueueMetricsPerJob(b *testing.B) {
	q := metrics.New(metrics.Options{}).Queue
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			q.JobClaimed("default", "execute_plan", 3*time.Millisecond)
			q.JobFinished("default", "execute_plan", worker.OutcomeCompleted, 40*time.Millisecond)
		}
	})
}
