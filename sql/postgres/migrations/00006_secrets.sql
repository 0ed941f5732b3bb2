-- +goose Up
-- Secrets hold values that plans use as {{secret.NAME}}, encrypted with
-- AES-256-GCM under the server's key (ASTRO_SECRET_KEY); the name is the
-- additional data, so a ciphertext cannot be moved to another name. The
-- database never sees a value in clear.
CREATE TABLE secrets (
    name       text PRIMARY KEY
        CHECK (name ~ '^[A-Za-z_][A-Za-z0-9_]*$' AND length(name) <= 100),
    ciphertext bytea NOT NULL,
    nonce      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row: a known text encrypted under the current key, so that a server
-- started with another key finds out at start-up, not when a run needs a
-- secret.
CREATE TABLE secret_keycheck (
    id         integer PRIMARY KEY CHECK (id = 1),
    ciphertext bytea NOT NULL,
    nonce      bytea NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE secret_keycheck;
DROP TABLE secrets;
