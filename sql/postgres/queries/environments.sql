-- name: EnvironmentCreate :one
INSERT INTO environments (name, description, variables)
VALUES (@name, @description, @variables)
RETURNING *;

-- name: EnvironmentGetByName :one
SELECT * FROM environments WHERE name = @name;

-- name: EnvironmentUpdate :one
UPDATE environments
SET description = @description,
    variables = @variables,
    revision = revision + 1,
    updated_at = now()
WHERE name = @name AND revision = @expected_revision
RETURNING *;

-- name: EnvironmentDelete :execrows
DELETE FROM environments WHERE name = @name;

-- name: EnvironmentList :many
SELECT * FROM environments
WHERE name > @after_name
ORDER BY name
LIMIT @max_rows;
