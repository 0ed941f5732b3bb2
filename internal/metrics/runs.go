package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// stepDurationBuckets span a step against a local service (a few
// milliseconds) to one that retries for minutes, in seconds.
var stepDurationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120}

// stepStatuses are the statuses of steps that ran; skipped steps are not
// observed.
var stepStatuses = []string{planrun.StatusPassed, planrun.StatusFailed, planrun.StatusError}

// assertionKinds are the kinds of AssertionResult.
var assertionKinds = []string{
	planrun.KindStatus, planrun.KindHeaderEquals, planrun.KindHeaderMatches, planrun.KindBodyContains,
	planrun.KindJSONPathEquals, planrun.KindJSONPathExists, planrun.KindJSONPathMatches,
	planrun.KindMaxLatency, planrun.KindCapture,
}

// RunMetrics observes plan runs. It is a planjob.Observer: set it as
// planjob.Handler.Observer.
//
// Its metrics:
//   - astro_executions_finished_total{status,trigger}: executions that the
//     workers (or the reconciler, for those whose job ended without
//     finishing them) finished, by final status (passed, failed, error,
//     cancelled) and trigger (api, schedule, cli). An execution cancelled
//     before it ran is not counted.
//   - astro_step_duration_seconds{status}: histogram of how long the steps
//     that ran took (passed, failed or error; skipped steps are left out),
//     retries included.
//   - astro_assertions_failed_total{kind}: assertions and captures that
//     failed, by kind (status, jsonpath_equals, capture, …). Steps past the
//     result's size budget keep at most 5 failed assertions, so this is a
//     floor for them.
//
// With Options.PlanLabels (ASTRO_METRICS_PLAN_LABELS=true) each also has a
// plan label holding the plan's name. It is off by default because every
// plan then adds series of its own, and a Prometheus server's memory and
// query cost grow with the number of series: with many plans, or plans
// created and renamed by automation, that grows without bound. Turn it on
// for a bounded set of plans whose names are stable.
type RunMetrics struct {
	planLabels bool
	finished   *prometheus.CounterVec
	steps      *prometheus.HistogramVec
	assertions *prometheus.CounterVec
}

func newRunMetrics(reg *prometheus.Registry, planLabels bool) *RunMetrics {
	labels := func(names ...string) []string {
		if planLabels {
			names = append(names, "plan")
		}
		return names
	}
	r := &RunMetrics{
		planLabels: planLabels,
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astro_executions_finished_total",
			Help: "Executions finished, by final status and trigger.",
		}, labels("status", "trigger")),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astro_step_duration_seconds",
			Help:    "How long the steps that ran took, retries included, by status.",
			Buckets: stepDurationBuckets,
		}, labels("status")),
		assertions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astro_assertions_failed_total",
			Help: "Assertions and captures that failed, by kind.",
		}, labels("kind")),
	}
	reg.MustRegister(r.finished, r.steps, r.assertions)
	if !planLabels {
		// Every series exists from the start, so that rates and ratios
		// over them are defined before the first failure.
		for _, s := range storage.ExecutionStatuses {
			if !s.Final() {
				continue
			}
			for _, t := range storage.ExecutionTriggers {
				r.finished.WithLabelValues(string(s), string(t))
			}
		}
		for _, s := range stepStatuses {
			r.steps.WithLabelValues(s)
		}
		for _, k := range assertionKinds {
			r.assertions.WithLabelValues(k)
		}
	}
	return r
}

// ExecutionFinished implements planjob.Observer.
func (r *RunMetrics) ExecutionFinished(e *storage.Execution, planName string, res *planrun.Result) {
	r.finished.WithLabelValues(r.values(planName, string(e.Status), string(e.Trigger))...).Inc()
	if res == nil {
		return
	}
	for i := range res.Steps {
		st := &res.Steps[i]
		if st.Status == planrun.StatusSkipped {
			continue
		}
		r.steps.WithLabelValues(r.values(planName, st.Status)...).Observe(float64(st.DurationMS) / 1000)
		for _, a := range st.Assertions {
			if !a.Passed {
				r.assertions.WithLabelValues(r.values(planName, a.Kind)...).Inc()
			}
		}
	}
}

// values returns the label values vs, followed by the plan's name when
// plan labels are on.
func (r *RunMetrics) values(planName string, vs ...string) []string {
	if r.planLabels {
		return append(vs, planName)
	}
	return vs
}
