package planrun_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

// BenchmarkRunTracing measures what tracing costs a run of three steps
// against a loopback target:
//
//   - off: no span in the context, as when OTEL_EXPORTER_OTLP_ENDPOINT is
//     unset;
//   - on: the run inside an execution span, every span recorded and handed
//     to an in-memory exporter through the batch processor, as the
//     server's OTLP exporter is;
//   - sampled-out: spans started but not recorded (OTEL_TRACES_SAMPLER
//     always_off or a ratio's misses); traceparent is still sent.
//
// Compare ns/op and allocs/op between the sub-benchmarks.
func BenchmarkRunTracing(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	b.Cleanup(srv.Close)
	benchmarkRunTracing(b, newRunner(), srv.URL)
}

// BenchmarkRunTracingNoNetwork is BenchmarkRunTracing with a transport
// that answers at once, without a connection, so that the difference
// between the sub-benchmarks is tracing's own CPU and memory cost, free of
// the loopback round trip's noise.
func BenchmarkRunTracingNoNetwork(b *testing.B) {
	r := &planrun.Runner{Client: &http.Client{Transport: cannedTransport{}}}
	benchmarkRunTracing(b, r, "http://target.test")
}

// cannedTransport answers every request with 200 and a small JSON body.
type cannedTransport struct{}

func (cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:  http.Header{"Content-Type": {"application/json"}},
		Body:    io.NopCloser(strings.NewReader(`{"ok":true}`)),
		Request: req,
	}, nil
}

func benchmarkRunTracing(b *testing.B, r *planrun.Runner, base string) {
	steps := make([]plan.Step, 3)
	for i := range steps {
		steps[i] = get("step", base+"/")
		steps[i].Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	}
	doc := &plan.Document{Steps: steps}

	run := func(b *testing.B, tp *sdktrace.TracerProvider, exp *tracetest.InMemoryExporter) {
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			ctx := context.Background()
			end := func() {}
			if tp != nil {
				var span interface{ End() }
				ctx, span = startSpan(ctx, tp)
				end = span.End
			}
			if _, err := r.Run(ctx, doc); err != nil {
				b.Fatal(err)
			}
			end()
			if n++; exp != nil && n%1000 == 0 {
				exp.Reset() // Keep memory flat.
			}
		}
	}
	b.Run("off", func(b *testing.B) { run(b, nil, nil) })
	b.Run("on", func(b *testing.B) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		run(b, tp, exp)
	})
	b.Run("sampled-out", func(b *testing.B) {
		tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		run(b, tp, nil)
	})
}

// startSpan starts the execution span a traced run runs in.
func startSpan(ctx context.Context, tp *sdktrace.TracerProvider) (context.Context, interface{ End() }) {
	ctx, span := tp.Tracer("bench").Start(ctx, "execution")
	return ctx, endFunc(func() { span.End() })
}

// endFunc adapts a function to interface{ End() }.
type endFunc func()

func (f endFunc) End() { f() }
