package planjob

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// tracerName is the instrumentation scope of execution spans.
const tracerName = "github.com/astro-runner/astro-runner/internal/planjob"

// Attributes of execution spans.
const (
	// AttrExecutionID is the execution's ID.
	AttrExecutionID = attribute.Key("astro.execution.id")
	// AttrExecutionAttempt is the number of the attempt, from 1.
	AttrExecutionAttempt = attribute.Key("astro.execution.attempt")
	// AttrExecutionTrigger is what created the execution: api, schedule or
	// cli.
	AttrExecutionTrigger = attribute.Key("astro.execution.trigger")
	// AttrExecutionStatus is the final status the attempt stored, when it
	// stored one: passed, failed, error or cancelled.
	AttrExecutionStatus = attribute.Key("astro.execution.status")
	// AttrPlanID is the plan's ID.
	AttrPlanID = attribute.Key("astro.plan.id")
	// AttrPlanName is the plan's name.
	AttrPlanName = attribute.Key("astro.plan.name")
	// AttrPlanRevision is the revision of the plan that ran.
	AttrPlanRevision = attribute.Key("astro.plan.revision")
)

// startSpan starts the attempt's span, a child of the span in ctx (the
// job's), from the same provider, and returns the context to run in. A
// context without a valid span starts none. The result is to name the
// trace only when it is sampled: a sampled-out trace is exported nowhere,
// so there would be nothing to look up.
func (r *run) startSpan(ctx context.Context, job *storage.Job) context.Context {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx
	}
	ctx, r.span = parent.TracerProvider().Tracer(tracerName).Start(ctx, "execution",
		trace.WithAttributes(AttrExecutionID.String(r.id.String()), AttrExecutionAttempt.Int(job.Attempt)))
	if sc := r.span.SpanContext(); sc.IsSampled() {
		r.traceID = sc.TraceID().String()
	}
	return ctx
}

// spanExecution records what the execution says about itself.
func (r *run) spanExecution(e *storage.Execution) {
	if r.span != nil {
		r.span.SetAttributes(AttrPlanID.String(e.PlanID.String()), AttrExecutionTrigger.String(string(e.Trigger)))
	}
}

// spanPlan records the plan that runs.
func (r *run) spanPlan(p *storage.Plan) {
	if r.span != nil {
		r.span.SetAttributes(AttrPlanName.String(p.Name), AttrPlanRevision.Int64(p.Revision))
	}
}

// endSpan records how the attempt ended and ends its span. A failed or
// errored execution, and an attempt that failed, are errors.
func (r *run) endSpan(err error) {
	if r.span == nil {
		return
	}
	if r.status != "" {
		r.span.SetAttributes(AttrExecutionStatus.String(string(r.status)))
	}
	switch {
	case err != nil:
		r.span.SetStatus(codes.Error, err.Error())
	case r.status == storage.ExecutionFailed:
		r.span.SetStatus(codes.Error, "execution failed")
	case r.status == storage.ExecutionError:
		r.span.SetStatus(codes.Error, "execution ended in error")
	}
	r.span.End()
}

// spanContext returns ctx carrying the attempt's span, if it has one, for
// what runs on its behalf after the handler returned, such as the alert
// rules told of its final status by FinishMany: the delivery jobs they
// enqueue link to the span.
func (r *run) spanContext(ctx context.Context) context.Context {
	if r.span == nil {
		return ctx
	}
	return trace.ContextWithSpan(ctx, r.span)
}
