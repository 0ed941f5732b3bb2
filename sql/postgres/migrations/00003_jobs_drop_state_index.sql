-- +goose NO TRANSACTION
-- +goose Up
-- Every claim and completion changes a job's state, so this index cost one
-- entry per state change and slowed the queue; listing jobs by state now
-- walks the primary key instead. CONCURRENTLY keeps the queue running while
-- the index goes.
DROP INDEX CONCURRENTLY IF EXISTS jobs_state_idx;

-- +goose Down
CREATE INDEX CONCURRENTLY IF NOT EXISTS jobs_state_idx ON jobs (state, id);
