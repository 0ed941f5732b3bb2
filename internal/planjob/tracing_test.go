package planjob_test

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/tracing"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// traceTarget is a loopback target that answers 200 on /ok and 500
// elsewhere, and records the traceparent of every request.
func traceTarget(t *testing.T) (url string, seen func() []string) {
	t.Helper()
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Traceparent"))
		mu.Unlock()
		if r.URL.Path != "/ok" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func attrsOf(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// endedSpans waits for the spans named names to end and returns them by
// name (the last of each name).
func endedSpans(t *testing.T, rec *tracetest.SpanRecorder, names ...string) map[string]sdktrace.ReadOnlySpan {
	t.Helper()
	byName := map[string]sdktrace.ReadOnlySpan{}
	require.Eventually(t, func() bool {
		clear(byName)
		for _, s := range rec.Ended() {
			byName[s.Name()] = s
		}
		for _, n := range names {
			if byName[n] == nil {
				return false
			}
		}
		return true
	}, 30*time.Second, 10*time.Millisecond, "spans %v", names)
	return byName
}

func TestTracedExecutionSpansTheRunAndStoresItsTraceID(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		h := newPathHarness(t, path, worker.Config{TracerProvider: tp})
		url, seen := traceTarget(t)
		exec := h.execute(step("first", url+"/ok"), step("second", url+"/ok"))
		got := h.waitFinal(exec)
		require.Equal(t, storage.ExecutionPassed, got.Status)
		res := result(t, got)

		spans := endedSpans(t, rec, "job "+planjob.Kind, "execution", "step first", "step second")
		job, run := spans["job "+planjob.Kind], spans["execution"]
		require.Regexp(t, `^[0-9a-f]{32}$`, res.TraceID)
		assert.Equal(t, run.SpanContext().TraceID().String(), res.TraceID, "the result names the run's trace")
		assert.Equal(t, job.SpanContext().SpanID(), run.Parent().SpanID(), "the execution's span is a child of the job's")
		assert.Equal(t, job.SpanContext().TraceID(), run.SpanContext().TraceID())
		for _, name := range []string{"step first", "step second"} {
			assert.Equal(t, run.SpanContext().SpanID(), spans[name].Parent().SpanID(), "%s is a child of the execution's span", name)
		}
		a := attrsOf(run)
		assert.Equal(t, exec.ID.String(), a[planjob.AttrExecutionID].AsString())
		assert.Equal(t, exec.PlanID.String(), a[planjob.AttrPlanID].AsString())
		assert.Equal(t, string(storage.ExecutionPassed), a[planjob.AttrExecutionStatus].AsString())
		assert.Equal(t, int64(1), a[planjob.AttrExecutionAttempt].AsInt64())
		assert.NotEmpty(t, a[planjob.AttrPlanName].AsString())
		assert.Equal(t, codes.Unset, run.Status().Code)

		headers := seen()
		require.Len(t, headers, 2)
		for _, tp := range headers {
			assert.Equal(t, res.TraceID, tracing.SpanContext(tp).TraceID().String(), "the target joined the run's trace")
		}
	})
}

func TestTracedFailedExecutionIsAnErrorSpan(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		h := newPathHarness(t, path, worker.Config{TracerProvider: tp})
		url, _ := traceTarget(t)
		got := h.waitFinal(h.execute(step("broken", url+"/broken")))
		require.Equal(t, storage.ExecutionFailed, got.Status)
		run := endedSpans(t, rec, "execution")["execution"]
		assert.Equal(t, codes.Error, run.Status().Code)
		assert.Equal(t, string(storage.ExecutionFailed), attrsOf(run)[planjob.AttrExecutionStatus].AsString())
		assert.Equal(t, run.SpanContext().TraceID().String(), result(t, got).TraceID)
	})
}

func TestUntracedExecutionStoresNoTraceIDAndSendsNoTraceparent(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		h := newPathHarness(t, path, worker.Config{})
		url, seen := traceTarget(t)
		got := h.waitFinal(h.execute(step("first", url+"/ok")))
		require.Equal(t, storage.ExecutionPassed, got.Status)
		assert.Empty(t, result(t, got).TraceID)
		assert.NotContains(t, string(got.Result), "trace_id", "omitted from the stored result")
		assert.Equal(t, []string{""}, seen())
	})
}

// TestSampledOutExecutionStoresNoTraceID runs with a sampler that records
// nothing, as OTEL_TRACES_SAMPLER=traceidratio does for most runs: the
// result names no trace, since none was exported to look up, and the
// target is still told the sampling decision.
func TestSampledOutExecutionStoresNoTraceID(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		rec := tracetest.NewSpanRecorder()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()), sdktrace.WithSpanProcessor(rec))
		h := newPathHarness(t, path, worker.Config{TracerProvider: tp})
		url, seen := traceTarget(t)
		got := h.waitFinal(h.execute(step("first", url+"/ok")))
		require.Equal(t, storage.ExecutionPassed, got.Status)
		assert.Empty(t, result(t, got).TraceID, "no trace was exported")
		assert.NotContains(t, string(got.Result), "trace_id")
		headers := seen()
		require.Len(t, headers, 1)
		sc := tracing.SpanContext(headers[0])
		require.True(t, sc.IsValid(), "the target gets the trace context")
		assert.False(t, sc.IsSampled(), "and the decision not to record it")
		assert.Empty(t, rec.Ended())
	})
}
