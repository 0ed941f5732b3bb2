package planjob_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// probeKind is the kind of the job that recordingHook enqueues, standing
// for an alert's delivery job.
const probeKind = "probe"

// recordingHook is a FinishHook that enqueues a probe job in the finishing
// transaction, and fails while failures remain after enqueuing it.
type recordingHook struct {
	mu       sync.Mutex
	seen     []storage.ExecutionStatus
	failures int
	// failWith is the error of a failure; nil means a plain one.
	failWith error
}

func (h *recordingHook) ExecutionFinished(ctx context.Context, tx storage.Store, e *storage.Execution) error {
	if _, err := tx.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "probes", Kind: probeKind}); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seen = append(h.seen, e.Status)
	if h.failures > 0 {
		h.failures--
		if h.failWith != nil {
			return h.failWith
		}
		return errors.New("hook failed")
	}
	return nil
}

func (h *recordingHook) statuses() []storage.ExecutionStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]storage.ExecutionStatus(nil), h.seen...)
}

// eachBackend runs test on an in-memory SQLite store and on Postgres.
func eachBackend(t *testing.T, test func(t *testing.T, st storage.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		test(t, openStore(t))
	})
	t.Run("Postgres", func(t *testing.T) {
		t.Parallel()
		st, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 8})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		test(t, st)
	})
}

// runWithHook runs a pool whose planjob handler, registered along path,
// has hook as its Alerts.
func runWithHook(t *testing.T, st storage.Store, path handlerPath, hook planjob.FinishHook) *worker.Pool {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{
		Logger: log, PollInterval: 20 * time.Millisecond,
		Retry: storage.RetryPolicy{Base: time.Millisecond, Max: time.Millisecond},
	})
	path.register(pool, &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, Alerts: hook})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return pool
}

func probeJobs(t *testing.T, st storage.Store) int {
	t.Helper()
	page, err := st.JobList(context.Background(), &storage.JobListParams{Kind: probeKind, Limit: 200})
	require.NoError(t, err)
	return len(page.Jobs)
}

func waitFinal(t *testing.T, st storage.Store, id *storage.Execution) *storage.Execution {
	t.Helper()
	return (&harness{t: t, store: st}).waitFinal(id)
}

// TestTheFinalStatusCommitsWithWhatTheHookWrites checks that the hook sees
// each final status once, and that its writes commit with it.
func TestTheFinalStatusCommitsWithWhatTheHookWrites(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		eachBackend(t, func(t *testing.T, st storage.Store) {
			hook := &recordingHook{}
			pool := runWithHook(t, st, path, hook)
			passed := createExecution(t, st, step("up", target.URL+"/up"))
			pool.Wake()
			require.Equal(t, storage.ExecutionPassed, waitFinal(t, st, passed).Status)
			failed := createExecution(t, st, step("down", target.URL+"/down"))
			pool.Wake()
			require.Equal(t, storage.ExecutionFailed, waitFinal(t, st, failed).Status)

			require.Equal(t, []storage.ExecutionStatus{storage.ExecutionPassed, storage.ExecutionFailed}, hook.statuses())
			require.Equal(t, 2, probeJobs(t, st))
		})
	})
}

// TestAFailedHookStoresNeitherTheStatusNorItsWrites checks that when the
// finishing transaction fails, neither the final status nor the hook's
// job commits: the attempt fails and the next one finishes the execution,
// with one job in all.
func TestAFailedHookStoresNeitherTheStatusNorItsWrites(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		eachBackend(t, func(t *testing.T, st storage.Store) {
			hook := &recordingHook{failures: 1}
			pool := runWithHook(t, st, path, hook)
			exec := createExecution(t, st, step("up", target.URL))
			pool.Wake()
			got := waitFinal(t, st, exec)
			require.Equal(t, storage.ExecutionPassed, got.Status)
			require.Equal(t, 2, got.Attempt, "the first attempt's final status was rolled back with the hook's job")
			require.Equal(t, []storage.ExecutionStatus{storage.ExecutionPassed, storage.ExecutionPassed}, hook.statuses())
			require.Equal(t, 1, probeJobs(t, st), "the job of the failed transaction was rolled back")
		})
	})
}

// TestReconcileTellsTheHookOfWhatItEnds checks that the executions that
// Reconcile ends reach the hook, in the same transaction.
func TestReconcileTellsTheHookOfWhatItEnds(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, st storage.Store) {
		ctx := context.Background()
		exec := createExecution(t, st, step("never runs", "http://127.0.0.1:1/"))
		job, err := st.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(exec.ID))
		require.NoError(t, err)
		_, err = st.JobCancel(ctx, job.ID)
		require.NoError(t, err)
		// A second execution whose job was completed without finishing it.
		lost := createExecution(t, st, step("lost", "http://127.0.0.1:1/"))
		claimed, err := st.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		require.NoError(t, st.JobComplete(ctx, storage.JobRef{ID: claimed[0].ID, Token: claimed[0].LeaseToken}))

		hook := &recordingHook{}
		n, err := (&planjob.Handler{Store: st, Logger: slog.New(slog.DiscardHandler), Alerts: hook}).Reconcile(ctx)
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		require.ElementsMatch(t, []storage.ExecutionStatus{storage.ExecutionCancelled, storage.ExecutionError}, hook.statuses())
		require.Equal(t, 2, probeJobs(t, st))
		got, err := st.ExecutionGetByID(ctx, lost.ID)
		require.NoError(t, err)
		require.Equal(t, storage.ExecutionError, got.Status)
	})
}

// TestAHookErrorIsNeverTakenForTheExecutionsOwn checks that a hook whose
// error wraps a store sentinel that ExecutionSetStatus also returns (an
// alert rule or state not found, a conflict, refused input) fails the
// attempt like any hook error: it is not taken for an execution cancelled
// or deleted meanwhile (which would complete the job and leave the
// execution running, its result lost), nor for a result the store
// refused (which would replace the result with an error).
func TestAHookErrorIsNeverTakenForTheExecutionsOwn(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	for _, sentinel := range []error{storage.ErrNotFound, storage.ErrConflict, storage.ErrInvalidInput} {
		t.Run(sentinel.Error(), func(t *testing.T) {
			t.Parallel()
			registerEach(t, func(t *testing.T, path handlerPath) {
				eachBackend(t, func(t *testing.T, st storage.Store) {
					hook := &recordingHook{failures: 1, failWith: fmt.Errorf("lock alert state: %w", sentinel)}
					pool := runWithHook(t, st, path, hook)
					exec := createExecution(t, st, step("up", target.URL))
					pool.Wake()
					job, err := st.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(exec.ID))
					require.NoError(t, err)
					require.Eventually(t, func() bool {
						j, err := st.JobGet(context.Background(), job.ID)
						require.NoError(t, err)
						return j.State.Final()
					}, 30*time.Second, 10*time.Millisecond)
					got, err := st.ExecutionGetByID(context.Background(), exec.ID)
					require.NoError(t, err)
					require.Equal(t, storage.ExecutionPassed, got.Status, "the next attempt finishes the execution")
					require.Equal(t, 2, got.Attempt)
					require.Equal(t, 1, probeJobs(t, st))
				})
			})
		})
	}
}
