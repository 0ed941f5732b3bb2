package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func overviewCases() []testCase {
	return []testCase{
		{"ListsRecentRunsNewestFirstAndWindowTotals", testOverviewRecentAndTotals},
		{"CapsRecentRunsPerPlan", testOverviewRecentCap},
		{"FailingPlansSinceTheirFirstFailureAfterAPass", testOverviewFailing},
		{"WalksPagesByPlanID", testOverviewPages},
		{"RejectsMalformedCursorsAndWindows", testOverviewInvalid},
		{"OfAnEmptyStore", testOverviewEmpty},
		{"PickupLatencyPerQueueOfTheNewestStartedExecutions", testExecutionPickup},
		{"PickupLatencyReadsOnlyTheNewestExecutions", testExecutionPickupSample},
	}
}

// overview returns one page of the overview, and fails the test on error.
func overview(t *testing.T, ctx context.Context, s storage.Store, p storage.OverviewParams) *storage.Overview {
	t.Helper()
	ov, err := s.Overview(ctx, &p)
	require.NoError(t, err)
	return ov
}

// recentIDs returns the IDs of a plan's recent runs, in order.
func recentIDs(p *storage.PlanOverview) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(p.Recent))
	for _, e := range p.Recent {
		out = append(out, e.ID)
	}
	return out
}

func testOverviewRecentAndTotals(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	since, until := t0, t0.Add(24*time.Hour)
	a := createPlan(t, ctx, s, "overview-a")
	b := createPlan(t, ctx, s, "overview-b")
	idle := createPlan(t, ctx, s, "overview-idle")

	// a: one run before the window, one at its start (in), passed, failed
	// and cancelled runs inside, one at its end (out), one queued.
	before := finishRun(t, ctx, s, a, run{status: storage.ExecutionFailed, at: since.Add(-time.Microsecond), result: resultDoc(10)})
	atStart := finishRun(t, ctx, s, a, run{status: storage.ExecutionPassed, at: since, result: resultDoc(100)})
	failed := finishRun(t, ctx, s, a, run{status: storage.ExecutionFailed, at: since.Add(time.Hour), result: resultDoc(200)})
	errored := finishRun(t, ctx, s, a, run{status: storage.ExecutionError, at: since.Add(2 * time.Hour)})
	cancelled := finishRun(t, ctx, s, a, run{status: storage.ExecutionCancelled, at: since.Add(3 * time.Hour), trigger: storage.TriggerSchedule})
	atEnd := finishRun(t, ctx, s, a, run{status: storage.ExecutionPassed, at: until, result: resultDoc(300), trigger: storage.TriggerCLI})
	queued := createExecution(t, ctx, s, a, "")
	// b: one passed run in the window.
	bPassed := finishRun(t, ctx, s, b, run{status: storage.ExecutionPassed, at: since.Add(time.Minute), result: resultDoc(50)})

	ov := overview(t, ctx, s, storage.OverviewParams{Since: since, Until: until})
	assert.Empty(t, ov.NextCursor)
	require.Len(t, ov.Plans, 3)
	pa, pb, pi := ov.Plans[0], ov.Plans[1], ov.Plans[2]
	assert.Equal(t, []uuid.UUID{a.ID, b.ID, idle.ID}, []uuid.UUID{pa.PlanID, pb.PlanID, pi.PlanID}, "by plan ID")
	assert.Equal(t, "overview-a", pa.Name)

	assert.Equal(t, []uuid.UUID{queued.ID, atEnd.ID, cancelled.ID, errored.ID, failed.ID, atStart.ID, before.ID}, recentIDs(pa),
		"every status, newest first")
	assertCounts(t, storage.RunTotals{Runs: 4, Passed: 1, Failed: 1, Error: 1, Cancelled: 1}, pa.Totals, "a's totals")
	assert.Nil(t, pa.Totals.Duration)

	q := pa.Recent[0]
	assert.Equal(t, storage.ExecutionQueued, q.Status)
	assert.Equal(t, storage.TriggerAPI, q.Trigger)
	assert.True(t, queued.CreatedAt.Equal(q.CreatedAt), "created_at %s, want %s", q.CreatedAt, queued.CreatedAt)
	assert.Nil(t, q.FinishedAt)
	assert.Nil(t, q.DurationMS)

	e := pa.Recent[1]
	assert.Equal(t, storage.ExecutionPassed, e.Status)
	assert.Equal(t, storage.TriggerCLI, e.Trigger)
	require.NotNil(t, e.FinishedAt)
	assert.True(t, until.Equal(*e.FinishedAt), "finished_at %s", e.FinishedAt)
	require.NotNil(t, e.DurationMS)
	assert.Equal(t, int64(300), *e.DurationMS)
	assert.Equal(t, storage.TriggerSchedule, pa.Recent[2].Trigger)
	assert.Nil(t, pa.Recent[3].DurationMS, "an error without a result has no duration")

	assert.Equal(t, []uuid.UUID{bPassed.ID}, recentIDs(pb))
	assertCounts(t, storage.RunTotals{Runs: 1, Passed: 1}, pb.Totals, "b's totals")

	assert.NotNil(t, pi.Recent)
	assert.Empty(t, pi.Recent)
	assertCounts(t, storage.RunTotals{}, pi.Totals, "idle's totals")
}

func testOverviewRecentCap(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	many := createPlan(t, ctx, s, "overview-many")
	other := createPlan(t, ctx, s, "overview-other")
	var want []uuid.UUID // Newest first.
	for i := range storage.OverviewRecent + 3 {
		e := finishRun(t, ctx, s, many, run{status: storage.ExecutionPassed, at: t0.Add(time.Duration(i) * time.Minute), result: resultDoc(int64(i))})
		want = append([]uuid.UUID{e.ID}, want...)
	}
	o := createExecution(t, ctx, s, other, "")

	ov := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour)})
	require.Len(t, ov.Plans, 2)
	assert.Equal(t, want[:storage.OverviewRecent], recentIDs(ov.Plans[0]))
	assertCounts(t, storage.RunTotals{Runs: storage.OverviewRecent + 3, Passed: storage.OverviewRecent + 3}, ov.Plans[0].Totals,
		"the totals count every run of the window, not only the recent ones")
	assert.Equal(t, []uuid.UUID{o.ID}, recentIDs(ov.Plans[1]))
}

func testOverviewFailing(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	type want struct {
		since  time.Time
		status storage.ExecutionStatus
		last   *storage.Execution
	}
	failing := map[uuid.UUID]want{}

	// Never passed: failing since its first failure.
	never := createPlan(t, ctx, s, "never-passed")
	finishRun(t, ctx, s, never, run{status: storage.ExecutionError, at: at(10)})
	last := finishRun(t, ctx, s, never, run{status: storage.ExecutionFailed, at: at(20), result: resultDoc(1)})
	failing[never.ID] = want{at(10), storage.ExecutionFailed, last}

	// Failed, passed, then failed twice and errored: since the first
	// failure after the pass.
	relapsed := createPlan(t, ctx, s, "relapsed")
	finishRun(t, ctx, s, relapsed, run{status: storage.ExecutionFailed, at: at(1), result: resultDoc(1)})
	finishRun(t, ctx, s, relapsed, run{status: storage.ExecutionPassed, at: at(2), result: resultDoc(1)})
	finishRun(t, ctx, s, relapsed, run{status: storage.ExecutionFailed, at: at(30), result: resultDoc(1)})
	finishRun(t, ctx, s, relapsed, run{status: storage.ExecutionFailed, at: at(31), result: resultDoc(1)})
	last = finishRun(t, ctx, s, relapsed, run{status: storage.ExecutionError, at: at(32)})
	failing[relapsed.ID] = want{at(30), storage.ExecutionError, last}

	// Failed, then cancelled and queued: cancelled runs say nothing, so
	// still failing.
	cancelledAfter := createPlan(t, ctx, s, "cancelled-after-failure")
	finishRun(t, ctx, s, cancelledAfter, run{status: storage.ExecutionPassed, at: at(3), result: resultDoc(1)})
	last = finishRun(t, ctx, s, cancelledAfter, run{status: storage.ExecutionFailed, at: at(5), result: resultDoc(1)})
	finishRun(t, ctx, s, cancelledAfter, run{status: storage.ExecutionCancelled, at: at(6)})
	createExecution(t, ctx, s, cancelledAfter, "")
	failing[cancelledAfter.ID] = want{at(5), storage.ExecutionFailed, last}

	// Not failing: recovered; a pass then a cancel; only queued; none.
	recovered := createPlan(t, ctx, s, "recovered")
	finishRun(t, ctx, s, recovered, run{status: storage.ExecutionFailed, at: at(1), result: resultDoc(1)})
	finishRun(t, ctx, s, recovered, run{status: storage.ExecutionPassed, at: at(2), result: resultDoc(1)})
	passedThenCancelled := createPlan(t, ctx, s, "passed-then-cancelled")
	finishRun(t, ctx, s, passedThenCancelled, run{status: storage.ExecutionPassed, at: at(2), result: resultDoc(1)})
	finishRun(t, ctx, s, passedThenCancelled, run{status: storage.ExecutionCancelled, at: at(3)})
	onlyQueued := createPlan(t, ctx, s, "only-queued")
	createExecution(t, ctx, s, onlyQueued, "")
	createPlan(t, ctx, s, "no-runs")

	// Finished order, not creation order, decides the latest run: a run
	// created later that finished earlier does not hide a later pass.
	lateFinish := createPlan(t, ctx, s, "late-finish")
	early := createExecution(t, ctx, s, lateFinish, "")
	finishRun(t, ctx, s, lateFinish, run{status: storage.ExecutionFailed, at: at(40), result: resultDoc(1)})
	_, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: early.ID, Status: storage.ExecutionRunning, Now: at(39)})
	require.NoError(t, err)
	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: early.ID, Status: storage.ExecutionPassed, Now: at(41), Result: resultDoc(1)})
	require.NoError(t, err)

	ov := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour), Limit: 1})
	require.Len(t, ov.Failing, len(failing))
	var order []string
	for _, f := range ov.Failing {
		order = append(order, f.Name)
		w, ok := failing[f.PlanID]
		require.True(t, ok, "plan %s is not failing", f.Name)
		assert.True(t, w.since.Equal(f.Since), "%s: failing since %s, want %s", f.Name, f.Since, w.since)
		assert.Equal(t, w.status, f.Status, f.Name)
		assert.Equal(t, w.last.ID, f.ExecutionID, f.Name)
	}
	assert.Equal(t, []string{"cancelled-after-failure", "never-passed", "relapsed"}, order, "longest failing first")

	// The list covers every plan, on the first page only.
	require.Len(t, ov.Plans, 1)
	require.NotEmpty(t, ov.NextCursor)
	next := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour), Limit: 1, Cursor: ov.NextCursor})
	assert.Empty(t, next.Failing)
}

func testOverviewPages(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	var want []uuid.UUID
	for i := range 5 {
		p := createPlan(t, ctx, s, fmt.Sprintf("page-%d", i))
		want = append(want, p.ID)
		for range i {
			createExecution(t, ctx, s, p, "")
		}
	}
	var sizes []int
	plans := walkPages(t, 2, func(cursor string) ([]*storage.PlanOverview, string) {
		ov := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour), Limit: 2, Cursor: cursor})
		sizes = append(sizes, len(ov.Plans))
		return ov.Plans, ov.NextCursor
	})
	var got []uuid.UUID
	for i, p := range plans {
		got = append(got, p.PlanID)
		assert.Len(t, p.Recent, i, "plan %d keeps its own runs across pages", i)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, []int{2, 2, 1}, sizes)

	// A full last page has no NextCursor; the default page holds them all.
	four := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour), Limit: 4})
	last := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour), Limit: 1, Cursor: four.NextCursor})
	require.Len(t, last.Plans, 1)
	assert.Equal(t, want[4], last.Plans[0].PlanID)
	assert.Empty(t, last.NextCursor)
	all := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour)})
	assert.Len(t, all.Plans, 5)
	assert.Empty(t, all.NextCursor)
}

func testOverviewInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	createPlan(t, ctx, s, "plan")
	t0 := statsEpoch()
	for name, cursor := range malformedCursors(storage.ListOverview) {
		t.Run(name, func(t *testing.T) {
			_, err := s.Overview(ctx, &storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour), Cursor: cursor})
			require.ErrorIs(t, err, storage.ErrInvalidInput, "cursor %q", cursor)
		})
	}
	for name, p := range map[string]storage.OverviewParams{
		"NoWindow":       {},
		"NoSince":        {Until: t0},
		"Reversed":       {Since: t0, Until: t0.Add(-time.Hour)},
		"Empty":          {Since: t0, Until: t0},
		"TooLong":        {Since: t0, Until: t0.Add(storage.MaxStatsWindow + time.Hour)},
		"NegativeLimit":  {Since: t0, Until: t0.Add(time.Hour), Limit: -1},
		"SubMicroWindow": {Since: t0, Until: t0.Add(time.Nanosecond)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Overview(ctx, &p)
			require.ErrorIs(t, err, storage.ErrInvalidInput)
		})
	}
}

func testOverviewEmpty(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	ov := overview(t, ctx, s, storage.OverviewParams{Since: t0, Until: t0.Add(time.Hour)})
	assert.NotNil(t, ov.Plans)
	assert.Empty(t, ov.Plans)
	assert.NotNil(t, ov.Failing)
	assert.Empty(t, ov.Failing)
	assert.Empty(t, ov.NextCursor)
}

// startAfter creates an execution of plan in queue and starts it wait
// after its creation, or leaves it queued when wait is nil.
func startAfter(t *testing.T, ctx context.Context, s storage.Store, plan *storage.Plan, queue string, wait *time.Duration) {
	t.Helper()
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: plan.Revision, Queue: queue})
	require.NoError(t, err)
	if wait == nil {
		return
	}
	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning, Now: e.CreatedAt.Add(*wait)})
	require.NoError(t, err)
}

func testExecutionPickup(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	got, err := s.ExecutionPickup(ctx)
	require.NoError(t, err)
	assert.Empty(t, got)

	plan := createPlan(t, ctx, s, "pickup")
	ms := func(n int) *time.Duration { d := time.Duration(n) * time.Millisecond; return &d }
	for _, w := range []int{300, 100, 400, 200} {
		startAfter(t, ctx, s, plan, "busy", ms(w))
	}
	startAfter(t, ctx, s, plan, "quiet", ms(1000))
	startAfter(t, ctx, s, plan, "quiet", nil) // Never started: not counted.
	startAfter(t, ctx, s, plan, "waiting", nil)
	startAfter(t, ctx, s, plan, "skewed", ms(-5)) // A clock stepped back: counts as 0.
	// A retried execution counts its first start only.
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: plan.Revision, Queue: "retried"})
	require.NoError(t, err)
	for i, st := range []storage.ExecutionStatus{storage.ExecutionRunning, storage.ExecutionQueued, storage.ExecutionRunning} {
		_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: st, Now: e.CreatedAt.Add(time.Duration(i+1) * 50 * time.Millisecond)})
		require.NoError(t, err)
	}

	got, err = s.ExecutionPickup(ctx)
	require.NoError(t, err)
	require.Len(t, got, 4)
	names := []string{got[0].Queue, got[1].Queue, got[2].Queue, got[3].Queue}
	assert.Equal(t, []string{"busy", "quiet", "retried", "skewed"}, names, "by queue; queues without a start are left out")
	// 100, 200, 300, 400 ms: p50 at 1.5 = 250, p95 at 2.85 = 385, p99 at 2.97 = 397.
	assert.Equal(t, int64(4), got[0].Runs)
	assertPercentiles(t, &storage.Percentiles{P50: 250, P95: 385, P99: 397}, &got[0].Latency, "busy")
	assert.Equal(t, int64(1), got[1].Runs)
	assertPercentiles(t, &storage.Percentiles{P50: 1000, P95: 1000, P99: 1000}, &got[1].Latency, "quiet")
	assertPercentiles(t, &storage.Percentiles{P50: 50, P95: 50, P99: 50}, &got[2].Latency, "retried: the first start")
	assertPercentiles(t, &storage.Percentiles{}, &got[3].Latency, "skewed")
}

func testExecutionPickupSample(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "pickup-sample")
	wait := time.Second
	startAfter(t, ctx, s, plan, "old", &wait)
	got, err := s.ExecutionPickup(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1, "the old run counts while it is among the newest")

	ps := make([]*storage.ExecutionCreateParams, storage.PickupSample)
	for i := range ps {
		ps[i] = &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: plan.Revision, Queue: "new"}
	}
	_, err = s.ExecutionCreateMany(ctx, ps)
	require.NoError(t, err)
	got, err = s.ExecutionPickup(ctx)
	require.NoError(t, err)
	assert.Empty(t, got, "the old run is past the newest %d, which have not started", storage.PickupSample)
}
