package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func alertCases() []testCase {
	return []testCase{
		{"ChannelCreateRoundTripsAtRevisionOne", testChannelRoundTrip},
		{"ChannelCreateWithTakenNameOrIDReturnsErrConflict", testChannelCreateConflict},
		{"ChannelUnknownKindReturnsErrInvalidInput", testChannelUnknownKind},
		{"ChannelGetReturnsErrNotFoundForUnknownID", testChannelGetUnknown},
		{"ChannelUpdateReplacesFieldsAndBumpsRevision", testChannelUpdate},
		{"ChannelUpdateWithStaleRevisionReturnsErrStaleRevision", testChannelUpdateStale},
		{"ChannelUpdateReturnsErrNotFoundOrErrConflict", testChannelUpdateErrors},
		{"ChannelDeleteIsRefusedWhileARuleAlertsIt", testChannelDeleteReferenced},
		{"ChannelDeleteDeletesItsDeliveries", testChannelDeleteDeliveries},
		{"ChannelListWalksPages", testChannelList},
		{"ChannelListRejectsMalformedCursors", testChannelListMalformedCursor},

		{"RuleCreateRoundTripsKeepingChannelOrder", testRuleRoundTrip},
		{"RuleCreateCollapsesDuplicateChannels", testRuleDedupe},
		{"RuleCreateForUnknownTargetOrChannelReturnsErrNotFound", testRuleCreateUnknownRefs},
		{"RuleCreateRejectsInvalidParams", testRuleCreateInvalid},
		{"RuleCreateWithTakenIDReturnsErrConflict", testRuleCreateConflict},
		{"RuleGetReturnsErrNotFoundForUnknownID", testRuleGetUnknown},
		{"RuleUpdateReplacesFieldsAndChannels", testRuleUpdate},
		{"RuleUpdateWithStaleRevisionReturnsErrStaleRevision", testRuleUpdateStale},
		{"RuleUpdateReturnsErrNotFoundAndChangesNothing", testRuleUpdateErrors},
		{"RuleUpdateThatMovesTheRuleForgetsItsStates", testRuleUpdateForgetsStates},
		{"RuleDeleteDeletesItsStates", testRuleDelete},
		{"RuleListFiltersAndWalksPages", testRuleList},
		{"RuleListRejectsMalformedCursors", testRuleListMalformedCursor},
		{"RulesForReturnsPlanScheduleAndGlobalRules", testRulesFor},
		{"DeletingAPlanDeletesItsRulesAndStates", testRulesDeletedWithPlan},
		{"DeletingAScheduleDeletesItsRules", testRulesDeletedWithSchedule},

		{"StateLockCreatesAZeroState", testStateLockZero},
		{"StateLockReturnsErrNotFoundForUnknownRuleOrPlan", testStateLockUnknown},
		{"StateLockOfAGoneRuleLeavesTheTransactionUsable", testStateLockGoneRuleInTx},
		{"StatePutRoundTripsEveryField", testStatePut},
		{"StatePutReturnsErrNotFoundWithoutAState", testStatePutUnknown},
		{"ConcurrentLockedIncrementsAreNeverLost", testStateLockConcurrent},

		{"DeliveryRecordRoundTripsEveryFieldAndPayloadBytes", testDeliveryRoundTrip},
		{"DeliveryRecordMakesErrorAndResponseStorable", testDeliveryStorableText},
		{"DeliveryRecordRejectsBadParams", testDeliveryRecordInvalid},
		{"DeliveryListIsNewestFirstPagedAndFiltered", testDeliveryList},
		{"DeliveryListRejectsMalformedCursors", testDeliveryListMalformedCursor},
		{"DeliveryPruneDeletesOnlyOldAttemptsUpToLimit", testDeliveryPrune},
		{"ConcurrentDeliveryPrunesDeleteEachAttemptOnce", testDeliveryPruneConcurrent},

		{"FailedInTxLeavesNoRuleStateOrDelivery", testAlertTxRollback},
	}
}

// createChannel creates a webhook channel.
func createChannel(t *testing.T, ctx context.Context, s storage.Store, name string) *storage.Channel {
	t.Helper()
	c, err := s.ChannelCreate(ctx, &storage.ChannelCreateParams{
		Name: name, Kind: storage.ChannelWebhook, URL: "https://hooks.example.com/" + name,
	})
	require.NoError(t, err, "create channel %q", name)
	return c
}

// createRule creates a rule; p.Name defaults to "rule".
func createRule(t *testing.T, ctx context.Context, s storage.Store, p storage.AlertRuleCreateParams) *storage.AlertRule {
	t.Helper()
	if p.Name == "" {
		p.Name = "rule"
	}
	r, err := s.AlertRuleCreate(ctx, &p)
	require.NoError(t, err, "create rule")
	return r
}

// channelIDs returns the IDs of channels, in order.
func channelIDs(cs ...*storage.Channel) []uuid.UUID {
	ids := make([]uuid.UUID, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids
}

func ruleIDs(rs []*storage.AlertRule) []uuid.UUID {
	ids := make([]uuid.UUID, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
	}
	return ids
}

// lockState locks and returns a state in a transaction of its own.
func lockState(t *testing.T, ctx context.Context, s storage.Store, ruleID, planID uuid.UUID) (*storage.AlertState, error) {
	t.Helper()
	var st *storage.AlertState
	err := s.InTx(ctx, func(tx storage.Store) error {
		var err error
		st, err = tx.AlertStateLock(ctx, ruleID, planID)
		return err
	})
	return st, err
}

// putFailures stores a state of n consecutive failures.
func putFailures(t *testing.T, ctx context.Context, s storage.Store, ruleID, planID uuid.UUID, n int) {
	t.Helper()
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		st, err := tx.AlertStateLock(ctx, ruleID, planID)
		if err != nil {
			return err
		}
		st.ConsecutiveFailures = n
		return tx.AlertStatePut(ctx, st)
	}), "put state")
}

// failuresOf returns the consecutive failures of a state, creating it if
// needed.
func failuresOf(t *testing.T, ctx context.Context, s storage.Store, ruleID, planID uuid.UUID) int {
	t.Helper()
	st, err := lockState(t, ctx, s, ruleID, planID)
	require.NoError(t, err, "lock state")
	return st.ConsecutiveFailures
}

func testChannelRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	in := &storage.ChannelCreateParams{
		Name: "ops ✓", Kind: storage.ChannelWebhook, URL: "https://hooks.example.com/a?b=c",
		Headers: map[string]string{"X-Team": "ops", "Authorization": `Bearer "x" \ ✓`}, Secret: "s3cret",
	}
	c, err := s.ChannelCreate(ctx, in)
	require.NoError(t, err)
	assert.NotEqual(t, uuid.Nil, c.ID)
	assert.Equal(t, in.Name, c.Name)
	assert.Equal(t, storage.ChannelWebhook, c.Kind)
	assert.Equal(t, in.URL, c.URL)
	assert.Equal(t, in.Headers, c.Headers)
	assert.Equal(t, "s3cret", c.Secret)
	assert.Equal(t, int64(1), c.Revision)
	assertRecent(t, c.CreatedAt, "CreatedAt")
	assertSameTime(t, c.CreatedAt, c.UpdatedAt, "UpdatedAt")

	got, err := s.ChannelGetByID(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, c.Name, got.Name)
	assert.Equal(t, c.Kind, got.Kind)
	assert.Equal(t, c.URL, got.URL)
	assert.Equal(t, c.Headers, got.Headers)
	assert.Equal(t, c.Secret, got.Secret)
	assert.Equal(t, c.Revision, got.Revision)
	assertSameTime(t, c.CreatedAt, got.CreatedAt, "CreatedAt")

	// Defaults: no headers, no secret; a given ID is kept.
	id := uuid.Must(uuid.NewV7())
	slack, err := s.ChannelCreate(ctx, &storage.ChannelCreateParams{ID: id, Name: "slack", Kind: storage.ChannelSlack, URL: "https://hooks.slack.example/x"})
	require.NoError(t, err)
	assert.Equal(t, id, slack.ID)
	assert.Equal(t, map[string]string{}, slack.Headers)
	assert.Empty(t, slack.Secret)
	got, err = s.ChannelGetByID(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, storage.ChannelSlack, got.Kind)
	assert.Equal(t, map[string]string{}, got.Headers)
}

func testChannelCreateConflict(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "ops")
	_, err := s.ChannelCreate(ctx, &storage.ChannelCreateParams{Name: "ops", Kind: storage.ChannelSlack, URL: "https://x.example"})
	require.ErrorIs(t, err, storage.ErrConflict, "same name")
	_, err = s.ChannelCreate(ctx, &storage.ChannelCreateParams{ID: c.ID, Name: "other", Kind: storage.ChannelWebhook, URL: "https://x.example"})
	require.ErrorIs(t, err, storage.ErrConflict, "same ID")
	page, err := s.ChannelList(ctx, &storage.ChannelListParams{})
	require.NoError(t, err)
	assert.Len(t, page.Channels, 1)
}

func testChannelUnknownKind(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, kind := range []storage.ChannelKind{"", "email", "Webhook"} {
		_, err := s.ChannelCreate(ctx, &storage.ChannelCreateParams{Name: "c", Kind: kind, URL: "https://x.example"})
		require.ErrorIs(t, err, storage.ErrInvalidInput, "create kind %q", kind)
	}
	c := createChannel(t, ctx, s, "c")
	_, err := s.ChannelUpdate(ctx, &storage.ChannelUpdateParams{ID: c.ID, ExpectedRevision: 1, Name: "c", Kind: "pager", URL: c.URL})
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	got, err := s.ChannelGetByID(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ChannelWebhook, got.Kind)
	assert.Equal(t, int64(1), got.Revision)
}

func testChannelGetUnknown(t *testing.T, s storage.Store) {
	_, err := s.ChannelGetByID(testContext(t), uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testChannelUpdate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c, err := s.ChannelCreate(ctx, &storage.ChannelCreateParams{
		Name: "a", Kind: storage.ChannelWebhook, URL: "https://a.example", Headers: map[string]string{"X": "1"}, Secret: "old",
	})
	require.NoError(t, err)
	up, err := s.ChannelUpdate(ctx, &storage.ChannelUpdateParams{
		ID: c.ID, ExpectedRevision: 1, Name: "b", Kind: storage.ChannelSlack, URL: "https://b.example",
		Headers: map[string]string{"Y": "2"}, Secret: "new",
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), up.Revision)
	assert.Equal(t, "b", up.Name)
	assert.Equal(t, storage.ChannelSlack, up.Kind)
	assert.Equal(t, "https://b.example", up.URL)
	assert.Equal(t, map[string]string{"Y": "2"}, up.Headers)
	assert.Equal(t, "new", up.Secret)
	assertSameTime(t, c.CreatedAt, up.CreatedAt, "CreatedAt")
	assert.False(t, up.UpdatedAt.Before(c.UpdatedAt), "UpdatedAt moved back")

	got, err := s.ChannelGetByID(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, up.Name, got.Name)
	assert.Equal(t, up.Headers, got.Headers)
	assert.Equal(t, up.Secret, got.Secret)
	assert.Equal(t, int64(2), got.Revision)

	// Nil headers and an empty secret clear them.
	up, err = s.ChannelUpdate(ctx, &storage.ChannelUpdateParams{ID: c.ID, ExpectedRevision: 2, Name: "b", Kind: storage.ChannelWebhook, URL: "https://b.example"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{}, up.Headers)
	assert.Empty(t, up.Secret)
}

func testChannelUpdateStale(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "a")
	_, err := s.ChannelUpdate(ctx, &storage.ChannelUpdateParams{ID: c.ID, ExpectedRevision: 3, Name: "z", Kind: storage.ChannelWebhook, URL: c.URL})
	require.ErrorIs(t, err, storage.ErrStaleRevision)
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err := s.ChannelGetByID(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "a", got.Name, "a stale update changed the channel")
}

func testChannelUpdateErrors(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.ChannelUpdate(ctx, &storage.ChannelUpdateParams{ID: uuid.Must(uuid.NewV7()), ExpectedRevision: 1, Name: "x", Kind: storage.ChannelWebhook, URL: "https://x.example"})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrStaleRevision)

	createChannel(t, ctx, s, "taken")
	c := createChannel(t, ctx, s, "mine")
	_, err = s.ChannelUpdate(ctx, &storage.ChannelUpdateParams{ID: c.ID, ExpectedRevision: 1, Name: "taken", Kind: storage.ChannelWebhook, URL: c.URL})
	require.ErrorIs(t, err, storage.ErrConflict)
	require.NotErrorIs(t, err, storage.ErrStaleRevision)
	got, err := s.ChannelGetByID(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, "mine", got.Name)
}

func testChannelDeleteReferenced(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	used := createChannel(t, ctx, s, "used")
	free := createChannel(t, ctx, s, "free")
	rule := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(used)})

	err := s.ChannelDelete(ctx, used.ID)
	require.ErrorIs(t, err, storage.ErrReferenced)
	require.ErrorIs(t, err, storage.ErrConflict)
	_, err = s.ChannelGetByID(ctx, used.ID)
	require.NoError(t, err, "a refused delete deleted the channel")
	got, err := s.AlertRuleGetByID(ctx, rule.ID)
	require.NoError(t, err)
	assert.Equal(t, channelIDs(used), got.ChannelIDs, "a refused delete touched the rule")

	require.NoError(t, s.ChannelDelete(ctx, free.ID), "an unused channel")
	require.NoError(t, s.AlertRuleDelete(ctx, rule.ID))
	require.NoError(t, s.ChannelDelete(ctx, used.ID), "the channel once its rule is gone")
	_, err = s.ChannelGetByID(ctx, used.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.ChannelDelete(ctx, used.ID), storage.ErrNotFound, "second delete")
}

func testChannelDeleteDeliveries(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	gone := createChannel(t, ctx, s, "gone")
	kept := createChannel(t, ctx, s, "kept")
	for range 3 {
		record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: gone.ID})
	}
	keptAttempt := record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: kept.ID})
	require.NoError(t, s.ChannelDelete(ctx, gone.ID))

	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: gone.ID})
	require.NoError(t, err)
	assert.Empty(t, page.Deliveries, "the deleted channel's attempts remain")
	page, err = s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: kept.ID})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 1)
	assert.Equal(t, keptAttempt.ID, page.Deliveries[0].ID)
	// The deleted channel's attempts no longer count for pruning either.
	n, err := s.AlertDeliveryPrune(ctx, time.Now().Add(time.Hour), 100)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)
}

func testChannelList(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var all []uuid.UUID
	for i := range 7 {
		all = append(all, createChannel(t, ctx, s, fmt.Sprintf("c%d", i)).ID)
	}
	slices.SortFunc(all, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	for _, limit := range []int{1, 2, 7, 50} {
		got := walkPages(t, storage.PageLimit(limit), func(cursor string) ([]*storage.Channel, string) {
			page, err := s.ChannelList(ctx, &storage.ChannelListParams{Limit: limit, Cursor: cursor})
			require.NoError(t, err)
			return page.Channels, page.NextCursor
		})
		assert.Equal(t, all, channelIDs(got...), "limit %d", limit)
	}
}

func testChannelListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for name, cursor := range malformedCursors(storage.ListChannels) {
		_, err := s.ChannelList(ctx, &storage.ChannelListParams{Cursor: cursor})
		assert.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
}

func testRuleRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	a, b, c := createChannel(t, ctx, s, "a"), createChannel(t, ctx, s, "b"), createChannel(t, ctx, s, "c")
	in := &storage.AlertRuleCreateParams{
		Name: "nightly ✓", PlanID: p.ID, ChannelIDs: channelIDs(c, a, b),
		OnFailure: true, OnRecovery: true, AfterConsecutiveFailures: 3, EveryFailure: true,
	}
	r, err := s.AlertRuleCreate(ctx, in)
	require.NoError(t, err)
	assert.NotEqual(t, uuid.Nil, r.ID)
	assert.Equal(t, in.Name, r.Name)
	assert.Equal(t, p.ID, r.PlanID)
	assert.Equal(t, uuid.Nil, r.ScheduleID)
	assert.Equal(t, channelIDs(c, a, b), r.ChannelIDs)
	assert.True(t, r.OnFailure)
	assert.True(t, r.OnRecovery)
	assert.Equal(t, 3, r.AfterConsecutiveFailures)
	assert.True(t, r.EveryFailure)
	assert.Equal(t, int64(1), r.Revision)
	assertRecent(t, r.CreatedAt, "CreatedAt")
	assertSameTime(t, r.CreatedAt, r.UpdatedAt, "UpdatedAt")

	got, err := s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assertRuleEqual(t, r, got)

	// A schedule's rule and a rule of every plan, with the flags off.
	sc := createSchedule(t, ctx, s, p, base)
	id := uuid.Must(uuid.NewV7())
	sr := createRule(t, ctx, s, storage.AlertRuleCreateParams{ID: id, ScheduleID: sc.ID, ChannelIDs: channelIDs(b)})
	assert.Equal(t, id, sr.ID)
	got, err = s.AlertRuleGetByID(ctx, id)
	require.NoError(t, err)
	assertRuleEqual(t, sr, got)
	assert.Equal(t, sc.ID, got.ScheduleID)
	assert.Equal(t, uuid.Nil, got.PlanID)
	assert.False(t, got.OnFailure || got.OnRecovery || got.EveryFailure)
	assert.Zero(t, got.AfterConsecutiveFailures)

	global := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(a)})
	got, err = s.AlertRuleGetByID(ctx, global.ID)
	require.NoError(t, err)
	assert.Equal(t, uuid.Nil, got.PlanID)
	assert.Equal(t, uuid.Nil, got.ScheduleID)
	assert.Equal(t, channelIDs(a), got.ChannelIDs)
}

func assertRuleEqual(t *testing.T, want, got *storage.AlertRule) {
	t.Helper()
	assert.Equal(t, want.ID, got.ID, "ID")
	assert.Equal(t, want.Name, got.Name, "Name")
	assert.Equal(t, want.PlanID, got.PlanID, "PlanID")
	assert.Equal(t, want.ScheduleID, got.ScheduleID, "ScheduleID")
	assert.Equal(t, want.ChannelIDs, got.ChannelIDs, "ChannelIDs")
	assert.Equal(t, want.OnFailure, got.OnFailure, "OnFailure")
	assert.Equal(t, want.OnRecovery, got.OnRecovery, "OnRecovery")
	assert.Equal(t, want.AfterConsecutiveFailures, got.AfterConsecutiveFailures, "AfterConsecutiveFailures")
	assert.Equal(t, want.EveryFailure, got.EveryFailure, "EveryFailure")
	assert.Equal(t, want.Revision, got.Revision, "Revision")
	assertSameTime(t, want.CreatedAt, got.CreatedAt, "CreatedAt")
	assertSameTime(t, want.UpdatedAt, got.UpdatedAt, "UpdatedAt")
}

func testRuleDedupe(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a, b, c := createChannel(t, ctx, s, "a"), createChannel(t, ctx, s, "b"), createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: []uuid.UUID{b.ID, a.ID, b.ID, c.ID, a.ID}})
	want := channelIDs(b, a, c)
	assert.Equal(t, want, r.ChannelIDs)
	got, err := s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, want, got.ChannelIDs)

	up, err := s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: r.ID, ExpectedRevision: 1, Name: "r", ChannelIDs: []uuid.UUID{c.ID, c.ID, a.ID}})
	require.NoError(t, err)
	assert.Equal(t, channelIDs(c, a), up.ChannelIDs)
	got, err = s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assert.Equal(t, channelIDs(c, a), got.ChannelIDs)
}

func testRuleCreateUnknownRefs(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "c")
	unknown := uuid.Must(uuid.NewV7())
	for name, p := range map[string]storage.AlertRuleCreateParams{
		"plan":     {PlanID: unknown, ChannelIDs: channelIDs(c)},
		"schedule": {ScheduleID: unknown, ChannelIDs: channelIDs(c)},
		"channel":  {ChannelIDs: []uuid.UUID{c.ID, unknown}},
	} {
		p.Name = name
		_, err := s.AlertRuleCreate(ctx, &p)
		require.ErrorIs(t, err, storage.ErrNotFound, name)
	}
	page, err := s.AlertRuleList(ctx, &storage.AlertRuleListParams{})
	require.NoError(t, err)
	assert.Empty(t, page.Rules, "a refused rule was stored")
	// Nor does a rule left half-written hold the channel.
	require.NoError(t, s.ChannelDelete(ctx, c.ID))
}

func testRuleCreateInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	sc := createSchedule(t, ctx, s, p, base)
	c := createChannel(t, ctx, s, "c")
	for name, params := range map[string]storage.AlertRuleCreateParams{
		"PlanAndSchedule":  {PlanID: p.ID, ScheduleID: sc.ID, ChannelIDs: channelIDs(c)},
		"NoChannel":        {PlanID: p.ID},
		"EmptyChannels":    {PlanID: p.ID, ChannelIDs: []uuid.UUID{}},
		"NegativeFailures": {PlanID: p.ID, ChannelIDs: channelIDs(c), AfterConsecutiveFailures: -1},
	} {
		params.Name = name
		_, err := s.AlertRuleCreate(ctx, &params)
		require.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	_, err := s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: r.ID, ExpectedRevision: 1, PlanID: p.ID, ScheduleID: sc.ID, ChannelIDs: channelIDs(c)})
	require.ErrorIs(t, err, storage.ErrInvalidInput, "update with plan and schedule")
	_, err = s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: r.ID, ExpectedRevision: 1, PlanID: p.ID})
	require.ErrorIs(t, err, storage.ErrInvalidInput, "update without channels")
	page, err := s.AlertRuleList(ctx, &storage.AlertRuleListParams{})
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{r.ID}, ruleIDs(page.Rules))
	assert.Equal(t, int64(1), page.Rules[0].Revision)
}

func testRuleCreateConflict(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a, b := createChannel(t, ctx, s, "a"), createChannel(t, ctx, s, "b")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(a)})
	_, err := s.AlertRuleCreate(ctx, &storage.AlertRuleCreateParams{ID: r.ID, Name: "again", ChannelIDs: channelIDs(b)})
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err := s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assertRuleEqual(t, r, got)
	require.NoError(t, s.ChannelDelete(ctx, b.ID), "the refused rule holds its channel")
}

func testRuleGetUnknown(t *testing.T, s storage.Store) {
	_, err := s.AlertRuleGetByID(testContext(t), uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testRuleUpdate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p, q := createPlan(t, ctx, s, "p"), createPlan(t, ctx, s, "q")
	a, b, c := createChannel(t, ctx, s, "a"), createChannel(t, ctx, s, "b"), createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(a, b)})
	up, err := s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{
		ID: r.ID, ExpectedRevision: 1, Name: "renamed", PlanID: q.ID, ChannelIDs: channelIDs(c, a),
		OnFailure: true, OnRecovery: true, AfterConsecutiveFailures: 5, EveryFailure: true,
	})
	require.NoError(t, err)
	assert.Equal(t, int64(2), up.Revision)
	assert.Equal(t, "renamed", up.Name)
	assert.Equal(t, q.ID, up.PlanID)
	assert.Equal(t, channelIDs(c, a), up.ChannelIDs)
	assert.True(t, up.OnFailure && up.OnRecovery && up.EveryFailure)
	assert.Equal(t, 5, up.AfterConsecutiveFailures)
	assertSameTime(t, r.CreatedAt, up.CreatedAt, "CreatedAt")
	assert.False(t, up.UpdatedAt.Before(r.UpdatedAt), "UpdatedAt moved back")
	got, err := s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assertRuleEqual(t, up, got)
	require.NoError(t, s.ChannelDelete(ctx, b.ID), "a channel the rule no longer alerts")

	// From a plan to every plan.
	up, err = s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: r.ID, ExpectedRevision: 2, Name: "all", ChannelIDs: channelIDs(a)})
	require.NoError(t, err)
	got, err = s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assertRuleEqual(t, up, got)
	assert.Equal(t, uuid.Nil, got.PlanID)
	assert.Equal(t, int64(3), got.Revision)
}

func testRuleUpdateStale(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a, b := createChannel(t, ctx, s, "a"), createChannel(t, ctx, s, "b")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(a)})
	_, err := s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: r.ID, ExpectedRevision: 2, Name: "x", ChannelIDs: channelIDs(b)})
	require.ErrorIs(t, err, storage.ErrStaleRevision)
	require.ErrorIs(t, err, storage.ErrConflict)
	got, err := s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assertRuleEqual(t, r, got)
}

func testRuleUpdateErrors(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	_, err := s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: uuid.Must(uuid.NewV7()), ExpectedRevision: 1, ChannelIDs: channelIDs(c)})
	require.ErrorIs(t, err, storage.ErrNotFound, "unknown rule")
	require.NotErrorIs(t, err, storage.ErrStaleRevision)

	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	putFailures(t, ctx, s, r.ID, p.ID, 2)
	unknown := uuid.Must(uuid.NewV7())
	for name, u := range map[string]storage.AlertRuleUpdateParams{
		"plan":     {PlanID: unknown, ChannelIDs: channelIDs(c)},
		"schedule": {ScheduleID: unknown, ChannelIDs: channelIDs(c)},
		"channel":  {PlanID: p.ID, ChannelIDs: []uuid.UUID{unknown}},
	} {
		u.ID, u.ExpectedRevision, u.Name = r.ID, 1, name
		_, err := s.AlertRuleUpdate(ctx, &u)
		require.ErrorIs(t, err, storage.ErrNotFound, name)
		got, err := s.AlertRuleGetByID(ctx, r.ID)
		require.NoError(t, err)
		assertRuleEqual(t, r, got)
	}
	assert.Equal(t, 2, failuresOf(t, ctx, s, r.ID, p.ID), "a refused update forgot the state")
}

func testRuleUpdateForgetsStates(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p, q := createPlan(t, ctx, s, "p"), createPlan(t, ctx, s, "q")
	sc := createSchedule(t, ctx, s, p, base)
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	other := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	putFailures(t, ctx, s, r.ID, p.ID, 4)
	putFailures(t, ctx, s, other.ID, p.ID, 7)

	update := func(rev int64, planID, scheduleID uuid.UUID, name string) {
		t.Helper()
		_, err := s.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{
			ID: r.ID, ExpectedRevision: rev, Name: name, PlanID: planID, ScheduleID: scheduleID, ChannelIDs: channelIDs(c),
		})
		require.NoError(t, err)
	}
	update(1, p.ID, uuid.Nil, "renamed")
	assert.Equal(t, 4, failuresOf(t, ctx, s, r.ID, p.ID), "an update that keeps the plan keeps the state")

	update(2, q.ID, uuid.Nil, "moved")
	assert.Zero(t, failuresOf(t, ctx, s, r.ID, p.ID), "moving to another plan forgets the state")
	putFailures(t, ctx, s, r.ID, q.ID, 3)

	update(3, uuid.Nil, sc.ID, "scheduled")
	assert.Zero(t, failuresOf(t, ctx, s, r.ID, q.ID), "moving to a schedule forgets the state")
	putFailures(t, ctx, s, r.ID, p.ID, 5)

	update(4, uuid.Nil, uuid.Nil, "global")
	assert.Zero(t, failuresOf(t, ctx, s, r.ID, p.ID), "moving to every plan forgets the state")
	assert.Equal(t, 7, failuresOf(t, ctx, s, other.ID, p.ID), "another rule's state")
}

func testRuleDelete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	kept := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	putFailures(t, ctx, s, r.ID, p.ID, 2)
	putFailures(t, ctx, s, kept.ID, p.ID, 3)

	require.NoError(t, s.AlertRuleDelete(ctx, r.ID))
	_, err := s.AlertRuleGetByID(ctx, r.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.AlertRuleDelete(ctx, r.ID), storage.ErrNotFound, "second delete")
	_, err = lockState(t, ctx, s, r.ID, p.ID)
	require.ErrorIs(t, err, storage.ErrNotFound, "the deleted rule's state")
	err = s.AlertStatePut(ctx, &storage.AlertState{RuleID: r.ID, PlanID: p.ID, ConsecutiveFailures: 9})
	require.ErrorIs(t, err, storage.ErrNotFound, "the deleted rule's state is gone")
	assert.Equal(t, 3, failuresOf(t, ctx, s, kept.ID, p.ID))
}

func testRuleList(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a, b := createPlan(t, ctx, s, "a"), createPlan(t, ctx, s, "b")
	sc := createSchedule(t, ctx, s, a, base)
	c1, c2 := createChannel(t, ctx, s, "c1"), createChannel(t, ctx, s, "c2")
	var all, ofA, ofSchedule, ofC2 []uuid.UUID
	for i := range 9 {
		p := storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c1)}
		switch i % 4 {
		case 0:
			p.PlanID = a.ID
		case 1:
			p.PlanID = b.ID
		case 2:
			p.ScheduleID = sc.ID
		}
		if i%3 == 0 {
			p.ChannelIDs = channelIDs(c2, c1)
		}
		r := createRule(t, ctx, s, p)
		all = append(all, r.ID)
		if p.PlanID == a.ID {
			ofA = append(ofA, r.ID)
		}
		if p.ScheduleID == sc.ID {
			ofSchedule = append(ofSchedule, r.ID)
		}
		if i%3 == 0 {
			ofC2 = append(ofC2, r.ID)
		}
	}
	slices.SortFunc(all, func(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) })
	list := func(p storage.AlertRuleListParams) []*storage.AlertRule {
		return walkPages(t, storage.PageLimit(p.Limit), func(cursor string) ([]*storage.AlertRule, string) {
			p.Cursor = cursor
			page, err := s.AlertRuleList(ctx, &p)
			require.NoError(t, err)
			return page.Rules, page.NextCursor
		})
	}
	for _, limit := range []int{1, 2, 9, 50} {
		assert.Equal(t, all, ruleIDs(list(storage.AlertRuleListParams{Limit: limit})), "limit %d", limit)
		assert.Equal(t, ofA, ruleIDs(list(storage.AlertRuleListParams{PlanID: a.ID, Limit: limit})), "plan a, limit %d", limit)
		assert.Equal(t, ofSchedule, ruleIDs(list(storage.AlertRuleListParams{ScheduleID: sc.ID, Limit: limit})), "schedule, limit %d", limit)
		assert.Equal(t, ofC2, ruleIDs(list(storage.AlertRuleListParams{ChannelID: c2.ID, Limit: limit})), "channel c2, limit %d", limit)
	}
	assert.Equal(t, all, ruleIDs(list(storage.AlertRuleListParams{ChannelID: c1.ID})), "every rule alerts c1")
	assert.Empty(t, list(storage.AlertRuleListParams{PlanID: uuid.Must(uuid.NewV7())}))
	both := list(storage.AlertRuleListParams{PlanID: a.ID, ChannelID: c2.ID})
	for _, r := range both {
		assert.Equal(t, a.ID, r.PlanID)
		assert.Equal(t, channelIDs(c2, c1), r.ChannelIDs, "a listed rule's channels, in order")
	}
	assert.NotEmpty(t, both)
}

func testRuleListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for name, cursor := range malformedCursors(storage.ListAlertRules) {
		_, err := s.AlertRuleList(ctx, &storage.AlertRuleListParams{Cursor: cursor})
		assert.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
}

func testRulesFor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p, other := createPlan(t, ctx, s, "p"), createPlan(t, ctx, s, "other")
	sc, sc2 := createSchedule(t, ctx, s, p, base), createSchedule(t, ctx, s, p, base)
	otherSc := createSchedule(t, ctx, s, other, base)
	a, b := createChannel(t, ctx, s, "a"), createChannel(t, ctx, s, "b")
	global := createRule(t, ctx, s, storage.AlertRuleCreateParams{Name: "global", ChannelIDs: channelIDs(b, a)})
	planRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{Name: "plan", PlanID: p.ID, ChannelIDs: channelIDs(a)})
	scheduleRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{Name: "schedule", ScheduleID: sc.ID, ChannelIDs: channelIDs(b)})
	createRule(t, ctx, s, storage.AlertRuleCreateParams{Name: "schedule 2", ScheduleID: sc2.ID, ChannelIDs: channelIDs(a)})
	otherRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{Name: "other", PlanID: other.ID, ChannelIDs: channelIDs(a)})
	otherScRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{Name: "other schedule", ScheduleID: otherSc.ID, ChannelIDs: channelIDs(a)})

	rulesFor := func(planID, scheduleID uuid.UUID) []*storage.AlertRule {
		t.Helper()
		rules, err := s.AlertRulesFor(ctx, planID, scheduleID)
		require.NoError(t, err)
		return rules
	}
	got := rulesFor(p.ID, sc.ID)
	assert.Equal(t, []uuid.UUID{global.ID, planRule.ID, scheduleRule.ID}, ruleIDs(got), "an execution of schedule sc")
	for _, r := range got {
		want := map[uuid.UUID]*storage.AlertRule{global.ID: global, planRule.ID: planRule, scheduleRule.ID: scheduleRule}[r.ID]
		assertRuleEqual(t, want, r)
	}
	assert.Equal(t, []uuid.UUID{global.ID, planRule.ID}, ruleIDs(rulesFor(p.ID, uuid.Nil)), "a manual execution")
	assert.Equal(t, []uuid.UUID{global.ID, otherRule.ID, otherScRule.ID}, ruleIDs(rulesFor(other.ID, otherSc.ID)))
	assert.Equal(t, []uuid.UUID{global.ID}, ruleIDs(rulesFor(uuid.Must(uuid.NewV7()), uuid.Nil)), "a plan without rules")
}

func testRulesDeletedWithPlan(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p, other := createPlan(t, ctx, s, "p"), createPlan(t, ctx, s, "other")
	sc := createSchedule(t, ctx, s, p, base)
	c := createChannel(t, ctx, s, "c")
	planRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	scheduleRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{ScheduleID: sc.ID, ChannelIDs: channelIDs(c)})
	global := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	otherRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: other.ID, ChannelIDs: channelIDs(c)})
	for _, r := range []*storage.AlertRule{planRule, scheduleRule, global} {
		putFailures(t, ctx, s, r.ID, p.ID, 1)
	}
	putFailures(t, ctx, s, global.ID, other.ID, 6)
	putFailures(t, ctx, s, otherRule.ID, other.ID, 8)

	require.NoError(t, s.PlanDelete(ctx, p.ID))
	for _, id := range []uuid.UUID{planRule.ID, scheduleRule.ID} {
		_, err := s.AlertRuleGetByID(ctx, id)
		require.ErrorIs(t, err, storage.ErrNotFound, "a rule of the deleted plan")
	}
	_, err := lockState(t, ctx, s, global.ID, p.ID)
	require.ErrorIs(t, err, storage.ErrNotFound, "the global rule's state for the deleted plan")
	_, err = s.AlertRuleGetByID(ctx, global.ID)
	require.NoError(t, err)
	assert.Equal(t, 6, failuresOf(t, ctx, s, global.ID, other.ID))
	assert.Equal(t, 8, failuresOf(t, ctx, s, otherRule.ID, other.ID))
	require.NoError(t, s.AlertRuleDelete(ctx, global.ID))
	require.NoError(t, s.AlertRuleDelete(ctx, otherRule.ID))
	require.NoError(t, s.ChannelDelete(ctx, c.ID), "the deleted rules no longer hold the channel")
}

func testRulesDeletedWithSchedule(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	sc, kept := createSchedule(t, ctx, s, p, base), createSchedule(t, ctx, s, p, base)
	c := createChannel(t, ctx, s, "c")
	gone := createRule(t, ctx, s, storage.AlertRuleCreateParams{ScheduleID: sc.ID, ChannelIDs: channelIDs(c)})
	keptRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{ScheduleID: kept.ID, ChannelIDs: channelIDs(c)})
	planRule := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	putFailures(t, ctx, s, gone.ID, p.ID, 2)

	require.NoError(t, s.ScheduleDelete(ctx, sc.ID))
	_, err := s.AlertRuleGetByID(ctx, gone.ID)
	require.ErrorIs(t, err, storage.ErrNotFound)
	err = s.AlertStatePut(ctx, &storage.AlertState{RuleID: gone.ID, PlanID: p.ID})
	require.ErrorIs(t, err, storage.ErrNotFound, "the deleted rule's state")
	for _, id := range []uuid.UUID{keptRule.ID, planRule.ID} {
		_, err := s.AlertRuleGetByID(ctx, id)
		require.NoError(t, err)
	}
}

func testStateLockZero(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p, q := createPlan(t, ctx, s, "p"), createPlan(t, ctx, s, "q")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	st, err := lockState(t, ctx, s, r.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, &storage.AlertState{RuleID: r.ID, PlanID: p.ID, UpdatedAt: st.UpdatedAt}, st)
	assertRecent(t, st.UpdatedAt, "UpdatedAt")

	// Outside a transaction too; one state per plan.
	putFailures(t, ctx, s, r.ID, p.ID, 2)
	st, err = s.AlertStateLock(ctx, r.ID, q.ID)
	require.NoError(t, err)
	assert.Zero(t, st.ConsecutiveFailures)
	st, err = s.AlertStateLock(ctx, r.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, st.ConsecutiveFailures, "locking again returns the stored state")
}

func testStateLockUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	_, err := lockState(t, ctx, s, uuid.Must(uuid.NewV7()), p.ID)
	require.ErrorIs(t, err, storage.ErrNotFound, "unknown rule")
	_, err = lockState(t, ctx, s, r.ID, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound, "unknown plan")
}

// testStateLockGoneRuleInTx checks that a transaction in which
// AlertStateLock found the rule gone (deleted since it was listed) can go
// on and commit: a finishing execution skips that rule.
func testStateLockGoneRuleInTx(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	gone := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	kept := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	err := s.InTx(ctx, func(tx storage.Store) error {
		if err := tx.AlertRuleDelete(ctx, gone.ID); err != nil {
			return err
		}
		if _, err := tx.AlertStateLock(ctx, gone.ID, p.ID); !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("lock the state of the deleted rule: got %v, want ErrNotFound", err)
		}
		st, err := tx.AlertStateLock(ctx, kept.ID, p.ID)
		if err != nil {
			return err
		}
		st.ConsecutiveFailures = 1
		return tx.AlertStatePut(ctx, st)
	})
	require.NoError(t, err)
	assert.Equal(t, 1, failuresOf(t, ctx, s, kept.ID, p.ID))
}

func testStatePut(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	e := createExecution(t, ctx, s, p, "")
	sent := time.Date(2031, 5, 6, 7, 8, 9, 123_000_000, time.FixedZone("CEST", 2*3600))
	want := storage.AlertState{
		RuleID: r.ID, PlanID: p.ID, Alerting: true, ConsecutiveFailures: 4, LastExecutionID: e.ID,
		LastStatus: storage.ExecutionFailed, NotifiedAlerting: true, LastSentAt: &sent, Suppressed: 3, FlushPending: true,
	}
	var before *storage.AlertState
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		var err error
		if before, err = tx.AlertStateLock(ctx, r.ID, p.ID); err != nil {
			return err
		}
		w := want
		return tx.AlertStatePut(ctx, &w)
	}))
	got, err := lockState(t, ctx, s, r.ID, p.ID)
	require.NoError(t, err)
	require.NotNil(t, got.LastSentAt)
	assertSameTime(t, sent, *got.LastSentAt, "LastSentAt")
	assert.False(t, got.UpdatedAt.Before(before.UpdatedAt), "UpdatedAt moved back")
	want.LastSentAt, want.UpdatedAt = got.LastSentAt, got.UpdatedAt
	assert.Equal(t, want, *got)

	// And back to zero: nil time, no execution, no status.
	require.NoError(t, s.AlertStatePut(ctx, &storage.AlertState{RuleID: r.ID, PlanID: p.ID}))
	got, err = lockState(t, ctx, s, r.ID, p.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.AlertState{RuleID: r.ID, PlanID: p.ID, UpdatedAt: got.UpdatedAt}, *got)
}

func testStatePutUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	err := s.AlertStatePut(ctx, &storage.AlertState{RuleID: r.ID, PlanID: p.ID, ConsecutiveFailures: 1})
	require.ErrorIs(t, err, storage.ErrNotFound, "a state never locked")
	assert.Zero(t, failuresOf(t, ctx, s, r.ID, p.ID))
}

// testStateLockConcurrent runs workers that each, in a transaction of
// their own, lock a state, read its count, and store it plus one, as the
// alerter does. The lock must make each wait for the previous one's
// commit: without it two read the same count and one increment is lost.
func testStateLockConcurrent(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	const workers, rounds = 8, 4
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		wg.Go(func() {
			for range rounds {
				err := s.InTx(ctx, func(tx storage.Store) error {
					st, err := tx.AlertStateLock(ctx, r.ID, p.ID)
					if err != nil {
						return err
					}
					// Let other workers run between the read and the write.
					time.Sleep(time.Millisecond)
					st.ConsecutiveFailures++
					return tx.AlertStatePut(ctx, st)
				})
				if err != nil {
					errs[w] = err
					return
				}
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		require.NoError(t, err, "worker %d", w)
	}
	assert.Equal(t, workers*rounds, failuresOf(t, ctx, s, r.ID, p.ID), "increments were lost")
}

// record stores an attempt; p.DeliveryID, Event, Attempt and Outcome get
// defaults.
func record(t *testing.T, ctx context.Context, s storage.Store, p storage.AlertDeliveryRecordParams) *storage.AlertDelivery {
	t.Helper()
	if p.DeliveryID == uuid.Nil {
		p.DeliveryID = uuid.Must(uuid.NewV7())
	}
	if p.Event == "" {
		p.Event = "execution.failed"
	}
	if p.Attempt == 0 {
		p.Attempt = 1
	}
	if p.Outcome == "" {
		p.Outcome = storage.DeliveryDelivered
	}
	d, err := s.AlertDeliveryRecord(ctx, &p)
	require.NoError(t, err, "record delivery attempt")
	return d
}

func deliveryIDs(ds []*storage.AlertDelivery) []uuid.UUID {
	ids := make([]uuid.UUID, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return ids
}

func testDeliveryRoundTrip(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c)})
	e := createExecution(t, ctx, s, p, "")
	// Not UTF-8, with NUL bytes and every byte value: stored as sent.
	payload := []byte(`{"plan":"Zürich ✓ 東京"}` + "\x00\xff\xfe\x80")
	for i := range 256 {
		payload = append(payload, byte(i))
	}
	created := time.Now().Add(-48 * time.Hour).Truncate(time.Millisecond)
	in := storage.AlertDeliveryRecordParams{
		ID: uuid.Must(uuid.NewV7()), DeliveryID: uuid.Must(uuid.NewV7()), ChannelID: c.ID, RuleID: r.ID, ExecutionID: e.ID,
		Event: "execution.failed", Attempt: 3, Outcome: storage.DeliveryRetrying, StatusCode: 503,
		Latency: 1234*time.Millisecond + 567*time.Microsecond, Error: "503 Service Unavailable",
		Payload: payload, Response: `{"error":"busy"} ✓`, CreatedAt: created,
	}
	sent := bytes.Clone(payload)
	d, err := s.AlertDeliveryRecord(ctx, &in)
	require.NoError(t, err)
	assertSameTime(t, created, d.CreatedAt, "CreatedAt")
	want := in
	want.CreatedAt = d.CreatedAt
	assert.Equal(t, want, *d)
	assert.Equal(t, sent, d.Payload)

	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 1)
	got := page.Deliveries[0]
	assertSameTime(t, created, got.CreatedAt, "CreatedAt")
	want.CreatedAt = got.CreatedAt
	assert.Equal(t, want, *got)
	assert.True(t, bytes.Equal(sent, got.Payload), "payload bytes changed")

	// Defaults: a new ID, now, no rule or execution (a test message), an
	// empty payload.
	d, err = s.AlertDeliveryRecord(ctx, &storage.AlertDeliveryRecordParams{
		DeliveryID: uuid.Must(uuid.NewV7()), ChannelID: c.ID, Event: "test", Attempt: 1, Outcome: storage.DeliveryDiscarded,
	})
	require.NoError(t, err)
	assert.NotEqual(t, uuid.Nil, d.ID)
	assertRecent(t, d.CreatedAt, "CreatedAt")
	assert.Equal(t, uuid.Nil, d.RuleID)
	assert.Equal(t, uuid.Nil, d.ExecutionID)
	assert.Equal(t, []byte{}, d.Payload)
	page, err = s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 2)
	assert.Equal(t, *d, *page.Deliveries[0])
}

func testDeliveryStorableText(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "c")
	d := record(t, ctx, s, storage.AlertDeliveryRecordParams{
		ChannelID: c.ID, Outcome: storage.DeliveryDiscarded, Error: "bad\x00byte", Response: "ok ✓ \xff\xfe end",
	})
	assert.Equal(t, "bad\uFFFDbyte", d.Error)
	assert.Equal(t, "ok ✓ \uFFFD end", d.Response)
	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	require.Len(t, page.Deliveries, 1)
	assert.Equal(t, d.Error, page.Deliveries[0].Error)
	assert.Equal(t, d.Response, page.Deliveries[0].Response)
}

func testDeliveryRecordInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "c")
	_, err := s.AlertDeliveryRecord(ctx, &storage.AlertDeliveryRecordParams{
		DeliveryID: uuid.Must(uuid.NewV7()), ChannelID: uuid.Must(uuid.NewV7()), Event: "e", Attempt: 1, Outcome: storage.DeliveryDelivered,
	})
	require.ErrorIs(t, err, storage.ErrNotFound, "unknown channel")
	_, err = s.AlertDeliveryRecord(ctx, &storage.AlertDeliveryRecordParams{ChannelID: c.ID, Event: "e", Attempt: 1, Outcome: storage.DeliveryDelivered})
	require.ErrorIs(t, err, storage.ErrInvalidInput, "no delivery ID")
	_, err = s.AlertDeliveryRecord(ctx, &storage.AlertDeliveryRecordParams{
		DeliveryID: uuid.Must(uuid.NewV7()), ChannelID: c.ID, Event: "e", Attempt: 1, Outcome: "lost",
	})
	require.ErrorIs(t, err, storage.ErrInvalidInput, "unknown outcome")
	d := record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: c.ID})
	_, err = s.AlertDeliveryRecord(ctx, d)
	require.ErrorIs(t, err, storage.ErrConflict, "same ID")
	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{d.ID}, deliveryIDs(page.Deliveries))
}

func testDeliveryList(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c, other := createChannel(t, ctx, s, "c"), createChannel(t, ctx, s, "other")
	first, second := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	var all, ofFirst []uuid.UUID
	for i := range 7 {
		delivery := second
		if i%2 == 0 {
			delivery = first
		}
		d := record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: c.ID, DeliveryID: delivery, Attempt: i + 1})
		all = append(all, d.ID)
		if delivery == first {
			ofFirst = append(ofFirst, d.ID)
		}
	}
	record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: other.ID, DeliveryID: first})
	newestFirst := func(ids []uuid.UUID) []uuid.UUID {
		ids = slices.Clone(ids)
		slices.SortFunc(ids, func(a, b uuid.UUID) int { return bytes.Compare(b[:], a[:]) })
		return ids
	}
	list := func(p storage.AlertDeliveryListParams) []uuid.UUID {
		return deliveryIDs(walkPages(t, storage.PageLimit(p.Limit), func(cursor string) ([]*storage.AlertDelivery, string) {
			p.Cursor = cursor
			page, err := s.AlertDeliveryList(ctx, &p)
			require.NoError(t, err)
			return page.Deliveries, page.NextCursor
		}))
	}
	for _, limit := range []int{1, 2, 3, 7, 50} {
		assert.Equal(t, newestFirst(all), list(storage.AlertDeliveryListParams{ChannelID: c.ID, Limit: limit}), "limit %d", limit)
		assert.Equal(t, newestFirst(ofFirst), list(storage.AlertDeliveryListParams{ChannelID: c.ID, DeliveryID: first, Limit: limit}),
			"delivery filter, limit %d", limit)
	}
	assert.Empty(t, list(storage.AlertDeliveryListParams{ChannelID: c.ID, DeliveryID: uuid.Must(uuid.NewV7())}))
	assert.Empty(t, list(storage.AlertDeliveryListParams{ChannelID: uuid.Must(uuid.NewV7())}))
}

func testDeliveryListMalformedCursor(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "c")
	for name, cursor := range malformedCursors(storage.ListAlertDeliveries) {
		_, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID, Cursor: cursor})
		assert.ErrorIs(t, err, storage.ErrInvalidInput, name)
	}
}

func testDeliveryPrune(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "c")
	now := time.Now()
	var fresh []uuid.UUID
	for i := range 5 {
		record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: c.ID, CreatedAt: now.Add(-time.Duration(48+i) * time.Hour)})
	}
	// Just younger than the cutoff, and made now.
	fresh = append(fresh, record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: c.ID, CreatedAt: now.Add(-59 * time.Minute)}).ID)
	fresh = append(fresh, record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: c.ID}).ID)
	cutoff := now.Add(-time.Hour)

	n, err := s.AlertDeliveryPrune(ctx, cutoff, 0)
	require.NoError(t, err)
	assert.Zero(t, n, "limit 0")
	n, err = s.AlertDeliveryPrune(ctx, cutoff, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n)
	n, err = s.AlertDeliveryPrune(ctx, cutoff, 100)
	require.NoError(t, err)
	assert.Equal(t, int64(3), n)
	n, err = s.AlertDeliveryPrune(ctx, cutoff, 100)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing old is left")

	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	assert.ElementsMatch(t, fresh, deliveryIDs(page.Deliveries))
}

func testDeliveryPruneConcurrent(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := createChannel(t, ctx, s, "c")
	const attempts, pruners = 40, 4
	old := time.Now().Add(-48 * time.Hour)
	for range attempts {
		record(t, ctx, s, storage.AlertDeliveryRecordParams{ChannelID: c.ID, CreatedAt: old})
	}
	var (
		wg    sync.WaitGroup
		total = make([]int64, pruners)
		errs  = make([]error, pruners)
	)
	for i := range pruners {
		wg.Go(func() {
			for {
				n, err := s.AlertDeliveryPrune(ctx, time.Now().Add(-time.Hour), 3)
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
				total[i] += n
			}
		})
	}
	wg.Wait()
	var sum int64
	for i := range pruners {
		require.NoError(t, errs[i], "pruner %d", i)
		sum += total[i]
	}
	rest, err := s.AlertDeliveryPrune(ctx, time.Now().Add(-time.Hour), attempts)
	require.NoError(t, err)
	assert.Equal(t, int64(attempts), sum+rest, "each attempt deleted once")
	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	assert.Empty(t, page.Deliveries)
}

func testAlertTxRollback(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	p := createPlan(t, ctx, s, "p")
	c := createChannel(t, ctx, s, "c")
	r := createRule(t, ctx, s, storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: channelIDs(c)})
	putFailures(t, ctx, s, r.ID, p.ID, 1)
	var newChannel *storage.Channel
	var newRule *storage.AlertRule
	err := s.InTx(ctx, func(tx storage.Store) error {
		newChannel = createChannel(t, ctx, tx, "new")
		newRule = createRule(t, ctx, tx, storage.AlertRuleCreateParams{ChannelIDs: channelIDs(c, newChannel)})
		st, err := tx.AlertStateLock(ctx, r.ID, p.ID)
		require.NoError(t, err)
		st.ConsecutiveFailures = 9
		require.NoError(t, tx.AlertStatePut(ctx, st))
		_, err = tx.AlertStateLock(ctx, newRule.ID, p.ID)
		require.NoError(t, err)
		_, err = tx.AlertRuleUpdate(ctx, &storage.AlertRuleUpdateParams{ID: r.ID, ExpectedRevision: 1, Name: "moved", ChannelIDs: channelIDs(newChannel)})
		require.NoError(t, err)
		record(t, ctx, tx, storage.AlertDeliveryRecordParams{ChannelID: c.ID})
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	_, err = s.ChannelGetByID(ctx, newChannel.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "channel")
	_, err = s.AlertRuleGetByID(ctx, newRule.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound, "rule")
	got, err := s.AlertRuleGetByID(ctx, r.ID)
	require.NoError(t, err)
	assertRuleEqual(t, r, got)
	assert.Equal(t, 1, failuresOf(t, ctx, s, r.ID, p.ID), "state")
	page, err := s.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: c.ID})
	require.NoError(t, err)
	assert.Empty(t, page.Deliveries, "deliveries")
	rules, err := s.AlertRulesFor(ctx, p.ID, uuid.Nil)
	require.NoError(t, err)
	assert.Equal(t, []uuid.UUID{r.ID}, ruleIDs(rules))
}
