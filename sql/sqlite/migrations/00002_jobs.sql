-- +goose Up
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    queue            TEXT NOT NULL DEFAULT 'default',
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL DEFAULT '{}',
    priority         INTEGER NOT NULL DEFAULT 0,
    run_at           INTEGER NOT NULL,
    state            TEXT NOT NULL DEFAULT 'available'
        CHECK (state IN ('available', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
    attempt          INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    last_error       TEXT NOT NULL DEFAULT '',
    errors           TEXT NOT NULL DEFAULT '[]',
    lease_owner      TEXT NOT NULL DEFAULT '',
    lease_token      INTEGER NOT NULL DEFAULT 0,
    lease_expires_at INTEGER,
    cancel_requested BOOLEAN NOT NULL DEFAULT 0,
    unique_key       TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);

CREATE INDEX jobs_claim_idx ON jobs (queue, priority DESC, run_at, id)
    WHERE state IN ('available', 'retryable');
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_finished_idx ON jobs (finished_at)
    WHERE state IN ('completed', 'discarded', 'cancelled');
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable');
CREATE INDEX jobs_state_idx ON jobs (state, id);
-- Finds the newest job of a key, live or not.
CREATE INDEX jobs_unique_key_all_idx ON jobs (unique_key, id) WHERE unique_key IS NOT NULL;

-- +goose Down
DROP TABLE jobs;
