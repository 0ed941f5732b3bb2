package tracing_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/astro-runner/astro-runner/internal/tracing"
)

// These tests set environment variables and OpenTelemetry's globals, so
// none of them runs in parallel.

// clearOTELEnv unsets every OTEL_ variable for the test, restoring them
// after it.
func clearOTELEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "OTEL_") {
			t.Setenv(name, "")
			require.NoError(t, os.Unsetenv(name))
		}
	}
}

// collector is a loopback OTLP/HTTP receiver that keeps the export
// requests it gets.
type collector struct {
	mu       sync.Mutex
	paths    []string
	requests []*coltrace.ExportTraceServiceRequest
}

func newCollector(t *testing.T) (*collector, string) {
	t.Helper()
	c := &collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		req := &coltrace.ExportTraceServiceRequest{}
		if err := proto.Unmarshal(body, req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.paths = append(c.paths, r.Method+" "+r.URL.Path)
		c.requests = append(c.requests, req)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// spans returns, for every exported span, its name and its resource's
// attributes.
func (c *collector) spans() (names []string, resources []map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, req := range c.requests {
		for _, rs := range req.GetResourceSpans() {
			attrs := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
					resources = append(resources, attrs)
				}
			}
		}
	}
	return names, resources
}

func TestSetupIsOffWithoutAnEndpoint(t *testing.T) {
	clearOTELEnv(t)
	before := otel.GetTracerProvider()
	tr, err := tracing.Setup(context.Background(), tracing.Options{Version: "1.0.0"})
	require.NoError(t, err)
	assert.False(t, tr.Enabled())
	assert.Nil(t, tr.TracerProvider(), "a nil interface, not a typed nil")
	assert.Equal(t, before, otel.GetTracerProvider(), "the global provider is left alone")
	assert.NoError(t, tr.Shutdown(context.Background()))
}

func TestSetupIsOffWhenDisabled(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"SDKDisabled":     {"OTEL_SDK_DISABLED": "true"},
		"SDKDisabledCase": {"OTEL_SDK_DISABLED": "TRUE"},
		"ExporterNone":    {"OTEL_TRACES_EXPORTER": "none"},
	} {
		t.Run(name, func(t *testing.T) {
			clearOTELEnv(t)
			_, url := newCollector(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
			for k, v := range env {
				t.Setenv(k, v)
			}
			tr, err := tracing.Setup(context.Background(), tracing.Options{})
			require.NoError(t, err)
			assert.False(t, tr.Enabled())
			assert.Nil(t, tr.TracerProvider())
		})
	}
}

func TestSetupExportsOverOTLPHTTPAndFlushesOnShutdown(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		endpointVar string
		path        string
		wantService string
	}{
		{name: "BaseEndpoint", endpointVar: "OTEL_EXPORTER_OTLP_ENDPOINT", path: "/v1/traces", wantService: tracing.DefaultServiceName},
		{name: "TracesEndpoint", endpointVar: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", path: "/custom/traces", wantService: tracing.DefaultServiceName},
		{name: "ServiceNameFromEnv", endpointVar: "OTEL_EXPORTER_OTLP_ENDPOINT", path: "/v1/traces",
			env: map[string]string{"OTEL_SERVICE_NAME": "runner-eu"}, wantService: "runner-eu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTELEnv(t)
			c, url := newCollector(t)
			endpoint := url
			if tt.endpointVar == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
				endpoint += tt.path
			}
			t.Setenv(tt.endpointVar, endpoint)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tr, err := tracing.Setup(context.Background(), tracing.Options{Version: "1.2.3"})
			require.NoError(t, err)
			require.True(t, tr.Enabled())
			require.NotNil(t, tr.TracerProvider())
			assert.Equal(t, tr.TracerProvider(), otel.GetTracerProvider(), "installed as the global provider")

			_, span := tr.TracerProvider().Tracer("test").Start(context.Background(), "the-span")
			span.End()
			// The batch processor holds the span until Shutdown flushes it.
			require.NoError(t, tr.Shutdown(context.Background()))

			names, resources := c.spans()
			require.Equal(t, []string{"the-span"}, names)
			assert.Equal(t, tt.wantService, resources[0]["service.name"])
			assert.Equal(t, "1.2.3", resources[0]["service.version"])
			c.mu.Lock()
			assert.Equal(t, []string{"POST " + tt.path}, c.paths)
			c.mu.Unlock()
		})
	}
}

func TestSetupRefusesValuesTheSDKRefuses(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantName string
	}{
		{name: "Timeout", env: map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, wantName: "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{name: "Headers", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "no-equals-sign"}, wantName: "OTEL_EXPORTER_OTLP_HEADERS"},
		{name: "Sampler", env: map[string]string{"OTEL_TRACES_SAMPLER": "sometimes"}, wantName: "OTEL_TRACES_SAMPLER"},
		{name: "SamplerArg", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "lots"}, wantName: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "SamplerRatioTooLarge", env: map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, wantName: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "BatchDelay", env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "often"}, wantName: "OTEL_BSP_SCHEDULE_DELAY"},
		{name: "ResourceAttributes", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team"}, wantName: "OTEL_RESOURCE_ATTRIBUTES"},
		{name: "ProtocolGRPC", env: map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, wantName: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "UnknownProtocol", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "carrier-pigeon"}, wantName: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		{name: "OtherExporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, wantName: "OTEL_TRACES_EXPORTER"},
		// The SDK reports these, but its reports carry no variable name
		// and a value too short to match safely by its text.
		{name: "TracesTimeoutOneCharacter", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "x"}, wantName: "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"},
		{name: "ParentBasedSamplerArg", env: map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "x"}, wantName: "OTEL_TRACES_SAMPLER_ARG"},
		{name: "ResourceAttributeBadEscape", env: map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "team=%zz"}, wantName: "OTEL_RESOURCE_ATTRIBUTES"},
		// The SDK takes these without a word, then exports nowhere.
		{name: "EndpointWithoutScheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4318"}, wantName: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "TracesEndpointWithoutScheme", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "localhost:4318/v1/traces"}, wantName: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{name: "EndpointOtherScheme", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://127.0.0.1:4318"}, wantName: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		// The SDK panics on a negative size, drops every span with a
		// queue of 0, and spins a CPU with a delay of 0 or less.
		{name: "BatchQueueNegative", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "-5"}, wantName: "OTEL_BSP_MAX_QUEUE_SIZE"},
		{name: "BatchQueueZero", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "0"}, wantName: "OTEL_BSP_MAX_QUEUE_SIZE"},
		{name: "BatchSizeNegative", env: map[string]string{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "-1"}, wantName: "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"},
		{name: "BatchDelayZero", env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "0"}, wantName: "OTEL_BSP_SCHEDULE_DELAY"},
		{name: "BatchDelayNegative", env: map[string]string{"OTEL_BSP_SCHEDULE_DELAY": "-1"}, wantName: "OTEL_BSP_SCHEDULE_DELAY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearOTELEnv(t)
			c, url := newCollector(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := otel.GetTracerProvider()
			tr, err := tracing.Setup(context.Background(), tracing.Options{})
			require.Error(t, err)
			assert.Nil(t, tr)
			assert.Contains(t, err.Error(), tt.wantName)
			assert.NotContains(t, err.Error(), "an OTEL_ variable", "every refusal names its variable")
			assert.Equal(t, before, otel.GetTracerProvider(), "a refused set-up installs nothing")
			names, _ := c.spans()
			assert.Empty(t, names)
		})
	}
}

func TestTraceParentRoundTrips(t *testing.T) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewInMemoryExporter()))
	ctx, span := tp.Tracer("test").Start(context.Background(), "enqueue")
	defer span.End()

	tc := tracing.TraceParent(ctx)
	require.NotEmpty(t, tc)
	assert.Regexp(t, `^00-[0-9a-f]{32}-[0-9a-f]{16}-01$`, tc)
	sc := tracing.SpanContext(tc)
	require.True(t, sc.IsValid())
	assert.Equal(t, span.SpanContext().TraceID(), sc.TraceID())
	assert.Equal(t, span.SpanContext().SpanID(), sc.SpanID())
	assert.True(t, sc.IsSampled())
	assert.True(t, sc.IsRemote())
}

func TestTraceParentIsEmptyWithoutASpan(t *testing.T) {
	assert.Empty(t, tracing.TraceParent(context.Background()))
	// A context with only a non-recording, invalid span, as the no-op
	// provider gives.
	ctx, span := trace.NewNoopTracerProvider().Tracer("x").Start(context.Background(), "noop")
	defer span.End()
	assert.Empty(t, tracing.TraceParent(ctx))
	for _, bad := range []string{"", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"} {
		assert.False(t, tracing.SpanContext(bad).IsValid(), "%q", bad)
	}
}
