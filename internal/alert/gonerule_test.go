package alert_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
)

// deletingTx is a finishing transaction in which a rule is deleted right
// after the evaluator has listed the plan's rules, as when DELETE
// /alert-rule/{id} (or the deletion of the rule's schedule) commits while
// an execution finishes.
type deletingTx struct {
	storage.Store
	doomed uuid.UUID
	// via deletes the rule: the transaction itself when nil, or another
	// connection (on Postgres), whose delete commits at once.
	via storage.Store
}

func (tx *deletingTx) AlertRulesFor(ctx context.Context, planID, scheduleID uuid.UUID) ([]*storage.AlertRule, error) {
	rules, err := tx.Store.AlertRulesFor(ctx, planID, scheduleID)
	if err != nil {
		return nil, err
	}
	via := tx.via
	if via == nil {
		via = tx.Store
	}
	return rules, via.AlertRuleDelete(ctx, tx.doomed)
}

// TestARuleDeletedWhileTheExecutionFinishesIsSkipped checks that a rule
// that is gone by the time its state is locked is skipped: the execution's
// final status and the other rules' messages still commit.
func TestARuleDeletedWhileTheExecutionFinishesIsSkipped(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		testRuleDeletedWhileFinishing(t, st, nil)
	})
	t.Run("postgres, deleted by another connection", func(t *testing.T) {
		t.Parallel()
		st, err := pgstore.Open(t.Context(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 6})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		testRuleDeletedWhileFinishing(t, st, st)
	})
}

// testRuleDeletedWhileFinishing deletes a rule, through via (nil: the
// finishing transaction), right after the evaluator has listed it.
func testRuleDeletedWhileFinishing(t *testing.T, st, via storage.Store) {
	f := newFixture(t, st)
	ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
	// Rules are evaluated in ID order: the doomed one first, so that
	// the survivor is evaluated after the failed lock.
	doomed := f.rule(t, storage.AlertRuleCreateParams{Name: "doomed", OnFailure: true}, ch)
	kept := f.rule(t, storage.AlertRuleCreateParams{Name: "kept", OnFailure: true}, ch)
	x := f.run(t)
	err := st.InTx(t.Context(), func(tx storage.Store) error {
		e, err := tx.ExecutionSetStatus(t.Context(), &storage.ExecutionSetStatusParams{ID: x.ID, Status: failed, Result: failedResult})
		if err != nil {
			return err
		}
		return f.eval.ExecutionFinished(t.Context(), &deletingTx{Store: tx, doomed: doomed.ID, via: via}, e)
	})
	require.NoError(t, err, "a rule deleted meanwhile must not roll back the execution's finish")

	got, err := st.ExecutionGetByID(t.Context(), x.ID)
	require.NoError(t, err)
	assert.Equal(t, failed, got.Status)
	ds := f.deliveries(t)
	require.Len(t, ds, 1, "the rule still there alerts")
	assert.Equal(t, kept.ID, ds[0].RuleID)
	_, err = st.AlertRuleGetByID(t.Context(), doomed.ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
}
