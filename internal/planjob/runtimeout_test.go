package planjob_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// TestSlowPlanEndsInErrorOnItsFirstAttempt checks that a run longer than
// RunTimeout ends its execution in error with the partial result and
// discards the job, rather than failing the attempt as trouble on our side
// and running the slow plan again. It calls Handle itself, so the handler
// runs alone: only a worker pool hands a handler what its claim started.
// TestSlowPlanJobIsDiscardedByThePool covers both paths.
func TestSlowPlanEndsInErrorOnItsFirstAttempt(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hangs" {
			<-r.Context().Done() // Held until the run's limit aborts the request.
		}
	}))
	defer target.Close()
	st := openStore(t)
	exec := createExecution(t, st,
		step("fast", target.URL+"/fast"), step("hangs", target.URL+"/hangs"), step("never", target.URL+"/never"))
	job := claimJob(t, st, time.Hour)
	require.Equal(t, 1, job.Attempt)
	require.Less(t, job.Attempt, job.MaxAttempts, "a retryable failure would be retried")
	h := newHandler(st)
	// Long enough for the fast step on a loaded machine; the hanging step
	// waits for it whatever it is.
	h.RunTimeout = time.Second

	err := h.Handle(context.Background(), job)
	require.ErrorIs(t, err, worker.ErrDiscard, "another attempt would be as slow")
	assert.ErrorIs(t, err, planjob.ErrRunTimeout)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the worker would report it as its own job timeout")
	assert.Equal(t, "discard job: run timed out: the run took longer than the limit of 1s (ASTRO_RUN_TIMEOUT)", err.Error())

	got, err := st.ExecutionGetByID(context.Background(), exec.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionError, got.Status)
	assert.Equal(t, 1, got.Attempt)
	r := result(t, got)
	assert.Equal(t, "the run took longer than the limit of 1s (ASTRO_RUN_TIMEOUT)", r.Error)
	require.NotNil(t, r.Result, "the partial result is kept")
	require.Len(t, r.Steps, 3)
	assert.Equal(t, planrun.StatusPassed, r.Steps[0].Status)
	assert.Equal(t, planrun.StatusError, r.Steps[1].Status)
	assert.Equal(t, planrun.StatusSkipped, r.Steps[2].Status)
}

// TestSlowPlanJobIsDiscardedByThePool checks the same through a worker
// pool, on each path of registerEach: the job ends discarded after one
// attempt, and its error names the run's limit, not the worker's job
// timeout.
func TestSlowPlanJobIsDiscardedByThePool(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		st := openStore(t)
		log := slog.New(slog.DiscardHandler)
		pool := worker.New(st, worker.Config{Logger: log, PollInterval: 20 * time.Millisecond})
		h := &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, RunTimeout: 50 * time.Millisecond}
		path.register(pool, h)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = pool.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		exec := createExecution(t, st, step("hangs", target.URL))
		pool.Wake()

		var job *storage.Job
		require.Eventually(t, func() bool {
			var err error
			job, err = st.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(exec.ID))
			require.NoError(t, err)
			return job.State.Final()
		}, 30*time.Second, 5*time.Millisecond)
		assert.Equal(t, storage.JobDiscarded, job.State)
		assert.Equal(t, 1, job.Attempt)
		require.Len(t, job.Errors, 1)
		assert.Equal(t, "discard job: run timed out: the run took longer than the limit of 50ms (ASTRO_RUN_TIMEOUT)", job.Errors[0].Error)
		got, err := st.ExecutionGetByID(context.Background(), exec.ID)
		require.NoError(t, err)
		assert.Equal(t, storage.ExecutionError, got.Status)
	})
}
