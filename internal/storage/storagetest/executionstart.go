package storagetest

import (
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// startCases cover ExecutionStartMany: the fenced batch of moves to
// running, with each plan read, that the worker pool makes for the jobs of
// one claim.
func startCases() []testCase {
	return []testCase{
		{"StartManyMovesHeldExecutionsWithTheirPlansAndSkipsTheRest", testStartManyMovesHeldSkipsRest},
		{"StartManyOutOfBoundsReturnsErrInvalidInputAndMovesNothing", testStartManyOutOfBounds},
		{"StartManyInARolledBackTransactionMovesNothing", testStartManyRolledBack},
		{"StartManyOfOneExecutionTwiceReturnsErrInvalidInputAndMovesNothing", testStartManyTwice},
		{"StartManyOfNoneReturnsNone", func(t *testing.T, s storage.Store) {
			started, err := s.ExecutionStartMany(testContext(t), nil)
			require.NoError(t, err)
			assert.Empty(t, started)
		}},
	}
}

// starting returns the params that start e, fenced by j, by worker.
func starting(e *storage.Execution, j *storage.Job, worker string) *storage.ExecutionSetStatusParams {
	p := fenced(e.ID, storage.ExecutionRunning, j)
	p.WorkerID = worker
	return p
}

func testStartManyMovesHeldSkipsRest(t *testing.T, s storage.Store) {
	ctx := testContext(t)

	// Held and queued: moves, and reads its plan as it is now (revision 2).
	held, heldJob := executionWithJob(t, ctx, s, "start-held", storage.JobClaimParams{Lease: longLease})
	plan, err := s.PlanGetByID(ctx, held.PlanID)
	require.NoError(t, err)
	upd := planParams("start-held-renamed")
	updated, err := s.PlanUpdate(ctx, &storage.PlanUpdateParams{
		ID: plan.ID, ExpectedRevision: plan.Revision, Name: upd.Name, Document: upd.Document,
	})
	require.NoError(t, err)
	require.Equal(t, int64(2), updated.Revision)
	// Held and running already (a second attempt on the same claim's
	// token): moves again, keeping started_at.
	again, againJob := executionWithJob(t, ctx, s, "start-again", storage.JobClaimParams{Lease: longLease})
	againRunning, err := s.ExecutionSetStatus(ctx, fenced(again.ID, storage.ExecutionRunning, againJob))
	require.NoError(t, err)
	// Queued, but its job was claimed again since: a stale token.
	stale, staleJob := executionWithJob(t, ctx, s, "start-stale", storage.JobClaimParams{Lease: tinyLease})
	reclaim(t, ctx, s, staleJob)
	// Held, but cancelled meanwhile.
	cancelled, cancelledJob := executionWithJob(t, ctx, s, "start-cancelled", storage.JobClaimParams{Lease: longLease})
	wasCancelled := setStatus(t, ctx, s, cancelled.ID, storage.ExecutionCancelled)
	// Held, with the job completed already.
	completed, completedJob := executionWithJob(t, ctx, s, "start-completed", storage.JobClaimParams{Lease: longLease})
	require.NoError(t, s.JobComplete(ctx, ref(completedJob)))

	started, err := s.ExecutionStartMany(ctx, []*storage.ExecutionSetStatusParams{
		starting(stale, staleJob, "w-stale"),
		starting(held, heldJob, "w-held"),
		starting(cancelled, cancelledJob, "w-cancelled"),
		starting(&storage.Execution{ID: uuid.Must(uuid.NewV7())}, heldJob, "w-ghost"),
		starting(again, againJob, ""),
		starting(completed, completedJob, "w-completed"),
	})
	require.NoError(t, err)
	moved := map[uuid.UUID]*storage.ExecutionStarted{}
	for _, st := range started {
		moved[st.Execution.ID] = st
	}
	require.Len(t, moved, 2, "only the two held executions that are not final move")

	got := moved[held.ID]
	require.NotNil(t, got)
	assert.Equal(t, storage.ExecutionRunning, got.Execution.Status)
	assert.Equal(t, 1, got.Execution.Attempt)
	assert.Equal(t, "w-held", got.Execution.WorkerID)
	assert.NotNil(t, got.Execution.StartedAt)
	assert.Nil(t, got.Execution.FinishedAt)
	assert.Equal(t, int64(1), got.Execution.PlanRevision, "the execution keeps the revision it was created at")
	assert.Equal(t, "start-held-renamed", got.PlanName)
	assert.Equal(t, int64(2), got.PlanRevision, "the plan is read as it is now")
	assertJSONEq(t, string(updated.Document), got.PlanDocument, "PlanDocument")
	read, err := s.ExecutionGetByID(ctx, held.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, got.Execution, read)

	got = moved[again.ID]
	require.NotNil(t, got)
	assert.Equal(t, storage.ExecutionRunning, got.Execution.Status)
	assert.Equal(t, againRunning.WorkerID, got.Execution.WorkerID, "an empty worker ID keeps the stored one")
	require.NotNil(t, got.Execution.StartedAt)
	assert.True(t, againRunning.StartedAt.Equal(*got.Execution.StartedAt), "a second start keeps started_at")
	assert.Equal(t, "start-again", got.PlanName)

	for _, want := range []*storage.Execution{stale, wasCancelled, completed} {
		read, err := s.ExecutionGetByID(ctx, want.ID)
		require.NoError(t, err)
		assertExecutionEqual(t, want, read)
	}
}

func testStartManyOutOfBounds(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "start-bounds", storage.JobClaimParams{Lease: longLease})
	good := starting(e, j, "w")

	final := starting(e, j, "w")
	final.Status = storage.ExecutionPassed
	unfenced := starting(e, j, "w")
	unfenced.Job = nil
	withResult := starting(e, j, "w")
	withResult.Result = []byte(`{}`)
	negative := starting(e, j, "w")
	negative.Attempt = -1
	for name, bad := range map[string]*storage.ExecutionSetStatusParams{
		"final": final, "unfenced": unfenced, "with a result": withResult, "negative attempt": negative,
	} {
		_, err := s.ExecutionStartMany(ctx, []*storage.ExecutionSetStatusParams{good, bad})
		require.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
	read, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, e, read)
}

func testStartManyRolledBack(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "start-rollback", storage.JobClaimParams{Lease: longLease})
	boom := errors.New("boom")
	err := s.InTx(ctx, func(tx storage.Store) error {
		started, err := tx.ExecutionStartMany(ctx, []*storage.ExecutionSetStatusParams{starting(e, j, "w")})
		require.NoError(t, err)
		require.Len(t, started, 1)
		return boom
	})
	require.ErrorIs(t, err, boom)
	read, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, e, read)
}

func testStartManyTwice(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "start-twice", storage.JobClaimParams{Lease: longLease})
	_, err := s.ExecutionStartMany(ctx, []*storage.ExecutionSetStatusParams{starting(e, j, "w1"), starting(e, j, "w2")})
	require.ErrorIs(t, err, storage.ErrInvalidInput, "which params would move it is left to the database")
	read, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, e, read)
}
