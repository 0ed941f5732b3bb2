package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	dto "github.com/prometheus/client_model/go"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// BenchmarkPipeline measures the whole execution pipeline as serve wires
// it: b.N executions of examples/plan.json (3 steps, 9 assertions) against
// a copy of examples/target on 127.0.0.1, each enqueued through the real
// HTTP API (POST /plan/{id}/execute, 32 requests at once), run by the real
// worker pool and execute_plan handler (with the alert evaluator and the
// run metrics), over the store instrumented as serve instruments it. The
// clock runs from the first request until every execution is final.
//
// Run it with a fixed count, as in
//
//	go test -run '^$' -bench Pipeline -benchtime 3000x
//
// It reports exec/s, and per execution: the store calls by operation (the
// calls made inside InTx count too), and on Postgres the transactions the
// database committed (pg_stat_database.xact_commit of astro_bench, which
// counts the asynchronous commits of ASTRO_QUEUE_COMMIT=async too) and the
// WAL flushes the server made (pg_stat_wal.wal_sync; server-wide, so other
// sessions on the server count too). ASTRO_BENCH_WORKERS sets the workers
// (default 8, ASTRO_WORKERS' default).
func BenchmarkPipeline(b *testing.B) {
	workers := 8
	if v, err := strconv.Atoi(os.Getenv("ASTRO_BENCH_WORKERS")); err == nil && v > 0 {
		workers = v
	}
	for _, be := range []struct {
		name string
		open func(testing.TB) (storage.Store, *pgxpool.Pool)
	}{
		{"memory", pipelineMemory},
		{"sqlite", pipelineSQLite},
		{"postgres", pipelinePostgres},
	} {
		b.Run(fmt.Sprintf("%s/workers=%d", be.name, workers), func(b *testing.B) {
			raw, admin := be.open(b)
			benchPipeline(b, raw, admin, be.name, workers)
		})
	}
}

func pipelineMemory(tb testing.TB) (storage.Store, *pgxpool.Pool) {
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, nil
}

func pipelineSQLite(tb testing.TB) (storage.Store, *pgxpool.Pool) {
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(tb.TempDir(), "pipeline.db")})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, nil
}

// pipelinePostgres opens a fresh schema of astro_bench, as serve opens its
// store by default (ASTRO_QUEUE_COMMIT=async).
func pipelinePostgres(tb testing.TB) (storage.Store, *pgxpool.Pool) {
	admin := adminURL()
	if admin == "" {
		tb.Skip("Postgres case skipped: set ASTRO_BENCH_PG_URL to an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	ctx := context.Background()
	be, err := openPostgres(ctx, admin, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(be.close)
	// A database of its own, so that xact_commit counts this benchmark's
	// transactions only.
	if be, err = be.own(ctx, admin, pipelineDatabase); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(be.close)
	u, err := be.freshSchema(ctx, "pipelinebench")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := pgstore.Open(ctx, pgstore.Config{URL: u, AsyncQueueCommit: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	if err := be.checkpoint(ctx); err != nil {
		tb.Fatal(err)
	}
	return s, be.admin
}

// pipelineDatabase is the database BenchmarkPipeline creates and owns on
// the Postgres server.
const pipelineDatabase = "astro_bench_pipeline"

// own returns a backend like b on database name of the same server, which
// it creates through adminURL if it is missing.
func (b *backend) own(ctx context.Context, adminURL, name string) (*backend, error) {
	var exists bool
	err := b.admin.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err == nil && !exists {
		conn, cerr := pgxpool.New(ctx, adminURL)
		if cerr != nil {
			return nil, cerr
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+name)
		conn.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := neturl.Parse(b.baseURL)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	pcfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		return nil, err
	}
	pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	admin, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", name, err)
	}
	return &backend{name: "postgres", baseURL: u.String(), admin: admin, maxConn: b.maxConn}, nil
}

// pipelineTarget is examples/target's API: a health check and a tiny user
// store.
func pipelineTarget() http.Handler {
	var mu sync.Mutex
	users := map[int]string{}
	next := 1
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /api/v1/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "healthy", "version": "1.4.2"})
	})
	mux.HandleFunc("POST /api/v1/users", func(w http.ResponseWriter, r *http.Request) {
		var u struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&u); err != nil || u.Name == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name is required"})
			return
		}
		mu.Lock()
		id := next
		next++
		users[id] = u.Name
		mu.Unlock()
		writeJSON(w, http.StatusCreated, map[string]any{"id": id, "name": u.Name})
	})
	mux.HandleFunc("GET /api/v1/users/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(r.PathValue("id"))
		mu.Lock()
		name, ok := users[id]
		mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such user"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "name": name})
	})
	return mux
}

// finishCounter counts finished executions for the benchmark and passes
// them on to the run metrics.
type finishCounter struct {
	next   planjob.Observer
	n      atomic.Int64
	passed atomic.Int64
	done   chan struct{}
	want   int64
}

func (c *finishCounter) ExecutionFinished(e *storage.Execution, planName string, res *planrun.Result) {
	c.next.ExecutionFinished(e, planName, res)
	if e.Status == storage.ExecutionPassed {
		c.passed.Add(1)
	}
	if c.n.Add(1) == c.want {
		close(c.done)
	}
}

func benchPipeline(b *testing.B, raw storage.Store, admin *pgxpool.Pool, backend string, workers int) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	m := metrics.New(metrics.Options{})
	st := metrics.InstrumentStore(raw, backend, m.Store)

	target := httptest.NewServer(pipelineTarget())
	defer target.Close()
	planFile, err := os.ReadFile("../examples/plan.json")
	if err != nil {
		b.Fatal(err)
	}
	var example struct {
		Name     string                     `json:"name"`
		Document map[string]json.RawMessage `json:"document"`
	}
	if err := json.Unmarshal(planFile, &example); err != nil {
		b.Fatal(err)
	}
	example.Document["variables"], _ = json.Marshal(map[string]string{"base_url": target.URL})
	doc, _ := json.Marshal(example.Document)
	pl, err := st.PlanCreate(ctx, &storage.PlanCreateParams{Name: planName(), Document: doc})
	if err != nil {
		b.Fatal(err)
	}

	counter := &finishCounter{next: m.Runs, done: make(chan struct{}), want: int64(b.N)}
	handler := &planjob.Handler{
		Store:    st,
		Runner:   &planrun.Runner{Client: planrun.NewHTTPClient(nil)},
		Logger:   log,
		Alerts:   &alert.Evaluator{Store: st, Logger: log},
		Observer: counter,
	}
	pool := worker.New(st, worker.Config{Workers: workers, Logger: log, Observer: m.Queue})
	handler.Register(pool)
	poolCtx, stopPool := context.WithCancel(ctx)
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); _ = pool.Run(poolCtx) }()
	defer func() { stopPool(); <-poolDone }()
	if l, ok := raw.(interface {
		Listen(ctx context.Context, wake, checkCancels func())
	}); ok {
		go l.Listen(poolCtx, pool.Wake, pool.CheckCancels)
	}

	srv := httptest.NewServer(api.NewHandler(api.Deps{Store: st, Logger: log, WakeFunc: pool.Wake}))
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	url := srv.URL + "/plan/" + pl.ID.String() + "/execute"

	before := storeCalls(b, m)
	pgBefore := pgCounters(b, admin)
	b.ResetTimer()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				res, err := client.Post(url, "application/json", bytes.NewReader(nil))
				if err != nil {
					b.Error(err)
					return
				}
				_ = res.Body.Close()
				if res.StatusCode != http.StatusAccepted && res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusOK {
					b.Errorf("execute: %s", res.Status)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-counter.done:
	case <-time.After(5 * time.Minute):
		b.Fatalf("only %d of %d executions finished", counter.n.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if p := counter.passed.Load(); p != int64(b.N) {
		b.Fatalf("%d of %d executions passed", p, b.N)
	}
	n := float64(b.N)
	b.ReportMetric(n/elapsed.Seconds(), "exec/s")
	after := storeCalls(b, m)
	ops := make([]string, 0, len(after))
	for op := range after {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		if d := after[op] - before[op]; d > 0 {
			b.ReportMetric(float64(d)/n, op+"/exec")
		}
	}
	if admin != nil {
		pgAfter := pgCounters(b, admin)
		b.ReportMetric(float64(pgAfter[0]-pgBefore[0])/n, "xact_commit/exec")
		b.ReportMetric(float64(pgAfter[1]-pgBefore[1])/n, "wal_sync/exec")
	}
}

// storeCalls returns how many times each store operation was called.
func storeCalls(tb testing.TB, m *metrics.Metrics) map[string]uint64 {
	families, err := m.Registry().Gather()
	if err != nil {
		tb.Fatal(err)
	}
	calls := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "astro_store_operation_duration_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			calls[labelOf(mt, "operation")] += mt.GetHistogram().GetSampleCount()
		}
	}
	return calls
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// pgCounters returns the committed transactions of astro_bench and the WAL
// flushes of the whole server, or nothing without a Postgres admin pool.
func pgCounters(tb testing.TB, admin *pgxpool.Pool) [2]int64 {
	var c [2]int64
	if admin == nil {
		return c
	}
	// The statistics a backend reports lag by up to a second; ask for
	// fresh ones.
	_, _ = admin.Exec(context.Background(), "SELECT pg_stat_force_next_flush()")
	time.Sleep(1100 * time.Millisecond)
	err := admin.QueryRow(context.Background(),
		`SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()),
		        (SELECT wal_sync FROM pg_stat_wal)`).Scan(&c[0], &c[1])
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
