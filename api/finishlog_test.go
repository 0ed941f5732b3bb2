package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCancelOfAQueuedExecutionLogsItsEnd checks that an execution
// cancelled before any worker ran it gets the one "execution finished" line
// that a worker logs for the executions it ends; a running one is left to
// its worker, which logs it.
func TestCancelOfAQueuedExecutionLogsItsEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Cancelled", nil)
	queued := e.execute(p.ID)
	running := e.execute(p.ID)
	res := e.request(http.MethodPost, "/execution/"+queued.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	e.runExecution(running.ID)
	res = e.request(http.MethodPost, "/execution/"+running.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)

	var finished []map[string]any
	for _, r := range e.logs.records(t) {
		if r["msg"] == "execution finished" {
			finished = append(finished, r)
		}
	}
	require.Len(t, finished, 1, e.logs.String())
	rec := finished[0]
	require.Equal(t, "INFO", rec["level"])
	require.Equal(t, queued.ID.String(), rec["execution_id"])
	require.Equal(t, p.ID.String(), rec["plan_id"])
	require.Equal(t, "cancelled", rec["status"])
	require.Contains(t, rec, "duration")
}
