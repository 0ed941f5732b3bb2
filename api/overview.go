package api

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// overviewWindow is the window of the overview's run totals.
const overviewWindow = 24 * time.Hour

// Overview is one page of the dashboard's overview.
type Overview struct {
	Since      time.Time      `json:"since" doc:"Start of the window of the plans' run totals (24 hours before the answer), included." example:"2026-01-01T12:00:00Z"`
	Until      time.Time      `json:"until" doc:"End of that window: when the answer was made; excluded." example:"2026-01-02T12:00:00Z"`
	Plans      []PlanOverview `json:"plans" nullable:"false" doc:"The plans of this page, by plan ID (oldest first)." example:"[]"`
	Failing    []FailingPlan  `json:"failing" nullable:"false" doc:"Every plan (not only this page's) whose latest finished passed, failed or error execution failed or errored, longest failing first, at most 100. Cancelled runs are left out. Filled on the first page only; empty on later pages." example:"[]"`
	NextCursor string         `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoib3ZlcnZpZXciLCJpIjoiMDE5MGMxYzItN2ExYi03Y2MwLThmMDAtM2Q1ZTJiMWE5YzRkIn0"`
}

// PlanOverview is one plan's line of the overview.
type PlanOverview struct {
	PlanID       uuid.UUID          `json:"plan_id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Name         string             `json:"name" doc:"Name of the plan." example:"Checkout flow"`
	LatestStatus *string            `json:"latest_status" enum:"queued,running,passed,failed,error,cancelled" nullable:"true" doc:"Status of the plan's newest execution, or null if it has none." example:"passed"`
	Recent       []ExecutionSummary `json:"recent" nullable:"false" doc:"The plan's newest executions, at most 20, newest first." example:"[]"`
	Totals       OverviewTotals     `json:"totals" doc:"The plan's runs that finished in the window (the last 24 hours)." example:"{\"runs\":24,\"passed\":23,\"failed\":1,\"error\":0,\"cancelled\":0,\"pass_rate\":0.9583}"`
}

// ExecutionSummary is the part of an execution that a list of runs shows.
type ExecutionSummary struct {
	ID         uuid.UUID  `json:"id" format:"uuid" doc:"Identity of the execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	Status     string     `json:"status" enum:"queued,running,passed,failed,error,cancelled" doc:"Lifecycle status." example:"passed"`
	Trigger    string     `json:"trigger" enum:"api,schedule,cli" doc:"What created the execution." example:"schedule"`
	CreatedAt  time.Time  `json:"created_at" doc:"When the execution was created." example:"2026-01-02T11:00:00Z"`
	FinishedAt *time.Time `json:"finished_at" nullable:"true" doc:"When it reached a final status, or null." example:"2026-01-02T11:00:02Z"`
	DurationMS *int64     `json:"duration_ms" nullable:"true" doc:"The run's duration (its result's totals.duration_ms), in milliseconds, or null when it has none." example:"1834"`
}

// OverviewTotals count one plan's runs that finished in the overview's
// window.
type OverviewTotals struct {
	Runs      int64    `json:"runs" doc:"Executions that finished: passed + failed + error + cancelled." example:"24"`
	Passed    int64    `json:"passed" doc:"Executions that passed." example:"23"`
	Failed    int64    `json:"failed" doc:"Executions that failed: a step failed an assertion." example:"1"`
	Error     int64    `json:"error" doc:"Executions that ended in error." example:"0"`
	Cancelled int64    `json:"cancelled" doc:"Executions that were cancelled." example:"0"`
	PassRate  *float64 `json:"pass_rate" nullable:"true" doc:"passed / (passed + failed + error), from 0 to 1; cancelled runs are left out. null when there is no such run." example:"0.9583"`
}

// FailingPlan is a plan whose latest finished run failed or errored.
type FailingPlan struct {
	PlanID       uuid.UUID `json:"plan_id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Name         string    `json:"name" doc:"Name of the plan." example:"Checkout flow"`
	Status       string    `json:"status" enum:"failed,error" doc:"Status of the plan's latest finished passed, failed or error execution." example:"failed"`
	ExecutionID  uuid.UUID `json:"execution_id" format:"uuid" doc:"That execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	FailingSince time.Time `json:"failing_since" doc:"When the plan started failing: the earliest finish of its failed and error executions since its latest passed one (of all of them if it never passed)." example:"2026-01-02T09:00:02Z"`
}

type getOverviewInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"100" default:"50" doc:"Largest number of plans to return." example:"50"`
	Cursor string `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoib3ZlcnZpZXciLCJpIjoiMDE5MGMxYzItN2ExYi03Y2MwLThmMDAtM2Q1ZTJiMWE5YzRkIn0"`
}

type getOverviewOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</overview?cursor=eyJsIjoib3ZlcnZpZXciLCJpIjoiMDE5MGMxYzItN2ExYi03Y2MwLThmMDAtM2Q1ZTJiMWE5YzRkIn0&limit=50>; rel=\"next\""`
	Body Overview
}

// registerOverview adds the dashboard's overview.
func (s *server) registerOverview(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-overview",
		Method:      http.MethodGet,
		Path:        "/overview",
		Summary:     "Get the overview",
		Description: "Returns one page of plans, each with its newest 20 executions and its run totals over the last 24 hours, " +
			"and, on the first page, the plans that are failing. Follow next_cursor, or the Link header with rel=\"next\", " +
			"for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagStats},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.getOverview)
}

func (s *server) getOverview(ctx context.Context, in *getOverviewInput) (*getOverviewOutput, error) {
	until := time.Now().UTC().Truncate(time.Microsecond)
	since := until.Add(-overviewWindow)
	ov, err := s.deps.Store.Overview(ctx, &storage.OverviewParams{Since: since, Until: until, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &getOverviewOutput{Body: Overview{
		Since: since, Until: until, NextCursor: ov.NextCursor,
		Plans:   make([]PlanOverview, 0, len(ov.Plans)),
		Failing: make([]FailingPlan, 0, len(ov.Failing)),
	}}
	for _, p := range ov.Plans {
		po := PlanOverview{
			PlanID: p.PlanID, Name: p.Name, Recent: make([]ExecutionSummary, 0, len(p.Recent)),
			Totals: OverviewTotals{
				Runs: p.Totals.Runs, Passed: p.Totals.Passed, Failed: p.Totals.Failed, Error: p.Totals.Error,
				Cancelled: p.Totals.Cancelled, PassRate: rateOf(p.Totals.PassRate()),
			},
		}
		for _, e := range p.Recent {
			po.Recent = append(po.Recent, ExecutionSummary{
				ID: e.ID, Status: string(e.Status), Trigger: string(e.Trigger),
				CreatedAt: e.CreatedAt, FinishedAt: e.FinishedAt, DurationMS: e.DurationMS,
			})
		}
		if len(p.Recent) > 0 {
			st := string(p.Recent[0].Status)
			po.LatestStatus = &st
		}
		out.Body.Plans = append(out.Body.Plans, po)
	}
	for _, f := range ov.Failing {
		out.Body.Failing = append(out.Body.Failing, FailingPlan{
			PlanID: f.PlanID, Name: f.Name, Status: string(f.Status), ExecutionID: f.ExecutionID, FailingSince: f.Since,
		})
	}
	out.Link = nextLink("/overview", url.Values{}, in.Limit, ov.NextCursor)
	return out, nil
}
