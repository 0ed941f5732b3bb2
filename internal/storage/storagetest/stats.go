package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// statsCases cover PlanStats, GlobalStats, the time that
// ExecutionSetStatus stamps, and the execution listing's window and label
// filters. Executions are finished at chosen times (ExecutionSetStatus's
// Now), a day or more in the past, so that no case waits for time to pass.
//
// Expected percentiles are computed by hand with percentile_cont's linear
// interpolation (see package storage): over n sorted values the q-th is at
// position q*(n-1), between the two nearest ranks.
func statsCases() []testCase {
	return []testCase{
		{"SetStatusStampsTheGivenTime", testSetStatusStampsNow},
		{"PlanStatsCountsAndInterpolatesPercentiles", testPlanStatsTotals},
		{"PlanStatsSeriesHasEveryBucketOfTheWindow", testPlanStatsSeries},
		{"PlanStatsWindowIncludesSinceAndExcludesUntil", testPlanStatsWindowEdges},
		{"PlanStatsUnalignedWindowCountsOnlyInside", testPlanStatsUnalignedWindow},
		{"PlanStatsPerStep", testPlanStatsSteps},
		{"PlanStatsStepsCoverTheNewestRuns", testPlanStatsStepSample},
		{"PlanStatsFiltersByTrigger", testPlanStatsTrigger},
		{"PlanStatsOfAPlanWithoutRuns", testPlanStatsEmpty},
		{"PlanStatsUsesTheNewestResultSummary", testPlanStatsResultSummary},
		{"PlanStatsReadsOddResultsLeniently", testPlanStatsOddResults},
		{"PlanStatsUnknownPlanIsNotFound", testPlanStatsUnknownPlan},
		{"PlanStatsRejectsOutOfRangeParams", testPlanStatsInvalid},
		{"PlanStatsScansPastOneBatch", testPlanStatsManyRuns},
		{"GlobalStatsTotalsAndTopFailingPlans", testGlobalStats},
		{"GlobalStatsRejectsOutOfRangeParams", testGlobalStatsInvalid},
		{"ExecutionListBySinceUntilAndLabels", testExecutionListWindowAndLabels},
	}
}

// statsEpoch is an hour boundary two days ago: the start of the windows
// of these cases. Hours are aligned to the Unix epoch, as buckets are.
func statsEpoch() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(-48 * time.Hour) }

// runStep is one step of a result document.
type runStep struct {
	name, status string
	ms           int64
}

// resultDoc returns a result document with a run duration of ms and steps.
func resultDoc(ms int64, steps ...runStep) json.RawMessage {
	out := make([]map[string]any, len(steps))
	for i, s := range steps {
		out[i] = map[string]any{
			"name": s.name, "status": s.status, "attempts": 1, "duration_ms": s.ms,
			"assertions": []any{map[string]any{"kind": "status", "expected": 200, "actual": 200, "passed": true}},
		}
	}
	b, err := json.Marshal(map[string]any{
		"status": "passed", "steps": out, "plan_revision": 1,
		"totals": map[string]any{"passed": len(steps), "failed": 0, "errors": 0, "skipped": 0, "duration_ms": ms},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// run is one execution to create and finish.
type run struct {
	status  storage.ExecutionStatus
	at      time.Time // finished_at
	result  json.RawMessage
	trigger storage.ExecutionTrigger
}

// finishRun creates an execution of plan and finishes it as r says: a
// run with a result goes running a minute before r.at, then final at r.at
// with the result; a run without one goes straight from queued to its
// final status at r.at.
func finishRun(t *testing.T, ctx context.Context, s storage.Store, plan *storage.Plan, r run) *storage.Execution {
	t.Helper()
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
		PlanID: plan.ID, PlanRevision: plan.Revision, Trigger: r.trigger,
	})
	require.NoError(t, err)
	if r.result != nil {
		_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
			ID: e.ID, Status: storage.ExecutionRunning, Now: r.at.Add(-time.Minute),
		})
		require.NoError(t, err)
	}
	e, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: r.status, Result: r.result, Now: r.at,
	})
	require.NoError(t, err, "finish %s at %s", r.status, r.at)
	return e
}

// stepsFor returns the steps of the reference runs: login always passes
// in a hundredth of the run's duration; fetch ends as the run does, in a
// tenth; cleanup passes in 5 ms, or is skipped when the run did not pass.
func stepsFor(status storage.ExecutionStatus, ms int64) []runStep {
	steps := []runStep{{"login", storage.StepPassed, ms / 100}, {"fetch", string(status), ms / 10}, {"cleanup", storage.StepPassed, 5}}
	if status != storage.ExecutionPassed {
		steps[2] = runStep{"cleanup", storage.StepSkipped, 0}
	}
	return steps
}

// referenceRuns creates the reference runs of plan, in three hours from
// t0:
//
//	hour 0: passed 100 ms at +0 (the window's start), passed 200 at +10m,
//	        failed 300 at +20m, passed 400 at +30m
//	hour 1: passed 500, failed 600, error 700, passed 800 at +10m..+40m
//	hour 2: passed 900 at +10m, passed 1000 at +20m, cancelled 5000 at
//	        +30m, error without a result at +40m
//
// and runs that must not count: one a microsecond before t0, one at
// t0+3h (the window's end), a running one, and runs of another plan.
func referenceRuns(t *testing.T, ctx context.Context, s storage.Store, plan *storage.Plan, t0 time.Time) {
	t.Helper()
	at := func(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }
	ref := func(status storage.ExecutionStatus, ms int64, h, m int) run {
		return run{status: status, at: at(h, m), result: resultDoc(ms, stepsFor(status, ms)...)}
	}
	for _, r := range []run{
		ref(storage.ExecutionPassed, 100, 0, 0),
		ref(storage.ExecutionPassed, 200, 0, 10),
		ref(storage.ExecutionFailed, 300, 0, 20),
		ref(storage.ExecutionPassed, 400, 0, 30),
		ref(storage.ExecutionPassed, 500, 1, 10),
		ref(storage.ExecutionFailed, 600, 1, 20),
		ref(storage.ExecutionError, 700, 1, 30),
		ref(storage.ExecutionPassed, 800, 1, 40),
		ref(storage.ExecutionPassed, 900, 2, 10),
		ref(storage.ExecutionPassed, 1000, 2, 20),
		{status: storage.ExecutionCancelled, at: at(2, 30), result: resultDoc(5000)},
		{status: storage.ExecutionError, at: at(2, 40)},
		// Outside the window.
		{status: storage.ExecutionPassed, at: t0.Add(-time.Microsecond), result: resultDoc(1)},
		{status: storage.ExecutionPassed, at: at(3, 0), result: resultDoc(1)},
	} {
		finishRun(t, ctx, s, plan, r)
	}
	running := createExecution(t, ctx, s, plan, "")
	_, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: running.ID, Status: storage.ExecutionRunning, Now: at(1, 0),
	})
	require.NoError(t, err)
	other := createPlan(t, ctx, s, plan.Name+"-other")
	finishRun(t, ctx, s, other, run{status: storage.ExecutionFailed, at: at(1, 0), result: resultDoc(1)})
}

// planStats calls PlanStats and fails the test on an error.
func planStats(t *testing.T, ctx context.Context, s storage.Store, p storage.PlanStatsParams) *storage.PlanStats {
	t.Helper()
	st, err := s.PlanStats(ctx, &p)
	require.NoError(t, err)
	return st
}

// assertPercentiles checks percentiles against hand-computed values. The
// tolerance only absorbs the rounding of q*(n-1) in binary floating point.
func assertPercentiles(t *testing.T, want *storage.Percentiles, got *storage.Percentiles, what string) {
	t.Helper()
	if want == nil {
		assert.Nil(t, got, "%s: no durations, no percentiles", what)
		return
	}
	if !assert.NotNil(t, got, "%s: percentiles missing", what) {
		return
	}
	assert.InDelta(t, want.P50, got.P50, 1e-9, "%s p50", what)
	assert.InDelta(t, want.P95, got.P95, 1e-9, "%s p95", what)
	assert.InDelta(t, want.P99, got.P99, 1e-9, "%s p99", what)
}

// assertCounts checks the counts of totals, and their pass rate.
func assertCounts(t *testing.T, want, got storage.RunTotals, what string) {
	t.Helper()
	assert.Equal(t, [5]int64{want.Runs, want.Passed, want.Failed, want.Error, want.Cancelled},
		[5]int64{got.Runs, got.Passed, got.Failed, got.Error, got.Cancelled}, "%s: runs, passed, failed, error, cancelled", what)
	wantRate, wantOK := want.PassRate()
	gotRate, gotOK := got.PassRate()
	assert.Equal(t, wantOK, gotOK, "%s: has a pass rate", what)
	assert.InDelta(t, wantRate, gotRate, 1e-12, "%s: pass rate", what)
}

func testSetStatusStampsNow(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "stamped")
	started := statsEpoch().Add(1234567 * time.Microsecond)
	finished := started.Add(90 * time.Second)
	e := createExecution(t, ctx, s, plan, "")
	got, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning, Now: started})
	require.NoError(t, err)
	require.NotNil(t, got.StartedAt)
	assertSameTime(t, started, *got.StartedAt, "started_at")
	got, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionPassed, Now: finished})
	require.NoError(t, err)
	require.NotNil(t, got.FinishedAt)
	assertSameTime(t, finished, *got.FinishedAt, "finished_at")
	assertSameTime(t, started, *got.StartedAt, "started_at is kept")

	// Without Now, the database's clock.
	e = createExecution(t, ctx, s, plan, "")
	got, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionCancelled})
	require.NoError(t, err)
	require.NotNil(t, got.FinishedAt)
	assertRecent(t, *got.FinishedAt, "finished_at")
}

func testPlanStatsTotals(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "totals")
	t0 := statsEpoch()
	referenceRuns(t, ctx, s, plan, t0)
	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(3 * time.Hour), Bucket: time.Hour})

	// 12 final runs in the window: 7 passed, 2 failed, 2 error, 1
	// cancelled; pass rate 7/11. Durations: 100, 200, ..., 1000 (the
	// cancelled run's 5000 and the error without a result left out).
	// n = 10: p50 at 4.5 = 500 + 0.5*100; p95 at 8.55 = 900 + 0.55*100;
	// p99 at 8.91 = 900 + 0.91*100.
	want := storage.RunTotals{Runs: 12, Passed: 7, Failed: 2, Error: 2, Cancelled: 1}
	assertCounts(t, want, st.Totals, "totals")
	rate, ok := st.Totals.PassRate()
	assert.True(t, ok)
	assert.InDelta(t, 7.0/11.0, rate, 1e-12)
	assertPercentiles(t, &storage.Percentiles{P50: 550, P95: 955, P99: 991}, st.Totals.Duration, "totals")
}

func testPlanStatsSeries(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "series")
	t0 := statsEpoch()
	referenceRuns(t, ctx, s, plan, t0)

	// Five hours from an hour before the reference runs.
	st := planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0.Add(-time.Hour), Until: t0.Add(4 * time.Hour), Bucket: time.Hour,
	})
	require.Len(t, st.Series, 5)
	for i, b := range st.Series {
		assertSameTime(t, t0.Add(time.Duration(i-1)*time.Hour), b.Start, fmt.Sprintf("bucket %d start", i))
	}
	// Hour -1: the run a microsecond before t0 (1 ms).
	// Hour 0: 100, 200, 300 (failed), 400: p50 at 1.5 = 250; p95 at 2.85
	// = 300 + 0.85*100; p99 at 2.97 = 397.
	// Hour 1: 500, 600 (failed), 700 (error), 800: 650, 785, 797.
	// Hour 2: 900, 1000, then a cancelled run and an error without a
	// duration: p50 at 0.5 = 950; p95 at 0.95 = 995; p99 999.
	// Hour 3: the run at t0+3h, outside the first window, inside this one.
	wants := []struct {
		counts storage.RunTotals
		dur    *storage.Percentiles
	}{
		{storage.RunTotals{Runs: 1, Passed: 1}, &storage.Percentiles{P50: 1, P95: 1, P99: 1}},
		{storage.RunTotals{Runs: 4, Passed: 3, Failed: 1}, &storage.Percentiles{P50: 250, P95: 385, P99: 397}},
		{storage.RunTotals{Runs: 4, Passed: 2, Failed: 1, Error: 1}, &storage.Percentiles{P50: 650, P95: 785, P99: 797}},
		{storage.RunTotals{Runs: 4, Passed: 2, Error: 1, Cancelled: 1}, &storage.Percentiles{P50: 950, P95: 995, P99: 999}},
		{storage.RunTotals{Runs: 1, Passed: 1}, &storage.Percentiles{P50: 1, P95: 1, P99: 1}},
	}
	for i, w := range wants {
		what := fmt.Sprintf("bucket %d", i)
		assertCounts(t, w.counts, st.Series[i].RunTotals, what)
		assertPercentiles(t, w.dur, st.Series[i].Duration, what)
	}
	assertCounts(t, storage.RunTotals{Runs: 14, Passed: 9, Failed: 2, Error: 2, Cancelled: 1}, st.Totals, "totals")

	// An empty bucket is listed, with zero totals and no percentiles.
	st = planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0.Add(4 * time.Hour), Until: t0.Add(6 * time.Hour), Bucket: time.Hour,
	})
	require.Len(t, st.Series, 2)
	for _, b := range st.Series {
		assertCounts(t, storage.RunTotals{}, b.RunTotals, "empty bucket")
		assert.Nil(t, b.Duration)
	}
}

func testPlanStatsWindowEdges(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "edges")
	t0 := statsEpoch()
	for _, at := range []time.Time{t0.Add(-time.Microsecond), t0, t0.Add(time.Hour - time.Microsecond), t0.Add(time.Hour)} {
		finishRun(t, ctx, s, plan, run{status: storage.ExecutionPassed, at: at, result: resultDoc(at.Sub(t0).Microseconds())})
	}
	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour})
	// Only the runs at t0 (0 ms) and a microsecond before the end count.
	assertCounts(t, storage.RunTotals{Runs: 2, Passed: 2}, st.Totals, "totals")
	last := float64(time.Hour.Microseconds() - 1)
	assertPercentiles(t, &storage.Percentiles{P50: last / 2, P95: 0.95 * last, P99: 0.99 * last}, st.Totals.Duration, "totals")
	require.Len(t, st.Series, 1)
	assertCounts(t, storage.RunTotals{Runs: 2, Passed: 2}, st.Series[0].RunTotals, "bucket")
}

func testPlanStatsUnalignedWindow(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "unaligned")
	t0 := statsEpoch()
	referenceRuns(t, ctx, s, plan, t0)
	// From t0+30m to t0+2h30m, hour buckets: the first bucket starts at
	// t0 but holds only the run at +30m (400 ms), the last starts at
	// t0+2h and holds 900 and 1000 (at +10m and +20m).
	st := planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0.Add(30 * time.Minute), Until: t0.Add(150 * time.Minute), Bucket: time.Hour,
	})
	require.Len(t, st.Series, 3)
	assertSameTime(t, t0, st.Series[0].Start, "first bucket")
	assertCounts(t, storage.RunTotals{Runs: 1, Passed: 1}, st.Series[0].RunTotals, "first bucket")
	assertPercentiles(t, &storage.Percentiles{P50: 400, P95: 400, P99: 400}, st.Series[0].Duration, "first bucket")
	assertCounts(t, storage.RunTotals{Runs: 4, Passed: 2, Failed: 1, Error: 1}, st.Series[1].RunTotals, "second bucket")
	assertCounts(t, storage.RunTotals{Runs: 2, Passed: 2}, st.Series[2].RunTotals, "last bucket")
	assertCounts(t, storage.RunTotals{Runs: 7, Passed: 5, Failed: 1, Error: 1}, st.Totals, "totals")

	// A 15-minute bucket: every quarter from t0+30m to t0+2h15m.
	st = planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0.Add(30 * time.Minute), Until: t0.Add(150 * time.Minute), Bucket: 15 * time.Minute,
	})
	require.Len(t, st.Series, 8)
	var runs []int64
	for i, b := range st.Series {
		assertSameTime(t, t0.Add(30*time.Minute+time.Duration(i)*15*time.Minute), b.Start, fmt.Sprintf("bucket %d", i))
		runs = append(runs, b.Runs)
	}
	// Quarters from +30m: +30m | - | +1h10m | +1h20m | +1h30m and +1h40m |
	// - | +2h10m | +2h20m.
	assert.Equal(t, []int64{1, 0, 1, 1, 2, 0, 1, 1}, runs)
}

func testPlanStatsSteps(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "steps")
	t0 := statsEpoch()
	referenceRuns(t, ctx, s, plan, t0)
	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(3 * time.Hour), Bucket: time.Hour})

	// The 11 passed, failed and error runs; 10 have steps (runs of 100 to
	// 1000 ms). login: 1..10 ms, all passed: p50 at 4.5 = 5.5, p95 at 8.55
	// = 9.55, p99 at 8.91 = 9.91. fetch: 10..100 ms, ending as its run:
	// 55, 95.5, 99.1. cleanup: 5 ms in the 7 passed runs, skipped in the
	// 3 others.
	assert.Equal(t, int64(11), st.StepRuns)
	require.Len(t, st.Steps, 3)
	want := []storage.StepStats{
		{Index: 0, Name: "login", Runs: 10, Passed: 10, Duration: &storage.Percentiles{P50: 5.5, P95: 9.55, P99: 9.91}},
		{Index: 1, Name: "fetch", Runs: 10, Passed: 7, Failed: 2, Error: 1, Duration: &storage.Percentiles{P50: 55, P95: 95.5, P99: 99.1}},
		{Index: 2, Name: "cleanup", Runs: 10, Passed: 7, Skipped: 3, Duration: &storage.Percentiles{P50: 5, P95: 5, P99: 5}},
	}
	for i, w := range want {
		got := st.Steps[i]
		assert.Equal(t, [7]any{w.Index, w.Name, w.Runs, w.Passed, w.Failed, w.Error, w.Skipped},
			[7]any{got.Index, got.Name, got.Runs, got.Passed, got.Failed, got.Error, got.Skipped}, "step %d", i)
		assertPercentiles(t, w.Duration, got.Duration, w.Name)
	}
	rate, ok := st.Steps[1].PassRate()
	assert.True(t, ok)
	assert.InDelta(t, 0.7, rate, 1e-12)
	rate, ok = st.Steps[2].PassRate()
	assert.True(t, ok)
	assert.InDelta(t, 1.0, rate, 1e-12, "skipped steps do not lower the pass rate")

	// A plan revision renames a step: the renamed step counts apart, at
	// its position.
	finishRun(t, ctx, s, plan, run{status: storage.ExecutionPassed, at: t0.Add(2*time.Hour + 50*time.Minute),
		result: resultDoc(10, runStep{"login", storage.StepPassed, 7}, runStep{"fetch v2", storage.StepPassed, 3})})
	st = planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(3 * time.Hour), Bucket: time.Hour})
	var names []string
	for _, step := range st.Steps {
		names = append(names, fmt.Sprintf("%d:%s:%d", step.Index, step.Name, step.Runs))
	}
	assert.Equal(t, []string{"0:login:11", "1:fetch:10", "1:fetch v2:1", "2:cleanup:10"}, names)
}

func testPlanStatsStepSample(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "sample")
	t0 := statsEpoch()
	referenceRuns(t, ctx, s, plan, t0)
	// The newest 3 passed, failed or error runs: the error without a
	// result (+2h40m), 1000 ms and 900 ms. The cancelled run is not one.
	st := planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0, Until: t0.Add(3 * time.Hour), Bucket: time.Hour, StepRuns: 3,
	})
	assert.Equal(t, int64(3), st.StepRuns)
	require.Len(t, st.Steps, 3)
	assert.Equal(t, int64(2), st.Steps[0].Runs)
	assertPercentiles(t, &storage.Percentiles{P50: 9.5, P95: 9.95, P99: 9.99}, st.Steps[0].Duration, "login")
	// The totals still cover the whole window.
	assert.Equal(t, int64(12), st.Totals.Runs)
}

func testPlanStatsTrigger(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "trigger")
	t0 := statsEpoch()
	referenceRuns(t, ctx, s, plan, t0)
	finishRun(t, ctx, s, plan, run{status: storage.ExecutionFailed, at: t0.Add(time.Minute),
		result: resultDoc(42, runStep{"cli step", storage.StepFailed, 40}), trigger: storage.TriggerCLI})
	st := planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0, Until: t0.Add(3 * time.Hour), Bucket: time.Hour, Trigger: storage.TriggerCLI,
	})
	assertCounts(t, storage.RunTotals{Runs: 1, Failed: 1}, st.Totals, "cli totals")
	assertPercentiles(t, &storage.Percentiles{P50: 42, P95: 42, P99: 42}, st.Totals.Duration, "cli totals")
	require.Len(t, st.Steps, 1)
	assert.Equal(t, "cli step", st.Steps[0].Name)
	assert.Equal(t, int64(1), st.StepRuns)
	st = planStats(t, ctx, s, storage.PlanStatsParams{
		PlanID: plan.ID, Since: t0, Until: t0.Add(3 * time.Hour), Bucket: time.Hour, Trigger: storage.TriggerAPI,
	})
	assert.Equal(t, int64(12), st.Totals.Runs)
}

func testPlanStatsEmpty(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "empty")
	t0 := statsEpoch()
	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(24 * time.Hour), Bucket: time.Hour})
	assertCounts(t, storage.RunTotals{}, st.Totals, "totals")
	assert.Nil(t, st.Totals.Duration)
	assert.Empty(t, st.Steps)
	assert.Zero(t, st.StepRuns)
	require.Len(t, st.Series, 24)
	for _, b := range st.Series {
		assertCounts(t, storage.RunTotals{}, b.RunTotals, "bucket")
		assert.Nil(t, b.Duration)
	}
}

func testPlanStatsResultSummary(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "summary")
	t0 := statsEpoch()
	// A result written while running is replaced by the final one.
	e := createExecution(t, ctx, s, plan, "")
	_, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionRunning, Now: t0, Result: resultDoc(100, runStep{"old", storage.StepFailed, 1}),
	})
	require.NoError(t, err)
	finish := t0.Add(time.Minute)
	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionPassed, Now: finish, Result: resultDoc(200, runStep{"new", storage.StepPassed, 2}),
	})
	require.NoError(t, err)
	// A final status without a result keeps the summary of the result
	// written while running.
	e = createExecution(t, ctx, s, plan, "")
	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionRunning, Now: t0, Result: resultDoc(300, runStep{"new", storage.StepPassed, 4}),
	})
	require.NoError(t, err)
	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionFailed, Now: finish})
	require.NoError(t, err)

	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour})
	assertCounts(t, storage.RunTotals{Runs: 2, Passed: 1, Failed: 1}, st.Totals, "totals")
	assertPercentiles(t, &storage.Percentiles{P50: 250, P95: 295, P99: 299}, st.Totals.Duration, "totals")
	require.Len(t, st.Steps, 1)
	assert.Equal(t, "new", st.Steps[0].Name)
	assert.Equal(t, int64(2), st.Steps[0].Passed)
	assertPercentiles(t, &storage.Percentiles{P50: 3, P95: 3.9, P99: 3.98}, st.Steps[0].Duration, "step")
}

func testPlanStatsOddResults(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "odd")
	t0 := statsEpoch()
	for i, doc := range []string{
		// Fractional milliseconds round half away from zero: 2.5 is 3.
		`{"totals":{"duration_ms":2.5},"steps":[{"name":"a","status":"passed","duration_ms":1.5}]}`,
		// No totals, steps that are not objects or lack fields.
		`{"steps":[7,{"status":"passed"},{"name":"a","status":"passed","duration_ms":"slow"}]}`,
		// Durations that are not numbers from 0 to 2^53, steps not an array.
		`{"totals":{"duration_ms":-1},"steps":{"name":"a"}}`,
		`{"totals":{"duration_ms":1e300}}`,
		`{"totals":"fast","steps":null}`,
		`[]`,
		`"text"`,
	} {
		finishRun(t, ctx, s, plan, run{status: storage.ExecutionPassed, at: t0.Add(time.Duration(i) * time.Minute), result: json.RawMessage(doc)})
	}
	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour})
	assertCounts(t, storage.RunTotals{Runs: 7, Passed: 7}, st.Totals, "totals")
	assertPercentiles(t, &storage.Percentiles{P50: 3, P95: 3, P99: 3}, st.Totals.Duration, "only the 2.5 ms run has a duration")
	var got []string
	for _, step := range st.Steps {
		d := "none"
		if step.Duration != nil {
			d = fmt.Sprint(step.Duration.P50)
		}
		got = append(got, fmt.Sprintf("%d:%q:%d:%d:%s", step.Index, step.Name, step.Runs, step.Passed, d))
	}
	// Step 0 of the first doc ("a", 2 ms) and of the second (7: no name,
	// no status), step 1 (no name, passed, no duration) and step 2 ("a",
	// passed, a duration that is not a number).
	assert.Equal(t, []string{`0:"":1:0:none`, `0:"a":1:1:2`, `1:"":1:1:none`, `2:"a":1:1:none`}, got)
}

func testPlanStatsUnknownPlan(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	_, err := s.PlanStats(ctx, &storage.PlanStatsParams{
		PlanID: uuid.Must(uuid.NewV7()), Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour,
	})
	assert.ErrorIs(t, err, storage.ErrNotFound)
}

func testPlanStatsInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "invalid")
	t0 := statsEpoch()
	ok := storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour}
	_, err := s.PlanStats(ctx, &ok)
	require.NoError(t, err)
	tests := map[string]func(p *storage.PlanStatsParams){
		"NoSince":        func(p *storage.PlanStatsParams) { p.Since = time.Time{} },
		"NoUntil":        func(p *storage.PlanStatsParams) { p.Until = time.Time{} },
		"EmptyWindow":    func(p *storage.PlanStatsParams) { p.Until = p.Since },
		"ReversedWindow": func(p *storage.PlanStatsParams) { p.Since, p.Until = p.Until, p.Since },
		"WindowOver90Days": func(p *storage.PlanStatsParams) {
			p.Since, p.Bucket = p.Until.Add(-90*24*time.Hour-time.Second), 24*time.Hour
		},
		"BucketUnderAMinute": func(p *storage.PlanStatsParams) { p.Bucket = 59 * time.Second },
		"BucketOverADay":     func(p *storage.PlanStatsParams) { p.Bucket = 24*time.Hour + time.Second },
		"BucketNotSeconds":   func(p *storage.PlanStatsParams) { p.Bucket = time.Minute + time.Millisecond },
		"NoBucket":           func(p *storage.PlanStatsParams) { p.Bucket = 0 },
		"TooManyBuckets": func(p *storage.PlanStatsParams) {
			p.Since = p.Until.Add(-2000*time.Minute - time.Second)
			p.Bucket = time.Minute
		},
		"UnknownTrigger":   func(p *storage.PlanStatsParams) { p.Trigger = "cron" },
		"NegativeStepRuns": func(p *storage.PlanStatsParams) { p.StepRuns = -1 },
		"TooManyStepRuns":  func(p *storage.PlanStatsParams) { p.StepRuns = storage.MaxStatsStepRuns + 1 },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			p := ok
			mutate(&p)
			_, err := s.PlanStats(ctx, &p)
			assert.ErrorIs(t, err, storage.ErrInvalidInput)
		})
	}
	// The largest ones pass: 90 days of days, 2000 aligned buckets.
	for _, p := range []storage.PlanStatsParams{
		{PlanID: plan.ID, Since: t0.Add(-90 * 24 * time.Hour), Until: t0, Bucket: 24 * time.Hour},
		{PlanID: plan.ID, Since: t0.Add(-2000 * time.Minute), Until: t0, Bucket: time.Minute, StepRuns: storage.MaxStatsStepRuns},
	} {
		st, err := s.PlanStats(ctx, &p)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(st.Series), storage.MaxStatsBuckets)
	}
}

func testPlanStatsManyRuns(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "many")
	t0 := statsEpoch()
	// More runs than one batch of a scan (10,000), finished within 7
	// distinct milliseconds, so that batches split runs of equal finish
	// times. They are created in bulk and ended from queued: every tenth
	// cancelled, the others in error with a duration of i%100 ms.
	const n = 10_050
	ps := make([]*storage.ExecutionCreateParams, n)
	for i := range ps {
		ps[i] = &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: plan.Revision}
	}
	created, err := s.ExecutionCreateMany(ctx, ps)
	require.NoError(t, err)
	require.Len(t, created, n)
	var durations []float64
	for start := 0; start < n; start += 500 {
		require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
			for i := start; i < min(start+500, n); i++ {
				p := &storage.ExecutionSetStatusParams{
					ID: created[i].ID, Status: storage.ExecutionCancelled, Now: t0.Add(time.Duration(i%7) * time.Millisecond),
				}
				if i%10 != 0 {
					p.Status, p.Result = storage.ExecutionError, json.RawMessage(fmt.Sprintf(`{"totals":{"duration_ms":%d}}`, i%100))
				}
				if _, err := tx.ExecutionSetStatus(ctx, p); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	for i := range n {
		if i%10 != 0 {
			durations = append(durations, float64(i%100))
		}
	}
	slices.Sort(durations)
	want := &storage.Percentiles{P50: interpolate(durations, 0.5), P95: interpolate(durations, 0.95), P99: interpolate(durations, 0.99)}
	counts := storage.RunTotals{Runs: n, Error: int64(len(durations)), Cancelled: n - int64(len(durations))}

	st := planStats(t, ctx, s, storage.PlanStatsParams{PlanID: plan.ID, Since: t0, Until: t0.Add(time.Hour), Bucket: time.Hour})
	assertCounts(t, counts, st.Totals, "totals")
	assertPercentiles(t, want, st.Totals.Duration, "totals")
	g, err := s.GlobalStats(ctx, &storage.GlobalStatsParams{Since: t0, Until: t0.Add(time.Hour)})
	require.NoError(t, err)
	assertCounts(t, counts, g.Totals, "global totals")
	assertPercentiles(t, want, g.Totals.Duration, "global totals")
}

// interpolate is the q-th percentile of sorted values with linear
// interpolation, written out plainly as the reference for a case with too
// many values to work out by hand.
func interpolate(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[i]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

func testGlobalStats(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	// Twelve plans, created with ascending IDs; plan i has failures[i]
	// failed runs (plan 5's are errors) and one passed run, all in the
	// window. Passed runs take 10 ms, failed 20 ms, error 30 ms.
	failures := []int{1, 3, 0, 2, 2, 5, 1, 4, 3, 1, 1, 2}
	plans := make([]*storage.Plan, len(failures))
	for i, f := range failures {
		plans[i] = createPlanWith(t, ctx, s, uuid.Must(uuid.NewV7()), fmt.Sprintf("global-%02d", i), nil)
		at := t0.Add(time.Duration(i) * time.Minute)
		finishRun(t, ctx, s, plans[i], run{status: storage.ExecutionPassed, at: at, result: resultDoc(10)})
		for range f {
			status, ms := storage.ExecutionFailed, int64(20)
			if i == 5 {
				status, ms = storage.ExecutionError, 30
			}
			finishRun(t, ctx, s, plans[i], run{status: status, at: at.Add(time.Second), result: resultDoc(ms)})
		}
	}
	// Not counted: a run before the window, and one that is still running.
	finishRun(t, ctx, s, plans[2], run{status: storage.ExecutionFailed, at: t0.Add(-time.Second), result: resultDoc(99)})
	running := createExecution(t, ctx, s, plans[2], "")
	setStatus(t, ctx, s, running.ID, storage.ExecutionRunning)
	// Counted, without a duration: a cancelled run.
	finishRun(t, ctx, s, plans[2], run{status: storage.ExecutionCancelled, at: t0.Add(time.Hour)})

	g, err := s.GlobalStats(ctx, &storage.GlobalStatsParams{Since: t0, Until: t0.Add(2 * time.Hour)})
	require.NoError(t, err)
	// 12 passed, 20 failed, 5 error, 1 cancelled. Durations (n = 37):
	// twelve 10s, twenty 20s, five 30s: p50 at 18 is 20; p95 at 34.2 and
	// p99 at 35.64 fall among the 30s.
	assertCounts(t, storage.RunTotals{Runs: 38, Passed: 12, Failed: 20, Error: 5, Cancelled: 1}, g.Totals, "totals")
	assertPercentiles(t, &storage.Percentiles{P50: 20, P95: 30, P99: 30}, g.Totals.Duration, "totals")

	// Most failures first, then by plan ID; plan 2 (none) is left out,
	// and of the four plans with one failure, the last (plan 10) falls
	// past the tenth place.
	order := []int{5, 7, 1, 8, 3, 4, 11, 0, 6, 9}
	require.Len(t, g.TopFailing, storage.TopFailingPlans)
	for k, i := range order {
		got := g.TopFailing[k]
		assert.Equal(t, plans[i].ID, got.PlanID, "place %d", k)
		assert.Equal(t, plans[i].Name, got.Name, "place %d", k)
		assert.Equal(t, int64(failures[i]), got.Failures(), "place %d", k)
		assert.Equal(t, int64(failures[i]+1), got.Runs, "place %d", k)
		assert.Equal(t, int64(1), got.Passed, "place %d", k)
		assert.Nil(t, got.Duration)
	}
	rate, ok := g.TopFailing[0].PassRate()
	assert.True(t, ok)
	assert.InDelta(t, 1.0/6.0, rate, 1e-12)

	// An empty window.
	g, err = s.GlobalStats(ctx, &storage.GlobalStatsParams{Since: t0.Add(-48 * time.Hour), Until: t0.Add(-24 * time.Hour)})
	require.NoError(t, err)
	assertCounts(t, storage.RunTotals{}, g.Totals, "empty window")
	assert.Nil(t, g.Totals.Duration)
	assert.Empty(t, g.TopFailing)
}

func testGlobalStatsInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	t0 := statsEpoch()
	for name, p := range map[string]storage.GlobalStatsParams{
		"NoSince":          {Until: t0},
		"NoUntil":          {Since: t0},
		"EmptyWindow":      {Since: t0, Until: t0},
		"ReversedWindow":   {Since: t0, Until: t0.Add(-time.Hour)},
		"WindowOver90Days": {Since: t0.Add(-90*24*time.Hour - time.Microsecond), Until: t0},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.GlobalStats(ctx, &p)
			assert.ErrorIs(t, err, storage.ErrInvalidInput)
		})
	}
	_, err := s.GlobalStats(ctx, &storage.GlobalStatsParams{Since: t0.Add(-90 * 24 * time.Hour), Until: t0})
	assert.NoError(t, err)
}

func testExecutionListWindowAndLabels(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	prodA := createPlanWith(t, ctx, s, uuid.Must(uuid.NewV7()), "prod-a", map[string]string{"team": "a", "env": "prod"})
	a := createPlanWith(t, ctx, s, uuid.Must(uuid.NewV7()), "a", map[string]string{"team": "a"})
	b := createPlanWith(t, ctx, s, uuid.Must(uuid.NewV7()), "b", map[string]string{"team": "b"})
	var all []*storage.Execution
	for _, p := range []*storage.Plan{prodA, a, b, prodA, a, b, prodA} {
		all = append(all, createExecution(t, ctx, s, p, ""))
	}
	// want returns the IDs of the executions that keep selects, newest
	// first, as the listing orders them.
	want := func(keep func(e *storage.Execution) bool) []uuid.UUID {
		ids := []uuid.UUID{}
		for _, e := range slices.Backward(all) {
			if keep(e) {
				ids = append(ids, e.ID)
			}
		}
		return ids
	}
	of := func(plans ...*storage.Plan) func(e *storage.Execution) bool {
		return func(e *storage.Execution) bool {
			return slices.ContainsFunc(plans, func(p *storage.Plan) bool { return p.ID == e.PlanID })
		}
	}
	since, until := all[2].CreatedAt, all[5].CreatedAt
	inWindow := func(e *storage.Execution) bool { return !e.CreatedAt.Before(since) && e.CreatedAt.Before(until) }
	tests := []struct {
		name string
		p    storage.ExecutionListParams
		want []uuid.UUID
	}{
		{"TeamA", storage.ExecutionListParams{Labels: map[string]string{"team": "a"}}, want(of(prodA, a))},
		{"TeamAInProd", storage.ExecutionListParams{Labels: map[string]string{"team": "a", "env": "prod"}}, want(of(prodA))},
		{"NoPlanHasIt", storage.ExecutionListParams{Labels: map[string]string{"team": "c"}}, []uuid.UUID{}},
		{"ValueOfAnotherKey", storage.ExecutionListParams{Labels: map[string]string{"env": "a"}}, []uuid.UUID{}},
		{"EmptyLabelsKeepAll", storage.ExecutionListParams{Labels: map[string]string{}}, want(func(*storage.Execution) bool { return true })},
		{"Since", storage.ExecutionListParams{Since: since}, want(func(e *storage.Execution) bool { return !e.CreatedAt.Before(since) })},
		{"Until", storage.ExecutionListParams{Until: until}, want(func(e *storage.Execution) bool { return e.CreatedAt.Before(until) })},
		{"Window", storage.ExecutionListParams{Since: since, Until: until}, want(inWindow)},
		{"WindowTeamAPaged", storage.ExecutionListParams{Since: since, Until: until, Labels: map[string]string{"team": "a"}, Limit: 1},
			want(func(e *storage.Execution) bool { return inWindow(e) && of(prodA, a)(e) })},
		{"LabelsAndPlan", storage.ExecutionListParams{PlanID: b.ID, Labels: map[string]string{"team": "a"}}, []uuid.UUID{}},
		{"AllPagedByTwo", storage.ExecutionListParams{Labels: map[string]string{"team": "a"}, Limit: 2}, want(of(prodA, a))},
		{"EmptyWindow", storage.ExecutionListParams{Since: until, Until: since}, []uuid.UUID{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, listExecutionIDs(t, ctx, s, tt.p))
		})
	}
	require.NotEmpty(t, want(inWindow), "the window holds executions")
}

// SummaryDocs are result documents, typical and odd, whose summaries
// (storage.SummarizeResult) each backend's store and its migration 00011
// must agree on: the backends' tests of the migration use them.
var SummaryDocs = []string{
	`{"status":"passed","steps":[{"name":"a","status":"passed","duration_ms":12,"assertions":[]},{"name":"b","status":"skipped","duration_ms":0}],"totals":{"duration_ms":15}}`,
	`{"error":"plan no longer exists","plan_revision":2}`,
	`{"steps":[],"totals":{"duration_ms":0}}`,
	`{"totals":{"duration_ms":2.5},"steps":[{"name":"a","status":"passed","duration_ms":1.5}]}`,
	`{"steps":[7,{"status":"passed"},{"name":"a","status":"passed","duration_ms":"slow"}]}`,
	`{"totals":{"duration_ms":-1},"steps":{"name":"a"}}`,
	`{"totals":{"duration_ms":1e300},"steps":[{"name":"x","status":"error","duration_ms":9007199254740993}]}`,
	`{"totals":"fast","steps":null}`,
	`{"totals":{"duration_ms":true},"steps":[{"name":null,"status":["passed"],"duration_ms":{}}]}`,
	`[]`,
	`"text"`,
}
