package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

const testToken = "s3cret-token-value"

func TestAuthRequiredWhenTokenSet(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withToken(testToken))
	p := e.createPlan("Guarded", nil) // Sent with the token.
	x := e.execute(p.ID)

	protected := []struct{ method, path string }{
		{http.MethodPost, "/plan"},
		{http.MethodGet, "/plan"},
		{http.MethodGet, "/plan/" + p.ID.String()},
		{http.MethodPut, "/plan/" + p.ID.String()},
		{http.MethodDelete, "/plan/" + p.ID.String()},
		{http.MethodPost, "/plan/" + p.ID.String() + "/execute"},
		{http.MethodGet, "/execution"},
		{http.MethodGet, "/execution/" + x.ID.String()},
		{http.MethodPost, "/execution/" + x.ID.String() + "/cancel"},
		{http.MethodGet, "/queue/stats"},
		{http.MethodGet, "/job/1"},
		{http.MethodGet, "/job"},
		{http.MethodGet, "/overview"},
		{http.MethodGet, "/no-such-route"},
		{http.MethodGet, "/docs/../plan"},
		{http.MethodGet, "/ui/../plan"},
		{http.MethodGet, "/assets/../plan"},
	}
	bad := map[string]string{
		"none":        "",
		"wrong token": "Bearer nope",
		"wrong case":  "Bearer " + strings.ToUpper(testToken),
		"basic":       "Basic " + testToken,
		"bare token":  testToken,
		"prefix":      "Bearer " + testToken[:5],
	}
	for _, r := range protected {
		for name, auth := range bad {
			body := any(nil)
			if r.method == http.MethodPost || r.method == http.MethodPut {
				body = planBody("Sneaky", nil)
			}
			res := e.request(r.method, r.path, body, "Authorization", auth)
			require.Equal(t, http.StatusUnauthorized, res.Status, "%s %s with %s: %s", r.method, r.path, name, res.Body)
			assert.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer")
			res.problem(t)
		}
	}
	// Nothing was written by the rejected requests.
	assert.Equal(t, 1, e.planCount())
	assert.Equal(t, "Guarded", e.storedPlan(p.ID).Name)
	assert.Equal(t, 1, e.executionCount())
	stored, err := e.raw.ExecutionGetByID(context.Background(), x.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionQueued, stored.Status)

	// The scheme is case-insensitive.
	res := e.request(http.MethodGet, "/plan/"+p.ID.String(), nil, "Authorization", "bearer "+testToken)
	assert.Equal(t, http.StatusOK, res.Status)

	public := []string{"/healthz", "/readyz", "/docs", "/docs/assets/web-components.min.js",
		"/openapi.json", "/openapi.yaml", "/openapi-3.0.json", "/openapi-3.0.yaml", "/schemas/Plan.json"}
	for _, path := range public {
		res := e.request(http.MethodGet, path, nil, "Authorization", "")
		assert.Equal(t, http.StatusOK, res.Status, path)
	}

	assert.NotContains(t, e.logs.String(), testToken, "the token is never logged")
	assert.NotContains(t, e.logs.String(), "Authorization")
}

func TestAuthOffWithoutToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/plan", nil, "Authorization", "")
	assert.Equal(t, http.StatusOK, res.Status)
	res = e.request(http.MethodGet, "/plan", nil, "Authorization", "Bearer anything")
	assert.Equal(t, http.StatusOK, res.Status)
}

func TestIsPublic(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"/healthz":                  true,
		"/readyz":                   true,
		"/docs":                     true,
		"/docs/":                    true,
		"/docs/assets/styles.css":   true,
		"/openapi.json":             true,
		"/openapi-3.0.yaml":         true,
		"/schemas/Plan.json":        true,
		"/":                         true,
		"/ui":                       true,
		"/ui/queue":                 true,
		"/assets/index-AbC.js":      true,
		"/ui/../plan":               false,
		"/assets/../job/1":          false,
		"/uix":                      false,
		"/assets":                   false,
		"/overview":                 false,
		"/plan":                     false,
		"/healthz/x":                false,
		"/openapi.json/../plan":     false,
		"/docs/assets/../../plan":   false,
		"/schemas//x":               false,
		"/openapi":                  false,
		"/docsX":                    false,
		"/job/1":                    false,
		"/queue/stats":              false,
		"/execution/x/cancel":       false,
		"/plan/x/execute":           false,
		"/schemas/../execution/abc": false,
	}
	for p, want := range cases {
		assert.Equal(t, want, isPublic(p), p)
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc", "abc", true},
		{"bearer abc", "abc", true},
		{"  Bearer   abc  ", "abc", true},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Basic abc", "", false},
		{"abc", "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		got, ok := bearerToken(tc.header)
		assert.Equal(t, tc.ok, ok, tc.header)
		assert.Equal(t, tc.token, got, tc.header)
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	res := e.request(http.MethodGet, "/healthz", nil, "X-Request-ID", "abc.DEF_123-x")
	assert.Equal(t, "abc.DEF_123-x", res.Header.Get("X-Request-ID"), "a sane ID is kept")

	for _, bad := range []string{strings.Repeat("a", 129), "has space", "semi;colon", "ünï"} {
		res = e.request(http.MethodGet, "/healthz", nil, "X-Request-ID", bad)
		got := res.Header.Get("X-Request-ID")
		assert.NotEqual(t, bad, got)
		_, err := uuid.Parse(got)
		assert.NoError(t, err, "a generated ID replaces %q", bad)
	}

	a := e.request(http.MethodGet, "/healthz", nil).Header.Get("X-Request-ID")
	b := e.request(http.MethodGet, "/healthz", nil).Header.Get("X-Request-ID")
	assert.NotEmpty(t, a)
	assert.NotEqual(t, a, b, "each request gets its own ID")

	// Errors and 401s carry it too.
	res = e.request(http.MethodGet, "/plan/"+uuid.NewString(), nil, "X-Request-ID", "trace-404")
	assert.Equal(t, "trace-404", res.Header.Get("X-Request-ID"))
	guarded := newEnv(t, withToken(testToken))
	res = guarded.request(http.MethodGet, "/plan", nil, "Authorization", "", "X-Request-ID", "trace-401")
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	assert.Equal(t, "trace-401", res.Header.Get("X-Request-ID"))
}

func TestValidRequestID(t *testing.T) {
	t.Parallel()
	assert.True(t, validRequestID("a"))
	assert.True(t, validRequestID(strings.Repeat("Z", 128)))
	assert.False(t, validRequestID(""))
	assert.False(t, validRequestID(strings.Repeat("Z", 129)))
	assert.False(t, validRequestID("a/b"))
	assert.False(t, validRequestID("a\nb"))
}

// serveDirect runs one request through h in this goroutine, so that the log
// record is written before it returns.
func serveDirect(h http.Handler, method, target string, headers ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRequestLog(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := NewHandler(Deps{
		Store:    openStore(t),
		Logger:   slog.New(slog.NewJSONHandler(logs, nil)),
		APIToken: testToken,
	})

	id := uuid.NewString()
	rec := serveDirect(h, http.MethodGet, "/plan/"+id, "Authorization", "Bearer "+testToken, "X-Request-ID", "log-1")
	require.Equal(t, http.StatusNotFound, rec.Code)
	rec = serveDirect(h, http.MethodGet, "/plan/"+id, "X-Request-ID", "log-2")
	require.Equal(t, http.StatusUnauthorized, rec.Code)

	recs := logs.records(t)
	require.Len(t, recs, 2, "one record per request: %s", logs.String())
	for i, want := range []struct {
		id     string
		status float64
	}{{"log-1", 404}, {"log-2", 401}} {
		r := recs[i]
		assert.Equal(t, "http request", r["msg"])
		assert.Equal(t, "GET", r["method"])
		assert.Equal(t, "GET /plan/{id}", r["route"], "the route is the mux pattern")
		assert.Equal(t, want.status, r["status"])
		assert.Equal(t, want.id, r["request_id"])
		assert.Contains(t, r, "duration")
	}
	assert.NotContains(t, logs.String(), testToken)
}

// leakyStore fails the way a careless driver would, with SQL in the error.
type leakyStore struct{ storage.Store }

const leakText = "pq: syntax error at SELECT secret_column"

func (leakyStore) PlanGetByID(context.Context, uuid.UUID) (*storage.Plan, error) {
	return nil, errors.New(leakText)
}

func (leakyStore) PlanList(context.Context, *storage.PlanListParams) (*storage.PlanPage, error) {
	return nil, fmt.Errorf("list plans: %w", errors.New(leakText))
}

func (leakyStore) PlanCreate(context.Context, *storage.PlanCreateParams) (*storage.Plan, error) {
	// A conflict whose text carries SQL: the mapping keeps the status, not the text.
	return nil, fmt.Errorf("%w: %s", storage.ErrConflict, leakText)
}

func (leakyStore) JobStats(context.Context) ([]*storage.JobQueueStats, error) {
	return nil, fmt.Errorf("%w: %s", storage.ErrInvalidInput, leakText)
}

func TestStorageErrorsDoNotLeak(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wrapStore(func(s storage.Store) storage.Store { return leakyStore{s} }))
	cases := []struct {
		method, path string
		body         any
		status       int
	}{
		{http.MethodGet, "/plan/" + uuid.NewString(), nil, http.StatusInternalServerError},
		{http.MethodGet, "/plan", nil, http.StatusInternalServerError},
		{http.MethodPost, "/plan", planBody("x", nil), http.StatusConflict},
		{http.MethodGet, "/queue/stats", nil, http.StatusBadRequest},
	}
	for _, tc := range cases {
		res := e.request(tc.method, tc.path, tc.body, "X-Request-ID", "leak-check")
		require.Equal(t, tc.status, res.Status, "%s %s: %s", tc.method, tc.path, res.Body)
		res.problem(t)
		assert.NotContains(t, string(res.Body), "secret_column", tc.path)
		assert.NotContains(t, string(res.Body), "pq:", tc.path)
		assert.NotContains(t, string(res.Body), "SELECT", tc.path)
	}
	res := e.request(http.MethodGet, "/plan", nil)
	assert.Equal(t, "internal error", res.problem(t).Detail)

	// The 500s are logged with the request ID and the real error.
	var found int
	for _, r := range e.logs.records(t) {
		if r["msg"] == "internal error" && r["request_id"] == "leak-check" {
			assert.Contains(t, r["err"], "secret_column")
			found++
		}
	}
	assert.Equal(t, 2, found)
}

// unavailableStore reports the database as unreachable, or slow.
type unavailableStore struct{ storage.Store }

func (unavailableStore) PlanGetByID(context.Context, uuid.UUID) (*storage.Plan, error) {
	return nil, fmt.Errorf("get plan: %w: connection refused", storage.ErrUnavailable)
}

func (unavailableStore) PlanList(context.Context, *storage.PlanListParams) (*storage.PlanPage, error) {
	return nil, fmt.Errorf("list plans: %w", context.DeadlineExceeded)
}

func TestStorageUnavailableGives503(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wrapStore(func(s storage.Store) storage.Store { return unavailableStore{s} }))
	for _, path := range []string{"/plan/" + uuid.NewString(), "/plan"} {
		res := e.request(http.MethodGet, path, nil)
		require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s: %s", path, res.Body)
		assert.Equal(t, "storage unavailable", res.problem(t).Detail)
		assert.Equal(t, retryAfterSeconds, res.Header.Get("Retry-After"))
		assert.NotContains(t, string(res.Body), "connection refused")
	}
}

// panickyStore panics in PlanGetByID.
type panickyStore struct{ storage.Store }

func (panickyStore) PlanGetByID(context.Context, uuid.UUID) (*storage.Plan, error) {
	panic("secret panic value")
}

func TestPanicGivesBare500(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wrapStore(func(s storage.Store) storage.Store { return panickyStore{s} }))
	res := e.request(http.MethodGet, "/plan/"+uuid.NewString(), nil, "X-Request-ID", "boom-1")
	require.Equal(t, http.StatusInternalServerError, res.Status)
	p := res.problem(t)
	assert.Equal(t, "internal error", p.Detail)
	assert.NotContains(t, string(res.Body), "secret panic value")
	assert.Equal(t, "boom-1", res.Header.Get("X-Request-ID"))
	assert.Contains(t, e.logs.String(), "secret panic value", "the panic is logged")

	// The server keeps serving.
	assert.Equal(t, http.StatusOK, e.request(http.MethodGet, "/healthz", nil).Status)
}

func TestWithTimeoutSetsDeadline(t *testing.T) {
	t.Parallel()
	var deadline time.Time
	var ok bool
	h := withTimeout(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		deadline, ok = r.Context().Deadline()
	}), time.Hour)
	serveDirect(h, http.MethodGet, "/")
	require.True(t, ok, "the request context has a deadline")
	assert.False(t, deadline.IsZero())
}

// TestUnknownRoutesAreProblems checks that the mux's own 404 and 405 are
// problem documents like every other error, with Allow on the 405, while
// an operation's own 404 passes unchanged.
func TestUnknownRoutesAreProblems(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		method, path string
		status       int
		allow        []string
	}{
		{http.MethodGet, "/no-such-route", http.StatusNotFound, nil},
		{http.MethodPost, "/plan/" + uuid.NewString() + "/nothing", http.StatusNotFound, nil},
		{http.MethodDelete, "/plan", http.StatusMethodNotAllowed, []string{"GET", "HEAD", "POST"}},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, []string{"GET", "HEAD"}},
		{http.MethodPatch, "/plan/" + uuid.NewString(), http.StatusMethodNotAllowed, []string{"DELETE", "GET", "HEAD", "PUT"}},
	} {
		res := e.request(tc.method, tc.path, nil)
		require.Equal(t, tc.status, res.Status, "%s %s: %s", tc.method, tc.path, res.Body)
		p := res.problem(t)
		assert.Equal(t, http.StatusText(tc.status), p.Title)
		assert.NotEmpty(t, p.Detail)
		assert.NotContains(t, string(res.Body), "page not found")
		if tc.allow == nil {
			assert.Empty(t, res.Header.Get("Allow"))
			continue
		}
		allow := strings.Split(res.Header.Get("Allow"), ", ")
		sort.Strings(allow)
		assert.Equal(t, tc.allow, allow, "%s %s", tc.method, tc.path)
		assert.Contains(t, p.Detail, res.Header.Get("Allow"))
	}

	// An operation's own 404 keeps its detail.
	res := e.request(http.MethodGet, "/plan/"+uuid.NewString(), nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no plan has id")
}
