package metrics_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
)

// countingStats is a JobStatser that counts its calls and answers what it
// is told.
type countingStats struct {
	mu    sync.Mutex
	calls int
	stats []*storage.JobQueueStats
	err   error
}

func (c *countingStats) JobStats(context.Context) ([]*storage.JobQueueStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	return c.stats, c.err
}

func (c *countingStats) set(available int64, age time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats = []*storage.JobQueueStats{{
		Queue:              "default",
		Counts:             map[storage.JobState]int64{storage.JobAvailable: available, storage.JobRunning: 1},
		OldestAvailableAge: age,
	}}
	c.err = err
}

func (c *countingStats) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestQueueStateIsCached scrapes often and checks that JobStats is read
// again only once the cached read is older than MaxAge, and that a failed
// read reports nothing and is not retried at every scrape either.
func TestQueueStateIsCached(t *testing.T) {
	t.Parallel()
	src := &countingStats{}
	src.set(3, 2*time.Second, nil)
	clock := &fakeClock{now: time.Unix(1_000_000, 0)}
	c := metrics.NewQueueStateCollector(src, metrics.QueueStateOptions{MaxAge: 5 * time.Second})
	metrics.SetClock(c, clock.Now)
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	available := func() float64 {
		return value(t, reg, "astro_jobs", map[string]string{"queue": "default", "state": "available"})
	}

	require.EqualValues(t, 3, available())
	require.EqualValues(t, 2, value(t, reg, "astro_queue_oldest_available_age_seconds", map[string]string{"queue": "default"}))
	require.EqualValues(t, 1, value(t, reg, "astro_jobs", map[string]string{"queue": "default", "state": "running"}))
	require.Len(t, series(t, reg, "astro_jobs", nil), len(storage.JobStates), "states without jobs report 0")
	require.Equal(t, 1, src.count())

	// A scrape every second within MaxAge reads nothing.
	src.set(7, time.Second, nil)
	for range 4 {
		clock.Add(time.Second)
		require.EqualValues(t, 3, available(), "the cached read")
	}
	require.Equal(t, 1, src.count())

	clock.Add(time.Second)
	require.EqualValues(t, 7, available(), "read again after MaxAge")
	require.Equal(t, 2, src.count())

	// A failed read reports no queue state, and is cached too.
	src.set(9, 0, errors.New("database down"))
	clock.Add(5 * time.Second)
	require.Empty(t, series(t, reg, "astro_jobs", nil))
	require.Empty(t, series(t, reg, "astro_queue_oldest_available_age_seconds", nil))
	clock.Add(time.Second)
	require.Empty(t, series(t, reg, "astro_jobs", nil))
	require.Equal(t, 3, src.count())

	src.set(9, 0, nil)
	clock.Add(5 * time.Second)
	require.EqualValues(t, 9, available(), "back once the store answers")
	require.Equal(t, 4, src.count())
}

// TestPoolCollectorOnPostgres scrapes a Postgres store's pools: the main
// pool with its configured size and the queue pool of AsyncQueueCommit.
func TestPoolCollectorOnPostgres(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := pgstore.Open(ctx, pgstore.Config{URL: pgtest.URL(t), MaxConns: 3, AsyncQueueCommit: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	m := metrics.New(metrics.Options{})
	m.CollectPools(st)
	reg := m.Registry()

	_, err = st.JobStats(ctx)
	require.NoError(t, err)
	main := map[string]string{"pool": "main"}
	require.EqualValues(t, 3, value(t, reg, "astro_pgxpool_max_connections", main))
	require.Positive(t, value(t, reg, "astro_pgxpool_acquires_total", main))
	require.Positive(t, value(t, reg, "astro_pgxpool_total_connections", main))
	require.EqualValues(t, 0, value(t, reg, "astro_pgxpool_acquired_connections", main), "nothing holds a connection now")
	for _, name := range []string{"idle_connections", "constructing_connections", "empty_acquires_total",
		"canceled_acquires_total", "acquire_duration_seconds_total", "empty_acquire_wait_seconds_total"} {
		require.Len(t, series(t, reg, "astro_pgxpool_"+name, main), 1, name)
	}
	require.EqualValues(t, 3, value(t, reg, "astro_pgxpool_max_connections", map[string]string{"pool": "queue"}),
		"the queue pool of AsyncQueueCommit")
}
