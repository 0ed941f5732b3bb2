-- +goose Up
-- Times are integer microseconds since the Unix epoch; UUIDs are text.
CREATE TABLE plans (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    labels      TEXT NOT NULL DEFAULT '{}',
    document    TEXT NOT NULL,
    revision    INTEGER NOT NULL DEFAULT 1,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE executions (
    id              TEXT PRIMARY KEY NOT NULL,
    plan_id         TEXT NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    plan_revision   INTEGER NOT NULL,
    status          TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'passed', 'failed', 'error', 'cancelled')),
    attempt         INTEGER NOT NULL DEFAULT 0,
    idempotency_key TEXT,
    created_at      INTEGER NOT NULL,
    started_at      INTEGER,
    finished_at     INTEGER,
    result          TEXT
);

CREATE INDEX executions_plan_id_idx ON executions (plan_id, id DESC);
CREATE INDEX executions_status_idx ON executions (status, id DESC);
CREATE UNIQUE INDEX executions_idempotency_key_idx ON executions (plan_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- +goose Down
DROP TABLE executions;
DROP TABLE plans;
