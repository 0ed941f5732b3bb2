package astro

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	openapi_types "github.com/oapi-codegen/runtime/types"
)

// UUID is the type of plan and execution identities.
type UUID = openapi_types.UUID

// ParseUUID parses the text form of a plan or execution identity. A CLI can use it to
// tell an identity from a plan name.
func ParseUUID(s string) (UUID, error) {
	var id UUID
	if err := id.UnmarshalText([]byte(s)); err != nil {
		return UUID{}, fmt.Errorf("astro: parse id %q: %w", s, err)
	}
	return id, nil
}

// Client calls an astro-runner server. It is safe for concurrent use.
type Client struct {
	api *ClientWithResponses
}

// Option configures a Client made by New.
type Option func(*options)

type options struct {
	httpClient *http.Client
	token      string
}

// WithToken makes the client send token as "Authorization: Bearer <token>" on every
// request, as a server started with an API token requires. An empty token sends nothing.
func WithToken(token string) Option {
	return func(o *options) { o.token = token }
}

// WithHTTPClient makes the client send its requests through hc instead of a new
// http.Client without a timeout. Use it for timeouts, proxies or TLS settings.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) { o.httpClient = hc }
}

// New returns a client of the server at serverURL, such as "http://127.0.0.1:8080".
// It sends nothing until a method is called.
func New(serverURL string, opts ...Option) (*Client, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	hc := o.httpClient
	if hc == nil {
		hc = &http.Client{}
	}
	genOpts := []ClientOption{WithHTTPDoer(hc)}
	if o.token != "" {
		genOpts = append(genOpts, WithRequestEditorFn(setHeader("Authorization", "Bearer "+o.token)))
	}
	api, err := NewClientWithResponses(serverURL, genOpts...)
	if err != nil {
		return nil, fmt.Errorf("astro: new client for %q: %w", serverURL, err)
	}
	return &Client{api: api}, nil
}

// API returns the generated client underneath, with the same server, HTTP client and
// token, for operations this layer does not wrap. Its answers are not turned into
// *Problem errors.
func (c *Client) API() *ClientWithResponses {
	return c.api
}

// setHeader returns a request editor that sets one header.
func setHeader(name, value string) RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set(name, value)
		return nil
	}
}

// result returns v for a 2xx answer, a *Problem for any other, and an error for a 2xx
// answer whose body the generated client could not type (v is nil).
func result[T any](hr *http.Response, body []byte, v *T) (*T, error) {
	if err := checkStatus(hr, body); err != nil {
		return nil, err
	}
	if v == nil {
		return nil, fmt.Errorf("astro: %s %s: unexpected %d answer with Content-Type %q",
			hr.Request.Method, hr.Request.URL.Path, hr.StatusCode, hr.Header.Get("Content-Type"))
	}
	return v, nil
}

// checkStatus returns a *Problem for a non-2xx answer, and nil otherwise.
func checkStatus(hr *http.Response, body []byte) error {
	if hr.StatusCode >= 200 && hr.StatusCode <= 299 {
		return nil
	}
	return problemFrom(hr, body)
}

// CreatePlan stores a new plan and returns it with its identity and revision 1. A name
// already taken gives a *Problem with status 409; an invalid plan one with status 422.
func (c *Client) CreatePlan(ctx context.Context, body PlanBody) (*Plan, error) {
	r, err := c.api.CreatePlanWithResponse(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("astro: create plan: %w", err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON201)
}

// GetPlan returns one plan. An unknown id gives a *Problem with status 404.
func (c *Client) GetPlan(ctx context.Context, id UUID) (*Plan, error) {
	r, err := c.api.GetPlanWithResponse(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: get plan %s: %w", id, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON200)
}

// ListPlansOptions filters and pages ListPlans. The zero value asks for the first page
// of every plan.
type ListPlansOptions struct {
	// Name keeps plans whose name starts with it (case-sensitive).
	Name string
	// Labels keeps plans that carry every one of these labels, each written key:value.
	Labels []string
	// Limit is the largest number of plans to return. 0 means the server's default (50).
	Limit int
	// Cursor is the NextCursor of the previous page; empty for the first page.
	Cursor string
}

// ListPlans returns one page of plans, oldest first. Pass the page's NextCursor as
// opts.Cursor for the next page; it is empty on the last page.
func (c *Client) ListPlans(ctx context.Context, opts ListPlansOptions) (*PlanList, error) {
	p := &ListPlansParams{}
	if opts.Name != "" {
		p.Name = &opts.Name
	}
	if len(opts.Labels) > 0 {
		p.Label = &opts.Labels
	}
	if opts.Limit > 0 {
		limit := int64(opts.Limit)
		p.Limit = &limit
	}
	if opts.Cursor != "" {
		p.Cursor = &opts.Cursor
	}
	r, err := c.api.ListPlansWithResponse(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("astro: list plans: %w", err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON200)
}

// UpdatePlan replaces the writable fields of a plan, sending If-Match with revision,
// the revision being replaced, and returns the plan with its new revision. If the plan
// changed since, the answer is a *Problem with status 412; read it again and retry.
func (c *Client) UpdatePlan(ctx context.Context, id UUID, revision int64, body PlanBody) (*Plan, error) {
	p := &UpdatePlanParams{IfMatch: strconv.Quote(strconv.FormatInt(revision, 10))}
	r, err := c.api.UpdatePlanWithResponse(ctx, id, p, body)
	if err != nil {
		return nil, fmt.Errorf("astro: update plan %s: %w", id, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON200)
}

// DeletePlan deletes a plan. A plan with executions is kept (a *Problem with status
// 409) unless cascade is true, which also deletes its executions and cancels their jobs.
func (c *Client) DeletePlan(ctx context.Context, id UUID, cascade bool) error {
	p := &DeletePlanParams{}
	if cascade {
		p.Cascade = &cascade
	}
	r, err := c.api.DeletePlan(ctx, id, p)
	if err != nil {
		return fmt.Errorf("astro: delete plan %s: %w", id, err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("astro: delete plan %s: read answer: %w", id, err)
	}
	return checkStatus(r, body)
}

// ExecutePlan queues a run of the plan's current revision and returns the queued
// execution. A non-empty idempotencyKey makes retries safe: if the plan already has an
// execution created with that key, the server returns it and queues nothing. It is
// ExecutePlanWith with only an idempotency key.
func (c *Client) ExecutePlan(ctx context.Context, planID UUID, idempotencyKey string) (*Execution, error) {
	return c.ExecutePlanWith(ctx, planID, ExecuteOptions{IdempotencyKey: idempotencyKey})
}

// ExecuteOptions configures ExecutePlanWith. The zero value is ready to use.
type ExecuteOptions struct {
	// IdempotencyKey, when set, makes retries safe: if the plan already has an
	// execution created with that key, the server returns it, whatever the other
	// options say, and queues nothing.
	IdempotencyKey string
	// Variables set variables that the plan declares, over the plan's own and the
	// environment's. A name the plan does not declare gives a *Problem with status 422.
	Variables map[string]string
	// Environment names an environment to run with. Its variables, as they are when
	// the run starts, override the plan's.
	Environment string
	// Queue names the queue to run on; empty means the server's default queue.
	Queue string
	// Trigger is what the execution shows as its trigger: "api" or "cli"; empty
	// means the server's default, "api". "schedule" is set by the scheduler only:
	// the server refuses it, and any other value, with a *Problem with status 422.
	Trigger string
}

// ExecutePlanWith queues a run of the plan's current revision with opts and returns
// the queued execution.
func (c *Client) ExecutePlanWith(ctx context.Context, planID UUID, opts ExecuteOptions) (*Execution, error) {
	var editors []RequestEditorFn
	if opts.IdempotencyKey != "" {
		editors = append(editors, setHeader("Idempotency-Key", opts.IdempotencyKey))
	}
	var body ExecuteBody
	if len(opts.Variables) > 0 {
		body.Variables = &opts.Variables
	}
	if opts.Environment != "" {
		body.Environment = &opts.Environment
	}
	if opts.Queue != "" {
		body.Queue = &opts.Queue
	}
	if opts.Trigger != "" {
		trigger := ExecuteBodyTrigger(opts.Trigger)
		body.Trigger = &trigger
	}
	r, err := c.api.ExecutePlanWithResponse(ctx, planID, &ExecutePlanParams{}, body, editors...)
	if err != nil {
		return nil, fmt.Errorf("astro: execute plan %s: %w", planID, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON202)
}

// GetExecution returns one execution. An unknown id gives a *Problem with status 404.
func (c *Client) GetExecution(ctx context.Context, id UUID) (*Execution, error) {
	r, err := c.api.GetExecutionWithResponse(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: get execution %s: %w", id, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON200)
}

// CancelExecution cancels an execution and returns it. A queued execution is cancelled
// at once; a running one stays running until its worker stops, so wait for it with
// WaitExecution. An execution that is already final gives a *Problem with status 409.
func (c *Client) CancelExecution(ctx context.Context, id UUID) (*Execution, error) {
	r, err := c.api.CancelExecutionWithResponse(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: cancel execution %s: %w", id, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON202)
}

// Report returns the result of a finished execution. An execution without a result
// yet gives a *Problem with status 409.
func (c *Client) Report(ctx context.Context, id UUID) (*ExecutionResult, error) {
	r, err := c.api.GetExecutionReportWithResponse(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: get report of %s: %w", id, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON200)
}

// ReportJUnit returns the result of a finished execution as a JUnit XML document, one
// test case per step, for a CI system to show. An execution without a result yet gives
// a *Problem with status 409.
func (c *Client) ReportJUnit(ctx context.Context, id UUID) ([]byte, error) {
	r, err := c.api.GetExecutionReportJunit(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: get JUnit report of %s: %w", id, err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, fmt.Errorf("astro: get JUnit report of %s: read answer: %w", id, err)
	}
	if err := checkStatus(r, body); err != nil {
		return nil, err
	}
	return body, nil
}

// GetJob returns one job of the queue, with its failed attempts. An unknown id gives a
// *Problem with status 404.
func (c *Client) GetJob(ctx context.Context, id int64) (*Job, error) {
	r, err := c.api.GetJobWithResponse(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("astro: get job %d: %w", id, err)
	}
	return result(r.HTTPResponse, r.Body, r.JSON200)
}
