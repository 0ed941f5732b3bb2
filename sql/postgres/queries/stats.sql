-- name: StatsWorkMem :exec
-- Lets the statistics of the current transaction sort in memory: at the
-- default 4MB, the sort of 100,000 executions spills to disk and takes
-- twice as long. It ends with the transaction.
SELECT set_config('work_mem', '32MB', true);

-- name: PlanStatsTotals :many
-- The totals of one plan's final executions that finished in the window
-- (is_total true, one row, even for none) and those of each epoch-aligned
-- bucket of bucket_seconds that has any (is_total false, bucket
-- its start), in one scan of an index that covers what it reads. Durations
-- of cancelled runs are left out.
SELECT (GROUPING(b.bucket) = 1)::boolean AS is_total,
    COALESCE(b.bucket, 'epoch'::timestamptz)::timestamptz AS bucket,
    count(*) AS runs,
    count(*) FILTER (WHERE b.status = 'passed') AS passed,
    count(*) FILTER (WHERE b.status = 'failed') AS failed,
    count(*) FILTER (WHERE b.status = 'error') AS error,
    count(*) FILTER (WHERE b.status = 'cancelled') AS cancelled,
    (percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (ORDER BY b.duration_ms::float8)
        FILTER (WHERE b.status <> 'cancelled'))::float8[] AS duration_percentiles
FROM (
    SELECT e.status, e.duration_ms,
        date_bin(make_interval(secs => @bucket_seconds::float8), e.finished_at, 'epoch'::timestamptz) AS bucket
    FROM executions AS e
    WHERE e.plan_id = @plan_id
      AND e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= @since::timestamptz AND e.finished_at < @until::timestamptz
      AND (sqlc.narg('trigger')::text IS NULL OR e.trigger = sqlc.narg('trigger')::text)
) AS b
GROUP BY GROUPING SETS ((), (b.bucket));

-- name: PlanStatsSteps :many
-- Per-step statistics over the step summaries of the plan's newest
-- max_runs passed, failed or error executions of the window, by the
-- step's position (from 0) and name. Skipped steps count in runs only.
SELECT (s.i - 1)::integer AS position,
    s.name::text AS name,
    count(*) AS runs,
    count(*) FILTER (WHERE s.status = 'passed') AS passed,
    count(*) FILTER (WHERE s.status = 'failed') AS failed,
    count(*) FILTER (WHERE s.status = 'error') AS error,
    count(*) FILTER (WHERE s.status = 'skipped') AS skipped,
    (percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (ORDER BY s.duration_ms)
        FILTER (WHERE s.status <> 'skipped'))::float8[] AS duration_percentiles
FROM (
    SELECT e.step_summary
    FROM executions AS e
    WHERE e.plan_id = @plan_id
      -- The final statuses as executions_retention_idx's condition says
      -- them, so that the index is usable; then not cancelled.
      AND e.status IN ('passed', 'failed', 'error', 'cancelled') AND e.status <> 'cancelled'
      AND e.finished_at >= @since::timestamptz AND e.finished_at < @until::timestamptz
      AND (sqlc.narg('trigger')::text IS NULL OR e.trigger = sqlc.narg('trigger')::text)
    ORDER BY e.finished_at DESC
    LIMIT @max_runs
) AS r
CROSS JOIN LATERAL (
    SELECT x.i, x.v ->> 0 AS name, x.v ->> 1 AS status,
        CASE WHEN jsonb_typeof(x.v -> 2) = 'number' THEN (x.v ->> 2)::float8 END AS duration_ms
    FROM jsonb_array_elements(r.step_summary) WITH ORDINALITY AS x(v, i)
) AS s
GROUP BY s.i, s.name
ORDER BY s.i, s.name;

-- name: GlobalStatsTotals :one
-- The totals of every plan's final executions that finished in the
-- window, on executions_finished_idx.
SELECT count(*) AS runs,
    count(*) FILTER (WHERE e.status = 'passed') AS passed,
    count(*) FILTER (WHERE e.status = 'failed') AS failed,
    count(*) FILTER (WHERE e.status = 'error') AS error,
    count(*) FILTER (WHERE e.status = 'cancelled') AS cancelled,
    (percentile_cont(ARRAY[0.5, 0.95, 0.99]::float8[]) WITHIN GROUP (ORDER BY e.duration_ms::float8)
        FILTER (WHERE e.status <> 'cancelled'))::float8[] AS duration_percentiles
FROM executions AS e
WHERE e.status IN ('passed', 'failed', 'error', 'cancelled')
  AND e.finished_at >= @since::timestamptz AND e.finished_at < @until::timestamptz;

-- name: GlobalStatsTopFailing :many
-- The plans with the most failed and error executions that finished in
-- the window, most first, then by plan ID; plans without any are left
-- out.
SELECT p.id AS plan_id, p.name, c.runs, c.passed, c.failed, c.error, c.cancelled
FROM (
    SELECT e.plan_id,
        count(*) AS runs,
        count(*) FILTER (WHERE e.status = 'passed') AS passed,
        count(*) FILTER (WHERE e.status = 'failed') AS failed,
        count(*) FILTER (WHERE e.status = 'error') AS error,
        count(*) FILTER (WHERE e.status = 'cancelled') AS cancelled
    FROM executions AS e
    WHERE e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= @since::timestamptz AND e.finished_at < @until::timestamptz
    GROUP BY e.plan_id
) AS c
JOIN plans AS p ON p.id = c.plan_id
WHERE c.failed + c.error > 0
ORDER BY c.failed + c.error DESC, p.id
LIMIT @max_plans;
