package planrun

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/plan"
)

// tracerName is the instrumentation scope of the step and HTTP client
// spans.
const tracerName = "github.com/astro-runner/astro-runner/internal/planrun"

// Attributes of step spans.
const (
	// AttrStepName is the step's name.
	AttrStepName = attribute.Key("astro.step.name")
	// AttrStepIndex is the step's position in the plan, from 0, as in
	// Result.Steps.
	AttrStepIndex = attribute.Key("astro.step.index")
	// AttrStepStatus is the step's status: passed, failed or error.
	AttrStepStatus = attribute.Key("astro.step.status")
	// AttrStepAttempts is how many attempts the step made.
	AttrStepAttempts = attribute.Key("astro.step.attempts")
	// AttrHTTPStatus is the status code of the last response, on step and
	// client spans (OpenTelemetry's http.response.status_code).
	AttrHTTPStatus = attribute.Key("http.response.status_code")
)

// traceHeader is the W3C trace context header.
const traceHeader = "traceparent"

// startStepSpan starts the span of one step, a child of the span in ctx
// (the execution's), from the same provider. A run whose context carries
// no valid span, as when tracing is off or for `astro-runner run`, records
// none: the returned span is nil.
func startStepSpan(ctx context.Context, step *plan.Step, index int) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return ctx, nil
	}
	return parent.TracerProvider().Tracer(tracerName).Start(ctx, "step "+step.Name,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(AttrStepName.String(step.Name), AttrStepIndex.Int(index)))
}

// endStepSpan records the step's outcome on its span and ends it. The
// error text is the result's, already scrubbed of secrets.
func endStepSpan(span trace.Span, sr *StepResult) {
	if span == nil {
		return
	}
	span.SetAttributes(AttrStepStatus.String(sr.Status), AttrStepAttempts.Int(sr.Attempts))
	if sr.HTTPStatus != 0 {
		span.SetAttributes(AttrHTTPStatus.Int(sr.HTTPStatus))
	}
	if sr.Status == StatusFailed || sr.Status == StatusError {
		span.SetStatus(codes.Error, sr.Error)
	}
	span.End()
}

// startClientSpan starts the HTTP client span of one attempt, a child of
// the step's span, and returns the request to send within it. Unless the
// runner or the step turned propagation off, or the step set its own
// traceparent header, the request carries the client span's traceparent,
// so that the target's spans join the trace. The span records the method
// and the server's host and port, never the path or query, which may
// carry expanded secrets; the host is scrubbed of them too.
func (rn *run) startClientSpan(req *http.Request, step *plan.Step) (*http.Request, trace.Span) {
	ctx := req.Context()
	parent := trace.SpanFromContext(ctx)
	if !parent.SpanContext().IsValid() {
		return req, nil
	}
	attrs := []attribute.KeyValue{
		attribute.String("http.request.method", req.Method),
		attribute.String("server.address", rn.scrubber().scrub(req.URL.Hostname())),
	}
	if port, err := strconv.Atoi(req.URL.Port()); err == nil {
		attrs = append(attrs, attribute.Int("server.port", port))
	}
	ctx, span := parent.TracerProvider().Tracer(tracerName).Start(ctx, req.Method,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	req = req.WithContext(ctx)
	if rn.propagate && step.SendsTraceContext() && req.Header.Get(traceHeader) == "" {
		propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(req.Header))
	}
	return req, span
}

// endClientSpan ends an attempt's client span with the response's status
// code, or with the kind of error that kept a response from arriving.
func endClientSpan(ctx context.Context, span trace.Span, status int, err error) {
	if span == nil {
		return
	}
	if status != 0 {
		span.SetAttributes(AttrHTTPStatus.Int(status))
		if status >= 400 {
			span.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
			span.SetStatus(codes.Error, "")
		}
	}
	if err != nil {
		span.SetAttributes(attribute.String("error.type", errorType(ctx, err)))
		span.SetStatus(codes.Error, "")
	}
	span.End()
}

// errorType names the kind of a request's failure in a few words, for the
// client span's error.type: never the error's text, which may hold a URL.
func errorType(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	var blocked *netguard.BlockedError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &blocked):
		return "blocked"
	case errors.As(err, &dnsErr):
		return "dns"
	default:
		return "_OTHER"
	}
}
