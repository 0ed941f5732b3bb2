package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestCreatePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	res := e.request(http.MethodPost, "/plan", map[string]any{
		"name":        "Checkout",
		"description": "Checks out a cart.",
		"labels":      map[string]string{"team": "payments"},
		"document":    json.RawMessage(validDocument),
	})
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	var p Plan
	res.decode(t, &p)
	assert.NotEqual(t, uuid.Nil, p.ID)
	assert.Equal(t, "/plan/"+p.ID.String(), res.Header.Get("Location"))
	assert.Equal(t, `"1"`, res.Header.Get("ETag"))
	assert.Equal(t, "Checkout", p.Name)
	assert.Equal(t, "Checks out a cart.", p.Description)
	assert.Equal(t, Labels{"team": "payments"}, p.Labels)
	assert.Equal(t, int64(1), p.Revision)
	assert.False(t, p.CreatedAt.IsZero())
	require.Len(t, p.Document.Steps, 1)
	assert.Equal(t, "{{base_url}}/health", p.Document.Steps[0].Request.URL)

	// The stored plan is what the API answered.
	stored := e.storedPlan(p.ID)
	assert.Equal(t, "Checkout", stored.Name)
	// Compare decoded: Postgres's jsonb reformats the stored text.
	var storedDoc plan.Document
	require.NoError(t, json.Unmarshal(stored.Document, &storedDoc))
	assert.Equal(t, p.Document, storedDoc)

	got := e.request(http.MethodGet, "/plan/"+p.ID.String(), nil)
	require.Equal(t, http.StatusOK, got.Status)
	assert.Equal(t, `"1"`, got.Header.Get("ETag"))
	var again Plan
	got.decode(t, &again)
	assert.Equal(t, p.ID, again.ID)
	assert.Equal(t, p.Document, again.Document)
}

func TestCreatePlanWithoutLabelsAnswersEmptyObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodPost, "/plan", planBody("Bare", nil))
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"labels":{}`)
}

func TestCreatePlanRejectsInvalidDocumentAndWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	doc := `{"steps":[{"name":"a","request":{"method":"GET","url":"file:///etc/passwd"}},` +
		`{"name":"b","request":{"method":"GET","url":"https://x.example/{{undeclared}}"}}]}`
	res := e.request(http.MethodPost, "/plan", map[string]any{"name": "Bad", "document": json.RawMessage(doc)})
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	p := res.problem(t)
	assert.Equal(t, "validation failed", p.Detail)
	assert.Contains(t, p.locations(), "body.document.steps[0].request.url")
	assert.Contains(t, p.locations(), "body.document.steps[1].request.url")
	assert.Zero(t, e.planCount(), "nothing may be written")
}

func TestCreatePlanEnvAllow(t *testing.T) {
	t.Parallel()
	doc := `{"steps":[{"name":"a","request":{"method":"GET","url":"https://x.example/","headers":{"Authorization":"Bearer {{env.API_TOKEN}}"}}}]}`
	body := map[string]any{"name": "Env", "document": json.RawMessage(doc)}

	strict := newEnv(t)
	res := strict.request(http.MethodPost, "/plan", body)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Zero(t, strict.planCount())

	allowed := newEnv(t, withEnvAllow("API_TOKEN"))
	res = allowed.request(http.MethodPost, "/plan", body)
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
}

func TestCreatePlanSchemaErrors(t *testing.T) {
	t.Parallel()
	manyLabels := map[string]string{}
	for i := range 51 {
		manyLabels[fmt.Sprintf("k%d", i)] = "v"
	}
	cases := []struct {
		name     string
		body     any
		status   int
		location string
	}{
		{"missing name", map[string]any{"document": json.RawMessage(validDocument)}, 422, "body"},
		{"empty name", planBody("", nil), 422, "body.name"},
		{"long name", planBody(strings.Repeat("n", 201), nil), 422, "body.name"},
		{"long description", map[string]any{"name": "x", "description": strings.Repeat("d", 2001), "document": json.RawMessage(validDocument)}, 422, "body.description"},
		{"missing document", map[string]any{"name": "x"}, 422, "body"},
		{"no steps", map[string]any{"name": "x", "document": map[string]any{"steps": []any{}}}, 422, "body.document.steps"},
		{"unknown field", map[string]any{"name": "x", "owner": "me", "document": json.RawMessage(validDocument)}, 422, "body.owner"},
		{"too many labels", planBody("x", manyLabels), 422, "body.labels"},
		{"long label key", planBody("x", map[string]string{strings.Repeat("k", 64): "v"}), 422, "body.labels." + strings.Repeat("k", 64)},
		{"empty label key", planBody("x", map[string]string{"": "v"}), 422, "body.labels."},
		{"label key with colon", planBody("x", map[string]string{"a:b": "v"}), 422, "body.labels.a:b"},
		{"long label value", planBody("x", map[string]string{"k": strings.Repeat("v", 256)}), 422, "body.labels.k"},
		{"malformed JSON", `{"name":`, 400, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			res := e.request(http.MethodPost, "/plan", tc.body)
			require.Equal(t, tc.status, res.Status, "body: %s", res.Body)
			p := res.problem(t)
			assert.Contains(t, p.locations(), tc.location, "body: %s", res.Body)
			assert.Zero(t, e.planCount(), "nothing may be written")
		})
	}
}

func TestCreatePlanDuplicateNameConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createPlan("Same", nil)
	res := e.request(http.MethodPost, "/plan", planBody("Same", nil))
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).Detail, `"Same" already exists`)
	assert.Equal(t, 1, e.planCount())
}

// bigPlanBody returns a create-plan body larger than 1 MiB that is
// otherwise valid.
func bigPlanBody() map[string]any {
	return map[string]any{"name": "Big", "description": strings.Repeat("d", 1<<20), "document": json.RawMessage(validDocument)}
}

func TestCreatePlanBodyTooLarge(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodPost, "/plan", bigPlanBody())
	require.Equal(t, http.StatusRequestEntityTooLarge, res.Status, "body: %.200s", res.Body)
	res.problem(t)
	assert.Zero(t, e.planCount())
}

func TestGetPlanErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/plan/"+uuid.NewString(), nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no plan has id")

	res = e.request(http.MethodGet, "/plan/not-a-uuid", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	assert.Contains(t, res.problem(t).locations(), "path.id")
}

// linkNext extracts the URL of a rel="next" Link header, or "".
func linkNext(t *testing.T, h http.Header) string {
	t.Helper()
	re := regexp.MustCompile(`^<([^>]+)>;\s*rel="next"$`)
	for _, v := range h.Values("Link") {
		if m := re.FindStringSubmatch(v); m != nil {
			return m[1]
		}
	}
	return ""
}

func TestListPlansPaginationFollowsLinkHeader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var want []string
	for i := range 5 {
		name := fmt.Sprintf("walk-%d", i)
		e.createPlan(name, map[string]string{"team": "a", "tier": "gold"})
		want = append(want, name)
	}
	e.createPlan("other", map[string]string{"team": "b"})
	e.createPlan("walk-x", map[string]string{"team": "a"}) // No tier label.

	var got []string
	next := "/plan?name=walk&label=team:a&label=tier:gold&limit=2"
	pages := 0
	for next != "" {
		res := e.request(http.MethodGet, next, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page PlanList
		res.decode(t, &page)
		for _, p := range page.Plans {
			got = append(got, p.Name)
		}
		pages++
		next = linkNext(t, res.Header)
		if next == "" {
			assert.Empty(t, page.NextCursor, "the last page has no cursor")
			break
		}
		u, err := url.Parse(next)
		require.NoError(t, err)
		assert.Equal(t, page.NextCursor, u.Query().Get("cursor"))
		assert.Equal(t, []string{"team:a", "tier:gold"}, u.Query()["label"], "the link keeps the filters")
		require.Less(t, pages, 10, "pagination does not end")
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages)
}

func TestListPlansDefaultsAndEmpty(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/plan", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Contains(t, string(res.Body), `"plans":[]`)
	assert.Empty(t, linkNext(t, res.Header))
}

func TestListPlansRejectsBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.createPlan("one", nil)
	cases := []struct {
		query    string
		status   int
		location string
	}{
		{"label=nocolon", 422, "query.label[0]"},
		{"label=:v", 422, "query.label[0]"},
		{"label=k:a&label=k:b", 422, "query.label[1]"},
		{"cursor=bm90LWEtY3Vyc29y", 400, "query.cursor"},
		{"limit=0", 422, "query.limit"},
		{"limit=201", 422, "query.limit"},
		{"colour=blue", 422, "query.colour"},
	}
	for _, tc := range cases {
		res := e.request(http.MethodGet, "/plan?"+tc.query, nil)
		require.Equal(t, tc.status, res.Status, "%s: %s", tc.query, res.Body)
		assert.Contains(t, res.problem(t).locations(), tc.location, tc.query)
	}
}

func TestUpdatePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Before", map[string]string{"a": "1"})
	path := "/plan/" + p.ID.String()

	body := planBody("After", map[string]string{"b": "2"})
	body["description"] = "changed"
	for i, ifMatch := range []string{`"1"`, `"2"`, `3`} {
		res := e.request(http.MethodPut, path, body, "If-Match", ifMatch)
		require.Equal(t, http.StatusOK, res.Status, "If-Match %s: %s", ifMatch, res.Body)
		rev := int64(i + 2)
		assert.Equal(t, fmt.Sprintf(`"%d"`, rev), res.Header.Get("ETag"))
		var got Plan
		res.decode(t, &got)
		assert.Equal(t, rev, got.Revision)
		assert.Equal(t, "After", got.Name)
		assert.Equal(t, "changed", got.Description)
		assert.Equal(t, Labels{"b": "2"}, got.Labels)
	}
	assert.Equal(t, int64(4), e.storedPlan(p.ID).Revision)
}

func TestUpdatePlanFailuresWriteNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Mine", nil)
	e.createPlan("Taken", nil)
	path := "/plan/" + p.ID.String()
	badDoc := map[string]any{"name": "Mine2", "document": json.RawMessage(
		`{"steps":[{"name":"a","request":{"method":"GET","url":"ftp://x.example/"}}]}`)}

	cases := []struct {
		name    string
		path    string
		body    any
		ifMatch string
		status  int
	}{
		{"missing If-Match", path, planBody("Mine2", nil), "", http.StatusPreconditionRequired},
		{"If-Match star", path, planBody("Mine2", nil), "*", http.StatusPreconditionRequired},
		{"If-Match list", path, planBody("Mine2", nil), `"1", "2"`, http.StatusBadRequest},
		{"stale revision", path, planBody("Mine2", nil), `"7"`, http.StatusPreconditionFailed},
		{"unparsable tag", path, planBody("Mine2", nil), `"abc"`, http.StatusPreconditionFailed},
		{"weak tag of the current revision", path, planBody("Mine2", nil), `W/"1"`, http.StatusPreconditionFailed},
		{"unknown plan", "/plan/" + uuid.NewString(), planBody("Mine2", nil), `"1"`, http.StatusNotFound},
		{"name taken", path, planBody("Taken", nil), `"1"`, http.StatusConflict},
		{"invalid document", path, badDoc, `"1"`, http.StatusUnprocessableEntity},
		{"schema error", path, map[string]any{"name": ""}, `"1"`, http.StatusUnprocessableEntity},
		{"too large", path, bigPlanBody(), `"1"`, http.StatusRequestEntityTooLarge},
	}
	for _, tc := range cases {
		res := e.request(http.MethodPut, tc.path, tc.body, "If-Match", tc.ifMatch)
		require.Equal(t, tc.status, res.Status, "%s: %.300s", tc.name, res.Body)
		res.problem(t)
		stored := e.storedPlan(p.ID)
		assert.Equal(t, int64(1), stored.Revision, tc.name)
		assert.Equal(t, "Mine", stored.Name, tc.name)
	}
	assert.Equal(t, 2, e.planCount())
}

func TestDeletePlan(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Doomed", nil)
	path := "/plan/" + p.ID.String()

	res := e.request(http.MethodDelete, path, nil)
	require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	assert.Empty(t, res.Body)
	assert.Equal(t, http.StatusNotFound, e.request(http.MethodGet, path, nil).Status)

	res = e.request(http.MethodDelete, path, nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	res.problem(t)
}

func TestDeletePlanWithExecutions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Busy", nil)
	keep := e.createPlan("Bystander", nil)
	running := e.execute(p.ID) // Enqueued first, so claimed first.
	queued := e.execute(p.ID)
	other := e.execute(keep.ID)
	ctx := context.Background()

	// Make the first execution running, as a worker would.
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, storage.ExecutionJobKey(running.ID), claimed[0].UniqueKey)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: running.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)

	path := "/plan/" + p.ID.String()
	res := e.request(http.MethodDelete, path, nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).Detail, "cascade=true")
	assert.Equal(t, 2, e.planCount())
	assert.Equal(t, 3, e.executionCount())

	res = e.request(http.MethodDelete, path+"?cascade=true", nil)
	require.Equal(t, http.StatusNoContent, res.Status, "body: %s", res.Body)
	assert.Equal(t, http.StatusNotFound, e.request(http.MethodGet, path, nil).Status)
	assert.Equal(t, 1, e.planCount())
	assert.Equal(t, 1, e.executionCount(), "only the other plan's execution is left")
	_, err = e.raw.ExecutionGetByID(ctx, other.ID)
	require.NoError(t, err)

	qjob, err := e.raw.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(queued.ID))
	require.NoError(t, err)
	assert.Equal(t, storage.JobCancelled, qjob.State, "the queued execution's job never runs")
	rjob, err := e.raw.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(running.ID))
	require.NoError(t, err)
	assert.Equal(t, storage.JobRunning, rjob.State)
	assert.True(t, rjob.CancelRequested, "the running job is asked to stop")
	ojob, err := e.raw.JobGetByUniqueKey(ctx, storage.ExecutionJobKey(other.ID))
	require.NoError(t, err)
	assert.Equal(t, storage.JobAvailable, ojob.State, "other plans' jobs are untouched")

	res = e.request(http.MethodDelete, "/plan/"+uuid.NewString()+"?cascade=true", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
}

// TestPlanFieldsRejectNUL checks that a NUL character in a plan's name,
// description or labels gives the same 422 on every backend, naming the
// field, and writes nothing: Postgres cannot store NUL in text, SQLite can.
func TestPlanFieldsRejectNUL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target := e.createPlan("Target", nil)
	for _, tc := range []struct {
		name     string
		body     map[string]any
		location string
	}{
		{"name", map[string]any{"name": "a\x00b"}, "body.name"},
		{"description", map[string]any{"description": "a\x00b"}, "body.description"},
		{"label value", map[string]any{"labels": map[string]string{"team": "a\x00b"}}, "body.labels.team"},
		{"label key", map[string]any{"labels": map[string]string{"te\x00am": "a"}}, "body.labels.te\x00am"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := planBody("NUL", nil)
			for k, v := range tc.body {
				body[k] = v
			}
			before := e.planCount()
			for _, req := range []struct{ method, path string }{
				{http.MethodPost, "/plan"},
				{http.MethodPut, "/plan/" + target.ID.String()},
			} {
				res := e.request(req.method, req.path, body, "If-Match", `"1"`)
				require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s %s: %s", req.method, req.path, res.Body)
				p := res.problem(t)
				assert.Contains(t, p.locations(), tc.location, "%s %s", req.method, req.path)
			}
			require.Equal(t, before, e.planCount())
			assert.Equal(t, "Target", e.storedPlan(target.ID).Name)
		})
	}
}

func TestPlanRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	body := planBody("Kept two weeks", nil)
	body["retention"] = "14d"
	res := e.request(http.MethodPost, "/plan", body)
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	var p Plan
	res.decode(t, &p)
	require.NotNil(t, p.Retention)
	assert.Equal(t, "14d", *p.Retention)
	stored := e.storedPlan(p.ID)
	require.NotNil(t, stored.Retention)
	assert.Equal(t, 14*24*time.Hour, *stored.Retention)

	body["retention"] = "36h"
	res = e.request(http.MethodPut, "/plan/"+p.ID.String(), body, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	res.decode(t, &p)
	assert.Equal(t, "36h0m0s", *p.Retention)

	delete(body, "retention")
	res = e.request(http.MethodPut, "/plan/"+p.ID.String(), body, "If-Match", `"2"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"retention":null`, "without retention the plan follows the server's default")

	forever := planBody("Kept forever", nil)
	forever["retention"] = "0"
	res = e.request(http.MethodPost, "/plan", forever)
	require.Equal(t, http.StatusCreated, res.Status, "body: %s", res.Body)
	assert.Contains(t, string(res.Body), `"retention":"0"`)
}

func TestPlanRetentionValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, bad := range []string{"30m", "-1d", "1.5d", "a month", "1000000h"} {
		body := planBody("Bad retention "+bad, nil)
		body["retention"] = bad
		res := e.request(http.MethodPost, "/plan", body)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", bad, res.Body)
		assert.Equal(t, []string{"body.retention"}, res.problem(t).locations(), bad)
	}
	assert.Zero(t, e.planCount(), "nothing is written")
}
