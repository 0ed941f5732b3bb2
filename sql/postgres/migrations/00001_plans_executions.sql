-- +goose Up
CREATE TABLE plans (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    document    jsonb NOT NULL,
    revision    bigint NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plans_name_key UNIQUE (name)
);

CREATE INDEX plans_labels_idx ON plans USING gin (labels jsonb_path_ops);

CREATE TYPE execution_status AS ENUM ('queued', 'running', 'passed', 'failed', 'error', 'cancelled');

CREATE TABLE executions (
    id              uuid PRIMARY KEY,
    plan_id         uuid NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    plan_revision   bigint NOT NULL,
    status          execution_status NOT NULL DEFAULT 'queued',
    attempt         integer NOT NULL DEFAULT 0,
    idempotency_key text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    result          jsonb
);

CREATE INDEX executions_plan_id_idx ON executions (plan_id, id DESC);
CREATE INDEX executions_status_idx ON executions (status, id DESC);
CREATE UNIQUE INDEX executions_idempotency_key_idx ON executions (plan_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP TABLE executions;
DROP TYPE execution_status;
DROP TABLE plans;
