-- name: SecretCreate :one
-- Inserts a secret unless one has that name or there are already
-- @max_secrets; then it returns no row.
INSERT INTO secrets (name, ciphertext, nonce, created_at, updated_at)
SELECT @name, @ciphertext, @nonce, @now, @now
WHERE (SELECT count(*) FROM secrets) < CAST(@max_secrets AS INTEGER)
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: SecretUpdate :one
UPDATE secrets
SET ciphertext = @ciphertext, nonce = @nonce, updated_at = @now
WHERE name = @name
RETURNING *;

-- name: SecretGet :one
SELECT * FROM secrets WHERE name = @name;

-- name: SecretList :many
SELECT name, created_at, updated_at FROM secrets ORDER BY name LIMIT @max_rows;

-- name: SecretDelete :execrows
DELETE FROM secrets WHERE name = @name;

-- name: SecretKeyCheckGet :one
SELECT * FROM secret_keycheck WHERE id = 1;

-- name: SecretKeyCheckSet :exec
INSERT INTO secret_keycheck (id, ciphertext, nonce, updated_at) VALUES (1, @ciphertext, @nonce, @now)
ON CONFLICT (id) DO UPDATE
SET ciphertext = excluded.ciphertext, nonce = excluded.nonce, updated_at = excluded.updated_at;

-- name: SecretKeyCheckGetForUpdate :one
-- SQLite has no row locks: the adapter reads on the writer, whose one
-- write transaction at a time serialises a rotation and secret writes.
SELECT * FROM secret_keycheck WHERE id = 1;

-- name: SecretKeyCheckGetForShare :one
-- As SecretKeyCheckGetForUpdate: the writer serialises.
SELECT * FROM secret_keycheck WHERE id = 1;

-- name: SecretKeyCheckCreate :execrows
INSERT INTO secret_keycheck (id, ciphertext, nonce, updated_at) VALUES (1, @ciphertext, @nonce, @now)
ON CONFLICT (id) DO NOTHING;
