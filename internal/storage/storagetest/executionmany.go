package storagetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// largeBatch is more executions than one SQLite statement of
// ExecutionCreateMany takes (5,000), so that the chunks meet.
const largeBatch = 6000

func executionManyCases() []testCase {
	return []testCase{
		{"CreateManyStoresEveryFieldInTheOrderGiven", testExecutionCreateManyFields},
		{"CreateManySkipsTakenIdempotencyKeysAndCreatesTheOthers", testExecutionCreateManyConflict},
		{"CreateManyOfNoneCreatesNone", testExecutionCreateManyEmpty},
		{"CreateManyRefusesTheWholeBatchOnBadInput", testExecutionCreateManyRefuses},
		{"CreateManyStoresALargeBatchInOrder", testExecutionCreateManyLarge},
		{"CreateManyRollsBackWithItsTransaction", testExecutionCreateManyRollback},
	}
}

// createMany creates executions with ExecutionCreateMany and fails the
// test if it cannot.
func createMany(t *testing.T, ctx context.Context, s storage.Store, ps []*storage.ExecutionCreateParams) []*storage.Execution {
	t.Helper()
	es, err := s.ExecutionCreateMany(ctx, ps)
	require.NoError(t, err, "create %d executions", len(ps))
	return es
}

func testExecutionCreateManyFields(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	other := createPlan(t, ctx, s, "other")
	// The first row's ID sorts after the last row's, so an adapter that
	// returns rows by ID, not in the order of ps, fails.
	early, late := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	schedule := uuid.Must(uuid.NewV7())
	vars := map[string]string{"base_url": "https://eu.example.com", "user": `o"brien`}
	ps := []*storage.ExecutionCreateParams{
		{ID: late, PlanID: other.ID, PlanRevision: 7, IdempotencyKey: "k-1", Variables: vars,
			Environment: "staging", Trigger: storage.TriggerSchedule, ScheduleID: schedule, Queue: "eu"},
		{PlanID: plan.ID, PlanRevision: plan.Revision},
		{ID: early, PlanID: plan.ID, PlanRevision: plan.Revision, Trigger: storage.TriggerCLI},
	}
	es := createMany(t, ctx, s, ps)
	require.Len(t, es, 3)
	assert.Equal(t, late, es[0].ID, "a given ID is kept, in the order of ps")
	assert.Equal(t, early, es[2].ID, "a given ID is kept, in the order of ps")
	assert.NotEqual(t, uuid.Nil, es[1].ID)
	assert.Equal(t, uuid.Version(7), es[1].ID.Version(), "default IDs are UUIDv7")

	first := es[0]
	assert.Equal(t, other.ID, first.PlanID)
	assert.Equal(t, int64(7), first.PlanRevision)
	assert.Equal(t, "k-1", first.IdempotencyKey)
	assert.Equal(t, vars, first.Variables)
	assert.Equal(t, "staging", first.Environment)
	assert.Equal(t, storage.TriggerSchedule, first.Trigger)
	assert.Equal(t, schedule, first.ScheduleID)
	assert.Equal(t, "eu", first.Queue)

	defaults := es[1]
	assert.Equal(t, plan.ID, defaults.PlanID)
	assert.Empty(t, defaults.IdempotencyKey)
	assert.NotNil(t, defaults.Variables)
	assert.Empty(t, defaults.Variables)
	assert.Empty(t, defaults.Environment)
	assert.Equal(t, storage.TriggerAPI, defaults.Trigger)
	assert.Equal(t, uuid.Nil, defaults.ScheduleID)
	assert.Equal(t, storage.DefaultQueue, defaults.Queue)
	assert.Equal(t, storage.TriggerCLI, es[2].Trigger)

	for _, e := range es {
		assert.Equal(t, storage.ExecutionQueued, e.Status)
		assert.Zero(t, e.Attempt)
		assertRecent(t, e.CreatedAt, "CreatedAt")
		assert.Nil(t, e.StartedAt)
		assert.Nil(t, e.FinishedAt)
		assert.Empty(t, e.Result)
		assert.Empty(t, e.WorkerID)
		got, err := s.ExecutionGetByID(ctx, e.ID)
		require.NoError(t, err)
		assertExecutionEqual(t, e, got)
	}
	got, err := s.ExecutionGetByIdempotencyKey(ctx, other.ID, "k-1")
	require.NoError(t, err)
	assertExecutionEqual(t, first, got)
}

func testExecutionCreateManyConflict(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	other := createPlan(t, ctx, s, "other")
	older := createExecution(t, ctx, s, plan, "taken")
	params := func(p *storage.Plan, key string) *storage.ExecutionCreateParams {
		return &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision, IdempotencyKey: key}
	}
	ps := []*storage.ExecutionCreateParams{
		params(plan, "a"),
		params(plan, "taken"), // by an older execution
		params(plan, "b"),
		params(plan, "b"), // by an earlier row of the batch
		params(other, "taken"),
		params(plan, ""),
		params(plan, ""),
	}
	es := createMany(t, ctx, s, ps)
	require.Len(t, es, 5, "the rows with a taken key are left out, the others created")
	wantKeys := []string{"a", "b", "taken", "", ""}
	wantPlans := []uuid.UUID{plan.ID, plan.ID, other.ID, plan.ID, plan.ID}
	for i, e := range es {
		assert.Equal(t, wantKeys[i], e.IdempotencyKey, "row %d", i)
		assert.Equal(t, wantPlans[i], e.PlanID, "row %d", i)
	}

	got, err := s.ExecutionGetByIdempotencyKey(ctx, plan.ID, "taken")
	require.NoError(t, err)
	assertExecutionEqual(t, older, got)
	got, err = s.ExecutionGetByIdempotencyKey(ctx, plan.ID, "b")
	require.NoError(t, err)
	assertExecutionEqual(t, es[1], got)
	assert.ElementsMatch(t, append(executionIDs(es), older.ID),
		listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}), "a skipped row left a row")

	again := createMany(t, ctx, s, ps[:5])
	assert.Empty(t, again, "every key is taken now")
}

func testExecutionCreateManyEmpty(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, ps := range [][]*storage.ExecutionCreateParams{nil, {}} {
		es, err := s.ExecutionCreateMany(ctx, ps)
		require.NoError(t, err)
		assert.Empty(t, es)
	}
	assert.Empty(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}))
}

func testExecutionCreateManyRefuses(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	taken := createExecution(t, ctx, s, plan, "")
	good := func() *storage.ExecutionCreateParams {
		return &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: plan.Revision, IdempotencyKey: "good"}
	}
	tests := []struct {
		name string
		bad  *storage.ExecutionCreateParams
		want error
	}{
		{"UnknownTrigger", &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: 1, Trigger: "bogus"}, storage.ErrInvalidInput},
		{"UnknownPlan", &storage.ExecutionCreateParams{PlanID: uuid.Must(uuid.NewV7()), PlanRevision: 1}, storage.ErrNotFound},
		{"TakenID", &storage.ExecutionCreateParams{ID: taken.ID, PlanID: plan.ID, PlanRevision: 1}, storage.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.ExecutionCreateMany(ctx, []*storage.ExecutionCreateParams{good(), tt.bad, good()})
			require.ErrorIs(t, err, tt.want)
			assert.Equal(t, []uuid.UUID{taken.ID}, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}),
				"a refused batch stores nothing")
		})
	}
}

func testExecutionCreateManyLarge(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	ps := make([]*storage.ExecutionCreateParams, largeBatch)
	for i := range ps {
		ps[i] = &storage.ExecutionCreateParams{
			PlanID: plan.ID, PlanRevision: plan.Revision, IdempotencyKey: fmt.Sprintf("tick-%d", i),
			Variables: map[string]string{"i": fmt.Sprint(i)},
		}
	}
	// The last row repeats the first row's key, across the chunks.
	ps[len(ps)-1].IdempotencyKey = "tick-0"
	es := createMany(t, ctx, s, ps)
	require.Len(t, es, largeBatch-1)
	for i, e := range es {
		if e.IdempotencyKey != fmt.Sprintf("tick-%d", i) || e.Variables["i"] != fmt.Sprint(i) {
			require.Failf(t, "out of order", "row %d has key %q and variable %q", i, e.IdempotencyKey, e.Variables["i"])
		}
	}
	assert.Len(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{Limit: storage.MaxPageLimit}), largeBatch-1)
}

func testExecutionCreateManyRollback(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "plan")
	ps := []*storage.ExecutionCreateParams{
		{PlanID: plan.ID, PlanRevision: plan.Revision, IdempotencyKey: "k-1"},
		{PlanID: plan.ID, PlanRevision: plan.Revision, IdempotencyKey: "k-2"},
	}
	err := s.InTx(ctx, func(tx storage.Store) error {
		es := createMany(t, ctx, tx, ps)
		require.Len(t, es, 2)
		// The transaction sees its own writes.
		_, err := tx.ExecutionGetByID(ctx, es[0].ID)
		require.NoError(t, err)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	assert.Empty(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}))
	// Nothing it wrote holds a key.
	assert.Len(t, createMany(t, ctx, s, ps), 2)
}
