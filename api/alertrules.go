package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// maxAlertRuleBodyBytes caps the request body of create-alert-rule and
// update-alert-rule.
const maxAlertRuleBodyBytes = 64 << 10

// alertRuleSemantics says when a rule sends, for the descriptions of the
// rule operations.
const alertRuleSemantics = "A rule keeps a state per plan: how many of the plan's executions failed (status failed or " +
	"error) in a row, and whether the rule is alerting for it. threshold = max(1, after_consecutive_failures) failures " +
	"in a row start the rule alerting; the message execution.failed is then sent if on_failure is set, or " +
	"after_consecutive_failures is above 0, or every_failure is set. While alerting, every further failure sends " +
	"execution.failed again only with every_failure. The first pass after the rule started alerting ends it and sends " +
	"execution.recovered if on_recovery is set. Cancelled executions are ignored. One message at most is sent per rule " +
	"and plan per ASTRO_ALERT_MIN_INTERVAL (default 5m): messages due sooner are not sent but counted, and the next " +
	"message carries the count (suppressed), so a plan that flaps sends at most one message per interval, and a " +
	"recovery that came within the interval is still told, when it ends. A rule attached to a plan applies to all its " +
	"executions; one attached to a schedule, to the executions that the schedule creates; one with neither plan_id nor " +
	"schedule_id applies to every plan, with a state kept per plan. Each message goes to every channel of the rule, " +
	"each delivered on its own with retries."

// AlertRuleBody is an alert rule, sent to create-alert-rule and
// update-alert-rule.
type AlertRuleBody struct {
	Name                     string      `json:"name,omitempty" maxLength:"100" doc:"Name of the rule, shown in its messages. No NUL characters. Defaults to empty." example:"checkout is down"`
	PlanID                   *uuid.UUID  `json:"plan_id,omitempty" format:"uuid" nullable:"true" doc:"The plan whose executions the rule watches; it must exist (422). Omitted or null, with no schedule_id either, the rule watches every plan." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	ScheduleID               *uuid.UUID  `json:"schedule_id,omitempty" format:"uuid" nullable:"true" doc:"The schedule whose executions the rule watches, instead of a plan; it must exist (422). A rule names a plan or a schedule, not both." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	Channels                 []uuid.UUID `json:"channels" format:"uuid" minItems:"1" maxItems:"20" uniqueItems:"true" nullable:"false" doc:"Identities of the channels that the rule's messages go to: 1 to 20, each once, each existing (422)." example:"[\"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d\"]"`
	OnFailure                *bool       `json:"on_failure,omitempty" doc:"Send execution.failed when the rule starts alerting. Defaults to true." example:"true"`
	OnRecovery               *bool       `json:"on_recovery,omitempty" doc:"Send execution.recovered on the first pass after the rule alerted. Defaults to true." example:"true"`
	AfterConsecutiveFailures int         `json:"after_consecutive_failures,omitempty" minimum:"0" maximum:"100" doc:"How many failures in a row start the rule alerting; 0 and 1 both mean the first failure. Above 0, execution.failed is sent when the count is reached, whatever on_failure says. Defaults to 0." example:"3"`
	EveryFailure             bool        `json:"every_failure,omitempty" doc:"While alerting, send execution.failed on every further failure too (still at most one message per ASTRO_ALERT_MIN_INTERVAL). Defaults to false." example:"false"`
}

// Resolve checks what the schema cannot: NUL in the name, a plan and a
// schedule both given, and a rule that could never send.
func (b *AlertRuleBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	errs := checkNUL(prefix, "name", b.Name)
	if b.PlanID != nil && b.ScheduleID != nil {
		errs = append(errs, &huma.ErrorDetail{
			Location: prefix.With("schedule_id"),
			Message:  "a rule watches a plan (plan_id) or a schedule (schedule_id), not both: give one, or neither to watch every plan",
		})
	}
	if !b.onFailure() && !b.onRecovery() && !b.EveryFailure && b.AfterConsecutiveFailures == 0 {
		errs = append(errs, &huma.ErrorDetail{
			Location: prefix.String(),
			Message: "this rule could never send a message: on_failure, on_recovery and every_failure are all false and " +
				"after_consecutive_failures is 0; set one of them",
		})
	}
	return errs
}

// onFailure returns on_failure with its default.
func (b *AlertRuleBody) onFailure() bool { return b.OnFailure == nil || *b.OnFailure }

// onRecovery returns on_recovery with its default.
func (b *AlertRuleBody) onRecovery() bool { return b.OnRecovery == nil || *b.OnRecovery }

// AlertRule is a stored alert rule.
type AlertRule struct {
	ID                       uuid.UUID   `json:"id" format:"uuid" doc:"Identity of the rule." example:"0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c"`
	Name                     string      `json:"name" doc:"Name of the rule; empty if it has none." example:"checkout is down"`
	PlanID                   *uuid.UUID  `json:"plan_id" format:"uuid" nullable:"true" doc:"The plan the rule watches, or null." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	ScheduleID               *uuid.UUID  `json:"schedule_id" format:"uuid" nullable:"true" doc:"The schedule the rule watches, or null. With plan_id null too, the rule watches every plan." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	Channels                 []uuid.UUID `json:"channels" format:"uuid" nullable:"false" doc:"The channels that the rule's messages go to, in the order given." example:"[\"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d\"]"`
	OnFailure                bool        `json:"on_failure" doc:"Whether execution.failed is sent when the rule starts alerting." example:"true"`
	OnRecovery               bool        `json:"on_recovery" doc:"Whether execution.recovered is sent on the first pass after the rule alerted." example:"true"`
	AfterConsecutiveFailures int         `json:"after_consecutive_failures" doc:"How many failures in a row start the rule alerting; 0 means the first." example:"3"`
	EveryFailure             bool        `json:"every_failure" doc:"Whether every further failure sends execution.failed while the rule is alerting." example:"false"`
	Revision                 int64       `json:"revision" doc:"Revision of the rule: 1 when created, bumped by every update. The ETag header carries it." example:"1"`
	CreatedAt                time.Time   `json:"created_at" doc:"When the rule was created." example:"2026-01-02T15:04:05Z"`
	UpdatedAt                time.Time   `json:"updated_at" doc:"When the rule was last changed." example:"2026-01-02T15:04:05Z"`
}

// AlertRuleList is one page of alert rules.
type AlertRuleList struct {
	Rules      []AlertRule `json:"rules" nullable:"false" doc:"The rules of this page, oldest first." example:"[]"`
	NextCursor string      `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoiYWxlcnRfcnVsZXMiLCJpIjoiMDE5MGMxZjEtNGU1Zi03MDYxLThiNzAtOGQ5ZTBmMWEyYjNjIn0"`
}

type createAlertRuleInput struct {
	Body AlertRuleBody
}

type createAlertRuleOutput struct {
	Location string `header:"Location" doc:"Path of the new rule." example:"/alert-rule/0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c"`
	ETag     string `header:"ETag" doc:"Revision of the rule as an entity tag. Send it in If-Match to update the rule." example:"\"1\""`
	Body     AlertRule
}

type alertRuleIDInput struct {
	ID uuid.UUID `path:"id" format:"uuid" doc:"Identity of the rule." example:"0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c"`
}

type alertRuleOutput struct {
	ETag string `header:"ETag" doc:"Revision of the rule as an entity tag. Send it in If-Match to update the rule." example:"\"2\""`
	Body AlertRule
}

type listAlertRulesInput struct {
	PlanID     uuid.UUID `query:"plan_id" format:"uuid" doc:"Keep the rules attached to this plan (not those of every plan, nor those of its schedules)." example:"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"`
	ScheduleID uuid.UUID `query:"schedule_id" format:"uuid" doc:"Keep the rules attached to this schedule." example:"0190c1e0-2c3d-7e4f-8a50-6b7c8d9e0f1a"`
	ChannelID  uuid.UUID `query:"channel_id" format:"uuid" doc:"Keep the rules that send to this channel." example:"0190c1f2-5f60-7172-9c80-9e0f1a2b3c4d"`
	Limit      int       `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of rules to return." example:"50"`
	Cursor     string    `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoiYWxlcnRfcnVsZXMiLCJpIjoiMDE5MGMxZjEtNGU1Zi03MDYxLThiNzAtOGQ5ZTBmMWEyYjNjIn0"`
}

type listAlertRulesOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</alert-rule?cursor=eyJsIjoiYWxlcnRfcnVsZXMiLCJpIjoiMDE5MGMxZjEtNGU1Zi03MDYxLThiNzAtOGQ5ZTBmMWEyYjNjIn0&limit=50>; rel=\"next\""`
	Body AlertRuleList
}

type updateAlertRuleInput struct {
	ID      uuid.UUID `path:"id" format:"uuid" doc:"Identity of the rule." example:"0190c1f1-4e5f-7061-8b70-8d9e0f1a2b3c"`
	IfMatch string    `header:"If-Match" doc:"The rule's current ETag, from a previous read. Required: the update fails with 412 if the rule changed since." example:"\"1\""`
	Body    AlertRuleBody
}

// registerAlertRules adds the alert rule operations.
func (s *server) registerAlertRules(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-alert-rule",
		Method:      http.MethodPost,
		Path:        "/alert-rule",
		Summary:     "Create an alert rule",
		Description: "Stores a new alert rule at revision 1: which executions it watches (a plan, a schedule, or every " +
			"plan), which channels its messages go to, and when it sends. " + alertRuleSemantics + " A plan, schedule or " +
			"channel that does not exist, both a plan and a schedule, or a rule that could never send (on_failure, " +
			"on_recovery and every_failure false and after_consecutive_failures 0) give 422 naming the field, and nothing " +
			"is stored. The body may be at most 64 KiB (413).",
		Tags:          []string{tagAlerts},
		Security:      secured,
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  maxAlertRuleBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusRequestEntityTooLarge,
			http.StatusServiceUnavailable},
	}, s.createAlertRule)

	huma.Register(api, huma.Operation{
		OperationID: "list-alert-rules",
		Method:      http.MethodGet,
		Path:        "/alert-rule",
		Summary:     "List alert rules",
		Description: "Returns one page of alert rules, oldest first, optionally only those attached to one plan or one " +
			"schedule, or sending to one channel (the filters combine). Follow next_cursor, or the Link header with " +
			"rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagAlerts},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listAlertRules)

	huma.Register(api, huma.Operation{
		OperationID: "get-alert-rule",
		Method:      http.MethodGet,
		Path:        "/alert-rule/{id}",
		Summary:     "Get an alert rule",
		Description: "Returns one alert rule, with its revision in the ETag header. " + alertRuleSemantics,
		Tags:        []string{tagAlerts},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getAlertRule)

	huma.Register(api, huma.Operation{
		OperationID: "update-alert-rule",
		Method:      http.MethodPut,
		Path:        "/alert-rule/{id}",
		Summary:     "Replace an alert rule",
		Description: "Replaces every field of an alert rule, with the defaults of create-alert-rule for those left out, " +
			"and bumps its revision; the checks are those of create-alert-rule. A rule whose plan or schedule changes " +
			"forgets what it knew of past executions (its states); otherwise a rule that is alerting stays alerting. " +
			"If-Match must carry the ETag of the revision being replaced, quoted (\"3\") or bare (3): without it the " +
			"answer is 428, and if the rule changed since, 412. A weak tag (W/\"3\") never matches and also gives 412. " +
			"The body may be at most 64 KiB (413).",
		Tags:         []string{tagAlerts},
		Security:     secured,
		MaxBodyBytes: maxAlertRuleBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusPreconditionFailed,
			http.StatusRequestEntityTooLarge, http.StatusPreconditionRequired, http.StatusServiceUnavailable},
	}, s.updateAlertRule)

	huma.Register(api, huma.Operation{
		OperationID: "delete-alert-rule",
		Method:      http.MethodDelete,
		Path:        "/alert-rule/{id}",
		Summary:     "Delete an alert rule",
		Description: "Deletes an alert rule and its states. Messages it already queued are still delivered, and its " +
			"channels keep their delivery logs.",
		Tags:          []string{tagAlerts},
		Security:      secured,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.deleteAlertRule)
}

// alertRuleFromStorage returns the API form of a stored rule.
func alertRuleFromStorage(r *storage.AlertRule) AlertRule {
	out := AlertRule{
		ID: r.ID, Name: r.Name, Channels: r.ChannelIDs, OnFailure: r.OnFailure, OnRecovery: r.OnRecovery,
		AfterConsecutiveFailures: r.AfterConsecutiveFailures, EveryFailure: r.EveryFailure,
		Revision: r.Revision, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if out.Channels == nil {
		out.Channels = []uuid.UUID{}
	}
	if r.PlanID != uuid.Nil {
		id := r.PlanID
		out.PlanID = &id
	}
	if r.ScheduleID != uuid.Nil {
		id := r.ScheduleID
		out.ScheduleID = &id
	}
	return out
}

// noAlertRule is the 404 text for an unknown rule.
func noAlertRule(id uuid.UUID) string { return fmt.Sprintf("no alert rule has id %s", id) }

// ruleTargets are what a rule watches: a plan, a schedule, or neither.
type ruleTargets struct {
	planID, scheduleID uuid.UUID
}

// targets returns the plan and schedule of b, uuid.Nil when not given.
func (b *AlertRuleBody) targets() ruleTargets {
	var t ruleTargets
	if b.PlanID != nil {
		t.planID = *b.PlanID
	}
	if b.ScheduleID != nil {
		t.scheduleID = *b.ScheduleID
	}
	return t
}

// checkRuleRefs checks in tx that the plan, schedule and channels that a
// rule body names exist, and returns a 422 naming each that does not.
func checkRuleRefs(ctx context.Context, tx storage.Store, b *AlertRuleBody) error {
	var errs []error
	missing := func(err error, location, msg string) error {
		if errors.Is(err, storage.ErrNotFound) {
			errs = append(errs, &huma.ErrorDetail{Location: location, Message: msg})
			return nil
		}
		return err
	}
	// A given ID is looked up even when it is the nil UUID, which names
	// nothing: targets() would read it as "not given", a rule that
	// watches every plan.
	t := b.targets()
	if b.PlanID != nil {
		if _, err := tx.PlanGetByID(ctx, t.planID); err != nil {
			if err := missing(err, "body.plan_id", fmt.Sprintf("no plan has id %s", t.planID)); err != nil {
				return fmt.Errorf("plan of alert rule: %w", err)
			}
		}
	}
	if b.ScheduleID != nil {
		if _, err := tx.ScheduleGetByID(ctx, t.scheduleID); err != nil {
			if err := missing(err, "body.schedule_id", noSchedule(t.scheduleID)); err != nil {
				return fmt.Errorf("schedule of alert rule: %w", err)
			}
		}
	}
	for i, id := range b.Channels {
		if _, err := tx.ChannelGetByID(ctx, id); err != nil {
			if err := missing(err, "body.channels["+strconv.Itoa(i)+"]", noChannel(id)); err != nil {
				return fmt.Errorf("channel of alert rule: %w", err)
			}
		}
	}
	if len(errs) > 0 {
		return huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	return nil
}

// ruleGone answers a store's ErrNotFound for a plan, schedule or channel
// deleted between checkRuleRefs and the write.
const ruleGone = "a plan, schedule or channel that the rule names was deleted meanwhile: check them and retry"

func (s *server) createAlertRule(ctx context.Context, in *createAlertRuleInput) (*createAlertRuleOutput, error) {
	var r *storage.AlertRule
	b := &in.Body
	err := s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		if err := checkRuleRefs(ctx, tx, b); err != nil {
			return err
		}
		t := b.targets()
		var err error
		r, err = tx.AlertRuleCreate(ctx, &storage.AlertRuleCreateParams{
			Name: b.Name, PlanID: t.planID, ScheduleID: t.scheduleID, ChannelIDs: b.Channels,
			OnFailure: b.onFailure(), OnRecovery: b.onRecovery(),
			AfterConsecutiveFailures: b.AfterConsecutiveFailures, EveryFailure: b.EveryFailure,
		})
		return err
	})
	if errors.Is(err, storage.ErrNotFound) {
		return nil, huma.Error422UnprocessableEntity(ruleGone)
	}
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	return &createAlertRuleOutput{
		Location: "/alert-rule/" + r.ID.String(), ETag: etag(r.Revision), Body: alertRuleFromStorage(r),
	}, nil
}

func (s *server) getAlertRule(ctx context.Context, in *alertRuleIDInput) (*alertRuleOutput, error) {
	r, err := s.deps.Store.AlertRuleGetByID(ctx, in.ID)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noAlertRule(in.ID)}))
	}
	return &alertRuleOutput{ETag: etag(r.Revision), Body: alertRuleFromStorage(r)}, nil
}

func (s *server) listAlertRules(ctx context.Context, in *listAlertRulesInput) (*listAlertRulesOutput, error) {
	page, err := s.deps.Store.AlertRuleList(ctx, &storage.AlertRuleListParams{
		PlanID: in.PlanID, ScheduleID: in.ScheduleID, ChannelID: in.ChannelID, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listAlertRulesOutput{Body: AlertRuleList{
		Rules:      make([]AlertRule, 0, len(page.Rules)),
		NextCursor: page.NextCursor,
	}}
	for _, r := range page.Rules {
		out.Body.Rules = append(out.Body.Rules, alertRuleFromStorage(r))
	}
	q := url.Values{}
	for name, id := range map[string]uuid.UUID{"plan_id": in.PlanID, "schedule_id": in.ScheduleID, "channel_id": in.ChannelID} {
		if id != uuid.Nil {
			q.Set(name, id.String())
		}
	}
	out.Link = nextLink("/alert-rule", q, in.Limit, page.NextCursor)
	return out, nil
}

// errRuleMissing marks the rule itself missing in an update, to tell it
// from a plan, schedule or channel deleted meanwhile.
var errRuleMissing = errors.New("alert rule not found")

func (s *server) updateAlertRule(ctx context.Context, in *updateAlertRuleInput) (*alertRuleOutput, error) {
	rev, err := parseIfMatch(in.IfMatch, "alert rule")
	if err != nil {
		return nil, err
	}
	var r *storage.AlertRule
	b := &in.Body
	err = s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		cur, err := tx.AlertRuleGetByID(ctx, in.ID)
		if errors.Is(err, storage.ErrNotFound) {
			return errRuleMissing
		}
		if err != nil {
			return err
		}
		if cur.Revision != rev {
			return storage.ErrStaleRevision
		}
		if err := checkRuleRefs(ctx, tx, b); err != nil {
			return err
		}
		t := b.targets()
		r, err = tx.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{
			ID: in.ID, ExpectedRevision: rev, Name: b.Name, PlanID: t.planID, ScheduleID: t.scheduleID,
			ChannelIDs: b.Channels, OnFailure: b.onFailure(), OnRecovery: b.onRecovery(),
			AfterConsecutiveFailures: b.AfterConsecutiveFailures, EveryFailure: b.EveryFailure,
		})
		return err
	})
	switch {
	case errors.Is(err, errRuleMissing):
		return nil, huma.Error404NotFound(noAlertRule(in.ID))
	case errors.Is(err, storage.ErrNotFound):
		return nil, huma.Error422UnprocessableEntity(ruleGone)
	case err != nil:
		return nil, s.httpError(ctx, explain(err, details{
			Stale: fmt.Sprintf("alert rule %s is no longer at revision %d: fetch it again and retry with its new ETag", in.ID, rev),
		}))
	}
	return &alertRuleOutput{ETag: etag(r.Revision), Body: alertRuleFromStorage(r)}, nil
}

func (s *server) deleteAlertRule(ctx context.Context, in *alertRuleIDInput) (*struct{}, error) {
	if err := s.deps.Store.AlertRuleDelete(ctx, in.ID); err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noAlertRule(in.ID)}))
	}
	return &struct{}{}, nil
}
