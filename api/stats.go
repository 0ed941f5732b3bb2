package api

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Defaults of the statistics windows.
const (
	// defaultStatsWindow is how far back since goes when it is not given.
	defaultStatsWindow = 7 * 24 * time.Hour
	// defaultStatsBucket is the default bucket of a plan's time series.
	defaultStatsBucket = "1h"
)

// DurationPercentiles are percentiles of durations in milliseconds.
type DurationPercentiles struct {
	P50 float64 `json:"p50" doc:"Median duration, in milliseconds." example:"120"`
	P95 float64 `json:"p95" doc:"95th percentile, in milliseconds." example:"310.5"`
	P99 float64 `json:"p99" doc:"99th percentile, in milliseconds." example:"482.2"`
}

// StatsTotals count the runs that finished in a window, by status.
type StatsTotals struct {
	Runs       int64                `json:"runs" doc:"Executions that finished: passed + failed + error + cancelled." example:"120"`
	Passed     int64                `json:"passed" doc:"Executions that passed." example:"110"`
	Failed     int64                `json:"failed" doc:"Executions that failed: a step failed an assertion." example:"6"`
	Error      int64                `json:"error" doc:"Executions that ended in error: a step got no usable response, or the run could not finish." example:"2"`
	Cancelled  int64                `json:"cancelled" doc:"Executions that were cancelled." example:"2"`
	PassRate   *float64             `json:"pass_rate" nullable:"true" doc:"passed / (passed + failed + error), from 0 to 1; cancelled runs are left out. null when there is no such run." example:"0.9322"`
	DurationMS *DurationPercentiles `json:"duration_ms" doc:"Percentiles of the durations (the result's totals.duration_ms) of the passed, failed and error runs, interpolated linearly between the nearest ranks as SQL's percentile_cont. null when none has a duration." example:"{\"p50\":120,\"p95\":310.5,\"p99\":482.2}"`
}

// StatsBucket is one bucket of a time series.
type StatsBucket struct {
	Start time.Time `json:"start" doc:"Start of the bucket. Buckets are aligned to the Unix epoch (an hour's on the hour, a day's at midnight UTC); the first and last may reach outside the window, and count only the runs inside it." example:"2026-01-02T15:00:00Z"`
	StatsTotals
}

// StepStats are the statistics of one step of a plan.
type StepStats struct {
	Index      int                  `json:"index" doc:"Position of the step in the plan's results, from 0." example:"0"`
	Name       string               `json:"name" doc:"Name of the step. A step renamed by a plan update counts apart." example:"Create a user"`
	Runs       int64                `json:"runs" doc:"Results of the step in the runs sampled (step_runs), skipped ones included." example:"100"`
	Passed     int64                `json:"passed" doc:"Results that passed." example:"97"`
	Failed     int64                `json:"failed" doc:"Results with a failed assertion or capture." example:"2"`
	Error      int64                `json:"error" doc:"Results without a usable response." example:"1"`
	Skipped    int64                `json:"skipped" doc:"Results of a step that did not run." example:"0"`
	PassRate   *float64             `json:"pass_rate" nullable:"true" doc:"passed / (passed + failed + error), from 0 to 1; null when the step never ran." example:"0.97"`
	DurationMS *DurationPercentiles `json:"duration_ms" doc:"Percentiles of the step's durations, skipped results left out; null when none has one." example:"{\"p50\":120,\"p95\":310.5,\"p99\":482.2}"`
}

// PlanStats are the statistics of one plan's runs over a window.
type PlanStats struct {
	PlanID        uuid.UUID     `json:"plan_id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Since         time.Time     `json:"since" doc:"Start of the window, included." example:"2026-01-01T00:00:00Z"`
	Until         time.Time     `json:"until" doc:"End of the window, excluded." example:"2026-01-08T00:00:00Z"`
	BucketSeconds int64         `json:"bucket_seconds" doc:"Length of the buckets of series, in seconds." example:"3600"`
	Trigger       *string       `json:"trigger" enum:"api,schedule,cli" nullable:"true" doc:"The trigger the runs were filtered by, or null for all." example:"schedule"`
	Totals        StatsTotals   `json:"totals" doc:"The runs of the plan that finished in the window." example:"{\"runs\":120,\"passed\":110,\"failed\":6,\"error\":2,\"cancelled\":2,\"pass_rate\":0.9322,\"duration_ms\":{\"p50\":120,\"p95\":310.5,\"p99\":482.2}}"`
	Series        []StatsBucket `json:"series" nullable:"false" doc:"The same totals per bucket, oldest first: every bucket that meets the window, empty ones included." example:"[]"`
	Steps         []StepStats   `json:"steps" nullable:"false" doc:"Statistics per step, by position then name, over the step results of the newest step_runs runs." example:"[]"`
	StepRuns      int64         `json:"step_runs" doc:"How many runs the per-step statistics cover: the window's newest passed, failed or error runs, at most 1,000." example:"1000"`
}

// PlanFailures are one plan's counts, in the ranking of the plans that
// fail most.
type PlanFailures struct {
	PlanID    uuid.UUID `json:"plan_id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Name      string    `json:"name" doc:"Name of the plan." example:"Checkout flow"`
	Runs      int64     `json:"runs" doc:"The plan's executions that finished in the window." example:"48"`
	Passed    int64     `json:"passed" doc:"Of them, those that passed." example:"40"`
	Failures  int64     `json:"failures" doc:"Of them, those that failed or ended in error." example:"7"`
	Cancelled int64     `json:"cancelled" doc:"Of them, those that were cancelled." example:"1"`
	PassRate  *float64  `json:"pass_rate" nullable:"true" doc:"passed / (passed + failures), from 0 to 1." example:"0.8511"`
}

// GlobalStats are the statistics of every plan's runs over a window.
type GlobalStats struct {
	Since      time.Time      `json:"since" doc:"Start of the window, included." example:"2026-01-01T00:00:00Z"`
	Until      time.Time      `json:"until" doc:"End of the window, excluded." example:"2026-01-08T00:00:00Z"`
	Totals     StatsTotals    `json:"totals" doc:"The runs of every plan that finished in the window." example:"{\"runs\":120,\"passed\":110,\"failed\":6,\"error\":2,\"cancelled\":2,\"pass_rate\":0.9322,\"duration_ms\":{\"p50\":120,\"p95\":310.5,\"p99\":482.2}}"`
	TopFailing []PlanFailures `json:"top_failing" nullable:"false" doc:"The 10 plans with the most failed and error runs in the window, most first (then by plan ID); plans without any are left out." example:"[]"`
}

// resolveWindow fills in the defaults of a statistics window, as of now,
// and checks it: 422 naming since for an empty, reversed or too long
// window.
func resolveWindow(since, until *time.Time, now time.Time) error {
	if until.IsZero() {
		*until = now
	}
	if since.IsZero() {
		*since = until.Add(-defaultStatsWindow)
	}
	*since, *until = since.Truncate(time.Microsecond).UTC(), until.Truncate(time.Microsecond).UTC()
	if !since.Before(*until) {
		return statsParamError("query.since", "must be before until", *since)
	}
	if until.Sub(*since) > storage.MaxStatsWindow {
		return statsParamError("query.since", fmt.Sprintf("the window may be at most %d days long", storage.MaxStatsWindow/(24*time.Hour)), *since)
	}
	return nil
}

// statsParamError is a 422 naming one parameter.
func statsParamError(location, message string, value any) error {
	return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: location, Message: message, Value: value})
}

type planStatsInput struct {
	ID      uuid.UUID `path:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Since   time.Time `query:"since" doc:"Start of the window (RFC 3339), included: runs that finished at or after it count. Defaults to 7 days before until. The window is at most 90 days long." example:"2026-01-01T00:00:00Z"`
	Until   time.Time `query:"until" doc:"End of the window (RFC 3339), excluded. Defaults to now." example:"2026-01-08T00:00:00Z"`
	Bucket  string    `query:"bucket" default:"1h" maxLength:"32" doc:"Length of the buckets of the time series, as a duration such as 1m, 15m, 1h or 24h: a whole number of seconds from 1m to 24h. The window may span at most 2000 buckets." example:"1h"`
	Trigger string    `query:"trigger" enum:"api,schedule,cli" doc:"Keep the runs created by this trigger." example:"schedule"`
}

// bucket parses and checks in.Bucket for the window of in: 422
// naming bucket if it is not a duration, out of range, or too short for
// the window.
func (in *planStatsInput) bucket() (time.Duration, error) {
	raw := in.Bucket
	if raw == "" {
		raw = defaultStatsBucket
	}
	d, err := time.ParseDuration(raw)
	switch {
	case err != nil:
		return 0, statsParamError("query.bucket", "must be a duration such as 15m, 1h or 24h", in.Bucket)
	case d < storage.MinStatsBucket || d > storage.MaxStatsBucket || d%time.Second != 0:
		return 0, statsParamError("query.bucket", "must be a whole number of seconds from 1m to 24h", in.Bucket)
	}
	if err := storage.CheckStatsBucket(in.Since, in.Until, d); err != nil {
		first, last := storage.BucketRange(in.Since, in.Until, d)
		return 0, statsParamError("query.bucket",
			fmt.Sprintf("the window spans %d buckets of %s, more than %d: use a longer bucket or a shorter window", last-first+1, raw, storage.MaxStatsBuckets),
			in.Bucket)
	}
	return d, nil
}

type planStatsOutput struct {
	Body PlanStats
}

type globalStatsInput struct {
	Since time.Time `query:"since" doc:"Start of the window (RFC 3339), included: runs that finished at or after it count. Defaults to 7 days before until. The window is at most 90 days long." example:"2026-01-01T00:00:00Z"`
	Until time.Time `query:"until" doc:"End of the window (RFC 3339), excluded. Defaults to now." example:"2026-01-08T00:00:00Z"`
}

type globalStatsOutput struct {
	Body GlobalStats
}

// finishStatsSpec marks the percentiles of the statistics, and the queue's
// pick-up latency, nullable, which Huma's tags cannot say of a reference.
// finishSpec calls it.
func finishStatsSpec(oapi *huma.OpenAPI) {
	for _, name := range []string{"StatsTotals", "StatsBucket", "StepStats"} {
		nullableRef(oapi, name, "duration_ms")
	}
	nullableRef(oapi, "QueueStat", "pickup_ms")
}

// registerStats adds the run-history statistics operations.
func (s *server) registerStats(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-plan-stats",
		Method:      http.MethodGet,
		Path:        "/plan/{id}/stats",
		Summary:     "Get a plan's run statistics",
		Description: "Summarises the plan's executions that finished in a window (by default the last 7 days): runs by status, " +
			"the pass rate (passed / (passed + failed + error)) and duration percentiles p50, p95 and p99 (of the results' " +
			"totals.duration_ms, interpolated linearly as SQL's percentile_cont); the same per bucket of a time series " +
			"(bucket, by default 1h); and per step (by position and name) the pass rate and duration percentiles over the " +
			"window's newest 1,000 runs. A bad since, until or bucket gives 422 naming it.",
		Tags:     []string{tagStats},
		Security: secured,
		Errors:   []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.planStats)

	huma.Register(api, huma.Operation{
		OperationID: "get-stats",
		Method:      http.MethodGet,
		Path:        "/stats",
		Summary:     "Get run statistics across plans",
		Description: "Summarises every plan's executions that finished in a window (by default the last 7 days), with the " +
			"same totals as get-plan-stats, and ranks the 10 plans with the most failed and error runs. A bad since or until " +
			"gives 422 naming it.",
		Tags:     []string{tagStats},
		Security: secured,
		Errors:   []int{http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.globalStats)
}

func (s *server) planStats(ctx context.Context, in *planStatsInput) (*planStatsOutput, error) {
	if err := resolveWindow(&in.Since, &in.Until, time.Now()); err != nil {
		return nil, err
	}
	bucket, err := in.bucket()
	if err != nil {
		return nil, err
	}
	st, err := s.deps.Store.PlanStats(ctx, &storage.PlanStatsParams{
		PlanID: in.ID, Since: in.Since, Until: in.Until, Bucket: bucket, Trigger: storage.ExecutionTrigger(in.Trigger),
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no plan has id %s", in.ID)}))
	}
	out := PlanStats{
		PlanID:        in.ID,
		Since:         in.Since,
		Until:         in.Until,
		BucketSeconds: int64(bucket / time.Second),
		Totals:        runTotalsOut(st.Totals),
		Series:        make([]StatsBucket, 0, len(st.Series)),
		Steps:         make([]StepStats, 0, len(st.Steps)),
		StepRuns:      st.StepRuns,
	}
	if in.Trigger != "" {
		out.Trigger = &in.Trigger
	}
	for _, b := range st.Series {
		out.Series = append(out.Series, StatsBucket{Start: b.Start, StatsTotals: runTotalsOut(b.RunTotals)})
	}
	for _, step := range st.Steps {
		out.Steps = append(out.Steps, StepStats{
			Index: step.Index, Name: step.Name, Runs: step.Runs,
			Passed: step.Passed, Failed: step.Failed, Error: step.Error, Skipped: step.Skipped,
			PassRate: rateOf(step.PassRate()), DurationMS: percentilesOut(step.Duration),
		})
	}
	return &planStatsOutput{Body: out}, nil
}

func (s *server) globalStats(ctx context.Context, in *globalStatsInput) (*globalStatsOutput, error) {
	if err := resolveWindow(&in.Since, &in.Until, time.Now()); err != nil {
		return nil, err
	}
	st, err := s.deps.Store.GlobalStats(ctx, &storage.GlobalStatsParams{Since: in.Since, Until: in.Until})
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := GlobalStats{
		Since:      in.Since,
		Until:      in.Until,
		Totals:     runTotalsOut(st.Totals),
		TopFailing: make([]PlanFailures, 0, len(st.TopFailing)),
	}
	for _, f := range st.TopFailing {
		out.TopFailing = append(out.TopFailing, PlanFailures{
			PlanID: f.PlanID, Name: f.Name, Runs: f.Runs, Passed: f.Passed, Failures: f.Failures(),
			Cancelled: f.Cancelled, PassRate: rateOf(f.PassRate()),
		})
	}
	return &globalStatsOutput{Body: out}, nil
}

// runTotalsOut returns the API form of run totals.
func runTotalsOut(t storage.RunTotals) StatsTotals {
	return StatsTotals{
		Runs: t.Runs, Passed: t.Passed, Failed: t.Failed, Error: t.Error, Cancelled: t.Cancelled,
		PassRate: rateOf(t.PassRate()), DurationMS: percentilesOut(t.Duration),
	}
}

// rateOf returns a pointer to rate, or nil when ok is false.
func rateOf(rate float64, ok bool) *float64 {
	if !ok {
		return nil
	}
	return &rate
}

// percentilesOut returns the API form of percentiles, or nil.
func percentilesOut(p *storage.Percentiles) *DurationPercentiles {
	if p == nil {
		return nil
	}
	return &DurationPercentiles{P50: p.P50, P95: p.P95, P99: p.P99}
}
