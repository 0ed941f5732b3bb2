-- +goose Up
-- Run-history statistics (GET /plan/{id}/stats, GET /stats) read, for each
-- final execution, its duration and a summary of its steps, stored beside
-- the result when the result is written, so that they never parse
-- results, which may be megabytes each:
--   duration_ms   the result's totals.duration_ms, rounded; NULL if none.
--   step_summary  [[name, status, duration_ms], ...] as JSON text, one per
--                 step of the result, in order; NULL if it has no steps.
ALTER TABLE executions ADD COLUMN duration_ms INTEGER;
ALTER TABLE executions ADD COLUMN step_summary TEXT;

-- Existing results get their summary here, as the store computes it
-- (storage.SummarizeResult): numbers from 0 to under 10^15 only, strings only.
-- json_each walks the steps in order.
UPDATE executions
SET duration_ms = CASE
        WHEN json_type(result, '$.totals.duration_ms') IN ('integer', 'real')
         AND json_extract(result, '$.totals.duration_ms') >= 0
         AND json_extract(result, '$.totals.duration_ms') < 1e15
        THEN CAST(round(json_extract(result, '$.totals.duration_ms')) AS INTEGER)
    END,
    step_summary = CASE
        WHEN json_type(result, '$.steps') = 'array' THEN (
            SELECT json_group_array(json_array(
                CASE WHEN json_type(s.value, '$.name') = 'text' THEN json_extract(s.value, '$.name') ELSE '' END,
                CASE WHEN json_type(s.value, '$.status') = 'text' THEN json_extract(s.value, '$.status') ELSE '' END,
                CASE WHEN json_type(s.value, '$.duration_ms') IN ('integer', 'real')
                      AND json_extract(s.value, '$.duration_ms') >= 0
                      AND json_extract(s.value, '$.duration_ms') < 1e15
                     THEN CAST(round(json_extract(s.value, '$.duration_ms')) AS INTEGER)
                END))
            FROM json_each(result, '$.steps') AS s)
    END
WHERE result IS NOT NULL AND json_valid(result);

-- One plan's final executions in a window of finish times, in the order
-- (finish time, ID) that the statistics read them in batches, with what
-- they read (status, trigger, duration), so that no read touches the table; the newest of them for
-- the per-step sample. The pruner's executions_retention_idx (plan_id,
-- finished_at, id) already orders them so: it becomes this superset, under
-- the same name, rather than a second index that every finished execution
-- would have to update.
DROP INDEX executions_retention_idx;
CREATE INDEX executions_retention_idx ON executions (plan_id, finished_at, id, status, trigger, duration_ms)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- Every plan's final executions in a window, for GET /stats.
CREATE INDEX executions_finished_idx ON executions (finished_at, id, status, duration_ms)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- +goose Down
DROP INDEX executions_finished_idx;
DROP INDEX executions_retention_idx;
CREATE INDEX executions_retention_idx
    ON executions (plan_id, finished_at, id)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');
ALTER TABLE executions DROP COLUMN step_summary;
ALTER TABLE executions DROP COLUMN duration_ms;
