-- name: ChannelCreate :one
INSERT INTO channels (id, name, kind, url, headers, secret, created_at, updated_at)
VALUES (@id, @name, @kind, @url, @headers, @secret, @now, @now)
RETURNING *;

-- name: ChannelGetByID :one
SELECT * FROM channels WHERE id = @id;

-- name: ChannelUpdate :one
UPDATE channels
SET name = @name,
    kind = @kind,
    url = @url,
    headers = @headers,
    secret = @secret,
    revision = revision + 1,
    updated_at = @now
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: ChannelDelete :execrows
-- Deletes the channel and its delivery attempts; refused (RESTRICT) while
-- a rule alerts it.
DELETE FROM channels WHERE id = @id;

-- name: ChannelList :many
SELECT * FROM channels
WHERE id > @after_id
ORDER BY id
LIMIT @max_rows;

-- name: AlertRuleCreate :one
INSERT INTO alert_rules (id, name, plan_id, schedule_id, on_failure, on_recovery, after_consecutive_failures,
    every_failure, created_at, updated_at)
VALUES (@id, @name, CAST(sqlc.narg('plan_id') AS TEXT), CAST(sqlc.narg('schedule_id') AS TEXT), @on_failure,
    @on_recovery, @after_consecutive_failures, @every_failure, @now, @now)
RETURNING *;

-- name: AlertRuleGetByID :one
-- The rule with its channels: a JSON array of [position, channel_id]
-- pairs, which the caller sorts.
SELECT sqlc.embed(r),
    CAST((SELECT json_group_array(json_array(c.position, c.channel_id)) FROM alert_rule_channels AS c
          WHERE c.rule_id = r.id) AS TEXT) AS channel_ids
FROM alert_rules AS r
WHERE r.id = @id;

-- name: AlertRuleUpdate :one
UPDATE alert_rules
SET name = @name,
    plan_id = CAST(sqlc.narg('plan_id') AS TEXT),
    schedule_id = CAST(sqlc.narg('schedule_id') AS TEXT),
    on_failure = @on_failure,
    on_recovery = @on_recovery,
    after_consecutive_failures = @after_consecutive_failures,
    every_failure = @every_failure,
    revision = revision + 1,
    updated_at = @now
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: AlertRuleDelete :execrows
-- Deletes the rule, its channel links and its states.
DELETE FROM alert_rules WHERE id = @id;

-- name: AlertRuleList :many
SELECT sqlc.embed(r),
    CAST((SELECT json_group_array(json_array(c.position, c.channel_id)) FROM alert_rule_channels AS c
          WHERE c.rule_id = r.id) AS TEXT) AS channel_ids
FROM alert_rules AS r
WHERE r.id > @after_id
  AND (CAST(sqlc.narg('plan_id') AS TEXT) IS NULL OR r.plan_id = CAST(sqlc.narg('plan_id') AS TEXT))
  AND (CAST(sqlc.narg('schedule_id') AS TEXT) IS NULL OR r.schedule_id = CAST(sqlc.narg('schedule_id') AS TEXT))
  AND (CAST(sqlc.narg('channel_id') AS TEXT) IS NULL OR EXISTS (
      SELECT 1 FROM alert_rule_channels AS f
      WHERE f.rule_id = r.id AND f.channel_id = CAST(sqlc.narg('channel_id') AS TEXT)))
ORDER BY r.id
LIMIT @max_rows;

-- name: AlertRulesFor :many
-- The rules of the plan, of the schedule (NULL for none) and of every
-- plan, with their channels.
SELECT sqlc.embed(r),
    CAST((SELECT json_group_array(json_array(c.position, c.channel_id)) FROM alert_rule_channels AS c
          WHERE c.rule_id = r.id) AS TEXT) AS channel_ids
FROM alert_rules AS r
WHERE r.plan_id = CAST(@plan_id AS TEXT)
   OR r.schedule_id = CAST(sqlc.narg('schedule_id') AS TEXT)
   OR (r.plan_id IS NULL AND r.schedule_id IS NULL)
ORDER BY r.id;

-- name: AlertRuleChannelsDelete :exec
DELETE FROM alert_rule_channels WHERE rule_id = @rule_id;

-- name: AlertRuleChannelsInsert :exec
-- Links the channels, a JSON array of IDs, to the rule; their order in the
-- array is kept.
INSERT INTO alert_rule_channels (rule_id, channel_id, position)
SELECT @rule_id, value, key + 1
FROM json_each(CAST(@channel_ids AS TEXT));

-- name: AlertStateDeleteByRuleID :exec
DELETE FROM alert_states WHERE rule_id = @rule_id;

-- name: AlertStateInsert :exec
-- Stores a zero state unless the rule has one for the plan already.
INSERT INTO alert_states (rule_id, plan_id, updated_at)
VALUES (@rule_id, @plan_id, @now)
ON CONFLICT (rule_id, plan_id) DO NOTHING;

-- name: AlertStateLock :one
-- The caller holds SQLite's single writer, so the state stays as read
-- until its transaction ends.
SELECT * FROM alert_states
WHERE rule_id = @rule_id AND plan_id = @plan_id;

-- name: AlertStatePut :execrows
UPDATE alert_states
SET alerting = @alerting,
    consecutive_failures = @consecutive_failures,
    last_execution_id = CAST(sqlc.narg('last_execution_id') AS TEXT),
    last_status = @last_status,
    notified_alerting = @notified_alerting,
    last_sent_at = CAST(sqlc.narg('last_sent_at') AS INTEGER),
    suppressed = @suppressed,
    flush_pending = @flush_pending,
    updated_at = @now
WHERE rule_id = @rule_id AND plan_id = @plan_id;

-- name: AlertDeliveryRecord :one
INSERT INTO alert_deliveries (id, delivery_id, channel_id, rule_id, execution_id, event, attempt, outcome,
    status_code, latency_us, error, payload, response, created_at)
VALUES (@id, @delivery_id, @channel_id, CAST(sqlc.narg('rule_id') AS TEXT), CAST(sqlc.narg('execution_id') AS TEXT),
    @event, @attempt, @outcome, @status_code, @latency_us, @error, @payload, @response, @created_at)
RETURNING *;

-- name: AlertDeliveryList :many
-- A channel's attempts, newest first, on alert_deliveries_channel_id_idx.
SELECT * FROM alert_deliveries
WHERE channel_id = @channel_id
  AND id < COALESCE(CAST(sqlc.narg('before_id') AS TEXT), '~') -- One comparison, so the index seeks to it (see ExecutionList).
  AND (CAST(sqlc.narg('delivery_id') AS TEXT) IS NULL OR delivery_id = CAST(sqlc.narg('delivery_id') AS TEXT))
ORDER BY id DESC
LIMIT @max_rows;

-- name: AlertDeliveryPrune :execrows
-- Deletes up to max_rows attempts made before the cutoff, oldest first, on
-- alert_deliveries_created_at_idx. The single writer makes concurrent
-- prunes take turns.
DELETE FROM alert_deliveries WHERE id IN (
    SELECT d.id FROM alert_deliveries AS d
    WHERE d.created_at < CAST(@before AS INTEGER)
    ORDER BY d.created_at
    LIMIT CAST(@max_rows AS INTEGER)
);
