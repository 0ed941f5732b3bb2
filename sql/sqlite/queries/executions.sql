-- name: ExecutionCreate :one
INSERT INTO executions (id, plan_id, plan_revision, idempotency_key, variables, environment, trigger, schedule_id, queue, created_at)
VALUES (@id, @plan_id, @plan_revision, CAST(sqlc.narg('idempotency_key') AS TEXT), @variables,
    CAST(sqlc.narg('environment') AS TEXT), @trigger, CAST(sqlc.narg('schedule_id') AS TEXT), @queue, @now)
RETURNING *;

-- name: ExecutionCreateMany :many
-- @executions is a JSON array of [id, plan_id, plan_revision,
-- idempotency_key, variables, environment, trigger, schedule_id, queue]
-- arrays, so a whole batch is one statement; null means none. A row whose
-- (plan, idempotency key) is taken, by an older execution or an earlier row
-- of the batch, is skipped; RETURNING gives only the rows created.
-- "WHERE true" keeps ON CONFLICT from parsing as a join constraint.
INSERT INTO executions (id, plan_id, plan_revision, idempotency_key, variables, environment, trigger, schedule_id, queue, created_at)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7, value ->> 8, @now
FROM jsonb_each(CAST(@executions AS TEXT))
WHERE true
ON CONFLICT (plan_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: ExecutionGetByID :one
SELECT * FROM executions WHERE id = @id;

-- name: ExecutionGetByIdempotencyKey :one
SELECT * FROM executions WHERE plan_id = @plan_id AND idempotency_key = @idempotency_key;

-- name: ExecutionList :many
-- Newest first, from before_id (NULL for the first page). The bound is
-- written as one comparison, not "before_id IS NULL OR id < before_id",
-- so that SQLite seeks the primary key to it instead of walking from the
-- newest row past every earlier page: '~' sorts after every ID.
SELECT * FROM executions
WHERE id < COALESCE(CAST(sqlc.narg('before_id') AS TEXT), '~')
  AND (CAST(sqlc.narg('plan_id') AS TEXT) IS NULL OR plan_id = CAST(sqlc.narg('plan_id') AS TEXT))
  AND (CAST(sqlc.narg('status') AS TEXT) IS NULL OR status = CAST(sqlc.narg('status') AS TEXT))
  AND (CAST(sqlc.narg('trigger') AS TEXT) IS NULL OR trigger = CAST(sqlc.narg('trigger') AS TEXT))
  AND (CAST(sqlc.narg('schedule_id') AS TEXT) IS NULL OR schedule_id = CAST(sqlc.narg('schedule_id') AS TEXT))
  AND (CAST(sqlc.narg('since') AS INTEGER) IS NULL OR created_at >= CAST(sqlc.narg('since') AS INTEGER))
  AND (CAST(sqlc.narg('until') AS INTEGER) IS NULL OR created_at < CAST(sqlc.narg('until') AS INTEGER))
  AND (CAST(sqlc.narg('labels') AS TEXT) IS NULL OR plan_id IN (
      SELECT p.id FROM plans AS p
      WHERE NOT EXISTS (
          SELECT 1 FROM json_each(CAST(sqlc.narg('labels') AS TEXT)) AS want
          WHERE NOT EXISTS (
              SELECT 1 FROM json_each(p.labels) AS have
              WHERE have.key = want.key AND have.value = want.value
          )
      )))
ORDER BY id DESC
LIMIT @max_rows;

-- name: ExecutionSetStatus :one
-- With job_id set, the write is fenced: it happens only while that job is
-- running under job_token. SQLite has one writer, so the check and the
-- write are atomic. With a result, duration_ms and step_summary take its
-- summary (storage.SummarizeResult).
UPDATE executions
SET status = CAST(@status AS TEXT),
    attempt = CASE WHEN CAST(@attempt AS INTEGER) > 0 THEN CAST(@attempt AS INTEGER) ELSE attempt END,
    result = COALESCE(CAST(sqlc.narg('result') AS TEXT), result),
    duration_ms = CASE WHEN CAST(sqlc.narg('result') AS TEXT) IS NULL THEN duration_ms
        ELSE CAST(sqlc.narg('duration_ms') AS INTEGER) END,
    step_summary = CASE WHEN CAST(sqlc.narg('result') AS TEXT) IS NULL THEN step_summary
        ELSE CAST(sqlc.narg('step_summary') AS TEXT) END,
    started_at = CASE WHEN CAST(@status AS TEXT) = 'running' AND started_at IS NULL THEN @now ELSE started_at END,
    worker_id = COALESCE(CAST(sqlc.narg('worker_id') AS TEXT), worker_id),
    finished_at = CASE WHEN CAST(@final AS BOOLEAN) THEN @now ELSE finished_at END
WHERE (CAST(sqlc.narg('job_id') AS INTEGER) IS NULL OR EXISTS (
      SELECT 1 FROM jobs AS j
      WHERE j.id = CAST(sqlc.narg('job_id') AS INTEGER) AND j.lease_token = CAST(@job_token AS INTEGER) AND j.state = 'running'))
  AND executions.id = @id
  -- The slice comes last: sqlc expands it into bare '?', which would
  -- shift any numbered parameter after it.
  AND executions.status IN (sqlc.slice('from_statuses'))
RETURNING *;

-- name: ExecutionJobHoldsLease :one
-- Tells a fenced ExecutionSetStatus that matched no row whether the fence
-- was the reason.
SELECT CAST(EXISTS (
    SELECT 1 FROM jobs AS j WHERE j.id = @job_id AND j.lease_token = @job_token AND j.state = 'running'
) AS BOOLEAN) AS held;

-- name: ExecutionDeleteByPlanID :execrows
DELETE FROM executions WHERE plan_id = @plan_id;

-- name: ExecutionReconcile :many
-- Finishes queued or running executions whose newest job ended without
-- finishing them, or that have no job at all (an execution and its job are
-- created in one transaction, so a missing job was pruned, never not yet
-- enqueued). A cancelled job cancels its execution; a discarded or
-- completed job, or none, ends it in error with the reason in its result.
-- An execution's job carries the unique key 'execution:<id>'; the newest
-- job's state is looked up where it is needed, on an index. RETURNING
-- gives the executions finished, in no particular order.
UPDATE executions
SET status = CASE WHEN (SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1) = 'cancelled'
             THEN 'cancelled' ELSE 'error' END,
    result = CASE WHEN (SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1) = 'cancelled'
             THEN result
             ELSE json_set(COALESCE(result, '{}'), '$.plan_revision', plan_revision, '$.error',
                 CASE (SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1)
                     WHEN 'discarded' THEN 'the job gave up without recording a result'
                     WHEN 'completed' THEN 'the job finished without recording a result'
                     ELSE 'the job of this execution no longer exists'
                 END) END,
    finished_at = @now
WHERE status IN ('queued', 'running')
  AND COALESCE((SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1), 'gone')
      IN ('discarded', 'cancelled', 'completed', 'gone')
RETURNING *;

-- name: ExecutionPrune :execrows
-- Deletes up to max_rows final executions that finished before their
-- plan's cutoff (now minus retention_seconds, or default_retention_seconds
-- when NULL; 0 keeps them forever), sparing each plan's keep_newest newest
-- executions whatever their age. Plan by plan (CROSS JOIN fixes that
-- order), the newest execution it may delete is found once on
-- executions_plan_id_idx (LIMIT -1 keeps SQLite from flattening the
-- subquery, which would look it up again for every candidate), and the old
-- final ones on executions_retention_idx, which stops at the plan's cutoff
-- and holds the ID to compare. The single writer makes concurrent prunes
-- take turns.
DELETE FROM executions WHERE id IN (
    SELECT e.id
    FROM (
        SELECT p.id AS plan_id,
               CAST(@now AS INTEGER)
                   - COALESCE(p.retention_seconds, CAST(@default_retention_seconds AS INTEGER)) * 1000000 AS cutoff,
               (SELECT k.id FROM executions AS k WHERE k.plan_id = p.id
                ORDER BY k.id DESC LIMIT 1 OFFSET CAST(@keep_newest AS INTEGER)) AS newest_prunable
        FROM plans AS p
        WHERE COALESCE(p.retention_seconds, CAST(@default_retention_seconds AS INTEGER)) > 0
        LIMIT -1
    ) AS b
    CROSS JOIN executions AS e
    WHERE e.plan_id = b.plan_id
      AND e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at < b.cutoff
      AND e.id <= b.newest_prunable
    LIMIT CAST(@max_rows AS INTEGER)
);
