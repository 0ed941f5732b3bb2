-- name: PlanCreate :one
INSERT INTO plans (id, name, description, labels, document, retention_seconds)
VALUES (@id, @name, @description, @labels, @document, sqlc.narg('retention_seconds')::bigint)
RETURNING *;

-- name: PlanGetByID :one
SELECT * FROM plans WHERE id = @id;

-- name: PlanUpdate :one
UPDATE plans
SET name = @name,
    description = @description,
    labels = @labels,
    document = @document,
    retention_seconds = sqlc.narg('retention_seconds')::bigint,
    revision = revision + 1,
    updated_at = now()
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: PlanDelete :execrows
DELETE FROM plans WHERE id = @id;

-- name: PlanList :many
SELECT * FROM plans
WHERE id > @after_id
  AND starts_with(name, @name_prefix::text)
  AND labels @> @labels::jsonb
ORDER BY id
LIMIT @max_rows;
