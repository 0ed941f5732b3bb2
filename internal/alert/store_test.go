package alert_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Bounds for waiting on conditions: they bound a hung test, they are not
// performance assertions.
const (
	waitFor = 20 * time.Second
	tick    = 5 * time.Millisecond
)

// eachStore runs fn against a fresh in-memory SQLite store and a fresh
// Postgres schema (skipped without a database, unless
// ASTRO_REQUIRE_POSTGRES=1).
func eachStore(t *testing.T, fn func(t *testing.T, st storage.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		st, err := sqlitestore.Open(t.Context(), sqlitestore.Config{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		url := pgtest.URL(t)
		st, err := pgstore.Open(t.Context(), pgstore.Config{URL: url, MaxConns: 6})
		require.NoError(t, err)
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
}

// clock is a clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }

// fixture is a store with a plan, and an evaluator on a fake clock.
type fixture struct {
	st    storage.Store
	plan  *storage.Plan
	clock *clock
	eval  *alert.Evaluator
}

func newFixture(t *testing.T, st storage.Store) *fixture {
	t.Helper()
	p, err := st.PlanCreate(t.Context(), &storage.PlanCreateParams{
		Name: "checkout", Document: json.RawMessage(`{"version":1,"steps":[]}`),
	})
	require.NoError(t, err)
	c := &clock{t: time.Now().UTC()}
	return &fixture{st: st, plan: p, clock: c, eval: &alert.Evaluator{
		Store: st, PublicURL: "http://astro.test", Now: c.Now, Logger: testLogger(t),
	}}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// channel creates a webhook channel.
func (f *fixture) channel(t *testing.T, url, secret string, headers map[string]string) *storage.Channel {
	t.Helper()
	ch, err := f.st.ChannelCreate(t.Context(), &storage.ChannelCreateParams{
		Name: "ch-" + uuid.NewString()[:8], Kind: storage.ChannelWebhook, URL: url, Secret: secret, Headers: headers,
	})
	require.NoError(t, err)
	return ch
}

// rule creates a rule of the fixture's plan.
func (f *fixture) rule(t *testing.T, p storage.AlertRuleCreateParams, channels ...*storage.Channel) *storage.AlertRule {
	t.Helper()
	p.PlanID = f.plan.ID
	if p.Name == "" {
		p.Name = "rule-" + uuid.NewString()[:8]
	}
	for _, ch := range channels {
		p.ChannelIDs = append(p.ChannelIDs, ch.ID)
	}
	r, err := f.st.AlertRuleCreate(t.Context(), &p)
	require.NoError(t, err)
	return r
}

// run creates an execution of the fixture's plan and moves it to running.
func (f *fixture) run(t *testing.T) *storage.Execution {
	t.Helper()
	x, err := f.st.ExecutionCreate(t.Context(), &storage.ExecutionCreateParams{PlanID: f.plan.ID, PlanRevision: f.plan.Revision})
	require.NoError(t, err)
	_, err = f.st.ExecutionSetStatus(t.Context(), &storage.ExecutionSetStatusParams{ID: x.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)
	return x
}

// finish runs an execution to status, with result, and tells the
// evaluator in the same transaction, as planjob does.
func (f *fixture) finish(t *testing.T, status storage.ExecutionStatus, result json.RawMessage) *storage.Execution {
	t.Helper()
	x := f.run(t)
	var done *storage.Execution
	err := f.st.InTx(t.Context(), func(tx storage.Store) error {
		e, err := tx.ExecutionSetStatus(t.Context(), &storage.ExecutionSetStatusParams{ID: x.ID, Status: status, Result: result})
		if err != nil {
			return err
		}
		done = e
		return f.eval.ExecutionFinished(t.Context(), tx, e)
	})
	require.NoError(t, err)
	return done
}

// delivery is a deliver_alert job as the tests read it.
type delivery struct {
	job        *storage.Job
	DeliveryID uuid.UUID       `json:"delivery_id"`
	ChannelID  uuid.UUID       `json:"channel_id"`
	RuleID     uuid.UUID       `json:"rule_id"`
	ExecID     uuid.UUID       `json:"execution_id"`
	RawEvent   json.RawMessage `json:"event"`
	event      alert.Event
}

// deliveries returns every deliver_alert job, oldest first.
func (f *fixture) deliveries(t *testing.T) []*delivery {
	t.Helper()
	page, err := f.st.JobList(t.Context(), &storage.JobListParams{Queue: alert.Queue, Kind: alert.DeliverKind, Limit: storage.MaxPageLimit})
	require.NoError(t, err)
	var out []*delivery
	for _, j := range slices.Backward(page.Jobs) { // JobList is newest first.
		d := &delivery{job: j}
		require.NoError(t, json.Unmarshal(j.Payload, d))
		require.NoError(t, json.Unmarshal(d.RawEvent, &d.event))
		out = append(out, d)
	}
	return out
}

// flushJobs returns every flush_alerts job, oldest first.
func (f *fixture) flushJobs(t *testing.T) []*storage.Job {
	t.Helper()
	page, err := f.st.JobList(t.Context(), &storage.JobListParams{Queue: alert.Queue, Kind: alert.FlushKind, Limit: storage.MaxPageLimit})
	require.NoError(t, err)
	slices.Reverse(page.Jobs) // JobList is newest first.
	return page.Jobs
}

// state returns a rule's state for the fixture's plan.
func (f *fixture) state(t *testing.T, ruleID uuid.UUID) *storage.AlertState {
	t.Helper()
	var st *storage.AlertState
	require.NoError(t, f.st.InTx(t.Context(), func(tx storage.Store) error {
		s, err := tx.AlertStateLock(t.Context(), ruleID, f.plan.ID)
		st = s
		return err
	}))
	return st
}

// startPool runs a worker pool on alert.Queue with a tiny retry policy
// until t ends.
func startPool(t *testing.T, st storage.Store, d *alert.Deliverer, e *alert.Evaluator) {
	t.Helper()
	pool := worker.New(st, worker.Config{
		Queue: alert.Queue, Workers: 2, PollInterval: 10 * time.Millisecond,
		Retry:  storage.RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		Logger: testLogger(t),
	})
	pool.Handle(alert.DeliverKind, d.Handle)
	if e != nil {
		pool.Handle(alert.FlushKind, e.HandleFlush)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pool.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			assert.NoError(t, err)
		case <-time.After(waitFor):
			t.Errorf("the pool did not stop within %s", waitFor)
		}
	})
}

// waitFinal waits until the job is final and returns it.
func waitFinal(t *testing.T, st storage.Store, id int64) *storage.Job {
	t.Helper()
	var job *storage.Job
	require.Eventually(t, func() bool {
		j, err := st.JobGet(context.Background(), id)
		if err != nil {
			return false
		}
		job = j
		return j.State.Final()
	}, waitFor, tick, "job %d never finished", id)
	return job
}

// attempts returns a channel's recorded attempts, oldest first.
func attempts(t *testing.T, st storage.Store, channelID uuid.UUID) []*storage.AlertDelivery {
	t.Helper()
	page, err := st.AlertDeliveryList(t.Context(), &storage.AlertDeliveryListParams{ChannelID: channelID, Limit: storage.MaxPageLimit})
	require.NoError(t, err)
	out := page.Deliveries
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

var errRollback = errors.New("roll back")
