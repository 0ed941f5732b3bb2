package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// ChannelCreate stores a new channel. See storage.AlertStore.
func (s *Store) ChannelCreate(ctx context.Context, p *storage.ChannelCreateParams) (*storage.Channel, error) {
	c, err := p.WithDefaults()
	var headers []byte
	if err == nil {
		headers, err = storage.MarshalLabels(c.Headers)
	}
	if err == nil {
		err = checkChannelNoNUL(c.Name, c.URL, c.Secret, headers)
	}
	if err != nil {
		return nil, fmt.Errorf("create channel: %w", err)
	}
	row, err := s.q.ChannelCreate(ctx, s.db, &sqlite.ChannelCreateParams{
		ID:      c.ID.String(),
		Name:    c.Name,
		Kind:    string(c.Kind),
		Url:     c.URL,
		Headers: string(headers),
		Secret:  c.Secret,
		Now:     now(),
	})
	if err != nil {
		return nil, fmt.Errorf("create channel %q: %w", c.Name, interpretError(err))
	}
	return channelFromRow(row), nil
}

// ChannelGetByID returns one channel. See storage.AlertStore.
func (s *Store) ChannelGetByID(ctx context.Context, id uuid.UUID) (*storage.Channel, error) {
	row, err := s.q.ChannelGetByID(ctx, s.read, id.String())
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
	if err == nil {
		err = checkChannelNoNUL(u.Name, u.URL, u.Secret, headers)
	}
	if err != nil {
		return nil, fmt.Errorf("update channel %s: %w", p.ID, err)
	}
	var row *sqlite.Channel
	err = s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.ChannelUpdate(ctx, tx.db, &sqlite.ChannelUpdateParams{
			ID:               u.ID.String(),
			ExpectedRevision: u.ExpectedRevision,
			Name:             u.Name,
			Kind:             string(u.Kind),
			Url:              u.URL,
			Headers:          string(headers),
			Secret:           u.Secret,
			Now:              now(),
		})
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the channel is gone or its revision moved on.
			if _, gerr := tx.q.ChannelGetByID(ctx, tx.db, p.ID.String()); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update channel %s: %w", p.ID, err)
	}
	return channelFromRow(row), nil
}

// ChannelDelete deletes a channel and its deliveries. See
// storage.AlertStore.
func (s *Store) ChannelDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.ChannelDelete(ctx, s.db, id.String())
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
	arg := &sqlite.ChannelListParams{MaxRows: int64(limit + 1)}
	if after != uuid.Nil {
		arg.AfterID = after.String()
	}
	rows, err := s.q.ChannelList(ctx, s.read, arg)
	if err != nil {
		return nil, fmt.Errorf("list channels: %w", interpretError(err))
	}
	page := &storage.ChannelPage{}
	page.Channels, page.NextCursor = storage.PageOf(rows, limit, channelFromRow,
		func(r *sqlite.Channel) storage.Cursor { return storage.Cursor{List: storage.ListChannels, ID: r.ID} })
	return page, nil
}

// AlertRuleCreate stores a new rule and its channels in one transaction.
// See storage.AlertStore.
func (s *Store) AlertRuleCreate(ctx context.Context, p *storage.AlertRuleCreateParams) (*storage.AlertRule, error) {
	c, err := p.WithDefaults()
	if err == nil {
		err = checkNoNUL("name", c.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("create alert rule: %w", err)
	}
	var row *sqlite.AlertRule
	err = s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.AlertRuleCreate(ctx, tx.db, &sqlite.AlertRuleCreateParams{
			ID:                       c.ID.String(),
			Name:                     c.Name,
			PlanID:                   nullID(c.PlanID),
			ScheduleID:               nullID(c.ScheduleID),
			OnFailure:                c.OnFailure,
			OnRecovery:               c.OnRecovery,
			AfterConsecutiveFailures: int64(c.AfterConsecutiveFailures),
			EveryFailure:             c.EveryFailure,
			Now:                      now(),
		})
		if err != nil {
			return targetError(err)
		}
		return tx.setRuleChannels(ctx, row.ID, c.ChannelIDs)
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
func (s *Store) setRuleChannels(ctx context.Context, ruleID string, channels []uuid.UUID) error {
	if err := s.q.AlertRuleChannelsDelete(ctx, s.db, ruleID); err != nil {
		return interpretError(err)
	}
	ids := make([]string, len(channels))
	for i, id := range channels {
		ids[i] = id.String()
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return fmt.Errorf("encode channel IDs: %w", err)
	}
	err = s.q.AlertRuleChannelsInsert(ctx, s.db, &sqlite.AlertRuleChannelsInsertParams{RuleID: ruleID, ChannelIds: string(list)})
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
	row, err := s.q.AlertRuleGetByID(ctx, s.read, id.String())
	if err != nil {
		return nil, fmt.Errorf("get alert rule %s: %w", id, interpretError(err))
	}
	return ruleFromRow(&row.AlertRule, channelIDsFromJSON(row.ChannelIds)), nil
}

// AlertRuleUpdate replaces a rule's fields and channels in one
// transaction, and deletes its states if its plan or schedule changes. See
// storage.AlertStore.
func (s *Store) AlertRuleUpdate(ctx context.Context, p *storage.AlertRuleUpdateParams) (*storage.AlertRule, error) {
	u, err := p.WithDefaults()
	if err == nil {
		err = checkNoNUL("name", u.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("update alert rule %s: %w", p.ID, err)
	}
	var row *sqlite.AlertRule
	err = s.inWriteTx(ctx, func(tx *Store) error {
		// The writer is held, so the rule stays as read.
		old, err := tx.q.AlertRuleGetByID(ctx, tx.db, u.ID.String())
		if err != nil {
			return interpretError(err)
		}
		if old.AlertRule.Revision != u.ExpectedRevision {
			return storage.ErrStaleRevision
		}
		row, err = tx.q.AlertRuleUpdate(ctx, tx.db, &sqlite.AlertRuleUpdateParams{
			ID:                       u.ID.String(),
			ExpectedRevision:         u.ExpectedRevision,
			Name:                     u.Name,
			PlanID:                   nullID(u.PlanID),
			ScheduleID:               nullID(u.ScheduleID),
			OnFailure:                u.OnFailure,
			OnRecovery:               u.OnRecovery,
			AfterConsecutiveFailures: int64(u.AfterConsecutiveFailures),
			EveryFailure:             u.EveryFailure,
			Now:                      now(),
		})
		if err != nil {
			return targetError(err)
		}
		prev := ruleFromRow(&old.AlertRule, nil)
		if prev.PlanID != u.PlanID || prev.ScheduleID != u.ScheduleID {
			if err := tx.q.AlertStateDeleteByRuleID(ctx, tx.db, row.ID); err != nil {
				return interpretError(err)
			}
		}
		return tx.setRuleChannels(ctx, row.ID, u.ChannelIDs)
	})
	if err != nil {
		return nil, fmt.Errorf("update alert rule %s: %w", p.ID, err)
	}
	return ruleFromRow(row, u.ChannelIDs), nil
}

// AlertRuleDelete deletes a rule and its states. See storage.AlertStore.
func (s *Store) AlertRuleDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.AlertRuleDelete(ctx, s.db, id.String())
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
	arg := &sqlite.AlertRuleListParams{
		PlanID:     nullID(p.PlanID),
		ScheduleID: nullID(p.ScheduleID),
		ChannelID:  nullID(p.ChannelID),
		MaxRows:    int64(limit + 1),
	}
	if after != uuid.Nil {
		arg.AfterID = after.String()
	}
	rows, err := s.q.AlertRuleList(ctx, s.read, arg)
	if err != nil {
		return nil, fmt.Errorf("list alert rules: %w", interpretError(err))
	}
	page := &storage.AlertRulePage{}
	page.Rules, page.NextCursor = storage.PageOf(rows, limit,
		func(r *sqlite.AlertRuleListRow) *storage.AlertRule {
			return ruleFromRow(&r.AlertRule, channelIDsFromJSON(r.ChannelIds))
		},
		func(r *sqlite.AlertRuleListRow) storage.Cursor {
			return storage.Cursor{List: storage.ListAlertRules, ID: r.AlertRule.ID}
		})
	return page, nil
}

// AlertRulesFor returns the rules that apply to an execution, in one
// query. See storage.AlertStore.
func (s *Store) AlertRulesFor(ctx context.Context, planID, scheduleID uuid.UUID) ([]*storage.AlertRule, error) {
	rows, err := s.q.AlertRulesFor(ctx, s.read, &sqlite.AlertRulesForParams{PlanID: planID.String(), ScheduleID: nullID(scheduleID)})
	if err != nil {
		return nil, fmt.Errorf("alert rules for plan %s: %w", planID, interpretError(err))
	}
	rules := make([]*storage.AlertRule, len(rows))
	for i, r := range rows {
		rules[i] = ruleFromRow(&r.AlertRule, channelIDsFromJSON(r.ChannelIds))
	}
	return rules, nil
}

// AlertStateLock stores a zero state if there is none and reads the state,
// on the writer: inside InTx the write transaction (IMMEDIATE, so it holds
// the database's write lock from its start) keeps any other writer out
// until it ends. See storage.AlertStore.
func (s *Store) AlertStateLock(ctx context.Context, ruleID, planID uuid.UUID) (*storage.AlertState, error) {
	var row *sqlite.AlertState
	err := s.inWriteTx(ctx, func(tx *Store) error {
		err := tx.q.AlertStateInsert(ctx, tx.db, &sqlite.AlertStateInsertParams{
			RuleID: ruleID.String(), PlanID: planID.String(), Now: now(),
		})
		if err != nil {
			err = interpretError(err)
			if errors.Is(err, storage.ErrReferenced) {
				err = fmt.Errorf("rule or plan: %w", storage.ErrNotFound)
			}
			return err
		}
		row, err = tx.q.AlertStateLock(ctx, tx.db, &sqlite.AlertStateLockParams{RuleID: ruleID.String(), PlanID: planID.String()})
		return interpretError(err)
	})
	if err != nil {
		return nil, fmt.Errorf("lock alert state of rule %s for plan %s: %w", ruleID, planID, err)
	}
	return stateFromRow(row), nil
}

// AlertStatePut stores a state. See storage.AlertStore.
func (s *Store) AlertStatePut(ctx context.Context, st *storage.AlertState) error {
	if err := checkNoNUL("last status", string(st.LastStatus)); err != nil {
		return fmt.Errorf("put alert state of rule %s for plan %s: %w", st.RuleID, st.PlanID, err)
	}
	arg := &sqlite.AlertStatePutParams{
		RuleID:              st.RuleID.String(),
		PlanID:              st.PlanID.String(),
		Alerting:            st.Alerting,
		ConsecutiveFailures: int64(st.ConsecutiveFailures),
		LastExecutionID:     nullID(st.LastExecutionID),
		LastStatus:          string(st.LastStatus),
		NotifiedAlerting:    st.NotifiedAlerting,
		Suppressed:          int64(st.Suppressed),
		FlushPending:        st.FlushPending,
		Now:                 now(),
	}
	if st.LastSentAt != nil {
		arg.LastSentAt = sql.NullInt64{Int64: st.LastSentAt.UnixMicro(), Valid: true}
	}
	n, err := s.q.AlertStatePut(ctx, s.db, arg)
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
	if err == nil {
		err = checkNoNUL("event", d.Event)
	}
	if err != nil {
		return nil, fmt.Errorf("record delivery attempt: %w", err)
	}
	created := now()
	if !d.CreatedAt.IsZero() {
		created = d.CreatedAt.UnixMicro()
	}
	row, err := s.q.AlertDeliveryRecord(ctx, s.db, &sqlite.AlertDeliveryRecordParams{
		ID:          d.ID.String(),
		DeliveryID:  d.DeliveryID.String(),
		ChannelID:   d.ChannelID.String(),
		RuleID:      nullID(d.RuleID),
		ExecutionID: nullID(d.ExecutionID),
		Event:       d.Event,
		Attempt:     int64(d.Attempt),
		Outcome:     string(d.Outcome),
		StatusCode:  int64(d.StatusCode),
		LatencyUs:   d.Latency.Microseconds(),
		Error:       d.Error,
		Payload:     d.Payload,
		Response:    d.Response,
		CreatedAt:   created,
	})
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
	rows, err := s.q.AlertDeliveryList(ctx, s.read, &sqlite.AlertDeliveryListParams{
		ChannelID:  p.ChannelID.String(),
		BeforeID:   nullID(before),
		DeliveryID: nullID(p.DeliveryID),
		MaxRows:    int64(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list delivery attempts of channel %s: %w", p.ChannelID, interpretError(err))
	}
	page := &storage.AlertDeliveryPage{}
	page.Deliveries, page.NextCursor = storage.PageOf(rows, limit, deliveryFromRow,
		func(r *sqlite.AlertDelivery) storage.Cursor {
			return storage.Cursor{List: storage.ListAlertDeliveries, ID: r.ID}
		})
	return page, nil
}

// AlertDeliveryPrune deletes up to limit old attempts. See
// storage.AlertStore.
func (s *Store) AlertDeliveryPrune(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		return 0, nil
	}
	n, err := s.q.AlertDeliveryPrune(ctx, s.db, &sqlite.AlertDeliveryPruneParams{
		Before: before.UnixMicro(), MaxRows: int64(limit),
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivery attempts: %w", interpretError(err))
	}
	return n, nil
}

// nullID returns NULL for uuid.Nil and the ID's text otherwise, for a
// nullable ID column or an optional filter.
func nullID(id uuid.UUID) sql.NullString {
	if id == uuid.Nil {
		return sql.NullString{}
	}
	return sql.NullString{String: id.String(), Valid: true}
}

func parseNullID(v sql.NullString) uuid.UUID {
	if !v.Valid {
		return uuid.Nil
	}
	return uuid.MustParse(v.String)
}

// channelIDsFromJSON decodes the [position, channel_id] pairs of a rule
// query into the channel IDs in their order.
func channelIDsFromJSON(s string) []uuid.UUID {
	var pairs [][]any
	_ = json.Unmarshal([]byte(s), &pairs)
	slices.SortFunc(pairs, func(a, b []any) int { return cmp.Compare(a[0].(float64), b[0].(float64)) })
	ids := make([]uuid.UUID, len(pairs))
	for i, p := range pairs {
		ids[i] = uuid.MustParse(p[1].(string))
	}
	return ids
}

// checkChannelNoNUL refuses NUL in a channel's fields, as Postgres does.
func checkChannelNoNUL(name, url, secret string, headers []byte) error {
	return errors.Join(
		checkNoNUL("name", name),
		checkNoNUL("url", url),
		checkNoNUL("secret", secret),
		checkJSONNoNUL("headers", headers),
	)
}

func channelFromRow(r *sqlite.Channel) *storage.Channel {
	return &storage.Channel{
		ID:        uuid.MustParse(r.ID),
		Name:      r.Name,
		Kind:      storage.ChannelKind(r.Kind),
		URL:       r.Url,
		Headers:   storage.UnmarshalLabels([]byte(r.Headers)),
		Secret:    r.Secret,
		Revision:  r.Revision,
		CreatedAt: fromMicros(r.CreatedAt),
		UpdatedAt: fromMicros(r.UpdatedAt),
	}
}

// ruleFromRow returns the rule of r with its channels.
func ruleFromRow(r *sqlite.AlertRule, channels []uuid.UUID) *storage.AlertRule {
	return &storage.AlertRule{
		ID:                       uuid.MustParse(r.ID),
		Name:                     r.Name,
		PlanID:                   parseNullID(r.PlanID),
		ScheduleID:               parseNullID(r.ScheduleID),
		ChannelIDs:               channels,
		OnFailure:                r.OnFailure,
		OnRecovery:               r.OnRecovery,
		AfterConsecutiveFailures: int(r.AfterConsecutiveFailures),
		EveryFailure:             r.EveryFailure,
		Revision:                 r.Revision,
		CreatedAt:                fromMicros(r.CreatedAt),
		UpdatedAt:                fromMicros(r.UpdatedAt),
	}
}

func stateFromRow(r *sqlite.AlertState) *storage.AlertState {
	return &storage.AlertState{
		RuleID:              uuid.MustParse(r.RuleID),
		PlanID:              uuid.MustParse(r.PlanID),
		Alerting:            r.Alerting,
		ConsecutiveFailures: int(r.ConsecutiveFailures),
		LastExecutionID:     parseNullID(r.LastExecutionID),
		LastStatus:          storage.ExecutionStatus(r.LastStatus),
		NotifiedAlerting:    r.NotifiedAlerting,
		LastSentAt:          fromNullMicros(r.LastSentAt),
		Suppressed:          int(r.Suppressed),
		FlushPending:        r.FlushPending,
		UpdatedAt:           fromMicros(r.UpdatedAt),
	}
}

func deliveryFromRow(r *sqlite.AlertDelivery) *storage.AlertDelivery {
	d := &storage.AlertDelivery{
		ID:          uuid.MustParse(r.ID),
		DeliveryID:  uuid.MustParse(r.DeliveryID),
		ChannelID:   uuid.MustParse(r.ChannelID),
		RuleID:      parseNullID(r.RuleID),
		ExecutionID: parseNullID(r.ExecutionID),
		Event:       r.Event,
		Attempt:     int(r.Attempt),
		Outcome:     storage.AlertDeliveryOutcome(r.Outcome),
		StatusCode:  int(r.StatusCode),
		Latency:     time.Duration(r.LatencyUs) * time.Microsecond,
		Error:       r.Error,
		Payload:     r.Payload,
		Response:    r.Response,
		CreatedAt:   fromMicros(r.CreatedAt),
	}
	if d.Payload == nil {
		d.Payload = []byte{}
	}
	return d
}
