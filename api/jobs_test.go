package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
	assert.Zero(t, q.PickupRuns, "no execution has started")
	assert.Nil(t, q.PickupMS)
	assert.Contains(t, string(res.Body), `"pickup_ms":null`)
}

func TestQueueStatsPickupLatency(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Pickup", nil)
	ctx := context.Background()
	for _, ms := range []int{100, 300} {
		x := e.execute(p.ID)
		stored, err := e.raw.ExecutionGetByID(ctx, x.ID)
		require.NoError(t, err)
		_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
			ID: x.ID, Status: storage.ExecutionRunning, Now: stored.CreatedAt.Add(time.Duration(ms) * time.Millisecond),
		})
		require.NoError(t, err)
	}
	e.execute(p.ID) // Still queued: not counted.

	res := e.request(http.MethodGet, "/queue/stats", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var stats QueueStats
	res.decode(t, &stats)
	require.Len(t, stats.Queues, 1)
	q := stats.Queues[0]
	assert.Equal(t, int64(2), q.PickupRuns)
	require.NotNil(t, q.PickupMS)
	// 100 and 300 ms: p50 at 0.5 = 200, p95 at 0.95 = 290, p99 at 0.99 = 298.
	assert.InDelta(t, 200, q.PickupMS.P50, 1e-6)
	assert.InDelta(t, 290, q.PickupMS.P95, 1e-6)
	assert.InDelta(t, 298, q.PickupMS.P99, 1e-6)
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

func TestCleanJobError(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"", ""},
		{"boom", "boom"},
		{"a\x00b", "ab"},
		{"line one\nline two\ttab\r", "line one line two tab "},
		{"esc \x1b[31mred\x1b[0m", "esc [31mred[0m"},
		{"del\x7f and C1 \u0085", "del and C1 "},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("é", 600), strings.Repeat("é", maxJobErrorRunes) + truncatedMark},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, cleanJobError(tc.in), "%q", tc.in)
	}
}

// TestGetJobShowsCleanErrors checks that get-job shows a job's error texts
// without control characters and cut to 500 characters, whatever the store
// holds.
func TestGetJobShowsCleanErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Job", nil)
	e.execute(p.ID)
	ctx := context.Background()
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	job := claimed[0]
	raw := "ERROR: \x1b[1mduplicate\x1b[0m key (SQLSTATE 23505)\n" + strings.Repeat("x", 2000)
	_, err = e.raw.JobFail(ctx, &storage.JobFailParams{JobRef: storage.JobRef{ID: job.ID, Token: job.LeaseToken}, Error: raw, Retry: true})
	require.NoError(t, err)

	res := e.request(http.MethodGet, fmt.Sprintf("/job/%d", job.ID), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var got Job
	res.decode(t, &got)
	require.Len(t, got.Errors, 1)
	for _, shown := range []string{got.LastError, got.Errors[0].Error} {
		assert.Equal(t, maxJobErrorRunes+1, utf8.RuneCountInString(shown))
		assert.True(t, strings.HasPrefix(shown, "ERROR: [1mduplicate[0m key (SQLSTATE 23505) xxx"), shown)
		assert.True(t, strings.HasSuffix(shown, truncatedMark))
		assert.NotContains(t, shown, "\x1b")
	}
}

func TestListJobsNewestFirstWithFiltersAndLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	var ids []int64
	for i, p := range []storage.JobEnqueueParams{
		{Queue: "q1", Kind: "k1"}, {Queue: "q1", Kind: "k2"}, {Queue: "q2", Kind: "k1"}, {Queue: "q1", Kind: "k1"},
	} {
		j, err := e.raw.JobEnqueue(ctx, &p)
		require.NoError(t, err, "job %d", i)
		ids = append(ids, j.ID)
	}
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: "q2", Worker: "w", Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, claimed, 1)

	list := func(query string) (JobList, *response) {
		t.Helper()
		res := e.request(http.MethodGet, "/job?"+query, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s: %s", query, res.Body)
		var page JobList
		res.decode(t, &page)
		return page, res
	}
	idsOf := func(page JobList) []int64 {
		out := []int64{}
		for _, j := range page.Jobs {
			out = append(out, j.ID)
		}
		return out
	}
	for _, tt := range []struct {
		query string
		want  []int64
	}{
		{"", []int64{ids[3], ids[2], ids[1], ids[0]}},
		{"queue=q1", []int64{ids[3], ids[1], ids[0]}},
		{"kind=k1", []int64{ids[3], ids[2], ids[0]}},
		{"queue=q1&kind=k1", []int64{ids[3], ids[0]}},
		{"state=running", []int64{ids[2]}},
		{"state=completed", []int64{}},
		{"queue=none", []int64{}},
	} {
		page, _ := list(tt.query)
		assert.Equal(t, tt.want, idsOf(page), "query %q", tt.query)
	}

	page, res := list("queue=q1&limit=2")
	assert.Equal(t, []int64{ids[3], ids[1]}, idsOf(page))
	assert.Equal(t, "running", func() string { p, _ := list("state=running"); return p.Jobs[0].State }())
	require.NotEmpty(t, page.NextCursor)
	link := linkNext(t, res.Header)
	require.True(t, strings.HasPrefix(link, "/job?"), "Link: %s", link)
	assert.Contains(t, link, "queue=q1")
	next, res := list(strings.TrimPrefix(link, "/job?"))
	assert.Equal(t, []int64{ids[0]}, idsOf(next))
	assert.Empty(t, next.NextCursor)
	assert.Empty(t, linkNext(t, res.Header))
	assert.Equal(t, "q1", next.Jobs[0].Queue)
	assert.Equal(t, "k1", next.Jobs[0].Kind)
	assert.Equal(t, "available", next.Jobs[0].State)
}

func TestListJobsRejectsBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	planCursor := storage.EncodeCursor(storage.Cursor{List: storage.ListPlans, ID: "0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"})
	for _, tt := range []struct {
		query    string
		status   int
		location string
	}{
		{"cursor=not-a-cursor", http.StatusBadRequest, "query.cursor"},
		{"cursor=" + planCursor, http.StatusBadRequest, "query.cursor"},
		{"state=scheduled", http.StatusUnprocessableEntity, "query.state"},
		{"limit=0", http.StatusUnprocessableEntity, "query.limit"},
		{"limit=101", http.StatusUnprocessableEntity, "query.limit"},
		{"queue=a%00b", http.StatusUnprocessableEntity, "query.queue"},
		{"kind=a%00b", http.StatusUnprocessableEntity, "query.kind"},
		// Not UTF-8: Postgres refuses such text (SQLSTATE 22021), which
		// must not come back as a refused cursor.
		{"queue=%FF", http.StatusUnprocessableEntity, "query.queue"},
		{"kind=a%C3%28", http.StatusUnprocessableEntity, "query.kind"},
		{"queue=a%E2%80&cursor=" + storage.EncodeCursor(storage.Cursor{List: storage.ListJobs, Seq: 1}), http.StatusUnprocessableEntity, "query.queue"},
	} {
		res := e.request(http.MethodGet, "/job?"+tt.query, nil)
		require.Equal(t, tt.status, res.Status, "%s: %s", tt.query, res.Body)
		assert.Contains(t, res.problem(t).locations(), tt.location, tt.query)
		assert.NotContains(t, strings.ToLower(string(res.Body)), "select", "no SQL in %s", tt.query)
	}
}
