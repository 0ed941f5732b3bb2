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

var _ worker.FinishBatch = (*planjob.Handler)(nil)

// gatedStore holds the first transaction (the completer's, which stores
// the final status with the job's completion) until release is called,
// and says when it is held.
type gatedStore struct {
	storage.Store
	once     sync.Once
	held     chan struct{}
	open     chan struct{}
	openOnce sync.Once
}

func (s *gatedStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	s.once.Do(func() {
		close(s.held)
		<-s.open
	})
	return s.Store.InTx(ctx, fn)
}

// release lets the held transaction go on; it may be called more than
// once.
func (s *gatedStore) release() { s.openOnce.Do(func() { close(s.open) }) }

// TestABatchedFinishAfterTheLeaseWasLostWritesNothing runs an execution
// through a worker pool, and while its final status waits in the
// completer, gives its job to another worker: the batched, fenced write
// stores nothing, and the job stays with the new owner.
func TestABatchedFinishAfterTheLeaseWasLostWritesNothing(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		eachBackend(t, func(t *testing.T, raw storage.Store) {
			ctx := context.Background()
			st := &gatedStore{Store: raw, held: make(chan struct{}), open: make(chan struct{})}
			log := slog.New(slog.DiscardHandler)
			rec := &finishRecorder{}
			pool := worker.New(st, worker.Config{Workers: 1, Logger: log, PollInterval: 20 * time.Millisecond, Lease: time.Hour})
			path.register(pool, &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, Observer: rec})
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = pool.Run(runCtx) }()
			// Release the gate first: a failed check must not leave Run
			// waiting for the held transaction.
			t.Cleanup(func() { st.release(); stop(); <-done })

			exec := createExecution(t, raw, step("up", target.URL))
			pool.Wake()
			wait(t, st.held, "the completer's transaction")

			// The handler has run; its write waits. Another worker takes the
			// job, in one transaction: released alone, the job could be
			// claimed by the pool, whose worker is free again.
			job, err := raw.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(exec.ID))
			require.NoError(t, err)
			require.Equal(t, storage.JobRunning, job.State)
			var owner []*storage.Job
			require.NoError(t, raw.InTx(ctx, func(tx storage.Store) error {
				if _, err := tx.JobRelease(ctx, []storage.JobRef{{ID: job.ID, Token: job.LeaseToken}}); err != nil {
					return err
				}
				owner, err = tx.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "owner", Limit: 1, Lease: time.Hour})
				return err
			}))
			require.Len(t, owner, 1)
			require.Equal(t, job.ID, owner[0].ID)
			running, err := raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
				ID: exec.ID, Status: storage.ExecutionRunning, Attempt: owner[0].Attempt, WorkerID: "owner",
				Job: &storage.JobRef{ID: owner[0].ID, Token: owner[0].LeaseToken},
			})
			require.NoError(t, err)
			st.release()

			// Stop the pool: Run returns once every outcome was written.
			stop()
			<-done
			got, err := raw.ExecutionGetByID(ctx, exec.ID)
			require.NoError(t, err)
			assert.Equal(t, storage.ExecutionRunning, got.Status)
			assert.Equal(t, running.Attempt, got.Attempt)
			assert.Empty(t, got.Result, "the stale result is not stored")
			j, err := raw.JobGet(ctx, job.ID)
			require.NoError(t, err)
			assert.Equal(t, storage.JobRunning, j.State, "the job is not completed")
			assert.Equal(t, owner[0].LeaseToken, j.LeaseToken)
			assert.Empty(t, rec.all(), "no final status was stored to tell of")
		})
	})
}
