package schedule

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

type fixture struct {
	store storage.Store
	clock *fakeClock
	sched *Scheduler
	plan  *storage.Plan
	woken int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	st, err := sqlitestore.Open(t.Context(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	p, err := st.PlanCreate(t.Context(), &storage.PlanCreateParams{
		Name: "p", Document: json.RawMessage(`{"version":1,"variables":{"v":"x"},"steps":[]}`),
	})
	require.NoError(t, err)
	f := &fixture{store: st, clock: &fakeClock{t: t0}, plan: p}
	f.sched = &Scheduler{Store: st, NowFunc: f.clock.Now, WakeFunc: func() { f.woken++ }}
	return f
}

// schedule creates a schedule of the fixture's plan, due at its next tick
// after the clock.
func (f *fixture) schedule(t *testing.T, cron string, overlap storage.ScheduleOverlap) *storage.Schedule {
	t.Helper()
	spec, err := Parse(cron, "UTC")
	require.NoError(t, err)
	sc, err := f.store.ScheduleCreate(t.Context(), &storage.ScheduleCreateParams{
		PlanID: f.plan.ID, Cron: cron, Overlap: overlap, Variables: map[string]string{"v": "y"},
		Environment: "staging", Queue: "eu", NextRunAt: spec.Next(f.clock.Now()),
	})
	require.NoError(t, err)
	return sc
}

func (f *fixture) tick(t *testing.T) TickResult {
	t.Helper()
	r, err := f.sched.Tick(t.Context())
	require.NoError(t, err)
	return r
}

func (f *fixture) executions(t *testing.T, id uuid.UUID) []*storage.Execution {
	t.Helper()
	page, err := f.store.ExecutionList(t.Context(), &storage.ExecutionListParams{ScheduleID: id, Limit: storage.MaxPageLimit})
	require.NoError(t, err)
	return page.Executions
}

func (f *fixture) finish(t *testing.T, id uuid.UUID) {
	t.Helper()
	_, err := f.store.ExecutionSetStatus(t.Context(), &storage.ExecutionSetStatusParams{ID: id, Status: storage.ExecutionCancelled})
	require.NoError(t, err)
}

func TestTickFiresOneExecutionPerTick(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sc := f.schedule(t, "*/5 * * * *", storage.OverlapAllow)

	assert.Equal(t, TickResult{}, f.tick(t), "nothing is due before the first tick")
	f.clock.Set(t0.Add(5 * time.Minute))
	assert.Equal(t, TickResult{Fired: 1}, f.tick(t))
	assert.Equal(t, TickResult{}, f.tick(t), "a tick fires once")
	f.clock.Set(t0.Add(10*time.Minute + 3*time.Second))
	assert.Equal(t, TickResult{Fired: 1}, f.tick(t))
	assert.Equal(t, 2, f.woken)

	execs := f.executions(t, sc.ID)
	require.Len(t, execs, 2)
	e := execs[1] // Oldest first.
	assert.Equal(t, storage.TriggerSchedule, e.Trigger)
	assert.Equal(t, sc.ID, e.ScheduleID)
	assert.Equal(t, map[string]string{"v": "y"}, e.Variables)
	assert.Equal(t, "staging", e.Environment)
	assert.Equal(t, "eu", e.Queue)
	assert.Equal(t, f.plan.Revision, e.PlanRevision)
	assert.Equal(t, TickKey(sc.ID, t0.Add(5*time.Minute)), e.IdempotencyKey)
	assert.Equal(t, TickKey(sc.ID, t0.Add(10*time.Minute)), execs[0].IdempotencyKey)

	job, err := f.store.JobGetByUniqueKey(t.Context(), storage.ExecutionJobKey(e.ID))
	require.NoError(t, err)
	assert.Equal(t, "eu", job.Queue)
	assert.Equal(t, planjob.Kind, job.Kind)

	got, err := f.store.ScheduleGetByID(t.Context(), sc.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(15*time.Minute), got.NextRunAt)
	require.NotNil(t, got.LastRunAt)
	assert.Equal(t, t0.Add(10*time.Minute), *got.LastRunAt)
	assert.Equal(t, execs[0].ID, got.LastExecutionID)
}

func TestTickMissedTicksCollapseToOne(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sc := f.schedule(t, "* * * * *", storage.OverlapAllow)
	// Every node was down for an hour and a half.
	f.clock.Set(t0.Add(90*time.Minute + 30*time.Second))
	assert.Equal(t, TickResult{Fired: 1}, f.tick(t))
	assert.Equal(t, TickResult{}, f.tick(t))
	assert.Len(t, f.executions(t, sc.ID), 1)
	got, err := f.store.ScheduleGetByID(t.Context(), sc.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(91*time.Minute), got.NextRunAt, "the next tick is the first after now")
}

func TestTickOverlapSkipWaitsForThePreviousExecution(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	skip := f.schedule(t, "@every 1m", storage.OverlapSkip)
	allow := f.schedule(t, "@every 1m", storage.OverlapAllow)

	f.clock.Set(t0.Add(time.Minute))
	assert.Equal(t, TickResult{Fired: 2}, f.tick(t))
	f.clock.Set(t0.Add(2 * time.Minute))
	assert.Equal(t, TickResult{Fired: 1, Skipped: 1}, f.tick(t), "the skip schedule's execution is still queued")
	got, err := f.store.ScheduleGetByID(t.Context(), skip.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(3*time.Minute), got.NextRunAt, "a skipped tick still advances")
	assert.Equal(t, t0.Add(time.Minute), *got.LastRunAt, "a skipped tick is not a run")

	f.finish(t, got.LastExecutionID)
	f.clock.Set(t0.Add(3 * time.Minute))
	assert.Equal(t, TickResult{Fired: 2}, f.tick(t))
	assert.Len(t, f.executions(t, skip.ID), 2)
	assert.Len(t, f.executions(t, allow.ID), 3)
}

func TestTickIgnoresPausedSchedules(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sc := f.schedule(t, "@every 1m", storage.OverlapAllow)
	_, err := f.store.ScheduleSetPaused(t.Context(), &storage.ScheduleSetPausedParams{ID: sc.ID, Paused: true})
	require.NoError(t, err)
	f.clock.Set(t0.Add(time.Hour))
	assert.Equal(t, TickResult{}, f.tick(t))
	assert.Empty(t, f.executions(t, sc.ID))
}

func TestTickWorksThroughMoreThanOneBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.sched.Batch = 3
	for range 10 {
		f.schedule(t, "@every 1m", storage.OverlapAllow)
	}
	f.clock.Set(t0.Add(time.Minute))
	assert.Equal(t, TickResult{Fired: 10}, f.tick(t))
	page, err := f.store.JobList(t.Context(), &storage.JobListParams{Limit: 50})
	require.NoError(t, err)
	assert.Len(t, page.Jobs, 10)
}

// TestConcurrentSchedulersFireEachTickOnce runs several schedulers on one
// store, as several nodes would, each tick of the fake clock.
func TestConcurrentSchedulersFireEachTickOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const schedules, nodes, ticks = 20, 4, 5
	for range schedules {
		f.schedule(t, "@every 1m", storage.OverlapAllow)
	}
	for i := range ticks {
		f.clock.Set(t0.Add(time.Duration(i+1) * time.Minute))
		var wg sync.WaitGroup
		for range nodes {
			s := &Scheduler{Store: f.store, NowFunc: f.clock.Now, Batch: 3}
			wg.Go(func() {
				_, err := s.Tick(context.Background())
				assert.NoError(t, err)
			})
		}
		wg.Wait()
	}
	page, err := f.store.ExecutionList(t.Context(), &storage.ExecutionListParams{Trigger: storage.TriggerSchedule, Limit: storage.MaxPageLimit})
	require.NoError(t, err)
	assert.Len(t, page.Executions, schedules*ticks)
	keys := map[string]bool{}
	for _, e := range page.Executions {
		assert.False(t, keys[e.IdempotencyKey], "tick %s fired twice", e.IdempotencyKey)
		keys[e.IdempotencyKey] = true
	}
}

// TestTickTreatsATakenTickKeyAsFired checks that an execution that already
// holds a tick's idempotency key (here planted through the API's
// Idempotency-Key) makes that tick count as fired: the schedule advances
// and the other schedules of the batch fire, where one conflict used to
// fail the batch on every look, for good.
func TestTickTreatsATakenTickKeyAsFired(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	taken := f.schedule(t, "@every 1m", storage.OverlapAllow)
	free := f.schedule(t, "@every 1m", storage.OverlapAllow)
	planted, err := f.store.ExecutionCreate(t.Context(), &storage.ExecutionCreateParams{
		PlanID: f.plan.ID, PlanRevision: f.plan.Revision, IdempotencyKey: TickKey(taken.ID, taken.NextRunAt),
	})
	require.NoError(t, err)
	// The planted execution has a job, as every queued execution must.
	_, err = f.store.JobEnqueue(t.Context(), planjob.EnqueueParams(planted))
	require.NoError(t, err)

	f.clock.Set(t0.Add(time.Minute))
	assert.Equal(t, TickResult{Fired: 1, Existing: 1}, f.tick(t))
	assert.Empty(t, f.executions(t, taken.ID), "no second execution for the taken tick")
	assert.Len(t, f.executions(t, free.ID), 1)

	got, err := f.store.ScheduleGetByID(t.Context(), taken.ID)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(2*time.Minute), got.NextRunAt, "the taken tick still advances")
	assert.Nil(t, got.LastRunAt, "this scheduler did not run it")

	f.clock.Set(t0.Add(2 * time.Minute))
	assert.Equal(t, TickResult{Fired: 2}, f.tick(t))
	assert.Len(t, f.executions(t, taken.ID), 1)
}

// TestTickBacksOffASchedulesThatDoesNotParse stores schedules whose time
// zone or cron no longer parse, as on a node that lacks a zone: they are
// put off by Backoff (not by a year) and logged, and a good schedule due
// in the same batch still fires.
func TestTickBacksOffASchedulesThatDoesNotParse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var logs bytes.Buffer
	f.sched.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	good := f.schedule(t, "*/5 * * * *", storage.OverlapAllow)
	var bad []*storage.Schedule
	for _, p := range []struct{ cron, tz string }{{"*/5 * * * *", "Mars/Olympus_Mons"}, {"not a cron", "UTC"}} {
		sc, err := f.store.ScheduleCreate(t.Context(), &storage.ScheduleCreateParams{
			PlanID: f.plan.ID, Cron: p.cron, Timezone: p.tz, NextRunAt: t0.Add(5 * time.Minute),
		})
		require.NoError(t, err)
		bad = append(bad, sc)
	}

	now := t0.Add(5 * time.Minute)
	f.clock.Set(now)
	assert.Equal(t, TickResult{Fired: 1}, f.tick(t), "the good schedule fires; the bad ones do not")
	assert.Len(t, f.executions(t, good.ID), 1)
	for _, sc := range bad {
		got, err := f.store.ScheduleGetByID(t.Context(), sc.ID)
		require.NoError(t, err)
		assert.Equal(t, now.Add(DefaultBackoff), got.NextRunAt, "put off by the backoff, not a year")
		assert.Empty(t, f.executions(t, sc.ID))
		assert.Contains(t, logs.String(), sc.ID.String(), "the warning names the schedule")
	}
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "Mars/Olympus_Mons")
}

// failingExecutions is a store whose ExecutionCreateMany fails whenever it
// is asked to create an execution of the schedule bad, as a row that
// fails the same way every time would.
type failingExecutions struct {
	storage.Store
	bad uuid.UUID
}

func (f *failingExecutions) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	return f.Store.InTx(ctx, func(tx storage.Store) error { return fn(&failingExecutions{Store: tx, bad: f.bad}) })
}

func (f *failingExecutions) ExecutionCreateMany(ctx context.Context, ps []*storage.ExecutionCreateParams) ([]*storage.Execution, error) {
	for _, p := range ps {
		if p.ScheduleID == f.bad {
			return nil, fmt.Errorf("create executions: %w: refused", storage.ErrInvalidInput)
		}
	}
	return f.Store.ExecutionCreateMany(ctx, ps)
}

// TestTickIsolatesAScheduleThatFailsItsBatch has one schedule whose
// execution the store refuses every time: it is put off by the backoff,
// and the other schedules of its batch, before and after it, still fire.
func TestTickIsolatesAScheduleThatFailsItsBatch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.schedule(t, "*/5 * * * *", storage.OverlapAllow)
	bad := f.schedule(t, "*/5 * * * *", storage.OverlapAllow)
	last := f.schedule(t, "*/5 * * * *", storage.OverlapAllow)
	f.sched.Store = &failingExecutions{Store: f.store, bad: bad.ID}
	f.sched.Batch = 10

	now := t0.Add(5 * time.Minute)
	f.clock.Set(now)
	assert.Equal(t, TickResult{Fired: 2}, f.tick(t))
	assert.Len(t, f.executions(t, first.ID), 1)
	assert.Len(t, f.executions(t, last.ID), 1)
	assert.Empty(t, f.executions(t, bad.ID))
	got, err := f.store.ScheduleGetByID(t.Context(), bad.ID)
	require.NoError(t, err)
	assert.Equal(t, now.Add(DefaultBackoff), got.NextRunAt)

	// At the next tick the good ones fire again in one batch.
	f.clock.Set(t0.Add(10 * time.Minute))
	assert.Equal(t, TickResult{Fired: 2}, f.tick(t))
}

// TestTickEveryKeepsItsCadenceWhenHandledLate handles each tick of an
// @every schedule 1.5 s late: the next tick follows the one just fired,
// not the moment it was handled.
func TestTickEveryKeepsItsCadenceWhenHandledLate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	sc := f.schedule(t, "@every 10s", storage.OverlapAllow)
	first := sc.NextRunAt
	for i := range 3 {
		due := first.Add(time.Duration(i) * 10 * time.Second)
		f.clock.Set(due.Add(1500 * time.Millisecond))
		assert.Equal(t, TickResult{Fired: 1}, f.tick(t))
		got, err := f.store.ScheduleGetByID(t.Context(), sc.ID)
		require.NoError(t, err)
		assert.Equal(t, due.Add(10*time.Second), got.NextRunAt, "tick %d", i)
	}
}
