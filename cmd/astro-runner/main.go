// Command astro-runner stores API test plans, runs them through a durable
// job queue, and keeps every result.
//
// Usage:
//
//	astro-runner [serve]              API and workers in one process (default)
//	astro-runner worker               workers only
//	astro-runner migrate up|down|status
//	astro-runner openapi              print the OpenAPI document (YAML)
//
// Configuration comes from the environment; see README.md.
package main

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "astro-runner:", err)
		os.Exit(1)
	}
}

func run(args []string, lookup config.LookupFunc, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "openapi":
		spec, err := api.Spec(version)
		if err != nil {
			return err
		}
		_, err = stdout.Write(spec)
		return err
	case "serve", "worker", "migrate":
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, "usage: astro-runner [serve | worker | migrate up|down|status | openapi]")
		return nil
	default:
		return fmt.Errorf("unknown command %q: want serve, worker, migrate or openapi", cmd)
	}

	cfg, err := config.Load(lookup)
	if err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	log := newLogger(stderr, cfg.LogLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cmd == "migrate" {
		return migrate(ctx, cfg, args, stdout)
	}
	store, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer store.Close()
	log.Info("store open", "backend", cfg.Backend)
	return serve(ctx, cfg, store, log, cmd == "serve")
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// openStore opens the configured backend. Its errors name the variable to
// fix.
func openStore(ctx context.Context, cfg *config.Config, skipMigrate bool) (storage.Store, error) {
	switch cfg.Backend {
	case config.BackendPostgres:
		s, err := pgstore.Open(ctx, pgstore.Config{
			URL: cfg.PostgresURL, SkipMigrate: skipMigrate, AsyncQueueCommit: cfg.QueueCommit == "async",
		})
		if err != nil {
			return nil, fmt.Errorf("POSTGRESQL_URL: %w", err)
		}
		return s, nil
	case config.BackendSQLite:
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: cfg.SQLitePath, SkipMigrate: skipMigrate})
		if err != nil {
			return nil, fmt.Errorf("SQLITE_PATH: %w", err)
		}
		return s, nil
	default:
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{SkipMigrate: skipMigrate})
		if err != nil {
			return nil, fmt.Errorf("STORAGE_BACKEND=memory: %w", err)
		}
		return s, nil
	}
}

func migrate(ctx context.Context, cfg *config.Config, args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: astro-runner migrate up|down|status")
	}
	if cfg.Backend == config.BackendMemory {
		return errors.New("STORAGE_BACKEND=memory keeps nothing to migrate; set STORAGE_BACKEND to sqlite or postgres")
	}
	store, err := openStore(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer store.Close()
	var lines []string
	switch s := store.(type) {
	case *pgstore.Store:
		lines, err = s.Migrate(ctx, pgstore.MigrateDirection(args[0]))
	case *sqlitestore.Store:
		lines, err = s.Migrate(ctx, sqlitestore.MigrateDirection(args[0]))
	}
	if err != nil {
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	if len(lines) == 0 {
		fmt.Fprintln(out, "nothing to do")
	}
	return nil
}

// listener is a store that tells of enqueues and cancels made by any node
// (pgstore.Store.Listen).
type listener interface {
	Listen(ctx context.Context, wake, checkCancels func())
}

var _ listener = (*pgstore.Store)(nil)

// serve runs the workers and, with withAPI, the HTTP server, until ctx
// ends; then it stops accepting requests, drains them, and stops the
// workers.
func serve(ctx context.Context, cfg *config.Config, store storage.Store, log *slog.Logger, withAPI bool) error {
	policy, err := netguard.ParsePolicy(cfg.TargetAllow, cfg.TargetDeny)
	if err != nil {
		return fmt.Errorf("ASTRO_TARGET_ALLOW/ASTRO_TARGET_DENY: %w", err)
	}
	// The handler ends a run itself after cfg.RunTimeout; the worker's job
	// timeout is only a backstop, five minutes later, which leaves time to
	// store the result.
	pool := worker.New(store, worker.Config{
		Workers:         cfg.Workers,
		Lease:           cfg.JobLease,
		RescueInterval:  cfg.RescueInterval,
		JobTimeout:      cfg.RunTimeout + 5*time.Minute,
		ShutdownTimeout: cfg.ShutdownTimeout,
		Logger:          log,
	})
	handler := &planjob.Handler{
		Store: store,
		Runner: &planrun.Runner{
			Client:        planrun.NewHTTPClient(policy),
			EnvAllow:      cfg.PlanEnvAllow,
			SecretPattern: cfg.SecretPattern,
		},
		Logger:     log,
		RunTimeout: cfg.RunTimeout,
	}
	pool.Handle(planjob.Kind, handler.Handle)

	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	if l, ok := store.(listener); ok {
		wg.Go(func() { l.Listen(workCtx, pool.Wake, pool.CheckCancels) })
	}
	wg.Go(func() { reconcile(workCtx, handler, log) })
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); _ = pool.Run(workCtx) }()
	log.Info("workers started", "workers", cfg.Workers)

	if cfg.DebugAddr != "" {
		dbg := &http.Server{Addr: cfg.DebugAddr, Handler: debugHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() {
			if err := dbg.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("debug listener", "addr", cfg.DebugAddr, "error", err)
			}
		}()
		defer dbg.Close()
		log.Info("debug listener", "addr", cfg.DebugAddr)
	}

	var srv *http.Server
	srvErr := make(chan error, 1)
	if withAPI {
		if cfg.APIToken == "" {
			log.Warn("ASTRO_API_TOKEN is not set: the API is open to anyone who can reach it")
		}
		srv = &http.Server{
			Addr: cfg.Addr,
			Handler: api.NewHandler(api.Deps{
				Store: store, Logger: log, APIToken: cfg.APIToken,
				PlanEnvAllow: cfg.PlanEnvAllow, Version: version, WakeFunc: pool.Wake,
				CancelFunc: pool.CheckCancels,
			}),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      60 * time.Second,
			IdleTimeout:       120 * time.Second,
		}
		go func() { srvErr <- srv.ListenAndServe() }()
		log.Info("listening", "addr", cfg.Addr, "docs", "/docs")
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-srvErr:
		if !errors.Is(err, http.ErrServerClosed) {
			stopWork()
			<-poolDone
			return fmt.Errorf("ASTRO_ADDR %s: %w", cfg.Addr, err)
		}
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			log.Warn("http shutdown", "error", err)
		}
		cancel()
	}
	stopWork()
	<-poolDone
	wg.Wait()
	log.Info("stopped")
	return nil
}

// reconcile periodically finishes executions whose job ended without
// finishing them.
func reconcile(ctx context.Context, h *planjob.Handler, log *slog.Logger) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if n, err := h.Reconcile(ctx); err != nil && ctx.Err() == nil {
			log.Debug("reconcile executions", "error", err)
		} else if n > 0 {
			log.Info("finished executions whose job had ended", "executions", n)
		}
	}
}

// debugHandler serves Go's runtime profiles and variables, plus the
// goroutine count as the expvar "goroutines".
func debugHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}

func init() {
	expvar.Publish("goroutines", expvar.Func(func() any { return runtime.NumGoroutine() }))
	publishProcessVars()
}
