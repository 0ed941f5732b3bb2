package main

import (
	"context"
	"errors"
	"expvar"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"runtime"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/schedule"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

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

// newRunner returns the plan runner that cfg describes: its network policy
// (ASTRO_TARGET_ALLOW, ASTRO_TARGET_DENY), the environment variables plans
// may read and the pattern of secret names. Served executions and local
// runs (astro-runner run) use the same one.
func newRunner(cfg *config.Config) (*planrun.Runner, error) {
	policy, err := targetPolicy(cfg)
	if err != nil {
		return nil, err
	}
	return newRunnerWith(cfg, policy), nil
}

// targetPolicy returns the network policy of ASTRO_TARGET_ALLOW and
// ASTRO_TARGET_DENY, which plan targets and alert channels both pass.
func targetPolicy(cfg *config.Config) (*netguard.Policy, error) {
	policy, err := netguard.ParsePolicy(cfg.TargetAllow, cfg.TargetDeny)
	if err != nil {
		return nil, fmt.Errorf("ASTRO_TARGET_ALLOW/ASTRO_TARGET_DENY: %w", err)
	}
	return policy, nil
}

// newRunnerWith returns the plan runner of cfg with the given network
// policy.
func newRunnerWith(cfg *config.Config, policy *netguard.Policy) *planrun.Runner {
	return &planrun.Runner{
		Client:             planrun.NewHTTPClient(policy),
		EnvAllow:           cfg.PlanEnvAllow,
		SecretPattern:      cfg.SecretPattern,
		NoTracePropagation: !cfg.TraceTargets,
	}
}

// listener is a store that tells of enqueues and cancels made by any node
// (pgstore.Store.Listen).
type listener interface {
	Listen(ctx context.Context, wake, checkCancels func())
}

var _ listener = (*pgstore.Store)(nil)

// serve runs the workers and, with withAPI, the HTTP server, until ctx
// ends; then it stops accepting requests, drains them, and stops the
// workers. tp, when not nil, traces the requests and the jobs.
func serve(ctx context.Context, cfg *config.Config, store storage.Store, log *slog.Logger, withAPI bool,
	tp trace.TracerProvider) error {
	policy, err := targetPolicy(cfg)
	if err != nil {
		return err
	}
	// From here on, store records its operations; raw is the backend's own.
	raw := store
	m, store := newMetrics(cfg, raw)
	stopMetrics, err := serveMetrics(cfg, m, log)
	if err != nil {
		return err
	}
	defer stopMetrics()
	box, err := openSecretBox(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	alertLog := log.With("component", "alerts")
	alerts := &alert.Evaluator{
		Store: store, MinInterval: cfg.AlertMinInterval, MaxAttempts: cfg.AlertMaxAttempts,
		PublicURL: cfg.PublicURL, Logger: alertLog,
	}
	deliverer := &alert.Deliverer{
		Store: store, Client: alert.NewHTTPClient(policy), UserAgent: "astro-runner/" + version, Logger: alertLog,
	}
	handler := &planjob.Handler{
		Store:      store,
		Runner:     newRunnerWith(cfg, policy),
		SecretBox:  box,
		Logger:     log,
		RunTimeout: cfg.RunTimeout,
		Alerts:     alerts,
		Observer:   m.Runs,
	}
	base := poolBase(cfg, tp, m.Queue)
	pools := newPools(store, cfg, log, handler, base)
	pools = append(pools, newAlertPool(store, alertLog, alerts, deliverer, base))

	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	if l, ok := raw.(listener); ok {
		wg.Go(func() { l.Listen(workCtx, pools.wake, pools.checkCancels) })
	}
	wg.Go(func() { reconcile(workCtx, handler, log) })
	// Every node prunes; the store makes concurrent prunes safe.
	pruner := retention.New(store, retention.Config{Retention: cfg.ExecutionRetention, Logger: log})
	wg.Go(func() { pruner.Run(workCtx) })
	if cfg.Scheduler {
		sched := &schedule.Scheduler{
			Store: store, Interval: cfg.SchedulerInterval, WakeFunc: pools.wake, Logger: log.With("component", "scheduler"),
		}
		wg.Go(func() { sched.Run(workCtx) })
		log.Info("scheduler started", "interval", cfg.SchedulerInterval)
	}
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); pools.run(workCtx) }()
	log.Info("workers started", "workers", cfg.Workers, "queues", cfg.Queues,
		"execution_retention", retention.Format(cfg.ExecutionRetention))

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
				PlanEnvAllow: cfg.PlanEnvAllow, Version: version, WakeFunc: pools.wake,
				CancelFunc: pools.checkCancels, Secrets: box, ScheduleMinInterval: cfg.ScheduleMinInterval,
				TargetPolicy: policy, ChannelTester: deliverer, TracerProvider: tp,
				Metrics: m.Handler(), ObserveRequestFunc: m.HTTP.Observe,
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

// pools are the worker pools of one process, one per queue of
// ASTRO_QUEUES, each with ASTRO_WORKERS workers.
type pools []*worker.Pool

// newPools returns a pool for each of cfg.Queues, running handler's jobs.
// The handler ends a run itself after cfg.RunTimeout; the worker's job
// timeout is only a backstop, five minutes later, which leaves time to
// store the result. base holds what every pool of the process shares
// (see poolBase).
func newPools(store storage.Store, cfg *config.Config, log *slog.Logger, handler *planjob.Handler, base worker.Config) pools {
	ps := make(pools, 0, len(cfg.Queues))
	for _, queue := range cfg.Queues {
		c := base
		c.Queue, c.Workers, c.Logger = queue, cfg.Workers, log.With("queue", queue)
		c.JobTimeout = cfg.RunTimeout + 5*time.Minute
		pool := worker.New(store, c)
		handler.Register(pool)
		ps = append(ps, pool)
	}
	return ps
}

// poolBase returns the settings that every worker pool of the process
// shares: the lease, the rescuer, the shutdown timeout, and the tracer
// (nil: no spans) and metrics that observe the jobs.
func poolBase(cfg *config.Config, tp trace.TracerProvider, obs worker.Observer) worker.Config {
	return worker.Config{
		Lease: cfg.JobLease, RescueInterval: cfg.RescueInterval, ShutdownTimeout: cfg.ShutdownTimeout,
		TracerProvider: tp, Observer: obs,
	}
}

// alertWorkers is how many alert jobs one process runs at once.
const alertWorkers = 4

// alertJobTimeout bounds one alert job: a delivery's request has its own
// 10 s limit, and recording it a few seconds more.
const alertJobTimeout = time.Minute

// newAlertPool returns the pool of the alert queue, which every serve and
// worker process runs, whatever ASTRO_QUEUES says: it delivers alert
// messages and sends those held back by ASTRO_ALERT_MIN_INTERVAL.
func newAlertPool(store storage.Store, log *slog.Logger, e *alert.Evaluator, d *alert.Deliverer, base worker.Config) *worker.Pool {
	c := base
	c.Queue, c.Workers, c.Logger = alert.Queue, alertWorkers, log.With("queue", alert.Queue)
	c.JobTimeout = alertJobTimeout
	pool := worker.New(store, c)
	pool.Handle(alert.DeliverKind, d.Handle)
	pool.Handle(alert.FlushKind, e.HandleFlush)
	return pool
}

// wake makes every pool look for jobs now.
func (ps pools) wake() {
	for _, p := range ps {
		p.Wake()
	}
}

// checkCancels makes every pool look for cancelled jobs now.
func (ps pools) checkCancels() {
	for _, p := range ps {
		p.CheckCancels()
	}
}

// run runs every pool until ctx ends and they have stopped.
func (ps pools) run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { _ = p.Run(ctx) })
	}
	wg.Wait()
}

// reconcile periodically finishes executions whose job ended without
// finishing them. The handler logs how many.
func reconcile(ctx context.Context, h *planjob.Handler, log *slog.Logger) {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := h.Reconcile(ctx); err != nil && ctx.Err() == nil {
			log.Debug("reconcile executions", "error", err)
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
