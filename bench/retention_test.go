package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// BenchmarkRetentionPrune seeds old finished executions spread over 1,000
// plans, then measures the API's read latency (GET /plan/{id} and GET
// /execution/{id}, one client back to back) for a while without pruning,
// then while the retention pruner (internal/retention, default settings:
// batches of 500, 100 ms apart) deletes every execution past retention. It
// reports executions pruned per second and the latency ratios pruning /
// idle. It runs once whatever b.N is (use -benchtime 1x):
//
//	ASTRO_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//	  go test -run '^$' -bench RetentionPrune -benchtime 1x -timeout 60m
//
// ASTRO_BENCH_RETENTION_ROWS sets the number of seeded executions
// (default 1,000,000; each plan's newest 100 are kept, so 100,000 of them
// stay and 900,000 are pruned).
func BenchmarkRetentionPrune(b *testing.B) {
	for _, bk := range []struct {
		name string
		rows int
		open func(testing.TB) (storage.Store, seeder)
	}{
		{"sqlite", 1_000_000, retentionSQLite},
		{"postgres", 1_000_000, retentionPostgres},
	} {
		b.Run(bk.name, func(b *testing.B) {
			rows := bk.rows
			if v := os.Getenv("ASTRO_BENCH_RETENTION_ROWS"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil {
					b.Fatal(err)
				}
				rows = n
			}
			store, seed := bk.open(b)
			for b.Loop() {
				runRetentionBench(b, store, seed, rows)
			}
		})
	}
}

// seeder inserts n executions, finished 40 days ago, round robin over the
// store's plans, with ordered UUIDv7-like IDs; it returns IDs of executions
// that pruning keeps (the newest ones).
type seeder func(ctx context.Context, n int) ([]string, error)

const retentionPlans = 1000

// benchResult is the result document of every seeded execution, about
// 600 bytes, like a small plan's.
var benchResult = func() string {
	steps := make([]string, 5)
	for i := range steps {
		steps[i] = fmt.Sprintf(`{"name":"step %d","status":"passed","duration_ms":8,"request":{"method":"GET","url":"https://api.example.com/health"},"response":{"status":200}}`, i)
	}
	return `{"status":"passed","steps":[` + strings.Join(steps, ",") + `],"totals":{"passed":5,"failed":0,"errors":0,"duration_ms":42}}`
}()

func runRetentionBench(b *testing.B, store storage.Store, seed seeder, rows int) {
	ctx := context.Background()
	var planIDs []string
	for i := range retentionPlans {
		p, err := store.PlanCreate(ctx, &storage.PlanCreateParams{Name: fmt.Sprintf("retention-%d", i), Document: benchDoc})
		if err != nil {
			b.Fatal(err)
		}
		planIDs = append(planIDs, p.ID.String())
	}
	start := time.Now()
	keptIDs, err := seed(ctx, rows)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d executions over %d plans in %s", rows, retentionPlans, time.Since(start).Round(time.Millisecond))

	base, stop := serveAPI(b, store)
	defer stop()

	const idle = 15 * time.Second
	idleLat := readLoad(ctx, base, planIDs, keptIDs, func() bool { time.Sleep(idle); return true })

	var pruned int64
	var pruneTook time.Duration
	pruneLat := readLoad(ctx, base, planIDs, keptIDs, func() bool {
		p := retention.New(store, retention.Config{
			Retention: retention.Default, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		t0 := time.Now()
		for {
			n, err := p.Prune(ctx)
			pruned += n
			if err != nil {
				b.Error(err)
				return false
			}
			if n == 0 {
				break
			}
		}
		pruneTook = time.Since(t0)
		return true
	})
	left, err := store.ExecutionList(ctx, &storage.ExecutionListParams{Limit: 1})
	if err != nil || len(left.Executions) == 0 {
		b.Fatalf("executions left: %v", err)
	}

	rate := float64(pruned) / pruneTook.Seconds()
	b.ReportMetric(float64(pruned), "pruned")
	b.ReportMetric(rate, "pruned/s")
	for _, route := range []string{"plan", "execution"} {
		i, p := idleLat[route], pruneLat[route]
		b.ReportMetric(ms(i.q(0.5)), route+"-idle-p50-ms")
		b.ReportMetric(ms(i.q(0.99)), route+"-idle-p99-ms")
		b.ReportMetric(ms(p.q(0.5)), route+"-prune-p50-ms")
		b.ReportMetric(ms(p.q(0.99)), route+"-prune-p99-ms")
		b.Logf("GET /%s/{id}: idle p50 %.2f ms p99 %.2f ms (%d requests); while pruning p50 %.2f ms p99 %.2f ms (%d requests); ratio p50 %.2f p99 %.2f",
			route, ms(i.q(0.5)), ms(i.q(0.99)), len(i), ms(p.q(0.5)), ms(p.q(0.99)), len(p),
			ms(p.q(0.5))/ms(i.q(0.5)), ms(p.q(0.99))/ms(i.q(0.99)))
	}
	b.Logf("pruned %d executions in %s: %.0f per second", pruned, pruneTook.Round(time.Millisecond), rate)
}

// sortedLat is a sorted list of latencies.
type sortedLat []time.Duration

func (l sortedLat) q(q float64) time.Duration {
	lat := latencies{d: l}
	return lat.quantile(q)
}

// readLoad runs one client that alternates GET /plan/{id} and GET
// /execution/{id} back to back until during returns, and returns the
// latencies by route.
func readLoad(ctx context.Context, base string, planIDs, execIDs []string, during func() bool) map[string]sortedLat {
	client := &http.Client{Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	lat := map[string]sortedLat{}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			route, id := "plan", planIDs[i%len(planIDs)]
			if i%2 == 1 {
				route, id = "execution", execIDs[i%len(execIDs)]
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+route+"/"+id, nil)
			t0 := time.Now()
			res, err := client.Do(req)
			if err != nil {
				continue
			}
			_, _ = io.Copy(io.Discard, res.Body)
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				lat[route] = append(lat[route], time.Since(t0))
			}
		}
	})
	during()
	close(done)
	wg.Wait()
	for _, l := range lat {
		slices.Sort(l)
	}
	return lat
}

// serveAPI serves the real API over store on 127.0.0.1.
func serveAPI(tb testing.TB, store storage.Store) (base string, stop func()) {
	h := api.NewHandler(api.Deps{Store: store, Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }
}

func retentionSQLite(tb testing.TB) (storage.Store, seeder) {
	path := filepath.Join(tb.TempDir(), "retention.db")
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	w, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	if err != nil {
		tb.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	tb.Cleanup(func() { _ = w.Close() })
	return s, func(ctx context.Context, n int) ([]string, error) {
		// Finished 40 days ago, one millisecond apart; IDs are UUIDv7 text
		// of that millisecond with the row number as the random part.
		t0 := time.Now().Add(-40 * 24 * time.Hour).UnixMilli()
		stmts := []string{
			`CREATE TEMP TABLE bench_plans AS SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM plans`,
			fmt.Sprintf(`WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < %d)
INSERT INTO executions (id, plan_id, plan_revision, status, attempt, created_at, started_at, finished_at, result)
SELECT printf('%%08x-%%04x-7000-8000-%%012x', (%d + n) >> 16, (%d + n) & 65535, n),
       p.id, 1, 'passed', 1, (%d + n) * 1000, (%d + n) * 1000, (%d + n) * 1000, '%s'
FROM g JOIN bench_plans AS p ON p.k = g.n %% %d`, n, t0, t0, t0, t0, t0, benchResult, retentionPlans),
			`DROP TABLE bench_plans`,
		}
		for _, q := range stmts {
			if _, err := w.ExecContext(ctx, q); err != nil {
				return nil, fmt.Errorf("seed: %w", err)
			}
		}
		return newestIDs(ctx, w)
	}
}

// newestIDs returns the IDs of the 10,000 newest executions: the 10 newest
// of each plan, which pruning keeps.
func newestIDs(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT id FROM executions ORDER BY id DESC LIMIT 10000`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func retentionPostgres(tb testing.TB) (storage.Store, seeder) {
	admin := adminURL()
	if admin == "" {
		tb.Skip("Postgres case skipped: set ASTRO_BENCH_PG_URL to an admin URL")
	}
	ctx := context.Background()
	bk, err := openPostgres(ctx, admin, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(bk.close)
	u, err := bk.freshSchema(ctx, "retention")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := pgstore.Open(ctx, pgstore.Config{URL: u})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	return s, func(ctx context.Context, n int) ([]string, error) {
		// Finished 40 days ago, one millisecond apart; IDs are UUIDv7 of
		// that millisecond with the row number as the random part.
		_, err := pool.Exec(ctx, `
WITH p AS (SELECT array_agg(id ORDER BY id) AS ids FROM plans),
g AS (SELECT n, now() - interval '40 days' + n * interval '1 millisecond' AS t FROM generate_series(0, $1::int - 1) AS n)
INSERT INTO executions (id, plan_id, plan_revision, status, attempt, created_at, started_at, finished_at, result)
SELECT (lpad(to_hex((extract(epoch FROM g.t) * 1000)::bigint), 12, '0') || '70008' || lpad(to_hex(g.n), 15, '0'))::uuid,
       p.ids[1 + g.n % $2::int], 1, 'passed', 1, g.t, g.t, g.t, $3::jsonb
FROM g, p`, n, retentionPlans, benchResult)
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE executions"); err != nil {
			return nil, err
		}
		rows, err := pool.Query(ctx, `SELECT id::text FROM executions ORDER BY id DESC LIMIT 10000`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		return ids, rows.Err()
	}
}
