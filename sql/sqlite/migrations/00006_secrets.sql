-- +goose Up
-- Secrets hold values that plans use as {{secret.NAME}}, encrypted with
-- AES-256-GCM under the server's key (ASTRO_SECRET_KEY); the name is the
-- additional data, so a ciphertext cannot be moved to another name. The
-- database never sees a value in clear. Times are integer microseconds.
CREATE TABLE secrets (
    name       TEXT PRIMARY KEY NOT NULL
        CHECK (length(name) BETWEEN 1 AND 100
               AND name NOT GLOB '*[^A-Za-z0-9_]*'
               AND name NOT GLOB '[0-9]*'),
    ciphertext BLOB NOT NULL,
    nonce      BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- One row: a known text encrypted under the current key, so that a server
-- started with another key finds out at start-up, not when a run needs a
-- secret.
CREATE TABLE secret_keycheck (
    id         INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    ciphertext BLOB NOT NULL,
    nonce      BLOB NOT NULL,
    updated_at INTEGER NOT NULL
);

-- +goose Down
DROP TABLE secret_keycheck;
DROP TABLE secrets;
