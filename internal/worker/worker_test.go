package worker_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

var (
	_ worker.Store = (*sqlitestore.Store)(nil)
	_ worker.Store = (*pgstore.Store)(nil)
)

// TestMain runs a child worker process when the multi-node tests start one
// (see runChild), and the tests otherwise.
func TestMain(m *testing.M) {
	if isChild() {
		os.Exit(runChild())
	}
	pgtest.Main(m)
}

// Bounds for waiting on conditions. They are generous: they bound a hung
// test, they are not performance assertions.
const (
	waitFor = 20 * time.Second
	tick    = 5 * time.Millisecond
)

// openSQLite returns a fresh in-memory store, closed when t ends.
func openSQLite(t *testing.T) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openPostgres opens a store on url, closed when t ends.
func openPostgres(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pgstore.Config{URL: url, MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// config fills in fast test defaults: a short poll and logs that go to the
// test's output at warning level and above.
func config(t *testing.T, c worker.Config) worker.Config {
	t.Helper()
	if c.PollInterval == 0 {
		c.PollInterval = 20 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return c
}

// startPool runs pool until the returned stop is called (or t ends), and
// stop returns only once Run has returned. Stop is idempotent.
func startPool(t *testing.T, pool *worker.Pool) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				assert.NoError(t, err, "Run")
			case <-time.After(waitFor):
				t.Errorf("Run did not return within %s of its context ending", waitFor)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// enqueue adds n jobs of kind in one call and returns their IDs.
func enqueue(t *testing.T, s storage.JobStore, kind string, n int) []int64 {
	t.Helper()
	ps := make([]*storage.JobEnqueueParams, n)
	for i := range ps {
		ps[i] = &storage.JobEnqueueParams{Kind: kind}
	}
	ids, err := s.JobEnqueueMany(context.Background(), ps)
	require.NoError(t, err)
	require.Len(t, ids, n)
	return ids
}

// enqueueOne adds one job.
func enqueueOne(t *testing.T, s storage.JobStore, p storage.JobEnqueueParams) *storage.Job {
	t.Helper()
	job, err := s.JobEnqueue(context.Background(), &p)
	require.NoError(t, err)
	return job
}

// getJob returns the job's current row.
func getJob(t *testing.T, s storage.JobStore, id int64) *storage.Job {
	t.Helper()
	job, err := s.JobGet(context.Background(), id)
	require.NoError(t, err)
	return job
}

// waitState waits until the job reaches state and returns it.
func waitState(t *testing.T, s storage.JobStore, id int64, state storage.JobState) *storage.Job {
	t.Helper()
	var job *storage.Job
	require.Eventually(t, func() bool {
		j, err := s.JobGet(context.Background(), id)
		if err != nil {
			return false
		}
		job = j
		return j.State == state
	}, waitFor, tick, "job %d never became %s", id, state)
	return job
}

// counts returns the default queue's job counts by state.
func counts(t *testing.T, s storage.JobStore) map[storage.JobState]int64 {
	t.Helper()
	stats, err := s.JobStats(context.Background())
	require.NoError(t, err)
	for _, q := range stats {
		if q.Queue == storage.DefaultQueue {
			return q.Counts
		}
	}
	return map[storage.JobState]int64{}
}

// waitCompleted waits until the default queue has n completed jobs.
func waitCompleted(t *testing.T, s storage.JobStore, n int64, within time.Duration) {
	t.Helper()
	require.Eventually(t, func() bool { return counts(t, s)[storage.JobCompleted] >= n },
		within, 10*time.Millisecond, "fewer than %d jobs completed", n)
}

// countRuns registers a handler for kind that counts runs by job ID.
func countRuns(pool *worker.Pool, kind string) *sync.Map {
	runs := &sync.Map{}
	pool.Handle(kind, func(_ context.Context, job *storage.Job) error {
		n, _ := runs.LoadOrStore(job.ID, new(atomic.Int64))
		n.(*atomic.Int64).Add(1)
		return nil
	})
	return runs
}

// requireEachRanOnce checks that every job in ids ran exactly once, and that
// nothing else ran.
func requireEachRanOnce(t *testing.T, runs *sync.Map, ids []int64) {
	t.Helper()
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	seen := 0
	runs.Range(func(k, v any) bool {
		seen++
		id := k.(int64)
		assert.True(t, want[id], "job %d ran but was not enqueued by the test", id)
		assert.EqualValues(t, 1, v.(*atomic.Int64).Load(), "runs of job %d", id)
		return true
	})
	assert.Equal(t, len(ids), seen, "jobs that ran")
}

// countingStore counts the pool's claims, so a test can tell that the claim
// loop has gone idle.
type countingStore struct {
	worker.Store
	claims atomic.Int64
}

func (s *countingStore) JobClaim(ctx context.Context, p *storage.JobClaimParams) ([]*storage.Job, error) {
	jobs, err := s.Store.JobClaim(ctx, p)
	s.claims.Add(1)
	return jobs, err
}

// extendBlocker fails lease extensions while blocked, as a store outage
// seen only by the heartbeat would.
type extendBlocker struct {
	worker.Store
	blocked atomic.Bool
}

func (s *extendBlocker) JobExtendLease(ctx context.Context, refs []storage.JobRef, lease time.Duration) ([]storage.JobLease, error) {
	if s.blocked.Load() {
		return nil, errors.New("lease extension blocked by the test")
	}
	return s.Store.JobExtendLease(ctx, refs, lease)
}

// vacuumCounter counts the pool's vacuums.
type vacuumCounter struct {
	worker.Store
	vacuums atomic.Int64
}

func (s *vacuumCounter) JobVacuum(ctx context.Context) error {
	s.vacuums.Add(1)
	return s.Store.JobVacuum(ctx)
}

func TestPoolVacuumsOnceItHasWrittenVacuumAfterOutcomes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	vc := &vacuumCounter{Store: s}
	pool := worker.New(vc, config(t, worker.Config{VacuumAfter: 50, VacuumInterval: 5 * time.Millisecond}))
	countRuns(pool, "count")
	startPool(t, pool)

	enqueue(t, s, "count", 40)
	waitCompleted(t, s, 40, waitFor)
	time.Sleep(100 * time.Millisecond) // About 20 checks, none of which may vacuum.
	assert.Zero(t, vc.vacuums.Load(), "vacuumed after 40 of 50 outcomes")

	enqueue(t, s, "count", 20)
	waitCompleted(t, s, 60, waitFor)
	require.Eventually(t, func() bool { return vc.vacuums.Load() == 1 }, waitFor, tick, "no vacuum after 60 outcomes")
	time.Sleep(100 * time.Millisecond)
	assert.EqualValues(t, 1, vc.vacuums.Load(), "the count starts again after a vacuum")
}

func TestPoolCompletesEachJobExactlyOnce(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{}))
	runs := countRuns(pool, "count")
	ids := enqueue(t, s, "count", 200)
	startPool(t, pool)

	waitCompleted(t, s, 200, waitFor)
	c := counts(t, s)
	assert.EqualValues(t, 200, c[storage.JobCompleted])
	assert.Zero(t, c[storage.JobRunning]+c[storage.JobAvailable]+c[storage.JobRetryable]+c[storage.JobDiscarded])
	requireEachRanOnce(t, runs, ids)
}

// TestPoolCompletesEachJobExactlyOncePostgres runs the pool with a poll of an
// hour, so only LISTEN/NOTIFY can wake it for jobs enqueued through another
// connection pool.
func TestPoolCompletesEachJobExactlyOncePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s, err := pgstore.Open(context.Background(), pgstore.Config{URL: url, MaxConns: 8, AsyncQueueCommit: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	enqueuer := openPostgres(t, url)

	cs := &countingStore{Store: s}
	pool := worker.New(cs, config(t, worker.Config{PollInterval: time.Hour}))
	runs := countRuns(pool, "count")

	var wakes atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		s.Listen(ctx, func() { wakes.Add(1); pool.Wake() }, pool.CheckCancels)
	}()
	t.Cleanup(func() { cancel(); <-listening })
	startPool(t, pool)

	// The listener wakes the pool once when it connects. After that wake
	// has been answered by a claim, the claim loop sleeps for an hour.
	require.Eventually(t, func() bool { return wakes.Load() >= 1 && cs.claims.Load() >= 2 },
		waitFor, tick, "listener never connected or the pool never claimed")
	ids := enqueue(t, enqueuer, "count", 200)

	waitCompleted(t, s, 200, waitFor)
	assert.GreaterOrEqual(t, wakes.Load(), int64(2), "no notification arrived")
	c := counts(t, s)
	assert.EqualValues(t, 200, c[storage.JobCompleted])
	requireEachRanOnce(t, runs, ids)
}

func TestPoolSurvivesAPanickingHandler(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	// The pool logs the panic and its stack at error level; keep it out
	// of the test output.
	pool := worker.New(s, config(t, worker.Config{Logger: slog.New(slog.DiscardHandler)}))
	pool.Handle("panic", func(context.Context, *storage.Job) error { panic("boom") })
	runs := countRuns(pool, "count")
	// The panicking job is claimed first; the others must still run.
	bad := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "panic", Priority: 1, MaxAttempts: 1})
	ids := enqueue(t, s, "count", 20)
	startPool(t, pool)

	job := waitState(t, s, bad.ID, storage.JobDiscarded)
	assert.Contains(t, job.LastError, "panic")
	assert.Contains(t, job.LastError, "boom")
	require.Len(t, job.Errors, 1)
	waitCompleted(t, s, 20, waitFor)
	requireEachRanOnce(t, runs, ids)
}

func TestPoolRetriesAFailedJob(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{
		Retry: storage.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond},
	}))
	var calls atomic.Int64
	pool.Handle("flaky", func(context.Context, *storage.Job) error {
		if calls.Add(1) == 1 {
			return errors.New("transient trouble")
		}
		return nil
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "flaky"})
	startPool(t, pool)

	job = waitState(t, s, job.ID, storage.JobCompleted)
	assert.Equal(t, 2, job.Attempt)
	require.Len(t, job.Errors, 1)
	assert.Equal(t, 1, job.Errors[0].Attempt)
	assert.Contains(t, job.Errors[0].Error, "transient trouble")
	assert.EqualValues(t, 2, calls.Load())
}

func TestPoolDiscardsAJobWhoseErrorWrapsErrDiscard(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{
		Retry: storage.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond},
	}))
	var calls atomic.Int64
	pool.Handle("hopeless", func(context.Context, *storage.Job) error {
		calls.Add(1)
		return fmt.Errorf("payload is nonsense: %w", worker.ErrDiscard)
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "hopeless"})
	require.Equal(t, storage.DefaultMaxAttempts, job.MaxAttempts)
	startPool(t, pool)

	job = waitState(t, s, job.ID, storage.JobDiscarded)
	assert.Equal(t, 1, job.Attempt, "discarded at the first attempt")
	assert.Contains(t, job.LastError, "payload is nonsense")
	assert.EqualValues(t, 1, calls.Load())
}

func TestPoolDiscardsAJobOfAnUnknownKind(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{}))
	countRuns(pool, "count")
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "nobody-handles-this"})
	startPool(t, pool)

	job = waitState(t, s, job.ID, storage.JobDiscarded)
	assert.Equal(t, 1, job.Attempt)
	assert.Contains(t, job.LastError, "no handler")
	assert.Contains(t, job.LastError, "nobody-handles-this")
}

func TestPoolTimesOutAJob(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{JobTimeout: 100 * time.Millisecond}))
	causes := make(chan error, 1)
	pool.Handle("slow", func(ctx context.Context, _ *storage.Job) error {
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return ctx.Err()
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "slow", MaxAttempts: 1})
	startPool(t, pool)

	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobTimeout)
	case <-time.After(waitFor):
		t.Fatal("the handler's context was never cancelled")
	}
	job = waitState(t, s, job.ID, storage.JobDiscarded)
	assert.Contains(t, job.LastError, worker.ErrJobTimeout.Error())
}

func TestPoolCancelsARunningJobAtTheNextHeartbeat(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{HeartbeatInterval: 50 * time.Millisecond}))
	started := make(chan int64, 1)
	causes := make(chan error, 1)
	pool.Handle("long", func(ctx context.Context, job *storage.Job) error {
		started <- job.ID
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return context.Cause(ctx)
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	startPool(t, pool)

	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	cancelled, err := s.JobCancel(context.Background(), job.ID)
	require.NoError(t, err)
	require.Equal(t, storage.JobRunning, cancelled.State)
	require.True(t, cancelled.CancelRequested)

	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobCancelled)
	case <-time.After(waitFor):
		t.Fatal("the handler's context was never cancelled")
	}
	job = waitState(t, s, job.ID, storage.JobCancelled)
	assert.NotNil(t, job.FinishedAt)
}

func TestPoolShutdownReleasesAJobThatOutlivesTheTimeout(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	first := worker.New(s, config(t, worker.Config{ShutdownTimeout: 100 * time.Millisecond}))
	started := make(chan struct{}, 1)
	causes := make(chan error, 1)
	first.Handle("long", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return context.Cause(ctx)
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	stop := startPool(t, first)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	require.Equal(t, 1, getJob(t, s, job.ID).Attempt)

	stop() // Returns once Run has returned.
	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrShutdown)
	default:
		t.Fatal("Run returned before the handler's context was cancelled")
	}
	released := getJob(t, s, job.ID)
	assert.Equal(t, storage.JobAvailable, released.State)
	assert.Equal(t, 0, released.Attempt, "a released attempt is not counted")
	assert.Empty(t, released.Errors)

	// A second pool that polls only once an hour takes it at its first
	// claim.
	second := worker.New(s, config(t, worker.Config{PollInterval: time.Hour}))
	runs := countRuns(second, "long")
	startPool(t, second)
	done := waitState(t, s, job.ID, storage.JobCompleted)
	assert.Equal(t, 1, done.Attempt)
	requireEachRanOnce(t, runs, []int64{job.ID})
}

func TestPoolShutdownLetsAShortJobFinish(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{ShutdownTimeout: waitFor}))
	started := make(chan struct{}, 1)
	var ctxErr atomic.Value
	pool.Handle("short", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		time.Sleep(100 * time.Millisecond)
		ctxErr.Store(fmt.Sprint(ctx.Err()))
		return nil
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "short"})
	stop := startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	stop()
	// Run writes every outcome before it returns.
	done := getJob(t, s, job.ID)
	assert.Equal(t, storage.JobCompleted, done.State)
	assert.Equal(t, 1, done.Attempt)
	assert.Equal(t, "<nil>", ctxErr.Load(), "the job's context was cancelled during the grace period")
}

// TestPoolShutdownCompletesAJobThatSucceedsAfterCancellation checks that a
// handler that returns nil is completed even when the shutdown timeout
// cancelled its context: its work is done and must not run again.
func TestPoolShutdownCompletesAJobThatSucceedsAfterCancellation(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{ShutdownTimeout: 50 * time.Millisecond}))
	started := make(chan struct{}, 1)
	pool.Handle("stubborn", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		return nil // Finishes its work despite the cancellation.
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "stubborn"})
	stop := startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	stop()
	done := getJob(t, s, job.ID)
	assert.Equal(t, storage.JobCompleted, done.State)
	assert.Equal(t, 1, done.Attempt)
}

func TestPoolRescuesAnAbandonedJob(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "count"})
	claimed, err := s.JobClaim(context.Background(), &storage.JobClaimParams{
		Queue: storage.DefaultQueue, Worker: "crashed", Limit: 1, Lease: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, job.ID, claimed[0].ID)

	// Only the rescuer's wake-up can bring the job back before the hourly
	// poll.
	pool := worker.New(s, config(t, worker.Config{
		RescueInterval: 50 * time.Millisecond, PollInterval: time.Hour,
	}))
	runs := countRuns(pool, "count")
	startPool(t, pool)

	done := waitState(t, s, job.ID, storage.JobCompleted)
	assert.Equal(t, 2, done.Attempt)
	require.Len(t, done.Errors, 1)
	assert.Contains(t, done.Errors[0].Error, "lease expired")
	requireEachRanOnce(t, runs, []int64{job.ID})
}

// TestPoolCannotOverwriteAJobAfterLosingItsLease lets a lease expire under a
// pool that never heartbeats; the job is rescued and claimed again by
// someone else, and the first pool's late outcome must be fenced off.
func TestPoolCannotOverwriteAJobAfterLosingItsLease(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{
		Workers:           1, // Its only slot stays busy, so it cannot claim the job again.
		Lease:             300 * time.Millisecond,
		HeartbeatInterval: time.Hour,
		RescueInterval:    time.Hour,
		PollInterval:      time.Hour,
	}))
	started := make(chan *storage.Job, 1)
	release := make(chan struct{})
	pool.Handle("slow", func(_ context.Context, job *storage.Job) error {
		started <- job
		select {
		case <-release:
		case <-time.After(waitFor):
		}
		return nil
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "slow"})
	stop := startPool(t, pool)
	var first *storage.Job
	select {
	case first = <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	ctx := context.Background()
	require.Eventually(t, func() bool {
		n, err := s.JobRescue(ctx, 10)
		return err == nil && n == 1
	}, waitFor, 20*time.Millisecond, "the lease never expired")
	reclaimed, err := s.JobClaim(ctx, &storage.JobClaimParams{
		Queue: storage.DefaultQueue, Worker: "intruder", Limit: 1, Lease: time.Hour,
	})
	require.NoError(t, err)
	require.Len(t, reclaimed, 1)
	require.Equal(t, job.ID, reclaimed[0].ID)
	require.NotEqual(t, first.LeaseToken, reclaimed[0].LeaseToken)

	close(release)
	stop() // Run writes (or tries to write) every outcome before it returns.

	after := getJob(t, s, job.ID)
	assert.Equal(t, storage.JobRunning, after.State, "the stale outcome was written")
	assert.Equal(t, reclaimed[0].LeaseToken, after.LeaseToken)
	assert.Equal(t, "intruder", after.LeaseOwner)
	assert.Equal(t, 2, after.Attempt)
	assert.Nil(t, after.FinishedAt)
}

// TestPoolCancelsAJobWhoseLeaseItLost takes a job from under a pool whose
// heartbeats work, and checks that the next heartbeat cancels the handler
// with ErrJobLeaseLost and that its outcome is dropped.
func TestPoolCancelsAJobWhoseLeaseItLost(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{
		Workers:           1,
		HeartbeatInterval: 50 * time.Millisecond,
		RescueInterval:    time.Hour,
		PollInterval:      time.Hour,
	}))
	started := make(chan *storage.Job, 1)
	causes := make(chan error, 1)
	pool.Handle("long", func(ctx context.Context, job *storage.Job) error {
		started <- job
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil // Would complete the job, were the outcome not dropped.
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	stop := startPool(t, pool)
	var first *storage.Job
	select {
	case first = <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	// Another worker takes the job over: it is handed back, as a rescue
	// would, and claimed again.
	ctx := context.Background()
	released, err := s.JobRelease(ctx, []storage.JobRef{{ID: job.ID, Token: first.LeaseToken}})
	require.NoError(t, err)
	require.Equal(t, []int64{job.ID}, released)
	reclaimed, err := s.JobClaim(ctx, &storage.JobClaimParams{
		Queue: storage.DefaultQueue, Worker: "intruder", Limit: 1, Lease: time.Hour,
	})
	require.NoError(t, err)
	require.Len(t, reclaimed, 1)

	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobLeaseLost)
	case <-time.After(waitFor):
		t.Fatal("the handler's context was never cancelled")
	}
	stop()
	after := getJob(t, s, job.ID)
	assert.Equal(t, storage.JobRunning, after.State)
	assert.Equal(t, reclaimed[0].LeaseToken, after.LeaseToken)
}

// TestPoolCancelsAJobWhoseLeaseRunsOutUnrenewed fails every heartbeat, as a
// store outage or a silently dropped connection would, and checks that the
// pool stops the handler itself once the lease has run out, without anyone
// else taking the job, and writes nothing for it.
func TestPoolCancelsAJobWhoseLeaseRunsOutUnrenewed(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	blocker := &extendBlocker{Store: s}
	blocker.blocked.Store(true)
	pool := worker.New(blocker, config(t, worker.Config{
		Workers:           1,
		Lease:             300 * time.Millisecond,
		HeartbeatInterval: 50 * time.Millisecond,
		RescueInterval:    time.Hour,
		PollInterval:      time.Hour,
	}))
	started := make(chan *storage.Job, 1)
	causes := make(chan error, 1)
	pool.Handle("long", func(ctx context.Context, job *storage.Job) error {
		started <- job
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil // Would complete the job, were the outcome not dropped.
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	stop := startPool(t, pool)
	var first *storage.Job
	select {
	case first = <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobLeaseLost)
	case <-time.After(waitFor):
		t.Fatal("the handler's context was never cancelled")
	}
	stop()
	after := getJob(t, s, job.ID)
	assert.Equal(t, storage.JobRunning, after.State, "the outcome of a job whose lease ran out was written")
	assert.Equal(t, first.LeaseToken, after.LeaseToken)
	assert.Nil(t, after.FinishedAt)
}

// TestPoolCancelsTheOlderHandlerWhenItClaimsAJobAgain hands a running job
// back behind the pool's back, so that the same pool claims it again while
// its first handler still runs: the first handler must be cancelled with
// ErrJobLeaseLost, not orphaned, and the second run completes the job.
func TestPoolCancelsTheOlderHandlerWhenItClaimsAJobAgain(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{
		Workers:           2,
		HeartbeatInterval: time.Hour,
		RescueInterval:    time.Hour,
	}))
	var runs atomic.Int64
	started := make(chan *storage.Job, 1)
	causes := make(chan error, 1)
	pool.Handle("again", func(ctx context.Context, job *storage.Job) error {
		if runs.Add(1) > 1 {
			return nil
		}
		started <- job
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return nil
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "again"})
	startPool(t, pool)
	var first *storage.Job
	select {
	case first = <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	released, err := s.JobRelease(context.Background(), []storage.JobRef{{ID: job.ID, Token: first.LeaseToken}})
	require.NoError(t, err)
	require.Equal(t, []int64{job.ID}, released)
	pool.Wake()

	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobLeaseLost)
	case <-time.After(waitFor):
		t.Fatal("the first handler was never cancelled")
	}
	done := waitState(t, s, job.ID, storage.JobCompleted)
	assert.NotEqual(t, first.LeaseToken, done.LeaseToken)
	assert.EqualValues(t, 2, runs.Load())
}

// TestPoolCheckCancelsStopsACancelledJobAtOnce runs a pool whose heartbeat
// comes once an hour: only CheckCancels can make it notice the cancel.
func TestPoolCheckCancelsStopsACancelledJobAtOnce(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{HeartbeatInterval: time.Hour}))
	started := make(chan struct{}, 1)
	causes := make(chan error, 1)
	pool.Handle("long", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return context.Cause(ctx)
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	cancelled, err := s.JobCancel(context.Background(), job.ID)
	require.NoError(t, err)
	require.True(t, cancelled.CancelRequested)
	pool.CheckCancels()

	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobCancelled)
	case <-time.After(waitFor):
		t.Fatal("the handler's context was not cancelled before the next heartbeat")
	}
	waitState(t, s, job.ID, storage.JobCancelled)
}

// TestPoolCheckCancelsHearsACancelOnAnotherNodePostgres cancels a job
// through another connection pool, as another node's API would: the
// listener's cancel notification must reach the worker, whose heartbeat
// comes once an hour.
func TestPoolCheckCancelsHearsACancelOnAnotherNodePostgres(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	s := openPostgres(t, url)
	other := openPostgres(t, url)
	pool := worker.New(s, config(t, worker.Config{HeartbeatInterval: time.Hour}))
	started := make(chan struct{}, 1)
	causes := make(chan error, 1)
	pool.Handle("long", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		causes <- context.Cause(ctx)
		return context.Cause(ctx)
	})
	var checks atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		s.Listen(ctx, pool.Wake, func() { checks.Add(1); pool.CheckCancels() })
	}()
	t.Cleanup(func() { cancel(); <-listening })
	// The listener checks once when it connects.
	require.Eventually(t, func() bool { return checks.Load() >= 1 }, waitFor, tick, "the listener never connected")
	job := enqueueOne(t, other, storage.JobEnqueueParams{Kind: "long"})
	startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}

	_, err := other.JobCancel(context.Background(), job.ID)
	require.NoError(t, err)
	select {
	case cause := <-causes:
		assert.ErrorIs(t, cause, worker.ErrJobCancelled)
	case <-time.After(waitFor):
		t.Fatal("the handler's context was not cancelled before the next heartbeat")
	}
	waitState(t, s, job.ID, storage.JobCancelled)
}

func TestPoolWakeClaimsAtOnce(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	cs := &countingStore{Store: s}
	pool := worker.New(cs, config(t, worker.Config{PollInterval: time.Hour}))
	runs := countRuns(pool, "count")
	startPool(t, pool)
	// The first claim finds nothing; the loop then sleeps for an hour.
	require.Eventually(t, func() bool { return cs.claims.Load() >= 1 }, waitFor, tick)

	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "count"})
	pool.Wake()
	waitState(t, s, job.ID, storage.JobCompleted)
	requireEachRanOnce(t, runs, []int64{job.ID})
}

// TestPoolLeaksNoGoroutines runs jobs, including one cut short by the
// shutdown timeout, and checks that Run leaves no goroutine behind. It does
// not run in parallel, so other tests do not move the count.
func TestPoolLeaksNoGoroutines(t *testing.T) {
	s := openSQLite(t)
	require.NoError(t, s.Ping(context.Background()))
	baseline := runtime.NumGoroutine()

	pool := worker.New(s, config(t, worker.Config{
		Workers:           4,
		HeartbeatInterval: 10 * time.Millisecond,
		RescueInterval:    10 * time.Millisecond,
		PruneInterval:     10 * time.Millisecond,
		ShutdownTimeout:   50 * time.Millisecond,
	}))
	runs := countRuns(pool, "count")
	started := make(chan struct{}, 1)
	pool.Handle("long", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	})
	ids := enqueue(t, s, "count", 50)
	long := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	stop := startPool(t, pool)
	waitCompleted(t, s, 50, waitFor)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the long job never started")
	}
	stop()
	requireEachRanOnce(t, runs, ids)
	assert.Equal(t, storage.JobAvailable, getJob(t, s, long.ID).State)

	const slack = 2
	var n int
	if !assert.Eventually(t, func() bool {
		n = runtime.NumGoroutine()
		return n <= baseline+slack
	}, waitFor, 10*time.Millisecond) {
		buf := make([]byte, 1<<20)
		t.Logf("%d goroutines, baseline %d:\n%s", n, baseline, buf[:runtime.Stack(buf, true)])
	}
}
