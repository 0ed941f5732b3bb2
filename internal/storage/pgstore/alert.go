package pgstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// ChannelCreate stores a new channel. See storage.AlertStore.
func (s *Store) ChannelCreate(ctx context.Context, p *storage.ChannelCreateParams) (*storage.Channel, error) {
	c, err := p.WithDefaults()
	var headers []byte
	if err == nil {
		headers, err = storage.MarshalLabels(c.Headers)
	}
	if err != nil {
		return nil, fmt.Errorf("create channel: %w", err)
	}
	row, err := s.q.ChannelCreate(ctx, s.db, &postgres.ChannelCreateParams{
		ID:      c.ID,
		Name:    c.Name,
		Kind:    string(c.Kind),
		Url:     c.URL,
		Headers: headers,
		Secret:  c.Secret,
	})
	if err != nil {
		return nil, fmt.Errorf("create channel %q: %w", c.Name, interpretError(err))
	}
	return channelFromRow(row), nil
}

// ChannelGetByID returns one channel. See storage.AlertStore.
func (s *Store) ChannelGetByID(ctx context.Context, id uuid.UUID) (*storage.Channel, error) {
	row, err := s.q.ChannelGetByID(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("get channel %s: %w", id, interpretError(err))
	}
	return channelFromRow(row), nil
}

// ChannelUpdate replaces a channel's fields. See storage.AlertStore.
func (s *Store) ChannelUpdate(ctx context.Context, p *storage.ChannelUpdateParams) (*storage.Channel, error) {
	u, err := p.WithDefaults()
	var headers []byte
	if err == nil {
		headers, err = storage.MarshalLabels(u.Headers)
	}
	if err != nil {
		return nil, fmt.Errorf("update channel %s: %w", p.ID, err)
	}
	row, err := s.q.ChannelUpdate(ctx, s.db, &postgres.ChannelUpdateParams{
		ID:               u.ID,
		ExpectedRevision: u.ExpectedRevision,
		Name:             u.Name,
		Kind:             string(u.Kind),
		Url:              u.URL,
		Headers:          headers,
		Secret:           u.Secret,
	})
	if err != nil {
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the channel is gone or its revision moved on.
			if _, gerr := s.q.ChannelGetByID(ctx, s.db, p.ID); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return nil, fmt.Errorf("update channel %s: %w", p.ID, err)
	}
	return channelFromRow(row), nil
}

// ChannelDelete deletes a channel and its deliveries. See
// storage.AlertStore.
func (s *Store) ChannelDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.ChannelDelete(ctx, s.db, id)
	if err != nil {
		return fmt.Errorf("delete channel %s: %w", id, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("delete channel %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// ChannelList returns one page of channels. See storage.AlertStore.
func (s *Store) ChannelList(ctx context.Context, p *storage.ChannelListParams) (*storage.ChannelPage, error) {
	after, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", err)
	}
	rows, err := s.q.ChannelList(ctx, s.db, &postgres.ChannelListParams{AfterID: after, MaxRows: int32(limit + 1)})
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", interpretError(err))
	}
	page := &storage.ChannelPage{}
	page.Channels, page.NextCursor = storage.PageOf(rows, limit, channelFromRow,
		func(r *postgres.Channel) storage.Cursor {
			return storage.Cursor{List: storage.ListChannels, ID: r.ID.String()}
		})
	return page, nil
}

// inWriteTx runs fn in a transaction unless s already is one.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.InTx(ctx, func(tx storage.Store) error { return fn(tx.(*Store)) })
}

// AlertRuleCreate stores a new rule and its channels in one transaction.
// See storage.AlertStore.
func (s *Store) AlertRuleCreate(ctx context.Context, p *storage.AlertRuleCreateParams) (*storage.AlertRule, error) {
	c, err := p.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("create alert rule: %w", err)
	}
	var row *postgres.AlertRule
	err = s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.AlertRuleCreate(ctx, tx.db, &postgres.AlertRuleCreateParams{
			ID:                       c.ID,
			Name:                     c.Name,
			PlanID:                   optionalID(c.PlanID),
			ScheduleID:               optionalID(c.ScheduleID),
			OnFailure:                c.OnFailure,
			OnRecovery:               c.OnRecovery,
			AfterConsecutiveFailures: int32(c.AfterConsecutiveFailures),
			EveryFailure:             c.EveryFailure,
		})
		if err != nil {
			return targetError(err)
		}
		return tx.setRuleChannels(ctx, c.ID, c.ChannelIDs)
	})
	if err != nil {
		return nil, fmt.Errorf("create alert rule: %w", err)
	}
	return ruleFromRow(row, c.ChannelIDs), nil
}

// targetError maps the error of writing a rule: a foreign key violation
// means that its plan or schedule does not exist.
func targetError(err error) error {
	err = interpretError(err)
	if errors.Is(err, storage.ErrReferenced) {
		return fmt.Errorf("the rule's plan or schedule: %w", storage.ErrNotFound)
	}
	return err
}

// setRuleChannels replaces the channels of a rule. A foreign key
// violation means that a channel does not exist.
func (s *Store) setRuleChannels(ctx context.Context, ruleID uuid.UUID, channels []uuid.UUID) error {
	if err := s.q.AlertRuleChannelsDelete(ctx, s.db, ruleID); err != nil {
		return interpretError(err)
	}
	err := s.q.AlertRuleChannelsInsert(ctx, s.db, &postgres.AlertRuleChannelsInsertParams{RuleID: ruleID, ChannelIds: channels})
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			return fmt.Errorf("a channel of the rule: %w", storage.ErrNotFound)
		}
		return err
	}
	return nil
}

// AlertRuleGetByID returns one rule with its channels. See
// storage.AlertStore.
func (s *Store) AlertRuleGetByID(ctx context.Context, id uuid.UUID) (*storage.AlertRule, error) {
	row, err := s.q.AlertRuleGetByID(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("get alert rule %s: %w", id, interpretError(err))
	}
	return ruleFromRow(&row.AlertRule, row.ChannelIds), nil
}

// AlertRuleUpdate replaces a rule's fields and channels in one
// transaction, and deletes its states if its plan or schedule changes. See
// storage.AlertStore.
func (s *Store) AlertRuleUpdate(ctx context.Context, p *storage.AlertRuleUpdateParams) (*storage.AlertRule, error) {
	u, err := p.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("update alert rule %s: %w", p.ID, err)
	}
	var row *postgres.AlertRule
	err = s.inWriteTx(ctx, func(tx *Store) error {
		old, err := tx.q.AlertRuleGetByID(ctx, tx.db, u.ID)
		if err != nil {
			return interpretError(err)
		}
		if old.AlertRule.Revision != u.ExpectedRevision {
			return storage.ErrStaleRevision
		}
		row, err = tx.q.AlertRuleUpdate(ctx, tx.db, &postgres.AlertRuleUpdateParams{
			ID:                       u.ID,
			ExpectedRevision:         u.ExpectedRevision,
			Name:                     u.Name,
			PlanID:                   optionalID(u.PlanID),
			ScheduleID:               optionalID(u.ScheduleID),
			OnFailure:                u.OnFailure,
			OnRecovery:               u.OnRecovery,
			AfterConsecutiveFailures: int32(u.AfterConsecutiveFailures),
			EveryFailure:             u.EveryFailure,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			// The revision moved on since it was read.
			return storage.ErrStaleRevision
		}
		if err != nil {
			return targetError(err)
		}
		prev := ruleFromRow(&old.AlertRule, nil)
		if prev.PlanID != u.PlanID || prev.ScheduleID != u.ScheduleID {
			if err := tx.q.AlertStateDeleteByRuleID(ctx, tx.db, u.ID); err != nil {
				return interpretError(err)
			}
		}
		return tx.setRuleChannels(ctx, u.ID, u.ChannelIDs)
	})
	if err != nil {
		return nil, fmt.Errorf("update alert rule %s: %w", p.ID, err)
	}
	return ruleFromRow(row, u.ChannelIDs), nil
}

// AlertRuleDelete deletes a rule and its states. See storage.AlertStore.
func (s *Store) AlertRuleDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.AlertRuleDelete(ctx, s.db, id)
	if err != nil {
		return fmt.Errorf("delete alert rule %s: %w", id, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("delete alert rule %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// AlertRuleList returns one page of rules. See storage.AlertStore.
func (s *Store) AlertRuleList(ctx context.Context, p *storage.AlertRuleListParams) (*storage.AlertRulePage, error) {
	after, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", err)
	}
	rows, err := s.q.AlertRuleList(ctx, s.db, &postgres.AlertRuleListParams{
		AfterID:    after,
		PlanID:     optionalID(p.PlanID),
		ScheduleID: optionalID(p.ScheduleID),
		ChannelID:  optionalID(p.ChannelID),
		MaxRows:    int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", interpretError(err))
	}
	page := &storage.AlertRulePage{}
	page.Rules, page.NextCursor = storage.PageOf(rows, limit,
		func(r *postgres.AlertRuleListRow) *storage.AlertRule { return ruleFromRow(&r.AlertRule, r.ChannelIds) },
		func(r *postgres.AlertRuleListRow) storage.Cursor {
			return storage.Cursor{List: storage.ListAlertRules, ID: r.AlertRule.ID.String()}
		})
	return page, nil
}

// AlertRulesFor returns the rules that apply to an execution, in one
// query. See storage.AlertStore.
func (s *Store) AlertRulesFor(ctx context.Context, planID, scheduleID uuid.UUID) ([]*storage.AlertRule, error) {
	rows, err := s.q.AlertRulesFor(ctx, s.db, &postgres.AlertRulesForParams{PlanID: planID, ScheduleID: optionalID(scheduleID)})
	if err != nil {
		return nil, fmt.Errorf("alert rules for plan %s: %w", planID, interpretError(err))
	}
	rules := make([]*storage.AlertRule, len(rows))
	for i, r := range rows {
		rules[i] = ruleFromRow(&r.AlertRule, r.ChannelIds)
	}
	return rules, nil
}

// AlertStateLock stores a zero state if there is none, then locks the
// state with FOR UPDATE. See storage.AlertStore.
//
// It first holds the rule FOR KEY SHARE: a rule deleted since the caller
// listed it is then found missing by a plain query, instead of by the
// insert's foreign key check, whose error would abort the caller's
// transaction.
func (s *Store) AlertStateLock(ctx context.Context, ruleID, planID uuid.UUID) (*storage.AlertState, error) {
	if _, err := s.q.AlertRuleLockShared(ctx, s.db, ruleID); err != nil {
		return nil, fmt.Errorf("lock alert state of rule %s for plan %s: rule: %w", ruleID, planID, interpretError(err))
	}
	err := s.q.AlertStateInsert(ctx, s.db, &postgres.AlertStateInsertParams{RuleID: ruleID, PlanID: planID})
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			err = fmt.Errorf("rule or plan: %w", storage.ErrNotFound)
		}
		return nil, fmt.Errorf("lock alert state of rule %s for plan %s: %w", ruleID, planID, err)
	}
	row, err := s.q.AlertStateLock(ctx, s.db, &postgres.AlertStateLockParams{RuleID: ruleID, PlanID: planID})
	if err != nil {
		// Only a concurrent delete of the rule or plan gets here.
		return nil, fmt.Errorf("lock alert state of rule %s for plan %s: %w", ruleID, planID, interpretError(err))
	}
	return stateFromRow(row), nil
}

// AlertStatePut stores a state. See storage.AlertStore.
func (s *Store) AlertStatePut(ctx context.Context, st *storage.AlertState) error {
	n, err := s.q.AlertStatePut(ctx, s.db, &postgres.AlertStatePutParams{
		RuleID:              st.RuleID,
		PlanID:              st.PlanID,
		Alerting:            st.Alerting,
		ConsecutiveFailures: int32(st.ConsecutiveFailures),
		LastExecutionID:     optionalID(st.LastExecutionID),
		LastStatus:          string(st.LastStatus),
		NotifiedAlerting:    st.NotifiedAlerting,
		LastSentAt:          st.LastSentAt,
		Suppressed:          int32(st.Suppressed),
		FlushPending:        st.FlushPending,
	})
	if err != nil {
		return fmt.Errorf("put alert state of rule %s for plan %s: %w", st.RuleID, st.PlanID, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("put alert state of rule %s for plan %s: %w", st.RuleID, st.PlanID, storage.ErrNotFound)
	}
	return nil
}

// AlertDeliveryRecord stores one delivery attempt. See storage.AlertStore.
func (s *Store) AlertDeliveryRecord(ctx context.Context, p *storage.AlertDeliveryRecordParams) (*storage.AlertDelivery, error) {
	d, err := p.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("record delivery attempt: %w", err)
	}
	arg := &postgres.AlertDeliveryRecordParams{
		ID:          d.ID,
		DeliveryID:  d.DeliveryID,
		ChannelID:   d.ChannelID,
		RuleID:      optionalID(d.RuleID),
		ExecutionID: optionalID(d.ExecutionID),
		Event:       d.Event,
		Attempt:     int32(d.Attempt),
		Outcome:     string(d.Outcome),
		StatusCode:  int32(d.StatusCode),
		LatencyUs:   d.Latency.Microseconds(),
		Error:       d.Error,
		Payload:     d.Payload,
		Response:    d.Response,
	}
	if !d.CreatedAt.IsZero() {
		arg.CreatedAt = &d.CreatedAt
	}
	row, err := s.q.AlertDeliveryRecord(ctx, s.db, arg)
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			err = fmt.Errorf("channel %s: %w", d.ChannelID, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("record delivery attempt: %w", err)
	}
	return deliveryFromRow(row), nil
}

// AlertDeliveryList returns one page of a channel's attempts, newest
// first. See storage.AlertStore.
func (s *Store) AlertDeliveryList(ctx context.Context, p *storage.AlertDeliveryListParams) (*storage.AlertDeliveryPage, error) {
	before, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts: %w", err)
	}
	rows, err := s.q.AlertDeliveryList(ctx, s.db, &postgres.AlertDeliveryListParams{
		ChannelID:  p.ChannelID,
		BeforeID:   optionalID(before),
		DeliveryID: optionalID(p.DeliveryID),
		MaxRows:    int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts of channel %s: %w", p.ChannelID, interpretError(err))
	}
	page := &storage.AlertDeliveryPage{}
	page.Deliveries, page.NextCursor = storage.PageOf(rows, limit, deliveryFromRow,
		func(r *postgres.AlertDelivery) storage.Cursor {
			return storage.Cursor{List: storage.ListAlertDeliveries, ID: r.ID.String()}
		})
	return page, nil
}

// AlertDeliveryPrune deletes up to limit old attempts, skipping those
// another node is deleting. See storage.AlertStore.
func (s *Store) AlertDeliveryPrune(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.q.AlertDeliveryPrune(ctx, s.db, &postgres.AlertDeliveryPruneParams{
		Before: before, MaxRows: int32(min(limit, math.MaxInt32)),
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivery attempts: %w", interpretError(err))
	}
	return n, nil
}

func channelFromRow(r *postgres.Channel) *storage.Channel {
	return &storage.Channel{
		ID:        r.ID,
		Name:      r.Name,
		Kind:      storage.ChannelKind(r.Kind),
		URL:       r.Url,
		Headers:   storage.UnmarshalLabels(r.Headers),
		Secret:    r.Secret,
		Revision:  r.Revision,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
	}
}

// ruleFromRow returns the rule of r with its channels.
func ruleFromRow(r *postgres.AlertRule, channels []uuid.UUID) *storage.AlertRule {
	rule := &storage.AlertRule{
		ID:                       r.ID,
		Name:                     r.Name,
		ChannelIDs:               channels,
		OnFailure:                r.OnFailure,
		OnRecovery:               r.OnRecovery,
		AfterConsecutiveFailures: int(r.AfterConsecutiveFailures),
		EveryFailure:             r.EveryFailure,
		Revision:                 r.Revision,
		CreatedAt:                r.CreatedAt,
		UpdatedAt:                r.UpdatedAt,
	}
	if r.PlanID != nil {
		rule.PlanID = *r.PlanID
	}
	if r.ScheduleID != nil {
		rule.ScheduleID = *r.ScheduleID
	}
	return rule
}

func stateFromRow(r *postgres.AlertState) *storage.AlertState {
	st := &storage.AlertState{
		RuleID:              r.RuleID,
		PlanID:              r.PlanID,
		Alerting:            r.Alerting,
		ConsecutiveFailures: int(r.ConsecutiveFailures),
		LastStatus:          storage.ExecutionStatus(r.LastStatus),
		NotifiedAlerting:    r.NotifiedAlerting,
		LastSentAt:          r.LastSentAt,
		Suppressed:          int(r.Suppressed),
		FlushPending:        r.FlushPending,
		UpdatedAt:           r.UpdatedAt,
	}
	if r.LastExecutionID != nil {
		st.LastExecutionID = *r.LastExecutionID
	}
	return st
}

func deliveryFromRow(r *postgres.AlertDelivery) *storage.AlertDelivery {
	d := &storage.AlertDelivery{
		ID:         r.ID,
		DeliveryID: r.DeliveryID,
		ChannelID:  r.ChannelID,
		Event:      r.Event,
		Attempt:    int(r.Attempt),
		Outcome:    storage.AlertDeliveryOutcome(r.Outcome),
		StatusCode: int(r.StatusCode),
		Latency:    time.Duration(r.LatencyUs) * time.Microsecond,
		Error:      r.Error,
		Payload:    r.Payload,
		Response:   r.Response,
		CreatedAt:  r.CreatedAt,
	}
	if d.Payload == nil {
		d.Payload = []byte{}
	}
	if r.RuleID != nil {
		d.RuleID = *r.RuleID
	}
	if r.ExecutionID != nil {
		d.ExecutionID = *r.ExecutionID
	}
	return d
}
