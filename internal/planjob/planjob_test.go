package planjob_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// harness is a store, a worker pool running the planjob handler, and a
// target service on loopback.
type harness struct {
	t     *testing.T
	store storage.Store
	pool  *worker.Pool
}

// openStore opens an in-memory store that the test closes.
func openStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// handlerPath is one of the two ways a worker pool can run the planjob
// handler; see registerEach.
type handlerPath struct {
	// name names the path's subtest.
	name string
	// claimStarts is true on the Register path, where the pool's claim
	// moves the claimed executions to running and reads their plans
	// (Handler.StartMany) before their handlers run. It is false on the
	// HandleAlone path, where each handler reads its execution and plan
	// and writes running itself.
	claimStarts bool
}

var (
	// registerPath runs the handler as production does: Handler.Register.
	registerPath = handlerPath{name: "Register", claimStarts: true}
	// alonePath runs the handler alone, without its Starter, as
	// production does for a claim whose ExecutionStartMany failed.
	alonePath = handlerPath{name: "HandleAlone"}
)

// register makes pool run execute_plan jobs with h along the path.
func (p handlerPath) register(pool *worker.Pool, h *planjob.Handler) {
	if p.claimStarts {
		h.Register(pool)
		return
	}
	pool.Handle(planjob.Kind, h.Handle)
}

// assertAttemptBeforeRun checks what execution e shows of its first
// attempt, which ended before its plan ran (in error, or requeued after a
// store error), on a pool whose ID is workerID. The paths legitimately
// differ here: on the Register path the claim had started the execution,
// so it shows attempt 1, started_at and worker_id; alone, its handler
// never wrote running, so it shows attempt 0 and neither.
func (p handlerPath) assertAttemptBeforeRun(t *testing.T, e *storage.Execution, workerID string) {
	t.Helper()
	if p.claimStarts {
		assert.Equal(t, 1, e.Attempt, "the claim started the execution")
		assert.NotNil(t, e.StartedAt, "the claim started the execution")
		assert.Equal(t, workerID, e.WorkerID, "the claim started the execution")
		return
	}
	assert.Zero(t, e.Attempt, "the handler ended the attempt before it wrote running")
	assert.Nil(t, e.StartedAt, "the handler ended the attempt before it wrote running")
	assert.Empty(t, e.WorkerID, "the handler ended the attempt before it wrote running")
}

// registerEach runs test as parallel subtests, once on each path of
// handlerPath: "Register" and "HandleAlone". test registers its handler
// with path.register, and asserts what differs by path on
// path.claimStarts.
func registerEach(t *testing.T, test func(t *testing.T, path handlerPath)) {
	t.Helper()
	for _, path := range []handlerPath{registerPath, alonePath} {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			test(t, path)
		})
	}
}

// newHarness is newPathHarness on the Register path.
func newHarness(t *testing.T, cfg worker.Config) *harness {
	t.Helper()
	return newPathHarness(t, registerPath, cfg)
}

// newPathHarness starts a harness whose pool, configured by cfg (with a
// discarding logger, and quick polls and retries unless cfg sets them),
// runs the handler along path.
func newPathHarness(t *testing.T, path handlerPath, cfg worker.Config) *harness {
	t.Helper()
	st := openStore(t)
	cfg.Logger = slog.New(slog.DiscardHandler)
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	if cfg.Retry == (storage.RetryPolicy{}) {
		cfg.Retry = storage.RetryPolicy{Base: time.Millisecond, Max: time.Millisecond}
	}
	pool := worker.New(st, cfg)
	path.register(pool, &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: cfg.Logger})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{t: t, store: st, pool: pool}
}

// execute saves a plan with the given steps, and creates its execution and
// job in one transaction, as the API does.
func (h *harness) execute(steps ...map[string]any) *storage.Execution {
	h.t.Helper()
	exec := createExecution(h.t, h.store, steps...)
	h.pool.Wake()
	return exec
}

// planSeq numbers the plans of createExecution, whose names must differ.
var planSeq atomic.Int64

// createExecution saves a plan with the given steps, and creates its
// execution and job in one transaction, as the API does.
func createExecution(t *testing.T, st storage.Store, steps ...map[string]any) *storage.Execution {
	t.Helper()
	ctx := context.Background()
	doc, err := json.Marshal(map[string]any{"steps": steps})
	require.NoError(t, err)
	name := fmt.Sprintf("%s-%d", t.Name(), planSeq.Add(1))
	p, err := st.PlanCreate(ctx, &storage.PlanCreateParams{Name: name, Document: doc})
	require.NoError(t, err)
	var exec *storage.Execution
	require.NoError(t, st.InTx(ctx, func(tx storage.Store) error {
		if exec, err = tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision}); err != nil {
			return err
		}
		_, err = tx.JobEnqueue(ctx, planjob.EnqueueParams(exec))
		return err
	}))
	return exec
}

// waitFinal waits, bounded, for the execution to reach a final status.
func (h *harness) waitFinal(id *storage.Execution) *storage.Execution {
	h.t.Helper()
	var got *storage.Execution
	require.Eventually(h.t, func() bool {
		var err error
		got, err = h.store.ExecutionGetByID(context.Background(), id.ID)
		require.NoError(h.t, err)
		return got.Status.Final()
	}, 30*time.Second, 10*time.Millisecond)
	return got
}

func result(t *testing.T, e *storage.Execution) *planjob.Result {
	t.Helper()
	var r planjob.Result
	require.NoError(t, json.Unmarshal(e.Result, &r))
	return &r
}

func step(name, url string) map[string]any {
	return map[string]any{"name": name, "request": map[string]any{"method": "GET", "url": url}, "assert": map[string]any{"status": 200}}
}

func TestPassingPlanPassesOnFirstAttempt(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	h := newHarness(t, worker.Config{})
	e := h.waitFinal(h.execute(step("one", target.URL), step("two", target.URL)))
	assert.Equal(t, storage.ExecutionPassed, e.Status)
	assert.Equal(t, 1, e.Attempt)
	assert.NotNil(t, e.StartedAt)
	r := result(t, e)
	assert.Equal(t, 2, r.Totals.Passed)
	assert.Equal(t, int64(1), r.PlanRevision)
}

func TestCancelMidPlanStopsTheRunAndAbortsTheRequest(t *testing.T) {
	t.Parallel()
	slow, aborted := make(chan struct{}), make(chan struct{})
	var third atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			close(slow)
			<-r.Context().Done() // Held until the worker aborts the request.
			close(aborted)
		case "/third":
			third.Store(true)
		}
	}))
	defer target.Close()
	h := newHarness(t, worker.Config{Lease: 300 * time.Millisecond, HeartbeatInterval: 30 * time.Millisecond})
	exec := h.execute(step("fast", target.URL+"/fast"), step("slow", target.URL+"/slow"), step("third", target.URL+"/third"))

	ctx := context.Background()
	var job *storage.Job
	require.Eventually(t, func() bool {
		var err error
		job, err = h.store.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(exec.ID))
		require.NoError(t, err)
		e, err := h.store.ExecutionGetByID(ctx, exec.ID)
		require.NoError(t, err)
		return job.State == storage.JobRunning && e.Status == storage.ExecutionRunning
	}, 30*time.Second, 5*time.Millisecond)
	// Cancel mid-plan: a cancel seen before the slow request is sent
	// skips it, and nothing would be aborted.
	wait(t, slow, "the slow request")
	_, err := h.store.JobCancel(ctx, job.ID)
	require.NoError(t, err)

	select {
	case <-aborted:
	case <-time.After(30 * time.Second):
		t.Fatal("the in-flight request was never aborted")
	}
	e := h.waitFinal(exec)
	assert.Equal(t, storage.ExecutionCancelled, e.Status)
	r := result(t, e)
	require.Len(t, r.Steps, 3)
	assert.Equal(t, planrun.StatusPassed, r.Steps[0].Status)
	assert.Equal(t, planrun.StatusSkipped, r.Steps[2].Status)
	assert.False(t, third.Load(), "no step runs after the cancellation")
	require.Eventually(t, func() bool {
		j, err := h.store.JobGet(ctx, job.ID)
		require.NoError(t, err)
		return j.State == storage.JobCancelled
	}, 30*time.Second, 5*time.Millisecond)
}

func TestInfrastructureFailureRerunsThePlanAsTheNextAttempt(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // The first attempt outlives the job timeout.
		}
	}))
	defer target.Close()
	h := newHarness(t, worker.Config{JobTimeout: 200 * time.Millisecond})
	e := h.waitFinal(h.execute(step("flaky", target.URL)))
	assert.Equal(t, storage.ExecutionPassed, e.Status)
	assert.Equal(t, 2, e.Attempt, "the whole plan ran again as attempt 2")
	var job *storage.Job
	require.Eventually(t, func() bool { // The outcome is written in batches.
		var err error
		job, err = h.store.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(e.ID))
		require.NoError(t, err)
		return job.State == storage.JobCompleted
	}, 30*time.Second, 5*time.Millisecond)
	require.Len(t, job.Errors, 1)
	assert.Contains(t, job.Errors[0].Error, "timed out")
}

func TestLastAttemptFailureEndsInError(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	defer target.Close()
	h := newHarness(t, worker.Config{JobTimeout: 100 * time.Millisecond})
	e := h.waitFinal(h.execute(step("hangs", target.URL)))
	assert.Equal(t, storage.ExecutionError, e.Status)
	assert.Equal(t, storage.DefaultMaxAttempts, e.Attempt)
	assert.Contains(t, result(t, e).Error, "timed out")
}

func TestDeletedExecutionCompletesTheJobWithNothingToDo(t *testing.T) {
	t.Parallel()
	h := newHarness(t, worker.Config{Workers: 1, PollInterval: time.Hour})
	ctx := context.Background()
	exec := h.execute(step("never", "http://127.0.0.1:1/"))
	// Race the worker: delete first if we can; either way the job ends.
	_, _ = h.store.ExecutionDeleteByPlanID(ctx, exec.PlanID)
	h.pool.Wake()
	require.Eventually(t, func() bool {
		j, err := h.store.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(exec.ID))
		require.NoError(t, err)
		return j.State.Final()
	}, 30*time.Second, 5*time.Millisecond)
}

func TestBadPayloadIsDiscarded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, worker.Config{})
	ctx := context.Background()
	j, err := h.store.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: planjob.Kind, Payload: json.RawMessage(`{"execution_id":"nope"}`)})
	require.NoError(t, err)
	h.pool.Wake()
	require.Eventually(t, func() bool {
		got, err := h.store.JobGet(ctx, j.ID)
		require.NoError(t, err)
		return got.State == storage.JobDiscarded
	}, 30*time.Second, 5*time.Millisecond)
}
