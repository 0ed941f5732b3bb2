-- +goose Up
-- A plan's own retention of finished executions, in seconds: NULL follows
-- the server's ASTRO_EXECUTION_RETENTION, 0 keeps them forever.
ALTER TABLE plans ADD COLUMN retention_seconds INTEGER
    CHECK (retention_seconds >= 0);

-- The pruner reads, plan by plan, only final executions, oldest finish
-- first, stops at the plan's cutoff, and compares IDs without reading the
-- table.
CREATE INDEX executions_retention_idx
    ON executions (plan_id, finished_at, id)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- +goose Down
DROP INDEX executions_retention_idx;
ALTER TABLE plans DROP COLUMN retention_seconds;
