package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// astroSystem is astro-runner's queue: the store's JobStore and the worker
// pool, wired as cmd/astro-runner wires them.
type astroSystem struct {
	b   *backend
	log *slog.Logger
	// asyncQueueCommit is pgstore.Config.AsyncQueueCommit, which
	// ASTRO_QUEUE_COMMIT=async (the default) sets in the product.
	asyncQueueCommit bool
	// metrics attaches the product's metrics to the pool, as serve does
	// (see withMetrics).
	metrics bool
	// tracing gives the pool a tracer provider, as serve does when tracing
	// is on (see withTracing).
	tracing bool
	// burndownCPU is the CPU time this process used during the timed part
	// of the last Burndown.
	burndownCPU time.Duration
}

// astroQueue is one fresh astro-runner queue.
type astroQueue struct {
	store storage.Store
	// listen wakes the pool on LISTEN/NOTIFY; nil on SQLite, where the
	// enqueuer wakes the local pool itself, as the API does.
	listen func(ctx context.Context, wake, checkCancels func())
	probe  liveProbe
	count  func(ctx context.Context, state string) (int64, error)
	close  func()
	// metrics, when set, observes the pool, and is scraped while it runs.
	metrics *metrics.Metrics
	// tp, when set, gives each job a span.
	tp trace.TracerProvider
}

const astroLiveQuery = "SELECT EXISTS (SELECT 1 FROM %sjobs WHERE state IN ('available', 'running', 'retryable'))"

func (a *astroSystem) open(ctx context.Context) (*astroQueue, error) {
	q, err := a.openStore(ctx)
	if err != nil {
		return nil, err
	}
	if a.tracing {
		q = withTracing(q)
	}
	if a.metrics {
		q = withMetrics(q)
	}
	return q, nil
}

func (a *astroSystem) openStore(ctx context.Context) (*astroQueue, error) {
	switch a.b.name {
	case "postgres":
		u, err := a.b.freshSchema(ctx, "astro")
		if err != nil {
			return nil, err
		}
		s, err := pgstore.Open(ctx, pgstore.Config{URL: u, MaxConns: a.b.maxConn, AsyncQueueCommit: a.asyncQueueCommit})
		if err != nil {
			return nil, err
		}
		return &astroQueue{
			store:  s,
			listen: s.Listen,
			probe:  a.b.pgProbe(fmt.Sprintf(astroLiveQuery, "astro.")),
			count: func(ctx context.Context, state string) (n int64, err error) {
				err = a.b.admin.QueryRow(ctx, "SELECT count(*) FROM astro.jobs WHERE state = $1", state).Scan(&n)
				return n, err
			},
			close: func() { _ = s.Close() },
		}, nil
	case "sqlite":
		path := a.b.freshFile("astro")
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
		if err != nil {
			return nil, err
		}
		db, err := openSQLiteProbeDB(path)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		return &astroQueue{
			store: s,
			probe: sqliteProbe(db, fmt.Sprintf(astroLiveQuery, "")),
			count: func(ctx context.Context, state string) (n int64, err error) {
				err = db.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE state = ?", state).Scan(&n)
				return n, err
			},
			close: func() { _ = db.Close(); _ = s.Close() },
		}, nil
	}
	return nil, fmt.Errorf("unknown backend %q", a.b.name)
}

// start runs a pool of w workers with handler h, and its listener on
// Postgres, until the returned stop is called.
func (q *astroQueue) start(ctx context.Context, w int, log *slog.Logger, h worker.HandlerFunc) (pool *worker.Pool, stop func()) {
	cfg := worker.Config{Workers: w, Logger: log, TracerProvider: q.tp}
	if q.metrics != nil {
		cfg.Observer = q.metrics.Queue
	}
	pool = worker.New(q.store, cfg)
	pool.Handle(noopKind, h)
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if q.metrics != nil {
		wg.Go(func() { scrapeEvery(runCtx, q.metrics.Handler(), scrapeInterval) })
	}
	if q.listen != nil {
		wg.Go(func() { q.listen(runCtx, pool.Wake, pool.CheckCancels) })
	}
	wg.Go(func() {
		if err := pool.Run(runCtx); err != nil {
			log.Error("pool stopped", "error", err)
		}
	})
	return pool, func() { cancel(); wg.Wait() }
}

func noopParams(n int) []*storage.JobEnqueueParams {
	ps := make([]*storage.JobEnqueueParams, n)
	for i := range ps {
		ps[i] = &storage.JobEnqueueParams{Kind: noopKind}
	}
	return ps
}

// Burndown implements queueSystem.
func (a *astroSystem) Burndown(ctx context.Context, n, w int) (float64, error) {
	q, err := a.open(ctx)
	if err != nil {
		return 0, err
	}
	defer q.close()
	ps := noopParams(n)
	for i := 0; i < n; i += batchSize {
		if _, err := q.store.JobEnqueueMany(ctx, ps[i:min(i+batchSize, n)]); err != nil {
			return 0, err
		}
	}
	if err := a.b.checkpoint(ctx); err != nil {
		return 0, err
	}

	bd := newBurnDown(n)
	cpu := processCPU()
	start := time.Now()
	_, stop := q.start(ctx, w, a.log, func(context.Context, *storage.Job) error {
		bd.handle()
		return nil
	})
	defer stop()
	end, err := bd.wait(ctx, q.probe)
	if err != nil {
		return 0, err
	}
	a.burndownCPU = processCPU() - cpu
	stop()
	if done, err := q.count(ctx, string(storage.JobCompleted)); err != nil || done != int64(n) {
		return 0, fmt.Errorf("burn-down completed %d of %d jobs (%v)", done, n, err)
	}
	return float64(n) / end.Sub(start).Seconds(), nil
}

// EnqueueBatch implements queueSystem.
func (a *astroSystem) EnqueueBatch(ctx context.Context, n, batch int) (float64, error) {
	q, err := a.open(ctx)
	if err != nil {
		return 0, err
	}
	defer q.close()
	ps := noopParams(n)
	if err := a.b.checkpoint(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	for i := 0; i < n; i += batch {
		if _, err := q.store.JobEnqueueMany(ctx, ps[i:min(i+batch, n)]); err != nil {
			return 0, err
		}
	}
	elapsed := time.Since(start)
	if got, err := q.count(ctx, string(storage.JobAvailable)); err != nil || got != int64(n) {
		return 0, fmt.Errorf("enqueued %d of %d jobs (%v)", got, n, err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// EnqueueSingle implements queueSystem.
func (a *astroSystem) EnqueueSingle(ctx context.Context, n int) (float64, error) {
	q, err := a.open(ctx)
	if err != nil {
		return 0, err
	}
	defer q.close()
	if err := a.b.checkpoint(ctx); err != nil {
		return 0, err
	}
	p := &storage.JobEnqueueParams{Kind: noopKind}
	start := time.Now()
	for range n {
		if _, err := q.store.JobEnqueue(ctx, p); err != nil {
			return 0, err
		}
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// seqPayload is the latency workload's job payload.
type seqPayload struct {
	Seq int `json:"seq"`
}

// Latency implements queueSystem.
func (a *astroSystem) Latency(ctx context.Context, rate float64, d time.Duration, w int) (*latencies, error) {
	q, err := a.open(ctx)
	if err != nil {
		return nil, err
	}
	defer q.close()
	if err := a.b.checkpoint(ctx); err != nil {
		return nil, err
	}
	pk := newPickups(int(rate * d.Seconds()))
	pool, stop := q.start(ctx, w, a.log, func(_ context.Context, job *storage.Job) error {
		var p seqPayload
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return errors.Join(worker.ErrDiscard, err)
		}
		pk.handled(p.Seq)
		return nil
	})
	defer stop()
	time.Sleep(500 * time.Millisecond) // Let the listener connect.
	return pk.run(ctx, rate, func(seq int) error {
		_, err := q.store.JobEnqueue(ctx, &storage.JobEnqueueParams{
			Kind:    noopKind,
			Payload: json.RawMessage(`{"seq":` + strconv.Itoa(seq) + `}`),
		})
		if q.listen == nil {
			pool.Wake()
		}
		return err
	})
}
