-- +goose Up
CREATE TABLE jobs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue            text NOT NULL DEFAULT 'default',
    kind             text NOT NULL,
    payload          jsonb NOT NULL DEFAULT '{}'::jsonb,
    priority         integer NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    state            text NOT NULL DEFAULT 'available'
        CHECK (state IN ('available', 'running', 'retryable', 'completed', 'discarded', 'cancelled')),
    attempt          integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
    last_error       text NOT NULL DEFAULT '',
    errors           jsonb NOT NULL DEFAULT '[]'::jsonb,
    lease_owner      text NOT NULL DEFAULT '',
    lease_token      bigint NOT NULL DEFAULT 0,
    lease_expires_at timestamptz,
    cancel_requested boolean NOT NULL DEFAULT false,
    unique_key       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);

-- Claiming reads only due, unclaimed jobs, in claim order.
CREATE INDEX jobs_claim_idx ON jobs (queue, priority DESC, run_at, id)
    WHERE state IN ('available', 'retryable');
-- The rescuer reads only running jobs, by lease expiry.
CREATE INDEX jobs_lease_idx ON jobs (lease_expires_at) WHERE state = 'running';
-- The pruner reads only final jobs, by finish time.
CREATE INDEX jobs_finished_idx ON jobs (finished_at)
    WHERE state IN ('completed', 'discarded', 'cancelled');
-- A unique key is held only while its job is live.
CREATE UNIQUE INDEX jobs_unique_key_idx ON jobs (unique_key)
    WHERE unique_key IS NOT NULL AND state IN ('available', 'running', 'retryable');
CREATE INDEX jobs_state_idx ON jobs (state, id);
-- Finds the newest job of a key, live or not.
CREATE INDEX jobs_unique_key_all_idx ON jobs (unique_key, id) WHERE unique_key IS NOT NULL;

-- +goose StatementBegin
CREATE FUNCTION jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('astro_jobs', '');
    RETURN NULL;
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER jobs_notify AFTER INSERT ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobs_notify();

-- +goose Down
DROP TRIGGER jobs_notify ON jobs;
DROP FUNCTION jobs_notify();
DROP TABLE jobs;
