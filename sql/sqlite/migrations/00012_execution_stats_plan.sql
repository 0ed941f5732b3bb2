-- +goose Up
-- GET /stats counts each plan's runs (to rank the plans that fail most) in
-- the same pass over executions_finished_idx that adds the window up: with
-- plan_id in the index, that pass reads no table row.
DROP INDEX executions_finished_idx;
CREATE INDEX executions_finished_idx ON executions (finished_at, id, status, duration_ms, plan_id)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- +goose Down
DROP INDEX executions_finished_idx;
CREATE INDEX executions_finished_idx ON executions (finished_at, id, status, duration_ms)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');
