// Package apitest serves the real API for tests outside package api: the
// handler main serves, over a given store, with a worker pool that runs
// executions as `astro-runner serve` does, on a 127.0.0.1 test server.
package apitest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// Options adjust the server. The zero value serves an open API.
type Options struct {
	// Token, when set, is the bearer token the API requires.
	Token string
	// WrapFunc, when set, wraps the API handler, to meddle with requests.
	WrapFunc func(http.Handler) http.Handler
	// AlertMaxAttempts is how many times an alert message is tried;
	// alert.DefaultMaxAttempts when 0.
	AlertMaxAttempts int
}

// Serve starts the API over st, a pool of two workers and the pool of the
// alert queue, and returns the server's base URL. Alert messages are not
// held back (no minimum interval) and failed deliveries are retried after
// 10 to 50 ms. Everything stops when the test ends; st is not closed.
func Serve(t testing.TB, st storage.Store, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	alerts := &alert.Evaluator{Store: st, MaxAttempts: opts.AlertMaxAttempts, Logger: log}
	deliverer := &alert.Deliverer{Store: st, UserAgent: "astro-runner/test", Logger: log}
	pool := worker.New(st, worker.Config{Workers: 2, PollInterval: 50 * time.Millisecond, Logger: log})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, Alerts: alerts}).Register(pool)
	alertPool := worker.New(st, worker.Config{
		Queue: alert.Queue, Workers: 2, PollInterval: 20 * time.Millisecond, Logger: log,
		Retry: storage.RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
	})
	alertPool.Handle(alert.DeliverKind, deliverer.Handle)
	alertPool.Handle(alert.FlushKind, alerts.HandleFlush)
	var wg sync.WaitGroup
	wg.Go(func() { _ = pool.Run(ctx) })
	wg.Go(func() { _ = alertPool.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	h := api.NewHandler(api.Deps{
		Store: st, Logger: log, APIToken: opts.Token, WakeFunc: pool.Wake, CancelFunc: pool.CheckCancels,
		ChannelTester: deliverer,
	})
	if opts.WrapFunc != nil {
		h = opts.WrapFunc(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
