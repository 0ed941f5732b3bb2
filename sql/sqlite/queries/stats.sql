-- name: PlanStatsScan :one
-- One batch of a plan's final executions that finished in the window: the
-- first max_rows in (finish time, ID) order from after_finished_at on,
-- skipping the first skip of them (those of that same finish time that
-- the previous batch read), read on executions_retention_idx without
-- touching the table. SQLite has no percentile function; a window-function
-- query (row_number and count over each bucket) measured several times
-- slower at 100,000 executions than adding the executions up in Go, batch
-- by batch, in bounded memory. Each batch comes back as one row, its
-- executions packed as "finished_at,status,duration_ms" separated by
-- spaces (duration_ms empty when NULL): passing 10,000 rows one by one
-- through database/sql cost twice as much.
SELECT count(*) AS batch_rows,
    CAST(COALESCE(group_concat(b.packed, ' '), '') AS TEXT) AS packed
FROM (
    SELECT e.finished_at || ',' || e.status || ',' || COALESCE(e.duration_ms, '') AS packed
    FROM executions AS e
    WHERE e.plan_id = @plan_id
      AND e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= CAST(@after_finished_at AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
      AND (CAST(sqlc.narg('trigger') AS TEXT) IS NULL OR e.trigger = CAST(sqlc.narg('trigger') AS TEXT))
    ORDER BY e.finished_at, e.id
    LIMIT @max_rows OFFSET @skip
) AS b;

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

-- name: GlobalStatsScan :one
-- One batch of every plan's final executions that finished in the
-- window, on executions_finished_idx, batched and packed as PlanStatsScan
-- does.
SELECT count(*) AS batch_rows,
    CAST(COALESCE(group_concat(b.packed, ' '), '') AS TEXT) AS packed
FROM (
    SELECT e.finished_at || ',' || e.status || ',' || COALESCE(e.duration_ms, '') AS packed
    FROM executions AS e
    WHERE e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= CAST(@after_finished_at AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
    ORDER BY e.finished_at, e.id
    LIMIT @max_rows OFFSET @skip
) AS b;

-- name: GlobalStatsTopFailing :many
-- The plans with the most failed and error executions that finished in
-- the window, most first, then by plan ID; plans without any are left
-- out.
SELECT p.id AS plan_id, p.name, c.runs, c.passed, c.failed, c.error, c.cancelled
FROM (
    SELECT e.plan_id,
        count(*) AS runs,
        CAST(sum(e.status = 'passed') AS INTEGER) AS passed,
        CAST(sum(e.status = 'failed') AS INTEGER) AS failed,
        CAST(sum(e.status = 'error') AS INTEGER) AS error,
        CAST(sum(e.status = 'cancelled') AS INTEGER) AS cancelled
    FROM executions AS e
    WHERE e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= CAST(@since AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
    GROUP BY e.plan_id
) AS c
JOIN plans AS p ON p.id = c.plan_id
WHERE c.failed + c.error > 0
ORDER BY c.failed + c.error DESC, p.id
LIMIT @max_plans;
