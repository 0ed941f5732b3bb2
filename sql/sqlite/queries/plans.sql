-- name: PlanCreate :one
INSERT INTO plans (id, name, description, labels, document, retention_seconds, created_at, updated_at)
VALUES (@id, @name, @description, @labels, @document, CAST(sqlc.narg('retention_seconds') AS INTEGER), @now, @now)
RETURNING *;

-- name: PlanGetByID :one
SELECT * FROM plans WHERE id = @id;

-- name: PlanUpdate :one
UPDATE plans
SET name = @name,
    description = @description,
    labels = @labels,
    document = @document,
    retention_seconds = CAST(sqlc.narg('retention_seconds') AS INTEGER),
    revision = revision + 1,
    updated_at = @now
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: PlanDelete :execrows
DELETE FROM plans WHERE id = @id;

-- name: PlanList :many
SELECT * FROM plans
WHERE id > @after_id
  AND substr(name, 1, length(CAST(@name_prefix AS TEXT))) = CAST(@name_prefix AS TEXT)
  AND NOT EXISTS (
      SELECT 1 FROM json_each(CAST(@labels AS TEXT)) AS want
      WHERE NOT EXISTS (
          SELECT 1 FROM json_each(plans.labels) AS have
          WHERE have.key = want.key AND have.value = want.value
      )
  )
ORDER BY id
LIMIT @max_rows;
