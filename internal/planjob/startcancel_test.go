package planjob_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// pausingStartStore lets ExecutionStartMany commit, then holds its return
// until resume is closed, as a slow answer from the database does; it
// closes started once the executions are running.
type pausingStartStore struct {
	storage.Store
	once    sync.Once
	started chan struct{}
	resume  chan struct{}
}

func (s *pausingStartStore) ExecutionStartMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) ([]*storage.ExecutionStarted, error) {
	out, err := s.Store.ExecutionStartMany(ctx, ps)
	s.once.Do(func() { close(s.started) })
	<-s.resume
	return out, err
}

// TestACancelWhileTheClaimStartsItsExecutionStopsTheRun cancels an
// execution as the API does (cancel its job, then tell the pool to look:
// Pool.CheckCancels) once ExecutionStartMany has made it running, before
// the claim loop starts its handler. The API promises that workers are told
// at once, so the run must end cancelled, not wait for a heartbeat (an
// hour away here) while the plan runs to its end.
func TestACancelWhileTheClaimStartsItsExecutionStopsTheRun(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(target.Close)
	raw := openStore(t)
	st := &pausingStartStore{Store: raw, started: make(chan struct{}), resume: make(chan struct{})}
	var resumeOnce sync.Once
	resume := func() { resumeOnce.Do(func() { close(st.resume) }) }
	t.Cleanup(resume)

	exec := createExecution(t, raw, step("one", target.URL))
	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{ID: "w", Workers: 1, Logger: log, PollInterval: 20 * time.Millisecond, Lease: time.Hour})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log}).Register(pool)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { resume(); stop(); <-done })

	select {
	case <-st.started:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the claim never started the execution")
	}
	running, err := raw.ExecutionGetByID(ctx, exec.ID)
	require.NoError(t, err)
	require.Equal(t, storage.ExecutionRunning, running.Status, "the API now sees a running execution")

	// What cancel-execution does for a running execution.
	job, err := raw.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(exec.ID))
	require.NoError(t, err)
	_, err = raw.JobCancel(ctx, job.ID)
	require.NoError(t, err)
	pool.CheckCancels()
	time.Sleep(200 * time.Millisecond) // Let the pool look.
	resume()

	e := (&harness{t: t, store: raw}).waitFinal(exec)
	assert.Equal(t, storage.ExecutionCancelled, e.Status, "result: %s", e.Result)
	assert.Zero(t, hits.Load(), "a cancelled execution sends nothing")
}
