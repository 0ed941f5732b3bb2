package worker_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/tracing"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// spanAttrs returns a span's attributes by key.
func spanAttrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestPoolTracesEachAttemptLinkedToTheEnqueuer(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))

	// The request that enqueues the job, in a trace of its own.
	enqCtx, enqSpan := tp.Tracer("test").Start(context.Background(), "POST /plan/{id}/execute")
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "flaky", TraceContext: tracing.TraceParent(enqCtx)})
	enqSpan.End()

	pool := worker.New(s, config(t, worker.Config{
		TracerProvider: tp,
		Retry:          storage.RetryPolicy{Base: time.Millisecond, Max: 5 * time.Millisecond},
	}))
	var mu sync.Mutex
	var seen []trace.SpanContext
	pool.Handle("flaky", func(ctx context.Context, _ *storage.Job) error {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, trace.SpanContextFromContext(ctx))
		if len(seen) == 1 {
			return errors.New("transient trouble")
		}
		return nil
	})
	startPool(t, pool)
	waitState(t, s, job.ID, storage.JobCompleted)

	var spans []sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		spans = nil
		for _, sp := range rec.Ended() {
			if sp.Name() == "job flaky" {
				spans = append(spans, sp)
			}
		}
		return len(spans) == 2
	}, waitFor, tick, "a span per attempt")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 2)
	for i, sp := range spans {
		assert.Equal(t, seen[i], sp.SpanContext(), "the handler runs inside the job's span")
		assert.False(t, sp.Parent().IsValid(), "a job span starts a trace of its own")
		assert.NotEqual(t, enqSpan.SpanContext().TraceID(), sp.SpanContext().TraceID())
		require.Len(t, sp.Links(), 1)
		assert.Equal(t, enqSpan.SpanContext().TraceID(), sp.Links()[0].SpanContext.TraceID(), "linked to the enqueuing span")
		assert.Equal(t, enqSpan.SpanContext().SpanID(), sp.Links()[0].SpanContext.SpanID())
		assert.Equal(t, trace.SpanKindConsumer, sp.SpanKind())
		a := spanAttrs(sp)
		assert.Equal(t, job.ID, a[worker.AttrJobID].AsInt64())
		assert.Equal(t, "flaky", a[worker.AttrJobKind].AsString())
		assert.Equal(t, storage.DefaultQueue, a[worker.AttrJobQueue].AsString())
		assert.Equal(t, int64(i+1), a[worker.AttrJobAttempt].AsInt64())
	}
	assert.NotEqual(t, spans[0].SpanContext().TraceID(), spans[1].SpanContext().TraceID(), "each attempt is its own trace")
	assert.Equal(t, "failed", spanAttrs(spans[0])[worker.AttrJobOutcome].AsString())
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Contains(t, spans[0].Status().Description, "transient trouble")
	assert.Equal(t, "completed", spanAttrs(spans[1])[worker.AttrJobOutcome].AsString())
	assert.Equal(t, codes.Unset, spans[1].Status().Code)
}

func TestPoolWithoutATracerProviderStartsNoSpan(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	enqCtx, enqSpan := tp.Tracer("test").Start(context.Background(), "enqueue")
	job := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "k", TraceContext: tracing.TraceParent(enqCtx)})
	enqSpan.End()

	pool := worker.New(s, config(t, worker.Config{}))
	got := make(chan trace.SpanContext, 1)
	pool.Handle("k", func(ctx context.Context, _ *storage.Job) error {
		got <- trace.SpanContextFromContext(ctx)
		return nil
	})
	startPool(t, pool)
	waitState(t, s, job.ID, storage.JobCompleted)
	assert.False(t, (<-got).IsValid(), "no span in the handler's context")
	assert.Len(t, rec.Ended(), 1, "only the test's own span")
}
