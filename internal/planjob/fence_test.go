package planjob_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// claimJob claims the job of an execution from the default queue.
func claimJob(t *testing.T, st storage.Store, lease time.Duration) *storage.Job {
	t.Helper()
	jobs, err := st.JobClaim(context.Background(), &storage.JobClaimParams{
		Queue: storage.DefaultQueue, Worker: "w", Limit: 1, Lease: lease,
	})
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	return jobs[0]
}

func newHandler(st storage.Store) *planjob.Handler {
	return &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: slog.New(slog.DiscardHandler)}
}

// wait receives from ch, bounded so that a hang fails the test.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
		var zero T
		return zero
	}
}

// TestZombieHandlerCannotUndoTheNewOwnersRun is the race of issue 11: the
// first claim of a job loses its lease in the middle of the run, the job is
// claimed again and its new handler sets the execution running, and then
// the first handler fails on our side and requeues the execution. Without
// fencing the requeue went through, the new owner's finish was refused,
// and the execution stayed queued for ever behind a completed job.
func TestZombieHandlerCannotUndoTheNewOwnersRun(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 2)
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer target.Close()
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // Before target.Close, even when the test fails.
	st := openStore(t)
	h := newHandler(st)
	exec := createExecution(t, st, step("held", target.URL))
	ctx := context.Background()

	zombie := claimJob(t, st, 50*time.Millisecond)
	zctx, stopZombie := context.WithCancelCause(ctx)
	defer stopZombie(nil)
	zombieDone := make(chan error, 1)
	go func() { zombieDone <- h.Handle(zctx, zombie) }()
	wait(t, arrived, "the zombie's request")

	require.Eventually(t, func() bool { // Its lease expires by the store's clock.
		n, err := st.JobRescue(ctx, 10)
		require.NoError(t, err)
		return n == 1
	}, 30*time.Second, 10*time.Millisecond)
	owner := claimJob(t, st, time.Hour)
	require.Equal(t, zombie.ID, owner.ID)
	ownerDone := make(chan error, 1)
	go func() { ownerDone <- h.Handle(ctx, owner) }()
	wait(t, arrived, "the owner's request")

	stopZombie(errors.New("job timed out"))
	zerr := wait(t, zombieDone, "the zombie's handler")
	assert.ErrorIs(t, zerr, storage.ErrLeaseLost, "the zombie learns it lost the job")

	releaseOnce()
	require.NoError(t, wait(t, ownerDone, "the owner's handler"))
	got, err := st.ExecutionGetByID(ctx, exec.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionPassed, got.Status)
	assert.Equal(t, 2, got.Attempt)
}

// refusingStore refuses to store results that hold steps, as Postgres
// refuses a result with a NUL byte or jsonb arrays over its limit, and
// counts the result writes.
type refusingStore struct {
	storage.Store
	writes int
}

func (s *refusingStore) ExecutionSetStatus(ctx context.Context, p *storage.ExecutionSetStatusParams) (*storage.Execution, error) {
	if p.Status.Final() {
		s.writes++
	}
	if strings.Contains(string(p.Result), `"steps"`) {
		return nil, fmt.Errorf("set execution %s status: %w: ERROR: unsupported Unicode escape sequence (SQLSTATE 22P05)",
			p.ID, storage.ErrInvalidInput)
	}
	return s.Store.ExecutionSetStatus(ctx, p)
}

func TestRefusedResultEndsTheExecutionInErrorAtOnce(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	st := &refusingStore{Store: openStore(t)}
	exec := createExecution(t, st, step("one", target.URL))
	job := claimJob(t, st, time.Hour)

	err := newHandler(st).Handle(context.Background(), job)
	require.ErrorIs(t, err, worker.ErrDiscard, "another attempt would be refused too")
	assert.NotContains(t, err.Error(), "SQLSTATE")
	assert.Equal(t, 2, st.writes, "the result, then the small error result")

	got, err := st.ExecutionGetByID(context.Background(), exec.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionError, got.Status)
	r := result(t, got)
	assert.Equal(t, "result could not be stored: the database refused it as invalid or too large", r.Error)
	assert.Equal(t, int64(1), r.PlanRevision)
	assert.Nil(t, r.Result, "the refused result is not stored")
}

func TestOversizedResultIsNotStored(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	st := openStore(t)
	exec := createExecution(t, st, step("one", target.URL), step("two", target.URL))
	h := newHandler(st)
	h.MaxResultBytes = 64

	err := h.Handle(context.Background(), claimJob(t, st, time.Hour))
	require.ErrorIs(t, err, worker.ErrDiscard)
	got, err := st.ExecutionGetByID(context.Background(), exec.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionError, got.Status)
	r := result(t, got)
	assert.Contains(t, r.Error, "result could not be stored: it is ")
	assert.Contains(t, r.Error, "over the limit of 64")
	assert.Nil(t, r.Result)
}

// leakyStore fails one call with an error whose text holds what a driver
// may say: SQL, a SQLSTATE code and a connection string.
type leakyStore struct {
	storage.Store
	failGet, failPlan, failSet bool
}

const driverText = `ERROR: relation "executions" does not exist (SQLSTATE 42P01) host=10.1.2.3 user=astro password=hunter2`

func (s *leakyStore) leak() error {
	return fmt.Errorf("get: %w: %w", storage.ErrUnavailable, errors.New(driverText))
}

func (s *leakyStore) ExecutionGetByID(ctx context.Context, id uuid.UUID) (*storage.Execution, error) {
	if s.failGet {
		return nil, s.leak()
	}
	return s.Store.ExecutionGetByID(ctx, id)
}

func (s *leakyStore) PlanGetByID(ctx context.Context, id uuid.UUID) (*storage.Plan, error) {
	if s.failPlan {
		return nil, errors.New(driverText)
	}
	return s.Store.PlanGetByID(ctx, id)
}

func (s *leakyStore) ExecutionSetStatus(ctx context.Context, p *storage.ExecutionSetStatusParams) (*storage.Execution, error) {
	if s.failSet {
		return nil, s.leak()
	}
	return s.Store.ExecutionSetStatus(ctx, p)
}

func TestStoreErrorTextStaysOutOfTheJobError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		store leakyStore
		want  string
		is    error
	}{
		{"LoadExecution", leakyStore{failGet: true}, "load execution: storage unavailable", storage.ErrUnavailable},
		{"LoadPlan", leakyStore{failPlan: true}, "load plan: storage error", nil},
		{"MarkRunning", leakyStore{failSet: true}, "mark execution running: storage unavailable", storage.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := openStore(t)
			createExecution(t, st, step("never", "http://127.0.0.1:1/"))
			job := claimJob(t, st, time.Hour)
			leaky := tt.store
			leaky.Store = st

			var logs strings.Builder
			h := newHandler(&leaky)
			h.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			err := h.Handle(context.Background(), job)
			require.Error(t, err)
			assert.Equal(t, tt.want, err.Error())
			assert.NotContains(t, err.Error(), "SQLSTATE")
			if tt.is != nil {
				assert.ErrorIs(t, err, tt.is, "the cause is still there for errors.Is")
			}
			assert.Contains(t, logs.String(), "SQLSTATE 42P01", "the full text goes to the log")
			assert.Contains(t, logs.String(), "execution_id=", "the log names the execution")
		})
	}
}

// TestLeaseLostOnFinishWritesNothingMore checks that a handler whose job
// was claimed again while it ran stores no result over the new owner's.
func TestLeaseLostOnFinishWritesNothingMore(t *testing.T) {
	t.Parallel()
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		arrived <- struct{}{}
		<-release
	}))
	defer target.Close()
	releaseOnce := sync.OnceFunc(func() { close(release) })
	defer releaseOnce() // Before target.Close, even when the test fails.
	st := openStore(t)
	h := newHandler(st)
	exec := createExecution(t, st, step("held", target.URL))
	ctx := context.Background()

	zombie := claimJob(t, st, 50*time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- h.Handle(ctx, zombie) }()
	wait(t, arrived, "the zombie's request")
	require.Eventually(t, func() bool {
		n, err := st.JobRescue(ctx, 10)
		require.NoError(t, err)
		return n == 1
	}, 30*time.Second, 10*time.Millisecond)
	owner := claimJob(t, st, time.Hour)
	running, err := st.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: exec.ID, Status: storage.ExecutionRunning, Attempt: owner.Attempt,
		Job: &storage.JobRef{ID: owner.ID, Token: owner.LeaseToken},
	})
	require.NoError(t, err)

	releaseOnce()
	err = wait(t, done, "the zombie's handler")
	require.ErrorIs(t, err, storage.ErrLeaseLost)
	assert.Equal(t, "store execution result: lease lost: another worker holds the job now", err.Error())
	got, err := st.ExecutionGetByID(ctx, exec.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionRunning, got.Status)
	assert.Equal(t, running.Attempt, got.Attempt)
	assert.Empty(t, got.Result, "the zombie's result is not stored")
}
