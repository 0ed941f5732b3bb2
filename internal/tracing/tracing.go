// Package tracing sets up astro-runner's OpenTelemetry traces and carries
// trace context where a context.Context cannot go: into the job queue,
// as the W3C traceparent stored with a job.
//
// Setup exports spans over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, configured by the standard
// OTEL_* variables that the SDK reads itself (headers, timeout, TLS,
// sampler, batching, resource attributes). Otherwise tracing is off: Setup
// returns no provider, and the components that take one (the API handler,
// the worker pools) then start no spans at all.
//
// Spans made below a job's span (the execution's, each step's, each step's
// HTTP client span) come from the provider of the span in their context,
// so they exist exactly when the job's span does.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name of astro-runner's spans unless
// OTEL_SERVICE_NAME (or service.name in OTEL_RESOURCE_ATTRIBUTES) says
// otherwise.
const DefaultServiceName = "astro-runner"

// Options configure Setup.
type Options struct {
	// Version is the build version, recorded as service.version.
	Version string
	// Logger receives what the SDK reports after start-up, such as failed
	// exports. Defaults to slog.Default().
	Logger *slog.Logger
}

// Tracing is the process's tracing as Setup left it.
type Tracing struct {
	sdk *sdktrace.TracerProvider
}

// TracerProvider returns the provider that exports spans, or nil when
// tracing is off. Hand it to api.Deps and worker.Config.
func (t *Tracing) TracerProvider() trace.TracerProvider {
	if t == nil || t.sdk == nil {
		return nil // Not a typed nil: callers test for nil.
	}
	return t.sdk
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t != nil && t.sdk != nil }

// Shutdown ends tracing: it exports the spans still buffered and stops the
// exporter. Call it once, on exit, with a context that bounds the wait.
// It does nothing when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("flush traces: %w", err)
	}
	return nil
}

// setupMu serializes Setup, which swaps the SDK's process-wide logger and
// error handler.
var setupMu sync.Mutex

// Setup reads the standard OTEL_* variables and, when they ask for traces,
// builds the tracer provider: OTLP/HTTP export (http/protobuf, or http/json
// when OTEL_EXPORTER_OTLP_PROTOCOL says so) through a batch span
// processor, the W3C tracecontext propagator, and a resource whose
// service.name is DefaultServiceName and service.version o.Version unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise. It also
// installs them as OpenTelemetry's globals.
//
// Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set, unless OTEL_SDK_DISABLED is
// true or OTEL_TRACES_EXPORTER is none. When it is off Setup changes
// nothing and returns a Tracing whose TracerProvider is nil.
//
// A value the SDK refuses (it would log it and carry on with a default) is
// an error here, naming the variable when it can be told: a deployment
// that asks for traces should not silently get different ones. So is an
// exporter or protocol other than OTLP/HTTP, an endpoint that is not an
// http or https URL (which the SDK takes, then exports nowhere), and an
// OTEL_BSP_ size or delay below 1 (on which the SDK panics, drops every
// span, or spins a CPU).
func Setup(ctx context.Context, o Options) (*Tracing, error) {
	on, err := wanted()
	if err != nil {
		return nil, err
	}
	if !on {
		return &Tracing{}, nil
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	setupMu.Lock()
	defer setupMu.Unlock()

	// Whatever the SDK reports while it reads its variables is a refused
	// value: collect it, instead of letting it go to stderr.
	reports := &reportSink{}
	otel.SetLogger(logr.New(reports))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { reports.add(report{err: err}) }))
	afterSetup := func() {
		otel.SetLogger(logr.FromSlogHandler(log.With("component", "otel").Handler()))
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("tracing: the OpenTelemetry SDK reported an error", "component", "otel", "error", err)
		}))
	}

	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		afterSetup()
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: create the OTLP/HTTP trace exporter: %w", err)
	}
	res, resErr := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", DefaultServiceName),
			attribute.String("service.version", o.Version),
		),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(), // Last, so that the variables win.
	)
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	afterSetup()

	var errs []error
	if resErr != nil {
		errs = append(errs, fmt.Errorf("OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME: %w", resErr))
	}
	for _, r := range reports.all() {
		errs = append(errs, r.describe())
	}
	if len(errs) > 0 {
		_ = tp.Shutdown(context.WithoutCancel(ctx))
		return nil, errors.Join(errs...)
	}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	return &Tracing{sdk: tp}, nil
}

// wanted reports whether the OTEL_* variables ask for traces, and refuses
// an exporter or protocol that astro-runner does not have.
func wanted() (bool, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	switch exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); exp {
	case "", "otlp":
	case "none":
		return false, nil
	default:
		return false, fmt.Errorf("OTEL_TRACES_EXPORTER %q is not supported: astro-runner exports traces over OTLP/HTTP only (otlp), or none", exp)
	}
	if getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" && getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" {
		return false, nil
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		switch p := getenv(name); p {
		case "", "http/protobuf", "http/json":
		case "grpc":
			return false, fmt.Errorf("%s grpc is not supported: astro-runner exports OTLP over HTTP; use http/protobuf and the collector's HTTP port (4318)", name)
		default:
			return false, fmt.Errorf("%s %q is not a protocol: want http/protobuf or http/json", name, p)
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		if err := checkEndpoint(name); err != nil {
			return false, err
		}
	}
	for _, name := range []string{"OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"} {
		if err := checkPositive(name); err != nil {
			return false, err
		}
	}
	return true, nil
}

// checkEndpoint refuses an OTLP endpoint variable, when set, that is not
// an http or https URL with a host. The SDK takes "collector:4318" without
// a word (as a URL whose scheme is "collector") and then exports nowhere.
// The value is not quoted: it may carry credentials.
func checkEndpoint(name string) error {
	v := getenv(name)
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) || u.Host == "" {
		return fmt.Errorf("%s must be an http:// or https:// URL with a host, such as http://otel-collector:4318", name)
	}
	return nil
}

// checkPositive refuses a batch span processor variable, when it is an
// integer, below 1: the SDK takes any integer, and then panics on a
// negative size, drops every span with a queue of 0, and spins a CPU with
// a schedule delay of 0 or less. A value that is not an integer is left to
// the SDK, which reports it.
func checkPositive(name string) error {
	n, err := strconv.Atoi(os.Getenv(name))
	if err != nil || n >= 1 {
		return nil
	}
	return fmt.Errorf("%s must be at least 1, got %d", name, n)
}

func getenv(name string) string { return strings.TrimSpace(os.Getenv(name)) }

// report is one thing the SDK reported while it set up: an error, or a
// message about a value it refused.
type report struct {
	msg string
	err error
	kv  []any
}

// describe returns the report as an error that names the variable it is
// about when it can be told: a key of the report that is itself a variable
// name (the SDK's "Got invalid value" reports), or the OTEL_ variables
// whose value holds one of the report's values.
func (r report) describe() error {
	text := r.msg
	if r.err != nil {
		text = strings.TrimPrefix(text+": "+r.err.Error(), ": ")
	}
	names := r.variables()
	if len(names) == 0 {
		return fmt.Errorf("an OTEL_ variable has a value the OpenTelemetry SDK refused: %s", text)
	}
	return fmt.Errorf("%s: the OpenTelemetry SDK refused its value: %s", strings.Join(names, " or "), text)
}

// variables returns the names of the OTEL_ variables the report is about.
func (r report) variables() []string {
	var names []string
	var values []string
	for i := 0; i+1 < len(r.kv); i += 2 {
		if key, _ := r.kv[i].(string); strings.HasPrefix(key, "OTEL_") {
			names = append(names, key)
		}
		values = append(values, fmt.Sprint(r.kv[i+1]))
	}
	if len(names) > 0 {
		return names
	}
	if r.err != nil {
		// The error's text, and what it quotes: the value refused, or the
		// part of it at fault.
		values = append(values, r.err.Error())
		for _, q := range quoted.FindAllString(r.err.Error(), -1) {
			if v, err := strconv.Unquote(q); err == nil {
				values = append(values, v)
			}
		}
	}
	for _, env := range os.Environ() {
		name, value, _ := strings.Cut(env, "=")
		value = strings.TrimSpace(value)
		if !strings.HasPrefix(name, "OTEL_") || value == "" {
			continue
		}
		for _, v := range values {
			// A value of one character is matched only whole: it is in
			// too many texts.
			if v == value || (len(value) >= 2 && strings.Contains(v, value)) || (len(v) >= 2 && strings.Contains(value, v)) {
				names = append(names, name)
				break
			}
		}
	}
	if len(names) == 0 && r.err != nil && strings.Contains(r.err.Error(), "trace ID ratio") {
		names = append(names, "OTEL_TRACES_SAMPLER_ARG")
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// quoted matches the Go-quoted strings in an error's text, such as
// strconv's `parsing "x"`.
var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// reportSink is a logr.LogSink that collects the SDK's errors, and its
// messages about values it refused, while Setup runs.
type reportSink struct {
	mu      sync.Mutex
	reports []report
}

func (s *reportSink) add(r report) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reports = append(s.reports, r)
}

func (s *reportSink) all() []report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reports)
}

// Init implements logr.LogSink.
func (s *reportSink) Init(logr.RuntimeInfo) {}

// Enabled implements logr.LogSink: every level is read, as the SDK tells
// of refused values at its info level.
func (s *reportSink) Enabled(int) bool { return true }

// Info implements logr.LogSink: it keeps the messages about invalid values.
func (s *reportSink) Info(_ int, msg string, kv ...any) {
	if strings.Contains(strings.ToLower(msg), "invalid") {
		s.add(report{msg: msg, kv: kv})
	}
}

// Error implements logr.LogSink.
func (s *reportSink) Error(err error, msg string, kv ...any) {
	s.add(report{msg: msg, err: err, kv: kv})
}

// WithValues implements logr.LogSink.
func (s *reportSink) WithValues(...any) logr.LogSink { return s }

// WithName implements logr.LogSink.
func (s *reportSink) WithName(string) logr.LogSink { return s }

// TraceParent returns the W3C traceparent of the span in ctx, to store
// with a job that ctx enqueues, or "" when ctx carries no valid span (as
// when tracing is off).
func TraceParent(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// SpanContext returns the span context of a W3C traceparent, such as a
// job's stored trace context. It is invalid (IsValid reports false) when
// traceparent is empty or malformed.
func SpanContext(traceparent string) trace.SpanContext {
	if traceparent == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": traceparent})
	return trace.SpanContextFromContext(ctx)
}
