package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// retentionCases cover a plan's own retention and ExecutionPrune. Ages
// are measured from ExecutionPruneParams.Now, set hours ahead, so no case
// waits for real time to pass.
func retentionCases() []testCase {
	return []testCase{
		{"PlanRetentionRoundTrips", testPlanRetentionRoundTrip},
		{"PrunesOnlyFinalExecutionsPastRetention", testPruneOnlyFinalAndOld},
		{"NeverPrunesUnfinishedExecutions", testPruneNeverUnfinished},
		{"KeepsTheNewestExecutionsOfEachPlan", testPruneKeepsNewest},
		{"PlanRetentionOverridesTheDefault", testPrunePlanRetention},
		{"ConcurrentPrunesDeleteEachExecutionOnce", testPruneConcurrent},
		{"PruneRejectsOutOfRangeParams", testPruneInvalid},
	}
}

func durationPtr(d time.Duration) *time.Duration { return &d }

// createPlanRetaining creates a plan with its own retention (nil for the
// default).
func createPlanRetaining(t *testing.T, ctx context.Context, s storage.Store, name string, retention *time.Duration) *storage.Plan {
	t.Helper()
	params := planParams(name)
	params.Retention = retention
	p, err := s.PlanCreate(ctx, params)
	require.NoError(t, err, "create plan %q", name)
	return p
}

// finishedExecutions creates n executions of plan and finishes them
// passed, oldest first.
func finishedExecutions(t *testing.T, ctx context.Context, s storage.Store, plan *storage.Plan, n int) []uuid.UUID {
	t.Helper()
	ids := make([]uuid.UUID, 0, n)
	for range n {
		e := createExecution(t, ctx, s, plan, "")
		setStatus(t, ctx, s, e.ID, storage.ExecutionRunning)
		setStatus(t, ctx, s, e.ID, storage.ExecutionPassed)
		ids = append(ids, e.ID)
	}
	return ids
}

// prune runs one ExecutionPrune as of now+ahead.
func prune(t *testing.T, ctx context.Context, s storage.Store, ahead time.Duration, p storage.ExecutionPruneParams) int64 {
	t.Helper()
	p.Now = time.Now().Add(ahead)
	n, err := s.ExecutionPrune(ctx, &p)
	require.NoError(t, err)
	return n
}

// assertGone checks which of ids were deleted.
func assertGone(t *testing.T, ctx context.Context, s storage.Store, ids []uuid.UUID, gone bool) {
	t.Helper()
	for _, id := range ids {
		_, err := s.ExecutionGetByID(ctx, id)
		if gone {
			assert.ErrorIs(t, err, storage.ErrNotFound, "execution %s should be pruned", id)
		} else {
			assert.NoError(t, err, "execution %s should be kept", id)
		}
	}
}

func testPlanRetentionRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	none := createPlanRetaining(t, ctx, s, "default", nil)
	assert.Nil(t, none.Retention, "no retention means the server's default")
	forever := createPlanRetaining(t, ctx, s, "forever", durationPtr(0))
	require.NotNil(t, forever.Retention)
	assert.Zero(t, *forever.Retention, "zero keeps forever and is not the default")
	p := createPlanRetaining(t, ctx, s, "two-weeks", durationPtr(14*24*time.Hour+time.Millisecond))
	require.NotNil(t, p.Retention)
	assert.Equal(t, 14*24*time.Hour+time.Second, *p.Retention, "stored in whole seconds, rounded up")

	got, err := s.PlanGetByID(ctx, p.ID)
	require.NoError(t, err)
	assert.Equal(t, p.Retention, got.Retention)

	updated, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID: p.ID, ExpectedRevision: p.Revision, Name: p.Name, Document: p.Document, Retention: nil,
	})
	require.NoError(t, err)
	assert.Nil(t, updated.Retention, "an update without retention goes back to the default")
	updated, err = s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID: p.ID, ExpectedRevision: updated.Revision, Name: p.Name, Document: p.Document, Retention: durationPtr(time.Hour),
	})
	require.NoError(t, err)
	assert.Equal(t, time.Hour, *updated.Retention)

	_, err = s.PlanCreate(ctx, &storage.PlanCreateParams{
		Name: "negative", Document: p.Document, Retention: durationPtr(-time.Second),
	})
	assert.ErrorIs(t, err, storage.ErrInvalidInput)
}

func testPruneOnlyFinalAndOld(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "p")
	var old []uuid.UUID
	for _, final := range []storage.ExecutionStatus{
		storage.ExecutionPassed, storage.ExecutionFailed, storage.ExecutionError, storage.ExecutionCancelled,
	} {
		e := createExecution(t, ctx, s, plan, "")
		setStatus(t, ctx, s, e.ID, storage.ExecutionRunning)
		setStatus(t, ctx, s, e.ID, final)
		old = append(old, e.ID)
	}
	cancelledWhileQueued := createExecution(t, ctx, s, plan, "")
	setStatus(t, ctx, s, cancelledWhileQueued.ID, storage.ExecutionCancelled)
	old = append(old, cancelledWhileQueued.ID)
	queued := createExecution(t, ctx, s, plan, "")
	running := createExecution(t, ctx, s, plan, "")
	setStatus(t, ctx, s, running.ID, storage.ExecutionRunning)
	newest := finishedExecutions(t, ctx, s, plan, 1)

	params := storage.ExecutionPruneParams{DefaultRetention: time.Hour, KeepNewest: 1}
	assert.Zero(t, prune(t, ctx, s, 0, params), "nothing finished an hour ago")
	assert.Zero(t, prune(t, ctx, s, 30*time.Minute, params), "nothing finished an hour before now+30m")
	assert.Zero(t, prune(t, ctx, s, 2*time.Hour, storage.ExecutionPruneParams{KeepNewest: 1}),
		"a zero default retention keeps everything")

	params.Limit = 3
	assert.Equal(t, int64(3), prune(t, ctx, s, 2*time.Hour, params), "prune honours its limit")
	params.Limit = 0
	assert.Equal(t, int64(2), prune(t, ctx, s, 2*time.Hour, params))
	assert.Zero(t, prune(t, ctx, s, 2*time.Hour, params), "nothing left to prune")

	assertGone(t, ctx, s, old, true)
	assertGone(t, ctx, s, []uuid.UUID{queued.ID, running.ID}, false)
	assertGone(t, ctx, s, newest, false)
}

func testPruneNeverUnfinished(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "p")
	var ids []uuid.UUID
	for i := range 6 {
		e := createExecution(t, ctx, s, plan, "")
		if i%2 == 1 {
			setStatus(t, ctx, s, e.ID, storage.ExecutionRunning)
		}
		ids = append(ids, e.ID)
	}
	n := prune(t, ctx, s, 1000*time.Hour, storage.ExecutionPruneParams{DefaultRetention: time.Hour, KeepNewest: 1})
	assert.Zero(t, n, "queued and running executions are never pruned, however old")
	assertGone(t, ctx, s, ids, false)
}

func testPruneKeepsNewest(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	busy := createPlan(t, ctx, s, "busy")
	quiet := createPlan(t, ctx, s, "quiet")
	busyIDs := finishedExecutions(t, ctx, s, busy, storage.DefaultKeepNewest+5)
	quietIDs := finishedExecutions(t, ctx, s, quiet, 3)

	// KeepNewest left at zero means DefaultKeepNewest (100).
	params := storage.ExecutionPruneParams{DefaultRetention: time.Hour}
	assert.Equal(t, int64(5), prune(t, ctx, s, 2*time.Hour, params), "all are old, but each plan keeps its newest 100")
	assert.Zero(t, prune(t, ctx, s, 2*time.Hour, params))
	assertGone(t, ctx, s, busyIDs[:5], true)
	assertGone(t, ctx, s, quietIDs, false)

	kept := listExecutionIDs(t, ctx, s, storage.ExecutionListParams{PlanID: busy.ID})
	assert.Len(t, kept, storage.DefaultKeepNewest)
	assert.ElementsMatch(t, busyIDs[5:], kept, "the newest by creation are the ones kept")
}

func testPrunePlanRetention(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	short := createPlanRetaining(t, ctx, s, "short", durationPtr(30*time.Minute))
	dflt := createPlanRetaining(t, ctx, s, "default", nil)
	long := createPlanRetaining(t, ctx, s, "long", durationPtr(3*time.Hour))
	forever := createPlanRetaining(t, ctx, s, "forever", durationPtr(0))
	ids := map[uuid.UUID][]uuid.UUID{}
	for _, p := range []*storage.Plan{short, dflt, long, forever} {
		ids[p.ID] = finishedExecutions(t, ctx, s, p, 2)
	}
	params := storage.ExecutionPruneParams{DefaultRetention: time.Hour, KeepNewest: 1}

	assert.Equal(t, int64(1), prune(t, ctx, s, 45*time.Minute, params), "only the 30m plan is past its retention")
	assertGone(t, ctx, s, ids[short.ID][:1], true)
	assertGone(t, ctx, s, ids[dflt.ID], false)

	assert.Equal(t, int64(1), prune(t, ctx, s, 2*time.Hour, params), "then the plan on the 1h default")
	assertGone(t, ctx, s, ids[dflt.ID][:1], true)
	assertGone(t, ctx, s, ids[long.ID], false)

	assert.Equal(t, int64(1), prune(t, ctx, s, 4*time.Hour, params), "then the 3h plan")
	assertGone(t, ctx, s, ids[long.ID][:1], true)

	assert.Zero(t, prune(t, ctx, s, 10000*time.Hour, params), "a plan retention of zero keeps forever")
	assertGone(t, ctx, s, ids[forever.ID], false)
	for _, p := range []*storage.Plan{short, dflt, long} {
		assertGone(t, ctx, s, ids[p.ID][1:], false)
	}
}

func testPruneConcurrent(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const plans, each = 3, 20
	for i := range plans {
		finishedExecutions(t, ctx, s, createPlan(t, ctx, s, string(rune('a'+i))), each)
	}
	params := storage.ExecutionPruneParams{DefaultRetention: time.Hour, KeepNewest: 1, Limit: 4, Now: time.Now().Add(2 * time.Hour)}

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
	)
	for range 2 {
		wg.Go(func() {
			for {
				p := params
				n, err := s.ExecutionPrune(ctx, &p)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				total += n
				mu.Unlock()
				if n == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	// A pruner that found every candidate locked by the other stops early;
	// one more call picks up whatever is left.
	rest, err := s.ExecutionPrune(ctx, &params)
	require.NoError(t, err)
	assert.Equal(t, int64(plans*(each-1)), total+rest, "each execution is deleted and counted once")
	left := listExecutionIDs(t, ctx, s, storage.ExecutionListParams{})
	assert.Len(t, left, plans, "each plan keeps its newest")
}

func testPruneInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for name, p := range map[string]storage.ExecutionPruneParams{
		"NegativeRetention": {DefaultRetention: -time.Second},
		"NegativeKeep":      {KeepNewest: -1},
		"NegativeLimit":     {Limit: -1},
		"LimitTooLarge":     {Limit: 10001},
	} {
		_, err := s.ExecutionPrune(ctx, &p)
		assert.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
}
