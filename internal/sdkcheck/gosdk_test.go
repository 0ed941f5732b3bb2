package sdkcheck

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/apitest"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	astro "github.com/astro-runner/astro-runner/sdk/go"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// memoryStore returns a fresh in-memory store, closed when the test ends.
func memoryStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// postgresStore returns a store in a fresh Postgres schema, closed when the
// test ends. It skips without a database, or fails with
// ASTRO_REQUIRE_POSTGRES=1.
func postgresStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// server is an astro-runner API on 127.0.0.1 with workers running
// executions, and a target service on 127.0.0.1 for the plans' steps.
type server struct {
	url    string
	target string
	store  storage.Store
	// blocked receives once per request to the target's /block, which
	// answers only when the request is cancelled or the test ends.
	blocked chan struct{}
}

// startServer serves api.NewHandler over st with a worker pool that runs
// the execute_plan handler, as `astro-runner serve` does.
func startServer(t *testing.T, st storage.Store, token string) *server {
	t.Helper()
	s := &server{store: st, blocked: make(chan struct{}, 4)}
	release := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"status":"ok","version":3}`)
		case "/block":
			s.blocked <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-release:
			}
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(target.Close)
	t.Cleanup(func() { close(release) }) // runs before target.Close
	s.target = target.URL

	s.url = apitest.Serve(t, st, apitest.Options{Token: token})
	return s
}

// planBody is a plan of one step that sends GET target+path; on /health it
// checks the status and a JSONPath. It is built from JSON, the wire format,
// so that it does not depend on the Go shape of generated types such as the
// status assertion.
func planBody(t *testing.T, name, target, path string) astro.PlanBody {
	t.Helper()
	checks := ``
	if path == "/health" {
		checks = `,"assert":{"status":[200],"jsonpath":[{"path":"$.version","equals":3}]}`
	}
	doc := fmt.Sprintf(`{"name":%q,"document":{"variables":{"base_url":%q},`+
		`"steps":[{"name":"GET %s","request":{"method":"GET","url":"{{base_url}}%s"}%s}]}}`,
		name, target, path, path, checks)
	var body astro.PlanBody
	require.NoError(t, json.Unmarshal([]byte(doc), &body), "plan %s", doc)
	return body
}

// viaJSON re-decodes v, a generated type, into T through its JSON form, so
// that a test reads lists without depending on whether the generator made
// them []T or *[]T.
func viaJSON[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// problem asserts that err is a *astro.Problem with the given status and
// returns it.
func problem(t *testing.T, err error, status int) *astro.Problem {
	t.Helper()
	var p *astro.Problem
	require.True(t, errors.As(err, &p), "error %v (%T) is not a *astro.Problem", err, err)
	require.Equal(t, status, p.Status, "problem: %v", p)
	return p
}

func TestGoSDKMemory(t *testing.T) {
	t.Parallel()
	testGoSDK(t, memoryStore(t))
}

func TestGoSDKPostgres(t *testing.T) {
	t.Parallel()
	testGoSDK(t, postgresStore(t))
}

// testGoSDK runs the SDK's scenario against a server over st.
func testGoSDK(t *testing.T, st storage.Store) {
	s := startServer(t, st, "")
	c, err := astro.New(s.url)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Create three plans and list them one per page.
	var created []*astro.Plan
	for _, name := range []string{"list-1 smoke", "list-2", "list-3"} {
		p, err := c.CreatePlan(ctx, planBody(t, name, s.target, "/health"))
		require.NoError(t, err)
		require.EqualValues(t, 1, p.Revision)
		created = append(created, p)
	}
	var listed []astro.UUID
	cursor, pages := "", 0
	for {
		page, err := c.ListPlans(ctx, astro.ListPlansOptions{Name: "list-", Limit: 1, Cursor: cursor})
		require.NoError(t, err)
		pages++
		require.LessOrEqual(t, pages, len(created)+1, "the cursor does not end")
		plans := viaJSON[struct{ Plans []astro.Plan }](t, page).Plans
		require.LessOrEqual(t, len(plans), 1)
		for _, p := range plans {
			listed = append(listed, p.Id)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Equal(t, []astro.UUID{created[0].Id, created[1].Id, created[2].Id}, listed)

	// Update with If-Match, then again with the stale revision: 412.
	plan := created[0]
	body := planBody(t, plan.Name, s.target, "/health")
	desc := "checks /health"
	body.Description = &desc
	updated, err := c.UpdatePlan(ctx, plan.Id, plan.Revision, body)
	require.NoError(t, err)
	assert.EqualValues(t, 2, updated.Revision)
	assert.Equal(t, desc, updated.Description)
	_, err = c.UpdatePlan(ctx, plan.Id, plan.Revision, body)
	problem(t, err, http.StatusPreconditionFailed)
	got, err := c.GetPlan(ctx, plan.Id)
	require.NoError(t, err)
	assert.EqualValues(t, 2, got.Revision)

	// Execute twice with one Idempotency-Key: one execution.
	e1, err := c.ExecutePlan(ctx, plan.Id, "sdk-key-1")
	require.NoError(t, err)
	e2, err := c.ExecutePlan(ctx, plan.Id, "sdk-key-1")
	require.NoError(t, err)
	require.Equal(t, e1.Id, e2.Id, "the same Idempotency-Key made a second execution")
	final, err := c.WaitExecution(ctx, e1.Id)
	require.NoError(t, err)
	require.Equal(t, "passed", string(final.Status))
	assert.EqualValues(t, 2, final.PlanRevision)

	// The reports, as JSON and as JUnit XML.
	report, err := c.Report(ctx, e1.Id)
	require.NoError(t, err)
	require.NotNil(t, report.Status)
	require.NotNil(t, report.Totals)
	assert.Equal(t, "passed", string(*report.Status))
	assert.EqualValues(t, 1, report.Totals.Passed)
	steps := viaJSON[struct{ Steps []astro.RunStepResult }](t, report).Steps
	require.Len(t, steps, 1)
	assert.Equal(t, "GET /health", steps[0].Name)
	junit, err := c.ReportJUnit(ctx, e1.Id)
	require.NoError(t, err)
	var suites struct {
		XMLName xml.Name `xml:"testsuites"`
		Suites  []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(junit, &suites), "JUnit: %s", junit)
	require.Len(t, suites.Suites, 1)
	require.Len(t, suites.Suites[0].Cases, 1)
	assert.Contains(t, suites.Suites[0].Cases[0].Name, "GET /health")

	// The execution's job, reached through its job_id.
	job, err := st.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(uuid.UUID(e1.Id)))
	require.NoError(t, err)
	require.NotNil(t, e1.JobId, "an execution names its job")
	require.Equal(t, job.ID, *e1.JobId)
	gotJob, err := c.GetJob(ctx, *e1.JobId)
	require.NoError(t, err)
	assert.Equal(t, job.ID, gotJob.Id)
	assert.Equal(t, planjob.Kind, gotJob.Kind)
	// The job completes just after its execution is final, so it may still be running.
	assert.Contains(t, []string{"running", "completed"}, string(gotJob.State))
	_, err = c.GetJob(ctx, job.ID+1000)
	problem(t, err, http.StatusNotFound)

	// Cancelling a finished execution is a conflict.
	_, err = c.CancelExecution(ctx, e1.Id)
	problem(t, err, http.StatusConflict)

	// RunPlan: execute and wait in one call.
	run, err := c.RunPlan(ctx, created[1].Id, astro.RunOptions{IdempotencyKey: "sdk-run-1"})
	require.NoError(t, err)
	assert.Equal(t, "passed", string(run.Status))
	assert.True(t, astro.IsFinal(run))

	// Cancel a running execution: its step blocks until the run is cancelled.
	blocking, err := c.CreatePlan(ctx, planBody(t, "blocking", s.target, "/block"))
	require.NoError(t, err)
	running, err := c.ExecutePlan(ctx, blocking.Id, "")
	require.NoError(t, err)
	select {
	case <-s.blocked:
	case <-ctx.Done():
		t.Fatal("the blocking step never reached the target")
	}
	_, err = c.CancelExecution(ctx, running.Id)
	require.NoError(t, err)
	cancelled, err := c.WaitExecution(ctx, running.Id)
	require.NoError(t, err)
	assert.Equal(t, "cancelled", string(cancelled.Status))

	// A 404 and a 422 as typed problems.
	_, err = c.GetPlan(ctx, astro.UUID(uuid.New()))
	problem(t, err, http.StatusNotFound)
	_, err = c.GetExecution(ctx, astro.UUID(uuid.New()))
	problem(t, err, http.StatusNotFound)
	_, err = c.CreatePlan(ctx, astro.PlanBody{Name: "", Document: astro.PlanDocument{Steps: []astro.PlanStep{}}})
	p := problem(t, err, http.StatusUnprocessableEntity)
	var locations []string
	for _, e := range p.Errors {
		locations = append(locations, e.Location)
	}
	assert.Contains(t, locations, "body.name", "problem: %v", p)

	// DeletePlan: kept while it has executions, gone with cascade.
	err = c.DeletePlan(ctx, blocking.Id, false)
	problem(t, err, http.StatusConflict)
	require.NoError(t, c.DeletePlan(ctx, blocking.Id, true))
	_, err = c.GetPlan(ctx, blocking.Id)
	problem(t, err, http.StatusNotFound)
}

// TestGoSDKToken checks WithToken against a server that requires a token:
// without it every call is a 401 problem, with it the call succeeds.
func TestGoSDKToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, memoryStore(t), "sdk-token")
	ctx := context.Background()

	anonymous, err := astro.New(s.url)
	require.NoError(t, err)
	_, err = anonymous.ListPlans(ctx, astro.ListPlansOptions{})
	problem(t, err, http.StatusUnauthorized)

	wrong, err := astro.New(s.url, astro.WithToken("not-the-token"))
	require.NoError(t, err)
	_, err = wrong.ListPlans(ctx, astro.ListPlansOptions{})
	problem(t, err, http.StatusUnauthorized)

	authed, err := astro.New(s.url, astro.WithToken("sdk-token"), astro.WithHTTPClient(&http.Client{Timeout: time.Minute}))
	require.NoError(t, err)
	plan, err := authed.CreatePlan(ctx, planBody(t, "token", s.target, "/health"))
	require.NoError(t, err)
	run, err := authed.RunPlan(ctx, plan.Id, astro.RunOptions{})
	require.NoError(t, err)
	assert.Equal(t, "passed", string(run.Status))
}
