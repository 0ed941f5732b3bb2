package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/groupcommit"
)

func TestExecutePlanCreatesExecutionAndJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Run me", nil)

	res := e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", p.ID), nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var x Execution
	res.decode(t, &x)
	assert.Equal(t, "/execution/"+x.ID.String(), res.Header.Get("Location"))
	assert.Equal(t, p.ID, x.PlanID)
	assert.Equal(t, int64(1), x.PlanRevision)
	assert.Equal(t, "queued", x.Status)
	assert.Zero(t, x.Attempt)
	assert.Nil(t, x.StartedAt)
	assert.Nil(t, x.FinishedAt)
	assert.Contains(t, string(res.Body), `"result":null`)

	job, err := e.raw.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(x.ID))
	require.NoError(t, err, "the job commits with the execution")
	assert.Equal(t, planjob.Kind, job.Kind)
	assert.Equal(t, storage.JobAvailable, job.State)
	var payload planjob.Payload
	require.NoError(t, json.Unmarshal(job.Payload, &payload))
	assert.Equal(t, x.ID, payload.ExecutionID)
	assert.Equal(t, "execution:"+x.ID.String(), job.UniqueKey)
	assert.Equal(t, int64(1), e.wakes.Load(), "workers are woken once")

	got := e.request(http.MethodGet, "/execution/"+x.ID.String(), nil)
	require.Equal(t, http.StatusOK, got.Status)
	var again Execution
	got.decode(t, &again)
	assert.Equal(t, x.ID, again.ID)
	assert.Equal(t, "queued", again.Status)
}

func TestExecutePlanUsesCurrentRevision(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Rev", nil)
	res := e.request(http.MethodPut, "/plan/"+p.ID.String(), planBody("Rev", nil), "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	x := e.execute(p.ID)
	assert.Equal(t, int64(2), x.PlanRevision)
}

func TestExecutePlanUnknownPlanWritesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", uuid.New()), nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no plan has id")
	assert.Zero(t, e.executionCount())
	assert.Empty(t, e.jobs())
	assert.Zero(t, e.wakes.Load())
}

func TestExecutePlanIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Once", nil)
	other := e.createPlan("Other", nil)

	first := e.execute(p.ID, "Idempotency-Key", "deploy-1")
	second := e.execute(p.ID, "Idempotency-Key", "deploy-1")
	assert.Equal(t, first.ID, second.ID, "the same key gives the same execution")
	assert.Equal(t, 1, e.executionCount())
	require.Len(t, e.jobs(), 1, "only one job is queued")
	stats, err := e.raw.JobStats(context.Background())
	require.NoError(t, err)
	require.Len(t, stats, 1)
	assert.Equal(t, int64(1), stats[0].Counts[storage.JobAvailable])
	assert.Equal(t, int64(1), e.wakes.Load(), "a replay wakes nobody")

	third := e.execute(p.ID, "Idempotency-Key", "deploy-2")
	assert.NotEqual(t, first.ID, third.ID)
	fourth := e.execute(other.ID, "Idempotency-Key", "deploy-1")
	assert.NotEqual(t, first.ID, fourth.ID, "keys are per plan")
	assert.Equal(t, 3, e.executionCount())
	assert.Len(t, e.jobs(), 3)
}

func TestExecutePlanConcurrentIdempotentRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Racy", nil)

	const n = 8
	ids := make([]uuid.UUID, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res := e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", p.ID), nil, "Idempotency-Key", "same")
			if assert.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body) {
				var x Execution
				res.decode(t, &x)
				ids[i] = x.ID
			}
		})
	}
	wg.Wait()
	for _, id := range ids {
		assert.Equal(t, ids[0], id)
	}
	assert.Equal(t, 1, e.executionCount())
	assert.Len(t, e.jobs(), 1)
}

// blindTxStore hides executions from ExecutionGetByIdempotencyKey inside
// transactions, as if a concurrent request had not committed yet when this
// one looked. Outside transactions it reads normally.
type blindTxStore struct{ storage.Store }

func (s blindTxStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	return s.Store.InTx(ctx, func(tx storage.Store) error { return fn(blindTx{tx}) })
}

type blindTx struct{ storage.Store }

func (blindTx) ExecutionGetByIdempotencyKey(context.Context, uuid.UUID, string) (*storage.Execution, error) {
	return nil, fmt.Errorf("get execution by idempotency key: %w", storage.ErrNotFound)
}

func TestExecutePlanLosingIdempotencyRaceReturnsWinner(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wrapStore(func(s storage.Store) storage.Store { return blindTxStore{s} }))
	p := e.createPlan("Race", nil)
	// The winner committed first.
	winner, err := e.raw.ExecutionCreate(context.Background(), &storage.ExecutionCreateParams{
		PlanID: p.ID, PlanRevision: 1, IdempotencyKey: "k",
	})
	require.NoError(t, err)

	x := e.execute(p.ID, "Idempotency-Key", "k")
	assert.Equal(t, winner.ID, x.ID)
	assert.Equal(t, 1, e.executionCount())
	assert.Empty(t, e.jobs(), "the loser enqueued nothing")
	assert.Zero(t, e.wakes.Load())
}

func TestExecutePlanRejectsBadIdempotencyKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Keys", nil)
	res := e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", p.ID), nil,
		"Idempotency-Key", strings.Repeat("k", 201))
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).locations(), "header.Idempotency-Key")
	assert.Zero(t, e.executionCount())
	assert.Empty(t, e.jobs())
}

// failEnqueueStore makes JobEnqueue and JobEnqueueMany fail, inside
// transactions too.
type failEnqueueStore struct{ storage.Store }

func (s failEnqueueStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	return s.Store.InTx(ctx, func(tx storage.Store) error { return fn(failEnqueueStore{tx}) })
}

func (failEnqueueStore) JobEnqueue(context.Context, *storage.JobEnqueueParams) (*storage.Job, error) {
	return nil, errors.New("pq: could not insert into jobs_secret_table")
}

func (failEnqueueStore) JobEnqueueMany(context.Context, []*storage.JobEnqueueParams) ([]int64, error) {
	return nil, errors.New("pq: could not insert into jobs_secret_table")
}

func TestExecutePlanFailingEnqueueLeavesNoExecution(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wrapStore(func(s storage.Store) storage.Store { return failEnqueueStore{s} }))
	p := e.createPlan("Atomic", nil)

	res := e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", p.ID), nil)
	require.Equal(t, http.StatusInternalServerError, res.Status)
	assert.Equal(t, "internal error", res.problem(t).Detail)
	assert.NotContains(t, string(res.Body), "jobs_secret_table")
	assert.Zero(t, e.executionCount(), "the execution rolls back with its job")
	assert.Empty(t, e.jobs())
	assert.Zero(t, e.wakes.Load())
}

// heldTxStore counts the transactions begun through it, and holds one
// when asked to (holdNext).
type heldTxStore struct {
	storage.Store
	txs atomic.Int64

	mu         sync.Mutex
	held, hold chan struct{}
}

// holdNext makes the next transaction wait, before it begins, until
// release is first called. held is closed once it waits.
func (s *heldTxStore) holdNext() (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held, s.hold = make(chan struct{}), make(chan struct{})
	hold := s.hold
	return s.held, sync.OnceFunc(func() { close(hold) })
}

func (s *heldTxStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	s.txs.Add(1)
	s.mu.Lock()
	held, hold := s.held, s.hold
	s.held, s.hold = nil, nil
	s.mu.Unlock()
	if held != nil {
		close(held)
		<-hold
	}
	return s.Store.InTx(ctx, fn)
}

// sendQueued sends first and holds its transaction until each of queued
// is waiting in g behind it, in order; then it lets the transaction go and
// returns every response, first's first. The queued requests thus share
// the next transaction, deterministically. It returns how many
// transactions were begun meanwhile too.
func sendQueued(t *testing.T, hs *heldTxStore, g *groupcommit.Group, first func() *response,
	queued ...func() *response) ([]*response, int64) {
	t.Helper()
	before := hs.txs.Load()
	held, release := hs.holdNext()
	defer release() // Should the test fail before it lets go.
	send := func(req func() *response) <-chan *response {
		ch := make(chan *response, 1)
		go func() { ch <- req() }()
		return ch
	}
	chans := []<-chan *response{send(first)}
	<-held
	for i, req := range queued {
		chans = append(chans, send(req))
		require.Eventually(t, func() bool { return g.Queued() == i+1 }, 10*time.Second, time.Millisecond,
			"request %d never queued", i+1)
	}
	release()
	out := make([]*response, 0, len(chans))
	for _, ch := range chans {
		out = append(out, <-ch)
	}
	return out, hs.txs.Load() - before
}

// TestExecutePlanConcurrentRequestsShareATransaction sends execute-plan
// requests that queue up behind one whose transaction is held, so that they
// share the next: good ones commit together, and one bad one among them
// fails alone and writes nothing.
func TestExecutePlanConcurrentRequestsShareATransaction(t *testing.T) {
	t.Parallel()
	hs := &heldTxStore{}
	var g *groupcommit.Group
	e := newEnv(t, wrapStore(func(s storage.Store) storage.Store { hs.Store = s; return hs }),
		func(d *Deps) { g = groupcommit.New(d.Store, maxExecuteBatch); d.ExecuteGroup = g })
	p := e.createPlan("Busy", nil)
	missing := uuid.New()
	execute := func(id uuid.UUID, headers ...string) func() *response {
		return func() *response {
			return e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", id), nil, headers...)
		}
	}
	// accepted checks that res created an execution of p whose job is
	// stored, and returns it.
	accepted := func(res *response) Execution {
		t.Helper()
		require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
		var x Execution
		res.decode(t, &x)
		assert.Equal(t, p.ID, x.PlanID)
		job, err := e.raw.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(x.ID))
		require.NoError(t, err, "the job of execution %s", x.ID)
		require.NotNil(t, x.JobID)
		assert.Equal(t, job.ID, *x.JobID)
		return x
	}

	// Good requests commit together.
	queued := make([]func() *response, 8)
	for i := range queued {
		queued[i] = execute(p.ID)
	}
	out, txs := sendQueued(t, hs, g, execute(p.ID), queued...)
	ids := map[uuid.UUID]bool{}
	for _, res := range out {
		ids[accepted(res).ID] = true
	}
	assert.Len(t, ids, 9, "nine executions")
	assert.Equal(t, int64(2), txs, "the held one alone, then eight in one transaction")
	assert.Equal(t, 9, e.executionCount())
	assert.Len(t, e.jobs(), 9)

	// A bad request among them fails alone and writes nothing; the others
	// commit together without it.
	out, txs = sendQueued(t, hs, g, execute(p.ID), execute(p.ID), execute(p.ID), execute(missing), execute(p.ID))
	ids = map[uuid.UUID]bool{}
	for i, res := range out {
		if i == 3 {
			require.Equal(t, http.StatusNotFound, res.Status, "body: %s", res.Body)
			assert.Contains(t, res.problem(t).Detail, "no plan has id "+missing.String())
			continue
		}
		ids[accepted(res).ID] = true
	}
	assert.Len(t, ids, 4)
	// The held one; then the shared one, which the bad request leaves
	// (its plan is missing before it writes anything: a refusal).
	assert.Equal(t, int64(2), txs, "transactions")
	assert.Equal(t, 9+4, e.executionCount(), "one execution per good request, none for the bad one")
	assert.Len(t, e.jobs(), 9+4, "one job per good request")
	assert.Equal(t, int64(9+4), e.wakes.Load())

	// Requests with one idempotency key in one transaction get one
	// execution: the second sees the first's.
	key := []string{"Idempotency-Key", "batched"}
	out, txs = sendQueued(t, hs, g, execute(p.ID), execute(p.ID, key...), execute(p.ID), execute(p.ID, key...))
	xs := make([]Execution, len(out))
	for i, res := range out {
		xs[i] = accepted(res)
	}
	assert.Equal(t, xs[1].ID, xs[3].ID, "the same key gives the same execution")
	assert.NotEqual(t, xs[1].ID, xs[2].ID)
	assert.Equal(t, int64(2), txs)
	assert.Equal(t, 13+3, e.executionCount())
	assert.Len(t, e.jobs(), 13+3)

	// A request whose inputs are bad (a variable the plan does not
	// declare) gets its 422 and leaves the batch, which commits without it.
	undeclared := func() *response {
		return e.request(http.MethodPost, fmt.Sprintf("/plan/%s/execute", p.ID),
			map[string]any{"variables": map[string]string{"nope": "x"}})
	}
	out, txs = sendQueued(t, hs, g, execute(p.ID), execute(p.ID), undeclared, execute(p.ID))
	for i, res := range out {
		if i == 2 {
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "body: %s", res.Body)
			assert.Contains(t, res.problem(t).locations(), "body.variables.nope")
			continue
		}
		accepted(res)
	}
	assert.Equal(t, int64(2), txs, "the held one, then one shared transaction")
	assert.Equal(t, 16+3, e.executionCount())
	assert.Len(t, e.jobs(), 16+3)
}

// rerunStore runs each transaction function twice, as a group does when a
// shared transaction fails: first in a transaction that it rolls back, and
// then, after calling between, in one of its own.
type rerunStore struct {
	storage.Store
	between func()
}

// errRerun rolls back rerunStore's first transaction.
var errRerun = errors.New("roll back to run again")

func (s rerunStore) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	err := s.Store.InTx(ctx, func(tx storage.Store) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errRerun
	})
	if !errors.Is(err, errRerun) {
		return err
	}
	s.between()
	return s.Store.InTx(ctx, fn)
}

// TestExecutePlanRerunStartsAfresh runs execute-plan's transaction twice,
// with an execution of the same idempotency key committed in between: the
// first run creates an execution and a job, rolled back; the second finds
// the other execution. The answer must be the second run's alone.
func TestExecutePlanRerunStartsAfresh(t *testing.T) {
	t.Parallel()
	var (
		e      *testEnv
		p      Plan
		winner *storage.Execution
	)
	between := func() {
		var err error
		winner, err = e.raw.ExecutionCreate(context.Background(), &storage.ExecutionCreateParams{
			PlanID: p.ID, PlanRevision: 1, IdempotencyKey: "k",
		})
		require.NoError(t, err)
	}
	e = newEnv(t, func(d *Deps) {
		d.ExecuteGroup = groupcommit.New(rerunStore{Store: d.Store, between: between}, 1)
	})
	p = e.createPlan("Twice", nil)

	x := e.execute(p.ID, "Idempotency-Key", "k")
	require.NotNil(t, winner)
	assert.Equal(t, winner.ID, x.ID)
	assert.Nil(t, x.JobID, "not the job of the rolled-back run")
	assert.Equal(t, 1, e.executionCount())
	assert.Empty(t, e.jobs())
	assert.Zero(t, e.wakes.Load(), "nothing was enqueued")
}

func TestGetExecutionErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/execution/"+uuid.NewString(), nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "no execution has id")
	res = e.request(http.MethodGet, "/execution/42", nil)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status)
	res.problem(t)
}

func TestListExecutions(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.createPlan("A", nil)
	b := e.createPlan("B", nil)
	var want []uuid.UUID
	for range 5 {
		want = append(want, e.execute(a.ID).ID)
	}
	e.execute(b.ID)
	cancelled := e.execute(a.ID)
	res := e.request(http.MethodPost, "/execution/"+cancelled.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)

	// Newest first.
	for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
		want[i], want[j] = want[j], want[i]
	}
	var got []uuid.UUID
	next := fmt.Sprintf("/execution?plan_id=%s&status=queued&limit=2", a.ID)
	pages := 0
	for next != "" {
		res := e.request(http.MethodGet, next, nil)
		require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
		var page ExecutionList
		res.decode(t, &page)
		for _, x := range page.Executions {
			assert.Equal(t, a.ID, x.PlanID)
			assert.Equal(t, "queued", x.Status)
			got = append(got, x.ID)
		}
		pages++
		next = linkNext(t, res.Header)
		if next != "" {
			u, err := url.Parse(next)
			require.NoError(t, err)
			assert.Equal(t, page.NextCursor, u.Query().Get("cursor"))
			assert.Equal(t, "queued", u.Query().Get("status"))
			assert.Equal(t, a.ID.String(), u.Query().Get("plan_id"))
		} else {
			assert.Empty(t, page.NextCursor)
		}
		require.Less(t, pages, 10, "pagination does not end")
	}
	assert.Equal(t, want, got)
	assert.Equal(t, 3, pages)

	res = e.request(http.MethodGet, "/execution?status=cancelled", nil)
	require.Equal(t, http.StatusOK, res.Status)
	var page ExecutionList
	res.decode(t, &page)
	require.Len(t, page.Executions, 1)
	assert.Equal(t, cancelled.ID, page.Executions[0].ID)
}

func TestListExecutionsRejectsBadParameters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := []struct {
		query    string
		status   int
		location string
	}{
		{"status=sleeping", 422, "query.status"},
		{"plan_id=nope", 422, "query.plan_id"},
		{"cursor=%25%25%25", 400, "query.cursor"},
		{"limit=500", 422, "query.limit"},
		{"page=2", 422, "query.page"},
	}
	for _, tc := range cases {
		res := e.request(http.MethodGet, "/execution?"+tc.query, nil)
		require.Equal(t, tc.status, res.Status, "%s: %s", tc.query, res.Body)
		assert.Contains(t, res.problem(t).locations(), tc.location, tc.query)
	}
}

func TestCancelQueuedExecution(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Stop", nil)
	x := e.execute(p.ID)
	path := "/execution/" + x.ID.String() + "/cancel"

	res := e.request(http.MethodPost, path, nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var got Execution
	res.decode(t, &got)
	assert.Equal(t, "cancelled", got.Status)
	assert.NotNil(t, got.FinishedAt)
	assert.Equal(t, "/execution/"+x.ID.String(), res.Header.Get("Location"))

	job, err := e.raw.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(x.ID))
	require.NoError(t, err)
	assert.Equal(t, storage.JobCancelled, job.State)
	stored, err := e.raw.ExecutionGetByID(context.Background(), x.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.ExecutionCancelled, stored.Status)

	res = e.request(http.MethodPost, path, nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).Detail, "already cancelled")

	res = e.request(http.MethodPost, "/execution/"+uuid.NewString()+"/cancel", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	res.problem(t)
}

func TestCancelRunningExecutionFlagsItsJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Running", nil)
	x := e.execute(p.ID)
	ctx := context.Background()
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w1", Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: x.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)

	res := e.request(http.MethodPost, "/execution/"+x.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
	var got Execution
	res.decode(t, &got)
	assert.Equal(t, "running", got.Status, "the worker marks it cancelled")

	job, err := e.raw.JobGet(ctx, claimed[0].ID)
	require.NoError(t, err)
	assert.Equal(t, storage.JobRunning, job.State)
	assert.True(t, job.CancelRequested)

	// Asking again is harmless while it still runs.
	res = e.request(http.MethodPost, "/execution/"+x.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusAccepted, res.Status, "body: %s", res.Body)
}

func TestCancelFinishedExecutionConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.createPlan("Done", nil)
	x := e.execute(p.ID)
	ctx := context.Background()
	claimed, err := e.raw.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w1", Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: x.ID, Status: storage.ExecutionRunning, Attempt: 1})
	require.NoError(t, err)
	_, err = e.raw.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: x.ID, Status: storage.ExecutionPassed, Result: json.RawMessage(`{"plan_revision":7,"status":"passed"}`)})
	require.NoError(t, err)
	require.NoError(t, e.raw.JobComplete(ctx, storage.JobRef{ID: claimed[0].ID, Token: claimed[0].LeaseToken}))

	res := e.request(http.MethodPost, "/execution/"+x.ID.String()+"/cancel", nil)
	require.Equal(t, http.StatusConflict, res.Status, "body: %s", res.Body)
	assert.Contains(t, res.problem(t).Detail, "already passed")

	got := e.request(http.MethodGet, "/execution/"+x.ID.String(), nil)
	require.Equal(t, http.StatusOK, got.Status)
	var again Execution
	got.decode(t, &again)
	assert.Equal(t, "passed", again.Status)
	require.NotNil(t, again.Result)
	assert.Equal(t, int64(7), again.Result.PlanRevision)
	assert.Equal(t, "passed", again.Result.Status)
}
