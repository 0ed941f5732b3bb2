-- name: JobEnqueue :one
INSERT INTO jobs (queue, kind, payload, priority, run_at, max_attempts, unique_key, trace_context)
VALUES (@queue, @kind, @payload, @priority, COALESCE(sqlc.narg('run_at')::timestamptz, now()), @max_attempts, sqlc.narg('unique_key'),
    sqlc.narg('trace_context'))
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

-- name: JobEnqueueMany :many
INSERT INTO jobs (queue, kind, payload, priority, run_at, max_attempts, unique_key, trace_context)
SELECT t.queue, t.kind, t.payload, t.priority,
    CASE WHEN t.run_at < '1970-01-01'::timestamptz THEN now() ELSE t.run_at END,
    t.max_attempts, NULLIF(t.unique_key, ''), NULLIF(t.trace_context, '')
FROM (
    SELECT unnest(@queues::text[]) AS queue,
        unnest(@kinds::text[]) AS kind,
        unnest(@payloads::jsonb[]) AS payload,
        unnest(@priorities::integer[]) AS priority,
        unnest(@run_ats::timestamptz[]) AS run_at,
        unnest(@max_attempts::integer[]) AS max_attempts,
        unnest(@unique_keys::text[]) AS unique_key,
        unnest(@trace_contexts::text[]) AS trace_context
) AS t
ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable') DO NOTHING
RETURNING id;

-- name: JobIDsByUniqueKeys :many
-- The newest job of each key, on the (unique_key, id) index.
SELECT unique_key, CAST(MAX(id) AS BIGINT) AS id FROM jobs
WHERE unique_key = ANY(@unique_keys::text[])
GROUP BY unique_key;

-- name: JobClaim :many
WITH picked AS (
    SELECT j.id FROM jobs AS j
    WHERE j.queue = @queue AND j.state IN ('available', 'retryable') AND j.run_at <= now()
    ORDER BY j.priority DESC, j.run_at, j.id
    LIMIT @max_rows
    FOR UPDATE SKIP LOCKED
)
UPDATE jobs
SET state = 'running',
    attempt = jobs.attempt + 1,
    lease_owner = @worker,
    lease_token = @token,
    lease_expires_at = now() + make_interval(secs => @lease_seconds::float8)
FROM picked
WHERE jobs.id = picked.id
RETURNING jobs.*;

-- name: JobCompleteMany :many
-- Rows are locked in id order, so that batches touching the same jobs in
-- different orders cannot deadlock.
WITH t AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@tokens::bigint[]) AS token
), locked AS (
    SELECT j.id FROM jobs AS j JOIN t ON j.id = t.id AND j.lease_token = t.token
    WHERE j.state = 'running'
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE jobs
SET state = 'completed',
    finished_at = now(),
    lease_expires_at = NULL
FROM locked
WHERE jobs.id = locked.id
RETURNING jobs.id;

-- name: JobFailMany :many
WITH t AS (
    SELECT unnest(@ids::bigint[]) AS id,
        unnest(@tokens::bigint[]) AS token,
        unnest(@errors::text[]) AS error,
        unnest(@retries::boolean[]) AS retry,
        unnest(@delay_seconds::float8[]) AS delay_seconds
), locked AS (
    SELECT j.id, t.error, t.retry, t.delay_seconds
    FROM jobs AS j JOIN t ON j.id = t.id AND j.lease_token = t.token
    WHERE j.state = 'running'
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE jobs
SET state = CASE
        WHEN jobs.cancel_requested THEN 'cancelled'
        WHEN locked.retry AND jobs.attempt < jobs.max_attempts THEN 'retryable'
        ELSE 'discarded'
    END,
    run_at = CASE
        WHEN locked.retry AND jobs.attempt < jobs.max_attempts AND NOT jobs.cancel_requested
            THEN now() + make_interval(secs => locked.delay_seconds)
        ELSE jobs.run_at
    END,
    finished_at = CASE
        WHEN locked.retry AND jobs.attempt < jobs.max_attempts AND NOT jobs.cancel_requested THEN NULL
        ELSE now()
    END,
    last_error = locked.error,
    errors = jobs.errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', jobs.attempt, 'error', locked.error)),
    lease_expires_at = NULL
FROM locked
WHERE jobs.id = locked.id
RETURNING jobs.*;

-- name: JobExtendLease :many
WITH t AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@tokens::bigint[]) AS token
), locked AS (
    SELECT j.id FROM jobs AS j JOIN t ON j.id = t.id AND j.lease_token = t.token
    WHERE j.state = 'running'
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE jobs
SET lease_expires_at = now() + make_interval(secs => @lease_seconds::float8)
FROM locked
WHERE jobs.id = locked.id
RETURNING jobs.id, jobs.cancel_requested;

-- name: JobRelease :many
WITH t AS (
    SELECT unnest(@ids::bigint[]) AS id, unnest(@tokens::bigint[]) AS token
), locked AS (
    SELECT j.id FROM jobs AS j JOIN t ON j.id = t.id AND j.lease_token = t.token
    WHERE j.state = 'running'
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE jobs
SET state = CASE WHEN jobs.cancel_requested THEN 'cancelled' ELSE 'available' END,
    attempt = jobs.attempt - 1,
    run_at = now(),
    finished_at = CASE WHEN jobs.cancel_requested THEN now() ELSE NULL END,
    lease_expires_at = NULL
FROM locked
WHERE jobs.id = locked.id
RETURNING jobs.id;

-- name: JobRescue :execrows
UPDATE jobs
SET state = CASE
        WHEN cancel_requested THEN 'cancelled'
        WHEN attempt < max_attempts THEN 'retryable'
        ELSE 'discarded'
    END,
    run_at = now(),
    finished_at = CASE WHEN NOT cancel_requested AND attempt < max_attempts THEN NULL ELSE now() END,
    last_error = 'lease expired',
    errors = errors || jsonb_build_array(jsonb_build_object('at', now(), 'attempt', attempt, 'error', 'lease expired')),
    lease_expires_at = NULL
WHERE id IN (
    SELECT id FROM jobs
    WHERE state = 'running' AND lease_expires_at < now()
    ORDER BY lease_expires_at
    LIMIT @max_rows
    FOR UPDATE SKIP LOCKED
)
AND state = 'running' AND lease_expires_at < now();

-- name: JobCancel :one
UPDATE jobs
SET state = CASE WHEN state = 'running' THEN 'running' ELSE 'cancelled' END,
    cancel_requested = (state = 'running'),
    finished_at = CASE WHEN state = 'running' THEN NULL ELSE now() END
WHERE id = @id AND state IN ('available', 'retryable', 'running')
RETURNING *;

-- name: JobGet :one
SELECT * FROM jobs WHERE id = @id;

-- name: JobList :many
-- Newest first: by ID descending, from before_id down.
SELECT * FROM jobs
WHERE id < @before_id
  AND (sqlc.narg('queue')::text IS NULL OR queue = sqlc.narg('queue')::text)
  AND (sqlc.narg('state')::text IS NULL OR state = sqlc.narg('state')::text)
  AND (sqlc.narg('kind')::text IS NULL OR kind = sqlc.narg('kind')::text)
ORDER BY id DESC
LIMIT @max_rows;

-- name: JobStats :many
SELECT queue, state, count(*) AS jobs,
    COALESCE(EXTRACT(EPOCH FROM now() - min(run_at) FILTER (WHERE run_at <= now())), 0)::float8 AS oldest_due_seconds
FROM jobs
GROUP BY queue, state
ORDER BY queue, state;

-- name: JobPrune :execrows
DELETE FROM jobs
WHERE id IN (
    SELECT id FROM jobs
    WHERE state IN ('completed', 'discarded', 'cancelled')
      AND finished_at < now() - make_interval(secs => @retention_seconds::float8)
    ORDER BY finished_at
    LIMIT @max_rows
);

-- name: JobVacuum :exec
-- Claims read a partial index that every claim and completion fills with
-- dead entries; vacuuming the table often keeps that index small. SKIP_LOCKED
-- makes a node skip the table while another node is vacuuming it, and
-- TRUNCATE false keeps VACUUM from taking the ACCESS EXCLUSIVE lock that
-- giving back the table's empty tail would need.
VACUUM (SKIP_LOCKED, TRUNCATE false) jobs;
