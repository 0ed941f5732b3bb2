package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// secretResult is a stored result whose steps carry captured values, body
// excerpts and passed assertions (a passed capture echoes its value): none
// of their strings may reach a message.
func secretResult(t *testing.T) json.RawMessage {
	t.Helper()
	res := struct {
		*planrun.Result
		PlanRevision int64  `json:"plan_revision"`
		Error        string `json:"error,omitempty"`
	}{
		Result: &planrun.Result{
			Status: planrun.StatusFailed,
			Steps: []planrun.StepResult{
				{
					Name: "Log in", Status: planrun.StatusPassed, HTTPStatus: 200,
					Captured:    map[string]string{"session_id": "CAPTURED-SESSION-42", "api_token": planrun.Redacted},
					BodyExcerpt: `{"session":"BODY-EXCERPT-SESSION"}`,
					Assertions: []planrun.AssertionResult{
						{Kind: planrun.KindCapture, Target: "session_id", Expected: "jsonpath $.session", Actual: "CAPTURED-SESSION-42", Passed: true},
					},
				},
				{
					Name: "Create an order", Status: planrun.StatusFailed, HTTPStatus: 503,
					Captured:    map[string]string{"order_id": "CAPTURED-ORDER-7"},
					BodyExcerpt: "BODY-EXCERPT-ORDER upstream down",
					Assertions: []planrun.AssertionResult{
						{Kind: planrun.KindJSONPathExists, Target: "$.id", Expected: true, Actual: true, Passed: true},
						{Kind: planrun.KindStatus, Expected: 201, Actual: 503, Message: "expected status 201, got 503"},
						{Kind: planrun.KindBodyContains, Expected: "ok", Message: "body does not contain \"ok\""},
					},
				},
				{
					Name: "Fetch the capture", Status: planrun.StatusFailed,
					Assertions: []planrun.AssertionResult{
						{Kind: planrun.KindCapture, Target: "later", Expected: "jsonpath $.x", Actual: "CAPTURED-FAILED-CAPTURE", Message: "path selected nothing"},
					},
				},
				{Name: "Cleanup", Status: planrun.StatusError, Error: "dial tcp: connection refused"},
				{Name: "Skipped", Status: planrun.StatusSkipped, Error: "an earlier step failed"},
			},
		},
		PlanRevision: 3,
	}
	b, err := json.Marshal(res)
	require.NoError(t, err)
	return b
}

func testExec(status storage.ExecutionStatus, result json.RawMessage) *storage.Execution {
	created := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	started, finished := created.Add(time.Second), created.Add(3*time.Second)
	return &storage.Execution{
		ID: uuid.Must(uuid.NewV7()), PlanID: uuid.Must(uuid.NewV7()), PlanRevision: 3, Status: status,
		CreatedAt: created, StartedAt: &started, FinishedAt: &finished, Result: result,
		Environment: "staging", Trigger: storage.TriggerSchedule, ScheduleID: uuid.Must(uuid.NewV7()),
	}
}

func TestEventFromAFailedExecution(t *testing.T) {
	t.Parallel()
	x := testExec(storage.ExecutionFailed, secretResult(t))
	m := &messageSource{exec: x, loaded: true, planName: "checkout"}
	require.NoError(t, json.Unmarshal(x.Result, &m.result))
	ev := m.event("https://astro.example/", EventFailed, *x.FinishedAt)

	assert.Equal(t, Version, ev.Version)
	assert.Equal(t, EventFailed, ev.Event)
	assert.Equal(t, "checkout", ev.Plan.Name)
	assert.Equal(t, int64(3), ev.Plan.Revision)
	assert.Equal(t, "https://astro.example/execution/"+x.ID.String(), ev.Execution.URL)
	assert.Equal(t, "failed", ev.Execution.Status)
	assert.Equal(t, "schedule", ev.Execution.Trigger)
	require.NotNil(t, ev.Execution.ScheduleID)
	assert.Equal(t, x.ScheduleID, *ev.Execution.ScheduleID)
	assert.Empty(t, ev.Execution.Error, "the error is only for status error")

	require.Len(t, ev.FailedSteps, 3)
	assert.Equal(t, FailedStep{Index: 1, Name: "Create an order", Status: "failed", Assertion: &FailedAssertion{
		Kind: "status", Expected: "201", Actual: "503", Message: "expected status 201, got 503",
	}}, ev.FailedSteps[0], "the first failed assertion, not a passed one before it")
	assert.Equal(t, 2, ev.FailedSteps[1].Index)
	require.NotNil(t, ev.FailedSteps[1].Assertion)
	assert.Empty(t, ev.FailedSteps[1].Assertion.Actual, "a capture's actual value is never copied")
	assert.Equal(t, FailedStep{Index: 3, Name: "Cleanup", Status: "error", Error: "dial tcp: connection refused"}, ev.FailedSteps[2])
	assert.Zero(t, ev.MoreFailedSteps)

	body, err := encodeEvent(ev)
	require.NoError(t, err)
	for _, secret := range []string{"CAPTURED-SESSION-42", "BODY-EXCERPT-SESSION", "CAPTURED-ORDER-7", "BODY-EXCERPT-ORDER",
		"CAPTURED-FAILED-CAPTURE", "session_id", "api_token", "order_id"} {
		assert.NotContains(t, string(body), secret)
	}
}

func TestEventOfARecoveryListsNoSteps(t *testing.T) {
	t.Parallel()
	x := testExec(storage.ExecutionPassed, json.RawMessage(`{"status":"passed","steps":[{"name":"a","status":"passed"}]}`))
	m := &messageSource{exec: x, loaded: true}
	require.NoError(t, json.Unmarshal(x.Result, &m.result))
	ev := m.event("", EventRecovered, time.Now())
	body, err := encodeEvent(ev)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"failed_steps":[]`)
	assert.Equal(t, "/execution/"+x.ID.String(), ev.Execution.URL)
}

func TestEventOfAnErroredExecutionCarriesItsError(t *testing.T) {
	t.Parallel()
	x := testExec(storage.ExecutionError, json.RawMessage(`{"plan_revision":3,"error":"environment \"staging\" no longer exists"}`))
	x.ScheduleID = uuid.Nil
	m := &messageSource{exec: x, loaded: true}
	require.NoError(t, json.Unmarshal(x.Result, &m.result))
	ev := m.event("", EventFailed, time.Now())
	assert.Equal(t, `environment "staging" no longer exists`, ev.Execution.Error)
	assert.Nil(t, ev.Execution.ScheduleID)
	assert.Empty(t, ev.FailedSteps)
}

func TestFailedStepsAreBounded(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 2000) // 4000 bytes of 2-byte characters.
	var steps []storedStep
	for i := range 25 {
		steps = append(steps, storedStep{Name: fmt.Sprintf("step %d %s", i, long), Status: "failed", Error: long + "\x00",
			Assertions: []storedAssertion{{Kind: "jsonpath_equals", Target: long,
				Expected: json.RawMessage(`"` + long + `"`), Actual: json.RawMessage(`{"a": [1, 2]}`), Message: long}}})
	}
	got, more := failedSteps(steps)
	require.Len(t, got, MaxFailedSteps)
	assert.Equal(t, 15, more)
	s := got[0]
	for _, text := range []string{s.Name, s.Error, s.Assertion.Target, s.Assertion.Expected, s.Assertion.Message} {
		assert.LessOrEqual(t, len(text), maxText)
		assert.True(t, utf8.ValidString(text))
		assert.True(t, strings.HasSuffix(text, "…"), "a cut text says so")
	}
	assert.Equal(t, `{"a":[1,2]}`, s.Assertion.Actual, "actual is compact JSON text")

	// The whole document stays well under 64 KiB, even when escaping
	// grows every character to six bytes.
	x := testExec(storage.ExecutionFailed, nil)
	m := &messageSource{exec: x, loaded: true, planName: long}
	m.result.Steps = steps
	for i := range m.result.Steps {
		m.result.Steps[i].Error = strings.Repeat("\x01", 2000)
	}
	ev := m.event("", EventFailed, time.Now())
	body, err := encodeEvent(ev)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(body), maxEventBytes)
	var back Event
	require.NoError(t, json.Unmarshal(body, &back))
	assert.Equal(t, 25, len(back.FailedSteps)+back.MoreFailedSteps, "steps left out are counted")
	assert.NotEmpty(t, back.FailedSteps)
}

func TestCleanCutsAtACharacterBoundary(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"abcdefghijk", 10, "abcdefg…"},
		{"ééééééé", 10, "ééé…"}, // 14 bytes; 3 characters and "…" make 9.
		{"a\x00b", 10, "a\uFFFDb"},
		{"bad \xff utf8", 20, "bad \uFFFD utf8"},
	} {
		got := clean(tc.in, tc.limit)
		assert.Equal(t, tc.want, got, tc.in)
		assert.LessOrEqual(t, len(got), max(tc.limit, len(tc.in)))
	}
}

func TestEncodeEventDoesNotEscapeHTML(t *testing.T) {
	t.Parallel()
	ev := &Event{Version: Version, Event: EventFailed, Plan: EventPlan{Name: "a <b> & c"}, FailedSteps: []FailedStep{}}
	body, err := encodeEvent(ev)
	require.NoError(t, err)
	assert.Contains(t, string(body), `"name":"a <b> & c"`)
	assert.False(t, strings.HasSuffix(string(body), "\n"))
}
