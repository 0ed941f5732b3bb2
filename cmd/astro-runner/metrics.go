package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// newMetrics returns the process's metrics, as cfg configures them, and
// raw wrapped so that every store operation is recorded: the API, the
// workers, the scheduler and the pruner all use the wrapped store. The
// queue state is read through it at scrape time, and a Postgres store's
// connection pools are reported too. Type-assert raw, not the wrapped
// store, for a backend's own methods.
func newMetrics(cfg *config.Config, raw storage.Store) (*metrics.Metrics, storage.Store) {
	m := metrics.New(metrics.Options{PlanLabels: cfg.MetricsPlanLabels})
	store := metrics.InstrumentStore(raw, string(cfg.Backend), m.Store)
	m.CollectQueueState(store, metrics.QueueStateOptions{})
	if p, ok := raw.(metrics.PoolStater); ok {
		m.CollectPools(p)
	}
	return m, store
}

// serveMetrics serves m at /metrics, without a token, on a listener of its
// own at cfg.MetricsAddr (ASTRO_METRICS_ADDR), until stop is called. With
// no address it does nothing. It fails at once when the address cannot be
// listened on.
func serveMetrics(cfg *config.Config, m *metrics.Metrics, log *slog.Logger) (stop func(), err error) {
	if cfg.MetricsAddr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("ASTRO_METRICS_ADDR %s: %w", cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "addr", cfg.MetricsAddr, "error", err)
		}
	}()
	log.Info("metrics listener", "addr", ln.Addr().String(), "path", "/metrics")
	return func() { _ = srv.Close() }, nil
}
