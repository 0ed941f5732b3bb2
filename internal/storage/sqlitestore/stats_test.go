package sqlitestore

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/storagetest"
)

// TestRunTotalsFunction calls the aggregate astro_run_totals over
// hand-made rows on a store connection: totals, buckets by finish time,
// NULL durations, no rows, and a status that is not final.
func TestRunTotalsFunction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	// call passes rows, each "finished_at, 'status', duration_ms", to the
	// function.
	call := func(t *testing.T, bucketUS int64, rows ...string) (*runTotalsOut, error) {
		t.Helper()
		from := "SELECT 1 AS f, 'passed' AS st, 1 AS d WHERE 0"
		for _, r := range rows {
			from += " UNION ALL SELECT " + r
		}
		var v string
		err := s.r.QueryRowContext(ctx, fmt.Sprintf(`SELECT CAST(%s(f, st, d, ?) AS TEXT) FROM (%s)`,
			runTotalsFunc, from), bucketUS).Scan(&v)
		if err != nil {
			return nil, err
		}
		return decodeRunTotals(v)
	}

	// Bucket of 10 µs: 100 and 105 in bucket 10, 119 in bucket 11, -1 in
	// bucket -1 (floor, not truncation).
	rows := []string{"100, 'passed', 10", "105, 'failed', 30", "119, 'passed', NULL", "119, 'cancelled', 500", "-1, 'error', 20"}
	got, err := call(t, 10, rows...)
	require.NoError(t, err)
	assert.Equal(t, storage.RunTotals{Runs: 5, Passed: 2, Failed: 1, Error: 1, Cancelled: 1,
		Duration: &storage.Percentiles{P50: 20, P95: 29, P99: 29.8}}, got.Totals)
	require.Len(t, got.Series, 3)
	assert.Equal(t, storage.RunTotals{Runs: 2, Passed: 1, Failed: 1,
		Duration: &storage.Percentiles{P50: 20, P95: 29, P99: 29.8}}, got.Series[10])
	assert.Equal(t, storage.RunTotals{Runs: 2, Passed: 1, Cancelled: 1}, got.Series[11], "no duration: NULL, and a cancelled run's is not counted")
	assert.Equal(t, storage.RunTotals{Runs: 1, Error: 1, Duration: &storage.Percentiles{P50: 20, P95: 20, P99: 20}}, got.Series[-1])

	got, err = call(t, 0, rows...)
	require.NoError(t, err)
	assert.Equal(t, int64(5), got.Totals.Runs)
	assert.Empty(t, got.Series, "no buckets without a bucket length")

	// With plan_id, each plan's counts, without durations.
	var v string
	require.NoError(t, s.r.QueryRowContext(ctx, `SELECT CAST(`+runTotalsFunc+`(f, st, d, 0, p) AS TEXT) FROM (
		SELECT 1 AS f, 'passed' AS st, 5 AS d, 'a' AS p UNION ALL SELECT 2, 'failed', 6, 'b'
		UNION ALL SELECT 3, 'error', NULL, 'a' UNION ALL SELECT 4, 'cancelled', 1, 'a')`).Scan(&v))
	byPlan, err := decodeRunTotals(v)
	require.NoError(t, err)
	assert.Equal(t, map[string]storage.RunTotals{
		"a": {Runs: 3, Passed: 1, Error: 1, Cancelled: 1},
		"b": {Runs: 1, Failed: 1},
	}, byPlan.Plans)
	assert.Equal(t, int64(4), byPlan.Totals.Runs)

	got, err = call(t, 10)
	require.NoError(t, err)
	assert.Equal(t, storage.RunTotals{}, got.Totals)
	assert.Empty(t, got.Series)

	_, err = call(t, 10, "100, 'passed', 10", "101, 'running', 10")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `status "running" is not final`)
}

// TestMigration00011BackfillsSummariesAsTheStoreWrites stores results
// through the store, which summarises them in Go, rolls migration 00011
// back and applies it again, so that its UPDATE summarises them in SQL,
// and checks that both give the same summaries.
func TestMigration00011BackfillsSummariesAsTheStoreWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	p, err := s.PlanCreate(ctx, &storage.PlanCreateParams{Name: "backfill", Document: []byte(`{"steps":[]}`)})
	require.NoError(t, err)
	for _, doc := range storagetest.SummaryDocs {
		e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
		require.NoError(t, err)
		_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionError, Result: []byte(doc)})
		require.NoError(t, err)
	}
	// Without a result, no summary.
	_, err = s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
	require.NoError(t, err)

	summaries := func() map[string][2]string {
		rows, err := s.r.QueryContext(ctx, `SELECT id, COALESCE(duration_ms, 'null'), COALESCE(step_summary, 'null') FROM executions`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string][2]string{}
		for rows.Next() {
			var id, d, steps string
			require.NoError(t, rows.Scan(&id, &d, &steps))
			out[id] = [2]string{d, steps}
		}
		require.NoError(t, rows.Err())
		return out
	}
	written := summaries()
	require.Len(t, written, len(storagetest.SummaryDocs)+1)
	// Roll back to before 00011 (00012 and 00011), then up again.
	for range 2 {
		_, err = s.Migrate(ctx, MigrateDown)
		require.NoError(t, err)
	}
	var version int64
	require.NoError(t, s.w.QueryRowContext(ctx, `SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version))
	require.Equal(t, int64(10), version, "rolled back to 00010")
	_, err = s.Migrate(ctx, MigrateUp)
	require.NoError(t, err)
	backfilled := summaries()
	for id, w := range written {
		b := backfilled[id]
		assert.Equal(t, w[0], b[0], "duration of %s", id)
		if w[1] == "null" || b[1] == "null" {
			assert.Equal(t, w[1], b[1], "steps of %s", id)
		} else {
			assert.JSONEq(t, w[1], b[1], "steps of %s", id)
		}
	}
}
