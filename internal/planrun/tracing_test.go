package planrun_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/tracing"
)

// headerTarget is a loopback target that records the traceparent header
// of every request, by path, in order.
type headerTarget struct {
	mu   sync.Mutex
	seen map[string][]string
	url  string
}

func newHeaderTarget(t *testing.T) *headerTarget {
	t.Helper()
	ht := &headerTarget{seen: map[string][]string{}}
	flaky := 0
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ht.mu.Lock()
		defer ht.mu.Unlock()
		ht.seen[r.URL.Path] = append(ht.seen[r.URL.Path], r.Header.Get("Traceparent"))
		if r.URL.Path == "/flaky" {
			flaky++
			if flaky == 1 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	ht.url = srv.URL
	return ht
}

// headers returns the traceparent headers that requests for path carried.
func (ht *headerTarget) headers(path string) []string {
	ht.mu.Lock()
	defer ht.mu.Unlock()
	return append([]string(nil), ht.seen[path]...)
}

// ownTraceparent is the traceparent header a plan sets itself.
const ownTraceparent = "00-11111111111111111111111111111111-2222222222222222-01"

// tracedPlan has a plain step, a step that turns propagation off, a step
// that sets its own traceparent, and a step that passes on its second
// attempt.
func tracedPlan(base string) *plan.Document {
	off := false
	own := get("own header", base+"/own")
	own.Request.Headers = map[string]string{"traceparent": ownTraceparent}
	quiet := get("quiet", base+"/quiet")
	quiet.PropagateTrace = &off
	flaky := get("flaky", base+"/flaky")
	flaky.Retries = 1
	flaky.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	return &plan.Document{Steps: []plan.Step{get("plain", base+"/plain"), quiet, own, flaky}}
}

// tracedRun runs doc inside a root span of a provider that records every
// span, and returns the root span's context and the ended spans.
func tracedRun(t *testing.T, r *planrun.Runner, doc *plan.Document) (trace.SpanContext, []sdktrace.ReadOnlySpan) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, root := tp.Tracer("test").Start(context.Background(), "execution")
	res, err := r.Run(ctx, doc)
	root.End()
	require.NoError(t, err)
	require.Equal(t, planrun.StatusPassed, res.Status, "%+v", res.Steps)
	return root.SpanContext(), rec.Ended()
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestRunTracesEachStepAndItsRequests(t *testing.T) {
	t.Parallel()
	target := newHeaderTarget(t)
	doc := tracedPlan(target.url)
	root, spans := tracedRun(t, newRunner(), doc)

	steps := map[string]sdktrace.ReadOnlySpan{}
	clients := map[trace.SpanID][]sdktrace.ReadOnlySpan{} // By parent.
	for _, s := range spans {
		require.Equal(t, root.TraceID(), s.SpanContext().TraceID(), "one trace: %s", s.Name())
		switch s.SpanKind() {
		case trace.SpanKindInternal:
			if s.Name() != "execution" {
				require.Equal(t, root.SpanID(), s.Parent().SpanID(), "a step span is a child of the execution's: %s", s.Name())
				steps[s.Name()] = s
			}
		case trace.SpanKindClient:
			clients[s.Parent().SpanID()] = append(clients[s.Parent().SpanID()], s)
		}
	}
	require.Len(t, steps, 4, "one span per step")
	for i, st := range doc.Steps {
		s, ok := steps["step "+st.Name]
		require.True(t, ok, "span of step %q", st.Name)
		a := attrs(s)
		assert.Equal(t, st.Name, a[planrun.AttrStepName].AsString())
		assert.Equal(t, int64(i), a[planrun.AttrStepIndex].AsInt64())
		assert.Equal(t, planrun.StatusPassed, a[planrun.AttrStepStatus].AsString())
		assert.Equal(t, int64(http.StatusOK), a[planrun.AttrHTTPStatus].AsInt64())
		assert.Equal(t, codes.Unset, s.Status().Code)
	}
	assert.Equal(t, int64(2), attrs(steps["step flaky"])[planrun.AttrStepAttempts].AsInt64())
	assert.Equal(t, int64(1), attrs(steps["step plain"])[planrun.AttrStepAttempts].AsInt64())

	clientOf := func(step string) []sdktrace.ReadOnlySpan {
		return clients[steps["step "+step].SpanContext().SpanID()]
	}
	for _, name := range []string{"plain", "quiet", "own header"} {
		require.Len(t, clientOf(name), 1, "one client span inside step %q", name)
	}
	flaky := clientOf("flaky")
	require.Len(t, flaky, 2, "a client span per attempt")

	// The target saw the client span's own traceparent.
	plain := clientOf("plain")[0]
	assert.Equal(t, []string{tracing.TraceParent(trace.ContextWithSpanContext(context.Background(), plain.SpanContext()))},
		target.headers("/plain"))
	assert.Equal(t, root.TraceID(), tracing.SpanContext(target.headers("/plain")[0]).TraceID(), "the target joins the run's trace")
	assert.Equal(t, "GET", plain.Name())
	assert.Equal(t, "127.0.0.1", attrs(plain)["server.address"].AsString())

	assert.Equal(t, []string{""}, target.headers("/quiet"), "propagate_trace false sends none")
	assert.Equal(t, []string{ownTraceparent}, target.headers("/own"), "a plan's own traceparent is sent as written")

	got := target.headers("/flaky")
	require.Len(t, got, 2)
	var sent []trace.SpanID
	for _, h := range got {
		sent = append(sent, tracing.SpanContext(h).SpanID())
	}
	assert.ElementsMatch(t, []trace.SpanID{flaky[0].SpanContext().SpanID(), flaky[1].SpanContext().SpanID()}, sent,
		"each attempt sends its own client span")
	var failed, passed int
	for _, c := range flaky {
		switch attrs(c)[planrun.AttrHTTPStatus].AsInt64() {
		case http.StatusServiceUnavailable:
			failed++
			assert.Equal(t, codes.Error, c.Status().Code)
		case http.StatusOK:
			passed++
		}
	}
	assert.Equal(t, []int{1, 1}, []int{failed, passed})
}

func TestRunWithoutPropagationStillTracesButSendsNoHeader(t *testing.T) {
	t.Parallel()
	target := newHeaderTarget(t)
	r := newRunner()
	r.NoTracePropagation = true
	_, spans := tracedRun(t, r, tracedPlan(target.url))
	assert.Len(t, spans, 1+4+5, "the execution, 4 steps, 5 requests")
	for _, path := range []string{"/plain", "/quiet"} {
		assert.Equal(t, []string{""}, target.headers(path), path)
	}
	assert.Equal(t, []string{"", ""}, target.headers("/flaky"))
	assert.Equal(t, []string{ownTraceparent}, target.headers("/own"), "the plan's own header is not the runner's to drop")
}

func TestRunWithoutASpanSendsNoTraceHeader(t *testing.T) {
	t.Parallel()
	target := newHeaderTarget(t)
	res, err := newRunner().Run(context.Background(), tracedPlan(target.url))
	require.NoError(t, err)
	require.Equal(t, planrun.StatusPassed, res.Status)
	for _, path := range []string{"/plain", "/quiet"} {
		assert.Equal(t, []string{""}, target.headers(path), path)
	}
	assert.Equal(t, []string{"", ""}, target.headers("/flaky"))
}

func TestStepSpanRecordsAFailure(t *testing.T) {
	t.Parallel()
	target := newHeaderTarget(t)
	step := get("wants 201", target.url+"/plain")
	step.Assert = &plan.Assert{Status: plan.StatusSpec{201}}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	ctx, root := tp.Tracer("test").Start(context.Background(), "execution")
	res, err := newRunner().Run(ctx, &plan.Document{Steps: []plan.Step{step}})
	root.End()
	require.NoError(t, err)
	require.Equal(t, planrun.StatusFailed, res.Status)
	for _, s := range rec.Ended() {
		if s.Name() == "step wants 201" {
			assert.Equal(t, codes.Error, s.Status().Code)
			assert.Equal(t, res.Steps[0].Error, s.Status().Description)
			assert.Equal(t, planrun.StatusFailed, attrs(s)[planrun.AttrStepStatus].AsString())
			return
		}
	}
	t.Fatal("no span for the step")
}
