-- name: ScheduleCreate :one
INSERT INTO schedules (id, plan_id, cron, timezone, variables, environment, queue, overlap, paused, next_run_at, created_at, updated_at)
VALUES (@id, @plan_id, @cron, @timezone, @variables, CAST(sqlc.narg('environment') AS TEXT), @queue, @overlap, @paused, @next_run_at, @now, @now)
RETURNING *;

-- name: ScheduleGetByID :one
SELECT * FROM schedules WHERE id = @id;

-- name: ScheduleUpdate :one
UPDATE schedules
SET cron = @cron,
    timezone = @timezone,
    variables = @variables,
    environment = CAST(sqlc.narg('environment') AS TEXT),
    queue = @queue,
    overlap = @overlap,
    next_run_at = @next_run_at,
    revision = revision + 1,
    updated_at = @now
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: ScheduleSetPaused :one
-- Resuming sets next_run_at; pausing keeps it.
UPDATE schedules
SET paused = @paused,
    next_run_at = COALESCE(CAST(sqlc.narg('next_run_at') AS INTEGER), next_run_at),
    revision = revision + 1,
    updated_at = @now
WHERE id = @id
RETURNING *;

-- name: ScheduleDelete :execrows
DELETE FROM schedules WHERE id = @id;

-- name: ScheduleList :many
SELECT * FROM schedules
WHERE id > @after_id
  AND (CAST(sqlc.narg('plan_id') AS TEXT) IS NULL OR plan_id = CAST(sqlc.narg('plan_id') AS TEXT))
ORDER BY id
LIMIT @max_rows;

-- name: ScheduleClaimDue :many
-- Reads due schedules with the revision of their plan and the status of
-- their last execution. The caller holds SQLite's single writer, so no
-- other node can claim them before it commits.
SELECT sqlc.embed(s), p.revision AS plan_revision, COALESCE(e.status, '') AS last_execution_status
FROM schedules AS s
JOIN plans AS p ON p.id = s.plan_id
LEFT JOIN executions AS e ON e.id = s.last_execution_id
WHERE NOT s.paused AND s.next_run_at <= @now
ORDER BY s.next_run_at
LIMIT @max_rows;

-- name: ScheduleAdvance :exec
-- Moves a claimed schedule to its next tick; when fired, records the tick
-- and its execution.
UPDATE schedules
SET next_run_at = @next_run_at,
    last_run_at = CASE WHEN CAST(@fired AS BOOLEAN) THEN @last_run_at ELSE last_run_at END,
    last_execution_id = CASE WHEN CAST(@fired AS BOOLEAN) THEN @last_execution_id ELSE last_execution_id END
WHERE id = @id;

-- name: ScheduleNextDue :one
-- The earliest next_run_at of the schedules that are not paused, on the
-- due index.
SELECT next_run_at FROM schedules WHERE NOT paused ORDER BY next_run_at LIMIT 1;

-- name: ScheduleCountByEnvironment :one
-- How many schedules, paused or not, run in the environment.
SELECT count(*) FROM schedules WHERE environment = CAST(@environment AS TEXT);
