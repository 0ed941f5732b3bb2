-- +goose Up
-- A channel is where alerts go: a webhook or a Slack incoming webhook.
-- secret signs webhook deliveries ('' for none); headers are extra request
-- headers, a JSON object. Times are integer microseconds since the Unix
-- epoch; UUIDs are text. Foreign keys are on (the DSN sets
-- foreign_keys(1) on every connection), so they behave as on Postgres.
CREATE TABLE channels (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (kind IN ('webhook', 'slack')),
    url        TEXT NOT NULL,
    headers    TEXT NOT NULL DEFAULT '{}',
    secret     TEXT NOT NULL DEFAULT '',
    revision   INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- An alert rule is attached to one plan, one schedule, or (neither set)
-- every plan. Deleting its plan or schedule deletes it; deleting a plan
-- deletes its schedules, and so their rules too.
CREATE TABLE alert_rules (
    id                         TEXT PRIMARY KEY NOT NULL,
    name                       TEXT NOT NULL,
    plan_id                    TEXT REFERENCES plans (id) ON DELETE CASCADE,
    schedule_id                TEXT REFERENCES schedules (id) ON DELETE CASCADE,
    on_failure                 BOOLEAN NOT NULL DEFAULT 0 CHECK (on_failure IN (0, 1)),
    on_recovery                BOOLEAN NOT NULL DEFAULT 0 CHECK (on_recovery IN (0, 1)),
    after_consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (after_consecutive_failures >= 0),
    every_failure              BOOLEAN NOT NULL DEFAULT 0 CHECK (every_failure IN (0, 1)),
    revision                   INTEGER NOT NULL DEFAULT 1,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL,
    CONSTRAINT alert_rules_one_target CHECK (plan_id IS NULL OR schedule_id IS NULL)
);

CREATE INDEX alert_rules_plan_id_idx ON alert_rules (plan_id, id);
CREATE INDEX alert_rules_schedule_id_idx ON alert_rules (schedule_id, id);

-- The channels of a rule, in the order given. A channel that a rule
-- alerts cannot be deleted (RESTRICT); deleting the rule frees it.
CREATE TABLE alert_rule_channels (
    rule_id    TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES channels (id) ON DELETE RESTRICT,
    position   INTEGER NOT NULL,
    PRIMARY KEY (rule_id, channel_id)
);

CREATE INDEX alert_rule_channels_channel_id_idx ON alert_rule_channels (channel_id, rule_id);

-- What one rule remembers of one plan's executions. The alerter reads and
-- writes it under SQLite's single writer, so that two workers finishing
-- executions of one plan at once count both. last_execution_id has no
-- foreign key: executions are pruned.
CREATE TABLE alert_states (
    rule_id              TEXT NOT NULL REFERENCES alert_rules (id) ON DELETE CASCADE,
    plan_id              TEXT NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    alerting             BOOLEAN NOT NULL DEFAULT 0 CHECK (alerting IN (0, 1)),
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_execution_id    TEXT,
    last_status          TEXT NOT NULL DEFAULT '',
    notified_alerting    BOOLEAN NOT NULL DEFAULT 0 CHECK (notified_alerting IN (0, 1)),
    last_sent_at         INTEGER,
    suppressed           INTEGER NOT NULL DEFAULT 0,
    flush_pending        BOOLEAN NOT NULL DEFAULT 0 CHECK (flush_pending IN (0, 1)),
    updated_at           INTEGER NOT NULL,
    PRIMARY KEY (rule_id, plan_id)
);

CREATE INDEX alert_states_plan_id_idx ON alert_states (plan_id);

-- One row per delivery attempt; every attempt of one message shares its
-- delivery_id. rule_id and execution_id have no foreign key, so the
-- history outlives them; deleting the channel deletes its attempts.
-- latency_us is in microseconds; payload is the request body, byte for
-- byte.
CREATE TABLE alert_deliveries (
    id           TEXT PRIMARY KEY NOT NULL,
    delivery_id  TEXT NOT NULL,
    channel_id   TEXT NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
    rule_id      TEXT,
    execution_id TEXT,
    event        TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('delivered', 'retrying', 'discarded')),
    status_code  INTEGER NOT NULL DEFAULT 0,
    latency_us   INTEGER NOT NULL DEFAULT 0,
    error        TEXT NOT NULL DEFAULT '',
    payload      BLOB NOT NULL,
    response     TEXT NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL
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
