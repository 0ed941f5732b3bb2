package planjob_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// executeWith saves a plan that declares vars and sends one request whose
// query carries {{a}}, {{b}} and {{c}}, and creates its execution, with the
// given environment and overrides, and its job. It does not wake the pool.
func (h *harness) executeWith(url string, vars map[string]string, env string, overrides map[string]string) *storage.Execution {
	h.t.Helper()
	ctx := context.Background()
	doc, err := json.Marshal(map[string]any{
		"variables": vars,
		"steps":     []any{step("one", url+"/?a={{a}}&b={{b}}&c={{c}}")},
	})
	require.NoError(h.t, err)
	p, err := h.store.PlanCreate(ctx, &storage.PlanCreateParams{Name: h.t.Name(), Document: doc})
	require.NoError(h.t, err)
	var exec *storage.Execution
	require.NoError(h.t, h.store.InTx(ctx, func(tx storage.Store) error {
		if exec, err = tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{
			PlanID: p.ID, PlanRevision: p.Revision, Environment: env, Variables: overrides,
		}); err != nil {
			return err
		}
		_, err = tx.JobEnqueue(ctx, planjob.EnqueueParams(exec))
		return err
	}))
	return exec
}

// queryRecorder is a target that records the query of every request.
func queryRecorder(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		queries = append(queries, r.URL.RawQuery)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), queries...)
	}
}

// TestRunMergesPlanThenEnvironmentThenExecutionVariables checks the
// precedence, lowest first: the plan's variables, the environment's as they
// are when the run starts (not when it was queued), and the execution's.
// Names the plan does not declare are ignored. The execution keeps its
// overrides as given and records the worker that ran it.
func TestRunMergesPlanThenEnvironmentThenExecutionVariables(t *testing.T) {
	t.Parallel()
	target, queries := queryRecorder(t)
	// The pool looks for jobs only when woken, so the environment's update
	// below surely comes before the run.
	h := newHarness(t, worker.Config{ID: "worker-under-test", PollInterval: time.Hour})
	ctx := context.Background()
	_, err := h.store.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{
		Name: "staging", Variables: map[string]string{"b": "env-old", "c": "env-old"},
	})
	require.NoError(t, err)
	overrides := map[string]string{"c": "exec", "undeclared": "x"}
	exec := h.executeWith(target.URL, map[string]string{"a": "plan", "b": "plan", "c": "plan"}, "staging", overrides)
	_, err = h.store.EnvironmentUpdate(ctx, &storage.EnvironmentUpdateParams{
		Name: "staging", ExpectedRevision: 1, Variables: map[string]string{"b": "env", "c": "env", "d": "env"},
	})
	require.NoError(t, err)
	h.pool.Wake()

	e := h.waitFinal(exec)
	require.Equal(t, storage.ExecutionPassed, e.Status, "result: %s", e.Result)
	assert.Equal(t, []string{"a=plan&b=env&c=exec"}, queries())
	assert.Equal(t, overrides, e.Variables, "the execution keeps its overrides as given, not merged")
	assert.Equal(t, "staging", e.Environment)
	assert.Equal(t, "worker-under-test", e.WorkerID)
}

// TestRunWithoutEnvironmentUsesPlanThenExecutionVariables checks that an
// execution without an environment layers its variables on the plan's.
func TestRunWithoutEnvironmentUsesPlanThenExecutionVariables(t *testing.T) {
	t.Parallel()
	target, queries := queryRecorder(t)
	h := newHarness(t, worker.Config{})
	exec := h.executeWith(target.URL, map[string]string{"a": "plan", "b": "plan", "c": "plan"}, "", map[string]string{"a": "exec"})
	h.pool.Wake()
	e := h.waitFinal(exec)
	require.Equal(t, storage.ExecutionPassed, e.Status, "result: %s", e.Result)
	assert.Equal(t, []string{"a=exec&b=plan&c=plan"}, queries())
}

// TestRunWithDeletedEnvironmentEndsInError checks that an execution whose
// environment was deleted after it was queued ends in error, saying which
// environment is missing, without sending anything or retrying.
func TestRunWithDeletedEnvironmentEndsInError(t *testing.T) {
	t.Parallel()
	target, queries := queryRecorder(t)
	h := newHarness(t, worker.Config{PollInterval: time.Hour})
	ctx := context.Background()
	// The store does not check the name, so the execution names an
	// environment that no longer exists whenever the pool picks it up, as
	// one deleted after the execution was queued (deleting it here would
	// race the pool).
	exec := h.executeWith(target.URL, map[string]string{"a": "", "b": "", "c": ""}, "eu-prod", nil)
	h.pool.Wake()

	e := h.waitFinal(exec)
	assert.Equal(t, storage.ExecutionError, e.Status)
	res := result(t, e)
	assert.Equal(t, `environment "eu-prod" no longer exists`, res.Error)
	assert.Equal(t, int64(1), res.PlanRevision)
	assert.Empty(t, queries(), "nothing is sent")
	// The outcome is written in the background: wait for it, bounded.
	var job *storage.Job
	require.Eventually(t, func() bool {
		var err error
		job, err = h.store.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(e.ID))
		require.NoError(t, err)
		return job.State.Final()
	}, 30*time.Second, 10*time.Millisecond)
	assert.Equal(t, storage.JobDiscarded, job.State, "no retry: it would fail the same way")
	assert.Equal(t, 1, job.Attempt)
	assert.Contains(t, job.LastError, `environment "eu-prod" no longer exists`)
}
