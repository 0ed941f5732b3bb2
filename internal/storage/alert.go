package storage

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// ChannelKind is how a channel delivers alerts.
type ChannelKind string

// The channel kinds.
const (
	// ChannelWebhook posts the signed alert document to a URL.
	ChannelWebhook ChannelKind = "webhook"
	// ChannelSlack posts a Block Kit message to a Slack incoming webhook.
	ChannelSlack ChannelKind = "slack"
)

// ChannelKinds lists every channel kind.
var ChannelKinds = []ChannelKind{ChannelWebhook, ChannelSlack}

// Valid reports whether k is a known channel kind.
func (k ChannelKind) Valid() bool { return slices.Contains(ChannelKinds, k) }

// Channel is where alerts go. Its Secret (the webhook signing secret) and
// the URL of a Slack channel are write-only in the API; the store keeps
// them as given.
type Channel struct {
	ID   uuid.UUID
	Name string
	Kind ChannelKind
	URL  string
	// Headers are extra request headers. Never nil.
	Headers map[string]string
	// Secret signs webhook deliveries, or is "".
	Secret    string
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// ChannelCreateParams are the fields of a new channel. Revision starts at
// 1.
type ChannelCreateParams struct {
	// ID is the channel's identity. Defaults to a new UUIDv7.
	ID   uuid.UUID
	Name string
	Kind ChannelKind
	URL  string
	// Headers default to none.
	Headers map[string]string
	Secret  string
}

// ChannelUpdateParams replace every field of a channel when its revision
// is still ExpectedRevision. The caller merges the write-only fields it
// keeps.
type ChannelUpdateParams struct {
	ID               uuid.UUID
	ExpectedRevision int64
	Name             string
	Kind             ChannelKind
	URL              string
	Headers          map[string]string
	Secret           string
}

// ChannelListParams page a channel listing, ordered by ID (creation
// order).
type ChannelListParams struct {
	// Limit is the page size. Defaults to 50; at most 200.
	Limit  int
	Cursor string
}

// ChannelPage is one page of channels. NextCursor is empty on the last
// page.
type ChannelPage struct {
	Channels   []*Channel
	NextCursor string
}

// AlertRule says which executions alert which channels, and when. A rule
// is attached to one plan (PlanID), one schedule (ScheduleID), or, with
// neither, to every plan.
type AlertRule struct {
	ID   uuid.UUID
	Name string
	// PlanID is the rule's plan, or uuid.Nil.
	PlanID uuid.UUID
	// ScheduleID is the rule's schedule, or uuid.Nil.
	ScheduleID uuid.UUID
	// ChannelIDs are the channels alerted, in the order given. Never
	// empty.
	ChannelIDs []uuid.UUID
	// OnFailure alerts when the rule starts alerting.
	OnFailure bool
	// OnRecovery alerts on the first pass after the rule started
	// alerting.
	OnRecovery bool
	// AfterConsecutiveFailures is how many failures in a row start the
	// rule alerting; 0 means 1.
	AfterConsecutiveFailures int
	// EveryFailure alerts on every failure, not only the first.
	EveryFailure bool
	Revision     int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// AlertRuleCreateParams are the fields of a new alert rule. Revision
// starts at 1.
type AlertRuleCreateParams struct {
	// ID is the rule's identity. Defaults to a new UUIDv7.
	ID                       uuid.UUID
	Name                     string
	PlanID                   uuid.UUID
	ScheduleID               uuid.UUID
	ChannelIDs               []uuid.UUID
	OnFailure                bool
	OnRecovery               bool
	AfterConsecutiveFailures int
	EveryFailure             bool
}

// AlertRuleUpdateParams replace every field of a rule when its revision is
// still ExpectedRevision.
type AlertRuleUpdateParams struct {
	ID                       uuid.UUID
	ExpectedRevision         int64
	Name                     string
	PlanID                   uuid.UUID
	ScheduleID               uuid.UUID
	ChannelIDs               []uuid.UUID
	OnFailure                bool
	OnRecovery               bool
	AfterConsecutiveFailures int
	EveryFailure             bool
}

// AlertRuleListParams filter and page a rule listing, ordered by ID.
type AlertRuleListParams struct {
	// PlanID keeps the rules attached to one plan when not uuid.Nil.
	PlanID uuid.UUID
	// ScheduleID keeps the rules attached to one schedule when not
	// uuid.Nil.
	ScheduleID uuid.UUID
	// ChannelID keeps the rules that alert one channel when not uuid.Nil.
	ChannelID uuid.UUID
	// Limit is the page size. Defaults to 50; at most 200.
	Limit  int
	Cursor string
}

// AlertRulePage is one page of rules. NextCursor is empty on the last
// page.
type AlertRulePage struct {
	Rules      []*AlertRule
	NextCursor string
}

// AlertState is what one rule remembers of one plan's executions. A rule
// attached to every plan has one state per plan.
type AlertState struct {
	RuleID uuid.UUID
	PlanID uuid.UUID
	// Alerting is whether the rule is alerting for the plan: it started
	// when ConsecutiveFailures reached the rule's threshold and ends at the
	// next pass.
	Alerting bool
	// ConsecutiveFailures counts the failed or error executions since the
	// last pass.
	ConsecutiveFailures int
	// LastExecutionID is the last finished execution the rule saw, or
	// uuid.Nil.
	LastExecutionID uuid.UUID
	// LastStatus is the status of LastExecutionID, or "".
	LastStatus ExecutionStatus
	// NotifiedAlerting is the alerting state that the last message sent
	// told.
	NotifiedAlerting bool
	// LastSentAt is when the last message was sent, or nil.
	LastSentAt *time.Time
	// Suppressed counts the messages not sent, because of the rule's
	// minimum interval, since the last one sent.
	Suppressed int
	// FlushPending is set while a job is due to send what was suppressed.
	FlushPending bool
	UpdatedAt    time.Time
}

// AlertDeliveryOutcome is what became of one delivery attempt.
type AlertDeliveryOutcome string

// The delivery outcomes.
const (
	// DeliveryDelivered means that the receiver accepted the message
	// (a 2xx answer).
	DeliveryDelivered AlertDeliveryOutcome = "delivered"
	// DeliveryRetrying means that the attempt failed and another follows.
	DeliveryRetrying AlertDeliveryOutcome = "retrying"
	// DeliveryDiscarded means that the attempt failed and no other
	// follows: the error was not transient, or attempts ran out.
	DeliveryDiscarded AlertDeliveryOutcome = "discarded"
)

// AlertDeliveryOutcomes lists every delivery outcome.
var AlertDeliveryOutcomes = []AlertDeliveryOutcome{DeliveryDelivered, DeliveryRetrying, DeliveryDiscarded}

// Valid reports whether o is a known delivery outcome.
func (o AlertDeliveryOutcome) Valid() bool { return slices.Contains(AlertDeliveryOutcomes, o) }

// AlertDelivery is one attempt to deliver one message to one channel.
type AlertDelivery struct {
	// ID identifies the attempt (a UUIDv7).
	ID uuid.UUID
	// DeliveryID identifies the message; every attempt of one message has
	// the same one.
	DeliveryID uuid.UUID
	ChannelID  uuid.UUID
	// RuleID is the rule that sent the message, or uuid.Nil for a test.
	RuleID uuid.UUID
	// ExecutionID is the execution the message is about, or uuid.Nil.
	ExecutionID uuid.UUID
	// Event is the message's event, such as "execution.failed".
	Event   string
	Attempt int
	Outcome AlertDeliveryOutcome
	// StatusCode is the receiver's HTTP status, or 0 if none came.
	StatusCode int
	// Latency is how long the attempt took. It is stored to the
	// microsecond.
	Latency time.Duration
	// Error says why the attempt failed, or is "". It is stored as valid
	// UTF-8 without NUL bytes: any other byte becomes U+FFFD.
	Error string
	// Payload is the request body sent, byte for byte. Never nil once
	// stored.
	Payload []byte
	// Response is the start of the receiver's answer, or "". It is stored
	// as Error is.
	Response  string
	CreatedAt time.Time
}

// AlertDeliveryRecordParams are one attempt to store. ID defaults to a
// new UUIDv7 and CreatedAt to now; DeliveryID is required.
type AlertDeliveryRecordParams = AlertDelivery

// WithDefaults returns a copy of the record params p with defaults filled
// in, Payload made non-nil, and Error and Response made storable (see
// AlertDelivery). CreatedAt stays zero when not set: the store sets it.
// Returns ErrInvalidInput for a missing DeliveryID or an unknown outcome.
func (p AlertDelivery) WithDefaults() (AlertDelivery, error) {
	if p.ID == uuid.Nil {
		p.ID = uuid.Must(uuid.NewV7())
	}
	if p.Payload == nil {
		p.Payload = []byte{}
	}
	p.Error, p.Response = storableText(p.Error), storableText(p.Response)
	switch {
	case p.DeliveryID == uuid.Nil:
		return p, fmt.Errorf("%w: delivery attempt without a delivery ID", ErrInvalidInput)
	case !p.Outcome.Valid():
		return p, fmt.Errorf("%w: unknown delivery outcome %q", ErrInvalidInput, p.Outcome)
	}
	return p, nil
}

// storableText returns s as valid UTF-8 without NUL bytes, which Postgres
// text cannot hold: each invalid sequence and each NUL becomes U+FFFD.
func storableText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// AlertDeliveryListParams filter and page the attempts of one channel,
// newest first.
type AlertDeliveryListParams struct {
	ChannelID uuid.UUID
	// DeliveryID keeps the attempts of one message when not uuid.Nil.
	DeliveryID uuid.UUID
	// Limit is the page size. Defaults to 50; at most 200.
	Limit  int
	Cursor string
}

// AlertDeliveryPage is one page of delivery attempts. NextCursor is empty
// on the last page.
type AlertDeliveryPage struct {
	Deliveries []*AlertDelivery
	NextCursor string
}

// AlertStore persists channels, alert rules, their states and the log of
// deliveries.
type AlertStore interface {
	// ChannelCreate stores a new channel at revision 1. Returns
	// ErrConflict if a channel already has that name or ID, and
	// ErrInvalidInput for an unknown kind.
	ChannelCreate(ctx context.Context, p *ChannelCreateParams) (*Channel, error)
	// ChannelGetByID returns one channel. Returns ErrNotFound if no
	// channel has that ID.
	ChannelGetByID(ctx context.Context, id uuid.UUID) (*Channel, error)
	// ChannelUpdate replaces a channel's fields and bumps its revision.
	// Returns ErrNotFound, ErrStaleRevision, ErrConflict for a name taken
	// by another channel, and ErrInvalidInput for an unknown kind.
	ChannelUpdate(ctx context.Context, p *ChannelUpdateParams) (*Channel, error)
	// ChannelDelete deletes a channel and its deliveries. Returns
	// ErrNotFound, or ErrReferenced while a rule alerts it.
	ChannelDelete(ctx context.Context, id uuid.UUID) error
	// ChannelList returns one page of channels. Returns ErrInvalidInput
	// for a malformed cursor.
	ChannelList(ctx context.Context, p *ChannelListParams) (*ChannelPage, error)

	// AlertRuleCreate stores a new rule at revision 1. Returns
	// ErrNotFound if its plan, schedule or one of its channels does not
	// exist, ErrConflict if a rule already has that ID, and
	// ErrInvalidInput if it names both a plan and a schedule, no channel,
	// or a negative AfterConsecutiveFailures. Duplicate channel IDs are
	// collapsed, the first of each kept in place.
	AlertRuleCreate(ctx context.Context, p *AlertRuleCreateParams) (*AlertRule, error)
	// AlertRuleGetByID returns one rule. Returns ErrNotFound if no rule
	// has that ID.
	AlertRuleGetByID(ctx context.Context, id uuid.UUID) (*AlertRule, error)
	// AlertRuleUpdate replaces a rule's fields and bumps its revision.
	// Returns the errors of AlertRuleCreate, and ErrStaleRevision. A rule
	// whose plan or schedule changes forgets its states.
	AlertRuleUpdate(ctx context.Context, p *AlertRuleUpdateParams) (*AlertRule, error)
	// AlertRuleDelete deletes a rule and its states. Returns ErrNotFound
	// if no rule has that ID.
	AlertRuleDelete(ctx context.Context, id uuid.UUID) error
	// AlertRuleList returns one page of rules. Returns ErrInvalidInput for
	// a malformed cursor.
	AlertRuleList(ctx context.Context, p *AlertRuleListParams) (*AlertRulePage, error)
	// AlertRulesFor returns, ordered by ID, every rule that applies to an
	// execution of planID created by scheduleID (uuid.Nil if none): the
	// rules of the plan, of the schedule, and of every plan.
	AlertRulesFor(ctx context.Context, planID, scheduleID uuid.UUID) ([]*AlertRule, error)

	// AlertStateLock returns the state of a rule for a plan, a zero state
	// (stored) if it has none, and holds it until the transaction ends: a
	// concurrent AlertStateLock of the same rule and plan waits (FOR
	// UPDATE on Postgres, the single writer on SQLite). Call it inside
	// InTx. Returns ErrNotFound if the rule or the plan does not exist;
	// for a rule that does not exist (deleted since it was listed), the
	// transaction stays usable.
	AlertStateLock(ctx context.Context, ruleID, planID uuid.UUID) (*AlertState, error)
	// AlertStatePut stores a state got from AlertStateLock (UpdatedAt is
	// set by the store). Returns ErrNotFound if the state no longer
	// exists: its rule, or plan, was deleted, or the rule moved to another
	// plan or schedule.
	AlertStatePut(ctx context.Context, s *AlertState) error

	// AlertDeliveryRecord stores one delivery attempt. Returns ErrNotFound
	// if the channel no longer exists, ErrConflict if an attempt already
	// has that ID, and ErrInvalidInput as AlertDelivery.WithDefaults says.
	AlertDeliveryRecord(ctx context.Context, p *AlertDeliveryRecordParams) (*AlertDelivery, error)
	// AlertDeliveryList returns one page of a channel's attempts, newest
	// first. Returns ErrInvalidInput for a malformed cursor.
	AlertDeliveryList(ctx context.Context, p *AlertDeliveryListParams) (*AlertDeliveryPage, error)
	// AlertDeliveryPrune deletes up to limit attempts made before before,
	// and returns how many it deleted.
	AlertDeliveryPrune(ctx context.Context, before time.Time, limit int) (int64, error)
}

// WithDefaults returns a copy of p with defaults filled in. Returns
// ErrInvalidInput for an unknown kind.
func (p ChannelCreateParams) WithDefaults() (ChannelCreateParams, error) {
	if p.ID == uuid.Nil {
		p.ID = uuid.Must(uuid.NewV7())
	}
	if p.Headers == nil {
		p.Headers = map[string]string{}
	}
	if !p.Kind.Valid() {
		return p, fmt.Errorf("%w: unknown channel kind %q", ErrInvalidInput, p.Kind)
	}
	return p, nil
}

// WithDefaults returns a copy of p with the defaults of
// ChannelCreateParams filled in. Returns ErrInvalidInput for an unknown
// kind.
func (p ChannelUpdateParams) WithDefaults() (ChannelUpdateParams, error) {
	c, err := ChannelCreateParams{ID: p.ID, Kind: p.Kind, Headers: p.Headers}.WithDefaults()
	p.Headers = c.Headers
	return p, err
}

// Decode checks p and returns the ID to list after (uuid.Nil for the
// first page) and the page size. Returns ErrInvalidInput for a malformed
// cursor.
func (p *ChannelListParams) Decode() (afterID uuid.UUID, limit int, err error) {
	if afterID, err = DecodeUUIDCursor(p.Cursor, ListChannels); err != nil {
		return uuid.Nil, 0, err
	}
	return afterID, PageLimit(p.Limit), nil
}

// WithDefaults returns a copy of p with defaults filled in and ChannelIDs
// without duplicates (the first of each is kept, in order). Returns
// ErrInvalidInput if p names both a plan and a schedule, no channel, or a
// negative AfterConsecutiveFailures.
func (p AlertRuleCreateParams) WithDefaults() (AlertRuleCreateParams, error) {
	if p.ID == uuid.Nil {
		p.ID = uuid.Must(uuid.NewV7())
	}
	var err error
	p.ChannelIDs, err = checkAlertRule(p.PlanID, p.ScheduleID, p.ChannelIDs, p.AfterConsecutiveFailures)
	return p, err
}

// WithDefaults returns a copy of p with ChannelIDs without duplicates, and
// checks it as AlertRuleCreateParams.WithDefaults does.
func (p AlertRuleUpdateParams) WithDefaults() (AlertRuleUpdateParams, error) {
	var err error
	p.ChannelIDs, err = checkAlertRule(p.PlanID, p.ScheduleID, p.ChannelIDs, p.AfterConsecutiveFailures)
	return p, err
}

// checkAlertRule checks the fields of a rule that the store cannot, and
// returns channels without duplicates, in a new slice.
func checkAlertRule(planID, scheduleID uuid.UUID, channels []uuid.UUID, after int) ([]uuid.UUID, error) {
	unique := make([]uuid.UUID, 0, len(channels))
	for _, id := range channels {
		if !slices.Contains(unique, id) {
			unique = append(unique, id)
		}
	}
	switch {
	case planID != uuid.Nil && scheduleID != uuid.Nil:
		return unique, fmt.Errorf("%w: a rule is attached to a plan or a schedule, not both", ErrInvalidInput)
	case len(unique) == 0:
		return unique, fmt.Errorf("%w: a rule needs at least one channel", ErrInvalidInput)
	case after < 0:
		return unique, fmt.Errorf("%w: negative after_consecutive_failures %d", ErrInvalidInput, after)
	}
	return unique, nil
}

// Decode checks p and returns the ID to list after (uuid.Nil for the
// first page) and the page size. Returns ErrInvalidInput for a malformed
// cursor.
func (p *AlertRuleListParams) Decode() (afterID uuid.UUID, limit int, err error) {
	if afterID, err = DecodeUUIDCursor(p.Cursor, ListAlertRules); err != nil {
		return uuid.Nil, 0, err
	}
	return afterID, PageLimit(p.Limit), nil
}

// Decode checks p and returns the ID to list before (uuid.Nil for the
// first page, the newest) and the page size. Returns ErrInvalidInput for
// a malformed cursor.
func (p *AlertDeliveryListParams) Decode() (beforeID uuid.UUID, limit int, err error) {
	if beforeID, err = DecodeUUIDCursor(p.Cursor, ListAlertDeliveries); err != nil {
		return uuid.Nil, 0, err
	}
	return beforeID, PageLimit(p.Limit), nil
}
