package storagetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// fenceCases cover fenced execution writes (ExecutionSetStatusParams.Job)
// and the repairs of ExecutionReconcile.
func fenceCases() []testCase {
	return []testCase{
		{"FencedSetStatusWithTheCurrentTokenSucceeds", testFenceCurrentToken},
		{"FencedSetStatusWithAStaleTokenReturnsErrLeaseLost", testFenceStaleToken},
		{"FencedSetStatusAfterTheJobFinishedReturnsErrLeaseLost", testFenceFinishedJob},
		{"FencedSetStatusOfUnknownExecutionReturnsErrNotFound", testFenceUnknownExecution},
		{"FencedIllegalTransitionReturnsErrIllegalTransition", testFenceIllegalTransition},
		{"ZombieRequeueAfterReclaimIsRefused", testFenceZombieRequeue},
		{"ReconcileRepairsExecutionsOfCompletedOrMissingJobs", testReconcileCompletedAndMissing},
	}
}

// executionWithJob creates an execution of a new plan and its job on a
// queue of its own, as the API does, and claims the job with lease.
func executionWithJob(t *testing.T, ctx context.Context, s storage.Store, name string, lease storage.JobClaimParams) (*storage.Execution, *storage.Job) {
	t.Helper()
	plan := createPlan(t, ctx, s, name)
	var e *storage.Execution
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		var err error
		if e, err = tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: plan.ID, PlanRevision: plan.Revision}); err != nil {
			return err
		}
		_, err = tx.JobEnqueue(ctx, &storage.JobEnqueueParams{
			Queue: "q-" + name, Kind: "execute_plan", UniqueKey: storage.ExecutionJobKey(e.ID),
		})
		return err
	}))
	lease.Queue, lease.Limit = "q-"+name, 1
	if lease.Worker == "" {
		lease.Worker = "worker"
	}
	jobs, err := s.JobClaim(ctx, &lease)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	return e, jobs[0]
}

// reclaim lets j's tiny lease expire, rescues it and claims it again, and
// returns the new claim.
func reclaim(t *testing.T, ctx context.Context, s storage.Store, j *storage.Job) *storage.Job {
	t.Helper()
	rescueUntil(t, ctx, s, 1)
	again := claimOne(t, ctx, s, j.Queue, longLease)
	require.Equal(t, j.ID, again.ID)
	require.NotEqual(t, j.LeaseToken, again.LeaseToken, "a new claim issues a new token")
	return again
}

func fenced(id uuid.UUID, status storage.ExecutionStatus, j *storage.Job) *storage.ExecutionSetStatusParams {
	r := ref(j)
	return &storage.ExecutionSetStatusParams{ID: id, Status: status, Attempt: j.Attempt, Job: &r}
}

func testFenceCurrentToken(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "current", storage.JobClaimParams{Lease: longLease})

	running, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, j))
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionRunning, running.Status)
	assert.Equal(t, 1, running.Attempt)

	p := fenced(e.ID, storage.ExecutionPassed, j)
	p.Result = json.RawMessage(`{"ok":true}`)
	passed, err := s.ExecutionSetStatus(ctx, p)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionPassed, passed.Status)
	assertJSONEq(t, `{"ok":true}`, passed.Result, "Result")
}

func testFenceStaleToken(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, first := executionWithJob(t, ctx, s, "stale", storage.JobClaimParams{Lease: tinyLease})
	running, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, first))
	require.NoError(t, err)
	reclaim(t, ctx, s, first)

	for _, status := range []storage.ExecutionStatus{storage.ExecutionRunning, storage.ExecutionQueued, storage.ExecutionPassed} {
		p := fenced(e.ID, status, first)
		p.Attempt = 7
		p.Result = json.RawMessage(`{"zombie":true}`)
		_, err := s.ExecutionSetStatus(ctx, p)
		require.ErrorIs(t, err, storage.ErrLeaseLost, "to %s", status)
		require.NotErrorIs(t, err, storage.ErrNotFound)
		require.NotErrorIs(t, err, storage.ErrConflict)
	}
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, running, got)
}

func testFenceFinishedJob(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "finished", storage.JobClaimParams{Lease: longLease})
	running, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, j))
	require.NoError(t, err)
	require.NoError(t, s.JobComplete(ctx, ref(j)))

	_, err = s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionQueued, j))
	require.ErrorIs(t, err, storage.ErrLeaseLost)

	// A job that does not exist holds no lease either.
	gone := storage.JobRef{ID: j.ID + 1000, Token: j.LeaseToken}
	_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionQueued, Job: &gone})
	require.ErrorIs(t, err, storage.ErrLeaseLost)

	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, running, got)
}

func testFenceUnknownExecution(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, j := executionWithJob(t, ctx, s, "unknown", storage.JobClaimParams{Lease: longLease})
	_, err := s.ExecutionSetStatus(ctx, fenced(uuid.Must(uuid.NewV7()), storage.ExecutionRunning, j))
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrLeaseLost)
}

func testFenceIllegalTransition(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, j := executionWithJob(t, ctx, s, "illegal", storage.JobClaimParams{Lease: longLease})
	cancelled := setStatus(t, ctx, s, e.ID, storage.ExecutionCancelled)
	_, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, j))
	require.ErrorIs(t, err, storage.ErrIllegalTransition)
	require.NotErrorIs(t, err, storage.ErrLeaseLost)
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, cancelled, got)
}

// testFenceZombieRequeue is the race of issue 11: the first claim of a job
// loses its lease, the job is claimed again and its execution set running,
// and then the first worker tries to requeue or finish the execution.
func testFenceZombieRequeue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	e, zombie := executionWithJob(t, ctx, s, "zombie", storage.JobClaimParams{Lease: tinyLease})
	_, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, zombie))
	require.NoError(t, err)
	owner := reclaim(t, ctx, s, zombie)
	running, err := s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionRunning, owner))
	require.NoError(t, err)
	require.Equal(t, 2, running.Attempt)

	_, err = s.ExecutionSetStatus(ctx, fenced(e.ID, storage.ExecutionQueued, zombie))
	require.ErrorIs(t, err, storage.ErrLeaseLost, "the zombie's requeue")
	p := fenced(e.ID, storage.ExecutionFailed, zombie)
	p.Result = json.RawMessage(`{"zombie":true}`)
	_, err = s.ExecutionSetStatus(ctx, p)
	require.ErrorIs(t, err, storage.ErrLeaseLost, "the zombie's finish")
	got, err := s.ExecutionGetByID(ctx, e.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, running, got)

	p = fenced(e.ID, storage.ExecutionPassed, owner)
	p.Result = json.RawMessage(`{"owner":true}`)
	passed, err := s.ExecutionSetStatus(ctx, p)
	require.NoError(t, err, "the owner's finish")
	assert.Equal(t, storage.ExecutionPassed, passed.Status)
	assertJSONEq(t, `{"owner":true}`, passed.Result, "Result")
}

// testReconcileCompletedAndMissing covers the repairs of ExecutionReconcile
// beyond discarded and cancelled jobs: an execution whose job completed
// without finishing it, or whose job is gone, ends in error with the
// reason in its result; one whose job is running is left alone.
func testReconcileCompletedAndMissing(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	completed, cj := executionWithJob(t, ctx, s, "completed", storage.JobClaimParams{Lease: longLease})
	setStatus(t, ctx, s, completed.ID, storage.ExecutionRunning)
	require.NoError(t, s.JobComplete(ctx, ref(cj)))

	queuedCompleted, qj := executionWithJob(t, ctx, s, "queued-completed", storage.JobClaimParams{Lease: longLease})
	require.NoError(t, s.JobComplete(ctx, ref(qj)))

	missing := createExecution(t, ctx, s, createPlan(t, ctx, s, "missing"), "")

	live, lj := executionWithJob(t, ctx, s, "live", storage.JobClaimParams{Lease: longLease})
	liveRunning, err := s.ExecutionSetStatus(ctx, fenced(live.ID, storage.ExecutionRunning, lj))
	require.NoError(t, err)

	done, err := s.ExecutionReconcile(ctx)
	require.NoError(t, err)
	assertReconciled(t, ctx, s, done, map[uuid.UUID]storage.ExecutionStatus{
		completed.ID:       storage.ExecutionError,
		queuedCompleted.ID: storage.ExecutionError,
		missing.ID:         storage.ExecutionError,
	})

	for id, reason := range map[uuid.UUID]string{
		completed.ID:       storage.ReconcileReasonCompleted,
		queuedCompleted.ID: storage.ReconcileReasonCompleted,
		missing.ID:         storage.ReconcileReasonGone,
	} {
		got, err := s.ExecutionGetByID(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, storage.ExecutionError, got.Status, "execution %s", id)
		assert.NotNil(t, got.FinishedAt)
		assertJSONEq(t, `{"plan_revision": 1, "error": "`+reason+`"}`, got.Result, "Result")
	}
	got, err := s.ExecutionGetByID(ctx, live.ID)
	require.NoError(t, err)
	assertExecutionEqual(t, liveRunning, got)

	done, err = s.ExecutionReconcile(ctx)
	require.NoError(t, err)
	assert.Empty(t, done, "a second pass finds nothing to do")
}
