package api

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// withCancelCounter counts the calls of Deps.CancelFunc.
func withCancelCounter(n *atomic.Int64) envOption {
	return func(d *Deps) { d.CancelFunc = func() { n.Add(1) } }
}

// runExecution makes an execution running, as a worker would.
func (e *testEnv) runExecution(id uuid.UUID) {
	e.t.Helper()
	ctx := context.Background()
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w1", Limit: 1})
	require.NoError(e.t, err)
	require.Len(e.t, claimed, 1)
	require.Equal(e.t, storage.ExecutionJobKey(id), claimed[0].UniqueKey)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: id, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(e.t, err)
}

func TestCancelOfARunningExecutionTellsWorkersAtOnce(t *testing.T) {
	t.Parallel()
	var cancels atomic.Int64
	e := newEnv(t, withCancelCounter(&cancels))
	p := e.createPlan("Running", nil)
	queued := e.execute(p.ID)
	res := e.request(http.MethodPost, "/execution/"+queued.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	assert.Zero(t, cancels.Load(), "a queued execution is cancelled without its worker")

	running := e.execute(p.ID)
	e.runExecution(running.ID)
	res = e.request(http.MethodPost, "/execution/"+running.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	assert.EqualValues(t, 1, cancels.Load())

	res = e.request(http.MethodPost, "/execution/"+uuid.NewString()+"/cancel", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.EqualValues(t, 1, cancels.Load(), "a failed cancel tells nobody")
}

func TestCascadeDeleteOfAPlanTellsWorkersAtOnce(t *testing.T) {
	t.Parallel()
	var cancels atomic.Int64
	e := newEnv(t, withCancelCounter(&cancels))
	p := e.createPlan("Doomed", nil)
	e.runExecution(e.execute(p.ID).ID)

	res := e.request(http.MethodDelete, "/plan/"+p.ID.String(), nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	assert.Zero(t, cancels.Load(), "a refused delete tells nobody")

	res = e.request(http.MethodDelete, "/plan/"+p.ID.String()+"?cascade=true", nil)
	require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	assert.EqualValues(t, 1, cancels.Load())
}
