package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// recorder is a worker.Observer that keeps what it is told.
type recorder struct {
	mu       sync.Mutex
	started  []*worker.Pool
	stopped  []*worker.Pool
	claimed  []claimEvent
	finished []finishEvent
	rescued  int64
}

type claimEvent struct {
	queue, kind string
	pickup      time.Duration
}

type finishEvent struct {
	queue, kind string
	outcome     worker.Outcome
	took        time.Duration
}

var _ worker.Observer = (*recorder)(nil)

func (r *recorder) PoolStarted(p *worker.Pool) {
	r.mu.Lock()
	r.started = append(r.started, p)
	r.mu.Unlock()
}

func (r *recorder) PoolStopped(p *worker.Pool) {
	r.mu.Lock()
	r.stopped = append(r.stopped, p)
	r.mu.Unlock()
}

func (r *recorder) JobClaimed(queue, kind string, pickup time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claimed = append(r.claimed, claimEvent{queue, kind, pickup})
}

func (r *recorder) JobFinished(queue, kind string, o worker.Outcome, took time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.finished = append(r.finished, finishEvent{queue, kind, o, took})
}

func (r *recorder) JobsRescued(n int64) { r.mu.Lock(); r.rescued += n; r.mu.Unlock() }

// outcomes returns the outcomes told so far, by kind, as "kind outcome"
// strings in the order told.
func (r *recorder) outcomes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.finished))
	for i, f := range r.finished {
		out[i] = f.kind + " " + f.outcome.String()
	}
	return out
}

// waitOutcomes waits until the observer was told of n outcomes and returns
// them.
func (r *recorder) waitOutcomes(t *testing.T, n int) []string {
	t.Helper()
	require.Eventually(t, func() bool { return len(r.outcomes()) >= n }, waitFor, tick,
		"the observer was told of fewer than %d outcomes", n)
	return r.outcomes()
}

func TestPoolTellsTheObserverOfClaimsAndOutcomes(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := &recorder{}
	pool := worker.New(s, config(t, worker.Config{
		Queue:    "observed",
		Observer: rec,
		Retry:    storage.RetryPolicy{Base: time.Millisecond, Max: time.Millisecond},
	}))
	pool.Handle("ok", func(context.Context, *storage.Job) error {
		time.Sleep(20 * time.Millisecond)
		return nil
	})
	pool.Handle("flaky", func(context.Context, *storage.Job) error { return errors.New("boom") })
	pool.Handle("bad", func(context.Context, *storage.Job) error { return fmt.Errorf("%w: bad", worker.ErrDiscard) })
	for _, p := range []storage.JobEnqueueParams{
		{Queue: "observed", Kind: "ok"}, {Queue: "observed", Kind: "ok"},
		{Queue: "observed", Kind: "flaky", MaxAttempts: 2},
		{Queue: "observed", Kind: "bad"},
	} {
		enqueueOne(t, s, p)
	}
	// The jobs wait before any pool runs, so that their pick-up latency has
	// a known floor.
	const waited = 100 * time.Millisecond
	time.Sleep(waited)
	stop := startPool(t, pool)

	got := rec.waitOutcomes(t, 5)
	assert.ElementsMatch(t, []string{"ok completed", "ok completed", "flaky failed", "flaky discarded", "bad discarded"}, got)
	// The retry is told after the failure that caused it.
	assert.Less(t, indexOf(got, "flaky failed"), indexOf(got, "flaky discarded"))
	stop()

	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.Equal(t, []*worker.Pool{pool}, rec.started)
	assert.Equal(t, []*worker.Pool{pool}, rec.stopped)
	require.Len(t, rec.claimed, 5, "one claim per attempt")
	kinds := map[string]int{}
	for _, c := range rec.claimed {
		assert.Equal(t, "observed", c.queue)
		assert.GreaterOrEqual(t, c.pickup, time.Duration(0))
		kinds[c.kind]++
		if c.kind == "ok" {
			assert.GreaterOrEqual(t, c.pickup, waited, "pick-up latency counts from when the job was due")
		}
	}
	assert.Equal(t, map[string]int{"ok": 2, "flaky": 2, "bad": 1}, kinds)
	for _, f := range rec.finished {
		assert.Equal(t, "observed", f.queue)
		if f.kind == "ok" {
			assert.GreaterOrEqual(t, f.took, 20*time.Millisecond, "the handler's duration")
		}
	}
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

func TestPoolBusyCountsWorkersThatHoldAJob(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	pool := worker.New(s, config(t, worker.Config{Workers: 3, Queue: "busy"}))
	assert.Equal(t, "busy", pool.Queue())
	assert.Equal(t, 3, pool.Workers())
	assert.Equal(t, 0, pool.Busy())
	release := make(chan struct{})
	started := make(chan struct{}, 2)
	pool.Handle("hold", func(context.Context, *storage.Job) error {
		started <- struct{}{}
		<-release
		return nil
	})
	enqueueOne(t, s, storage.JobEnqueueParams{Queue: "busy", Kind: "hold"})
	enqueueOne(t, s, storage.JobEnqueueParams{Queue: "busy", Kind: "hold"})
	startPool(t, pool)
	for range 2 {
		select {
		case <-started:
		case <-time.After(waitFor):
			t.Fatal("the jobs never started")
		}
	}
	assert.Equal(t, 2, pool.Busy())
	close(release)
	require.Eventually(t, func() bool { return pool.Busy() == 0 }, waitFor, tick, "the workers never came free")
}

func TestPoolTellsTheObserverOfACancelledJob(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := &recorder{}
	pool := worker.New(s, config(t, worker.Config{Observer: rec, HeartbeatInterval: time.Hour}))
	started := make(chan struct{}, 1)
	pool.Handle("long", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		return context.Cause(ctx)
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	_, err := s.JobCancel(context.Background(), job.ID)
	require.NoError(t, err)
	pool.CheckCancels()
	assert.Equal(t, []string{"long cancelled"}, rec.waitOutcomes(t, 1))
}

func TestPoolTellsTheObserverOfAJobReleasedAtShutdown(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := &recorder{}
	pool := worker.New(s, config(t, worker.Config{Observer: rec, ShutdownTimeout: 50 * time.Millisecond}))
	started := make(chan struct{}, 1)
	pool.Handle("long", func(ctx context.Context, _ *storage.Job) error {
		started <- struct{}{}
		<-ctx.Done()
		return context.Cause(ctx)
	})
	enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	stop := startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	stop() // Run writes every outcome before it returns.
	assert.Equal(t, []string{"long released"}, rec.outcomes())
}

// TestPoolTellsTheObserverOfALostLease takes a job from under a pool, whose
// heartbeat then cancels the handler: its outcome is dropped, and told as
// lease_lost.
func TestPoolTellsTheObserverOfALostLease(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := &recorder{}
	pool := worker.New(s, config(t, worker.Config{
		Observer: rec, Workers: 1, HeartbeatInterval: 50 * time.Millisecond,
		RescueInterval: time.Hour, PollInterval: time.Hour,
	}))
	started := make(chan *storage.Job, 1)
	pool.Handle("long", func(ctx context.Context, job *storage.Job) error {
		started <- job
		<-ctx.Done()
		return nil
	})
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "long"})
	startPool(t, pool)
	var first *storage.Job
	select {
	case first = <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	ctx := context.Background()
	_, err := s.JobRelease(ctx, []storage.JobRef{{ID: job.ID, Token: first.LeaseToken}})
	require.NoError(t, err)
	_, err = s.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "intruder", Limit: 1, Lease: time.Hour})
	require.NoError(t, err)
	assert.Equal(t, []string{"long lease_lost"}, rec.waitOutcomes(t, 1))
}

// TestPoolTellsTheObserverOfAnOutcomeTheStoreFencedOff lets a job's lease
// expire under a pool that never heartbeats, so that its handler's success
// is refused by the store: that is told as lease_lost, not completed.
func TestPoolTellsTheObserverOfAnOutcomeTheStoreFencedOff(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := &recorder{}
	pool := worker.New(s, config(t, worker.Config{
		Observer: rec, Workers: 1, Lease: 300 * time.Millisecond,
		HeartbeatInterval: time.Hour, RescueInterval: time.Hour, PollInterval: time.Hour,
	}))
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	pool.Handle("slow", func(context.Context, *storage.Job) error {
		started <- struct{}{}
		<-release
		return nil
	})
	enqueueOne(t, s, storage.JobEnqueueParams{Kind: "slow"})
	stop := startPool(t, pool)
	select {
	case <-started:
	case <-time.After(waitFor):
		t.Fatal("the job never started")
	}
	ctx := context.Background()
	require.Eventually(t, func() bool {
		n, err := s.JobRescue(ctx, 10)
		return err == nil && n == 1
	}, waitFor, 20*time.Millisecond, "the lease never expired")
	_, err := s.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "intruder", Limit: 1, Lease: time.Hour})
	require.NoError(t, err)
	close(release)
	stop()
	assert.Equal(t, []string{"slow lease_lost"}, rec.outcomes())
}

func TestPoolTellsTheObserverOfRescuedJobs(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	enqueueOne(t, s, storage.JobEnqueueParams{Kind: "count"})
	enqueueOne(t, s, storage.JobEnqueueParams{Kind: "count"})
	claimed, err := s.JobClaim(context.Background(), &storage.JobClaimParams{
		Queue: storage.DefaultQueue, Worker: "crashed", Limit: 2, Lease: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Len(t, claimed, 2)
	rec := &recorder{}
	pool := worker.New(s, config(t, worker.Config{Observer: rec, RescueInterval: 50 * time.Millisecond}))
	countRuns(pool, "count")
	startPool(t, pool)
	assert.Equal(t, []string{"count completed", "count completed"}, rec.waitOutcomes(t, 2))
	rec.mu.Lock()
	defer rec.mu.Unlock()
	assert.EqualValues(t, 2, rec.rescued)
}
