package storagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func scheduleCases() []testCase {
	return []testCase{
		{"CreateRoundTripsAtRevisionOne", testScheduleRoundTrip},
		{"CreateFillsDefaults", testScheduleCreateDefaults},
		{"CreateForUnknownPlanReturnsErrNotFound", testScheduleCreateUnknownPlan},
		{"CreateWithUnknownOverlapReturnsErrInvalidInput", testScheduleCreateBadOverlap},
		{"GetReturnsErrNotFoundForUnknownID", testScheduleGetUnknown},
		{"UpdateReplacesFieldsAndBumpsRevision", testScheduleUpdate},
		{"UpdateWithStaleRevisionReturnsErrStaleRevision", testScheduleUpdateStale},
		{"UpdateReturnsErrNotFoundForUnknownID", testScheduleUpdateUnknown},
		{"PauseAndResumeBumpRevisionAndResumeSetsNextRun", testSchedulePauseResume},
		{"SetPausedReturnsErrNotFoundForUnknownID", testScheduleSetPausedUnknown},
		{"DeleteRemovesItAndKeepsItsExecutions", testScheduleDelete},
		{"DeletingThePlanDeletesItsSchedules", testScheduleDeletedWithPlan},
		{"ListWalksPagesAndFiltersByPlan", testScheduleList},
		{"ListRejectsMalformedCursors", testScheduleListMalformedCursor},
		{"ClaimDueReturnsDueUnpausedSchedulesEarliestFirst", testScheduleClaimDue},
		{"ClaimDueReportsPlanRevisionAndLastExecutionStatus", testScheduleClaimDueDetails},
		{"AdvanceMovesNextRunAndRecordsFiredTicks", testScheduleAdvance},
		{"ConcurrentClaimersNeverClaimTheSameSchedule", testScheduleConcurrentClaims},
		{"NextDueIsTheEarliestUnpausedNextRun", testScheduleNextDue},
		{"CountByEnvironmentCountsPausedAndUnpaused", testScheduleCountByEnvironment},
	}
}

// base is a fixed instant that the schedule cases use as their clock.
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// createSchedule creates a schedule of plan p due at next.
func createSchedule(t *testing.T, ctx context.Context, s storage.Store, p *storage.Plan, next time.Time) *storage.Schedule {
	t.Helper()
	sc, err := s.ScheduleCreate(ctx, &storage.ScheduleCreateParams{PlanID: p.ID, Cron: "@every 1m", NextRunAt: next})
	require.NoError(t, err, "create schedule")
	return sc
}

func testScheduleRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	in := &storage.ScheduleCreateParams{
		PlanID: p.ID, Cron: "*/5 * * * *", Timezone: "Europe/Paris",
		Variables:   map[string]string{"base_url": "https://eu.example.com", "q": `a "b" \ ✓`},
		Environment: "staging", Queue: "eu", Overlap: storage.OverlapAllow, NextRunAt: base,
	}
	sc, err := s.ScheduleCreate(ctx, in)
	require.NoError(t, err)
	assert.NotEqual(t, uuid.Nil, sc.ID)
	assert.Equal(t, p.ID, sc.PlanID)
	assert.Equal(t, in.Cron, sc.Cron)
	assert.Equal(t, in.Timezone, sc.Timezone)
	assert.Equal(t, in.Variables, sc.Variables)
	assert.Equal(t, "staging", sc.Environment)
	assert.Equal(t, "eu", sc.Queue)
	assert.Equal(t, storage.OverlapAllow, sc.Overlap)
	assert.False(t, sc.Paused)
	assertSameTime(t, base, sc.NextRunAt, "NextRunAt")
	assert.Nil(t, sc.LastRunAt)
	assert.Equal(t, uuid.Nil, sc.LastExecutionID)
	assert.Equal(t, int64(1), sc.Revision)
	assertRecent(t, sc.CreatedAt, "CreatedAt")
	assertSameTime(t, sc.CreatedAt, sc.UpdatedAt, "UpdatedAt")

	got, err := s.ScheduleGetByID(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, sc.Variables, got.Variables)
	assert.Equal(t, sc.Environment, got.Environment)
	assertSameTime(t, sc.NextRunAt, got.NextRunAt, "NextRunAt")
	assertSameTime(t, sc.CreatedAt, got.CreatedAt, "CreatedAt")
	assert.Equal(t, sc.Revision, got.Revision)
}

func testScheduleCreateDefaults(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	sc := createSchedule(t, ctx, s, createPlan(t, ctx, s, "p"), base)
	assert.Equal(t, "UTC", sc.Timezone)
	assert.Equal(t, storage.DefaultQueue, sc.Queue)
	assert.Equal(t, storage.OverlapSkip, sc.Overlap)
	assert.Equal(t, map[string]string{}, sc.Variables)
	assert.Empty(t, sc.Environment)
}

func testScheduleCreateUnknownPlan(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.ScheduleCreate(ctx, &storage.ScheduleCreateParams{PlanID: uuid.Must(uuid.NewV7()), Cron: "@hourly", NextRunAt: base})
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testScheduleCreateBadOverlap(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	_, err := s.ScheduleCreate(ctx, &storage.ScheduleCreateParams{PlanID: p.ID, Cron: "@hourly", Overlap: "sometimes", NextRunAt: base})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
}

func testScheduleGetUnknown(t *testing.T, s storage.Store) {
	_, err := s.ScheduleGetByID(testContext(t), uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testScheduleUpdate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	sc := createSchedule(t, ctx, s, createPlan(t, ctx, s, "p"), base)
	next := base.Add(time.Hour)
	up, err := s.ScheduleUpdate(ctx, &storage.ScheduleUpdateParams{
		ID: sc.ID, ExpectedRevision: 1, Cron: "0 * * * *", Timezone: "America/New_York",
		Variables: map[string]string{"a": "1"}, Environment: "prod", Queue: "us", Overlap: storage.OverlapAllow, NextRunAt: next,
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), up.Revision)
	assert.Equal(t, "0 * * * *", up.Cron)
	assert.Equal(t, "America/New_York", up.Timezone)
	assert.Equal(t, map[string]string{"a": "1"}, up.Variables)
	assert.Equal(t, "prod", up.Environment)
	assert.Equal(t, "us", up.Queue)
	assert.Equal(t, storage.OverlapAllow, up.Overlap)
	assertSameTime(t, next, up.NextRunAt, "NextRunAt")
	assertSameTime(t, sc.CreatedAt, up.CreatedAt, "CreatedAt")
	assert.False(t, up.UpdatedAt.Before(sc.UpdatedAt), "UpdatedAt moved back")

	// Clearing the environment and falling back to defaults.
	up, err = s.ScheduleUpdate(ctx, &storage.ScheduleUpdateParams{ID: sc.ID, ExpectedRevision: 2, Cron: "@daily", NextRunAt: next})
	require.NoError(t, err)
	assert.Empty(t, up.Environment)
	assert.Equal(t, "UTC", up.Timezone)
	assert.Equal(t, storage.DefaultQueue, up.Queue)
	assert.Equal(t, storage.OverlapSkip, up.Overlap)
	assert.Equal(t, map[string]string{}, up.Variables)
}

func testScheduleUpdateStale(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	sc := createSchedule(t, ctx, s, createPlan(t, ctx, s, "p"), base)
	_, err := s.ScheduleUpdate(ctx, &storage.ScheduleUpdateParams{ID: sc.ID, ExpectedRevision: 7, Cron: "@daily", NextRunAt: base})
	require.ErrorIs(t, err, storage.ErrStaleRevision)
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err := s.ScheduleGetByID(ctx, sc.ID)
	require.NoError(t, err)
	assert.Equal(t, "@every 1m", got.Cron, "a stale update changed the schedule")
}

func testScheduleUpdateUnknown(t *testing.T, s storage.Store) {
	_, err := s.ScheduleUpdate(testContext(t), &storage.ScheduleUpdateParams{
		ID: uuid.Must(uuid.NewV7()), ExpectedRevision: 1, Cron: "@daily", NextRunAt: base,
	})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrStaleRevision)
}

func testSchedulePauseResume(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	sc := createSchedule(t, ctx, s, p, base)
	queued := createExecution(t, ctx, s, p, "")

	paused, err := s.ScheduleSetPaused(ctx, &storage.ScheduleSetPausedParams{ID: sc.ID, Paused: true})
	require.NoError(t, err)
	assert.True(t, paused.Paused)
	assert.Equal(t, int64(2), paused.Revision)
	assertSameTime(t, base, paused.NextRunAt, "pausing keeps NextRunAt")
	due, err := claimDue(ctx, s, base.Add(time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "a paused schedule was claimed")
	e, err := s.ExecutionGetByID(ctx, queued.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionQueued, e.Status, "pausing touched an execution")

	later := base.Add(24 * time.Hour)
	resumed, err := s.ScheduleSetPaused(ctx, &storage.ScheduleSetPausedParams{ID: sc.ID, Paused: false, NextRunAt: later})
	require.NoError(t, err)
	assert.False(t, resumed.Paused)
	assert.Equal(t, int64(3), resumed.Revision)
	assertSameTime(t, later, resumed.NextRunAt, "NextRunAt")
}

func testScheduleSetPausedUnknown(t *testing.T, s storage.Store) {
	_, err := s.ScheduleSetPaused(testContext(t), &storage.ScheduleSetPausedParams{ID: uuid.Must(uuid.NewV7()), Paused: true})
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testScheduleDelete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	sc := createSchedule(t, ctx, s, p, base)
	kept := createSchedule(t, ctx, s, p, base)
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
		PlanID: p.ID, PlanRevision: 1, Trigger: storage.TriggerSchedule, ScheduleID: sc.ID,
	})
	require.NoError(t, err)

	require.NoError(t, s.ScheduleDelete(ctx, sc.ID))
	_, err = s.ScheduleGetByID(ctx, sc.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.ScheduleDelete(ctx, sc.ID), storage.ErrNotFound, "second delete")
	_, err = s.ScheduleGetByID(ctx, kept.ID)
	require.NoError(t, err, "deleting one schedule deleted another")
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, sc.ID, got.ScheduleID)
}

func testScheduleDeletedWithPlan(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	other := createPlan(t, ctx, s, "other")
	sc := createSchedule(t, ctx, s, p, base)
	kept := createSchedule(t, ctx, s, other, base)
	require.NoError(t, s.PlanDelete(ctx, p.ID))
	_, err := s.ScheduleGetByID(ctx, sc.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.ScheduleGetByID(ctx, kept.ID)
	require.NoError(t, err)

	// A plan with executions is still refused, and keeps its schedules.
	createExecution(t, ctx, s, other, "")
	require.ErrorIs(t, s.PlanDelete(ctx, other.ID), storage.ErrReferenced)
	_, err = s.ScheduleGetByID(ctx, kept.ID)
	require.NoError(t, err)
}

func testScheduleList(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a := createPlan(t, ctx, s, "a")
	b := createPlan(t, ctx, s, "b")
	var all, ofA []uuid.UUID
	for i := range 7 {
		p := a
		if i%3 == 0 {
			p = b
		}
		sc := createSchedule(t, ctx, s, p, base)
		all = append(all, sc.ID)
		if p == a {
			ofA = append(ofA, sc.ID)
		}
	}
	list := func(planID uuid.UUID, limit int) []uuid.UUID {
		got := walkPages(t, storage.PageLimit(limit), func(cursor string) ([]*storage.Schedule, string) {
			page, err := s.ScheduleList(ctx, &storage.ScheduleListParams{PlanID: planID, Limit: limit, Cursor: cursor})
			require.NoError(t, err)
			return page.Schedules, page.NextCursor
		})
		ids := make([]uuid.UUID, len(got))
		for i, sc := range got {
			ids[i] = sc.ID
		}
		return ids
	}
	for _, limit := range []int{1, 2, 7, 50} {
		assert.Equal(t, all, list(uuid.Nil, limit), "limit %d", limit)
		assert.Equal(t, ofA, list(a.ID, limit), "plan a, limit %d", limit)
	}
	assert.Empty(t, list(uuid.Must(uuid.NewV7()), 10))
}

func testScheduleListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for name, cursor := range malformedCursors(storage.ListSchedules) {
		_, err := s.ScheduleList(ctx, &storage.ScheduleListParams{Cursor: cursor})
		assert.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
}

// claimDue claims due schedules in a transaction of their own.
func claimDue(ctx context.Context, s storage.Store, now time.Time, limit int) ([]*storage.DueSchedule, error) {
	var due []*storage.DueSchedule
	err := s.InTx(ctx, func(tx storage.Store) error {
		var err error
		due, err = tx.ScheduleClaimDue(ctx, now, limit)
		return err
	})
	return due, err
}

func dueIDs(due []*storage.DueSchedule) []uuid.UUID {
	ids := make([]uuid.UUID, len(due))
	for i, d := range due {
		ids[i] = d.ID
	}
	return ids
}

func testScheduleClaimDue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	late := createSchedule(t, ctx, s, p, base.Add(-time.Minute))
	early := createSchedule(t, ctx, s, p, base.Add(-time.Hour))
	exact := createSchedule(t, ctx, s, p, base)
	createSchedule(t, ctx, s, p, base.Add(time.Second)) // Not due yet.
	paused := createSchedule(t, ctx, s, p, base.Add(-2*time.Hour))
	_, err := s.ScheduleSetPaused(ctx, &storage.ScheduleSetPausedParams{ID: paused.ID, Paused: true})
	require.NoError(t, err)

	due, err := claimDue(ctx, s, base, 10)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{early.ID, late.ID, exact.ID}, dueIDs(due))

	due, err = claimDue(ctx, s, base, 2)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{early.ID, late.ID}, dueIDs(due), "limit")
	due, err = claimDue(ctx, s, base, 0)
	require.NoError(t, err)
	assert.Empty(t, due)
}

func testScheduleClaimDueDetails(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	_, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{ID: p.ID, ExpectedRevision: 1, Name: "p", Document: p.Document})
	require.NoError(t, err)
	never := createSchedule(t, ctx, s, p, base)
	ran := createSchedule(t, ctx, s, p, base.Add(time.Second))
	e := createExecution(t, ctx, s, p, "")
	require.NoError(t, s.ScheduleAdvance(ctx, []*storage.ScheduleAdvanceParams{
		{ID: ran.ID, NextRunAt: base.Add(time.Second), Fired: true, LastRunAt: base, LastExecutionID: e.ID},
	}))

	due, err := claimDue(ctx, s, base.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{never.ID, ran.ID}, dueIDs(due))
	assert.Equal(t, int64(2), due[0].PlanRevision)
	assert.Equal(t, storage.ExecutionStatus(""), due[0].LastExecutionStatus)
	assert.Equal(t, storage.ExecutionQueued, due[1].LastExecutionStatus)
	assert.Equal(t, e.ID, due[1].LastExecutionID)

	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionCancelled})
	require.NoError(t, err)
	due, err = claimDue(ctx, s, base.Add(time.Minute), 10)
	require.NoError(t, err)
	require.Len(t, due, 2)
	assert.Equal(t, storage.ExecutionCancelled, due[1].LastExecutionStatus)
}

func testScheduleAdvance(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	fired := createSchedule(t, ctx, s, p, base)
	skipped := createSchedule(t, ctx, s, p, base)
	e := createExecution(t, ctx, s, p, "")
	next := base.Add(time.Minute)
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.ScheduleClaimDue(ctx, base, 10); err != nil {
			return err
		}
		return tx.ScheduleAdvance(ctx, []*storage.ScheduleAdvanceParams{
			{ID: fired.ID, NextRunAt: next, Fired: true, LastRunAt: base, LastExecutionID: e.ID},
			{ID: skipped.ID, NextRunAt: next},
			{ID: uuid.Must(uuid.NewV7()), NextRunAt: next}, // Unknown: ignored.
		})
	}))
	got, err := s.ScheduleGetByID(ctx, fired.ID)
	require.NoError(t, err)
	assertSameTime(t, next, got.NextRunAt, "NextRunAt")
	require.NotNil(t, got.LastRunAt)
	assertSameTime(t, base, *got.LastRunAt, "LastRunAt")
	assert.Equal(t, e.ID, got.LastExecutionID)
	assert.Equal(t, int64(1), got.Revision, "advancing is not an edit")

	got, err = s.ScheduleGetByID(ctx, skipped.ID)
	require.NoError(t, err)
	assertSameTime(t, next, got.NextRunAt, "NextRunAt")
	assert.Nil(t, got.LastRunAt)
	assert.Equal(t, uuid.Nil, got.LastExecutionID)

	due, err := claimDue(ctx, s, base.Add(30*time.Second), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "advanced schedules are no longer due")
}

// testScheduleConcurrentClaims runs claimers that each claim and advance
// due schedules in one transaction, as the scheduler does, and checks that
// each schedule was claimed exactly once.
func testScheduleConcurrentClaims(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	const schedules, claimers, batch = 60, 6, 4
	for range schedules {
		createSchedule(t, ctx, s, p, base)
	}
	var (
		mu    sync.Mutex
		owner = map[uuid.UUID]int{}
		dups  []string
		wg    sync.WaitGroup
		errs  = make([]error, claimers)
	)
	for c := range claimers {
		wg.Go(func() {
			for ctx.Err() == nil {
				var got []*storage.DueSchedule
				err := s.InTx(ctx, func(tx storage.Store) error {
					var err error
					if got, err = tx.ScheduleClaimDue(ctx, base, batch); err != nil || len(got) == 0 {
						return err
					}
					adv := make([]*storage.ScheduleAdvanceParams, len(got))
					for i, d := range got {
						adv[i] = &storage.ScheduleAdvanceParams{ID: d.ID, NextRunAt: base.Add(time.Hour)}
					}
					return tx.ScheduleAdvance(ctx, adv)
				})
				if err != nil {
					errs[c] = err
					return
				}
				mu.Lock()
				for _, d := range got {
					if prev, dup := owner[d.ID]; dup {
						dups = append(dups, fmt.Sprintf("%s by %d and %d", d.ID, prev, c))
					}
					owner[d.ID] = c
				}
				done := len(owner) >= schedules
				mu.Unlock()
				// An empty claim while others hold rows is fine: those rows
				// are advanced when their holders commit.
				if done {
					return
				}
			}
		})
	}
	wg.Wait()
	for c, err := range errs {
		require.NoError(t, err, "claimer %d", c)
	}
	assert.Empty(t, dups, "schedules claimed twice")
	assert.Len(t, owner, schedules)
	due, err := claimDue(ctx, s, base, schedules)
	require.NoError(t, err)
	assert.Empty(t, due)
}

func testScheduleNextDue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.ScheduleNextDue(ctx)
	require.ErrorIs(t, err, storage.ErrNotFound, "no schedules")
	p := createPlan(t, ctx, s, "p")
	createSchedule(t, ctx, s, p, base.Add(time.Hour))
	soon := createSchedule(t, ctx, s, p, base.Add(time.Minute))
	paused := createSchedule(t, ctx, s, p, base)
	_, err = s.ScheduleSetPaused(ctx, &storage.ScheduleSetPausedParams{ID: paused.ID, Paused: true})
	require.NoError(t, err)
	next, err := s.ScheduleNextDue(ctx)
	require.NoError(t, err)
	assertSameTime(t, soon.NextRunAt, next, "next due")
}

func testScheduleCountByEnvironment(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	n, err := s.ScheduleCountByEnvironment(ctx, "staging")
	require.NoError(t, err)
	assert.Zero(t, n, "no schedules")
	p := createPlan(t, ctx, s, "p")
	createSchedule(t, ctx, s, p, base) // No environment.
	var ids []uuid.UUID
	for _, env := range []string{"staging", "staging", "Staging", "prod"} {
		sc, err := s.ScheduleCreate(ctx, &storage.ScheduleCreateParams{
			PlanID: p.ID, Cron: "@every 1m", Environment: env, NextRunAt: base,
		})
		require.NoError(t, err)
		ids = append(ids, sc.ID)
	}
	_, err = s.ScheduleSetPaused(ctx, &storage.ScheduleSetPausedParams{ID: ids[0], Paused: true})
	require.NoError(t, err)
	for env, want := range map[string]int{"staging": 2, "Staging": 1, "prod": 1, "dev": 0, "": 0} {
		n, err := s.ScheduleCountByEnvironment(ctx, env)
		require.NoError(t, err)
		assert.Equal(t, want, n, "environment %q", env)
	}
	require.NoError(t, s.ScheduleDelete(ctx, ids[1]))
	n, err = s.ScheduleCountByEnvironment(ctx, "staging")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "a deleted schedule no longer counts")
}
