package tracing_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/tracing"
	"github.com/astro-runner/astro-runner/internal/tracing/tracingtest"
)

// These tests set environment variables and OpenTelemetry's globals, so
// none of them runs in parallel.

var clearOTELEnv = tracingtest.ClearOTELEnv

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
			_, url := tracingtest.NewCollector(t)
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
			c, url := tracingtest.NewCollector(t)
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

			names, resources := c.Spans()
			require.Equal(t, []string{"the-span"}, names)
			assert.Equal(t, tt.wantService, resources[0]["service.name"])
			assert.Equal(t, "1.2.3", resources[0]["service.version"])
			assert.Equal(t, []string{"POST " + tt.path}, c.Paths())
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
			c, url := tracingtest.NewCollector(t)
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
			names, _ := c.Spans()
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
