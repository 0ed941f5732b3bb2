-- name: ExecutionCreate :one
INSERT INTO executions (id, plan_id, plan_revision, idempotency_key, variables, environment, trigger, schedule_id, queue)
VALUES (@id, @plan_id, @plan_revision, sqlc.narg('idempotency_key'), @variables, sqlc.narg('environment'),
    @trigger, sqlc.narg('schedule_id'), @queue)
RETURNING *;

-- name: ExecutionCreateMany :many
-- Creates a batch of queued executions with one statement. A row whose
-- (plan, idempotency key) is taken, by an older execution or an earlier row
-- of the batch, is skipped; RETURNING gives only the rows created. An empty
-- key or environment means none, and the nil UUID means no schedule.
INSERT INTO executions (id, plan_id, plan_revision, idempotency_key, variables, environment, trigger, schedule_id, queue)
SELECT t.id, t.plan_id, t.plan_revision, NULLIF(t.idempotency_key, ''), t.variables, NULLIF(t.environment, ''),
    t.trigger, NULLIF(t.schedule_id, '00000000-0000-0000-0000-000000000000'::uuid), t.queue
FROM (
    SELECT unnest(@ids::uuid[]) AS id,
        unnest(@plan_ids::uuid[]) AS plan_id,
        unnest(@plan_revisions::bigint[]) AS plan_revision,
        unnest(@idempotency_keys::text[]) AS idempotency_key,
        unnest(@variables::jsonb[]) AS variables,
        unnest(@environments::text[]) AS environment,
        unnest(@triggers::text[]) AS trigger,
        unnest(@schedule_ids::uuid[]) AS schedule_id,
        unnest(@queues::text[]) AS queue
) AS t
ON CONFLICT (plan_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING *;

-- name: ExecutionGetByID :one
SELECT * FROM executions WHERE id = @id;

-- name: ExecutionGetByIdempotencyKey :one
SELECT * FROM executions WHERE plan_id = @plan_id AND idempotency_key = @idempotency_key;

-- name: ExecutionList :many
-- Newest first, from before_id (NULL for the first page). The bound is one
-- comparison, not "before_id IS NULL OR id < before_id", so that a generic
-- plan of the prepared statement still seeks the primary key to it.
SELECT * FROM executions
WHERE id < COALESCE(sqlc.narg('before_id')::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
  AND (sqlc.narg('plan_id')::uuid IS NULL OR plan_id = sqlc.narg('plan_id')::uuid)
  AND (sqlc.narg('status')::execution_status IS NULL OR status = sqlc.narg('status')::execution_status)
  AND (sqlc.narg('trigger')::text IS NULL OR trigger = sqlc.narg('trigger')::text)
  AND (sqlc.narg('schedule_id')::uuid IS NULL OR schedule_id = sqlc.narg('schedule_id')::uuid)
  AND (sqlc.narg('since')::timestamptz IS NULL OR created_at >= sqlc.narg('since')::timestamptz)
  AND (sqlc.narg('until')::timestamptz IS NULL OR created_at < sqlc.narg('until')::timestamptz)
  AND (sqlc.narg('labels')::jsonb IS NULL OR plan_id IN (
      SELECT p.id FROM plans AS p WHERE p.labels @> sqlc.narg('labels')::jsonb))
ORDER BY id DESC
LIMIT @max_rows;

-- name: ExecutionSetStatus :one
-- With job_id set, the write is fenced: it happens only while that job is
-- running under job_token. FOR SHARE makes a concurrent rescue or claim of
-- the job wait for this write (and this write see the job's newest state),
-- so a worker that lost its lease can never write over the new owner.
-- With a result, duration_ms and step_summary take its summary
-- (storage.SummarizeResult).
UPDATE executions
SET status = @status::execution_status,
    attempt = CASE WHEN @attempt::integer > 0 THEN @attempt::integer ELSE attempt END,
    result = COALESCE(sqlc.narg('result')::jsonb, result),
    duration_ms = CASE WHEN sqlc.narg('result')::jsonb IS NULL THEN duration_ms ELSE sqlc.narg('duration_ms')::bigint END,
    step_summary = CASE WHEN sqlc.narg('result')::jsonb IS NULL THEN step_summary ELSE sqlc.narg('step_summary')::jsonb END,
    started_at = CASE WHEN @status::execution_status = 'running' AND started_at IS NULL
        THEN COALESCE(sqlc.narg('now')::timestamptz, now()) ELSE started_at END,
    worker_id = COALESCE(sqlc.narg('worker_id')::text, worker_id),
    finished_at = CASE WHEN CAST(@final AS BOOLEAN) THEN COALESCE(sqlc.narg('now')::timestamptz, now()) ELSE finished_at END
WHERE executions.id = @id AND executions.status::text = ANY(@from_statuses::text[])
  AND (sqlc.narg('job_id')::bigint IS NULL OR EXISTS (
      SELECT 1 FROM jobs AS j
      WHERE j.id = sqlc.narg('job_id')::bigint AND j.lease_token = @job_token::bigint AND j.state = 'running'
      FOR SHARE))
RETURNING *;

-- name: ExecutionFinishMany :many
-- Moves a batch of executions to final statuses with their results, each
-- fenced by its job as ExecutionSetStatus is: a row moves only while its
-- job runs under its token. The jobs are locked FOR SHARE in id order, so
-- that batches cannot deadlock, and a rescue or claim of one waits for
-- this write. A row whose job lost its lease, or whose execution is gone
-- or cannot move to its status, is skipped; RETURNING gives only the rows
-- moved. A NULL result keeps the stored one; a duration of -1 means none.
WITH t AS (
    SELECT unnest(@ids::uuid[]) AS id,
        unnest(@statuses::text[]) AS status,
        unnest(@results::jsonb[]) AS result,
        unnest(@durations_ms::bigint[]) AS duration_ms,
        unnest(@step_summaries::jsonb[]) AS step_summary,
        unnest(@job_ids::bigint[]) AS job_id,
        unnest(@job_tokens::bigint[]) AS job_token
), held AS (
    SELECT t.id, t.status, t.result, t.duration_ms, t.step_summary
    FROM t JOIN jobs AS j ON j.id = t.job_id AND j.lease_token = t.job_token AND j.state = 'running'
    ORDER BY j.id
    FOR SHARE OF j
)
UPDATE executions
SET status = held.status::execution_status,
    result = COALESCE(held.result, executions.result),
    duration_ms = CASE WHEN held.result IS NULL THEN executions.duration_ms ELSE NULLIF(held.duration_ms, -1) END,
    step_summary = CASE WHEN held.result IS NULL THEN executions.step_summary ELSE held.step_summary END,
    finished_at = now()
FROM held
WHERE executions.id = held.id
  AND (executions.status = 'running' OR (executions.status = 'queued' AND held.status IN ('error', 'cancelled')))
RETURNING executions.*;

-- name: ExecutionStartMany :many
-- Moves the executions of freshly claimed jobs to running, each fenced by
-- its job as ExecutionFinishMany fences it (jobs locked FOR SHARE in id
-- order), and returns each moved row with its plan's name, revision and
-- document as they are now: what the jobs' handlers read next. A row whose
-- job lost its lease, or whose execution is gone or final, is skipped. An
-- attempt of 0 keeps the stored one; an empty worker ID keeps the stored
-- one.
WITH t AS (
    SELECT unnest(@ids::uuid[]) AS id,
        unnest(@attempts::integer[]) AS attempt,
        unnest(@worker_ids::text[]) AS worker_id,
        unnest(@job_ids::bigint[]) AS job_id,
        unnest(@job_tokens::bigint[]) AS job_token
), held AS (
    SELECT t.id, t.attempt, t.worker_id
    FROM t JOIN jobs AS j ON j.id = t.job_id AND j.lease_token = t.job_token AND j.state = 'running'
    ORDER BY j.id
    FOR SHARE OF j
)
UPDATE executions
SET status = 'running',
    attempt = CASE WHEN held.attempt > 0 THEN held.attempt ELSE executions.attempt END,
    started_at = COALESCE(executions.started_at, now()),
    worker_id = COALESCE(NULLIF(held.worker_id, ''), executions.worker_id)
FROM held, plans AS p
WHERE executions.id = held.id AND p.id = executions.plan_id
  AND executions.status IN ('queued', 'running')
RETURNING executions.*, p.name AS plan_name, p.revision AS current_plan_revision, p.document AS plan_document;

-- name: ExecutionJobHoldsLease :one
-- Tells a fenced ExecutionSetStatus that matched no row whether the fence
-- was the reason.
SELECT EXISTS (
    SELECT 1 FROM jobs AS j WHERE j.id = @job_id AND j.lease_token = @job_token AND j.state = 'running'
)::boolean AS held;

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
             THEN 'cancelled'::execution_status ELSE 'error'::execution_status END,
    result = CASE WHEN (SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1) = 'cancelled'
             THEN result
             ELSE COALESCE(result, '{}'::jsonb) || jsonb_build_object('plan_revision', plan_revision, 'error',
                 CASE (SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1)
                     WHEN 'discarded' THEN 'the job gave up without recording a result'
                     WHEN 'completed' THEN 'the job finished without recording a result'
                     ELSE 'the job of this execution no longer exists'
                 END) END,
    finished_at = now()
WHERE status IN ('queued', 'running')
  AND COALESCE((SELECT j.state FROM jobs AS j
                  WHERE j.unique_key = 'execution:' || executions.id ORDER BY j.id DESC LIMIT 1), 'gone')
      IN ('discarded', 'cancelled', 'completed', 'gone')
RETURNING *;

-- name: ExecutionPrune :execrows
-- Deletes up to max_rows final executions that finished longer ago than
-- their plan's retention (retention_seconds, or default_retention_seconds
-- when NULL; 0 keeps them forever), sparing each plan's keep_newest newest
-- executions whatever their age. For each plan, the newest execution it may
-- delete is found on executions_plan_id_idx, and the old final ones on
-- executions_retention_idx, which stops at the plan's cutoff. SKIP LOCKED
-- lets several nodes prune at once: each takes rows the others have not.
WITH doomed AS (
    SELECT e.id
    FROM plans AS p
    CROSS JOIN LATERAL (
        SELECT k.id FROM executions AS k
        WHERE k.plan_id = p.id
        ORDER BY k.id DESC
        OFFSET @keep_newest::integer LIMIT 1
    ) AS newest_prunable
    JOIN executions AS e ON e.plan_id = p.id
    WHERE COALESCE(p.retention_seconds, @default_retention_seconds::bigint) > 0
      AND e.status IN ('passed', 'failed', 'error', 'cancelled')
      AND e.finished_at < COALESCE(sqlc.narg('now')::timestamptz, now())
          - make_interval(secs => COALESCE(p.retention_seconds, @default_retention_seconds::bigint)::float8)
      AND e.id <= newest_prunable.id
    LIMIT @max_rows::integer
    FOR UPDATE OF e SKIP LOCKED
)
DELETE FROM executions WHERE id IN (SELECT id FROM doomed);
