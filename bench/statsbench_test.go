package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// BenchmarkStats measures the run-history statistics (PlanStats and
// GlobalStats, as GET /plan/{id}/stats and GET /stats call them with their
// defaults: the last 7 days, hour buckets, per-step statistics over the
// newest 1,000 runs) over 100,000 finished executions of one plan, spread
// over those 7 days, each with a result of 5 steps (about 1.5 KB), plus
// 10,000 executions of 20 other plans. About 5% of runs fail, 1% end in
// error and 0.5% are cancelled. Seeding takes a while and is not timed:
//
//	ASTRO_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable \
//	  go test -run '^$' -bench Stats -benchtime 20x
//
// ASTRO_BENCH_STATS_ROWS sets the number of the plan's executions (default
// 100,000). On SQLite, WindowFunctionSQL times the alternative this
// implementation measured and rejected: the totals and the time series'
// percentiles computed in SQL with row_number() and count() over each
// bucket, instead of the store's batched scan added up in Go.
func BenchmarkStats(b *testing.B) {
	rows := 100_000
	if v := os.Getenv("ASTRO_BENCH_STATS_ROWS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			b.Fatal(err)
		}
		rows = n
	}
	for _, bk := range []struct {
		name string
		open func(tb testing.TB, rows int) (storage.Store, uuid.UUID, *sql.DB)
	}{
		{"sqlite", statsSQLite},
		{"postgres", statsPostgres},
	} {
		b.Run(bk.name, func(b *testing.B) {
			store, plan, raw := bk.open(b, rows)
			until := time.Now()
			since := until.Add(-7 * 24 * time.Hour)
			ctx := context.Background()
			planStats := func(b *testing.B, stepRuns int) {
				var st *storage.PlanStats
				for b.Loop() {
					var err error
					st, err = store.PlanStats(ctx, &storage.PlanStatsParams{
						PlanID: plan, Since: since, Until: until, Bucket: time.Hour, StepRuns: stepRuns,
					})
					if err != nil {
						b.Fatal(err)
					}
				}
				reportMS(b)
				b.ReportMetric(float64(st.Totals.Runs), "runs")
				b.ReportMetric(float64(st.StepRuns), "step-runs")
				if st.Totals.Runs < int64(rows)*99/100 || len(st.Steps) != 5 {
					b.Fatalf("stats cover %d runs and %d steps", st.Totals.Runs, len(st.Steps))
				}
			}
			b.Run("PlanStats", func(b *testing.B) { planStats(b, 0) })
			b.Run("PlanStats/StepRuns=10000", func(b *testing.B) { planStats(b, storage.MaxStatsStepRuns) })
			b.Run("GlobalStats", func(b *testing.B) {
				var g *storage.GlobalStats
				for b.Loop() {
					var err error
					if g, err = store.GlobalStats(ctx, &storage.GlobalStatsParams{Since: since, Until: until}); err != nil {
						b.Fatal(err)
					}
				}
				reportMS(b)
				b.ReportMetric(float64(g.Totals.Runs), "runs")
			})
			if raw != nil {
				b.Run("WindowFunctionSQL", func(b *testing.B) {
					for b.Loop() {
						if err := windowFunctionStats(ctx, raw, plan, since, until, time.Hour); err != nil {
							b.Fatal(err)
						}
					}
					reportMS(b)
				})
			}
		})
	}
}

// reportMS reports the time per operation in milliseconds.
func reportMS(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
}

// statsPlans is how many other plans share the 10,000 other executions.
const statsPlans = 20

// statsSQLite seeds a SQLite file and returns the store, the plan with
// rows executions, and a read connection for WindowFunctionSQL.
func statsSQLite(tb testing.TB, rows int) (storage.Store, uuid.UUID, *sql.DB) {
	return statsSQLiteAt(tb, filepath.Join(tb.TempDir(), "stats.db"), rows)
}

func statsSQLiteAt(tb testing.TB, path string, rows int) (storage.Store, uuid.UUID, *sql.DB) {
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	plans := statsCreatePlans(tb, s)
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	tb.Cleanup(func() { _ = db.Close() })
	start := time.Now()
	// Finish times spread evenly over the last 7 days; IDs are text with
	// the batch and row number.
	now := time.Now().UnixMicro()
	const span = 7 * 24 * 3600 * 1_000_000
	seed := func(batch, n int, planOf string) error {
		_, err := db.ExecContext(ctx, fmt.Sprintf(`
WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < %[1]d),
x AS (SELECT n, %[2]d - %[3]d + (n * %[3]d / %[1]d) + 1 AS t, abs(random()) %% 1000 AS r,
        10 + abs(random()) %% 190 AS d0, 10 + abs(random()) %% 190 AS d1, 10 + abs(random()) %% 190 AS d2,
        10 + abs(random()) %% 190 AS d3, 10 + abs(random()) %% 190 AS d4 FROM g),
y AS (SELECT x.*, CASE WHEN r < 50 THEN 'failed' WHEN r < 60 THEN 'error' WHEN r < 65 THEN 'cancelled' ELSE 'passed' END AS status,
        d0 + d1 + d2 + d3 + d4 + 5 AS total FROM x),
z AS (SELECT y.*, 'passed' AS s0, 'passed' AS s1,
        CASE status WHEN 'error' THEN 'error' ELSE 'passed' END AS s2,
        CASE status WHEN 'failed' THEN 'failed' WHEN 'error' THEN 'skipped' ELSE 'passed' END AS s3,
        CASE status WHEN 'failed' THEN 'skipped' WHEN 'error' THEN 'skipped' ELSE 'passed' END AS s4 FROM y)
INSERT INTO executions (id, plan_id, plan_revision, status, attempt, created_at, started_at, finished_at, result, duration_ms, step_summary)
SELECT printf('%%08x-0000-7000-8000-%%012x', %[4]d, n), %[5]s, 1, status, 1, t, t, t,
    json_object('status', status, 'plan_revision', 1,
        'steps', json_array(%[6]s),
        'totals', json_object('passed', 0, 'failed', 0, 'errors', 0, 'skipped', 0, 'duration_ms', total)),
    total,
    json_array(json_array('step 0', s0, d0), json_array('step 1', s1, d1), json_array('step 2', s2, d2),
        json_array('step 3', s3, d3), json_array('step 4', s4, d4))
FROM z`, n, now, span, batch, planOf, sqliteSteps()))
		return err
	}
	others := "CASE n % " + strconv.Itoa(statsPlans)
	for i, p := range plans[1:] {
		others += fmt.Sprintf(" WHEN %d THEN '%s'", i, p)
	}
	others += " END"
	if err := seed(1, rows, "'"+plans[0].String()+"'"); err != nil {
		tb.Fatal(err)
	}
	if err := seed(2, 10_000, others); err != nil {
		tb.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "ANALYZE"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("seeded %d + 10,000 executions in %s", rows, time.Since(start).Round(time.Millisecond))
	return s, plans[0], db
}

// sqliteSteps returns the JSON objects of the 5 steps of a seeded result,
// for json_array, named after the columns of z.
func sqliteSteps() string {
	out := ""
	for k := range 5 {
		if k > 0 {
			out += ", "
		}
		out += fmt.Sprintf(`json_object('name', 'step %[1]d', 'status', s%[1]d, 'attempts', 1, 'http_status', 200, 'duration_ms', d%[1]d,
            'assertions', json_array(json_object('kind', 'status', 'expected', 200, 'actual', 200, 'passed', json('true'))),
            'body_excerpt', '{"id":42,"name":"a typical body, cut at 4 KiB"}')`, k)
	}
	return out
}

// statsPostgres seeds a schema of astro_bench and returns the store and
// the plan with rows executions.
func statsPostgres(tb testing.TB, rows int) (storage.Store, uuid.UUID, *sql.DB) {
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
	u, err := bk.freshSchema(ctx, "stats")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := pgstore.Open(ctx, pgstore.Config{URL: u})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	plans := statsCreatePlans(tb, s)
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	start := time.Now()
	seed := func(n int, plans []uuid.UUID) error {
		_, err := pool.Exec(ctx, `
WITH g AS (
    SELECT n, now() - interval '7 days' + (n + 1) * (interval '7 days' / $1::int) AS t, random() AS r
    FROM generate_series(0, $1::int - 1) AS n
), x AS (
    SELECT g.n, g.t, CASE WHEN r < 0.05 THEN 'failed' WHEN r < 0.06 THEN 'error' WHEN r < 0.065 THEN 'cancelled' ELSE 'passed' END AS status
    FROM g
)
INSERT INTO executions (id, plan_id, plan_revision, status, attempt, created_at, started_at, finished_at, result, duration_ms, step_summary)
SELECT gen_random_uuid(), ($2::uuid[])[1 + x.n % cardinality($2::uuid[])], 1, x.status::execution_status, 1, x.t, x.t, x.t,
    jsonb_build_object('status', x.status, 'plan_revision', 1, 'steps', s.steps,
        'totals', jsonb_build_object('passed', 0, 'failed', 0, 'errors', 0, 'skipped', 0, 'duration_ms', s.total)),
    s.total, s.summary
FROM x
CROSS JOIN LATERAL (
    SELECT jsonb_agg(jsonb_build_object('name', 'step ' || k, 'status', st, 'attempts', 1, 'http_status', 200, 'duration_ms', d,
               'assertions', jsonb_build_array(jsonb_build_object('kind', 'status', 'expected', 200, 'actual', 200, 'passed', true)),
               'body_excerpt', '{"id":42,"name":"a typical body, cut at 4 KiB"}') ORDER BY k) AS steps,
           jsonb_agg(jsonb_build_array('step ' || k, st, d) ORDER BY k) AS summary,
           sum(d)::bigint + 5 AS total
    FROM (
        SELECT k, (10 + floor(random() * 190))::bigint AS d,
            CASE WHEN x.status = 'failed' AND k = 3 THEN 'failed'
                 WHEN x.status = 'failed' AND k = 4 THEN 'skipped'
                 WHEN x.status = 'error' AND k = 2 THEN 'error'
                 WHEN x.status = 'error' AND k > 2 THEN 'skipped'
                 ELSE 'passed' END AS st
        FROM generate_series(0, 4) AS k
    ) AS q
) AS s`, n, plans)
		return err
	}
	if err := seed(rows, plans[:1]); err != nil {
		tb.Fatal(err)
	}
	if err := seed(10_000, plans[1:]); err != nil {
		tb.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE executions"); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("seeded %d + 10,000 executions in %s", rows, time.Since(start).Round(time.Millisecond))
	return s, plans[0], nil
}

// statsCreatePlans creates the plan under study and statsPlans others.
func statsCreatePlans(tb testing.TB, s storage.Store) []uuid.UUID {
	ids := make([]uuid.UUID, 0, 1+statsPlans)
	for i := range 1 + statsPlans {
		p, err := s.PlanCreate(context.Background(), &storage.PlanCreateParams{Name: fmt.Sprintf("stats-%d", i), Document: benchDoc})
		if err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	return ids
}

// windowFunctionStats computes what PlanStats' scan gives (the totals and
// each bucket's counts and p50/p95/p99 ranks) with window functions in
// SQLite, the rejected alternative, and reads every row of the answer. It
// is a measure of cost: it ranks cancelled runs in the buckets and leaves
// the interpolation to the caller, which makes no difference to what it
// costs.
func windowFunctionStats(ctx context.Context, db *sql.DB, plan uuid.UUID, since, until time.Time, bucket time.Duration) error {
	const q = `
WITH d AS (
    SELECT finished_at / ?4 AS b, status, duration_ms,
        row_number() OVER (PARTITION BY finished_at / ?4 ORDER BY duration_ms) - 1 AS i,
        count(duration_ms) OVER (PARTITION BY finished_at / ?4) AS n
    FROM executions
    WHERE plan_id = ?1 AND status IN ('passed', 'failed', 'error', 'cancelled')
      AND finished_at >= ?2 AND finished_at < ?3
), t AS (
    SELECT duration_ms AS v, row_number() OVER (ORDER BY duration_ms) - 1 AS i, count(duration_ms) OVER () AS n
    FROM executions
    WHERE plan_id = ?1 AND status IN ('passed', 'failed', 'error') AND duration_ms IS NOT NULL
      AND finished_at >= ?2 AND finished_at < ?3
)
SELECT b, count(*), sum(status = 'passed'), sum(status = 'failed'), sum(status = 'error'), sum(status = 'cancelled'),
    max(CASE WHEN i = CAST(0.5 * (n - 1) AS INTEGER) THEN duration_ms END),
    max(CASE WHEN i = CAST(0.5 * (n - 1) AS INTEGER) + 1 THEN duration_ms END),
    max(CASE WHEN i = CAST(0.95 * (n - 1) AS INTEGER) THEN duration_ms END),
    max(CASE WHEN i = CAST(0.95 * (n - 1) AS INTEGER) + 1 THEN duration_ms END),
    max(CASE WHEN i = CAST(0.99 * (n - 1) AS INTEGER) THEN duration_ms END),
    max(CASE WHEN i = CAST(0.99 * (n - 1) AS INTEGER) + 1 THEN duration_ms END)
FROM d GROUP BY b
UNION ALL
SELECT -1, max(n), 0, 0, 0, 0,
    max(CASE WHEN i = CAST(0.5 * (n - 1) AS INTEGER) THEN v END),
    max(CASE WHEN i = CAST(0.5 * (n - 1) AS INTEGER) + 1 THEN v END),
    max(CASE WHEN i = CAST(0.95 * (n - 1) AS INTEGER) THEN v END),
    max(CASE WHEN i = CAST(0.95 * (n - 1) AS INTEGER) + 1 THEN v END),
    max(CASE WHEN i = CAST(0.99 * (n - 1) AS INTEGER) THEN v END),
    max(CASE WHEN i = CAST(0.99 * (n - 1) AS INTEGER) + 1 THEN v END)
FROM t`
	rows, err := db.QueryContext(ctx, q, plan.String(), since.UnixMicro(), until.UnixMicro(), bucket.Microseconds())
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
	}
	if n < 2 {
		return fmt.Errorf("window-function query gave %d rows", n)
	}
	return rows.Err()
}
