-- name: ExecutionCreate :one
INSERT INTO executions (id, plan_id, plan_revision, idempotency_key)
VALUES (@id, @plan_id, @plan_revision, sqlc.narg('idempotency_key'))
RETURNING *;

-- name: ExecutionGetByID :one
SELECT * FROM executions WHERE id = @id;

-- name: ExecutionGetByIdempotencyKey :one
SELECT * FROM executions WHERE plan_id = @plan_id AND idempotency_key = @idempotency_key;

-- name: ExecutionList :many
SELECT * FROM executions
WHERE (sqlc.narg('before_id')::uuid IS NULL OR id < sqlc.narg('before_id')::uuid)
  AND (sqlc.narg('plan_id')::uuid IS NULL OR plan_id = sqlc.narg('plan_id')::uuid)
  AND (sqlc.narg('status')::execution_status IS NULL OR status = sqlc.narg('status')::execution_status)
ORDER BY id DESC
LIMIT @max_rows;

-- name: ExecutionSetStatus :one
UPDATE executions
SET status = @status::execution_status,
    attempt = CASE WHEN @attempt::integer > 0 THEN @attempt::integer ELSE attempt END,
    result = COALESCE(sqlc.narg('result')::jsonb, result),
    started_at = CASE WHEN @status::execution_status = 'running' AND started_at IS NULL THEN now() ELSE started_at END,
    finished_at = CASE WHEN CAST(@final AS BOOLEAN) THEN now() ELSE finished_at END
WHERE id = @id AND status::text = ANY(@from_statuses::text[])
RETURNING *;

-- name: ExecutionDeleteByPlanID :execrows
DELETE FROM executions WHERE plan_id = @plan_id;

-- name: ExecutionReconcile :execrows
-- Finishes executions whose newest job ended without finishing them: a
-- discarded job leaves its execution in error, a cancelled one cancels it.
-- An execution's job carries the unique key 'execution:<id>'.
UPDATE executions
SET status = CASE
        WHEN (SELECT j.state FROM jobs AS j WHERE j.unique_key = 'execution:' || executions.id
              ORDER BY j.id DESC LIMIT 1) = 'cancelled' THEN 'cancelled'::execution_status
        ELSE 'error'::execution_status
    END,
    finished_at = now()
WHERE status IN ('queued', 'running')
  AND (SELECT j.state FROM jobs AS j WHERE j.unique_key = 'execution:' || executions.id
       ORDER BY j.id DESC LIMIT 1) IN ('discarded', 'cancelled');
