package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// validDocument is a plan document that passes every check.
const validDocument = `{"variables":{"base_url":"https://api.example.com"},` +
	`"steps":[{"name":"Health check","request":{"method":"GET","url":"{{base_url}}/health"},"assert":{"status":200}}]}`

// openStore returns a fresh store, closed when the test ends: an
// in-memory SQLite store, or a Postgres store in a schema of its own when
// the test runs under TestPostgres (see onPostgres).
func openStore(t *testing.T) storage.Store {
	t.Helper()
	if onPostgres(t) {
		st, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 8})
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, st.Close()) })
		return st
	}
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// records decodes the JSON log lines written so far.
func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "log line %q", line)
		out = append(out, rec)
	}
	return out
}

// testEnv is a running API over a real store: in-memory SQLite, or
// Postgres under TestPostgres.
type testEnv struct {
	t      *testing.T
	store  storage.Store
	raw    storage.Store // The unwrapped store, for checks behind a wrapper.
	srv    *httptest.Server
	logs   *syncBuffer
	wakes  *atomic.Int64
	token  string
	client *http.Client
}

// envOption adjusts the Deps of a testEnv.
type envOption func(*Deps)

// withToken turns authentication on.
func withToken(token string) envOption { return func(d *Deps) { d.APIToken = token } }

// withEnvAllow lets plans read these environment variables.
func withEnvAllow(names ...string) envOption {
	return func(d *Deps) { d.PlanEnvAllow = names }
}

// wrapStore replaces the store the API sees, keeping the real one in raw.
func wrapStore(wrap func(storage.Store) storage.Store) envOption {
	return func(d *Deps) { d.Store = wrap(d.Store) }
}

// newEnv serves NewHandler over a fresh store (see openStore) on 127.0.0.1.
func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	raw := openStore(t)
	e := &testEnv{t: t, raw: raw, logs: &syncBuffer{}, wakes: &atomic.Int64{}}
	deps := Deps{
		Store:    raw,
		Logger:   slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Version:  "test",
		WakeFunc: func() { e.wakes.Add(1) },
	}
	for _, o := range opts {
		o(&deps)
	}
	e.store, e.token = deps.Store, deps.APIToken
	e.srv = httptest.NewServer(NewHandler(deps))
	t.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e
}

// response is a finished HTTP exchange.
type response struct {
	Status int
	Header http.Header
	Body   []byte
}

// decode unmarshals the body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.Body, v), "body: %s", r.Body)
}

// problem decodes a problem document and checks its content type.
func (r *response) problem(t *testing.T) problemDoc {
	t.Helper()
	require.Equal(t, "application/problem+json", r.Header.Get("Content-Type"), "body: %s", r.Body)
	var p problemDoc
	r.decode(t, &p)
	require.Equal(t, r.Status, p.Status)
	return p
}

// problemDoc is the shape of an application/problem+json body.
type problemDoc struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Location string `json:"location"`
		Message  string `json:"message"`
		Value    any    `json:"value"`
	} `json:"errors"`
}

// locations returns the location of every error detail.
func (p problemDoc) locations() []string {
	var out []string
	for _, e := range p.Errors {
		out = append(out, e.Location)
	}
	return out
}

// request sends one request. body may be nil, a string (sent as is) or any
// value (sent as JSON). headers are name, value pairs. The env's token, if
// any, is sent unless headers set Authorization.
func (e *testEnv) request(method, path string, body any, headers ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	require.NoError(e.t, err)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if e.token != "" {
		req.Header.Set("Authorization", "Bearer "+e.token)
	}
	require.Zero(e.t, len(headers)%2, "headers must be name, value pairs")
	for i := 0; i < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.client.Do(req)
	require.NoError(e.t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(e.t, err)
	return &response{Status: res.StatusCode, Header: res.Header, Body: b}
}

// planBody returns a create-plan body with a valid document.
func planBody(name string, labels map[string]string) map[string]any {
	b := map[string]any{"name": name, "document": json.RawMessage(validDocument)}
	if labels != nil {
		b["labels"] = labels
	}
	return b
}

// createPlan creates a plan through the API and returns it.
func (e *testEnv) createPlan(name string, labels map[string]string) Plan {
	e.t.Helper()
	res := e.request(http.MethodPost, "/plan", planBody(name, labels))
	require.Equal(e.t, http.StatusCreated, res.Status, "body: %s", res.Body)
	var p Plan
	res.decode(e.t, &p)
	return p
}

// execute starts an execution through the API and returns it.
func (e *testEnv) execute(planID uuid.UUID, headers ...string) Execution {
	e.t.Helper()
	res := e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", planID), nil, headers...)
	require.Equal(e.t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var x Execution
	res.decode(e.t, &x)
	return x
}

// planCount returns how many plans the store holds.
func (e *testEnv) planCount() int {
	e.t.Helper()
	page, err := e.raw.PlanList(context.Background(), &storage.PlanListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	return len(page.Plans)
}

// executionCount returns how many executions the store holds.
func (e *testEnv) executionCount() int {
	e.t.Helper()
	page, err := e.raw.ExecutionList(context.Background(), &storage.ExecutionListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	return len(page.Executions)
}

// jobs returns every job the store holds, oldest first.
func (e *testEnv) jobs() []*storage.Job {
	e.t.Helper()
	page, err := e.raw.JobList(context.Background(), &storage.JobListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	slices.Reverse(page.Jobs) // JobList is newest first.
	return page.Jobs
}

// storedPlan reads a plan straight from the store.
func (e *testEnv) storedPlan(id uuid.UUID) *storage.Plan {
	e.t.Helper()
	p, err := e.raw.PlanGetByID(context.Background(), id)
	require.NoError(e.t, err)
	return p
}
