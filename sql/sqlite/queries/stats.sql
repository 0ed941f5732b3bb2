-- name: PlanStatsTotals :one
-- A plan's final executions that finished in the window, added up by
-- astro_run_totals (the store's own aggregate function, in Go: SQLite has
-- no percentile function) into totals and, with bucket_us > 0, a time
-- series; read on executions_retention_idx without touching the table.
SELECT CAST(astro_run_totals(e.finished_at, e.status, e.duration_ms, CAST(@bucket_us AS INTEGER)) AS TEXT) AS totals
FROM executions AS e
WHERE e.plan_id = @plan_id
  AND e.status IN ('passed', 'failed', 'error', 'cancelled')
  AND e.finished_at >= CAST(@since AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
  AND (CAST(sqlc.narg('trigger') AS TEXT) IS NULL OR e.trigger = CAST(sqlc.narg('trigger') AS TEXT));

-- name: PlanStatsSteps :many
-- The step summaries of the plan's newest max_runs passed, failed or
-- error executions of the window, decoded and added up in Go (which
-- measured faster than json_each here).
SELECT e.step_summary
FROM executions AS e
WHERE e.plan_id = @plan_id
  -- The final statuses as executions_retention_idx's condition says
  -- them, so that the index is usable; then not cancelled.
  AND e.status IN ('passed', 'failed', 'error', 'cancelled') AND e.status <> 'cancelled'
  AND e.finished_at >= CAST(@since AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
  AND (CAST(sqlc.narg('trigger') AS TEXT) IS NULL OR e.trigger = CAST(sqlc.narg('trigger') AS TEXT))
ORDER BY e.finished_at DESC
LIMIT @max_runs;

-- name: GlobalStatsTotals :one
-- Every plan's final executions that finished in the window, on
-- executions_finished_idx, added up as PlanStatsTotals does, without a
-- time series, and counted by plan for the ranking of the plans that
-- fail most.
SELECT CAST(astro_run_totals(e.finished_at, e.status, e.duration_ms, 0, e.plan_id) AS TEXT) AS totals
FROM executions AS e
WHERE e.status IN ('passed', 'failed', 'error', 'cancelled')
  AND e.finished_at >= CAST(@since AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER);

-- name: PlanNames :many
-- The names of the plans of the given IDs.
SELECT id, name FROM plans WHERE id IN (sqlc.slice('ids'));
