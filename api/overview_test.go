package api

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestOverview(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// Plan IDs are UUIDv7, so the overview (by plan ID) lists them in the
	// order they were created.
	healthy := e.createPlan("Healthy", nil)
	broken := e.createPlan("Broken", nil)
	idle := e.createPlan("Idle", nil)
	now := time.Now().UTC()

	// Healthy: an old failure outside the 24 h window, then two passes.
	e.finishAt(e.execute(healthy.ID).ID, storage.ExecutionFailed, now.Add(-30*time.Hour), 10)
	e.finishAt(e.execute(healthy.ID).ID, storage.ExecutionPassed, now.Add(-3*time.Hour), 100)
	lastPass := e.execute(healthy.ID).ID
	e.finishAt(lastPass, storage.ExecutionPassed, now.Add(-2*time.Hour), 200)
	// Broken: passed, then failed, error, cancelled (left out of health).
	e.finishAt(e.execute(broken.ID).ID, storage.ExecutionPassed, now.Add(-5*time.Hour), 100)
	e.finishAt(e.execute(broken.ID).ID, storage.ExecutionFailed, now.Add(-4*time.Hour), 100)
	lastErr := e.execute(broken.ID).ID
	e.finishAt(lastErr, storage.ExecutionError, now.Add(-3*time.Hour), 100)
	e.finishAt(e.execute(broken.ID).ID, storage.ExecutionCancelled, now.Add(-1*time.Hour), 100)
	queued := e.execute(broken.ID) // Newest, not final.

	res := e.request(http.MethodGet, "/overview", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var ov Overview
	res.decode(t, &ov)
	assert.Equal(t, 24*time.Hour, ov.Until.Sub(ov.Since))
	assert.Empty(t, ov.NextCursor)
	require.Len(t, ov.Plans, 3)
	h, b, i := ov.Plans[0], ov.Plans[1], ov.Plans[2]
	assert.Equal(t, []uuid.UUID{healthy.ID, broken.ID, idle.ID}, []uuid.UUID{h.PlanID, b.PlanID, i.PlanID})
	assert.Equal(t, "Broken", b.Name)

	require.NotNil(t, h.LatestStatus)
	assert.Equal(t, "passed", *h.LatestStatus)
	require.Len(t, h.Recent, 3)
	assert.Equal(t, lastPass, h.Recent[0].ID, "newest first")
	assert.Equal(t, []string{"passed", "passed", "failed"}, statuses(h.Recent))
	require.NotNil(t, h.Recent[0].DurationMS)
	assert.Equal(t, int64(200), *h.Recent[0].DurationMS)
	assert.Equal(t, "api", h.Recent[0].Trigger)
	require.NotNil(t, h.Recent[0].FinishedAt)
	assert.Equal(t, OverviewTotals{Runs: 2, Passed: 2, PassRate: ptr(1.0)}, h.Totals, "the old failure is outside the window")

	require.NotNil(t, b.LatestStatus)
	assert.Equal(t, "queued", *b.LatestStatus)
	assert.Equal(t, []string{"queued", "cancelled", "error", "failed", "passed"}, statuses(b.Recent))
	assert.Equal(t, queued.ID, b.Recent[0].ID)
	assert.Nil(t, b.Recent[0].FinishedAt)
	assert.Nil(t, b.Recent[0].DurationMS)
	assert.Equal(t, OverviewTotals{Runs: 4, Passed: 1, Failed: 1, Error: 1, Cancelled: 1, PassRate: ptr(1.0 / 3)}, b.Totals)

	assert.Nil(t, i.LatestStatus)
	assert.Empty(t, i.Recent)
	assert.Equal(t, OverviewTotals{}, i.Totals)

	require.Len(t, ov.Failing, 1)
	f := ov.Failing[0]
	assert.Equal(t, broken.ID, f.PlanID)
	assert.Equal(t, "Broken", f.Name)
	assert.Equal(t, "error", f.Status)
	assert.Equal(t, lastErr, f.ExecutionID)
	assert.True(t, now.Add(-4*time.Hour).Truncate(time.Microsecond).Equal(f.FailingSince), "failing since the first failure after the last pass, got %s", f.FailingSince)

	// Every field is sent, nulls included.
	for _, k := range []string{`"latest_status":null`, `"recent":[]`, `"pass_rate":null`, `"failing_since"`, `"duration_ms":null`, `"finished_at":null`} {
		assert.Contains(t, string(res.Body), k)
	}
}

func TestOverviewRecentIsCappedAndPagesFollowLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.createPlan("First", nil)
	var want []uuid.UUID
	for range storage.OverviewRecent + 2 {
		want = append(want, e.execute(first.ID).ID)
	}
	second := e.createPlan("Second", nil)
	third := e.createPlan("Third", nil)
	now := time.Now().UTC()
	e.finishAt(e.execute(third.ID).ID, storage.ExecutionFailed, now.Add(-time.Minute), 1)

	res := e.request(http.MethodGet, "/overview?limit=2", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var page Overview
	res.decode(t, &page)
	require.Len(t, page.Plans, 2)
	assert.Equal(t, first.ID, page.Plans[0].PlanID)
	assert.Equal(t, second.ID, page.Plans[1].PlanID)
	require.Len(t, page.Plans[0].Recent, storage.OverviewRecent)
	assert.Equal(t, want[len(want)-1], page.Plans[0].Recent[0].ID, "newest first")
	assert.Equal(t, want[2], page.Plans[0].Recent[storage.OverviewRecent-1].ID, "the two oldest are left out")
	require.Len(t, page.Failing, 1, "the failing list covers plans beyond the page")
	assert.Equal(t, third.ID, page.Failing[0].PlanID)
	require.NotEmpty(t, page.NextCursor)

	next := linkNext(t, res.Header)
	require.True(t, strings.HasPrefix(next, "/overview?"), "Link: %s", next)
	res = e.request(http.MethodGet, next, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var last Overview
	res.decode(t, &last)
	require.Len(t, last.Plans, 1)
	assert.Equal(t, third.ID, last.Plans[0].PlanID)
	assert.Empty(t, last.Failing, "filled on the first page only")
	assert.Empty(t, last.NextCursor)
	assert.Empty(t, linkNext(t, res.Header))
}

func TestOverviewRejectsBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createPlan("Plan", nil)
	jobCursor := storage.EncodeCursor(storage.Cursor{List: storage.ListJobs, Seq: 1})
	for _, tt := range []struct {
		query    string
		status   int
		location string
	}{
		{"cursor=not-a-cursor", http.StatusBadRequest, "query.cursor"},
		{"cursor=" + jobCursor, http.StatusBadRequest, "query.cursor"},
		{"limit=0", http.StatusUnprocessableEntity, "query.limit"},
		{"limit=101", http.StatusUnprocessableEntity, "query.limit"},
	} {
		res := e.request(http.MethodGet, "/overview?"+tt.query, nil)
		require.Equal(t, tt.status, res.Status, "%s: %s", tt.query, res.Body)
		assert.Contains(t, res.problem(t).locations(), tt.location, tt.query)
	}
}

func statuses(xs []ExecutionSummary) []string {
	out := make([]string, 0, len(xs))
	for _, x := range xs {
		out = append(out, x.Status)
	}
	return out
}
