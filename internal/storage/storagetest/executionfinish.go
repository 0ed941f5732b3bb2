package storagetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// finishCases cover ExecutionFinishMany: the fenced batch of final
// statuses that the worker pool's completer stores with the jobs'
// completions.
func finishCases() []testCase {
	return []testCase{
		{"FinishManyMovesHeldExecutionsAndSkipsTheRest", testFinishManyMovesHeldSkipsRest},
		{"FinishManyOutOfBoundsReturnsErrInvalidInputAndMovesNothing", testFinishManyOutOfBounds},
		{"FinishManyInARolledBackTransactionMovesNothing", testFinishManyRolledBack},
		{"FinishManyOfNoneReturnsNone", func(t *testing.T, s storage.Store) {
			done, err := s.ExecutionFinishMany(testContext(t), nil)
			require.NoError(t, err)
			assert.Empty(t, done)
		}},
	}
}

// finishing returns the params that finish e with status and a result,
// fenced by j.
func finishing(e *storage.Execution, status storage.ExecutionStatus, j *storage.Job, result string) *storage.ExecutionSetStatusParams {
	r := ref(j)
	return &storage.ExecutionSetStatusParams{ID: e.ID, Status: status, Result: json.RawMessage(result), Job: &r}
}

func testFinishManyMovesHeldSkipsRest(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	result := `{"status":"passed","duration_ms":12,"steps":[{"name":"a","status":"passed","duration_ms":12}]}`

	// Held and running: moves.
	held, heldJob := executionWithJob(t, ctx, s, "finish-held", storage.JobClaimParams{Lease: longLease})
	_, err := s.ExecutionSetStatus(ctx, fenced(held.ID, storage.ExecutionRunning, heldJob))
	require.NoError(t, err)
	// Held and still queued: may end in error, not pass.
	queued, queuedJob := executionWithJob(t, ctx, s, "finish-queued", storage.JobClaimParams{Lease: longLease})
	queuedPass, queuedPassJob := executionWithJob(t, ctx, s, "finish-queued-pass", storage.JobClaimParams{Lease: longLease})
	// Running, but its job was claimed again since: a stale token.
	stale, staleJob := executionWithJob(t, ctx, s, "finish-stale", storage.JobClaimParams{Lease: tinyLease})
	staleRunning, err := s.ExecutionSetStatus(ctx, fenced(stale.ID, storage.ExecutionRunning, staleJob))
	require.NoError(t, err)
	reclaim(t, ctx, s, staleJob)
	// Held, but cancelled meanwhile.
	cancelled, cancelledJob := executionWithJob(t, ctx, s, "finish-cancelled", storage.JobClaimParams{Lease: longLease})
	_, err = s.ExecutionSetStatus(ctx, fenced(cancelled.ID, storage.ExecutionRunning, cancelledJob))
	require.NoError(t, err)
	wasCancelled := setStatus(t, ctx, s, cancelled.ID, storage.ExecutionCancelled)
	// Held, with the job completed already.
	completed, completedJob := executionWithJob(t, ctx, s, "finish-completed", storage.JobClaimParams{Lease: longLease})
	completedRunning, err := s.ExecutionSetStatus(ctx, fenced(completed.ID, storage.ExecutionRunning, completedJob))
	require.NoError(t, err)
	require.NoError(t, s.JobComplete(ctx, ref(completedJob)))

	done, err := s.ExecutionFinishMany(ctx, []*storage.ExecutionSetStatusParams{
		finishing(stale, storage.ExecutionPassed, staleJob, `{"zombie":true}`),
		finishing(held, storage.ExecutionPassed, heldJob, result),
		finishing(cancelled, storage.ExecutionPassed, cancelledJob, `{"late":true}`),
		finishing(&storage.Execution{ID: uuid.Must(uuid.NewV7())}, storage.ExecutionPassed, heldJob, `{}`),
		finishing(queued, storage.ExecutionError, queuedJob, `{"error":"gave up"}`),
		finishing(queuedPass, storage.ExecutionPassed, queuedPassJob, `{"never":"ran"}`),
		finishing(completed, storage.ExecutionFailed, completedJob, `{"after":"completion"}`),
	})
	require.NoError(t, err)
	moved := map[uuid.UUID]*storage.Execution{}
	for _, e := range done {
		moved[e.ID] = e
	}
	require.Len(t, moved, 2, "only the held running execution and the held queued one that ends in error move")

	got := moved[held.ID]
	require.NotNil(t, got)
	assert.Equal(t, storage.ExecutionPassed, got.Status)
	assertJSONEq(t, result, got.Result, "Result")
	assert.NotNil(t, got.FinishedAt)
	assert.Equal(t, 1, got.Attempt, "a finish keeps the attempt")
	read, err := s.ExecutionGetByID(ctx, held.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, got, read)

	got = moved[queued.ID]
	require.NotNil(t, got)
	assert.Equal(t, storage.ExecutionError, got.Status)
	assertJSONEq(t, `{"error":"gave up"}`, got.Result, "Result")

	for _, want := range []*storage.Execution{staleRunning, wasCancelled, completedRunning, queuedPass} {
		read, err := s.ExecutionGetByID(ctx, want.ID)
		require.NoError(t, err)
		assertExecutionEqual(t, want, read)
	}
}

func testFinishManyOutOfBounds(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "finish-bounds", storage.JobClaimParams{Lease: longLease})
	running, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, j))
	require.NoError(t, err)
	good := finishing(e, storage.ExecutionPassed, j, `{"ok":true}`)

	notFinal := finishing(e, storage.ExecutionRunning, j, `{}`)
	unfenced := finishing(e, storage.ExecutionPassed, j, `{}`)
	unfenced.Job = nil
	withAttempt := finishing(e, storage.ExecutionPassed, j, `{}`)
	withAttempt.Attempt = 3
	for name, bad := range map[string]*storage.ExecutionSetStatusParams{
		"not final": notFinal, "unfenced": unfenced, "with an attempt": withAttempt,
	} {
		_, err := s.ExecutionFinishMany(ctx, []*storage.ExecutionSetStatusParams{good, bad})
		require.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
	read, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, running, read)
}

func testFinishManyRolledBack(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "finish-rollback", storage.JobClaimParams{Lease: longLease})
	running, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, j))
	require.NoError(t, err)
	boom := errors.New("boom")
	err = s.InTx(ctx, func(tx storage.Store) error {
		done, err := tx.ExecutionFinishMany(ctx, []*storage.ExecutionSetStatusParams{finishing(e, storage.ExecutionPassed, j, `{"ok":true}`)})
		require.NoError(t, err)
		require.Len(t, done, 1)
		return boom
	})
	require.ErrorIs(t, err, boom)
	read, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, running, read)
}
