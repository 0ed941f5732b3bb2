package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/groupcommit"
	"github.com/astro-runner/astro-runner/internal/tracing"
)

// Execution is one request to run a plan, and its outcome.
type Execution struct {
	ID           uuid.UUID         `json:"id" format:"uuid" doc:"Identity of the execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	PlanID       uuid.UUID         `json:"plan_id" format:"uuid" doc:"Identity of the plan being run." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	PlanRevision int64             `json:"plan_revision" doc:"Revision of the plan when the execution was created. A run uses the plan as it is when the run starts; result.plan_revision says which revision ran." example:"3"`
	Status       string            `json:"status" enum:"queued,running,passed,failed,error,cancelled" doc:"Lifecycle state. passed, failed, error and cancelled are final." example:"queued"`
	JobID        *int64            `json:"job_id" doc:"Identity of the job that runs the execution, for GET /job/{id}; the newest one if it was enqueued again. null once the job is gone: final jobs are deleted 24 hours after they finish." example:"42"`
	Attempt      int               `json:"attempt" doc:"Number of the current or last attempt; 0 before the first." example:"0"`
	CreatedAt    time.Time         `json:"created_at" doc:"When the execution was requested." example:"2025-01-02T15:04:05Z"`
	StartedAt    *time.Time        `json:"started_at" doc:"When the first attempt started, or null." example:"2025-01-02T15:04:06Z"`
	FinishedAt   *time.Time        `json:"finished_at" doc:"When the execution reached a final status, or null." example:"2025-01-02T15:04:09Z"`
	Result       *planjob.Result   `json:"result" doc:"The run's result, per step, or null until a run finishes (while queued or running, and for an execution cancelled before it ran). GET /execution/{id}/report/junit renders it as JUnit XML." example:"{\"status\":\"passed\",\"plan_revision\":3,\"steps\":[],\"totals\":{\"passed\":1,\"failed\":0,\"errors\":0,\"skipped\":0,\"duration_ms\":12},\"started_at\":\"2025-01-02T15:04:06Z\",\"finished_at\":\"2025-01-02T15:04:09Z\"}"`
	Variables    map[string]string `json:"variables" doc:"The run-time variables given when the execution was created, as given: not merged with the plan's or the environment's. {} when none were given." example:"{\"base_url\":\"https://eu.example.com\"}"`
	Environment  *string           `json:"environment" doc:"Name of the environment the execution runs with, or null. Its variables are read when the run starts." example:"staging"`
	Trigger      string            `json:"trigger" enum:"api,schedule,cli" doc:"What created the execution: api (POST /plan/{id}/execute), schedule (see schedule_id) or cli." example:"api"`
	ScheduleID   *uuid.UUID        `json:"schedule_id" format:"uuid" nullable:"true" doc:"Identity of the schedule that created the execution, or null." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	Queue        string            `json:"queue" doc:"The queue of the execution's job: only workers serving it (ASTRO_QUEUES) run it." example:"default"`
	WorkerID     *string           `json:"worker_id" doc:"The worker that last ran the execution (its lease owner), or null before it ran." example:"runner-1-4711-123456"`
}

// ExecutionList is one page of executions.
type ExecutionList struct {
	Executions []Execution `json:"executions" nullable:"false" doc:"The executions of this page, newest first." example:"[]"`
	NextCursor string      `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJpIjoiMDE5MGMxZDAtMWIyYy03ZDNlLTlmNDAtNWE2YjdjOGQ5ZTBmIn0"`
}

// ExecuteBody is the optional body of execute-plan: what to run the plan
// with, and where.
type ExecuteBody struct {
	Variables   map[string]string `json:"variables,omitempty" maxProperties:"100" doc:"Values for variables that the plan declares, over the plan's and the environment's. A name the plan does not declare is refused (422)." example:"{\"base_url\":\"https://eu.example.com\"}"`
	Environment string            `json:"environment,omitempty" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Name of an environment to run with. Its variables, as they are when the run starts, override the plan's for the names the plan declares." example:"staging"`
	Queue       string            `json:"queue,omitempty" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Queue to run on: only workers serving it (ASTRO_QUEUES) run the execution. Defaults to default." example:"eu"`
	Trigger     string            `json:"trigger,omitempty" enum:"api,cli" doc:"What the execution shows as its trigger: api (the default) or cli (astro-runner exec sends it). schedule is refused (422): only the scheduler sets it." example:"cli"`
}

type executePlanInput struct {
	ID             uuid.UUID    `path:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	IdempotencyKey string       `header:"Idempotency-Key" minLength:"1" maxLength:"200" doc:"Makes retries safe: if the plan already has an execution created with this key, that execution is returned and nothing new is queued, whatever the body says." example:"deploy-2025-01-02-1"`
	Body           *ExecuteBody `required:"false"`
}

type executionAcceptedOutput struct {
	Location string `header:"Location" doc:"Path of the execution." example:"/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	Body     Execution
}

type getExecutionInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
}

type executionOutput struct {
	Body Execution
}

type listExecutionsInput struct {
	PlanID     uuid.UUID `query:"plan_id" format:"uuid" doc:"Keep the executions of this plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Status     string    `query:"status" enum:"queued,running,passed,failed,error,cancelled" doc:"Keep the executions in this status." example:"running"`
	Trigger    string    `query:"trigger" enum:"api,schedule,cli" doc:"Keep the executions created by this trigger." example:"schedule"`
	ScheduleID uuid.UUID `query:"schedule_id" format:"uuid" doc:"Keep the executions created by this schedule." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	Since      time.Time `query:"since" doc:"Keep the executions created at or after this time (RFC 3339)." example:"2026-01-01T00:00:00Z"`
	Until      time.Time `query:"until" doc:"Keep the executions created before this time (RFC 3339)." example:"2026-01-08T00:00:00Z"`
	Label      []string  `query:"label,explode" maxItems:"50" doc:"Keep the executions of plans that carry this label, written key:value, as GET /plan does. Repeat the parameter to require several labels." example:"[\"team:payments\"]"`
	Limit      int       `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of executions to return." example:"50"`
	Cursor     string    `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJpIjoiMDE5MGMxZDAtMWIyYy03ZDNlLTlmNDAtNWE2YjdjOGQ5ZTBmIn0"`
}

type listExecutionsOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</execution?cursor=eyJpIjoiMDE5MGMxZDAtMWIyYy03ZDNlLTlmNDAtNWE2YjdjOGQ5ZTBmIn0&limit=50>; rel=\"next\""`
	Body ExecutionList
}

// executionReportInput is the input of get-execution-report. Format and
// Accept are hidden from the document: they keep the JUnit negotiation that
// this path had before get-execution-report-junit existed, for old clients,
// while the document describes the JSON report only.
type executionReportInput struct {
	ID     uuid.UUID `path:"id" format:"uuid" doc:"Identity of the execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	Format string    `query:"format" enum:"json,junit" hidden:"true" doc:"Deprecated: junit gives JUnit XML; use get-execution-report-junit." example:"junit"`
	Accept string    `header:"Accept" hidden:"true" doc:"Deprecated: application/junit+xml, application/xml or text/xml gives JUnit XML; use get-execution-report-junit." example:"application/junit+xml"`
}

type executionReportOutput struct {
	ContentType string `header:"Content-Type" hidden:"true" doc:"application/json, or application/junit+xml for the deprecated negotiation." example:"application/json"`
	Body        []byte
}

type executionReportJUnitOutput struct {
	ContentType string `header:"Content-Type" hidden:"true" doc:"application/junit+xml." example:"application/junit+xml"`
	Body        []byte
}

type cancelExecutionInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
}

// registerExecutions adds the execution operations.
func (s *server) registerExecutions(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "execute-plan",
		Method:      http.MethodPost,
		Path:        "/plan/{id}/execute",
		Summary:     "Run a plan",
		Description: "Creates a queued execution of the plan's current revision and enqueues the job that runs it, on its queue, " +
			"in one transaction. The body is optional: variables, an environment, a queue, and the trigger the execution shows " +
			"(api, the default, or cli; schedule is refused with 422, as only the scheduler sets it). A run uses, lowest precedence " +
			"first, the plan's variables, the environment's (as they are when the run starts) and the body's; only variables " +
			"the plan declares can be set. The merged values are checked like a saved plan's (422 naming body.variables or " +
			"body.environment, nothing written). With an Idempotency-Key already used for this plan, returns that execution " +
			"instead (still 202), whatever the body says. The body may be at most 1 MiB (413).",
		Tags:          []string{tagExecutions},
		Security:      secured,
		DefaultStatus: http.StatusAccepted,
		MaxBodyBytes:  maxExecuteBodyBytes,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, s.executePlan)

	huma.Register(api, huma.Operation{
		OperationID: "get-execution",
		Method:      http.MethodGet,
		Path:        "/execution/{id}",
		Summary:     "Get an execution",
		Description: "Returns one execution. Poll it until its status is final.",
		Tags:        []string{tagExecutions},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getExecution)

	huma.Register(api, huma.Operation{
		OperationID: "list-executions",
		Method:      http.MethodGet,
		Path:        "/execution",
		Summary:     "List executions",
		Description: "Returns one page of executions, newest first, filtered by plan, status, trigger, schedule, creation " +
			"time (since, included, and until, excluded) and the plan's labels (label=key:value, repeatable). " +
			"Follow next_cursor, or the Link header with rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagExecutions},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listExecutions)

	huma.Register(api, huma.Operation{
		OperationID: "get-execution-report",
		Method:      http.MethodGet,
		Path:        "/execution/{id}/report",
		Summary:     "Get an execution's report",
		Description: "Returns the result of a finished run as JSON: the execution's result. An execution without a result yet gives 409. " +
			"For JUnit XML use GET /execution/{id}/report/junit. " +
			"Deprecated: for older clients this path still answers JUnit XML (application/junit+xml) to ?format=junit, " +
			"or to an Accept header naming application/junit+xml, application/xml or text/xml without ?format=json; " +
			"that negotiation is kept for compatibility and will be removed.",
		Tags:     []string{tagExecutions},
		Security: secured,
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The report.",
				Content: map[string]*huma.MediaType{
					"application/json": {Schema: &huma.Schema{Ref: "#/components/schemas/ExecutionResult"}},
				},
			},
		},
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.executionReport)

	huma.Register(api, huma.Operation{
		OperationID: "get-execution-report-junit",
		Method:      http.MethodGet,
		Path:        "/execution/{id}/report/junit",
		Summary:     "Get an execution's report as JUnit XML",
		Description: "Returns the result of a finished run as a JUnit XML <testsuites> document, one test case per step, " +
			"so a CI system can show it. An execution without a result yet gives 409.",
		Tags:     []string{tagExecutions},
		Security: secured,
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The JUnit XML report.",
				Content: map[string]*huma.MediaType{
					"application/junit+xml": {Schema: &huma.Schema{Type: "string", Description: "A JUnit XML <testsuites> document: one test case per step."}},
				},
			},
		},
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.executionReportJUnit)

	huma.Register(api, huma.Operation{
		OperationID: "cancel-execution",
		Method:      http.MethodPost,
		Path:        "/execution/{id}/cancel",
		Summary:     "Cancel an execution",
		Description: "Cancels the execution's job. A queued execution becomes cancelled at once. A running one stays running " +
			"until its worker sees the cancellation and marks it cancelled; poll it. Workers in this process, and on " +
			"Postgres those of every node, are told at once; others see it at their next heartbeat. " +
			"An execution that is already final gives 409.",
		Tags:          []string{tagExecutions},
		Security:      secured,
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.cancelExecution)
}

// executionFromStorage returns the API form of a stored execution, run by
// the job jobID (nil if it has none left).
func executionFromStorage(e *storage.Execution, jobID *int64) Execution {
	out := Execution{
		ID:           e.ID,
		JobID:        jobID,
		PlanID:       e.PlanID,
		PlanRevision: e.PlanRevision,
		Status:       string(e.Status),
		Attempt:      e.Attempt,
		CreatedAt:    e.CreatedAt,
		StartedAt:    e.StartedAt,
		FinishedAt:   e.FinishedAt,
		Result:       resultOf(e),
		Variables:    e.Variables,
		Trigger:      string(e.Trigger),
		Queue:        e.Queue,
	}
	if out.Variables == nil {
		out.Variables = map[string]string{}
	}
	if e.Environment != "" {
		out.Environment = &e.Environment
	}
	if e.ScheduleID != uuid.Nil {
		out.ScheduleID = &e.ScheduleID
	}
	if e.WorkerID != "" {
		out.WorkerID = &e.WorkerID
	}
	return out
}

// jobIDsOf returns the ID of the newest job of each execution, by
// execution ID, in one store call. Executions whose job is gone are absent.
func (s *server) jobIDsOf(ctx context.Context, execs ...*storage.Execution) (map[uuid.UUID]int64, error) {
	keys := make([]string, 0, len(execs))
	for _, e := range execs {
		keys = append(keys, storage.ExecutionJobKey(e.ID))
	}
	byKey, err := s.deps.Store.JobIDsByUniqueKeys(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("find jobs of %d executions: %w", len(execs), err)
	}
	ids := make(map[uuid.UUID]int64, len(byKey))
	for _, e := range execs {
		if id, ok := byKey[storage.ExecutionJobKey(e.ID)]; ok {
			ids[e.ID] = id
		}
	}
	return ids, nil
}

// executionOut returns the API form of a stored execution, with the ID of
// its job looked up.
func (s *server) executionOut(ctx context.Context, e *storage.Execution) (Execution, error) {
	ids, err := s.jobIDsOf(ctx, e)
	if err != nil {
		return Execution{}, s.httpError(ctx, err)
	}
	return executionFromStorage(e, jobIDOf(ids, e.ID)), nil
}

// jobIDOf returns a pointer to ids[id], or nil if id has no entry.
func jobIDOf(ids map[uuid.UUID]int64, id uuid.UUID) *int64 {
	if jobID, ok := ids[id]; ok {
		return &jobID
	}
	return nil
}

// resultOf decodes an execution's stored result document, or returns nil
// when it has none.
func resultOf(e *storage.Execution) *planjob.Result {
	if len(e.Result) == 0 {
		return nil
	}
	var r planjob.Result
	if err := json.Unmarshal(e.Result, &r); err != nil {
		return nil
	}
	return &r
}

// isClientError reports whether err is a 4xx problem that the API made,
// such as checkRunInputs' 422.
func isClientError(err error) bool {
	se, ok := errors.AsType[huma.StatusError](err)
	return ok && se.GetStatus() >= 400 && se.GetStatus() < 500
}

// newExecution is an execution that execute-plan creates, with its job,
// through newExecutions; exec and jobID are what was written.
type newExecution struct {
	params      *storage.ExecutionCreateParams
	traceParent string
	exec        *storage.Execution
	jobID       int64
}

// newExecutions writes the new executions of the execute-plan requests
// that share a transaction, and their jobs, with one ExecutionCreateMany
// and one JobEnqueueMany.
var newExecutions = groupcommit.Collector[*newExecution]{
	Write: func(ctx context.Context, tx storage.Store, items []*newExecution) error {
		ps := make([]*storage.ExecutionCreateParams, len(items))
		for i, it := range items {
			ps[i] = it.params
		}
		execs, err := tx.ExecutionCreateMany(ctx, ps)
		if err != nil {
			return fmt.Errorf("execute plan: %w", err)
		}
		if len(execs) != len(items) {
			// Only an idempotency key skips a params, and these have none.
			return fmt.Errorf("execute plan: created %d of %d executions", len(execs), len(items))
		}
		jps := make([]*storage.JobEnqueueParams, len(execs))
		for i, e := range execs {
			jps[i] = planjob.EnqueueParams(e)
			jps[i].TraceContext = items[i].traceParent
		}
		ids, err := tx.JobEnqueueMany(ctx, jps)
		if err != nil {
			return fmt.Errorf("enqueue jobs of %d executions: %w", len(execs), err)
		}
		if len(ids) != len(execs) {
			return fmt.Errorf("enqueue jobs of %d executions: %d enqueued", len(execs), len(ids))
		}
		for i, it := range items {
			it.exec, it.jobID = execs[i], ids[i]
		}
		return nil
	},
}

func (s *server) executePlan(ctx context.Context, in *executePlanInput) (*executionAcceptedOutput, error) {
	var (
		exec    *storage.Execution
		created bool
		jobID   int64
	)
	// Concurrent requests share a transaction (group commit). The group
	// may run this function more than once, so it starts afresh each time.
	// Requests with an Idempotency-Key share it too: the key is read in the
	// transaction, so a request finds a same-key execution made earlier in
	// its batch, and a same-key conflict with another transaction rolls the
	// batch back to be run again alone, down to the conflict handling below.
	var fresh *newExecution
	err := s.deps.ExecuteGroup.InTx(ctx, func(tx storage.Store) error {
		exec, created, jobID, fresh = nil, false, 0, nil
		p, err := tx.PlanGetByID(ctx, in.ID)
		if storage.IsNotFound(err) {
			// Nothing written yet: the batch goes on without this request.
			return groupcommit.Refuse(fmt.Errorf("execute plan: %w", err))
		}
		if err != nil {
			return fmt.Errorf("execute plan: %w", err)
		}
		if in.IdempotencyKey != "" {
			e, err := tx.ExecutionGetByIdempotencyKey(ctx, p.ID, in.IdempotencyKey)
			if err == nil {
				exec = e
				return nil
			}
			if !storage.IsNotFound(err) {
				return fmt.Errorf("execute plan: %w", err)
			}
		}
		body := in.Body
		if body == nil {
			body = &ExecuteBody{}
		}
		if err := s.checkRunInputs(ctx, tx, p, body); err != nil {
			if isClientError(err) {
				return groupcommit.Refuse(err)
			}
			return err
		}
		params := &storage.ExecutionCreateParams{
			PlanID:         p.ID,
			PlanRevision:   p.Revision,
			IdempotencyKey: in.IdempotencyKey,
			Variables:      body.Variables,
			Environment:    body.Environment,
			Queue:          body.Queue,
			Trigger:        storage.ExecutionTrigger(body.Trigger),
		}
		// The run's span links to this request's.
		traceParent := tracing.TraceParent(ctx)
		if in.IdempotencyKey == "" {
			// Written with the batch's other new executions, in two
			// statements for all of them.
			fresh = &newExecution{params: params, traceParent: traceParent}
			created = true
			return groupcommit.Collect(ctx, tx, &newExecutions, fresh)
		}
		e, err := tx.ExecutionCreate(ctx, params)
		if err != nil {
			return fmt.Errorf("execute plan: %w", err)
		}
		jp := planjob.EnqueueParams(e)
		jp.TraceContext = traceParent
		job, err := tx.JobEnqueue(ctx, jp)
		if err != nil {
			return fmt.Errorf("enqueue job of execution %s: %w", e.ID, err)
		}
		exec, created, jobID = e, true, job.ID
		return nil
	})
	if err == nil && fresh != nil {
		exec, jobID = fresh.exec, fresh.jobID
	}
	if err != nil && in.IdempotencyKey != "" && errors.Is(err, storage.ErrConflict) {
		// A concurrent request with the same key created its execution
		// between our read and our insert. Its transaction committed, so
		// read the winner outside ours, which the conflict may have aborted.
		if e, rerr := s.deps.Store.ExecutionGetByIdempotencyKey(ctx, in.ID, in.IdempotencyKey); rerr == nil {
			exec, err = e, nil
		}
	}
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no plan has id %s", in.ID)}))
	}
	if !created {
		out, err := s.executionOut(ctx, exec)
		if err != nil {
			return nil, err
		}
		return &executionAcceptedOutput{Location: "/execution/" + exec.ID.String(), Body: out}, nil
	}
	if s.deps.WakeFunc != nil {
		s.deps.WakeFunc()
	}
	return &executionAcceptedOutput{Location: "/execution/" + exec.ID.String(), Body: executionFromStorage(exec, &jobID)}, nil
}

func (s *server) getExecution(ctx context.Context, in *getExecutionInput) (*executionOutput, error) {
	e, err := s.deps.Store.ExecutionGetByID(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no execution has id %s", in.ID)}))
	}
	out, err := s.executionOut(ctx, e)
	if err != nil {
		return nil, err
	}
	return &executionOutput{Body: out}, nil
}

func (s *server) listExecutions(ctx context.Context, in *listExecutionsInput) (*listExecutionsOutput, error) {
	labels, err := parseLabelFilter(in.Label)
	if err != nil {
		return nil, err
	}
	page, err := s.deps.Store.ExecutionList(ctx, &storage.ExecutionListParams{
		PlanID:     in.PlanID,
		Status:     storage.ExecutionStatus(in.Status),
		Trigger:    storage.ExecutionTrigger(in.Trigger),
		ScheduleID: in.ScheduleID,
		Since:      in.Since,
		Until:      in.Until,
		Labels:     labels,
		Limit:      in.Limit,
		Cursor:     in.Cursor,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	jobIDs, err := s.jobIDsOf(ctx, page.Executions...)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &listExecutionsOutput{Body: ExecutionList{
		Executions: make([]Execution, 0, len(page.Executions)),
		NextCursor: page.NextCursor,
	}}
	for _, e := range page.Executions {
		out.Body.Executions = append(out.Body.Executions, executionFromStorage(e, jobIDOf(jobIDs, e.ID)))
	}
	q := url.Values{}
	if in.PlanID != uuid.Nil {
		q.Set("plan_id", in.PlanID.String())
	}
	if in.Status != "" {
		q.Set("status", in.Status)
	}
	if in.Trigger != "" {
		q.Set("trigger", in.Trigger)
	}
	if in.ScheduleID != uuid.Nil {
		q.Set("schedule_id", in.ScheduleID.String())
	}
	if !in.Since.IsZero() {
		q.Set("since", in.Since.Format(time.RFC3339Nano))
	}
	if !in.Until.IsZero() {
		q.Set("until", in.Until.Format(time.RFC3339Nano))
	}
	for _, l := range in.Label {
		q.Add("label", l)
	}
	out.Link = nextLink("/execution", q, in.Limit, page.NextCursor)
	return out, nil
}

func (s *server) executionReport(ctx context.Context, in *executionReportInput) (*executionReportOutput, error) {
	e, res, err := s.reportOf(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	if wantsJUnit(in.Format, in.Accept) {
		body, err := s.junitReport(ctx, e, res)
		if err != nil {
			return nil, err
		}
		return &executionReportOutput{ContentType: "application/junit+xml", Body: body}, nil
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, s.httpError(ctx, fmt.Errorf("encode report of execution %s: %w", e.ID, err))
	}
	return &executionReportOutput{ContentType: "application/json", Body: body}, nil
}

func (s *server) executionReportJUnit(ctx context.Context, in *getExecutionInput) (*executionReportJUnitOutput, error) {
	e, res, err := s.reportOf(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	body, err := s.junitReport(ctx, e, res)
	if err != nil {
		return nil, err
	}
	return &executionReportJUnitOutput{ContentType: "application/junit+xml", Body: body}, nil
}

// reportOf returns an execution and its result, or the HTTP error to answer:
// 404 for an unknown execution, 409 for one without a result yet.
func (s *server) reportOf(ctx context.Context, id uuid.UUID) (*storage.Execution, *planjob.Result, error) {
	e, err := s.deps.Store.ExecutionGetByID(ctx, id)
	if err != nil {
		return nil, nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no execution has id %s", id)}))
	}
	res := resultOf(e)
	if res == nil {
		return nil, nil, huma.Error409Conflict(fmt.Sprintf("execution %s is %s and has no result yet", e.ID, e.Status))
	}
	return e, res, nil
}

// junitReport renders an execution's result as JUnit XML, named after its
// plan (or the plan's id if the plan is gone).
func (s *server) junitReport(ctx context.Context, e *storage.Execution, res *planjob.Result) ([]byte, error) {
	name := "astro-runner plan " + e.PlanID.String()
	if p, err := s.deps.Store.PlanGetByID(ctx, e.PlanID); err == nil {
		name = p.Name
	}
	run := res.Result
	if run == nil {
		// The run never finished (status error): report the error alone.
		run = &planrun.Result{Status: planrun.StatusFailed}
	}
	body, err := planrun.JUnit(name, run)
	if err != nil {
		return nil, s.httpError(ctx, fmt.Errorf("render JUnit report of execution %s: %w", e.ID, err))
	}
	return body, nil
}

// wantsJUnit reports whether a report request asks for JUnit XML: by
// ?format, else by an Accept header naming a JUnit or XML media type.
func wantsJUnit(format, accept string) bool {
	if format != "" {
		return format == "junit"
	}
	for _, part := range strings.Split(accept, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		switch strings.ToLower(strings.TrimSpace(mt)) {
		case "application/junit+xml", "application/xml", "text/xml":
			return true
		}
	}
	return false
}

func (s *server) cancelExecution(ctx context.Context, in *cancelExecutionInput) (*executionAcceptedOutput, error) {
	var exec *storage.Execution
	err := s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		e, err := tx.ExecutionGetByID(ctx, in.ID)
		if err != nil {
			return fmt.Errorf("cancel execution: %w", err)
		}
		if e.Status.Final() {
			return huma.Error409Conflict(fmt.Sprintf("execution %s is already %s", e.ID, e.Status))
		}
		if err := cancelExecutionJob(ctx, tx, e.ID); err != nil {
			return err
		}
		if e.Status == storage.ExecutionQueued {
			// A queued execution has not started, so it is cancelled now.
			// A running one is marked cancelled by its worker, which
			// CancelFunc tells to look now.
			if e, err = tx.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
				ID: e.ID, Status: storage.ExecutionCancelled,
			}); err != nil {
				return fmt.Errorf("cancel execution %s: %w", in.ID, err)
			}
		}
		exec = e
		return nil
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			NotFound: fmt.Sprintf("no execution has id %s", in.ID),
			Conflict: fmt.Sprintf("execution %s changed status while being cancelled: read it again", in.ID),
		}))
	}
	switch {
	case exec.Status == storage.ExecutionRunning && s.deps.CancelFunc != nil:
		s.deps.CancelFunc()
	case exec.Status == storage.ExecutionCancelled:
		// No worker ran it, so none will log its end: the line a worker
		// logs for the executions it ends (planjob), with no run to time.
		s.deps.Logger.InfoContext(ctx, "execution finished", "execution_id", exec.ID, "plan_id", exec.PlanID,
			"status", exec.Status, "duration", time.Duration(0))
	}
	out, err := s.executionOut(ctx, exec)
	if err != nil {
		return nil, err
	}
	return &executionAcceptedOutput{Location: "/execution/" + exec.ID.String(), Body: out}, nil
}

// cancelExecutionJob cancels the job that runs an execution, if it is not
// final. A job that is gone, or that finished meanwhile, is not an error.
func cancelExecutionJob(ctx context.Context, tx storage.Store, executionID uuid.UUID) error {
	job, err := tx.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(executionID))
	switch {
	case storage.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("find job of execution %s: %w", executionID, err)
	case job.State.Final():
		return nil
	}
	if _, err := tx.JobCancel(ctx, job.ID); err != nil && !errors.Is(err, storage.ErrConflict) {
		return fmt.Errorf("cancel job %d of execution %s: %w", job.ID, executionID, err)
	}
	return nil
}
