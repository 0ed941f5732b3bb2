package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// TestSchemaLinkNamesTheRequestsHost checks the $schema link of a response
// for the hosts a client may use. Huma's own transformer answered
// https:////schemas/Plan.json for localhost and https for any plain-HTTP
// host.
func TestSchemaLinkNamesTheRequestsHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("linked", nil)
	tests := []struct {
		name    string
		host    string
		headers map[string]string
		want    string
	}{
		{name: "Localhost", host: "localhost:8080", want: "http://localhost:8080/schemas/Plan.json"},
		{name: "LocalhostWithoutPort", host: "localhost", want: "http://localhost/schemas/Plan.json"},
		{name: "Loopback", host: "127.0.0.1:9000", want: "http://127.0.0.1:9000/schemas/Plan.json"},
		{name: "PlainHTTPName", host: "runner.internal:8080", want: "http://runner.internal:8080/schemas/Plan.json"},
		{name: "IPv6", host: "[::1]:8080", want: "http://[::1]:8080/schemas/Plan.json"},
		{name: "XForwarded", host: "localhost:8080", headers: map[string]string{"X-Forwarded-Host": "api.example.com", "X-Forwarded-Proto": "https"},
			want: "https://api.example.com/schemas/Plan.json"},
		{name: "Forwarded", host: "localhost:8080", headers: map[string]string{"Forwarded": `for=10.0.0.1;host="api.example.com:8443";proto=https, host=other`},
			want: "https://api.example.com:8443/schemas/Plan.json"},
		{name: "BadForwardedHostIsIgnored", host: "localhost:8080", headers: map[string]string{"X-Forwarded-Host": "evil.example/x?y"},
			want: "http://localhost:8080/schemas/Plan.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/plan/"+p.ID.String(), nil)
			require.NoError(t, err)
			req.Host = tt.host
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			res, err := e.client.Do(req)
			require.NoError(t, err)
			defer res.Body.Close()
			require.Equal(t, http.StatusOK, res.StatusCode)
			var body struct {
				Schema string `json:"$schema"`
			}
			require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
			assert.Equal(t, tt.want, body.Schema)
			assert.Equal(t, `</schemas/Plan.json>; rel="describedBy"`, res.Header.Get("Link"))
		})
	}
}

// TestErrorsCarryASchemaLinkToo checks that problem documents get the same
// links as other responses.
func TestErrorsCarryASchemaLinkToo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/plan/0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d", nil)
	require.NoError(t, err)
	req.Host = "localhost:8080"
	res, err := e.client.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusNotFound, res.StatusCode)
	assert.Contains(t, string(b), `"$schema":"http://localhost:8080/schemas/ErrorModel.json"`)
}

// TestQueuedExecutionSendsNullResultAndItsJobID checks the raw JSON of a
// queued execution: result is sent as null (the spec makes it nullable) and
// job_id names its job, in every answer that carries the execution, until
// the job is pruned.
func TestQueuedExecutionSendsNullResultAndItsJobID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("queued", nil)
	res := e.request(http.MethodPost, "/plan/"+p.ID.String()+"/execute", nil)
	require.Equal(t, http.StatusAccepted, res.Status)
	var raw map[string]json.RawMessage
	res.decode(t, &raw)
	require.Contains(t, raw, "result")
	assert.Equal(t, "null", string(raw["result"]))
	var x Execution
	res.decode(t, &x)
	jobs := e.jobs()
	require.Len(t, jobs, 1)
	require.NotNil(t, x.JobID, "execute-plan names the job: %s", res.Body)
	assert.Equal(t, jobs[0].ID, *x.JobID)

	get := e.request(http.MethodGet, "/execution/"+x.ID.String(), nil)
	require.Equal(t, http.StatusOK, get.Status)
	get.decode(t, &raw)
	assert.Equal(t, "null", string(raw["result"]))
	assert.Equal(t, fmt.Sprint(jobs[0].ID), string(raw["job_id"]))

	var list ExecutionList
	e.request(http.MethodGet, "/execution", nil).decode(t, &list)
	require.Len(t, list.Executions, 1)
	require.NotNil(t, list.Executions[0].JobID)
	assert.Equal(t, jobs[0].ID, *list.Executions[0].JobID)

	// The job is reachable from the execution.
	job := e.request(http.MethodGet, fmt.Sprintf("/job/%d", *x.JobID), nil)
	require.Equal(t, http.StatusOK, job.Status)

	// An idempotent replay names the same job.
	again := e.execute(p.ID, "Idempotency-Key", "k1")
	replay := e.execute(p.ID, "Idempotency-Key", "k1")
	require.NotNil(t, replay.JobID)
	assert.Equal(t, *again.JobID, *replay.JobID)

	// Cancelled, the job is final; pruned, it is gone and job_id is null.
	cancel := e.request(http.MethodPost, "/execution/"+x.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, cancel.Status, "body: %s", cancel.Body)
	cancel.decode(t, &raw)
	assert.Equal(t, fmt.Sprint(jobs[0].ID), string(raw["job_id"]))
	assert.Equal(t, "null", string(raw["result"]), "cancelled before it ran: no result")
	_, err := e.raw.JobPrune(context.Background(), -time.Hour, 100)
	require.NoError(t, err)
	get = e.request(http.MethodGet, "/execution/"+x.ID.String(), nil)
	get.decode(t, &raw)
	require.Contains(t, raw, "job_id", "job_id is always sent")
	assert.Equal(t, "null", string(raw["job_id"]))
}

// finishWithResult stores a passed result on a queued execution, as a
// worker would.
func finishWithResult(t *testing.T, e *testEnv, x Execution) {
	t.Helper()
	now := time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)
	res, err := json.Marshal(&planjob.Result{PlanRevision: 1, Result: &planrun.Result{
		Status:    planrun.StatusPassed,
		Steps:     []planrun.StepResult{{Name: "Health check", Status: planrun.StatusPassed, Attempts: 1, HTTPStatus: 200}},
		Totals:    planrun.Totals{Passed: 1},
		StartedAt: now, FinishedAt: now,
	}})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: x.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: x.ID, Status: storage.ExecutionPassed, Result: res})
	require.NoError(t, err)
}

// TestReportPaths covers both report operations: the JSON one, with the
// deprecated JUnit negotiation it keeps, and get-execution-report-junit.
func TestReportPaths(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("reported", nil)
	queued := e.execute(p.ID)
	x := e.execute(p.ID)
	finishWithResult(t, e, x)
	base := "/execution/" + x.ID.String()

	tests := []struct {
		name, path, accept, wantType string
	}{
		{name: "JSON", path: "/report", wantType: "application/json"},
		{name: "JSONEvenWithAnyAccept", path: "/report", accept: "*/*", wantType: "application/json"},
		{name: "FormatJSONOverridesAccept", path: "/report?format=json", accept: "application/junit+xml", wantType: "application/json"},
		{name: "DeprecatedFormatJUnit", path: "/report?format=junit", wantType: "application/junit+xml"},
		{name: "DeprecatedAcceptJUnit", path: "/report", accept: "application/junit+xml", wantType: "application/junit+xml"},
		{name: "JUnitOperation", path: "/report/junit", wantType: "application/junit+xml"},
		{name: "JUnitOperationWhateverAccept", path: "/report/junit", accept: "application/json", wantType: "application/junit+xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := e.request(http.MethodGet, base+tt.path, nil, "Accept", tt.accept)
			require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
			assert.Equal(t, tt.wantType, res.Header.Get("Content-Type"))
			if tt.wantType == "application/json" {
				var r planjob.Result
				res.decode(t, &r)
				assert.Equal(t, planrun.StatusPassed, r.Status)
				return
			}
			assert.True(t, strings.HasPrefix(string(res.Body), "<?xml") || strings.HasPrefix(string(res.Body), "<testsuites"), "body: %s", res.Body)
			assert.Contains(t, string(res.Body), `name="reported"`)
		})
	}

	res := e.request(http.MethodGet, "/execution/"+queued.ID.String()+"/report/junit", nil)
	require.Equal(t, http.StatusConflict, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no result yet")
	res = e.request(http.MethodGet, "/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f/report/junit", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	res = e.request(http.MethodGet, base+"/report/junit?format=json", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "the JUnit operation takes no format: %s", res.Body)
}

// TestStatusShorthandIsAcceptedAndAnsweredAsAnArray checks that a bare
// integer assert.status, which the spec no longer describes, is still
// accepted and checked, and that every answer carries an array.
func TestStatusShorthandIsAcceptedAndAnsweredAsAnArray(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	doc := func(status string) json.RawMessage {
		return json.RawMessage(`{"steps":[{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"assert":{"status":` + status + `}}]}`)
	}
	res := e.request(http.MethodPost, "/plan", map[string]any{"name": "bare", "document": doc("204")})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"status":[204]`)
	var p Plan
	res.decode(t, &p)
	get := e.request(http.MethodGet, "/plan/"+p.ID.String(), nil)
	assert.Contains(t, string(get.Body), `"status":[204]`)
	var stored struct {
		Steps []struct {
			Assert struct {
				Status json.RawMessage `json:"status"`
			} `json:"assert"`
		} `json:"steps"`
	}
	require.NoError(t, json.Unmarshal(e.storedPlan(p.ID).Document, &stored))
	assert.JSONEq(t, `[204]`, string(stored.Steps[0].Assert.Status), "stored as an array too")

	res = e.request(http.MethodPost, "/plan", map[string]any{"name": "list", "document": doc("[200, 201]")})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"status":[200,201]`)

	for _, bad := range []string{"600", "99", `"200"`, "[]", "2.5", "true"} {
		res := e.request(http.MethodPost, "/plan", map[string]any{"name": "bad " + bad, "document": doc(bad)})
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "status %s: %s", bad, res.Body)
		for _, loc := range res.problem(t).locations() {
			assert.True(t, strings.HasPrefix(loc, "body.document.steps[0].assert.status"), "status %s: location %s", bad, loc)
		}
	}
}

// TestUpdateWithoutIfMatchIs428WhileTheSpecRequiresIt checks both halves
// for every PUT in the document: an update the server answers with 428 when
// If-Match is missing (rather than Huma's 422) has If-Match marked required
// in the document, and every If-Match the document lists is required and
// enforced. A PUT added to the API without a case here fails the test.
func TestUpdateWithoutIfMatchIs428WhileTheSpecRequiresIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSecretKey(t))
	p := e.createPlan("guarded", nil)
	e.createEnvironment("guarded", map[string]string{"a": "1"})
	sc := e.createSchedule(p.ID, map[string]any{"cron": "@hourly"})
	ch := e.createChannel(slackBody("guarded"))
	rule := e.createRule(map[string]any{"channels": []uuid.UUID{ch.ID}})
	// puts gives, for each PUT path of the document, a request to an
	// existing resource (at revision 1) with a valid body.
	puts := map[string]struct {
		path string
		body any
	}{
		"/plan/{id}":          {"/plan/" + p.ID.String(), planBody("guarded", nil)},
		"/environment/{name}": {"/environment/guarded", map[string]any{"variables": map[string]string{"a": "2"}}},
		"/schedule/{id}":      {"/schedule/" + sc.ID.String(), map[string]any{"cron": "@daily"}},
		"/secret/{name}":      {"/secret/API_TOKEN", map[string]string{"value": "abcdef"}},
		"/channel/{id}":       {"/channel/" + ch.ID.String(), map[string]any{"name": "guarded", "kind": "slack"}},
		"/alert-rule/{id}":    {"/alert-rule/" + rule.ID.String(), map[string]any{"channels": []uuid.UUID{ch.ID}}},
	}
	oapi := specAPI()
	for _, path := range slices.Sorted(maps.Keys(oapi.Paths)) {
		op := oapi.Paths[path].Put
		if op == nil {
			continue
		}
		t.Run(op.OperationID, func(t *testing.T) {
			put, ok := puts[path]
			require.True(t, ok, "no case for PUT %s: add one", path)
			var ifMatch *huma.Param
			for _, prm := range op.Parameters {
				if prm.In == "header" && prm.Name == "If-Match" {
					ifMatch = prm
				}
			}
			res := e.request(http.MethodPut, put.path, put.body)
			if res.Status != http.StatusPreconditionRequired {
				assert.Nil(t, ifMatch, "the document lists If-Match but the server does not require it: %d %s", res.Status, res.Body)
				return
			}
			require.NotNil(t, ifMatch, "the server requires If-Match but the document does not list it")
			assert.True(t, ifMatch.Required, "If-Match is required in the spec")
			res = e.request(http.MethodPut, put.path, put.body, "If-Match", `"1"`)
			assert.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		})
	}
}

// TestSpecSaysWhatTheServerSends checks the fixes that make generated
// clients tell the truth.
func TestSpecSaysWhatTheServerSends(t *testing.T) {
	t.Parallel()
	oapi := specAPI()
	schemas := oapi.Components.Schemas.Map()

	result := schemas["Execution"].Properties["result"]
	require.Len(t, result.AnyOf, 2, "result is nullable")
	assert.Equal(t, "#/components/schemas/ExecutionResult", result.AnyOf[0].Ref)
	assert.Equal(t, "null", result.AnyOf[1].Type)
	assert.Contains(t, schemas["Execution"].Required, "result")
	jobID := schemas["Execution"].Properties["job_id"]
	require.NotNil(t, jobID)
	assert.True(t, jobID.Nullable)
	assert.Contains(t, schemas["Execution"].Required, "job_id")

	assert.Equal(t, []string{"plan_revision"}, schemas["ExecutionResult"].Required, "the run's fields are absent on error")
	for name, prop := range map[string]string{"ExecutionList": "executions", "PlanList": "plans", "QueueStats": "queues", "Job": "errors", "ExecutionResult": "steps"} {
		assert.False(t, schemas[name].Properties[prop].Nullable, "%s.%s is never null", name, prop)
	}

	status := schemas["PlanAssert"].Properties["status"]
	assert.Equal(t, huma.TypeArray, status.Type)
	assert.Empty(t, status.OneOf)

	for schema, prop := range map[string]string{"PlanRequest": "body", "PlanJSONPathAssert": "equals", "RunAssertionResult": "expected", "Job": "payload"} {
		assert.Equal(t, "#/components/schemas/JSONValue", schemas[schema].Properties[prop].Ref, "%s.%s", schema, prop)
	}
	require.Contains(t, schemas, "JSONValue")
	assert.Empty(t, schemas["JSONValue"].Type, "JSONValue accepts any JSON value")

	for name, s := range schemas {
		var walk func(where string, s *huma.Schema)
		walk = func(where string, s *huma.Schema) {
			assert.Nil(t, s.Default, "%s has no default (openapi-typescript would make it required)", where)
			for p, ps := range s.Properties {
				walk(where+"."+p, ps)
			}
		}
		walk(name, s)
	}
	assert.Contains(t, schemas["PlanStep"].Properties["timeout_ms"].Description, "10000")

	method := schemas["PlanRequest"].Properties["method"]
	assert.Contains(t, method.Extensions["x-enum-varnames"], "PlanRequestMethodGET")

	report := oapi.Paths["/execution/{id}/report"].Get
	assert.Equal(t, []string{"application/json"}, mapKeys(report.Responses["200"].Content))
	for _, p := range report.Parameters {
		assert.Equal(t, "id", p.Name, "the deprecated format and Accept are not in the spec")
	}
	junit := oapi.Paths["/execution/{id}/report/junit"].Get
	require.NotNil(t, junit)
	assert.Equal(t, "get-execution-report-junit", junit.OperationID)
	assert.Equal(t, []string{"application/junit+xml"}, mapKeys(junit.Responses["200"].Content))
}

// mapKeys returns the keys of m.
func mapKeys[V any](m map[string]V) []string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

// TestOpenAPI30WritesNullableReferencesThe30Way checks the served 3.0
// downgrade: no "null" type (invalid in 3.0), and result nullable.
func TestOpenAPI30WritesNullableReferencesThe30Way(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/openapi-3.0.json", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, "application/openapi+json", res.Header.Get("Content-Type"))
	assert.NotContains(t, string(res.Body), `"type":"null"`)
	var doc struct {
		OpenAPI    string `json:"openapi"`
		Components struct {
			Schemas map[string]struct {
				Properties map[string]map[string]any `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	res.decode(t, &doc)
	assert.Equal(t, "3.0.3", doc.OpenAPI)
	result := doc.Components.Schemas["Execution"].Properties["result"]
	assert.Equal(t, true, result["nullable"])
	assert.Equal(t, "object", result["type"])
	assert.Equal(t, []any{map[string]any{"$ref": "#/components/schemas/ExecutionResult"}}, result["allOf"])

	res = e.request(http.MethodGet, "/openapi-3.0.yaml", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Equal(t, "application/openapi+yaml", res.Header.Get("Content-Type"))
	assert.Contains(t, string(res.Body), "openapi: 3.0.3")
	assert.Contains(t, string(res.Body), "nullable: true")
	assert.NotContains(t, string(res.Body), `type: "null"`)
}

// TestAlertDocumentSchemasAcceptAddedFields checks that the alert document's
// schemas do not forbid additional properties, since version 1 may gain
// fields, while the API's own response schemas still do.
func TestAlertDocumentSchemasAcceptAddedFields(t *testing.T) {
	t.Parallel()
	schemas := specAPI().Components.Schemas.Map()
	for _, name := range []string{"AlertEvent", "AlertEventExecution", "AlertEventPlan", "AlertEventRule", "AlertFailedStep", "AlertFailedAssertion"} {
		require.Contains(t, schemas, name)
		assert.Nil(t, schemas[name].AdditionalProperties, "%s must accept fields added to version 1", name)
	}
	assert.Equal(t, false, schemas["Channel"].AdditionalProperties, "response schemas stay closed")
}
