-- name: ExecutionCreate :one
INSERT INTO executions (id, plan_id, plan_revision, idempotency_key, created_at)
VALUES (@id, @plan_id, @plan_revision, CAST(sqlc.narg('idempotency_key') AS TEXT), @now)
RETURNING *;

-- name: ExecutionGetByID :one
SELECT * FROM executions WHERE id = @id;

-- name: ExecutionGetByIdempotencyKey :one
SELECT * FROM executions WHERE plan_id = @plan_id AND idempotency_key = @idempotency_key;

-- name: ExecutionList :many
SELECT * FROM executions
WHERE (CAST(sqlc.narg('before_id') AS TEXT) IS NULL OR id < CAST(sqlc.narg('before_id') AS TEXT))
  AND (CAST(sqlc.narg('plan_id') AS TEXT) IS NULL OR plan_id = CAST(sqlc.narg('plan_id') AS TEXT))
  AND (CAST(sqlc.narg('status') AS TEXT) IS NULL OR status = CAST(sqlc.narg('status') AS TEXT))
ORDER BY id DESC
LIMIT @max_rows;

-- name: ExecutionSetStatus :one
UPDATE executions
SET status = CAST(@status AS TEXT),
    attempt = CASE WHEN CAST(@attempt AS INTEGER) > 0 THEN CAST(@attempt AS INTEGER) ELSE attempt END,
    result = COALESCE(CAST(sqlc.narg('result') AS TEXT), result),
    started_at = CASE WHEN CAST(@status AS TEXT) = 'running' AND started_at IS NULL THEN @now ELSE started_at END,
    finished_at = CASE WHEN CAST(@final AS BOOLEAN) THEN @now ELSE finished_at END
WHERE id = @id AND status IN (sqlc.slice('from_statuses'))
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
              ORDER BY j.id DESC LIMIT 1) = 'cancelled' THEN 'cancelled'
        ELSE 'error'
    END,
    finished_at = @now
WHERE status IN ('queued', 'running')
  AND (SELECT j.state FROM jobs AS j WHERE j.unique_key = 'execution:' || executions.id
       ORDER BY j.id DESC LIMIT 1) IN ('discarded', 'cancelled');
