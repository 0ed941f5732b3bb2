-- +goose Up
-- A schedule runs a plan on a cron expression, in a time zone. The
-- scheduler of every node claims due schedules (next_run_at <= now, not
-- paused) under SQLite's single writer, creates their executions and jobs,
-- and moves next_run_at to the next tick after now, in one transaction.
-- Deleting a plan deletes its schedules; executions keep schedule_id.
-- Times are integer microseconds since the Unix epoch.
CREATE TABLE schedules (
    id                TEXT PRIMARY KEY NOT NULL,
    plan_id           TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    cron              TEXT NOT NULL,
    timezone          TEXT NOT NULL DEFAULT 'UTC',
    variables         TEXT NOT NULL DEFAULT '{}',
    environment       TEXT,
    queue             TEXT NOT NULL DEFAULT 'default',
    overlap           TEXT NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'allow')),
    paused            BOOLEAN NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
    next_run_at       INTEGER NOT NULL,
    last_run_at       INTEGER,
    last_execution_id TEXT,
    revision          INTEGER NOT NULL DEFAULT 1,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);

CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE NOT paused;
CREATE INDEX schedules_plan_id_idx ON schedules (plan_id, id);

-- +goose Down
DROP TABLE schedules;
