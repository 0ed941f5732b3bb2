package planjob_test

import (
	"context"
	"errors"
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

// failingEnvironments is a store whose environment reads fail as an outage
// of the database would.
type failingEnvironments struct{ storage.Store }

func (failingEnvironments) EnvironmentGetByName(context.Context, string) (*storage.Environment, error) {
	return nil, errors.New("connection reset")
}

// TestAnAttemptThatFailsBeforeItsRunRequeuesItsExecution checks that when
// the store fails before the plan runs, on the path where the claim
// already moved the execution to running, the execution goes back to
// queued while its job waits for its next attempt, as on the handler's own
// path, where it never left queued. It runs on both paths.
func TestAnAttemptThatFailsBeforeItsRunRequeuesItsExecution(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		eachBackend(t, func(t *testing.T, raw storage.Store) {
			st := failingEnvironments{raw}
			log := slog.New(slog.DiscardHandler)
			pool := worker.New(st, worker.Config{ID: "w", Logger: log, PollInterval: 20 * time.Millisecond,
				Retry: storage.RetryPolicy{Base: time.Hour, Max: time.Hour}})
			path.register(pool, &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log})
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = pool.Run(ctx) }()
			t.Cleanup(func() { stop(); <-done })
			h := &harness{t: t, store: raw, pool: pool}
			e := h.executeWith(target.URL, map[string]string{"a": "", "b": "", "c": ""}, "staging", nil)

			var job *storage.Job
			require.Eventually(t, func() bool {
				var err error
				job, err = raw.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(e.ID))
				require.NoError(t, err)
				return job.State == storage.JobRetryable
			}, 10*time.Second, 10*time.Millisecond, "the first attempt fails")
			assert.Contains(t, job.LastError, "load environment")
			got, err := raw.ExecutionGetByID(context.Background(), e.ID)
			require.NoError(t, err)
			assert.Equal(t, storage.ExecutionQueued, got.Status, "queued again while its job waits")
			path.assertAttemptBeforeRun(t, got, "w")
		})
	})
}
