package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func txCases() []testCase {
	return []testCase{
		{"CommitMakesWritesVisible", testTxCommit},
		{"ErrorRollsBackPlanExecutionAndJob", testTxErrorRollsBack},
		{"PanicRollsBackAndPropagates", testTxPanic},
		{"NestedInTxJoinsTheOuterTransaction", testTxNestedRollsBack},
		{"NestedInTxCommitsWithTheOuterTransaction", testTxNestedCommits},
		{"RolledBackExecutionAndJobAreInvisible", testTxRolledBackExecutionAndJob},
		{"StoreIsUsableAfterARollback", testTxUsableAfterRollback},
	}
}

// errRollback is returned by transaction bodies to ask for a rollback.
var errRollback = errors.New("storagetest: roll back")

// panicValue is what a transaction body panics with.
type panicValue struct{ msg string }

// txWrites creates a plan, an execution of it and a job through tx, and
// returns their IDs.
func txWrites(t *testing.T, ctx context.Context, tx storage.Store, name string) (planID, execID uuid.UUID, jobID int64) {
	t.Helper()
	p := createPlan(t, ctx, tx, name)
	e := createExecution(t, ctx, tx, p, "key-"+name)
	j := enqueue(t, ctx, tx, storage.JobEnqueueParams{Kind: "run", Payload: []byte(`{"execution":"` + e.ID.String() + `"}`), UniqueKey: "run-" + name})
	return p.ID, e.ID, j.ID
}

// assertAbsent checks that none of the rows written by txWrites exists.
func assertAbsent(t *testing.T, ctx context.Context, s storage.Store, planID, execID uuid.UUID, jobID int64) {
	t.Helper()
	_, err := s.PlanGetByID(ctx, planID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "plan")
	_, err = s.ExecutionGetByID(ctx, execID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "execution")
	_, err = s.JobGet(ctx, jobID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "job")
}

// assertEmpty checks that the store holds no plan, execution or job.
func assertEmpty(t *testing.T, ctx context.Context, s storage.Store) {
	t.Helper()
	assert.Empty(t, listPlanIDs(t, ctx, s, storage.PlanListParams{}), "plans")
	assert.Empty(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{}), "executions")
	assert.Empty(t, listJobs(t, ctx, s, storage.JobListParams{}), "jobs")
	assertNoJobStats(t, ctx, s)
	assert.Empty(t, claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease), "claimable jobs")
}

func testTxCommit(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var planID, execID uuid.UUID
	var jobID int64
	err := s.InTx(ctx, func(tx storage.Store) error {
		planID, execID, jobID = txWrites(t, ctx, tx, "committed")
		return nil
	})
	require.NoError(t, err)

	_, err = s.PlanGetByID(ctx, planID)
	require.NoError(t, err)
	e, err := s.ExecutionGetByID(ctx, execID)
	require.NoError(t, err)
	assert.Equal(t, planID, e.PlanID)
	assert.Equal(t, jobID, claimOne(t, ctx, s, storage.DefaultQueue, longLease).ID)
}

func testTxErrorRollsBack(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var planID, execID uuid.UUID
	var jobID int64
	err := s.InTx(ctx, func(tx storage.Store) error {
		planID, execID, jobID = txWrites(t, ctx, tx, "doomed")
		// The transaction sees its own writes.
		_, err := tx.PlanGetByID(ctx, planID)
		require.NoError(t, err)
		_, err = tx.ExecutionGetByIdempotencyKey(ctx, planID, "key-doomed")
		require.NoError(t, err)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback, "InTx returns fn's error")

	assertAbsent(t, ctx, s, planID, execID, jobID)
	assertEmpty(t, ctx, s)
	// Nothing it wrote holds a name or key.
	txWrites(t, ctx, s, "doomed")
}

func testTxPanic(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var planID, execID uuid.UUID
	var jobID int64
	recovered := func() (r any) {
		defer func() { r = recover() }()
		_ = s.InTx(ctx, func(tx storage.Store) error {
			planID, execID, jobID = txWrites(t, ctx, tx, "panicked")
			panic(panicValue{"boom"})
		})
		return nil
	}()
	require.Equal(t, panicValue{"boom"}, recovered, "InTx re-panics with fn's value")

	assertAbsent(t, ctx, s, planID, execID, jobID)
	assertEmpty(t, ctx, s)
}

func testTxNestedRollsBack(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var outerPlan, innerPlan *storage.Plan
	err := s.InTx(ctx, func(tx storage.Store) error {
		outerPlan = createPlan(t, ctx, tx, "outer")
		err := tx.InTx(ctx, func(inner storage.Store) error {
			// The inner function runs in the outer transaction: it sees the
			// outer write, which no other transaction could.
			_, err := inner.PlanGetByID(ctx, outerPlan.ID)
			require.NoError(t, err, "the nested transaction does not see the outer write")
			innerPlan = createPlan(t, ctx, inner, "inner")
			return nil
		})
		require.NoError(t, err)
		_, err = tx.PlanGetByID(ctx, innerPlan.ID)
		require.NoError(t, err, "the outer transaction does not see the nested write")
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	_, err = s.PlanGetByID(ctx, outerPlan.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.PlanGetByID(ctx, innerPlan.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "the nested write committed on its own")
	assertEmpty(t, ctx, s)
}

func testTxNestedCommits(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var outerPlan, innerPlan *storage.Plan
	err := s.InTx(ctx, func(tx storage.Store) error {
		outerPlan = createPlan(t, ctx, tx, "outer")
		return tx.InTx(ctx, func(inner storage.Store) error {
			innerPlan = createPlan(t, ctx, inner, "inner")
			return nil
		})
	})
	require.NoError(t, err)
	_, err = s.PlanGetByID(ctx, outerPlan.ID)
	assert.NoError(t, err)
	_, err = s.PlanGetByID(ctx, innerPlan.ID)
	assert.NoError(t, err)

	// An error from the nested call, passed out, rolls back everything.
	err = s.InTx(ctx, func(tx storage.Store) error {
		createPlan(t, ctx, tx, "outer-2")
		return tx.InTx(ctx, func(inner storage.Store) error {
			createPlan(t, ctx, inner, "inner-2")
			return errRollback
		})
	})
	require.ErrorIs(t, err, errRollback)
	assert.ElementsMatch(t, []uuid.UUID{outerPlan.ID, innerPlan.ID}, listPlanIDs(t, ctx, s, storage.PlanListParams{}))
}

func testTxRolledBackExecutionAndJob(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	plan := createPlan(t, ctx, s, "committed")
	var execID uuid.UUID
	var jobID int64
	err := s.InTx(ctx, func(tx storage.Store) error {
		e := createExecution(t, ctx, tx, plan, "req-1")
		execID = e.ID
		jobID = enqueue(t, ctx, tx, storage.JobEnqueueParams{Kind: "run", Queue: "runs"}).ID
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	_, err = s.ExecutionGetByID(ctx, execID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.ExecutionGetByIdempotencyKey(ctx, plan.ID, "req-1")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.Empty(t, listExecutionIDs(t, ctx, s, storage.ExecutionListParams{PlanID: plan.ID}))
	_, err = s.JobGet(ctx, jobID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	assert.Empty(t, listJobs(t, ctx, s, storage.JobListParams{}))
	assertNoJobStats(t, ctx, s)
	assert.Empty(t, claim(t, ctx, s, "runs", "worker", 10, longLease))

	// The plan, written outside the transaction, is untouched, and it can
	// be deleted: no rolled-back execution refers to it.
	require.NoError(t, s.PlanDelete(ctx, plan.ID))
}

func testTxUsableAfterRollback(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	// More rollbacks than any sane pool has connections: a leaked
	// connection or lock would block the store.
	for range 20 {
		err := s.InTx(ctx, func(tx storage.Store) error {
			createPlan(t, ctx, tx, "again")
			return errRollback
		})
		require.ErrorIs(t, err, errRollback)
		func() {
			defer func() { _ = recover() }()
			_ = s.InTx(ctx, func(tx storage.Store) error {
				createPlan(t, ctx, tx, "again")
				panic(panicValue{"again"})
			})
		}()
	}
	createPlan(t, ctx, s, "again")
	require.NoError(t, s.Ping(ctx))
}
