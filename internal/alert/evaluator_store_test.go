package alert_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

const (
	passed = storage.ExecutionPassed
	failed = storage.ExecutionFailed
)

// failedResult is a stored result with one failed status assertion.
var failedResult = json.RawMessage(`{"status":"failed","plan_revision":1,"steps":[` +
	`{"name":"Health","status":"failed","attempts":1,"http_status":503,"duration_ms":3,` +
	`"assertions":[{"kind":"status","expected":200,"actual":503,"passed":false,"message":"expected status 200, got 503"}]}]}`)

var passedResult = json.RawMessage(`{"status":"passed","plan_revision":1,"steps":[{"name":"Health","status":"passed","attempts":1}]}`)

func TestFailFailPassSendsFailedThenRecovered(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{Name: "checkout down", OnFailure: true, OnRecovery: true}, ch)

		x1 := f.finish(t, failed, failedResult)
		ds := f.deliveries(t)
		require.Len(t, ds, 1, "the first failure alerts")
		d := ds[0]
		assert.Equal(t, ch.ID, d.ChannelID)
		assert.Equal(t, r.ID, d.RuleID)
		assert.Equal(t, x1.ID, d.ExecID)
		assert.Equal(t, alert.DefaultMaxAttempts, d.job.MaxAttempts)
		ev := d.event
		assert.Equal(t, alert.EventFailed, ev.Event)
		assert.Equal(t, d.DeliveryID, ev.DeliveryID)
		assert.Equal(t, "1", ev.Version)
		require.NotNil(t, ev.Rule)
		assert.Equal(t, alert.EventRule{ID: r.ID, Name: "checkout down"}, *ev.Rule)
		assert.Equal(t, alert.EventPlan{ID: f.plan.ID, Name: "checkout", Revision: f.plan.Revision}, ev.Plan)
		assert.Equal(t, x1.ID, ev.Execution.ID)
		assert.Equal(t, "http://astro.test/execution/"+x1.ID.String(), ev.Execution.URL)
		assert.Equal(t, "failed", ev.Execution.Status)
		assert.Equal(t, "api", ev.Execution.Trigger)
		assert.Equal(t, 1, ev.ConsecutiveFailures)
		require.Len(t, ev.FailedSteps, 1)
		assert.Equal(t, "Health", ev.FailedSteps[0].Name)
		require.NotNil(t, ev.FailedSteps[0].Assertion)
		assert.Equal(t, "200", ev.FailedSteps[0].Assertion.Expected)
		assert.Equal(t, "503", ev.FailedSteps[0].Assertion.Actual)

		f.clock.Add(time.Hour)
		f.finish(t, failed, failedResult)
		require.Len(t, f.deliveries(t), 1, "a second failure sends nothing")

		f.clock.Add(time.Hour)
		x3 := f.finish(t, passed, passedResult)
		ds = f.deliveries(t)
		require.Len(t, ds, 2, "the pass sends a recovery")
		rec := ds[1].event
		assert.Equal(t, alert.EventRecovered, rec.Event)
		assert.Equal(t, x3.ID, rec.Execution.ID)
		assert.Zero(t, rec.ConsecutiveFailures)
		assert.Empty(t, rec.FailedSteps)
		assert.NotEqual(t, ds[0].DeliveryID, ds[1].DeliveryID)

		s := f.state(t, r.ID)
		assert.False(t, s.Alerting)
		assert.Equal(t, x3.ID, s.LastExecutionID)
		assert.Equal(t, passed, s.LastStatus)
	})
}

func TestThresholdAlertsOnTheThirdFailure(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		f.rule(t, storage.AlertRuleCreateParams{AfterConsecutiveFailures: 3}, ch)
		f.finish(t, failed, failedResult)
		f.finish(t, storage.ExecutionError, json.RawMessage(`{"plan_revision":1,"error":"boom"}`))
		require.Empty(t, f.deliveries(t))
		x3 := f.finish(t, failed, failedResult)
		ds := f.deliveries(t)
		require.Len(t, ds, 1)
		assert.Equal(t, x3.ID, ds[0].ExecID)
		assert.Equal(t, 3, ds[0].event.ConsecutiveFailures)
		f.finish(t, failed, failedResult)
		assert.Len(t, f.deliveries(t), 1)
	})
}

func TestEveryFailureAndEveryChannel(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		a := f.channel(t, "http://127.0.0.1:1/a", "", nil)
		b := f.channel(t, "http://127.0.0.1:1/b", "", nil)
		f.rule(t, storage.AlertRuleCreateParams{EveryFailure: true}, a, b)
		for range 3 {
			f.finish(t, failed, failedResult)
		}
		ds := f.deliveries(t)
		require.Len(t, ds, 6, "three failures, two channels")
		ids := map[uuid.UUID]bool{}
		perChannel := map[uuid.UUID]int{}
		for _, d := range ds {
			ids[d.DeliveryID] = true
			perChannel[d.ChannelID]++
			assert.Equal(t, alert.EventFailed, d.event.Event)
		}
		assert.Len(t, ids, 6, "each message has its own delivery ID")
		assert.Equal(t, map[uuid.UUID]int{a.ID: 3, b.ID: 3}, perChannel)
	})
}

func TestMinIntervalSuppressesAndFlushSendsTheRecoveryLate(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		f.eval.MinInterval = 5 * time.Minute
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{OnFailure: true, OnRecovery: true}, ch)

		f.finish(t, failed, failedResult)
		require.Len(t, f.deliveries(t), 1)
		sentAt := f.clock.Now()

		f.clock.Add(time.Minute)
		x2 := f.finish(t, passed, passedResult)
		require.Len(t, f.deliveries(t), 1, "the recovery is suppressed")
		flushes := f.flushJobs(t)
		require.Len(t, flushes, 1)
		flush := flushes[0]
		assert.Equal(t, alert.FlushKey(r.ID, f.plan.ID), flush.UniqueKey)
		assert.WithinDuration(t, sentAt.Add(5*time.Minute), flush.RunAt, time.Millisecond)
		s := f.state(t, r.ID)
		assert.Equal(t, 1, s.Suppressed)
		assert.True(t, s.FlushPending)

		// Flapping within the interval: still one flush job.
		f.clock.Add(time.Minute)
		f.finish(t, failed, failedResult)
		f.clock.Add(time.Minute)
		x4 := f.finish(t, passed, passedResult)
		require.Len(t, f.deliveries(t), 1)
		require.Len(t, f.flushJobs(t), 1)
		_ = x2

		// Too early (a minute short): the flush waits, sending nothing.
		err := f.eval.HandleFlush(t.Context(), flush)
		require.Error(t, err)
		assert.Len(t, f.deliveries(t), 1)
		assert.True(t, f.state(t, r.ID).FlushPending)

		f.clock.Add(2 * time.Minute)
		require.NoError(t, f.eval.HandleFlush(t.Context(), flush))
		ds := f.deliveries(t)
		require.Len(t, ds, 2, "the flush tells the recovery")
		ev := ds[1].event
		assert.Equal(t, alert.EventRecovered, ev.Event)
		assert.Equal(t, 3, ev.Suppressed)
		assert.Equal(t, x4.ID, ev.Execution.ID, "about the last execution")
		s = f.state(t, r.ID)
		assert.Zero(t, s.Suppressed)
		assert.False(t, s.FlushPending)
		assert.False(t, s.NotifiedAlerting)

		// A second run of the flush has nothing to send.
		require.NoError(t, f.eval.HandleFlush(t.Context(), flush))
		assert.Len(t, f.deliveries(t), 2)
	})
}

func TestFlushOfAGoneRuleSendsNothing(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		f.eval.MinInterval = time.Hour
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{OnFailure: true, OnRecovery: true}, ch)
		f.finish(t, failed, failedResult)
		f.finish(t, passed, passedResult)
		flushes := f.flushJobs(t)
		require.Len(t, flushes, 1)
		require.NoError(t, st.AlertRuleDelete(t.Context(), r.ID))
		f.clock.Add(2 * time.Hour)
		require.NoError(t, f.eval.HandleFlush(t.Context(), flushes[0]))
		assert.Len(t, f.deliveries(t), 1)
	})
}

func TestRolledBackFinishLeavesNoJobAndNoState(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{OnFailure: true}, ch)
		x := f.run(t)
		err := st.InTx(t.Context(), func(tx storage.Store) error {
			e, err := tx.ExecutionSetStatus(t.Context(), &storage.ExecutionSetStatusParams{ID: x.ID, Status: failed, Result: failedResult})
			if err != nil {
				return err
			}
			if err := f.eval.ExecutionFinished(t.Context(), tx, e); err != nil {
				return err
			}
			return errRollback
		})
		require.ErrorIs(t, err, errRollback)
		assert.Empty(t, f.deliveries(t))
		s := f.state(t, r.ID)
		assert.Zero(t, s.ConsecutiveFailures)
		assert.False(t, s.Alerting)
		assert.Equal(t, uuid.Nil, s.LastExecutionID)
		got, err := st.ExecutionGetByID(t.Context(), x.ID)
		require.NoError(t, err)
		assert.Equal(t, storage.ExecutionRunning, got.Status)

		// The next failure is still the first.
		f.finish(t, failed, failedResult)
		assert.Len(t, f.deliveries(t), 1)
	})
}

func TestCancelledAndRepeatedFinishesAreIgnored(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{OnFailure: true, EveryFailure: true}, ch)
		f.finish(t, storage.ExecutionCancelled, nil)
		assert.Empty(t, f.deliveries(t))
		assert.Zero(t, f.state(t, r.ID).ConsecutiveFailures)

		x := f.finish(t, failed, failedResult)
		require.Len(t, f.deliveries(t), 1)
		// Told twice of the same execution (as a retried reconcile might):
		// it counts once.
		require.NoError(t, st.InTx(t.Context(), func(tx storage.Store) error {
			return f.eval.ExecutionFinished(t.Context(), tx, x)
		}))
		assert.Len(t, f.deliveries(t), 1)
		assert.Equal(t, 1, f.state(t, r.ID).ConsecutiveFailures)
	})
}

func TestAPlanWithoutRulesWritesNothing(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		f.finish(t, failed, failedResult)
		assert.Empty(t, f.deliveries(t))
		assert.Empty(t, f.flushJobs(t))
	})
}

func TestSecretsStayOutOfTheMessage(t *testing.T) {
	t.Parallel()
	res := struct {
		*planrun.Result
		PlanRevision int64 `json:"plan_revision"`
	}{Result: &planrun.Result{Status: "failed", Steps: []planrun.StepResult{
		{Name: "Log in", Status: "passed", Captured: map[string]string{"session": "CAPTURED-SESSION-VALUE", "api_token": planrun.Redacted},
			BodyExcerpt: `{"session":"BODY-EXCERPT-VALUE"}`,
			Assertions:  []planrun.AssertionResult{{Kind: planrun.KindCapture, Target: "session", Actual: "CAPTURED-SESSION-VALUE", Passed: true}}},
		{Name: "Pay", Status: "failed", Captured: map[string]string{"payment": "CAPTURED-PAYMENT-VALUE"},
			BodyExcerpt: "BODY-EXCERPT-PAYMENT",
			Assertions: []planrun.AssertionResult{
				{Kind: planrun.KindHeaderEquals, Target: "X-Id", Expected: "a", Actual: "a", Passed: true},
				{Kind: planrun.KindStatus, Expected: 200, Actual: 500, Message: "expected status 200, got 500"}}},
	}}, PlanRevision: 1}
	result, err := json.Marshal(res)
	require.NoError(t, err)
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		f.rule(t, storage.AlertRuleCreateParams{OnFailure: true}, ch)
		f.finish(t, failed, result)
		ds := f.deliveries(t)
		require.Len(t, ds, 1)
		payload := string(ds[0].job.Payload)
		assert.Contains(t, payload, "expected status 200, got 500")
		for _, s := range []string{"CAPTURED-SESSION-VALUE", "BODY-EXCERPT-VALUE", "CAPTURED-PAYMENT-VALUE", "BODY-EXCERPT-PAYMENT", "api_token"} {
			assert.False(t, strings.Contains(payload, s), "%s leaked into the message", s)
		}
	})
}

// TestSuppressionWhileTheFlushJobRunsPlansAnother covers the moment
// between a flush job's commit and its completion: its unique key is
// still held, but it has done its work, so a new suppression needs a new
// job.
func TestSuppressionWhileTheFlushJobRunsPlansAnother(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st storage.Store) {
		f := newFixture(t, st)
		f.clock.Add(-time.Hour) // So that the flush job is due at once.
		f.eval.MinInterval = 5 * time.Minute
		ch := f.channel(t, "http://127.0.0.1:1/hook", "", nil)
		r := f.rule(t, storage.AlertRuleCreateParams{OnFailure: true, OnRecovery: true}, ch)
		f.finish(t, failed, failedResult)
		f.clock.Add(time.Minute)
		f.finish(t, passed, passedResult)
		require.Len(t, f.flushJobs(t), 1)

		claimed, err := st.JobClaim(t.Context(), &storage.JobClaimParams{Queue: alert.Queue, Worker: "w", Limit: 10, Lease: time.Minute})
		require.NoError(t, err)
		var flush *storage.Job
		for _, j := range claimed {
			if j.Kind == alert.FlushKind {
				flush = j
			}
		}
		require.NotNil(t, flush, "the flush job is due and claimed")
		f.clock.Add(5 * time.Minute)
		require.NoError(t, f.eval.HandleFlush(t.Context(), flush))
		require.Len(t, f.deliveries(t), 2, "the recovery went out")

		// The flush job is still running (its outcome is not written
		// yet) when the plan fails again within the interval.
		f.clock.Add(time.Minute)
		f.finish(t, failed, failedResult)
		assert.Equal(t, 1, f.state(t, r.ID).Suppressed)
		jobs := f.flushJobs(t)
		require.Len(t, jobs, 2, "a second flush job, since the first is done")
		assert.Equal(t, storage.JobRunning, jobs[0].State)
		assert.Equal(t, storage.JobAvailable, jobs[1].State)
		assert.Empty(t, jobs[1].UniqueKey)
	})
}
