package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// BenchmarkHandlerTracing measures what the server span costs a request
// (GET /plan/{id} on the in-memory store, served in-process): off (no
// TracerProvider, as when OTEL_EXPORTER_OTLP_ENDPOINT is unset) and on
// (spans handed to an in-memory exporter through the batch processor).
func BenchmarkHandlerTracing(b *testing.B) {
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	p, err := st.PlanCreate(context.Background(), &storage.PlanCreateParams{Name: "bench", Document: []byte(validDocument)})
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, tp trace.TracerProvider, exp *tracetest.InMemoryExporter) {
		h := NewHandler(Deps{Store: st, Logger: slog.New(slog.DiscardHandler), TracerProvider: tp})
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/plan/"+p.ID.String(), nil))
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			if n++; exp != nil && n%1000 == 0 {
				exp.Reset()
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
}
