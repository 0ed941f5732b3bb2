package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func executionCases() []testCase {
	return append([]testCase{
		{"CreateStartsQueuedAtAttemptZero", testExecutionCreate},
		{"CreateKeepsAGivenID", testExecutionCreateKeepsID},
		{"CreateReturnsErrNotFoundForUnknownPlan", testExecutionCreateUnknownPlan},
		{"CreateWithAUsedIdempotencyKeyReturnsErrConflict", testExecutionIdempotencyKey},
		{"CreateWithoutIdempotencyKeyNeverConflicts", testExecutionNoIdempotencyKey},
		{"GetReturnsErrNotFoundForUnknownID", testExecutionGetUnknown},
		{"GetByIdempotencyKeyReturnsErrNotFoundForUnknownKey", testExecutionGetByKeyUnknown},
		{"ListReturnsNewestFirst", testExecutionListNewestFirst},
		{"ListFiltersByPlanAndStatus", testExecutionListFilters},
		{"ListWalksPages", testExecutionListWalk},
		{"ListRejectsUnknownStatus", testExecutionListUnknownStatus},
		{"ListRejectsMalformedCursors", testExecutionListMalformedCursor},
		{"SetStatusToRunningStampsStartedAtAndAttempt", testExecutionSetRunning},
		{"SetStatusToFinalStampsFinishedAtAndStoresResult", testExecutionSetFinal},
		{"SetStatusFromFinalReturnsErrIllegalTransition", testExecutionSetFromFinal},
		{"SetStatusReturnsErrNotFoundForUnknownID", testExecutionSetUnknown},
		{"SetStatusFollowsTheTransitionTable", testExecutionTransitions},
		{"DeleteByPlanIDDeletesOnlyThatPlansExecutions", testExecutionDeleteByPlan},
		{"ReconcileFinishesExecutionsWhoseJobEnded", testExecutionReconcile},
		{"CreateStoresItsInputsAndOrigin", testExecutionCreateInputs},
		{"CreateDefaultsToTriggerAPIQueueDefaultAndNoInputs", testExecutionCreateInputDefaults},
		{"CreateRejectsUnknownTrigger", testExecutionCreateUnknownTrigger},
		{"ListFiltersByTriggerAndSchedule", testExecutionListTriggerSchedule},
		{"ListRejectsUnknownTrigger", testExecutionListUnknownTrigger},
		{"SetStatusRecordsTheWorkerID", testExecutionSetWorkerID},
	}, append(append(append(fenceCases(), executionManyCases()...), finishCases()...), startCases()...)...)
}

// createExecution creates an execution of plan at its current revision.
func createExecution(t *testing.T, ctx context.Context, s storage.Store, plan *storage.Plan, key string) *storage.Execution {
	t.Helper()
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
		PlanID:         plan.ID,
		PlanRevision:   plan.Revision,
		IdempotencyKey: key,
	})
	require.NoError(t, err, "create execution")
	return e
}

// setStatus moves an execution and fails the test if it cannot.
func setStatus(t *testing.T, ctx context.Context, s storage.Store, id uuid.UUID, status storage.ExecutionStatus) *storage.Execution {
	t.Helper()
	e, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: id, Status: status})
	require.NoError(t, err, "set status %s", status)
	return e
}

func executionIDs(es []*storage.Execution) []uuid.UUID {
	ids := make([]uuid.UUID, 0, len(es))
	for _, e := range es {
		ids = append(ids, e.ID)
	}
	return ids
}

// listExecutionIDs returns the IDs of every execution that p selects,
// walking all pages.
func listExecutionIDs(t *testing.T, ctx context.Context, s storage.Store, p storage.ExecutionListParams) []uuid.UUID {
	t.Helper()
	es := walkPages(t, storage.PageLimit(p.Limit), func(cursor string) ([]*storage.Execution, string) {
		q := p
		q.Cursor = cursor
		page, err := s.ExecutionList(ctx, &q)
		require.NoError(t, err)
		return page.Executions, page.NextCursor
	})
	return executionIDs(es)
}

func reversed[T any](s []T) []T {
	out := make([]T, len(s))
	for i, v := range s {
		out[len(s)-1-i] = v
	}
	return out
}

func assertExecutionEqual(t *testing.T, want, got *storage.Execution) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.PlanID, got.PlanID, "PlanID")
	assert.Equal(t, want.PlanRevision, got.PlanRevision, "PlanRevision")
	assert.Equal(t, want.Status, got.Status, "Status")
	assert.Equal(t, want.Attempt, got.Attempt, "Attempt")
	assert.Equal(t, want.IdempotencyKey, got.IdempotencyKey, "IdempotencyKey")
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameOptionalTime(t, want.StartedAt, got.StartedAt, "StartedAt")
	assertSameOptionalTime(t, want.FinishedAt, got.FinishedAt, "FinishedAt")
	assert.Equal(t, want.Variables, got.Variables, "Variables")
	assert.Equal(t, want.Environment, got.Environment, "Environment")
	assert.Equal(t, want.Trigger, got.Trigger, "Trigger")
	assert.Equal(t, want.ScheduleID, got.ScheduleID, "ScheduleID")
	assert.Equal(t, want.Queue, got.Queue, "Queue")
	assert.Equal(t, want.WorkerID, got.WorkerID, "WorkerID")
	if len(want.Result) == 0 {
		assert.Empty(t, got.Result, "Result")
	} else {
		assertJSONEq(t, string(want.Result), got.Result, "Result")
	}
}

func assertSameOptionalTime(t *testing.T, want, got *time.Time, what string) {
	t.Helper()
	if want == nil || got == nil {
		assert.Equal(t, want == nil, got == nil, "%s: want %v, got %v", what, want, got)
		return
	}
	assertSameTime(t, *want, *got, what)
}

func testExecutionCreate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	plan, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID: plan.ID, ExpectedRevision: 1, Name: plan.Name, Labels: plan.Labels, Document: plan.Document,
	})
	require.NoError(t, err)

	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: 2, IdempotencyKey: "req-1"})
	require.NoError(t, err)
	assert.NotEqual(t, uuid.Nil, e.ID)
	assert.Equal(t, uuid.Version(7), e.ID.Version(), "default IDs are UUIDv7")
	assert.Equal(t, plan.ID, e.PlanID)
	assert.Equal(t, int64(2), e.PlanRevision)
	assert.Equal(t, storage.ExecutionQueued, e.Status)
	assert.Zero(t, e.Attempt)
	assert.Equal(t, "req-1", e.IdempotencyKey)
	assertRecent(t, e.CreatedAt, "CreatedAt")
	assert.Nil(t, e.StartedAt)
	assert.Nil(t, e.FinishedAt)
	assert.Empty(t, e.Result)

	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, e, got)
}

func testExecutionCreateKeepsID(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	id := uuid.Must(uuid.NewV7())
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{ID: id, PlanID: plan.ID, PlanRevision: 1})
	require.NoError(t, err)
	assert.Equal(t, id, e.ID)
	_, err = s.ExecutionGetByID(ctx, id)
	require.NoError(t, err)
}

func testExecutionCreateUnknownPlan(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: uuid.Must(uuid.NewV7()), PlanRevision: 1})
	require.ErrorIs(t, err, storage.ErrNotFound)
	assert.Empty(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}))
}

func testExecutionIdempotencyKey(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	other := createPlan(t, ctx, s, "other")
	first := createExecution(t, ctx, s, plan, "req-1")

	_, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: 1, IdempotencyKey: "req-1"})
	require.ErrorIs(t, err, storage.ErrConflict)

	got, err := s.ExecutionGetByIdempotencyKey(ctx, plan.ID, "req-1")
	require.NoError(t, err)
	assertExecutionEqual(t, first, got)

	onOther := createExecution(t, ctx, s, other, "req-1")
	assert.NotEqual(t, first.ID, onOther.ID)
	got, err = s.ExecutionGetByIdempotencyKey(ctx, other.ID, "req-1")
	require.NoError(t, err)
	assert.Equal(t, onOther.ID, got.ID)

	assert.ElementsMatch(t, []uuid.UUID{first.ID, onOther.ID},
		listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}), "the refused create left a row")
}

func testExecutionNoIdempotencyKey(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	a := createExecution(t, ctx, s, plan, "")
	b := createExecution(t, ctx, s, plan, "")
	assert.NotEqual(t, a.ID, b.ID)
	assert.Empty(t, a.IdempotencyKey)
}

func testExecutionGetUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.ExecutionGetByID(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testExecutionGetByKeyUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	other := createPlan(t, ctx, s, "other")
	createExecution(t, ctx, s, plan, "req-1")
	_, err := s.ExecutionGetByIdempotencyKey(ctx, plan.ID, "req-2")
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.ExecutionGetByIdempotencyKey(ctx, other.ID, "req-1")
	require.ErrorIs(t, err, storage.ErrNotFound, "a key belongs to its plan")
	_, err = s.ExecutionGetByIdempotencyKey(ctx, uuid.Must(uuid.NewV7()), "req-1")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testExecutionListNewestFirst(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	var created []uuid.UUID
	for range 5 {
		created = append(created, createExecution(t, ctx, s, plan, "").ID)
	}
	page, err := s.ExecutionList(ctx, &storage.ExecutionListParams{})
	require.NoError(t, err)
	assert.Equal(t, reversed(created), executionIDs(page.Executions))
	assert.Empty(t, page.NextCursor)
	for _, e := range page.Executions {
		assert.Equal(t, storage.ExecutionQueued, e.Status)
		assert.Equal(t, plan.ID, e.PlanID)
	}
}

func testExecutionListFilters(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a := createPlan(t, ctx, s, "a")
	b := createPlan(t, ctx, s, "b")
	aQueued := createExecution(t, ctx, s, a, "").ID
	aRunning := createExecution(t, ctx, s, a, "").ID
	setStatus(t, ctx, s, aRunning, storage.ExecutionRunning)
	bQueued := createExecution(t, ctx, s, b, "").ID
	bRunning := createExecution(t, ctx, s, b, "").ID
	setStatus(t, ctx, s, bRunning, storage.ExecutionRunning)
	bPassed := createExecution(t, ctx, s, b, "").ID
	setStatus(t, ctx, s, bPassed, storage.ExecutionRunning)
	setStatus(t, ctx, s, bPassed, storage.ExecutionPassed)

	tests := []struct {
		name string
		p    storage.ExecutionListParams
		want []uuid.UUID
	}{
		{"All", storage.ExecutionListParams{}, []uuid.UUID{bPassed, bRunning, bQueued, aRunning, aQueued}},
		{"ByPlan", storage.ExecutionListParams{PlanID: a.ID}, []uuid.UUID{aRunning, aQueued}},
		{"ByStatus", storage.ExecutionListParams{Status: storage.ExecutionRunning}, []uuid.UUID{bRunning, aRunning}},
		{"ByPlanAndStatus", storage.ExecutionListParams{PlanID: b.ID, Status: storage.ExecutionQueued}, []uuid.UUID{bQueued}},
		{"NoneInStatus", storage.ExecutionListParams{Status: storage.ExecutionCancelled}, []uuid.UUID{}},
		{"UnknownPlan", storage.ExecutionListParams{PlanID: uuid.Must(uuid.NewV7())}, []uuid.UUID{}},
		{"ByPlanPaged", storage.ExecutionListParams{PlanID: b.ID, Limit: 1}, []uuid.UUID{bPassed, bRunning, bQueued}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, listExecutionIDs(t, ctx, s, tt.p))
		})
	}
}

func testExecutionListWalk(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	var created []uuid.UUID
	for range 5 {
		created = append(created, createExecution(t, ctx, s, plan, "").ID)
	}
	var sizes []int
	es := walkPages(t, 2, func(cursor string) ([]*storage.Execution, string) {
		page, err := s.ExecutionList(ctx, &storage.ExecutionListParams{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		sizes = append(sizes, len(page.Executions))
		return page.Executions, page.NextCursor
	})
	assert.Equal(t, reversed(created), executionIDs(es))
	assert.Equal(t, []int{2, 2, 1}, sizes)

	// A full last page has no NextCursor.
	page, err := s.ExecutionList(ctx, &storage.ExecutionListParams{Limit: 5})
	require.NoError(t, err)
	assert.Len(t, page.Executions, 5)
	assert.Empty(t, page.NextCursor)
}

func testExecutionListUnknownStatus(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, status := range []storage.ExecutionStatus{"bogus", "QUEUED", "queued'--"} {
		_, err := s.ExecutionList(ctx, &storage.ExecutionListParams{Status: status})
		require.ErrorIs(t, err, storage.ErrInvalidInput, "status %q", status)
	}
}

func testExecutionListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	createExecution(t, ctx, s, plan, "")
	for name, cursor := range malformedCursors(storage.ListExecutions) {
		t.Run(name, func(t *testing.T) {
			_, err := s.ExecutionList(ctx, &storage.ExecutionListParams{Cursor: cursor})
			require.ErrorIs(t, err, storage.ErrInvalidInput, "cursor %q", cursor)
		})
	}
}

func testExecutionSetRunning(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	e := createExecution(t, ctx, s, plan, "")

	running, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionRunning, running.Status)
	assert.Equal(t, 1, running.Attempt)
	require.NotNil(t, running.StartedAt)
	assertRecent(t, *running.StartedAt, "StartedAt")
	assert.False(t, running.StartedAt.Before(e.CreatedAt), "StartedAt before CreatedAt")
	assert.Nil(t, running.FinishedAt)

	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, running, got)

	// A retried attempt keeps the first start time.
	again, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning, Attempt: 2})
	require.NoError(t, err)
	assert.Equal(t, 2, again.Attempt)
	require.NotNil(t, again.StartedAt)
	assertSameTime(t, *running.StartedAt, *again.StartedAt, "StartedAt after a retry")

	// Attempt 0 keeps the attempt.
	queued, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionQueued})
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionQueued, queued.Status)
	assert.Equal(t, 2, queued.Attempt)
	assert.Nil(t, queued.FinishedAt)
}

func testExecutionSetFinal(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	e := createExecution(t, ctx, s, plan, "")
	running, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)

	result := `{"passed": true, "steps": [{"name": "login", "status": 200, "ms": 12.5}], "notes": null}`
	passed, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionPassed, Result: json.RawMessage(result),
	})
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionPassed, passed.Status)
	assert.Equal(t, 1, passed.Attempt, "attempt 0 keeps the attempt")
	require.NotNil(t, passed.FinishedAt)
	assertRecent(t, *passed.FinishedAt, "FinishedAt")
	require.NotNil(t, passed.StartedAt)
	assertSameTime(t, *running.StartedAt, *passed.StartedAt, "StartedAt")
	assert.False(t, passed.FinishedAt.Before(*passed.StartedAt), "FinishedAt before StartedAt")
	assertJSONEq(t, result, passed.Result, "Result")

	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, passed, got)
}

func testExecutionSetFromFinal(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	e := createExecution(t, ctx, s, plan, "")
	setStatus(t, ctx, s, e.ID, storage.ExecutionRunning)
	passed, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionPassed, Result: json.RawMessage(`{"ok":true}`),
	})
	require.NoError(t, err)

	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionRunning, Attempt: 2, Result: json.RawMessage(`{"ok":false}`),
	})
	require.ErrorIs(t, err, storage.ErrIllegalTransition)
	require.ErrorIs(t, err, storage.ErrConflict)
	require.NotErrorIs(t, err, storage.ErrNotFound)

	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, passed, got)
}

func testExecutionSetUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: uuid.Must(uuid.NewV7()), Status: storage.ExecutionRunning})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrConflict)
}

// pathTo lists legal moves that take a new, queued execution to a status.
var pathTo = map[storage.ExecutionStatus][]storage.ExecutionStatus{
	storage.ExecutionQueued:    nil,
	storage.ExecutionRunning:   {storage.ExecutionRunning},
	storage.ExecutionPassed:    {storage.ExecutionRunning, storage.ExecutionPassed},
	storage.ExecutionFailed:    {storage.ExecutionRunning, storage.ExecutionFailed},
	storage.ExecutionError:     {storage.ExecutionError},
	storage.ExecutionCancelled: {storage.ExecutionCancelled},
}

func title(s storage.ExecutionStatus) string {
	return strings.ToUpper(string(s[:1])) + string(s[1:])
}

func testExecutionTransitions(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	for _, from := range storage.ExecutionStatuses {
		for _, to := range storage.ExecutionStatuses {
			t.Run(fmt.Sprintf("%sTo%s", title(from), title(to)), func(t *testing.T) {
				e := createExecution(t, ctx, s, plan, "")
				for _, step := range pathTo[from] {
					e = setStatus(t, ctx, s, e.ID, step)
				}
				require.Equal(t, from, e.Status)

				got, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: to})
				if from.CanMoveTo(to) {
					require.NoError(t, err)
					assert.Equal(t, to, got.Status)
					if to.Final() {
						assert.NotNil(t, got.FinishedAt, "a final status stamps FinishedAt")
					} else {
						assert.Nil(t, got.FinishedAt)
					}
					if to == storage.ExecutionRunning {
						assert.NotNil(t, got.StartedAt, "running stamps StartedAt")
					}
					return
				}
				require.ErrorIs(t, err, storage.ErrIllegalTransition)
				require.ErrorIs(t, err, storage.ErrConflict)
				after, err := s.ExecutionGetByID(ctx, e.ID)
				require.NoError(t, err)
				assertExecutionEqual(t, e, after)
			})
		}
	}
}

func testExecutionDeleteByPlan(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a := createPlan(t, ctx, s, "a")
	b := createPlan(t, ctx, s, "b")
	createExecution(t, ctx, s, a, "")
	createExecution(t, ctx, s, a, "key")
	kept := createExecution(t, ctx, s, b, "key").ID

	n, err := s.ExecutionDeleteByPlanID(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	assert.Equal(t, []uuid.UUID{kept}, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}))

	n, err = s.ExecutionDeleteByPlanID(ctx, a.ID)
	require.NoError(t, err)
	assert.Zero(t, n)
	n, err = s.ExecutionDeleteByPlanID(ctx, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	assert.Zero(t, n)

	// The key is free again for plan a.
	createExecution(t, ctx, s, a, "key")
}

// testExecutionReconcile covers ExecutionReconcile: an execution whose
// newest job was discarded ends in error, one whose job was cancelled is
// cancelled, one with no job ends in error, and executions with a live job
// or a final status are left alone.
func testExecutionReconcile(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "reconcile")
	newExec := func() *storage.Execution { return createExecution(t, ctx, s, plan, "") }
	jobFor := func(e *storage.Execution, maxAttempts int) *storage.Job {
		t.Helper()
		j, err := s.JobEnqueue(ctx, &storage.JobEnqueueParams{
			Queue: "reconcile", Kind: "execute_plan", UniqueKey: storage.ExecutionJobKey(e.ID), MaxAttempts: maxAttempts,
		})
		require.NoError(t, err)
		return j
	}
	claimed := func() *storage.Job {
		t.Helper()
		jobs, err := s.JobClaim(ctx, &storage.JobClaimParams{Queue: "reconcile", Worker: "w", Limit: 1, Lease: longLease})
		require.NoError(t, err)
		require.Len(t, jobs, 1)
		return jobs[0]
	}

	discarded := newExec()
	jobFor(discarded, 1)
	j := claimed()
	_, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: discarded.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)
	_, err = s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(j), Error: "boom", Retry: true})
	require.NoError(t, err)

	passed := newExec()
	jobFor(passed, 5)
	pj := claimed()
	setStatus(t, ctx, s, passed.ID, storage.ExecutionRunning)
	passed = setStatus(t, ctx, s, passed.ID, storage.ExecutionPassed)
	require.NoError(t, s.JobComplete(ctx, ref(pj)))

	cancelled := newExec()
	cj := jobFor(cancelled, 5)
	_, err = s.JobCancel(ctx, cj.ID)
	require.NoError(t, err)

	live := newExec()
	jobFor(live, 5)
	noJob := newExec()

	done, err := s.ExecutionReconcile(ctx)
	require.NoError(t, err)
	assertReconciled(t, ctx, s, done, map[uuid.UUID]storage.ExecutionStatus{
		discarded.ID: storage.ExecutionError,
		cancelled.ID: storage.ExecutionCancelled,
		noJob.ID:     storage.ExecutionError,
	})

	want := map[uuid.UUID]storage.ExecutionStatus{
		discarded.ID: storage.ExecutionError,
		cancelled.ID: storage.ExecutionCancelled,
		live.ID:      storage.ExecutionQueued,
		noJob.ID:     storage.ExecutionError,
		passed.ID:    storage.ExecutionPassed,
	}
	for id, status := range want {
		got, err := s.ExecutionGetByID(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, status, got.Status, "execution %s", id)
		if status.Final() {
			assert.NotNil(t, got.FinishedAt)
		}
	}
	reasons := map[uuid.UUID]string{
		discarded.ID: storage.ReconcileReasonDiscarded,
		noJob.ID:     storage.ReconcileReasonGone,
	}
	for id, reason := range reasons {
		got, err := s.ExecutionGetByID(ctx, id)
		require.NoError(t, err)
		assertJSONEq(t, `{"plan_revision": 1, "error": "`+reason+`"}`, got.Result, "Result")
	}
	got, err := s.ExecutionGetByID(ctx, cancelled.ID)
	require.NoError(t, err)
	assert.Empty(t, got.Result, "a cancelled execution gets no reason")
	got, err = s.ExecutionGetByID(ctx, passed.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, passed, got)

	done, err = s.ExecutionReconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, done, "a second pass finds nothing to do")
}

// assertReconciled checks that ExecutionReconcile returned exactly the
// executions of want, ordered by ID, each with the status want gives and
// as ExecutionGetByID now reads it.
func assertReconciled(t *testing.T, ctx context.Context, s storage.Store, done []*storage.Execution, want map[uuid.UUID]storage.ExecutionStatus) {
	t.Helper()
	wantIDs := slices.Collect(maps.Keys(want))
	slices.SortFunc(wantIDs, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	require.Equal(t, wantIDs, executionIDs(done), "the executions reconciled, ordered by ID")
	for _, e := range done {
		assert.Equal(t, want[e.ID], e.Status, "execution %s", e.ID)
		assert.NotNil(t, e.FinishedAt, "execution %s", e.ID)
		got, err := s.ExecutionGetByID(ctx, e.ID)
		require.NoError(t, err)
		assertExecutionEqual(t, got, e)
	}
}

func testExecutionCreateInputs(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	schedule := uuid.Must(uuid.NewV7())
	vars := map[string]string{"base_url": "https://eu.example.com", "user": `o"brien`}
	e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
		PlanID: plan.ID, PlanRevision: plan.Revision, Variables: vars, Environment: "staging",
		Trigger: storage.TriggerSchedule, ScheduleID: schedule, Queue: "eu",
	})
	require.NoError(t, err)
	assert.Equal(t, vars, e.Variables)
	assert.Equal(t, "staging", e.Environment)
	assert.Equal(t, storage.TriggerSchedule, e.Trigger)
	assert.Equal(t, schedule, e.ScheduleID)
	assert.Equal(t, "eu", e.Queue)
	assert.Empty(t, e.WorkerID, "no worker before it runs")

	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, e, got)
	page, err := s.ExecutionList(ctx, &storage.ExecutionListParams{})
	require.NoError(t, err)
	require.Len(t, page.Executions, 1)
	assertExecutionEqual(t, e, page.Executions[0])
}

func testExecutionCreateInputDefaults(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	e := createExecution(t, ctx, s, plan, "")
	assert.NotNil(t, e.Variables)
	assert.Empty(t, e.Variables)
	assert.Empty(t, e.Environment)
	assert.Equal(t, storage.TriggerAPI, e.Trigger)
	assert.Equal(t, uuid.Nil, e.ScheduleID)
	assert.Equal(t, storage.DefaultQueue, e.Queue)
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, e, got)
}

func testExecutionCreateUnknownTrigger(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	for _, trigger := range []storage.ExecutionTrigger{"bogus", "API", "api'--"} {
		_, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: 1, Trigger: trigger})
		require.ErrorIs(t, err, storage.ErrInvalidInput, "trigger %q", trigger)
	}
	assert.Empty(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}))
}

func testExecutionListTriggerSchedule(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	s1, s2 := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	create := func(trigger storage.ExecutionTrigger, schedule uuid.UUID) uuid.UUID {
		e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
			PlanID: plan.ID, PlanRevision: plan.Revision, Trigger: trigger, ScheduleID: schedule,
		})
		require.NoError(t, err)
		return e.ID
	}
	api := create(storage.TriggerAPI, uuid.Nil)
	s1a := create(storage.TriggerSchedule, s1)
	cli := create(storage.TriggerCLI, uuid.Nil)
	s2a := create(storage.TriggerSchedule, s2)
	s1b := create(storage.TriggerSchedule, s1)
	setStatus(t, ctx, s, s1b, storage.ExecutionRunning)

	tests := []struct {
		name string
		p    storage.ExecutionListParams
		want []uuid.UUID
	}{
		{"ByTriggerAPI", storage.ExecutionListParams{Trigger: storage.TriggerAPI}, []uuid.UUID{api}},
		{"ByTriggerCLI", storage.ExecutionListParams{Trigger: storage.TriggerCLI}, []uuid.UUID{cli}},
		{"ByTriggerSchedule", storage.ExecutionListParams{Trigger: storage.TriggerSchedule}, []uuid.UUID{s1b, s2a, s1a}},
		{"BySchedule", storage.ExecutionListParams{ScheduleID: s1}, []uuid.UUID{s1b, s1a}},
		{"ByScheduleAndStatus", storage.ExecutionListParams{ScheduleID: s1, Status: storage.ExecutionQueued}, []uuid.UUID{s1a}},
		{"ByScheduleAndPlan", storage.ExecutionListParams{ScheduleID: s2, PlanID: plan.ID}, []uuid.UUID{s2a}},
		{"ByScheduleAndOtherTrigger", storage.ExecutionListParams{ScheduleID: s2, Trigger: storage.TriggerAPI}, []uuid.UUID{}},
		{"UnknownSchedule", storage.ExecutionListParams{ScheduleID: uuid.Must(uuid.NewV7())}, []uuid.UUID{}},
		{"BySchedulePaged", storage.ExecutionListParams{Trigger: storage.TriggerSchedule, Limit: 1}, []uuid.UUID{s1b, s2a, s1a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, listExecutionIDs(t, ctx, s, tt.p))
		})
	}
}

func testExecutionListUnknownTrigger(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, trigger := range []storage.ExecutionTrigger{"bogus", "API", "api'--"} {
		_, err := s.ExecutionList(ctx, &storage.ExecutionListParams{Trigger: trigger})
		require.ErrorIs(t, err, storage.ErrInvalidInput, "trigger %q", trigger)
	}
}

func testExecutionSetWorkerID(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	e := createExecution(t, ctx, s, plan, "")
	running, err := s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: e.ID, Status: storage.ExecutionRunning, WorkerID: "host-1-42",
	})
	require.NoError(t, err)
	assert.Equal(t, "host-1-42", running.WorkerID)
	// A write without a worker ID keeps it.
	passed := setStatus(t, ctx, s, e.ID, storage.ExecutionPassed)
	assert.Equal(t, "host-1-42", passed.WorkerID)
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assert.Equal(t, "host-1-42", got.WorkerID)
}
