-- +goose Up
-- A channel is where alerts go: a webhook or a Slack incoming webhook.
-- secret signs webhook deliveries ('' for none); headers are extra request
-- headers.
CREATE TABLE channels (
    id         uuid PRIMARY KEY,
    name       text NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url        text NOT NULL,
    headers    jsonb NOT NULL DEFAULT '{}'::jsonb,
    secret     text NOT NULL DEFAULT '',
    revision   bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT channels_name_key UNIQUE (name)
);

-- An alert rule is attached to one plan, one schedule, or (neither set)
-- every plan. Deleting its plan or schedule deletes it; deleting a plan
-- deletes its schedules, and so their rules too.
CREATE TABLE alert_rules (
    id                         uuid PRIMARY KEY,
    name                       text NOT NULL,
    plan_id                    uuid REFERENCES plans (id) ON DELETE CASCADE,
    schedule_id                uuid REFERENCES schedules (id) ON DELETE CASCADE,
    on_failure                 boolean NOT NULL DEFAULT false,
    on_recovery                boolean NOT NULL DEFAULT false,
    after_consecutive_failures integer NOT NULL DEFAULT 0 CHECK (after_consecutive_failures >= 0),
    every_failure              boolean NOT NULL DEFAULT false,
    revision                   bigint NOT NULL DEFAULT 1,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_rules_one_target CHECK (plan_id IS NULL OR schedule_id IS NULL)
);

CREATE INDEX alert_rules_plan_id_idx ON alert_rules (plan_id, id);
CREATE INDEX alert_rules_schedule_id_idx ON alert_rules (schedule_id, id);

-- The channels of a rule, in the order given. A channel that a rule
-- alerts cannot be deleted (RESTRICT); deleting the rule frees it.
CREATE TABLE alert_rule_channels (
    rule_id    uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE RESTRICT,
    position   integer NOT NULL,
    PRIMARY KEY (rule_id, channel_id)
);

CREATE INDEX alert_rule_channels_channel_id_idx ON alert_rule_channels (channel_id, rule_id);

-- What one rule remembers of one plan's executions. The alerter locks the
-- row (FOR UPDATE) while it decides, so that two workers finishing
-- executions of one plan at once count both. last_execution_id has no
-- foreign key: executions are pruned.
CREATE TABLE alert_states (
    rule_id              uuid NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    plan_id              uuid NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    alerting             boolean NOT NULL DEFAULT false,
    consecutive_failures integer NOT NULL DEFAULT 0,
    last_execution_id    uuid,
    last_status          text NOT NULL DEFAULT '',
    notified_alerting    boolean NOT NULL DEFAULT false,
    last_sent_at         timestamptz,
    suppressed           integer NOT NULL DEFAULT 0,
    flush_pending        boolean NOT NULL DEFAULT false,
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, plan_id)
);

CREATE INDEX alert_states_plan_id_idx ON alert_states (plan_id);

-- One row per delivery attempt; every attempt of one message shares its
-- delivery_id. rule_id and execution_id have no foreign key, so the
-- history outlives them; deleting the channel deletes its attempts.
-- latency_us is in microseconds; payload is the request body, byte for
-- byte.
CREATE TABLE alert_deliveries (
    id           uuid PRIMARY KEY,
    delivery_id  uuid NOT NULL,
    channel_id   uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    rule_id      uuid,
    execution_id uuid,
    event        text NOT NULL,
    attempt      integer NOT NULL,
    outcome      text NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'discarded')),
    status_code  integer NOT NULL DEFAULT 0,
    latency_us   bigint NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT '',
    payload      bytea NOT NULL,
    response     text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alert_deliveries_channel_id_idx ON alert_deliveries (channel_id, id DESC);
CREATE INDEX alert_deliveries_delivery_id_idx ON alert_deliveries (delivery_id, id DESC);
CREATE INDEX alert_deliveries_created_at_idx ON alert_deliveries (created_at);

-- +goose Down
DROP TABLE alert_deliveries;
DROP TABLE alert_states;
DROP TABLE alert_rule_channels;
DROP TABLE alert_rules;
DROP TABLE channels;
