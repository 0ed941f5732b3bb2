-- name: ScheduleCreate :one
INSERT INTO schedules (id, plan_id, cron, timezone, variables, environment, queue, overlap, paused, next_run_at)
VALUES (@id, @plan_id, @cron, @timezone, @variables, sqlc.narg('environment'), @queue, @overlap, @paused, @next_run_at)
RETURNING *;

-- name: ScheduleGetByID :one
SELECT * FROM schedules WHERE id = @id;

-- name: ScheduleUpdate :one
UPDATE schedules
SET cron = @cron,
    timezone = @timezone,
    variables = @variables,
    environment = sqlc.narg('environment'),
    queue = @queue,
    overlap = @overlap,
    next_run_at = @next_run_at,
    revision = revision + 1,
    updated_at = now()
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: ScheduleSetPaused :one
-- Resuming sets next_run_at; pausing keeps it.
UPDATE schedules
SET paused = @paused,
    next_run_at = COALESCE(sqlc.narg('next_run_at')::timestamptz, next_run_at),
    revision = revision + 1,
    updated_at = now()
WHERE id = @id
RETURNING *;

-- name: ScheduleDelete :execrows
DELETE FROM schedules WHERE id = @id;

-- name: ScheduleList :many
SELECT * FROM schedules
WHERE id > @after_id
  AND (sqlc.narg('plan_id')::uuid IS NULL OR plan_id = sqlc.narg('plan_id')::uuid)
ORDER BY id
LIMIT @max_rows;

-- name: ScheduleClaimDue :many
-- Locks due schedules, skipping those another node holds, with the
-- revision of their plan and the status of their last execution.
SELECT sqlc.embed(s), p.revision AS plan_revision, CAST(COALESCE(e.status::text, '') AS text) AS last_execution_status
FROM schedules AS s
JOIN plans AS p ON p.id = s.plan_id
LEFT JOIN executions AS e ON e.id = s.last_execution_id
WHERE NOT s.paused AND s.next_run_at <= @now
ORDER BY s.next_run_at
LIMIT @max_rows
FOR UPDATE OF s SKIP LOCKED;

-- name: ScheduleAdvance :exec
-- Moves claimed schedules to their next tick; where fired, records the
-- tick and its execution.
UPDATE schedules AS s
SET next_run_at = u.next_run_at,
    last_run_at = CASE WHEN u.fired THEN u.last_run_at ELSE s.last_run_at END,
    last_execution_id = CASE WHEN u.fired THEN u.last_execution_id ELSE s.last_execution_id END
FROM (
    SELECT unnest(@ids::uuid[]) AS id,
        unnest(@next_run_ats::timestamptz[]) AS next_run_at,
        unnest(@fired::boolean[]) AS fired,
        unnest(@last_run_ats::timestamptz[]) AS last_run_at,
        unnest(@last_execution_ids::uuid[]) AS last_execution_id
) AS u
WHERE s.id = u.id;

-- name: ScheduleNextDue :one
-- The earliest next_run_at of the schedules that are not paused, on the
-- due index.
SELECT next_run_at FROM schedules WHERE NOT paused ORDER BY next_run_at LIMIT 1;

-- name: ScheduleCountByEnvironment :one
-- How many schedules, paused or not, run in the environment.
SELECT count(*) FROM schedules WHERE environment = @environment::text;
