package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/astro-runner/astro-runner/internal/tracing"
)

// tracingFlushTimeout bounds the export of the last spans at exit.
const tracingFlushTimeout = 10 * time.Second

// startTracing sets up traces from the standard OTEL_* variables (see
// package tracing) and says whether they are on. Its error names the
// variable to fix when it can.
func startTracing(ctx context.Context, log *slog.Logger) (*tracing.Tracing, error) {
	tr, err := tracing.Setup(ctx, tracing.Options{Version: buildVersion(), Logger: log})
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	if tr.Enabled() {
		log.Info("tracing on: exporting spans over OTLP/HTTP")
	}
	return tr, nil
}

// stopTracing exports the spans still buffered, for at most
// tracingFlushTimeout.
func stopTracing(tr *tracing.Tracing, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		log.Warn("tracing: could not export the last spans", "error", err)
	}
}
