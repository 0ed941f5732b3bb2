-- +goose Up
-- A plan's own retention of finished executions, in seconds: NULL follows
-- the server's ASTRO_EXECUTION_RETENTION, 0 keeps them forever. Adding a
-- nullable column without a default only changes the catalogue.
ALTER TABLE plans ADD COLUMN retention_seconds bigint CHECK (retention_seconds >= 0);

-- The pruner reads, plan by plan, only final executions, oldest finish
-- first, stops at the plan's cutoff, and compares IDs without reading the
-- table. (Not CONCURRENTLY: a concurrent
-- build of a partial index waits for every other such build in the
-- database, and the build takes about a second per million executions.)
CREATE INDEX executions_retention_idx ON executions (plan_id, finished_at, id)
    WHERE status IN ('passed', 'failed', 'error', 'cancelled');

-- +goose Down
DROP INDEX executions_retention_idx;
ALTER TABLE plans DROP COLUMN retention_seconds;
