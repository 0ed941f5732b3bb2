package api

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func schedulePath(planID uuid.UUID) string { return "/plan/" + planID.String() + "/schedule" }

// created POSTs body to path, requires 201 and returns the answer's body.
func created[T any](e *testEnv, path string, body map[string]any) T {
	e.t.Helper()
	res := e.request(http.MethodPost, path, body)
	require.Equal(e.t, http.StatusCreated, res.Status, "body: %s", res.Body)
	var v T
	res.decode(e.t, &v)
	return v
}

// createSchedule creates a schedule of a plan through the API.
func (e *testEnv) createSchedule(planID uuid.UUID, body map[string]any) Schedule {
	e.t.Helper()
	return created[Schedule](e, schedulePath(planID), body)
}

// scheduleCount returns how many schedules the store holds.
func (e *testEnv) scheduleCount() int {
	e.t.Helper()
	page, err := e.raw.ScheduleList(context.Background(), &storage.ScheduleListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	return len(page.Schedules)
}

func TestScheduleLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Scheduled", nil)
	e.createEnvironment("staging", map[string]string{"base_url": "https://staging.example.com"})

	before := time.Now()
	res := e.request(http.MethodPost, schedulePath(p.ID), map[string]any{
		"cron": "*/5 * * * *", "timezone": "Europe/Paris", "environment": "staging", "queue": "eu",
		"variables": map[string]string{"base_url": "https://eu.example.com"},
	})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	var sc Schedule
	res.decode(t, &sc)
	assert.Equal(t, "/schedule/"+sc.ID.String(), res.Header.Get("Location"))
	assert.Equal(t, p.ID, sc.PlanID)
	assert.Equal(t, "*/5 * * * *", sc.Cron)
	assert.Equal(t, "Europe/Paris", sc.Timezone)
	assert.Equal(t, map[string]string{"base_url": "https://eu.example.com"}, sc.Variables)
	require.NotNil(t, sc.Environment)
	assert.Equal(t, "staging", *sc.Environment)
	assert.Equal(t, "eu", sc.Queue)
	assert.Equal(t, "skip", sc.Overlap)
	assert.False(t, sc.Paused)
	assert.Nil(t, sc.LastRunAt)
	assert.Nil(t, sc.LastExecutionID)
	assert.True(t, sc.NextRunAt.After(before), "next_run_at %s is not after now", sc.NextRunAt)
	assert.Zero(t, sc.NextRunAt.Minute()%5, "next_run_at %s is not on a 5-minute tick", sc.NextRunAt)

	res = e.request(http.MethodGet, "/schedule/"+sc.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))

	put := map[string]any{"cron": "@hourly", "overlap": "allow"}
	res = e.request(http.MethodPut, "/schedule/"+sc.ID.String(), put)
	assert.Equal(t, http.StatusPreconditionRequired, res.Status, "no If-Match")
	res = e.request(http.MethodPut, "/schedule/"+sc.ID.String(), put, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"2"`, res.Header.Get("ETag"))
	var up Schedule
	res.decode(t, &up)
	assert.Equal(t, "@hourly", up.Cron)
	assert.Equal(t, "UTC", up.Timezone, "PUT replaces every field")
	assert.Nil(t, up.Environment)
	assert.Equal(t, "default", up.Queue)
	assert.Equal(t, "allow", up.Overlap)
	assert.Zero(t, up.NextRunAt.Minute(), "next_run_at is recomputed")
	res = e.request(http.MethodPut, "/schedule/"+sc.ID.String(), put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusPreconditionFailed, res.Status, "stale")
	res = e.request(http.MethodPut, "/schedule/"+uuid.NewString(), put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusNotFound, res.Status)

	// Pausing leaves a queued execution alone.
	queued := e.execute(p.ID)
	res = e.request(http.MethodPost, "/schedule/"+sc.ID.String()+"/pause", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var paused Schedule
	res.decode(t, &paused)
	assert.True(t, paused.Paused)
	assert.Equal(t, `"3"`, res.Header.Get("ETag"))
	got, err := e.raw.ExecutionGetByID(context.Background(), queued.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionQueued, got.Status)

	res = e.request(http.MethodPost, "/schedule/"+sc.ID.String()+"/resume", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var resumed Schedule
	res.decode(t, &resumed)
	assert.False(t, resumed.Paused)
	assert.True(t, resumed.NextRunAt.After(time.Now()), "resume computes next_run_at from now")
	res = e.request(http.MethodPost, "/schedule/"+uuid.NewString()+"/pause", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)

	res = e.request(http.MethodDelete, "/schedule/"+sc.ID.String(), nil)
	assert.Equal(t, http.StatusNoContent, res.Status)
	res = e.request(http.MethodGet, "/schedule/"+sc.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no schedule has id")
	res = e.request(http.MethodDelete, "/schedule/"+sc.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)

	res = e.request(http.MethodPost, schedulePath(uuid.New()), map[string]any{"cron": "@hourly"})
	assert.Equal(t, http.StatusNotFound, res.Status)
}

func TestCreateScheduleRejectsBadFieldsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Checked", nil)
	tests := []struct {
		name     string
		body     map[string]any
		location string
		message  string
	}{
		{"BadCron", map[string]any{"cron": "every day"}, "body.cron", "expected 5 fields"},
		{"SixFields", map[string]any{"cron": "0 */5 * * * *"}, "body.cron", "expected 5 fields"},
		{"TooFrequent", map[string]any{"cron": "@every 5s"}, "body.cron", "ASTRO_SCHEDULE_MIN_INTERVAL=10s"},
		{"NeverFires", map[string]any{"cron": "0 0 30 2 *"}, "body.cron", "never fires"},
		{"UnknownTimezone", map[string]any{"cron": "@hourly", "timezone": "Mars/Olympus"}, "body.timezone", "unknown time zone"},
		{"MissingCron", map[string]any{"timezone": "UTC"}, "body", "required property cron"},
		{"BadOverlap", map[string]any{"cron": "@hourly", "overlap": "sometimes"}, "body.overlap", ""},
		{"UndeclaredVariable", map[string]any{"cron": "@hourly", "variables": map[string]string{"token": "x"}}, "body.variables.token", "does not declare"},
		{"UnknownEnvironment", map[string]any{"cron": "@hourly", "environment": "nope"}, "body.environment", `no environment is named "nope"`},
		{"BadQueue", map[string]any{"cron": "@hourly", "queue": "EU"}, "body.queue", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodPost, schedulePath(p.ID), tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			pd := res.problem(t)
			require.Contains(t, pd.locations(), tt.location, "body: %s", res.Body)
			for _, d := range pd.Errors {
				if d.Location == tt.location {
					assert.Contains(t, d.Message, tt.message)
				}
			}
		})
	}
	assert.Zero(t, e.scheduleCount())
}

func TestScheduleMinIntervalIsConfigurable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(d *Deps) { d.ScheduleMinInterval = time.Second })
	p := e.createPlan("Fast", nil)
	sc := e.createSchedule(p.ID, map[string]any{"cron": "@every 1s"})
	assert.Equal(t, "@every 1s", sc.Cron)
}

func TestListSchedulesFiltersByPlanAndFollowsLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.createPlan("A", nil)
	b := e.createPlan("B", nil)
	var ofA []uuid.UUID
	for i := range 5 {
		sc := e.createSchedule(a.ID, map[string]any{"cron": fmt.Sprintf("%d * * * *", i)})
		ofA = append(ofA, sc.ID)
		e.createSchedule(b.ID, map[string]any{"cron": "@daily"})
	}
	var got []uuid.UUID
	path := "/schedule?plan_id=" + a.ID.String() + "&limit=2"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 10)
		res := e.request(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page ScheduleList
		res.decode(t, &page)
		for _, sc := range page.Schedules {
			assert.Equal(t, a.ID, sc.PlanID)
			got = append(got, sc.ID)
		}
		path = ""
		if link := res.Header.Get("Link"); link != "" {
			path = link[1 : len(link)-len(`>; rel="next"`)]
		}
	}
	assert.Equal(t, ofA, got)

	res := e.request(http.MethodGet, "/schedule?cursor=junk", nil)
	assert.Equal(t, http.StatusBadRequest, res.Status)
}

func TestDeletingAPlanDeletesItsSchedules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Doomed", nil)
	sc := e.createSchedule(p.ID, map[string]any{"cron": "@hourly"})
	e.execute(p.ID)

	res := e.request(http.MethodDelete, "/plan/"+p.ID.String(), nil)
	assert.Equal(t, http.StatusConflict, res.Status, "a plan with executions is kept")
	res = e.request(http.MethodGet, "/schedule/"+sc.ID.String(), nil)
	assert.Equal(t, http.StatusOK, res.Status, "a kept plan keeps its schedules")

	res = e.request(http.MethodDelete, "/plan/"+p.ID.String()+"?cascade=true", nil)
	require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	res = e.request(http.MethodGet, "/schedule/"+sc.ID.String(), nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
}

// TestResumeOfAScheduleThatNoLongerParsesAnswers422: a stored schedule
// whose time zone or cron no longer parses (written by another version,
// or a zone this node lacks) is refused with a 422 that names the field,
// not a bare 500.
func TestResumeOfAScheduleThatNoLongerParsesAnswers422(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("p", nil)
	for _, tc := range []struct{ cron, tz, field string }{
		{"@hourly", "Mars/Olympus_Mons", "timezone"},
		{"not a cron", "UTC", "cron"},
	} {
		sc, err := e.raw.ScheduleCreate(context.Background(), &storage.ScheduleCreateParams{
			PlanID: p.ID, Cron: tc.cron, Timezone: tc.tz, Paused: true, NextRunAt: time.Now(),
		})
		require.NoError(t, err)
		res := e.request(http.MethodPost, "/schedule/"+sc.ID.String()+"/resume", nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
		pd := res.problem(t)
		require.Contains(t, pd.locations(), tc.field, "body: %s", res.Body)
		assert.Contains(t, string(res.Body), "no longer parses")
		got, err := e.raw.ScheduleGetByID(context.Background(), sc.ID)
		require.NoError(t, err)
		assert.True(t, got.Paused, "still paused")
	}
}
