package api

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestRunPlanEndToEndMemory creates a plan through the API, executes it,
// waits for the worker to finish it, and reads the results and the JUnit
// report, on the in-memory store.
func TestRunPlanEndToEndMemory(t *testing.T) {
	t.Parallel()
	testRunPlanEndToEnd(t, openStore(t))
}

// TestRunPlanEndToEndPostgres is the same on Postgres.
func TestRunPlanEndToEndPostgres(t *testing.T) {
	t.Parallel()
	st, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	testRunPlanEndToEnd(t, st)
}

func testRunPlanEndToEnd(t *testing.T, st storage.Store) {
	// The service under test: a user API on loopback.
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/login":
			_, _ = io.WriteString(w, `{"token":"s3cr3t-session-value","user":{"id":42}}`)
		case "/users/42":
			if r.Header.Get("Authorization") != "Bearer s3cr3t-session-value" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = io.WriteString(w, `{"id":42,"name":"Ada"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(target.Close)

	ctx, cancel := context.WithCancel(context.Background())
	pool := worker.New(st, worker.Config{Workers: 2, PollInterval: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	pool.Handle(planjob.Kind, (&planjob.Handler{Store: st, Runner: &planrun.Runner{}}).Handle)
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	srv := httptest.NewServer(NewHandler(Deps{Store: st, Logger: slog.New(slog.DiscardHandler), WakeFunc: pool.Wake}))
	t.Cleanup(srv.Close)

	doc := map[string]any{
		"variables": map[string]string{"base_url": target.URL},
		"steps": []any{
			map[string]any{
				"name":    "Log in",
				"request": map[string]any{"method": "POST", "url": "{{base_url}}/login", "body": map[string]string{"user": "ada"}},
				"assert":  map[string]any{"status": 200, "jsonpath": []any{map[string]any{"path": "$.user.id", "equals": 42}}},
				"capture": []any{map[string]any{"name": "session_token", "jsonpath": "$.token"}},
			},
			map[string]any{
				"name":    "Read the user",
				"request": map[string]any{"method": "GET", "url": "{{base_url}}/users/42", "headers": map[string]string{"Authorization": "Bearer {{session_token}}"}},
				"assert":  map[string]any{"status": []int{200}, "body_contains": []string{"Ada"}},
			},
			map[string]any{
				"name":    "Missing page",
				"request": map[string]any{"method": "GET", "url": "{{base_url}}/nope"},
				"assert":  map[string]any{"status": 200},
			},
		},
	}
	var plan Plan
	post(t, srv.URL+"/plan", map[string]any{"name": "e2e", "document": doc}, http.StatusCreated, &plan)
	var exec Execution
	post(t, srv.URL+"/plan/"+plan.ID.String()+"/execute", nil, http.StatusAccepted, &exec)
	require.Equal(t, "queued", exec.Status)

	// Wait for the worker; bounded, and never a speed assertion.
	require.Eventually(t, func() bool {
		get(t, srv.URL+"/execution/"+exec.ID.String(), "", http.StatusOK, &exec)
		return storage.ExecutionStatus(exec.Status).Final()
	}, 30*time.Second, 20*time.Millisecond)

	assert.Equal(t, "failed", exec.Status, "the third step fails")
	require.NotNil(t, exec.JobID, "the execution names its job")
	var job Job
	get(t, srv.URL+fmt.Sprintf("/job/%d", *exec.JobID), "", http.StatusOK, &job)
	assert.Equal(t, *exec.JobID, job.ID)
	assert.Equal(t, planjob.Kind, job.Kind, "(its state may still be running: the job completes after the execution)")
	assert.Equal(t, 1, exec.Attempt)
	require.NotNil(t, exec.Result)
	res := exec.Result
	assert.Equal(t, plan.Revision, res.PlanRevision)
	require.Len(t, res.Steps, 3)
	assert.Equal(t, planrun.StatusPassed, res.Steps[0].Status)
	assert.Equal(t, planrun.Redacted, res.Steps[0].Captured["session_token"], "secret-named captures are redacted")
	assert.Equal(t, planrun.StatusPassed, res.Steps[1].Status, "the capture flowed into step 2's header")
	assert.Equal(t, planrun.StatusFailed, res.Steps[2].Status)
	assert.Equal(t, 404, res.Steps[2].HTTPStatus)
	assert.Equal(t, planrun.Totals{Passed: 2, Failed: 1, DurationMS: res.Totals.DurationMS}, res.Totals)

	// The report: JSON; JUnit at /report/junit, and (deprecated) by Accept
	// or by ?format on /report.
	var report planjob.Result
	get(t, srv.URL+"/execution/"+exec.ID.String()+"/report", "", http.StatusOK, &report)
	assert.Equal(t, planrun.StatusFailed, report.Status)
	for _, url := range []string{"/report/junit", "/report?format=junit", "/report"} {
		accept := ""
		if url == "/report" {
			accept = "application/junit+xml"
		}
		body := getRaw(t, srv.URL+"/execution/"+exec.ID.String()+url, accept, "application/junit+xml")
		var suites struct {
			Suites []struct {
				Name     string `xml:"name,attr"`
				Tests    int    `xml:"tests,attr"`
				Failures int    `xml:"failures,attr"`
			} `xml:"testsuite"`
		}
		require.NoError(t, xml.Unmarshal(body, &suites), "body: %s", body)
		require.Len(t, suites.Suites, 1)
		assert.Equal(t, "e2e", suites.Suites[0].Name)
		assert.Equal(t, 3, suites.Suites[0].Tests)
		assert.Equal(t, 1, suites.Suites[0].Failures)
		assert.NotContains(t, string(body), "s3cr3t-session-value")
	}
	raw := getRaw(t, srv.URL+"/execution/"+exec.ID.String(), "", "application/json")
	assert.NotContains(t, string(raw), "s3cr3t-session-value", "the captured secret is nowhere in the result")
}

// TestReportOfAnExecutionWithoutResultIsAConflict covers the report's
// error answers.
func TestReportOfAnExecutionWithoutResultIsAConflict(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("no-result", nil)
	x := e.execute(p.ID)
	res := e.request(http.MethodGet, "/execution/"+x.ID.String()+"/report", nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).Detail, "no result yet")
	res = e.request(http.MethodGet, "/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f/report", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	res = e.request(http.MethodGet, "/execution/"+x.ID.String()+"/report?format=pdf", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
}

func TestWantsJUnit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		format, accept string
		want           bool
	}{
		{"", "", false},
		{"", "application/json", false},
		{"", "application/junit+xml", true},
		{"", "text/html, application/xml;q=0.9", true},
		{"json", "application/junit+xml", false},
		{"junit", "", true},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, wantsJUnit(c.format, c.accept), "format=%q accept=%q", c.format, c.accept)
	}
}

func post(t *testing.T, url string, body any, status int, out any) {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	res, err := http.Post(url, "application/json", rd)
	require.NoError(t, err)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	require.Equal(t, status, res.StatusCode, "body: %s", b)
	require.NoError(t, json.Unmarshal(b, out))
}

func get(t *testing.T, url, accept string, status int, out any) {
	t.Helper()
	b := getRaw(t, url, accept, "")
	require.NoError(t, json.Unmarshal(b, out), "body: %s", b)
}

// getRaw fetches url, checking for 200 and, when wantType is set, the
// response's Content-Type.
func getRaw(t *testing.T, url, accept, wantType string) []byte {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "body: %s", b)
	if wantType != "" {
		assert.Equal(t, wantType, res.Header.Get("Content-Type"))
	}
	return b
}
