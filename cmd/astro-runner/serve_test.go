package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// enqueueOn creates an execution of plan on queue, with its job, as the API
// does.
func enqueueOn(t *testing.T, st storage.Store, p *storage.Plan, queue string) *storage.Execution {
	t.Helper()
	ctx := context.Background()
	var e *storage.Execution
	require.NoError(t, st.InTx(ctx, func(tx storage.Store) error {
		var err error
		if e, err = tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision, Queue: queue}); err != nil {
			return err
		}
		_, err = tx.JobEnqueue(ctx, planjob.EnqueueParams(e))
		return err
	}))
	return e
}

// TestPoolsRunOnlyTheirQueues checks that ASTRO_QUEUES decides which jobs a
// process runs: with eu alone, an execution sent to eu runs and one sent to
// default stays queued; adding default runs it too.
func TestPoolsRunOnlyTheirQueues(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	doc, err := json.Marshal(map[string]any{"steps": []any{map[string]any{
		"name": "one", "request": map[string]any{"method": "GET", "url": target.URL},
	}}})
	require.NoError(t, err)
	p, err := st.PlanCreate(ctx, &storage.PlanCreateParams{Name: "queues", Document: doc})
	require.NoError(t, err)
	eu := enqueueOn(t, st, p, "eu")
	def := enqueueOn(t, st, p, "")

	log := slog.New(slog.DiscardHandler)
	handler := &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log}
	start := func(queues ...string) func() {
		cfg := &config.Config{Queues: queues, Workers: 2, JobLease: 30 * time.Second,
			RescueInterval: time.Second, RunTimeout: time.Minute, ShutdownTimeout: time.Second}
		ps := newPools(st, cfg, log, handler, poolBase(cfg, nil, nil))
		require.Len(t, ps, len(queues))
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); ps.run(runCtx) }()
		ps.wake()
		return func() { cancel(); <-done }
	}
	final := func(e *storage.Execution) *storage.Execution {
		t.Helper()
		var got *storage.Execution
		require.Eventually(t, func() bool {
			got, err = st.ExecutionGetByID(ctx, e.ID)
			require.NoError(t, err)
			return got.Status.Final()
		}, 30*time.Second, 10*time.Millisecond)
		return got
	}

	stop := start("eu")
	got := final(eu)
	stop()
	assert.Equal(t, storage.ExecutionPassed, got.Status)
	assert.Equal(t, "eu", got.Queue)
	assert.NotEmpty(t, got.WorkerID, "the execution records the worker that ran it")
	// The eu pool has claimed and finished its job; the default job was
	// never claimed.
	job, err := st.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(def.ID))
	require.NoError(t, err)
	assert.Equal(t, storage.JobAvailable, job.State)
	assert.Zero(t, job.Attempt)
	got, err = st.ExecutionGetByID(ctx, def.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionQueued, got.Status)

	stop = start("eu", "default")
	defer stop()
	assert.Equal(t, storage.ExecutionPassed, final(def).Status)
}
