-- +goose Up
-- Environments are named sets of variables, global to the server; an
-- execution may name one. Names are slugs, so they need no escaping in a
-- path. Variables are a JSON object of strings. Times are integer
-- microseconds since the Unix epoch.
CREATE TABLE environments (
    name        TEXT PRIMARY KEY NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    variables   TEXT NOT NULL DEFAULT '{}',
    revision    INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- What an execution runs with and where it came from. variables holds the
-- run-time overrides as given, not merged with the plan's or the
-- environment's; environment is a name, not a reference, so that deleting
-- an environment keeps the executions that ran with it. schedule_id has no
-- foreign key yet: the schedules table comes later. worker_id is the lease
-- owner of the job when the execution went running.
ALTER TABLE executions ADD COLUMN variables TEXT NOT NULL DEFAULT '{}';
ALTER TABLE executions ADD COLUMN environment TEXT;
ALTER TABLE executions ADD COLUMN trigger TEXT NOT NULL DEFAULT 'api'
    CHECK (trigger IN ('api', 'schedule', 'cli'));
ALTER TABLE executions ADD COLUMN schedule_id TEXT;
ALTER TABLE executions ADD COLUMN queue TEXT NOT NULL DEFAULT 'default';
ALTER TABLE executions ADD COLUMN worker_id TEXT;

CREATE INDEX executions_trigger_idx ON executions (trigger, id DESC);
CREATE INDEX executions_schedule_id_idx ON executions (schedule_id, id DESC) WHERE schedule_id IS NOT NULL;

-- +goose Down
DROP INDEX executions_schedule_id_idx;
DROP INDEX executions_trigger_idx;
ALTER TABLE executions DROP COLUMN worker_id;
ALTER TABLE executions DROP COLUMN queue;
ALTER TABLE executions DROP COLUMN schedule_id;
ALTER TABLE executions DROP COLUMN trigger;
ALTER TABLE executions DROP COLUMN environment;
ALTER TABLE executions DROP COLUMN variables;
DROP TABLE environments;
