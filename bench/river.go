package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// riverSystem is River, the peer, driven as a library.
type riverSystem struct {
	b   *backend
	log *slog.Logger
	// FetchCooldown and FetchPollInterval of the client. River's own
	// benchmark uses 2ms and 20ms; zero keeps River's defaults (100ms, 1s).
	fetchCooldown, fetchPoll time.Duration
}

// noopArgs are the arguments of River's benchmark job. Seq is used only by
// the latency workload; it is omitted when zero so that burn-down jobs
// carry {} as astro-runner's do.
type noopArgs struct {
	Seq int `json:"seq,omitempty"`
}

// Kind implements river.JobArgs.
func (noopArgs) Kind() string { return noopKind }

// riverQueue is one fresh River queue.
type riverQueue[TTx any] struct {
	driver riverdriver.Driver[TTx]
	schema string
	probe  liveProbe
	count  func(ctx context.Context, state rivertype.JobState) (int64, error)
	close  func()
}

const riverLiveQuery = "SELECT EXISTS (SELECT 1 FROM %sriver_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))"

func (r *riverSystem) openPG(ctx context.Context) (*riverQueue[pgx.Tx], error) {
	u, err := r.b.freshSchema(ctx, "river")
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(u)
	if err != nil {
		return nil, err
	}
	if r.b.maxConn > 0 {
		cfg.MaxConns = r.b.maxConn
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	q := &riverQueue[pgx.Tx]{
		driver: riverpgxv5.New(pool),
		schema: "river",
		probe:  r.b.pgProbe(fmt.Sprintf(riverLiveQuery, "river.")),
		count: func(ctx context.Context, state rivertype.JobState) (n int64, err error) {
			err = r.b.admin.QueryRow(ctx, "SELECT count(*) FROM river.river_job WHERE state = $1", string(state)).Scan(&n)
			return n, err
		},
		close: pool.Close,
	}
	if err := migrateRiver(ctx, q, r.log); err != nil {
		pool.Close()
		return nil, err
	}
	return q, nil
}

func (r *riverSystem) openSQLite(ctx context.Context) (*riverQueue[*sql.Tx], error) {
	path := r.b.freshFile("river")
	// The same connection options as astro-runner's store: WAL,
	// synchronous=NORMAL, IMMEDIATE transactions. One connection, as
	// riversqlite's documentation recommends.
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	probeDB, err := openSQLiteProbeDB(path)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	q := &riverQueue[*sql.Tx]{
		driver: riversqlite.New(db),
		probe:  sqliteProbe(probeDB, fmt.Sprintf(riverLiveQuery, "")),
		count: func(ctx context.Context, state rivertype.JobState) (n int64, err error) {
			err = probeDB.QueryRowContext(ctx, "SELECT count(*) FROM river_job WHERE state = ?", string(state)).Scan(&n)
			return n, err
		},
		close: func() { _ = probeDB.Close(); _ = db.Close() },
	}
	if err := migrateRiver(ctx, q, r.log); err != nil {
		q.close()
		return nil, err
	}
	return q, nil
}

// migrateRiver runs River's migrations from Go (its CLI is a separate module).
func migrateRiver[TTx any](ctx context.Context, q *riverQueue[TTx], log *slog.Logger) error {
	m, err := rivermigrate.New(q.driver, &rivermigrate.Config{Schema: q.schema, Logger: log})
	if err != nil {
		return fmt.Errorf("river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrate up: %w", err)
	}
	return nil
}

func (r *riverSystem) client(w int, workers *river.Workers, schema string) *river.Config {
	return &river.Config{
		FetchCooldown:     r.fetchCooldown,
		FetchPollInterval: r.fetchPoll,
		Logger:            r.log,
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: w}},
		Schema:            schema,
		Workers:           workers,
	}
}

// Burndown implements queueSystem.
func (r *riverSystem) Burndown(ctx context.Context, n, w int) (float64, error) {
	if r.b.name == "postgres" {
		q, err := r.openPG(ctx)
		if err != nil {
			return 0, err
		}
		defer q.close()
		return riverBurndown(ctx, r, q, n, w)
	}
	q, err := r.openSQLite(ctx)
	if err != nil {
		return 0, err
	}
	defer q.close()
	return riverBurndown(ctx, r, q, n, w)
}

func noopInsertParams(n int) []river.InsertManyParams {
	ps := make([]river.InsertManyParams, n)
	for i := range ps {
		ps[i].Args = noopArgs{}
	}
	return ps
}

func riverBurndown[TTx any](ctx context.Context, r *riverSystem, q *riverQueue[TTx], n, w int) (float64, error) {
	bd := newBurnDown(n)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[noopArgs]) error {
		bd.handle()
		return nil
	}))
	client, err := river.NewClient(q.driver, r.client(w, workers, q.schema))
	if err != nil {
		return 0, err
	}
	ps := noopInsertParams(n)
	for i := 0; i < n; i += batchSize {
		if _, err := client.InsertManyFast(ctx, ps[i:min(i+batchSize, n)]); err != nil {
			return 0, err
		}
	}
	if err := r.b.checkpoint(ctx); err != nil {
		return 0, err
	}

	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, err
	}
	defer func() { _ = client.Stop(context.WithoutCancel(ctx)) }()
	end, err := bd.wait(ctx, q.probe)
	if err != nil {
		return 0, err
	}
	if err := client.Stop(ctx); err != nil {
		return 0, err
	}
	if done, err := q.count(ctx, rivertype.JobStateCompleted); err != nil || done != int64(n) {
		return 0, fmt.Errorf("burn-down completed %d of %d jobs (%v)", done, n, err)
	}
	return float64(n) / end.Sub(start).Seconds(), nil
}

// EnqueueBatch implements queueSystem.
func (r *riverSystem) EnqueueBatch(ctx context.Context, n, batch int) (float64, error) {
	if r.b.name == "postgres" {
		q, err := r.openPG(ctx)
		if err != nil {
			return 0, err
		}
		defer q.close()
		return riverEnqueue(ctx, r, q, n, batch)
	}
	q, err := r.openSQLite(ctx)
	if err != nil {
		return 0, err
	}
	defer q.close()
	return riverEnqueue(ctx, r, q, n, batch)
}

// EnqueueSingle implements queueSystem.
func (r *riverSystem) EnqueueSingle(ctx context.Context, n int) (float64, error) {
	return r.EnqueueBatch(ctx, n, 1)
}

// riverEnqueue inserts n jobs with an insert-only client: with InsertManyFast
// in batches, or with Insert, one transaction per job, when batch is 1.
func riverEnqueue[TTx any](ctx context.Context, r *riverSystem, q *riverQueue[TTx], n, batch int) (float64, error) {
	client, err := river.NewClient(q.driver, &river.Config{Logger: r.log, Schema: q.schema})
	if err != nil {
		return 0, err
	}
	ps := noopInsertParams(n)
	if err := r.b.checkpoint(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	if batch == 1 {
		for range n {
			if _, err := client.Insert(ctx, noopArgs{}, nil); err != nil {
				return 0, err
			}
		}
	} else {
		for i := 0; i < n; i += batch {
			if _, err := client.InsertManyFast(ctx, ps[i:min(i+batch, n)]); err != nil {
				return 0, err
			}
		}
	}
	elapsed := time.Since(start)
	if got, err := q.count(ctx, rivertype.JobStateAvailable); err != nil || got != int64(n) {
		return 0, fmt.Errorf("enqueued %d of %d jobs (%v)", got, n, err)
	}
	return float64(n) / elapsed.Seconds(), nil
}

// Latency implements queueSystem.
func (r *riverSystem) Latency(ctx context.Context, rate float64, d time.Duration, w int) (*latencies, error) {
	if r.b.name == "postgres" {
		q, err := r.openPG(ctx)
		if err != nil {
			return nil, err
		}
		defer q.close()
		return riverLatency(ctx, r, q, rate, d, w)
	}
	q, err := r.openSQLite(ctx)
	if err != nil {
		return nil, err
	}
	defer q.close()
	return riverLatency(ctx, r, q, rate, d, w)
}

func riverLatency[TTx any](ctx context.Context, r *riverSystem, q *riverQueue[TTx], rate float64, d time.Duration, w int) (*latencies, error) {
	if err := r.b.checkpoint(ctx); err != nil {
		return nil, err
	}
	pk := newPickups(int(rate * d.Seconds()))
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(_ context.Context, job *river.Job[noopArgs]) error {
		pk.handled(job.Args.Seq)
		return nil
	}))
	client, err := river.NewClient(q.driver, r.client(w, workers, q.schema))
	if err != nil {
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	defer func() { _ = client.Stop(context.WithoutCancel(ctx)) }()
	time.Sleep(500 * time.Millisecond) // Let the listener connect.
	return pk.run(ctx, rate, func(seq int) error {
		_, err := client.Insert(ctx, noopArgs{Seq: seq}, nil)
		return err
	})
}
