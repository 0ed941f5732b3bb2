-- name: OverviewPage :many
-- One page of the overview, in one statement: up to max_plans plans after
-- after_id by ID, each with its final runs in the window and its newest
-- max_recent executions (one row each, newest first; one row with a NULL
-- execution for a plan without any). The totals read
-- executions_retention_idx (plan_id, finished_at, id) INCLUDE (status),
-- the recent runs executions_plan_id_idx (plan_id, id DESC).
WITH page AS (
    SELECT p.id, p.name FROM plans AS p
    WHERE p.id > @after_id::uuid
    ORDER BY p.id
    LIMIT @max_plans
)
SELECT page.id AS plan_id, page.name,
    t.runs, t.passed, t.failed, t.error, t.cancelled,
    (r.id IS NOT NULL)::boolean AS has_execution,
    COALESCE(r.id, '00000000-0000-0000-0000-000000000000'::uuid)::uuid AS execution_id,
    COALESCE(r.status::text, '')::text AS status, COALESCE(r.trigger, '')::text AS execution_trigger,
    COALESCE(r.created_at, 'epoch'::timestamptz)::timestamptz AS created_at,
    r.finished_at AS finished_at, r.duration_ms AS duration_ms
FROM page
CROSS JOIN LATERAL (
    SELECT count(*) AS runs,
        count(*) FILTER (WHERE e.status = 'passed') AS passed,
        count(*) FILTER (WHERE e.status = 'failed') AS failed,
        count(*) FILTER (WHERE e.status = 'error') AS error,
        count(*) FILTER (WHERE e.status = 'cancelled') AS cancelled
    FROM executions AS e
    WHERE e.plan_id = page.id
      AND e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at >= @since::timestamptz AND e.finished_at < @until::timestamptz
) AS t
LEFT JOIN LATERAL (
    SELECT e.id, e.status, e.trigger, e.created_at, e.finished_at, e.duration_ms
    FROM executions AS e
    WHERE e.plan_id = page.id
    ORDER BY e.id DESC
    LIMIT @max_recent
) AS r ON true
ORDER BY page.id, r.id DESC;

-- name: OverviewFailing :many
-- The plans whose latest finished passed, failed or error execution (by
-- finished_at, then ID) failed or errored, with the earliest finish of
-- their failed and error runs since their latest pass; longest failing
-- first. Each plan costs two probes of executions_retention_idx.
SELECT p.id AS plan_id, p.name, l.status::text AS status, l.id AS execution_id,
    COALESCE((
        SELECT min(e.finished_at) FROM executions AS e
        WHERE e.plan_id = p.id AND e.status IN ('failed', 'error')
          AND e.finished_at > COALESCE((
              SELECT max(x.finished_at) FROM executions AS x
              WHERE x.plan_id = p.id AND x.status = 'passed'
          ), '-infinity'::timestamptz)
    ), l.finished_at)::timestamptz AS failing_since
FROM plans AS p
CROSS JOIN LATERAL (
    SELECT e.id, e.status, e.finished_at FROM executions AS e
    WHERE e.plan_id = p.id AND e.status IN ('passed', 'failed', 'error') AND e.finished_at IS NOT NULL
    ORDER BY e.finished_at DESC, e.id DESC
    LIMIT 1
) AS l
WHERE l.status IN ('failed', 'error')
ORDER BY failing_since, p.id
LIMIT @max_rows;

-- name: ExecutionPickup :many
-- Of the newest max_rows executions (by ID, which is time-ordered; read
-- backwards on the primary key), those that started: their queue and how
-- long they waited from creation to their first start, in microseconds.
SELECT e.queue, (EXTRACT(EPOCH FROM e.started_at - e.created_at) * 1000000)::bigint AS wait_us
FROM (
    SELECT x.queue, x.created_at, x.started_at FROM executions AS x
    ORDER BY x.id DESC
    LIMIT @max_rows
) AS e
WHERE e.started_at IS NOT NULL;
