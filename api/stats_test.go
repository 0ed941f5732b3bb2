package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// finishAt ends an execution created through the API as a worker would:
// running a second before at, then status at at, with a result of ms
// milliseconds whose one step "probe" ends as the run does.
func (e *testEnv) finishAt(id uuid.UUID, status storage.ExecutionStatus, at time.Time, ms int64) {
	e.t.Helper()
	ctx := context.Background()
	_, err := e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: id, Status: storage.ExecutionRunning, Now: at.Add(-time.Second),
	})
	require.NoError(e.t, err)
	result := fmt.Sprintf(`{"status":%q,"plan_revision":1,"steps":[{"name":"probe","status":%q,"attempts":1,"duration_ms":%d}],`+
		`"totals":{"passed":0,"failed":0,"errors":0,"skipped":0,"duration_ms":%d}}`, status, status, ms/2, ms)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: id, Status: status, Now: at, Result: []byte(result),
	})
	require.NoError(e.t, err)
}

// statsQuery returns a query string of since and until.
func statsQuery(since, until time.Time, more ...string) string {
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}, "until": {until.Format(time.RFC3339Nano)}}
	for i := 0; i+1 < len(more); i += 2 {
		q.Set(more[i], more[i+1])
	}
	return q.Encode()
}

func TestPlanAndGlobalStats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	checkout := e.createPlan("Checkout", nil)
	search := e.createPlan("Search", nil)
	e.createPlan("Idle", nil)
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-24 * time.Hour)

	// Checkout, in two half-hour buckets: passed 100 and 300 ms, failed
	// 200 ms; then passed 400 ms and a cancelled run. Search: one error.
	for _, r := range []struct {
		plan   uuid.UUID
		status storage.ExecutionStatus
		at     time.Duration
		ms     int64
	}{
		{checkout.ID, storage.ExecutionPassed, 5 * time.Minute, 100},
		{checkout.ID, storage.ExecutionFailed, 10 * time.Minute, 200},
		{checkout.ID, storage.ExecutionPassed, 20 * time.Minute, 300},
		{checkout.ID, storage.ExecutionPassed, 40 * time.Minute, 400},
		{checkout.ID, storage.ExecutionCancelled, 50 * time.Minute, 9000},
		{search.ID, storage.ExecutionError, 15 * time.Minute, 50},
		// Outside the window.
		{checkout.ID, storage.ExecutionFailed, 2 * time.Hour, 1},
	} {
		e.finishAt(e.execute(r.plan).ID, r.status, t0.Add(r.at), r.ms)
	}
	e.execute(checkout.ID) // Queued, not final: not counted.

	res := e.request(http.MethodGet, "/plan/"+checkout.ID.String()+"/stats?"+statsQuery(t0, t0.Add(time.Hour), "bucket", "30m"), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var st PlanStats
	res.decode(t, &st)
	assert.Equal(t, checkout.ID, st.PlanID)
	assert.True(t, t0.Equal(st.Since) && t0.Add(time.Hour).Equal(st.Until), "window %s..%s", st.Since, st.Until)
	assert.Equal(t, int64(1800), st.BucketSeconds)
	assert.Nil(t, st.Trigger)
	// Durations 100, 200, 300, 400 (the cancelled run's left out): p50 at
	// 1.5 = 250, p95 at 2.85 = 385, p99 at 2.97 = 397.
	assert.Equal(t, roundTotals(StatsTotals{Runs: 5, Passed: 3, Failed: 1, Cancelled: 1, PassRate: ptr(0.75),
		DurationMS: &DurationPercentiles{P50: 250, P95: 385, P99: 397}}), roundTotals(st.Totals))
	require.Len(t, st.Series, 2)
	assert.True(t, t0.Equal(st.Series[0].Start))
	assert.True(t, t0.Add(30*time.Minute).Equal(st.Series[1].Start))
	// First half hour: 100, 200 (failed), 300: p50 200, p95 at 1.9 = 290,
	// p99 at 1.98 = 298. Second: 400 and the cancelled run.
	assert.Equal(t, roundTotals(StatsTotals{Runs: 3, Passed: 2, Failed: 1, PassRate: ptr(2.0 / 3.0),
		DurationMS: &DurationPercentiles{P50: 200, P95: 290, P99: 298}}), roundTotals(st.Series[0].StatsTotals))
	assert.Equal(t, roundTotals(StatsTotals{Runs: 2, Passed: 1, Cancelled: 1, PassRate: ptr(1.0),
		DurationMS: &DurationPercentiles{P50: 400, P95: 400, P99: 400}}), roundTotals(st.Series[1].StatsTotals))
	// The step "probe" takes half its run: 50, 100, 150, 200.
	assert.Equal(t, int64(4), st.StepRuns)
	require.Len(t, st.Steps, 1)
	step := st.Steps[0]
	assert.Equal(t, "probe", step.Name)
	assert.Equal(t, [5]int64{4, 3, 1, 0, 0}, [5]int64{step.Runs, step.Passed, step.Failed, step.Error, step.Skipped})
	require.NotNil(t, step.PassRate)
	assert.InDelta(t, 0.75, *step.PassRate, 1e-9)
	require.NotNil(t, step.DurationMS)
	assert.InDelta(t, 125, step.DurationMS.P50, 1e-9)

	// Filtered by a trigger nobody used: zero totals, null rate and
	// percentiles.
	res = e.request(http.MethodGet, "/plan/"+checkout.ID.String()+"/stats?"+statsQuery(t0, t0.Add(time.Hour), "trigger", "schedule"), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"totals":{"runs":0,"passed":0,"failed":0,"error":0,"cancelled":0,"pass_rate":null,"duration_ms":null}`)
	assert.Contains(t, string(res.Body), `"trigger":"schedule"`)
	assert.Contains(t, string(res.Body), `"steps":[]`)

	res = e.request(http.MethodGet, "/stats?"+statsQuery(t0, t0.Add(time.Hour)), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var g GlobalStats
	res.decode(t, &g)
	// Durations 50, 100, 200, 300, 400: p50 200, p95 at 3.8 = 380, p99 at
	// 3.96 = 396.
	assert.Equal(t, roundTotals(StatsTotals{Runs: 6, Passed: 3, Failed: 1, Error: 1, Cancelled: 1, PassRate: ptr(0.6),
		DurationMS: &DurationPercentiles{P50: 200, P95: 380, P99: 396}}), roundTotals(g.Totals))
	// Both failing plans tie at one failure: by plan ID, Checkout first.
	require.Len(t, g.TopFailing, 2)
	assert.Equal(t, PlanFailures{PlanID: checkout.ID, Name: "Checkout", Runs: 5, Passed: 3, Failures: 1, Cancelled: 1, PassRate: ptr(0.75)}, g.TopFailing[0])
	assert.Equal(t, PlanFailures{PlanID: search.ID, Name: "Search", Runs: 1, Failures: 1, PassRate: ptr(0.0)}, g.TopFailing[1])
}

// roundTotals rounds the floats of t to 1e-9, so that hand-computed
// percentiles compare equal despite binary rounding.
func roundTotals(t StatsTotals) StatsTotals {
	r := func(v float64) float64 { return float64(int64(v*1e9+0.5)) / 1e9 }
	if t.PassRate != nil {
		t.PassRate = ptr(r(*t.PassRate))
	}
	if t.DurationMS != nil {
		d := *t.DurationMS
		t.DurationMS = &DurationPercentiles{P50: r(d.P50), P95: r(d.P95), P99: r(d.P99)}
	}
	return t
}

func ptr[T any](v T) *T { return &v }

func TestStatsDefaultWindowAndBucket(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Defaults", nil)
	before := time.Now()
	res := e.request(http.MethodGet, "/plan/"+p.ID.String()+"/stats", nil)
	after := time.Now()
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var st PlanStats
	res.decode(t, &st)
	assert.False(t, st.Until.Before(before.Truncate(time.Microsecond)) || st.Until.After(after), "until is now: %s", st.Until)
	assert.Equal(t, 7*24*time.Hour, st.Until.Sub(st.Since))
	assert.Equal(t, int64(3600), st.BucketSeconds)
	// 168 hours, plus one when the window does not start on the hour.
	want := 168
	if !st.Since.Equal(st.Since.Truncate(time.Hour)) {
		want++
	}
	assert.Len(t, st.Series, want)

	// Until alone moves since with it; since alone ends now.
	until := time.Now().UTC().Truncate(time.Hour).Add(-30 * 24 * time.Hour)
	res = e.request(http.MethodGet, "/stats?until="+until.Format(time.RFC3339), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var g GlobalStats
	res.decode(t, &g)
	assert.True(t, until.Equal(g.Until))
	assert.True(t, until.Add(-7*24*time.Hour).Equal(g.Since))
	assert.Equal(t, []PlanFailures{}, g.TopFailing)
	since := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	res = e.request(http.MethodGet, "/stats?since="+since.Format(time.RFC3339), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res.decode(t, &g)
	assert.True(t, since.Equal(g.Since))
	assert.WithinDuration(t, time.Now(), g.Until, time.Hour, "until defaults to now")
}

func TestStatsRejectBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Strict", nil)
	now := time.Now().UTC().Truncate(time.Second)
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name, path, location string
	}{
		{"SinceNotATime", "/plan/{id}/stats?since=yesterday", "query.since"},
		{"UntilNotATime", "/plan/{id}/stats?until=2026-13-01T00:00:00Z", "query.until"},
		{"SinceAfterUntil", "/plan/{id}/stats?since=" + ts(0) + "&until=" + ts(-time.Hour), "query.since"},
		{"SinceIsUntil", "/plan/{id}/stats?since=" + ts(0) + "&until=" + ts(0), "query.since"},
		{"SinceInTheFuture", "/plan/{id}/stats?since=" + ts(time.Hour), "query.since"},
		{"WindowOver90Days", "/plan/{id}/stats?since=" + ts(-91*24*time.Hour) + "&until=" + ts(0) + "&bucket=24h", "query.since"},
		{"BucketNotADuration", "/plan/{id}/stats?bucket=hourly", "query.bucket"},
		{"BucketUnderAMinute", "/plan/{id}/stats?bucket=30s", "query.bucket"},
		{"BucketOverADay", "/plan/{id}/stats?bucket=25h", "query.bucket"},
		{"BucketNotWholeSeconds", "/plan/{id}/stats?bucket=1m0.5s", "query.bucket"},
		{"TooManyBuckets", "/plan/{id}/stats?bucket=1m", "query.bucket"},
		{"UnknownTrigger", "/plan/{id}/stats?trigger=cron", "query.trigger"},
		{"GlobalSinceNotATime", "/stats?since=1700000000", "query.since"},
		{"GlobalWindowOver90Days", "/stats?since=" + ts(-90*24*time.Hour-time.Second) + "&until=" + ts(0), "query.since"},
		{"GlobalSinceAfterUntil", "/stats?since=" + ts(time.Minute) + "&until=" + ts(0), "query.since"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodGet, strings.ReplaceAll(tt.path, "{id}", p.ID.String()), nil)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			assert.Contains(t, res.problem(t).locations(), tt.location, "body: %s", res.Body)
		})
	}
	res := e.request(http.MethodGet, "/plan/"+uuid.Must(uuid.NewV7()).String()+"/stats", nil)
	require.Equal(t, http.StatusNotFound, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).Detail, "no plan has id")
	// The largest windows pass: 90 days of days, 2000 one-minute buckets.
	for _, q := range []string{
		statsQuery(now.Add(-90*24*time.Hour), now, "bucket", "24h"),
		statsQuery(now.Add(-2000*time.Minute).Truncate(time.Minute), now.Truncate(time.Minute), "bucket", "1m"),
	} {
		res := e.request(http.MethodGet, "/plan/"+p.ID.String()+"/stats?"+q, nil)
		assert.Equal(t, http.StatusOK, res.Status, "%s: %s", q, res.Body)
	}
}

func TestListExecutionsBySinceUntilAndLabel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	prod := e.createPlan("Prod checkout", map[string]string{"team": "payments", "env": "prod"})
	staging := e.createPlan("Staging checkout", map[string]string{"team": "payments", "env": "staging"})
	other := e.createPlan("Search", map[string]string{"team": "search"})
	var all []Execution
	for _, p := range []Plan{prod, staging, other, prod, staging, other, prod} {
		all = append(all, e.execute(p.ID))
	}
	list := func(query string) (ids []uuid.UUID, link []string) {
		t.Helper()
		res := e.request(http.MethodGet, "/execution?"+query, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page ExecutionList
		res.decode(t, &page)
		ids = []uuid.UUID{}
		for _, x := range page.Executions {
			ids = append(ids, x.ID)
		}
		return ids, res.Header.Values("Link")
	}
	want := func(keep func(x Execution) bool) []uuid.UUID {
		ids := []uuid.UUID{}
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				ids = append(ids, all[i].ID)
			}
		}
		return ids
	}
	of := func(ps ...Plan) func(x Execution) bool {
		return func(x Execution) bool {
			for _, p := range ps {
				if p.ID == x.PlanID {
					return true
				}
			}
			return false
		}
	}
	since, until := all[1].CreatedAt, all[5].CreatedAt
	inWindow := func(x Execution) bool { return !x.CreatedAt.Before(since) && x.CreatedAt.Before(until) }
	window := "since=" + url.QueryEscape(since.Format(time.RFC3339Nano)) + "&until=" + url.QueryEscape(until.Format(time.RFC3339Nano))

	got, _ := list("label=team:payments")
	assert.Equal(t, want(of(prod, staging)), got)
	got, _ = list("label=team:payments&label=env:prod")
	assert.Equal(t, want(of(prod)), got)
	got, _ = list("label=team:nobody")
	assert.Empty(t, got)
	got, _ = list(window)
	assert.Equal(t, want(inWindow), got)
	require.NotEmpty(t, got)

	// Paged one by one, the Link header keeps every filter.
	expect := want(func(x Execution) bool { return inWindow(x) && of(prod, staging)(x) })
	require.NotEmpty(t, expect)
	var walked []uuid.UUID
	next := window + "&label=team:payments&limit=1"
	for range 20 {
		ids, link := list(next)
		walked = append(walked, ids...)
		target := ""
		for _, l := range link {
			if strings.HasSuffix(l, `>; rel="next"`) {
				target = strings.TrimSuffix(strings.TrimPrefix(l, "</execution?"), `>; rel="next"`)
			}
		}
		if target == "" {
			break
		}
		u, err := url.ParseQuery(target)
		require.NoError(t, err, target)
		assert.Equal(t, []string{"team:payments"}, u["label"])
		assert.NotEmpty(t, u.Get("since"))
		assert.NotEmpty(t, u.Get("until"))
		next = target
	}
	assert.Equal(t, expect, walked)

	for _, q := range []string{"label=nocolon", "label=:empty-key", "since=today", "until=1"} {
		res := e.request(http.MethodGet, "/execution?"+q, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", q, res.Body)
	}
}
