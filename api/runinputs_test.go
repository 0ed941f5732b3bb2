package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// executePath is the path of execute-plan for a plan.
func executePath(id uuid.UUID) string { return fmt.Sprintf("/plan/%s/execute", id) }

func TestExecutePlanWithRunInputs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Inputs", nil)
	e.createEnvironment("staging", map[string]string{"base_url": "https://staging.example.com", "unused": "x"})

	res := e.request(http.MethodPost, executePath(p.ID), map[string]any{
		"variables":   map[string]string{"base_url": "https://eu.example.com"},
		"environment": "staging",
		"queue":       "eu",
	})
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var x Execution
	res.decode(t, &x)
	assert.Equal(t, map[string]string{"base_url": "https://eu.example.com"}, x.Variables)
	require.NotNil(t, x.Environment)
	assert.Equal(t, "staging", *x.Environment)
	assert.Equal(t, "api", x.Trigger)
	assert.Equal(t, "eu", x.Queue)
	assert.Nil(t, x.ScheduleID)
	assert.Nil(t, x.WorkerID)
	jobs := e.jobs()
	require.Len(t, jobs, 1)
	assert.Equal(t, "eu", jobs[0].Queue, "the job goes to the execution's queue")

	res = e.request(http.MethodGet, "/execution/"+x.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status)
	var got Execution
	res.decode(t, &got)
	assert.Equal(t, x.Variables, got.Variables)
	assert.Equal(t, x.Environment, got.Environment)
	assert.Equal(t, "eu", got.Queue)
}

func TestExecutePlanWithoutBodySendsEveryField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Plain", nil)
	res := e.request(http.MethodPost, executePath(p.ID), nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var raw map[string]json.RawMessage
	res.decode(t, &raw)
	assert.JSONEq(t, `{}`, string(raw["variables"]))
	assert.JSONEq(t, `null`, string(raw["environment"]))
	assert.JSONEq(t, `"api"`, string(raw["trigger"]))
	assert.JSONEq(t, `null`, string(raw["schedule_id"]))
	assert.JSONEq(t, `"default"`, string(raw["queue"]))
	assert.JSONEq(t, `null`, string(raw["worker_id"]))
	assert.Equal(t, "default", e.jobs()[0].Queue)
}

func TestExecutePlanRejectsBadRunInputsAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Checked", nil)
	long := "https://x.example.com/" + strings.Repeat("a", plan.MaxExpandedURLBytes)
	e.createEnvironment("huge", map[string]string{"base_url": long})
	e.createEnvironment("fine", map[string]string{"base_url": "https://fine.example.com"})

	tests := []struct {
		name     string
		body     map[string]any
		location string
		message  string
	}{
		{"UndeclaredVariable", map[string]any{"variables": map[string]string{"token": "x"}}, "body.variables.token", "does not declare"},
		{"UnknownEnvironment", map[string]any{"environment": "nope"}, "body.environment", `no environment is named "nope"`},
		{"NULInValue", map[string]any{"variables": map[string]string{"base_url": "a\x00b"}}, "body.variables.base_url", "NUL"},
		{"VariableMakesURLTooLarge", map[string]any{"variables": map[string]string{"base_url": long}}, "body.variables", "more than the limit"},
		{"EnvironmentMakesURLTooLarge", map[string]any{"environment": "huge"}, "body.environment", `with environment "huge"`},
		{"VariableOverURLScheme", map[string]any{"environment": "fine", "variables": map[string]string{"base_url": "file:///etc"}}, "body.variables", "scheme"},
		{"BadQueue", map[string]any{"queue": "EU"}, "body.queue", ""},
		{"BadEnvironmentName", map[string]any{"environment": "a b"}, "body.environment", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodPost, executePath(p.ID), tt.body)
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
	assert.Zero(t, e.executionCount())
	assert.Empty(t, e.jobs())

	// An environment that overrides a variable with a valid value, and
	// names the plan does not declare, is fine.
	res := e.request(http.MethodPost, executePath(p.ID), map[string]any{"environment": "fine"})
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
}

func TestExecutePlanReplayIgnoresANewBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Replayed", nil)
	first := e.request(http.MethodPost, executePath(p.ID),
		map[string]any{"variables": map[string]string{"base_url": "https://one.example.com"}}, "Idempotency-Key", "k")
	require.Equal(t, http.StatusAccepted, first.Status, "body: %s", first.Body)
	second := e.request(http.MethodPost, executePath(p.ID),
		map[string]any{"variables": map[string]string{"base_url": "https://two.example.com"}, "queue": "eu"}, "Idempotency-Key", "k")
	require.Equal(t, http.StatusAccepted, second.Status, "body: %s", second.Body)
	var a, b Execution
	first.decode(t, &a)
	second.decode(t, &b)
	assert.Equal(t, a.ID, b.ID, "a replay returns the first execution")
	assert.Equal(t, map[string]string{"base_url": "https://one.example.com"}, b.Variables)
	assert.Equal(t, "default", b.Queue)
	assert.Equal(t, 1, e.executionCount())
}

func TestListExecutionsByTriggerAndSchedule(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Listed", nil)
	x := e.execute(p.ID)
	list := func(query string) []uuid.UUID {
		t.Helper()
		res := e.request(http.MethodGet, "/execution?"+query, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page ExecutionList
		res.decode(t, &page)
		ids := []uuid.UUID{}
		for _, x := range page.Executions {
			ids = append(ids, x.ID)
		}
		return ids
	}
	assert.Equal(t, []uuid.UUID{x.ID}, list("trigger=api"))
	assert.Empty(t, list("trigger=schedule"))
	assert.Empty(t, list("schedule_id="+uuid.Must(uuid.NewV7()).String()))
	for _, q := range []string{"trigger=bogus", "schedule_id=nope"} {
		res := e.request(http.MethodGet, "/execution?"+q, nil)
		assert.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", q, res.Body)
	}
}

func TestExecutePlanTrigger(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Triggered", nil)

	// cli is accepted, shown by execute-plan and get-execution, and found
	// by the trigger filter; api is the default, and may be said outright.
	res := e.request(http.MethodPost, executePath(p.ID), map[string]any{"trigger": "cli"})
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var cli Execution
	res.decode(t, &cli)
	assert.Equal(t, "cli", cli.Trigger)
	assert.Nil(t, cli.ScheduleID)
	res = e.request(http.MethodGet, "/execution/"+cli.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var got Execution
	res.decode(t, &got)
	assert.Equal(t, "cli", got.Trigger)

	res = e.request(http.MethodPost, executePath(p.ID), map[string]any{"trigger": "api"})
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var api Execution
	res.decode(t, &api)
	assert.Equal(t, "api", api.Trigger)

	for trigger, want := range map[string]uuid.UUID{"cli": cli.ID, "api": api.ID} {
		res := e.request(http.MethodGet, "/execution?trigger="+trigger, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page ExecutionList
		res.decode(t, &page)
		require.Len(t, page.Executions, 1, "trigger=%s", trigger)
		assert.Equal(t, want, page.Executions[0].ID, "trigger=%s", trigger)
	}

	// schedule is refused, saying why; any other value is refused too;
	// neither writes anything, not even with an Idempotency-Key.
	tests := []struct {
		name    string
		trigger any
		message string
	}{
		{"Schedule", "schedule", "set by the scheduler only"},
		{"Unknown", "cron", "api, cli"},
		{"UpperCase", "CLI", "api, cli"},
		{"Empty", "", "api, cli"},
		{"NotAString", 1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.request(http.MethodPost, executePath(p.ID), map[string]any{"trigger": tt.trigger}, "Idempotency-Key", "refused-"+tt.name)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			pd := res.problem(t)
			require.Contains(t, pd.locations(), "body.trigger", "body: %s", res.Body)
			var messages []string
			for _, d := range pd.Errors {
				if d.Location == "body.trigger" {
					messages = append(messages, d.Message)
				}
			}
			assert.Contains(t, strings.Join(messages, "\n"), tt.message)
		})
	}
	assert.Equal(t, 2, e.executionCount(), "refused bodies write no execution")
	assert.Len(t, e.jobs(), 2, "refused bodies enqueue no job")
	res = e.request(http.MethodGet, "/execution?trigger=schedule", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var scheduled ExecutionList
	res.decode(t, &scheduled)
	assert.Empty(t, scheduled.Executions)
}

// TestExecutePlanChecksVariablesOfAPlanThatFailsItsOwnChecks: a stored
// plan that no longer passes validation on its own (saved under other
// rules) is not blamed on the body, but the body's variables are still
// checked: a NUL would otherwise reach the store.
func TestExecutePlanChecksVariablesOfAPlanThatFailsItsOwnChecks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p, err := e.raw.PlanCreate(context.Background(), &storage.PlanCreateParams{
		Name: "Stale", Document: json.RawMessage(`{"version":1,"variables":{"v":"x"},"steps":[]}`),
	})
	require.NoError(t, err)
	res := e.request(http.MethodPost, executePath(p.ID), map[string]any{"variables": map[string]string{"v": "a\x00b"}})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	pd := res.problem(t)
	require.Contains(t, pd.locations(), "body.variables.v", "body: %s", res.Body)
	assert.Zero(t, e.executionCount())
}
