package metrics_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

var _ planjob.Observer = (*metrics.RunMetrics)(nil)

// failedRun is a failed run: a passed step, a failed one with two failed
// assertions, an errored one and a skipped one.
var failedRun = &planrun.Result{Status: planrun.StatusFailed, Steps: []planrun.StepResult{
	{Name: "a", Status: planrun.StatusPassed, DurationMS: 120, Assertions: []planrun.AssertionResult{
		{Kind: planrun.KindStatus, Passed: true},
	}},
	{Name: "b", Status: planrun.StatusFailed, DurationMS: 30, Assertions: []planrun.AssertionResult{
		{Kind: planrun.KindStatus, Passed: false},
		{Kind: planrun.KindJSONPathEquals, Passed: false},
		{Kind: planrun.KindHeaderEquals, Passed: true},
	}},
	{Name: "c", Status: planrun.StatusError, DurationMS: 10_000},
	{Name: "d", Status: planrun.StatusSkipped},
}}

// exerciseRuns tells r of a passed API run, a failed scheduled one and an
// execution that ended in error without running.
func exerciseRuns(r *metrics.RunMetrics) {
	passed := &planrun.Result{Status: planrun.StatusPassed, Steps: []planrun.StepResult{
		{Name: "a", Status: planrun.StatusPassed, DurationMS: 80},
	}}
	r.ExecutionFinished(&storage.Execution{ID: uuid.New(), Status: storage.ExecutionPassed, Trigger: storage.TriggerAPI}, "checkout", passed)
	r.ExecutionFinished(&storage.Execution{ID: uuid.New(), Status: storage.ExecutionFailed, Trigger: storage.TriggerSchedule}, "checkout", failedRun)
	r.ExecutionFinished(&storage.Execution{ID: uuid.New(), Status: storage.ExecutionError, Trigger: storage.TriggerAPI}, "login", nil)
}

func TestRunMetricsCountExecutionsStepsAndAssertions(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	before := scrape(t, m.Handler())
	for _, series := range []string{
		`astro_executions_finished_total{status="cancelled",trigger="cli"}`,
		`astro_step_duration_seconds_count{status="error"}`,
		`astro_assertions_failed_total{kind="capture"}`,
	} {
		if assert.Contains(t, before, series, "series exist before the first run") {
			assert.Zero(t, before[series])
		}
	}
	assert.NotContains(t, before, `astro_executions_finished_total{status="running",trigger="api"}`, "only final statuses")

	exerciseRuns(m.Runs)
	got := scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`astro_executions_finished_total{status="passed",trigger="api"}`:      1,
		`astro_executions_finished_total{status="failed",trigger="schedule"}`: 1,
		`astro_executions_finished_total{status="error",trigger="api"}`:       1,
		`astro_executions_finished_total{status="failed",trigger="api"}`:      0,
		`astro_step_duration_seconds_count{status="passed"}`:                  2,
		`astro_step_duration_seconds_sum{status="passed"}`:                    0.2,
		`astro_step_duration_seconds_count{status="failed"}`:                  1,
		`astro_step_duration_seconds_bucket{status="failed",le="0.025"}`:      0,
		`astro_step_duration_seconds_bucket{status="failed",le="0.05"}`:       1,
		`astro_step_duration_seconds_count{status="error"}`:                   1,
		`astro_step_duration_seconds_sum{status="error"}`:                     10,
		`astro_assertions_failed_total{kind="status"}`:                        1,
		`astro_assertions_failed_total{kind="jsonpath_equals"}`:               1,
		`astro_assertions_failed_total{kind="header_equals"}`:                 0,
	} {
		if assert.Contains(t, got, series) {
			assert.InDelta(t, want, got[series], 1e-9, series)
		}
	}
	assert.NotContains(t, got, `astro_step_duration_seconds_count{status="skipped"}`, "skipped steps did not run")
	for series := range got {
		assert.NotContains(t, series, "plan=", "plan labels are off by default")
	}
}

func TestRunMetricsWithPlanLabelsNameThePlan(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{PlanLabels: true})
	exerciseRuns(m.Runs)
	got := scrape(t, m.Handler())
	for series, want := range map[string]float64{
		`astro_executions_finished_total{plan="checkout",status="passed",trigger="api"}`:      1,
		`astro_executions_finished_total{plan="checkout",status="failed",trigger="schedule"}`: 1,
		`astro_executions_finished_total{plan="login",status="error",trigger="api"}`:          1,
		`astro_step_duration_seconds_count{plan="checkout",status="passed"}`:                  2,
		`astro_assertions_failed_total{kind="jsonpath_equals",plan="checkout"}`:               1,
	} {
		if assert.Contains(t, got, series) {
			assert.Equal(t, want, got[series], series)
		}
	}
	assert.NotContains(t, got, `astro_executions_finished_total{status="passed",trigger="api"}`)
}
