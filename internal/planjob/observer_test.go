package planjob_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// finishRecorder is a planjob.Observer that keeps what it is told.
type finishRecorder struct {
	mu   sync.Mutex
	seen []finished
}

type finished struct {
	exec     *storage.Execution
	planName string
	res      *planrun.Result
}

var _ planjob.Observer = (*finishRecorder)(nil)

func (r *finishRecorder) ExecutionFinished(e *storage.Execution, planName string, res *planrun.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, finished{e, planName, res})
}

func (r *finishRecorder) all() []finished {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]finished(nil), r.seen...)
}

// runObserved runs a pool whose planjob handler, registered along path,
// has obs as its Observer and hook, if not nil, as its Alerts.
func runObserved(t *testing.T, st storage.Store, path handlerPath, obs planjob.Observer, hook planjob.FinishHook) *worker.Pool {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{
		Logger: log, PollInterval: 20 * time.Millisecond,
		Retry: storage.RetryPolicy{Base: time.Millisecond, Max: time.Millisecond},
	})
	h := &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, Observer: obs}
	if hook != nil {
		h.Alerts = hook
	}
	path.register(pool, h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return pool
}

func planName(t *testing.T, st storage.Store, e *storage.Execution) string {
	t.Helper()
	pl, err := st.PlanGetByID(context.Background(), e.PlanID)
	require.NoError(t, err)
	return pl.Name
}

func TestTheObserverIsToldOfEachFinishedExecution(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		st := openStore(t)
		rec := &finishRecorder{}
		pool := runObserved(t, st, path, rec, nil)

		passed := createExecution(t, st, step("up", target.URL+"/up"))
		pool.Wake()
		require.Equal(t, storage.ExecutionPassed, waitFinal(t, st, passed).Status)
		failed := createExecution(t, st, step("up", target.URL+"/up"), step("down", target.URL+"/down"))
		pool.Wake()
		require.Equal(t, storage.ExecutionFailed, waitFinal(t, st, failed).Status)

		// The observer hears of a final status once it has committed, which
		// may be a moment after a reader sees it.
		require.Eventually(t, func() bool { return len(rec.all()) >= 2 }, 10*time.Second, 5*time.Millisecond)
		seen := rec.all()
		require.Len(t, seen, 2)
		for i, want := range []*storage.Execution{passed, failed} {
			got := seen[i]
			assert.Equal(t, want.ID, got.exec.ID)
			assert.Equal(t, want.Trigger, got.exec.Trigger)
			assert.Equal(t, planName(t, st, want), got.planName)
			require.NotNil(t, got.res, "the run's result")
		}
		assert.Equal(t, storage.ExecutionPassed, seen[0].exec.Status)
		assert.Equal(t, storage.ExecutionFailed, seen[1].exec.Status)
		require.Len(t, seen[1].res.Steps, 2)
		down := seen[1].res.Steps[1]
		assert.Equal(t, planrun.StatusFailed, down.Status)
		require.NotEmpty(t, down.Assertions)
		assert.Equal(t, planrun.KindStatus, down.Assertions[0].Kind)
		assert.False(t, down.Assertions[0].Passed)
	})
}

// TestTheObserverIsNotToldOfAFinalStatusThatRolledBack fails the finishing
// transaction once: the observer hears of the execution once, when its
// final status commits.
func TestTheObserverIsNotToldOfAFinalStatusThatRolledBack(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		st := openStore(t)
		rec := &finishRecorder{}
		pool := runObserved(t, st, path, rec, &recordingHook{failures: 1})
		exec := createExecution(t, st, step("up", target.URL))
		pool.Wake()
		got := waitFinal(t, st, exec)
		require.Equal(t, 2, got.Attempt, "the first attempt's final status rolled back")
		// The observer hears of a final status once it has committed, which
		// may be a moment after a reader sees it.
		require.Eventually(t, func() bool { return len(rec.all()) > 0 }, 10*time.Second, 5*time.Millisecond)
		seen := rec.all()
		require.Len(t, seen, 1)
		assert.Equal(t, storage.ExecutionPassed, seen[0].exec.Status)
		assert.Equal(t, 2, seen[0].exec.Attempt)
	})
}

func TestReconcileTellsTheObserverOfWhatItEnds(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	ctx := context.Background()
	lost := createExecution(t, st, step("lost", "http://127.0.0.1:1/"))
	claimed, err := st.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.NoError(t, st.JobComplete(ctx, storage.JobRef{ID: claimed[0].ID, Token: claimed[0].LeaseToken}))

	rec := &finishRecorder{}
	n, err := (&planjob.Handler{Store: st, Logger: slog.New(slog.DiscardHandler), Observer: rec}).Reconcile(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	seen := rec.all()
	require.Len(t, seen, 1)
	assert.Equal(t, lost.ID, seen[0].exec.ID)
	assert.Equal(t, storage.ExecutionError, seen[0].exec.Status)
	assert.Equal(t, planName(t, st, lost), seen[0].planName)
	assert.Nil(t, seen[0].res, "the plan never ran")
}
