-- name: PlanStatsScan :many
-- One batch of a plan's final executions that finished in the window, in
-- (finish time, ID) order after a position, as executions_retention_idx holds
-- them (no sort, no table access). SQLite has no percentile function, and
-- a window-function query (row_number and count over each bucket)
-- measured several times slower at 100,000 executions than adding them up
-- in Go as they stream by, batch by batch, in bounded memory. The first
-- batch starts after (since, '').
SELECT e.id, e.finished_at, e.status, e.duration_ms
FROM executions AS e
WHERE e.plan_id = @plan_id
  AND e.status IN ('passed', 'failed', 'error', 'cancelled')
  AND e.finished_at >= CAST(@after_finished_at AS INTEGER)
  AND (e.finished_at > CAST(@after_finished_at AS INTEGER) OR e.id > CAST(@after_id AS TEXT))
  AND e.finished_at < CAST(@until AS INTEGER)
  AND (CAST(sqlc.narg('trigger') AS TEXT) IS NULL OR e.trigger = CAST(sqlc.narg('trigger') AS TEXT))
ORDER BY e.finished_at, e.id
LIMIT @max_rows;

-- name: PlanStatsSteps :many
-- The step summaries of the plan's newest max_runs passed, failed or
-- error executions of the window, decoded and added up in Go (which
-- measured faster than json_each here).
SELECT e.step_summary
FROM executions AS e
WHERE e.plan_id = @plan_id
  AND e.status IN ('passed', 'failed', 'error')
  AND e.finished_at >= CAST(@since AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
  AND (CAST(sqlc.narg('trigger') AS TEXT) IS NULL OR e.trigger = CAST(sqlc.narg('trigger') AS TEXT))
ORDER BY e.finished_at DESC
LIMIT @max_runs;

-- name: GlobalStatsScan :many
-- One batch of every plan's final executions that finished in the
-- window, in (finish time, ID) order after a position, on
-- executions_finished_idx, as PlanStatsScan reads one plan's.
SELECT e.id, e.finished_at, e.status, e.duration_ms
FROM executions AS e
WHERE e.status IN ('passed', 'failed', 'error', 'cancelled')
  AND e.finished_at >= CAST(@after_finished_at AS INTEGER)
  AND (e.finished_at > CAST(@after_finished_at AS INTEGER) OR e.id > CAST(@after_id AS TEXT))
  AND e.finished_at < CAST(@until AS INTEGER)
ORDER BY e.finished_at, e.id
LIMIT @max_rows;

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
