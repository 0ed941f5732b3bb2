-- +goose Up
-- Run-history statistics (GET /plan/{id}/stats, GET /stats) read, for each
-- final execution, its duration and a summary of its steps, stored beside
-- the result when the result is written, so that they never read results,
-- which may be megabytes each and are TOASTed:
--   duration_ms   the result's totals.duration_ms, rounded; NULL if none.
--   step_summary  [[name, status, duration_ms], ...], one per step of the
--                 result, in order; NULL if the result has no steps.
-- Adding nullable columns without defaults only changes the catalogue.
ALTER TABLE executions ADD COLUMN duration_ms bigint, ADD COLUMN step_summary jsonb;

-- Existing results get their summary here, as the store computes it
-- (storage.SummarizeResult): numbers from 0 to under 10^15 only, strings only.
UPDATE executions
SET duration_ms = CASE
        WHEN jsonb_typeof(result #> '{totals,duration_ms}') = 'number'
         AND (result #>> '{totals,duration_ms}')::numeric >= 0
         AND (result #>> '{totals,duration_ms}')::numeric < 1e15
        THEN round((result #>> '{totals,duration_ms}')::numeric)::bigint
    END,
    step_summary = CASE
        WHEN jsonb_typeof(result -> 'steps') = 'array' THEN (
            SELECT COALESCE(jsonb_agg(jsonb_build_array(
                CASE WHEN jsonb_typeof(s.v -> 'name') = 'string' THEN s.v ->> 'name' ELSE '' END,
                CASE WHEN jsonb_typeof(s.v -> 'status') = 'string' THEN s.v ->> 'status' ELSE '' END,
                CASE WHEN jsonb_typeof(s.v -> 'duration_ms') = 'number'
                      AND (s.v ->> 'duration_ms')::numeric >= 0
                      AND (s.v ->> 'duration_ms')::numeric < 1e15
                     THEN round((s.v ->> 'duration_ms')::numeric)::bigint
                END) ORDER BY s.i), '[]'::jsonb)
            FROM jsonb_array_elements(result -> 'steps') WITH ORDINALITY AS s(v, i))
    END
WHERE result IS NOT NULL;

-- One plan's final executions in a window of finish times, with what the
-- totals and the time series read, for index-only scans; the newest of
-- them for the per-step sample. The pruner's executions_retention_idx
-- (plan_id, finished_at, id) already orders them so: it becomes this
-- superset, under the same name, rather than a second index that every
-- finished execution would have to update.
DROP INDEX executions_retention_idx;
CREATE INDEX executions_retention_idx ON executions (plan_id, finished_at, id) INCLUDE (status, trigger, duration_ms)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- Every plan's final executions in a window, for GET /stats.
CREATE INDEX executions_finished_idx ON executions (finished_at) INCLUDE (plan_id, status, duration_ms)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- +goose Down
DROP INDEX executions_finished_idx;
DROP INDEX executions_retention_idx;
CREATE INDEX executions_retention_idx ON executions (plan_id, finished_at, id)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');
ALTER TABLE executions DROP COLUMN step_summary, DROP COLUMN duration_ms;
