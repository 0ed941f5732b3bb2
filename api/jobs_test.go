package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestQueueStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	res := e.request(http.MethodGet, "/queue/stats", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"queues":[]`)

	p := e.createPlan("Stats", nil)
	for range 3 {
		e.execute(p.ID)
	}
	x := e.execute(p.ID)
	require.Equal(t, http.StatusAccepted, e.request(http.MethodPost, "/execution/"+x.ID.String()+"/cancel", nil).Status)

	res = e.request(http.MethodGet, "/queue/stats", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var stats QueueStats
	res.decode(t, &stats)
	require.Len(t, stats.Queues, 1)
	q := stats.Queues[0]
	assert.Equal(t, storage.DefaultQueue, q.Queue)
	want := map[string]int64{"available": 3, "running": 0, "retryable": 0, "completed": 0, "discarded": 0, "cancelled": 1}
	assert.Equal(t, want, q.Counts, "every state is present")
	assert.GreaterOrEqual(t, q.OldestAvailableAgeSeconds, 0.0)
}

func TestGetJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Job", nil)
	x := e.execute(p.ID)
	ctx := context.Background()
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "worker-7", Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	job := claimed[0]
	_, err = e.raw.JobFail(ctx, &storage.JobFailParams{JobRef: storage.JobRef{ID: job.ID, Token: job.LeaseToken}, Error: "boom", Retry: true})
	require.NoError(t, err)

	res := e.request(http.MethodGet, fmt.Sprintf("/job/%d", job.ID), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var got Job
	res.decode(t, &got)
	assert.Equal(t, job.ID, got.ID)
	assert.Equal(t, planjob.Kind, got.Kind)
	assert.Equal(t, storage.DefaultQueue, got.Queue)
	assert.Equal(t, "retryable", got.State)
	assert.Equal(t, 1, got.Attempt)
	assert.Equal(t, storage.DefaultMaxAttempts, got.MaxAttempts)
	assert.Equal(t, "boom", got.LastError)
	require.Len(t, got.Errors, 1)
	assert.Equal(t, "boom", got.Errors[0].Error)
	assert.Equal(t, 1, got.Errors[0].Attempt)
	assert.Equal(t, storage.ExecutionJobKey(x.ID), got.UniqueKey)
	assert.JSONEq(t, fmt.Sprintf(`{"execution_id":%q}`, x.ID), string(got.Payload))

	var fields map[string]json.RawMessage
	res.decode(t, &fields)
	for _, k := range []string{"id", "queue", "kind", "payload", "priority", "run_at", "state", "attempt", "max_attempts",
		"last_error", "errors", "lease_owner", "lease_expires_at", "cancel_requested", "unique_key", "created_at", "finished_at"} {
		assert.Contains(t, fields, k)
	}
	for k := range fields {
		assert.NotContains(t, k, "token", "the lease token is never shown")
	}
}

func TestGetJobErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/job/999", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no job has id 999")

	for _, id := range []string{"abc", "0", "-1"} {
		res = e.request(http.MethodGet, "/job/"+id, nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "id %s: %s", id, res.Body)
		res.problem(t)
	}
}
