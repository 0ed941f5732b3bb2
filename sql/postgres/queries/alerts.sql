-- name: ChannelCreate :one
INSERT INTO channels (id, name, kind, url, headers, secret)
VALUES (@id, @name, @kind, @url, @headers, @secret)
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
    updated_at = now()
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
INSERT INTO alert_rules (id, name, plan_id, schedule_id, on_failure, on_recovery, after_consecutive_failures, every_failure)
VALUES (@id, @name, sqlc.narg('plan_id'), sqlc.narg('schedule_id'), @on_failure, @on_recovery,
    @after_consecutive_failures, @every_failure)
RETURNING *;

-- name: AlertRuleGetByID :one
-- The rule with its channels, in their order.
SELECT sqlc.embed(r),
    CAST(ARRAY(SELECT c.channel_id FROM alert_rule_channels AS c WHERE c.rule_id = r.id ORDER BY c.position) AS uuid[]) AS channel_ids
FROM alert_rules AS r
WHERE r.id = @id;

-- name: AlertRuleUpdate :one
UPDATE alert_rules
SET name = @name,
    plan_id = sqlc.narg('plan_id'),
    schedule_id = sqlc.narg('schedule_id'),
    on_failure = @on_failure,
    on_recovery = @on_recovery,
    after_consecutive_failures = @after_consecutive_failures,
    every_failure = @every_failure,
    revision = revision + 1,
    updated_at = now()
WHERE id = @id AND revision = @expected_revision
RETURNING *;

-- name: AlertRuleDelete :execrows
-- Deletes the rule, its channel links and its states.
DELETE FROM alert_rules WHERE id = @id;

-- name: AlertRuleList :many
SELECT sqlc.embed(r),
    CAST(ARRAY(SELECT c.channel_id FROM alert_rule_channels AS c WHERE c.rule_id = r.id ORDER BY c.position) AS uuid[]) AS channel_ids
FROM alert_rules AS r
WHERE r.id > @after_id
  AND (sqlc.narg('plan_id')::uuid IS NULL OR r.plan_id = sqlc.narg('plan_id')::uuid)
  AND (sqlc.narg('schedule_id')::uuid IS NULL OR r.schedule_id = sqlc.narg('schedule_id')::uuid)
  AND (sqlc.narg('channel_id')::uuid IS NULL OR EXISTS (
      SELECT 1 FROM alert_rule_channels AS f
      WHERE f.rule_id = r.id AND f.channel_id = sqlc.narg('channel_id')::uuid))
ORDER BY r.id
LIMIT @max_rows;

-- name: AlertRulesFor :many
-- The rules of the plan, of the schedule (NULL for none) and of every
-- plan, with their channels.
SELECT sqlc.embed(r),
    CAST(ARRAY(SELECT c.channel_id FROM alert_rule_channels AS c WHERE c.rule_id = r.id ORDER BY c.position) AS uuid[]) AS channel_ids
FROM alert_rules AS r
WHERE r.plan_id = @plan_id::uuid
   OR r.schedule_id = sqlc.narg('schedule_id')::uuid
   OR (r.plan_id IS NULL AND r.schedule_id IS NULL)
ORDER BY r.id;

-- name: AlertRuleChannelsDelete :exec
DELETE FROM alert_rule_channels WHERE rule_id = @rule_id;

-- name: AlertRuleChannelsInsert :exec
-- Links the channels to the rule; their order in the array is kept.
INSERT INTO alert_rule_channels (rule_id, channel_id, position)
SELECT @rule_id, c.channel_id, c.position
FROM unnest(@channel_ids::uuid[]) WITH ORDINALITY AS c (channel_id, position);

-- name: AlertStateDeleteByRuleID :exec
DELETE FROM alert_states WHERE rule_id = @rule_id;

-- name: AlertRuleLockShared :one
-- Holds the rule (FOR KEY SHARE) until the transaction ends, so that it
-- cannot be deleted meanwhile; no row, and no error that would abort the
-- transaction, if it is gone.
SELECT id FROM alert_rules WHERE id = @id FOR KEY SHARE;

-- name: AlertStateInsert :exec
-- Stores a zero state unless the rule has one for the plan already.
INSERT INTO alert_states (rule_id, plan_id)
VALUES (@rule_id, @plan_id)
ON CONFLICT (rule_id, plan_id) DO NOTHING;

-- name: AlertStateLock :one
-- Locks the state until the transaction ends.
SELECT * FROM alert_states
WHERE rule_id = @rule_id AND plan_id = @plan_id
FOR UPDATE;

-- name: AlertStatePut :execrows
UPDATE alert_states
SET alerting = @alerting,
    consecutive_failures = @consecutive_failures,
    last_execution_id = sqlc.narg('last_execution_id'),
    last_status = @last_status,
    notified_alerting = @notified_alerting,
    last_sent_at = sqlc.narg('last_sent_at'),
    suppressed = @suppressed,
    flush_pending = @flush_pending,
    updated_at = now()
WHERE rule_id = @rule_id AND plan_id = @plan_id;

-- name: AlertDeliveryRecord :one
INSERT INTO alert_deliveries (id, delivery_id, channel_id, rule_id, execution_id, event, attempt, outcome,
    status_code, latency_us, error, payload, response, created_at)
VALUES (@id, @delivery_id, @channel_id, sqlc.narg('rule_id'), sqlc.narg('execution_id'), @event, @attempt, @outcome,
    @status_code, @latency_us, @error, @payload, @response, COALESCE(sqlc.narg('created_at')::timestamptz, now()))
RETURNING *;

-- name: AlertDeliveryList :many
-- A channel's attempts, newest first, on alert_deliveries_channel_id_idx.
SELECT * FROM alert_deliveries
WHERE channel_id = @channel_id
  AND id < COALESCE(sqlc.narg('before_id')::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid) -- One comparison (see ExecutionList).
  AND (sqlc.narg('delivery_id')::uuid IS NULL OR delivery_id = sqlc.narg('delivery_id')::uuid)
ORDER BY id DESC
LIMIT @max_rows;

-- name: AlertDeliveryPrune :execrows
-- Deletes up to max_rows attempts made before the cutoff, oldest first, on
-- alert_deliveries_created_at_idx. SKIP LOCKED lets several nodes prune at
-- once: each takes rows the others have not.
WITH doomed AS (
    SELECT d.id FROM alert_deliveries AS d
    WHERE d.created_at < @before::timestamptz
    ORDER BY d.created_at
    LIMIT @max_rows::integer
    FOR UPDATE SKIP LOCKED
)
DELETE FROM alert_deliveries WHERE id IN (SELECT id FROM doomed);
