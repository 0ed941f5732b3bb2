package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// createEnvironment creates an environment through the API and returns it.
func (e *testEnv) createEnvironment(name string, vars map[string]string) Environment {
	e.t.Helper()
	res := e.request(http.MethodPost, "/environment", map[string]any{"name": name, "variables": vars})
	require.Equal(e.t, http.StatusCreated, res.Status, "body: %s", res.Body)
	var env Environment
	res.decode(e.t, &env)
	return env
}

// environmentCount returns how many environments the store holds.
func (e *testEnv) environmentCount() int {
	e.t.Helper()
	page, err := e.raw.EnvironmentList(context.Background(), &storage.EnvironmentListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	return len(page.Environments)
}

func TestEnvironmentLifecycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	res := e.request(http.MethodPost, "/environment", map[string]any{
		"name": "staging", "description": "Staging", "variables": map[string]string{"base_url": "https://staging.example.com"},
	})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Equal(t, "/environment/staging", res.Header.Get("Location"))
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	var created Environment
	res.decode(t, &created)
	assert.Equal(t, "staging", created.Name)
	assert.Equal(t, "Staging", created.Description)
	assert.Equal(t, map[string]string{"base_url": "https://staging.example.com"}, created.Variables)
	assert.Equal(t, int64(1), created.Revision)

	res = e.request(http.MethodGet, "/environment/staging", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))

	res = e.request(http.MethodPost, "/environment", map[string]any{"name": "staging"})
	assert.Equal(t, http.StatusConflict, res.Status)
	assert.Contains(t, res.problem(t).Detail, `"staging" already exists`)

	put := map[string]any{"variables": map[string]string{"base_url": "https://new.example.com"}}
	res = e.request(http.MethodPut, "/environment/staging", put)
	assert.Equal(t, http.StatusPreconditionRequired, res.Status, "no If-Match")
	res = e.request(http.MethodPut, "/environment/staging", put, "If-Match", `W/"1"`)
	assert.Equal(t, http.StatusPreconditionFailed, res.Status, "a weak tag never matches")
	res = e.request(http.MethodPut, "/environment/staging", put, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Equal(t, `"2"`, res.Header.Get("ETag"))
	var updated Environment
	res.decode(t, &updated)
	assert.Equal(t, map[string]string{"base_url": "https://new.example.com"}, updated.Variables)
	assert.Empty(t, updated.Description, "PUT replaces every field")
	res = e.request(http.MethodPut, "/environment/staging", put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusPreconditionFailed, res.Status, "stale")
	res = e.request(http.MethodPut, "/environment/nope", put, "If-Match", `"1"`)
	assert.Equal(t, http.StatusNotFound, res.Status)

	res = e.request(http.MethodDelete, "/environment/staging", nil)
	assert.Equal(t, http.StatusNoContent, res.Status)
	res = e.request(http.MethodGet, "/environment/staging", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, `no environment is named "staging"`)
	res = e.request(http.MethodDelete, "/environment/staging", nil)
	assert.Equal(t, http.StatusNotFound, res.Status)
}

func TestEnvironmentValidationWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	many := map[string]string{}
	for i := range 101 {
		many[fmt.Sprintf("v%d", i)] = "x"
	}
	tests := []struct {
		name     string
		body     map[string]any
		location string
	}{
		{"UppercaseName", map[string]any{"name": "Staging"}, "body.name"},
		{"NameWithSlash", map[string]any{"name": "a/b"}, "body.name"},
		{"EmptyName", map[string]any{"name": ""}, "body.name"},
		{"LongName", map[string]any{"name": strings.Repeat("a", 64)}, "body.name"},
		{"BadVariableName", map[string]any{"name": "ok", "variables": map[string]string{"a-b": "x"}}, "body.variables.a-b"},
		{"NULInValue", map[string]any{"name": "ok", "variables": map[string]string{"a": "x\x00"}}, "body.variables.a"},
		{"NULInDescription", map[string]any{"name": "ok", "description": "x\x00"}, "body.description"},
		{"TooManyVariables", map[string]any{"name": "ok", "variables": many}, "body.variables"},
		{"NonStringValue", map[string]any{"name": "ok", "variables": map[string]any{"a": 1}}, "body.variables.a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodPost, "/environment", tt.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			assert.Contains(t, res.problem(t).locations(), tt.location)
		})
	}
	assert.Zero(t, e.environmentCount())

	e.createEnvironment("kept", map[string]string{"a": "1"})
	res := e.request(http.MethodPut, "/environment/kept", map[string]any{"variables": map[string]string{"1a": "x"}}, "If-Match", `"1"`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).locations(), "body.variables.1a")
	res = e.request(http.MethodGet, "/environment/Kept", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, res.Status, "a name that no environment can have")
}

func TestListEnvironmentsPaginationFollowsLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"prod", "dev", "staging", "eu-1", "ci"} {
		e.createEnvironment(name, nil)
	}
	var names []string
	path := "/environment?limit=2"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 10)
		res := e.request(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page EnvironmentList
		res.decode(t, &page)
		for _, env := range page.Environments {
			names = append(names, env.Name)
			assert.NotNil(t, env.Variables, "variables is {} when empty")
		}
		path = linkNext(t, res.Header)
		assert.Equal(t, path != "", page.NextCursor != "", "a Link header exactly when there is a next page")
	}
	assert.Equal(t, []string{"ci", "dev", "eu-1", "prod", "staging"}, names)

	res := e.request(http.MethodGet, "/environment?cursor=bogus", nil)
	assert.Equal(t, http.StatusBadRequest, res.Status)
	assert.Equal(t, []string{"query.cursor"}, res.problem(t).locations())
}

// TestDeletingAnEnvironmentUsedBySchedulesConflicts: schedules that name
// an environment would fail at every tick without it, so its delete is
// refused, naming how many use it, until they no longer do.
func TestDeletingAnEnvironmentUsedBySchedulesConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createEnvironment("staging", nil)
	p := e.createPlan("p", nil)
	first := e.createSchedule(p.ID, map[string]any{"cron": "@hourly", "environment": "staging"})
	second := e.createSchedule(p.ID, map[string]any{"cron": "@daily", "environment": "staging"})
	require.Equal(t, http.StatusOK, e.request(http.MethodPost, "/schedule/"+second.ID.String()+"/pause", nil).Status)

	res := e.request(http.MethodDelete, "/environment/staging", nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	detail := res.problem(t).Detail
	assert.Contains(t, detail, `"staging" is still used by 2 schedule(s)`)
	assert.Contains(t, detail, "GET /schedule")
	assert.Equal(t, 1, e.environmentCount(), "nothing was deleted")

	for _, sc := range []Schedule{first, second} {
		require.Equal(t, http.StatusNoContent, e.request(http.MethodDelete, "/schedule/"+sc.ID.String(), nil).Status)
	}
	require.Equal(t, http.StatusNoContent, e.request(http.MethodDelete, "/environment/staging", nil).Status)
	assert.Equal(t, 0, e.environmentCount())
	assert.Equal(t, http.StatusNotFound, e.request(http.MethodDelete, "/environment/staging", nil).Status)
}
