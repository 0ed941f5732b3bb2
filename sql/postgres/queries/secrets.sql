-- name: SecretCreate :one
-- Inserts a secret unless one has that name or there are already
-- @max_secrets; then it returns no row.
INSERT INTO secrets (name, ciphertext, nonce)
SELECT @name, @ciphertext, @nonce
WHERE (SELECT count(*) FROM secrets) < @max_secrets::bigint
ON CONFLICT (name) DO NOTHING
RETURNING *;

-- name: SecretUpdate :one
UPDATE secrets
SET ciphertext = @ciphertext, nonce = @nonce, updated_at = now()
WHERE name = @name
RETURNING *;

-- name: SecretGet :one
SELECT * FROM secrets WHERE name = @name;

-- name: SecretList :many
SELECT name, created_at, updated_at FROM secrets ORDER BY name COLLATE "C" LIMIT @max_rows;

-- name: SecretDelete :execrows
DELETE FROM secrets WHERE name = @name;

-- name: SecretKeyCheckGet :one
SELECT * FROM secret_keycheck WHERE id = 1;

-- name: SecretKeyCheckSet :exec
INSERT INTO secret_keycheck (id, ciphertext, nonce) VALUES (1, @ciphertext, @nonce)
ON CONFLICT (id) DO UPDATE
SET ciphertext = EXCLUDED.ciphertext, nonce = EXCLUDED.nonce, updated_at = now();

-- name: SecretKeyCheckGetForUpdate :one
-- Locks the key check value until the transaction ends, so that no
-- secret is written under another key while a rotation runs.
SELECT * FROM secret_keycheck WHERE id = 1 FOR UPDATE;

-- name: SecretKeyCheckGetForShare :one
-- Reads the key check value and keeps a rotation from changing it until
-- the transaction ends.
SELECT * FROM secret_keycheck WHERE id = 1 FOR SHARE;

-- name: SecretKeyCheckCreate :execrows
INSERT INTO secret_keycheck (id, ciphertext, nonce) VALUES (1, @ciphertext, @nonce)
ON CONFLICT (id) DO NOTHING;
