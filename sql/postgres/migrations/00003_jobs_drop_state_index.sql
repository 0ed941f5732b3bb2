-- +goose Up
-- Every claim and completion changes a job's state, so this index cost one
-- entry per state change and slowed the queue; listing jobs by state now
-- walks the primary key instead.
DROP INDEX jobs_state_idx;

-- +goose Down
CREATE INDEX jobs_state_idx ON jobs (state, id);
