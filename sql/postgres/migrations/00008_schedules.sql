-- +goose Up
-- A schedule runs a plan on a cron expression, in a time zone. The
-- scheduler of every node claims due schedules (next_run_at <= now, not
-- paused) with FOR UPDATE SKIP LOCKED, creates their executions and jobs,
-- and moves next_run_at to the next tick after now, in one transaction.
-- Deleting a plan deletes its schedules; executions keep schedule_id.
CREATE TABLE schedules (
    id                uuid PRIMARY KEY,
    plan_id           uuid NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    cron              text NOT NULL,
    timezone          text NOT NULL DEFAULT 'UTC',
    variables         jsonb NOT NULL DEFAULT '{}'::jsonb,
    environment       text,
    queue             text NOT NULL DEFAULT 'default',
    overlap           text NOT NULL DEFAULT 'skip' CHECK (overlap IN ('skip', 'allow')),
    paused            boolean NOT NULL DEFAULT false,
    next_run_at       timestamptz NOT NULL,
    last_run_at       timestamptz,
    last_execution_id uuid,
    revision          bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE NOT paused;
CREATE INDEX schedules_plan_id_idx ON schedules (plan_id, id);

-- +goose Down
DROP TABLE schedules;
