-- +goose Up
-- Environments are named sets of variables, global to the server; an
-- execution may name one. Names are slugs, so they need no escaping in a
-- path. Variables are a JSON object of strings.
CREATE TABLE environments (
    name        text PRIMARY KEY,
    description text NOT NULL DEFAULT '',
    variables   jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision    bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- What an execution runs with and where it came from. variables holds the
-- run-time overrides as given, not merged with the plan's or the
-- environment's; environment is a name, not a reference, so that deleting
-- an environment keeps the executions that ran with it. schedule_id has no
-- foreign key yet: the schedules table comes later. worker_id is the lease
-- owner of the job when the execution went running.
ALTER TABLE executions ADD COLUMN variables jsonb NOT NULL DEFAULT '{}'::jsonb;
ALTER TABLE executions ADD COLUMN environment text;
ALTER TABLE executions ADD COLUMN trigger text NOT NULL DEFAULT 'api'
    CHECK (trigger IN ('api', 'schedule', 'cli'));
ALTER TABLE executions ADD COLUMN schedule_id uuid;
ALTER TABLE executions ADD COLUMN queue text NOT NULL DEFAULT 'default';
ALTER TABLE executions ADD COLUMN worker_id text;

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
