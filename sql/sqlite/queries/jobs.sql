-- name: JobEnqueue :one
INSERT INTO jobs (queue, kind, payload, priority, run_at, max_attempts, unique_key, created_at, trace_context)
VALUES (@queue, @kind, @payload, @priority, @run_at, @max_attempts, CAST(sqlc.narg('unique_key') AS TEXT), @now,
    CAST(sqlc.narg('trace_context') AS TEXT))
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable') DO NOTHING
RETURNING *;

-- name: JobGetLiveByUniqueKey :one
SELECT * FROM jobs
WHERE unique_key = @unique_key AND state IN ('available', 'running', 'retryable');

-- name: JobGetByUniqueKey :one
SELECT * FROM jobs
WHERE unique_key = @unique_key
ORDER BY id DESC
LIMIT 1;

-- name: JobIDsByUniqueKeys :many
-- The newest job of each key, on the (unique_key, id) index.
SELECT unique_key, CAST(MAX(id) AS INTEGER) AS id FROM jobs
WHERE unique_key IN (sqlc.slice('unique_keys'))
GROUP BY unique_key;

-- name: JobClaim :many
UPDATE jobs
SET state = 'running',
    attempt = attempt + 1,
    lease_owner = @worker,
    lease_token = @token,
    lease_expires_at = @lease_expires_at
WHERE id IN (
    SELECT j.id FROM jobs AS j
    WHERE j.queue = @queue AND j.state IN ('available', 'retryable') AND j.run_at <= @now
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT @max_rows
)
RETURNING *;

-- name: JobComplete :one
UPDATE jobs
SET state = 'completed',
    finished_at = @now,
    lease_expires_at = NULL
WHERE id = @id AND lease_token = @token AND state = 'running'
RETURNING id;

-- name: JobFail :one
UPDATE jobs
SET state = CASE
        WHEN cancel_requested THEN 'cancelled'
        WHEN CAST(@retry AS BOOLEAN) AND attempt < max_attempts THEN 'retryable'
        ELSE 'discarded'
    END,
    run_at = CASE
        WHEN CAST(@retry AS BOOLEAN) AND attempt < max_attempts AND NOT cancel_requested THEN @retry_at
        ELSE run_at
    END,
    finished_at = CASE
        WHEN CAST(@retry AS BOOLEAN) AND attempt < max_attempts AND NOT cancel_requested THEN NULL
        ELSE @now
    END,
    last_error = CAST(@error AS TEXT),
    errors = json_insert(errors, '$[#]', json_object('at', CAST(@error_at AS TEXT), 'attempt', attempt, 'error', CAST(@error AS TEXT))),
    lease_expires_at = NULL
WHERE id = @id AND lease_token = @token AND state = 'running'
RETURNING *;

-- name: JobRescue :execrows
UPDATE jobs
SET state = CASE
        WHEN cancel_requested THEN 'cancelled'
        WHEN attempt < max_attempts THEN 'retryable'
        ELSE 'discarded'
    END,
    run_at = @now,
    finished_at = CASE WHEN NOT cancel_requested AND attempt < max_attempts THEN NULL ELSE @now END,
    last_error = 'lease expired',
    errors = json_insert(errors, '$[#]', json_object('at', CAST(@error_at AS TEXT), 'attempt', attempt, 'error', 'lease expired')),
    lease_expires_at = NULL
WHERE id IN (
    SELECT j.id FROM jobs AS j
    WHERE j.state = 'running' AND j.lease_expires_at < @now
    ORDER BY j.lease_expires_at
    LIMIT @max_rows
);

-- name: JobCancel :one
UPDATE jobs
SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
    cancel_requested = (state = 'running'),
    finished_at = CASE WHEN state = 'running' THEN NULL ELSE @now END
WHERE id = @id AND state IN ('available', 'retryable', 'running')
RETURNING *;

-- name: JobGet :one
SELECT * FROM jobs WHERE id = @id;

-- name: JobList :many
-- Newest first: by ID descending, from before_id down.
SELECT * FROM jobs
WHERE id < @before_id
  AND (CAST(sqlc.narg('queue') AS TEXT) IS NULL OR queue = CAST(sqlc.narg('queue') AS TEXT))
  AND (CAST(sqlc.narg('state') AS TEXT) IS NULL OR state = CAST(sqlc.narg('state') AS TEXT))
  AND (CAST(sqlc.narg('kind') AS TEXT) IS NULL OR kind = CAST(sqlc.narg('kind') AS TEXT))
ORDER BY id DESC
LIMIT @max_rows;

-- name: JobStats :many
SELECT queue, state, count(*) AS jobs,
    CAST(COALESCE(min(CASE WHEN run_at <= @now THEN run_at END), 0) AS INTEGER) AS oldest_due_run_at
FROM jobs
GROUP BY queue, state
ORDER BY queue, state;

-- name: JobPrune :execrows
DELETE FROM jobs
WHERE id IN (
    SELECT j.id FROM jobs AS j
    WHERE j.state IN ('completed', 'discarded', 'cancelled') AND j.finished_at < @cutoff
    ORDER BY j.finished_at
    LIMIT @max_rows
);

-- name: JobEnqueueMany :many
-- @jobs is a JSON array of [queue, kind, payload, priority, run_at,
-- max_attempts, unique_key, trace_context] arrays, so a whole batch is one
-- statement.
-- "WHERE true" keeps ON CONFLICT from parsing as a join constraint.
-- jsonb_each hands each row over as JSONB, which ->> reads without parsing
-- it again.
INSERT INTO jobs (queue, kind, payload, priority, run_at, max_attempts, unique_key, created_at, trace_context)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, @now, value ->> 7
FROM jsonb_each(CAST(@jobs AS TEXT))
WHERE true
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable') DO NOTHING
RETURNING id;

-- name: JobCompleteMany :many
-- @refs is a JSON array of [id, token] arrays. Each IN list is read once
-- into a temporary index; the jobs are then visited by primary key. The
-- pair is matched as one 'id:token' text, because SQLite plans a row-value
-- IN (id, lease_token) as a nested loop over both lists.
UPDATE jobs
SET state = 'completed',
    finished_at = @now,
    lease_expires_at = NULL
WHERE id IN (SELECT value ->> 0 FROM jsonb_each(CAST(@refs AS TEXT)))
  AND printf('%d:%d', id, lease_token) IN (
      SELECT printf('%d:%d', value ->> 0, value ->> 1) FROM jsonb_each(CAST(@refs AS TEXT)))
  AND state = 'running'
RETURNING id;

-- name: JobExtendLeaseMany :many
-- @refs is a JSON array of [id, token] arrays, as in JobCompleteMany.
UPDATE jobs
SET lease_expires_at = @lease_expires_at
WHERE id IN (SELECT value ->> 0 FROM jsonb_each(CAST(@refs AS TEXT)))
  AND printf('%d:%d', id, lease_token) IN (
      SELECT printf('%d:%d', value ->> 0, value ->> 1) FROM jsonb_each(CAST(@refs AS TEXT)))
  AND state = 'running'
RETURNING id, cancel_requested;

-- name: JobReleaseMany :many
-- @refs is a JSON array of [id, token] arrays, as in JobCompleteMany.
UPDATE jobs
SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'available' END,
    attempt = attempt - 1,
    run_at = @now,
    finished_at = CASE WHEN cancel_requested THEN @now ELSE NULL END,
    lease_expires_at = NULL
WHERE id IN (SELECT value ->> 0 FROM jsonb_each(CAST(@refs AS TEXT)))
  AND printf('%d:%d', id, lease_token) IN (
      SELECT printf('%d:%d', value ->> 0, value ->> 1) FROM jsonb_each(CAST(@refs AS TEXT)))
  AND state = 'running'
RETURNING id;
