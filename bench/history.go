package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// historyPlans is how many plans share the seeded history.
const historyPlans = 100

// historyResult is the result document of every seeded execution: the
// example plan's three steps, passed, about 800 bytes, like the results
// the runs workload stores.
var historyResult = func() string {
	names := []string{"Health check", "Create a user", "Read the user back"}
	steps := make([]string, len(names))
	for i, n := range names {
		steps[i] = fmt.Sprintf(`{"name":%q,"status":"passed","attempts":1,"http_status":200,"duration_ms":1,`+
			`"assertions":[{"kind":"status","expected":[200],"actual":200,"passed":true}],"body_excerpt":"{\"id\":42,\"name\":\"Ada\"}"}`, n)
	}
	return `{"status":"passed","plan_revision":1,"steps":[` + strings.Join(steps, ",") +
		`],"totals":{"passed":3,"failed":0,"errors":0,"skipped":0,"duration_ms":4}}`
}()

// historySummary is what the store keeps beside historyResult for the
// statistics, as it computes it when it writes a result.
func historySummary() (durationMS int64, steps string) {
	s := storage.SummarizeResult(json.RawMessage(historyResult))
	return *s.DurationMS, string(s.Steps)
}

// seedHistory creates historyPlans plans through the store and n passed
// executions of them, round robin, with one batched INSERT … SELECT
// straight into the executions table. They were created and finished a
// day ago, a millisecond apart, with UUIDv7 IDs of that millisecond, so
// they are older than anything the server will create, and far younger
// than the retention period, so the server does not prune them.
func seedHistory(ctx context.Context, store storage.Store, n int, exec func(ctx context.Context, q string) error, dialect string) error {
	for i := range historyPlans {
		_, err := store.PlanCreate(ctx, &storage.PlanCreateParams{
			Name:     fmt.Sprintf("history-%d", i),
			Document: json.RawMessage(`{"steps":[{"name":"s","request":{"method":"GET","url":"http://127.0.0.1:1/"}}]}`),
		})
		if err != nil {
			return fmt.Errorf("create history plans: %w", err)
		}
	}
	t0 := time.Now().Add(-24 * time.Hour).UnixMilli()
	dur, summary := historySummary()
	var q string
	switch dialect {
	case "sqlite":
		q = fmt.Sprintf(`
WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < %[1]d),
p AS (SELECT row_number() OVER (ORDER BY id) - 1 AS k, id FROM plans)
INSERT INTO executions (id, plan_id, plan_revision, status, attempt, created_at, started_at, finished_at, result, duration_ms, step_summary)
SELECT printf('%%08x-%%04x-7000-8000-%%012x', (%[2]d + n) >> 16, (%[2]d + n) & 65535, n),
       p.id, 1, 'passed', 1, (%[2]d + n) * 1000, (%[2]d + n) * 1000, (%[2]d + n) * 1000, '%[3]s', %[4]d, '%[5]s'
FROM g JOIN p ON p.k = g.n %% %[6]d`, n, t0, historyResult, dur, summary, historyPlans)
	case "postgres":
		q = fmt.Sprintf(`
WITH p AS (SELECT array_agg(id ORDER BY id) AS ids FROM plans),
g AS (SELECT n, to_timestamp((%[2]d + n) / 1000.0) AS t, %[2]d + n AS ms FROM generate_series(0, %[1]d - 1) AS n)
INSERT INTO executions (id, plan_id, plan_revision, status, attempt, created_at, started_at, finished_at, result, duration_ms, step_summary)
SELECT (lpad(to_hex(g.ms), 12, '0') || '70008' || lpad(to_hex(g.n), 15, '0'))::uuid,
       p.ids[1 + g.n %% cardinality(p.ids)], 1, 'passed', 1, g.t, g.t, g.t, '%[3]s'::jsonb, %[4]d, '%[5]s'::jsonb
FROM g, p`, n, t0, historyResult, dur, summary)
	default:
		return fmt.Errorf("seed history: unknown dialect %q", dialect)
	}
	if err := exec(ctx, q); err != nil {
		return fmt.Errorf("seed history: %w", err)
	}
	analyze := map[string]string{"sqlite": "ANALYZE", "postgres": "VACUUM ANALYZE executions"}[dialect]
	if err := exec(ctx, analyze); err != nil {
		return fmt.Errorf("seed history: %s: %w", analyze, err)
	}
	return nil
}

// seedSQLiteHistory migrates a new SQLite file through the store and seeds
// n executions into it.
func seedSQLiteHistory(ctx context.Context, path string, n int) error {
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	if err != nil {
		return err
	}
	defer s.Close()
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	return seedHistory(ctx, s, n, func(ctx context.Context, q string) error {
		_, err := db.ExecContext(ctx, q)
		return err
	}, "sqlite")
}

// seedPostgresHistory migrates the schema that u points at through the
// store and seeds n executions into it.
func seedPostgresHistory(ctx context.Context, u string, n int) error {
	s, err := pgstore.Open(ctx, pgstore.Config{URL: u})
	if err != nil {
		return err
	}
	defer s.Close()
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		return err
	}
	defer pool.Close()
	return seedHistory(ctx, s, n, func(ctx context.Context, q string) error {
		_, err := pool.Exec(ctx, q)
		return err
	}, "postgres")
}
