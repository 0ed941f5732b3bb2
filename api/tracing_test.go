package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/tracing"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// tracedServer is the API and a worker pool over one store, both tracing
// into one span recorder (tp nil: neither traces), and a loopback target
// that records the traceparent header of every request.
type tracedServer struct {
	url    string
	target string
	store  storage.Store
	rec    *tracetest.SpanRecorder

	mu   sync.Mutex
	seen []string
}

func newTracedServer(t *testing.T, st storage.Store, traced bool) *tracedServer {
	t.Helper()
	ts := &tracedServer{store: st, rec: tracetest.NewSpanRecorder()}
	var tp trace.TracerProvider
	if traced {
		tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(ts.rec))
	}
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.mu.Lock()
		ts.seen = append(ts.seen, r.Header.Get("Traceparent"))
		ts.mu.Unlock()
	}))
	t.Cleanup(target.Close)
	ts.target = target.URL

	log := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	pool := worker.New(st, worker.Config{Workers: 2, PollInterval: 50 * time.Millisecond, Logger: log, TracerProvider: tp})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log}).Register(pool)
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	srv := httptest.NewServer(NewHandler(Deps{Store: st, Logger: log, WakeFunc: pool.Wake, TracerProvider: tp}))
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

// run creates a plan of two steps against the target, executes it, and
// waits for it to pass.
func (ts *tracedServer) run(t *testing.T) Execution {
	t.Helper()
	doc := map[string]any{"steps": []any{
		map[string]any{"name": "first", "request": map[string]any{"method": "GET", "url": ts.target + "/a"}},
		map[string]any{"name": "second", "request": map[string]any{"method": "GET", "url": ts.target + "/b"}},
	}}
	var plan Plan
	post(t, ts.url+"/plan", map[string]any{"name": "traced", "document": doc}, http.StatusCreated, &plan)
	var exec Execution
	post(t, ts.url+"/plan/"+plan.ID.String()+"/execute", nil, http.StatusAccepted, &exec)
	require.Eventually(t, func() bool {
		get(t, ts.url+"/execution/"+exec.ID.String(), "", http.StatusOK, &exec)
		return storage.ExecutionStatus(exec.Status).Final()
	}, 30*time.Second, 20*time.Millisecond)
	require.Equal(t, "passed", exec.Status)
	return exec
}

func (ts *tracedServer) headers() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]string(nil), ts.seen...)
}

// waitSpans waits for spans with each of names to end, and returns the
// ended spans.
func (ts *tracedServer) waitSpans(t *testing.T, names ...string) []sdktrace.ReadOnlySpan {
	t.Helper()
	var spans []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		spans = ts.rec.Ended()
		have := map[string]bool{}
		for _, s := range spans {
			have[s.Name()] = true
		}
		for _, n := range names {
			if !have[n] {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "spans %v", names)
	return spans
}

// TestTracingFollowsAnExecutionFromRequestToTarget runs an execution with
// tracing on, from the API request to the target's headers.
func TestTracingFollowsAnExecutionFromRequestToTarget(t *testing.T) {
	t.Parallel()
	ts := newTracedServer(t, openStore(t), true)
	exec := ts.run(t)
	spans := ts.waitSpans(t, "POST /plan/{id}/execute", "job "+planjob.Kind, "execution", "step first", "step second")

	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[s.Name()] = s
		assert.NotContains(t, s.Name(), exec.ID.String(), "span names hold route templates, not raw paths")
	}
	request, job, run := byName["POST /plan/{id}/execute"], byName["job "+planjob.Kind], byName["execution"]
	assert.Equal(t, trace.SpanKindServer, request.SpanKind())
	assert.Contains(t, request.Attributes(), attribute.String("http.route", "/plan/{id}/execute"))
	require.Contains(t, byName, "POST /plan", "every request has its span")
	require.Contains(t, byName, "GET /execution/{id}")

	// The job stored the request's trace context, and its span links to it.
	require.NotNil(t, exec.JobID)
	stored, err := ts.store.JobGet(context.Background(), *exec.JobID)
	require.NoError(t, err)
	assert.Equal(t, request.SpanContext().SpanID(), tracing.SpanContext(stored.TraceContext).SpanID(), "the enqueuing request's span")
	require.Len(t, job.Links(), 1)
	assert.Equal(t, request.SpanContext().TraceID(), job.Links()[0].SpanContext.TraceID())
	assert.Equal(t, request.SpanContext().SpanID(), job.Links()[0].SpanContext.SpanID())

	// One trace for the run: job → execution → steps → HTTP client spans.
	runTrace := job.SpanContext().TraceID()
	assert.NotEqual(t, request.SpanContext().TraceID(), runTrace, "linked, not a child: the run is a trace of its own")
	assert.Equal(t, job.SpanContext().SpanID(), run.Parent().SpanID())
	var clients int
	for _, s := range spans {
		switch {
		case s.Name() == "step first" || s.Name() == "step second":
			assert.Equal(t, run.SpanContext().SpanID(), s.Parent().SpanID(), s.Name())
			assert.Equal(t, runTrace, s.SpanContext().TraceID())
		case s.SpanKind() == trace.SpanKindClient:
			clients++
			assert.Equal(t, runTrace, s.SpanContext().TraceID())
		}
	}
	assert.Equal(t, 2, clients)

	// The result and the target name the same trace.
	require.NotNil(t, exec.Result)
	assert.Equal(t, runTrace.String(), exec.Result.TraceID, "GET /execution/{id} shows result.trace_id")
	headers := ts.headers()
	require.Len(t, headers, 2)
	for _, h := range headers {
		assert.Equal(t, runTrace, tracing.SpanContext(h).TraceID(), "the target saw the run's trace")
	}
}

func TestTracingOffSendsNoTraceparentAndStoresNoTraceContext(t *testing.T) {
	t.Parallel()
	ts := newTracedServer(t, openStore(t), false)
	exec := ts.run(t)
	assert.Equal(t, []string{"", ""}, ts.headers())
	require.NotNil(t, exec.Result)
	assert.Empty(t, exec.Result.TraceID)
	require.NotNil(t, exec.JobID)
	stored, err := ts.store.JobGet(context.Background(), *exec.JobID)
	require.NoError(t, err)
	assert.Empty(t, stored.TraceContext)
	assert.Empty(t, ts.rec.Ended())
}

func TestTracingNamesRequestsByRouteTemplate(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	srv := httptest.NewServer(NewHandler(Deps{Store: openStore(t), Logger: slog.New(slog.DiscardHandler), TracerProvider: tp}))
	t.Cleanup(srv.Close)

	// A client's own trace is continued.
	parent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, path := range []string{"/plan/0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d", "/no/such/route", "/healthz", "/openapi.json"} {
		req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Traceparent", parent)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
	}
	// A server span ends just after its response is written: wait for it.
	names := map[string]sdktrace.ReadOnlySpan{}
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			names[s.Name()] = s
		}
		return len(rec.Ended()) >= 3
	}, 30*time.Second, 5*time.Millisecond)
	require.Len(t, names, 3, "no span for the health check: %v", names)
	plan := names["GET /plan/{id}"]
	require.NotNil(t, plan)
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", plan.SpanContext().TraceID().String(), "the incoming traceparent is continued")
	assert.Equal(t, "00f067aa0ba902b7", plan.Parent().SpanID().String())
	assert.NotNil(t, names["GET"], "no route: the method alone")
	assert.NotNil(t, names["GET /openapi.json"])
}

// TestTracingDoesNotNameSpansForUnknownMethods sends methods that no route
// has: a client must not choose span names (which tracing backends index),
// so a method that is not a standard one is named HTTP, as OpenTelemetry's
// HTTP conventions say.
func TestTracingDoesNotNameSpansForUnknownMethods(t *testing.T) {
	t.Parallel()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	srv := httptest.NewServer(NewHandler(Deps{Store: openStore(t), Logger: slog.New(slog.DiscardHandler), TracerProvider: tp}))
	t.Cleanup(srv.Close)

	for _, path := range []string{"/no/such/route", "/docs", "/plan"} {
		req, err := http.NewRequest("X-CLIENT-CHOSEN-1234", srv.URL+path, nil)
		require.NoError(t, err)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
	}
	var names []string
	require.Eventually(t, func() bool {
		names = names[:0]
		for _, s := range rec.Ended() {
			names = append(names, s.Name())
		}
		return len(names) >= 3
	}, 30*time.Second, 5*time.Millisecond)
	assert.ElementsMatch(t, []string{"HTTP", "HTTP /docs", "HTTP"}, names)
}
