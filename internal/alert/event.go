// Package alert tells people when plans start failing and when they
// recover: it evaluates alert rules in the transaction that finishes an
// execution, enqueues one deliver_alert job per channel, and delivers those
// jobs as signed webhooks or Slack messages.
//
// Evaluator decides, per rule and plan, when to send (failed, recovered,
// every failure, after N failures in a row) and holds messages back to at
// most one per ASTRO_ALERT_MIN_INTERVAL; its documentation gives the
// exact semantics. Deliverer sends the messages, retrying network errors,
// 5xx and 429 answers, and records every attempt. A webhook body is an
// Event, signed with the channel's secret by Sign and checked by Verify.
// Messages hold step names, statuses, errors and the first failed
// assertion of each failed step, never captured values or response
// bodies.
package alert

import (
	"time"

	"github.com/google/uuid"
)

// Version is the version of the webhook document, Event. A change that
// removes or renames a field gets a new version.
const Version = "1"

// The events of a webhook document.
const (
	// EventFailed is sent when a rule starts alerting for a plan, and for
	// every failure of a rule with every_failure.
	EventFailed = "execution.failed"
	// EventRecovered is sent on the first pass after a rule alerted.
	EventRecovered = "execution.recovered"
	// EventTest is sent by POST /channel/{id}/test.
	EventTest = "test"
)

// Event is the body of a webhook delivery, version 1. The same document,
// rendered as Block Kit, is the text of a Slack message.
type Event struct {
	Version    string    `json:"version" enum:"1" doc:"Version of this document's schema." example:"1"`
	Event      string    `json:"event" enum:"execution.failed,execution.recovered,test" doc:"What happened. execution.failed: a rule started alerting for a plan (or, with every_failure, the plan failed again). execution.recovered: the first pass after the rule alerted. test: a sample sent by POST /channel/{id}/test." example:"execution.failed"`
	DeliveryID uuid.UUID `json:"delivery_id" format:"uuid" doc:"Identity of this message, the same on every attempt and in the X-Astro-Delivery header: receivers deduplicate on it." example:"0190c1f0-3d4e-7f50-9a60-7c8d9e0f1a2b"`
	CreatedAt  time.Time `json:"created_at" doc:"When the message was made: when the execution finished, or when suppressed messages were summed up." example:"2026-01-02T15:04:06Z"`
	// Rule is the rule that sent the message; nil for a test.
	Rule *EventRule `json:"rule" doc:"The rule that sent the message; null for a test." example:"{\"id\":\"0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c\",\"name\":\"checkout is down\"}"`
	Plan EventPlan  `json:"plan" doc:"The plan that ran." example:"{\"id\":\"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d\",\"name\":\"checkout\",\"revision\":3}"`
	// Execution is the execution the message is about.
	Execution EventExecution `json:"execution" doc:"The execution the message is about." example:"{\"id\":\"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f\",\"url\":\"http://localhost:8080/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f\",\"status\":\"failed\",\"trigger\":\"schedule\",\"schedule_id\":\"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a\",\"environment\":\"staging\",\"created_at\":\"2026-01-02T15:04:05Z\",\"started_at\":\"2026-01-02T15:04:05Z\",\"finished_at\":\"2026-01-02T15:04:06Z\",\"error\":\"\"}"`
	// ConsecutiveFailures counts the failures in a row up to this
	// execution; 0 for a recovery.
	ConsecutiveFailures int `json:"consecutive_failures" doc:"Failed or error executions in a row, up to and including this one; 0 for a recovery." example:"1"`
	// Suppressed counts the messages of this rule, for this plan, that
	// were not sent since the last one because of the minimum interval.
	Suppressed int `json:"suppressed" doc:"Messages of this rule for this plan that were not sent since the previous message, because they came sooner than ASTRO_ALERT_MIN_INTERVAL after it." example:"0"`
	// FailedSteps summarises the steps that failed or errored, at most
	// MaxFailedSteps of them.
	FailedSteps []FailedStep `json:"failed_steps" nullable:"false" doc:"The steps that failed or errored, in order, at most 10; empty for a recovery." example:"[{\"index\":1,\"name\":\"Create an order\",\"status\":\"failed\",\"error\":\"\",\"assertion\":{\"kind\":\"status\",\"target\":\"\",\"expected\":\"201\",\"actual\":\"503\",\"message\":\"expected 201, got 503\"}}]"`
	// MoreFailedSteps counts the failed steps left out of FailedSteps.
	MoreFailedSteps int `json:"more_failed_steps" doc:"Failed or errored steps left out of failed_steps." example:"0"`
}

// EventRule names the rule of a message.
type EventRule struct {
	ID   uuid.UUID `json:"id" format:"uuid" doc:"Identity of the rule." example:"0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c"`
	Name string    `json:"name" doc:"Name of the rule; empty if it has none." example:"checkout is down"`
}

// EventPlan names the plan of a message.
type EventPlan struct {
	ID       uuid.UUID `json:"id" format:"uuid" doc:"Identity of the plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	Name     string    `json:"name" doc:"Name of the plan." example:"checkout"`
	Revision int64     `json:"revision" doc:"Revision of the plan that ran." example:"3"`
}

// EventExecution describes the execution of a message.
type EventExecution struct {
	ID          uuid.UUID  `json:"id" format:"uuid" doc:"Identity of the execution." example:"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	URL         string     `json:"url" doc:"Link to the execution in the API, from ASTRO_PUBLIC_URL." example:"http://localhost:8080/execution/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"`
	Status      string     `json:"status" enum:"passed,failed,error" doc:"Final status of the execution." example:"failed"`
	Trigger     string     `json:"trigger" enum:"api,cli,schedule" doc:"What created the execution." example:"schedule"`
	ScheduleID  *uuid.UUID `json:"schedule_id" format:"uuid" nullable:"true" doc:"The schedule that created it, or null." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	Environment string     `json:"environment" doc:"The environment it ran with; empty for none." example:"staging"`
	CreatedAt   time.Time  `json:"created_at" doc:"When it was created." example:"2026-01-02T15:04:05Z"`
	StartedAt   *time.Time `json:"started_at" nullable:"true" doc:"When it last started running, or null if it never ran." example:"2026-01-02T15:04:05Z"`
	FinishedAt  *time.Time `json:"finished_at" nullable:"true" doc:"When it finished." example:"2026-01-02T15:04:06Z"`
	Error       string     `json:"error" doc:"Why it could not finish, for status error; empty otherwise." example:""`
}

// MaxFailedSteps is how many failed steps a message lists.
const MaxFailedSteps = 10

// FailedStep summarises one failed or errored step.
type FailedStep struct {
	Index  int    `json:"index" doc:"Position of the step in the plan, from 0." example:"1"`
	Name   string `json:"name" doc:"Name of the step." example:"Create an order"`
	Status string `json:"status" enum:"failed,error" doc:"Outcome of the step." example:"failed"`
	// Error says why the step errored or failed, at most 1 KiB.
	Error string `json:"error" doc:"Why the step failed or errored, cut to 1 KiB; empty if an assertion says why." example:""`
	// Assertion is the step's first failed assertion, or nil.
	Assertion *FailedAssertion `json:"assertion" doc:"The step's first failed assertion, or null." example:"{\"kind\":\"status\",\"target\":\"\",\"expected\":\"201\",\"actual\":\"503\",\"message\":\"expected 201, got 503\"}"`
}

// FailedAssertion is the first failed assertion of a step: what was
// expected and what was found, as the execution's result holds them (with
// secret values already redacted), each cut to 1 KiB.
type FailedAssertion struct {
	Kind     string `json:"kind" doc:"What was checked, as in the execution's result." example:"status"`
	Target   string `json:"target" doc:"The header, JSONPath or capture checked; empty for a status or body check." example:""`
	Expected string `json:"expected" doc:"The expected value, as JSON text, cut to 1 KiB." example:"201"`
	Actual   string `json:"actual" doc:"The value found, as JSON text, cut to 1 KiB." example:"503"`
	Message  string `json:"message" doc:"Why the check failed." example:"expected 201, got 503"`
}
