// Package apitest serves the real API for tests outside package api: the
// handler main serves, over a given store, with a worker pool that runs
// executions as `astro-runner serve` does, on a 127.0.0.1 test server.
package apitest

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/astro-runner/astro-runner/api"
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
}

// Serve starts the API over st and a pool of two workers, and returns the
// server's base URL. Both stop when the test ends; st is not closed.
func Serve(t testing.TB, st storage.Store, opts Options) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{Workers: 2, PollInterval: 50 * time.Millisecond, Logger: log})
	pool.Handle(planjob.Kind, (&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log}).Handle)
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	h := api.NewHandler(api.Deps{
		Store: st, Logger: log, APIToken: opts.Token, WakeFunc: pool.Wake, CancelFunc: pool.CheckCancels,
	})
	if opts.WrapFunc != nil {
		h = opts.WrapFunc(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
