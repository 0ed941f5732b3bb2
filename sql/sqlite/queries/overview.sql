-- name: OverviewPage :many
-- One page of the overview, in one statement: up to max_plans plans after
-- after_id by ID, each with its final runs in the window and its newest
-- max_recent executions (one row each, newest first; one row with NULL
-- execution columns for a plan without any). The totals read
-- executions_retention_idx (plan_id, finished_at, ...); each plan's newest
-- executions come from a LIMIT on executions_plan_id_idx (plan_id, id DESC),
-- which stops after max_recent rows (a window function numbering them
-- would read every execution of the plan).
WITH page AS (
    SELECT p.id, p.name FROM plans AS p
    WHERE p.id > CAST(@after_id AS TEXT)
    ORDER BY p.id
    LIMIT @max_plans
),
totals AS (
    SELECT e.plan_id,
        count(*) AS runs,
        CAST(sum(e.status = 'passed') AS INTEGER) AS passed,
        CAST(sum(e.status = 'failed') AS INTEGER) AS failed,
        CAST(sum(e.status = 'error') AS INTEGER) AS error,
        CAST(sum(e.status = 'cancelled') AS INTEGER) AS cancelled
    FROM executions AS e
    WHERE e.plan_id IN (SELECT page.id FROM page)
      AND e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= CAST(@since AS INTEGER) AND e.finished_at < CAST(@until AS INTEGER)
    GROUP BY e.plan_id
),
recent AS (
    SELECT e.plan_id, e.id, e.status, e.trigger, e.created_at, e.finished_at, e.duration_ms
    FROM page
    JOIN executions AS e ON e.id IN (
        SELECT x.id FROM executions AS x
        WHERE x.plan_id = page.id
        ORDER BY x.id DESC
        LIMIT CAST(@max_recent AS INTEGER)
    )
)
SELECT page.id AS plan_id, page.name,
    CAST(COALESCE(t.runs, 0) AS INTEGER) AS runs,
    CAST(COALESCE(t.passed, 0) AS INTEGER) AS passed,
    CAST(COALESCE(t.failed, 0) AS INTEGER) AS failed,
    CAST(COALESCE(t.error, 0) AS INTEGER) AS error,
    CAST(COALESCE(t.cancelled, 0) AS INTEGER) AS cancelled,
    CAST(r.id IS NOT NULL AS INTEGER) AS has_execution,
    CAST(COALESCE(r.id, '') AS TEXT) AS execution_id, CAST(COALESCE(r.status, '') AS TEXT) AS status,
    CAST(COALESCE(r.trigger, '') AS TEXT) AS execution_trigger, CAST(COALESCE(r.created_at, 0) AS INTEGER) AS created_at,
    CAST(r.finished_at IS NOT NULL AS INTEGER) AS finished, CAST(COALESCE(r.finished_at, 0) AS INTEGER) AS finished_at,
    CAST(r.duration_ms IS NOT NULL AS INTEGER) AS has_duration, CAST(COALESCE(r.duration_ms, 0) AS INTEGER) AS duration_ms
FROM page
LEFT JOIN totals AS t ON t.plan_id = page.id
LEFT JOIN recent AS r ON r.plan_id = page.id
ORDER BY page.id, r.id DESC;

-- name: OverviewFailing :many
-- The plans whose latest finished passed, failed or error execution (by
-- finished_at, then ID) failed or errored, with the earliest finish of
-- their failed and error runs since their latest pass; longest failing
-- first. Each probe is an ORDER BY ... LIMIT 1 on executions_retention_idx
-- (plan_id, finished_at, id, status, ...), so that a plan costs a few index
-- steps however many executions it has; each repeats the index's WHERE
-- (status IN the final statuses) word for word, which SQLite needs before
-- it uses a partial index.
SELECT p.id AS plan_id, p.name, CAST(l.status AS TEXT) AS status, CAST(l.id AS TEXT) AS execution_id,
    CAST(COALESCE((
        SELECT e.finished_at FROM executions AS e
        WHERE e.plan_id = p.id AND e.status IN ('passed', 'failed', 'error', 'cancelled') AND e.status IN ('failed', 'error')
          AND e.finished_at > COALESCE((
              SELECT x.finished_at FROM executions AS x
              WHERE x.plan_id = p.id AND x.status IN ('passed', 'failed', 'error', 'cancelled') AND x.status = 'passed'
              ORDER BY x.finished_at DESC
              LIMIT 1
          ), -9223372036854775808)
        ORDER BY e.finished_at
        LIMIT 1
    ), l.finished_at) AS INTEGER) AS failing_since
FROM plans AS p
JOIN executions AS l ON l.id = (
    SELECT x.id FROM executions AS x
    WHERE x.plan_id = p.id AND x.status IN ('passed', 'failed', 'error', 'cancelled') AND x.status IN ('passed', 'failed', 'error')
    ORDER BY x.finished_at DESC, x.id DESC
    LIMIT 1
)
WHERE l.status IN ('failed', 'error')
ORDER BY failing_since, p.id
LIMIT @max_rows;

-- name: ExecutionPickup :many
-- Of the newest max_rows executions (by ID, which is time-ordered; read
-- backwards on the primary key), those that started: their queue and how
-- long they waited from creation to their first start, in microseconds.
SELECT e.queue, CAST(e.started_at - e.created_at AS INTEGER) AS wait_us
FROM (
    SELECT x.queue, x.created_at, x.started_at FROM executions AS x
    ORDER BY x.id DESC
    LIMIT @max_rows
) AS e
WHERE e.started_at IS NOT NULL;
