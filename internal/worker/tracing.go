package worker

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/tracing"
)

// tracerName is the instrumentation scope of job spans.
const tracerName = "github.com/astro-runner/astro-runner/internal/worker"

// Attributes of job spans.
const (
	// AttrJobID is the job's ID.
	AttrJobID = attribute.Key("astro.job.id")
	// AttrJobKind is the job's kind, such as execute_plan.
	AttrJobKind = attribute.Key("astro.job.kind")
	// AttrJobQueue is the job's queue.
	AttrJobQueue = attribute.Key("astro.job.queue")
	// AttrJobAttempt is the number of this attempt, from 1.
	AttrJobAttempt = attribute.Key("astro.job.attempt")
	// AttrJobOutcome is what the pool records of the attempt: completed,
	// failed (to be retried or discarded, as the store decides), released
	// (handed back at shutdown) or dropped (its lease was lost).
	AttrJobOutcome = attribute.Key("astro.job.outcome")
)

// startJobSpan starts the span of one handled job, when the pool has a
// TracerProvider. It is the root of a trace of its own, linked to the
// span that enqueued the job: the enqueuer's trace may have ended long
// before, and each attempt is a trace of its own.
func (p *Pool) startJobSpan(ctx context.Context, job *storage.Job) (context.Context, trace.Span) {
	if p.cfg.TracerProvider == nil {
		return ctx, nil
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			AttrJobID.Int64(job.ID), AttrJobKind.String(job.Kind),
			AttrJobQueue.String(job.Queue), AttrJobAttempt.Int(job.Attempt),
		),
	}
	if sc := tracing.SpanContext(job.TraceContext); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc}))
	}
	return p.cfg.TracerProvider.Tracer(tracerName).Start(ctx, "job "+job.Kind, opts...)
}

// endJobSpan records the attempt's outcome on its span and ends it. Only a
// failed attempt is an error: a released or dropped one is not the job's
// fault.
func endJobSpan(span trace.Span, o outcome) {
	if span == nil {
		return
	}
	switch o.kind {
	case outcomeComplete, outcomeFinish:
		span.SetAttributes(AttrJobOutcome.String("completed"))
	case outcomeFail:
		span.SetAttributes(AttrJobOutcome.String("failed"))
		span.SetStatus(codes.Error, o.fail.Error)
	case outcomeRelease:
		span.SetAttributes(AttrJobOutcome.String("released"))
	case outcomeDrop:
		span.SetAttributes(AttrJobOutcome.String("dropped"))
	}
	span.End()
}
