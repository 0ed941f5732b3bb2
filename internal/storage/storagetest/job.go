package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func jobCases() []testCase {
	return []testCase{
		{"EnqueueFillsDefaults", testJobEnqueueDefaults},
		{"EnqueueKeepsGivenFields", testJobEnqueueFields},
		{"GetReturnsErrNotFoundForUnknownID", testJobGetUnknown},
		{"GetByUniqueKeyReturnsTheNewestJobOfTheKey", testJobGetByUniqueKey},
		{"IDsByUniqueKeysReturnsTheNewestJobOfEachKnownKey", testJobIDsByUniqueKeys},
		{"EnqueueWithALiveUniqueKeyReturnsTheSameJob", testJobUniqueKey},
		{"UniqueKeyIsFreeAgainOnceTheJobIsFinal", testJobUniqueKeyFreed},
		{"ConcurrentEnqueuesOfOneUniqueKeyShareOneJob", testJobUniqueKeyConcurrent},
		{"EnqueueManyReturnsAnIDPerJob", testJobEnqueueMany},
		{"EnqueueManySkipsLiveUniqueKeys", testJobEnqueueManyUnique},
		{"EnqueueInARolledBackTxIsInvisible", testJobEnqueueRolledBack},
		{"ClaimOrdersByPriorityThenRunAtThenID", testJobClaimOrder},
		{"ClaimWithALimitTakesTheFirstJobsInOrder", testJobClaimBatch},
		{"ClaimSkipsJobsThatAreNotDue", testJobClaimNotDue},
		{"ClaimTakesOnlyTheNamedQueue", testJobClaimQueue},
		{"ClaimStampsAttemptAndLease", testJobClaimStamps},
		{"ClaimNeverReturnsAClaimedJobAgain", testJobClaimOnce},
		{"ConcurrentClaimersClaimEachJobExactlyOnce", testJobConcurrentClaims},
		{"CompleteWithTheRightTokenCompletesTheJob", testJobComplete},
		{"CompleteReturnsErrLeaseLostForAWrongToken", testJobCompleteWrongToken},
		{"CompleteReturnsErrNotFoundForUnknownID", testJobCompleteUnknown},
		{"CompleteTwiceReturnsErrLeaseLost", testJobCompleteTwice},
		{"CompleteManyReturnsOnlyTheJobsHeld", testJobCompleteMany},
		{"FailWithAttemptsLeftMakesTheJobRetryable", testJobFailRetry},
		{"FailRecordsEveryAttemptInErrors", testJobFailHistory},
		{"FailWithoutRetryDiscardsTheJob", testJobFailNoRetry},
		{"FailOnTheLastAttemptDiscardsTheJob", testJobFailLastAttempt},
		{"FailReturnsErrLeaseLostOrErrNotFound", testJobFailLost},
		{"FailManyReturnsOnlyTheJobsHeld", testJobFailMany},
		{"ExtendLeaseReturnsOnlyHeldJobs", testJobExtendLease},
		{"BatchUpdatesInAnyOrderDoNotDeadlock", testJobBatchesDoNotDeadlock},
		{"CancelAvailableJobCancelsItForGood", testJobCancelAvailable},
		{"CancelRetryableJobCancelsIt", testJobCancelRetryable},
		{"CancelRunningJobFlagsItForItsWorker", testJobCancelRunning},
		{"CancelFinishedJobReturnsErrConflict", testJobCancelFinished},
		{"CancelReturnsErrNotFoundForUnknownID", testJobCancelUnknown},
		{"ReleaseMakesTheJobAvailableWithItsAttemptRestored", testJobRelease},
		{"ReleaseOfACancelRequestedJobCancelsIt", testJobReleaseCancelled},
		{"RescueMakesAnExpiredJobRetryableAndFencesTheOldToken", testJobRescue},
		{"RescueOnTheLastAttemptDiscardsTheJob", testJobRescueLastAttempt},
		{"RescueOfACancelRequestedJobCancelsIt", testJobRescueCancelled},
		{"RescueLeavesAJobCompletedAfterExpiryAlone", testJobRescueAfterComplete},
		{"CompleteRacingRescueHasExactlyOneEffect", testJobCompleteRacesRescue},
		{"RescueNeverTouchesAFreshReclaim", testJobRescueReclaim},
		{"ListFiltersByQueueStateAndKind", testJobListFilters},
		{"ListWalksPagesNewestFirst", testJobListWalk},
		{"ListRejectsMalformedCursorsAndStates", testJobListMalformed},
		{"ListDefaultsAndCapsTheLimit", testJobListLimits},
		{"StatsCountByQueueAndState", testJobStats},
		{"PruneDeletesOnlyOldFinalJobs", testJobPrune},
		{"BatchUpdatesMatchEachIDWithItsOwnToken", testJobBatchCrossedTokens},
		{"EnqueueManyKeepsPayloadsAndReturnsIDsInOrder", testJobEnqueueManyBytesAndOrder},
		{"EnqueueManyTakesLargeBatches", testJobEnqueueManyLarge},
		{"VacuumKeepsEveryJobAndWorksInsideATx", testJobVacuum},
		{"EnqueueKeepsTheTraceContextThroughClaimGetAndList", testJobTraceContext},
	}
}

// enqueue adds a job and fails the test if it cannot.
func enqueue(t *testing.T, ctx context.Context, s storage.Store, p storage.JobEnqueueParams) *storage.Job {
	t.Helper()
	j, err := s.JobEnqueue(ctx, &p)
	require.NoError(t, err, "enqueue %s", p.Kind)
	return j
}

// claim claims up to limit jobs of queue for worker.
func claim(t *testing.T, ctx context.Context, s storage.Store, queue, worker string, limit int, lease time.Duration) []*storage.Job {
	t.Helper()
	jobs, err := s.JobClaim(ctx, &storage.JobClaimParams{Queue: queue, Worker: worker, Limit: limit, Lease: lease})
	require.NoError(t, err, "claim %s", queue)
	return jobs
}

// claimOne claims exactly one job of queue.
func claimOne(t *testing.T, ctx context.Context, s storage.Store, queue string, lease time.Duration) *storage.Job {
	t.Helper()
	jobs := claim(t, ctx, s, queue, "worker", 1, lease)
	require.Len(t, jobs, 1, "claim one job of %s", queue)
	return jobs[0]
}

// enqueueAndClaim enqueues a job on its own queue and claims it.
func enqueueAndClaim(t *testing.T, ctx context.Context, s storage.Store, p storage.JobEnqueueParams, lease time.Duration) *storage.Job {
	t.Helper()
	if p.Queue == "" {
		p.Queue = "q-" + p.Kind
	}
	j := enqueue(t, ctx, s, p)
	got := claimOne(t, ctx, s, p.Queue, lease)
	require.Equal(t, j.ID, got.ID)
	return got
}

func getJob(t *testing.T, ctx context.Context, s storage.Store, id int64) *storage.Job {
	t.Helper()
	j, err := s.JobGet(ctx, id)
	require.NoError(t, err, "get job %d", id)
	return j
}

func ref(j *storage.Job) storage.JobRef { return storage.JobRef{ID: j.ID, Token: j.LeaseToken} }

func jobIDs(jobs []*storage.Job) []int64 {
	ids := make([]int64, 0, len(jobs))
	for _, j := range jobs {
		ids = append(ids, j.ID)
	}
	return ids
}

// rescueUntil calls JobRescue until it has rescued want jobs in all. It
// waits for leases to expire by the database's clock, and fails only if
// they never do.
func rescueUntil(t *testing.T, ctx context.Context, s storage.Store, want int64) {
	t.Helper()
	var total int64
	deadline := time.Now().Add(expiryGuard)
	for total < want {
		n, err := s.JobRescue(ctx, 100)
		require.NoError(t, err)
		total += n
		if total >= want {
			break
		}
		if time.Now().After(deadline) {
			require.FailNow(t, "leases never expired", "rescued %d of %d jobs", total, want)
		}
		time.Sleep(tinyLease / 5)
	}
	require.Equal(t, want, total, "rescued more jobs than had expired")
	n, err := s.JobRescue(ctx, 100)
	require.NoError(t, err)
	require.Zero(t, n, "a second rescue pass found more jobs")
}

// assertLeaseExpiredError checks that the last error of j records a lease
// that expired on the given attempt.
func assertLeaseExpiredError(t *testing.T, j *storage.Job, attempt int) {
	t.Helper()
	assert.Equal(t, "lease expired", j.LastError)
	if assert.NotEmpty(t, j.Errors) {
		last := j.Errors[len(j.Errors)-1]
		assert.Equal(t, "lease expired", last.Error)
		assert.Equal(t, attempt, last.Attempt)
		assertRecent(t, last.At, "Errors[].At")
	}
}

func testJobEnqueueDefaults(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "email"})
	assert.Positive(t, j.ID)
	assert.Equal(t, storage.DefaultQueue, j.Queue)
	assert.Equal(t, "email", j.Kind)
	assertJSONEq(t, `{}`, j.Payload, "Payload")
	assert.Zero(t, j.Priority)
	assertRecent(t, j.RunAt, "RunAt")
	assert.Equal(t, storage.JobAvailable, j.State)
	assert.Zero(t, j.Attempt)
	assert.Equal(t, storage.DefaultMaxAttempts, j.MaxAttempts)
	assert.Empty(t, j.LastError)
	assert.Empty(t, j.Errors)
	assert.Empty(t, j.LeaseOwner)
	assert.Zero(t, j.LeaseToken)
	assert.Nil(t, j.LeaseExpiresAt)
	assert.False(t, j.CancelRequested)
	assert.Empty(t, j.UniqueKey)
	assertRecent(t, j.CreatedAt, "CreatedAt")
	assert.Nil(t, j.FinishedAt)

	got := getJob(t, ctx, s, j.ID)
	assert.Equal(t, j.Queue, got.Queue)
	assert.Equal(t, j.State, got.State)
	assert.Equal(t, j.MaxAttempts, got.MaxAttempts)
	assertJSONEq(t, `{}`, got.Payload, "Payload")
	assertSameTime(t, j.RunAt, got.RunAt, "RunAt")
	assertSameTime(t, j.CreatedAt, got.CreatedAt, "CreatedAt")

	// A due job is claimable at once.
	assert.Equal(t, j.ID, claimOne(t, ctx, s, storage.DefaultQueue, longLease).ID)
}

func testJobEnqueueFields(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	runAt := time.Now().Add(90 * time.Minute)
	payload := `{"to": "ops@example.test", "tags": ["a", "b"], "n": 1.5, "nested": {"z": null, "a": "ü"}}`
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{
		Queue: "mail", Kind: "email", Payload: json.RawMessage(payload),
		Priority: 7, RunAt: runAt, MaxAttempts: 3, UniqueKey: "email:42",
	})
	got := getJob(t, ctx, s, j.ID)
	for _, job := range []*storage.Job{j, got} {
		assert.Equal(t, "mail", job.Queue)
		assert.Equal(t, "email", job.Kind)
		assertJSONEq(t, payload, job.Payload, "Payload")
		assert.Equal(t, 7, job.Priority)
		assert.WithinDuration(t, runAt, job.RunAt, time.Millisecond, "RunAt")
		assert.Equal(t, 3, job.MaxAttempts)
		assert.Equal(t, "email:42", job.UniqueKey)
		assert.Equal(t, storage.JobAvailable, job.State)
	}
}

func testJobGetUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	_, err := s.JobGet(ctx, j.ID+1000)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.JobGet(ctx, 0)
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testJobUniqueKey(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	first := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", UniqueKey: "sync:1", Payload: json.RawMessage(`{"n":1}`)})
	second := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", UniqueKey: "sync:1", Payload: json.RawMessage(`{"n":2}`)})
	assert.Equal(t, first.ID, second.ID)
	assertJSONEq(t, `{"n":1}`, second.Payload, "the first job's payload")

	// Still held while the job runs.
	claimOne(t, ctx, s, storage.DefaultQueue, longLease)
	third := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", UniqueKey: "sync:1"})
	assert.Equal(t, first.ID, third.ID)
	assert.Equal(t, storage.JobRunning, third.State)

	// Another key is another job.
	other := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", UniqueKey: "sync:2"})
	assert.NotEqual(t, first.ID, other.ID)

	page, err := s.JobList(ctx, &storage.JobListParams{})
	require.NoError(t, err)
	assert.Len(t, page.Jobs, 2)
}

func testJobUniqueKeyFreed(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	first := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", UniqueKey: "sync:1"}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(first)))

	second := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", Queue: first.Queue, UniqueKey: "sync:1"})
	assert.NotEqual(t, first.ID, second.ID, "a completed job no longer holds its key")
	assert.Equal(t, storage.JobAvailable, second.State)

	// Cancelled and discarded jobs free it too.
	_, err := s.JobCancel(ctx, second.ID)
	require.NoError(t, err)
	third := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", Queue: first.Queue, UniqueKey: "sync:1"})
	assert.NotEqual(t, second.ID, third.ID, "a cancelled job no longer holds its key")

	claimed := claimOne(t, ctx, s, first.Queue, longLease)
	_, err = s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(claimed), Error: "fatal"})
	require.NoError(t, err)
	fourth := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "sync", Queue: first.Queue, UniqueKey: "sync:1"})
	assert.NotEqual(t, third.ID, fourth.ID, "a discarded job no longer holds its key")
}

func testJobUniqueKeyConcurrent(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const writers = 8
	ids := make([]int64, writers)
	errs := make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			j, err := s.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "sync", UniqueKey: "sync:1"})
			if err == nil {
				ids[i] = j.ID
			}
			errs[i] = err
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
		assert.Equal(t, ids[0], ids[i], "writer %d got another job", i)
	}
	assert.Len(t, listJobs(t, ctx, s, storage.JobListParams{}), 1)
}

func testJobEnqueueMany(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	ids, err := s.JobEnqueueMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, ids)

	runAt := time.Now().Add(time.Hour)
	params := []*storage.JobEnqueueParams{
		{Kind: "a"},
		{Kind: "b", Queue: "other", Payload: json.RawMessage(`{"x":[1,2]}`), Priority: 3, MaxAttempts: 2},
		{Kind: "c", RunAt: runAt, UniqueKey: "c:1"},
	}
	ids, err = s.JobEnqueueMany(ctx, params)
	require.NoError(t, err)
	require.Len(t, ids, 3)

	byKind := map[string]*storage.Job{}
	for _, id := range ids {
		j := getJob(t, ctx, s, id)
		byKind[j.Kind] = j
	}
	require.Len(t, byKind, 3, "one ID per job")
	a, b, c := byKind["a"], byKind["b"], byKind["c"]
	assert.Equal(t, storage.DefaultQueue, a.Queue)
	assertJSONEq(t, `{}`, a.Payload, "default payload")
	assert.Equal(t, storage.DefaultMaxAttempts, a.MaxAttempts)
	assertRecent(t, a.RunAt, "default RunAt")
	assert.Equal(t, storage.JobAvailable, a.State)
	assert.Equal(t, "other", b.Queue)
	assertJSONEq(t, `{"x":[1,2]}`, b.Payload, "Payload")
	assert.Equal(t, 3, b.Priority)
	assert.Equal(t, 2, b.MaxAttempts)
	assert.WithinDuration(t, runAt, c.RunAt, time.Millisecond, "RunAt")
	assert.Equal(t, "c:1", c.UniqueKey)
}

func testJobEnqueueManyUnique(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	held := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "held", UniqueKey: "k1"})
	ids, err := s.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{
		{Kind: "plain"},
		{Kind: "dup-of-held", UniqueKey: "k1"},
		{Kind: "new-key", UniqueKey: "k2"},
		{Kind: "dup-in-batch", UniqueKey: "k2"},
	})
	require.NoError(t, err)
	require.Len(t, ids, 2, "IDs of the jobs added only")
	assert.NotContains(t, ids, held.ID)

	kinds := map[string]bool{}
	for _, id := range ids {
		kinds[getJob(t, ctx, s, id).Kind] = true
	}
	assert.True(t, kinds["plain"])
	assert.False(t, kinds["dup-of-held"])
	assert.True(t, kinds["new-key"] != kinds["dup-in-batch"], "exactly one job holds k2")

	page, err := s.JobList(ctx, &storage.JobListParams{})
	require.NoError(t, err)
	assert.Len(t, page.Jobs, 3)
}

func testJobEnqueueRolledBack(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	errRollback := errors.New("roll back")
	err := s.InTx(ctx, func(tx storage.Store) error {
		j := enqueue(t, ctx, tx, storage.JobEnqueueParams{Kind: "ghost", UniqueKey: "ghost"})
		_, err := tx.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{{Kind: "ghost-many"}})
		require.NoError(t, err)
		// Visible inside its own transaction.
		assert.Equal(t, j.ID, getJob(t, ctx, tx, j.ID).ID)
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)

	page, err := s.JobList(ctx, &storage.JobListParams{})
	require.NoError(t, err)
	assert.Empty(t, page.Jobs)
	assert.Empty(t, claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease))
	assertNoJobStats(t, ctx, s)

	// The unique key was never held.
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "ghost", UniqueKey: "ghost"})
	assert.Equal(t, storage.JobAvailable, j.State)
}

// assertNoJobStats checks that JobStats counts no job at all.
func assertNoJobStats(t *testing.T, ctx context.Context, s storage.Store) {
	t.Helper()
	stats, err := s.JobStats(ctx)
	require.NoError(t, err)
	for _, q := range stats {
		for state, n := range q.Counts {
			assert.Zero(t, n, "queue %s has %d %s jobs", q.Queue, n, state)
		}
	}
}

func testJobClaimOrder(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	base := time.Now().Add(-time.Hour)
	add := func(kind string, priority int, runAt time.Time) int64 {
		return enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: kind, Priority: priority, RunAt: runAt}).ID
	}
	a := add("a", 0, base.Add(3*time.Minute))
	b := add("b", 10, base.Add(2*time.Minute))
	c := add("c", 10, base.Add(1*time.Minute))
	d := add("d", 0, base.Add(3*time.Minute)) // ties with a; a has the lower ID
	e := add("e", -5, base)
	f := add("f", 0, base.Add(2*time.Minute))
	future := add("future", 100, time.Now().Add(time.Hour))

	var got []int64
	for range 6 {
		got = append(got, claimOne(t, ctx, s, storage.DefaultQueue, longLease).ID)
	}
	assert.Equal(t, []int64{c, b, f, a, d, e}, got)
	assert.Empty(t, claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease), "only the future job is left")
	assert.Equal(t, storage.JobAvailable, getJob(t, ctx, s, future).State)
}

func testJobClaimBatch(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	byPriority := map[int]int64{}
	for p := range 5 {
		byPriority[p] = enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k", Priority: p}).ID
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 3, longLease)
	assert.ElementsMatch(t, []int64{byPriority[4], byPriority[3], byPriority[2]}, jobIDs(jobs))
	tokens := map[int64]bool{}
	for _, j := range jobs {
		assert.Equal(t, storage.JobRunning, j.State)
		assert.NotZero(t, j.LeaseToken)
		tokens[j.LeaseToken] = true
	}
	rest := claim(t, ctx, s, storage.DefaultQueue, "worker", 3, longLease)
	assert.ElementsMatch(t, []int64{byPriority[1], byPriority[0]}, jobIDs(rest))
	for _, j := range rest {
		assert.False(t, tokens[j.LeaseToken], "a new claim reuses a token of an earlier one")
	}
}

func testJobClaimNotDue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	later := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "later", RunAt: time.Now().Add(time.Hour), Priority: 10})
	assert.Empty(t, claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease))
	assert.Equal(t, storage.JobAvailable, getJob(t, ctx, s, later.ID).State)

	due := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "due", RunAt: time.Now().Add(-time.Second)})
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease)
	assert.Equal(t, []int64{due.ID}, jobIDs(jobs))
}

func testJobClaimQueue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k", Queue: "a"})
	b := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k", Queue: "b"})
	assert.Empty(t, claim(t, ctx, s, "c", "worker", 10, longLease))
	assert.Equal(t, []int64{b.ID}, jobIDs(claim(t, ctx, s, "b", "worker", 10, longLease)))
	assert.Equal(t, []int64{a.ID}, jobIDs(claim(t, ctx, s, "a", "worker", 10, longLease)))
}

func testJobClaimStamps(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k", Payload: json.RawMessage(`{"n":1}`)})
	before := time.Now()
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker-a", 5, longLease)
	require.Len(t, jobs, 1)
	c := jobs[0]
	assert.Equal(t, j.ID, c.ID)
	assert.Equal(t, storage.JobRunning, c.State)
	assert.Equal(t, 1, c.Attempt)
	assert.Equal(t, "worker-a", c.LeaseOwner)
	assert.NotZero(t, c.LeaseToken)
	assertJSONEq(t, `{"n":1}`, c.Payload, "Payload")
	require.NotNil(t, c.LeaseExpiresAt)
	assert.True(t, c.LeaseExpiresAt.After(before.Add(longLease/2)),
		"lease expires at %s, which is not about now+%s", c.LeaseExpiresAt, longLease)
	assert.Nil(t, c.FinishedAt)

	got := getJob(t, ctx, s, j.ID)
	assert.Equal(t, storage.JobRunning, got.State)
	assert.Equal(t, c.LeaseToken, got.LeaseToken)
	assert.Equal(t, "worker-a", got.LeaseOwner)
	require.NotNil(t, got.LeaseExpiresAt)
	assertSameTime(t, *c.LeaseExpiresAt, *got.LeaseExpiresAt, "LeaseExpiresAt")
}

func testJobClaimOnce(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	claimOne(t, ctx, s, storage.DefaultQueue, longLease)
	assert.Empty(t, claim(t, ctx, s, storage.DefaultQueue, "other", 10, longLease))
	assert.Equal(t, 1, getJob(t, ctx, s, j.ID).Attempt)
}

func testJobConcurrentClaims(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const jobs, workers, batch = 300, 8, 7
	params := make([]*storage.JobEnqueueParams, jobs)
	for i := range params {
		params[i] = &storage.JobEnqueueParams{Kind: "k", Queue: "busy", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	ids, err := s.JobEnqueueMany(ctx, params)
	require.NoError(t, err)
	require.Len(t, ids, jobs)

	var claimed atomic.Int64
	results := make([][]*storage.Job, workers)
	errs := make([]error, workers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			// Claim until every job is taken. A claimer may come back
			// empty while others hold locks; it just tries again.
			for claimed.Load() < jobs && ctx.Err() == nil {
				got, err := s.JobClaim(ctx, &storage.JobClaimParams{
					Queue: "busy", Worker: fmt.Sprintf("w%d", w), Limit: batch, Lease: longLease,
				})
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], got...)
				claimed.Add(int64(len(got)))
			}
		})
	}
	close(start)
	wg.Wait()
	for w, err := range errs {
		require.NoError(t, err, "worker %d", w)
	}
	require.NoError(t, ctx.Err(), "claimers did not take every job")

	owner := map[int64]int{}
	for w, got := range results {
		for _, j := range got {
			prev, dup := owner[j.ID]
			assert.False(t, dup, "job %d claimed by workers %d and %d", j.ID, prev, w)
			owner[j.ID] = w
			assert.Equal(t, 1, j.Attempt)
			assert.Equal(t, fmt.Sprintf("w%d", w), j.LeaseOwner)
		}
	}
	assert.Len(t, owner, jobs)
	assert.ElementsMatch(t, ids, mapKeys(owner))
	assert.Empty(t, claim(t, ctx, s, "busy", "late", 10, longLease))

	running := listJobs(t, ctx, s, storage.JobListParams{Queue: "busy", State: storage.JobRunning, Limit: storage.MaxPageLimit})
	assert.Len(t, running, jobs)
}

func mapKeys[K comparable, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func testJobComplete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(c)))
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobCompleted, got.State)
	require.NotNil(t, got.FinishedAt)
	assertRecent(t, *got.FinishedAt, "FinishedAt")
	assert.Nil(t, got.LeaseExpiresAt, "a finished job holds no lease")
	assert.Equal(t, 1, got.Attempt)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobCompleteWrongToken(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	err := s.JobComplete(ctx, storage.JobRef{ID: c.ID, Token: c.LeaseToken + 1})
	require.ErrorIs(t, err, storage.ErrLeaseLost)
	require.NotErrorIs(t, err, storage.ErrNotFound)
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobRunning, got.State)
	assert.Equal(t, c.LeaseToken, got.LeaseToken)

	// A job never claimed is not held by anyone either.
	avail := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k", Queue: "idle"})
	require.ErrorIs(t, s.JobComplete(ctx, storage.JobRef{ID: avail.ID, Token: 0}), storage.ErrLeaseLost)
	assert.Equal(t, storage.JobAvailable, getJob(t, ctx, s, avail.ID).State)
}

func testJobCompleteUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	err := s.JobComplete(ctx, storage.JobRef{ID: c.ID + 1000, Token: c.LeaseToken})
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrLeaseLost)
}

func testJobCompleteTwice(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(c)))
	first := getJob(t, ctx, s, c.ID)
	require.ErrorIs(t, s.JobComplete(ctx, ref(c)), storage.ErrLeaseLost)
	second := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobCompleted, second.State)
	require.NotNil(t, second.FinishedAt)
	assertSameTime(t, *first.FinishedAt, *second.FinishedAt, "FinishedAt")
}

func testJobCompleteMany(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 3 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 3, longLease)
	require.Len(t, jobs, 3)
	done, err := s.JobCompleteMany(ctx, []storage.JobRef{
		ref(jobs[0]),
		{ID: jobs[1].ID, Token: jobs[1].LeaseToken + 1},
		ref(jobs[2]),
		{ID: jobs[2].ID + 1000, Token: jobs[2].LeaseToken},
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, []int64{jobs[0].ID, jobs[2].ID}, done)
	assert.Equal(t, storage.JobCompleted, getJob(t, ctx, s, jobs[0].ID).State)
	assert.Equal(t, storage.JobRunning, getJob(t, ctx, s, jobs[1].ID).State)
	assert.Equal(t, storage.JobCompleted, getJob(t, ctx, s, jobs[2].ID).State)

	done, err = s.JobCompleteMany(ctx, []storage.JobRef{ref(jobs[0])})
	require.NoError(t, err)
	assert.Empty(t, done, "completing again completes nothing")
	done, err = s.JobCompleteMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, done)
}

func testJobFailRetry(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	const retryAfter = time.Hour
	before := time.Now()
	failed, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(c), Error: "boom", Retry: true, RetryAfter: retryAfter})
	require.NoError(t, err)

	for _, j := range []*storage.Job{failed, getJob(t, ctx, s, c.ID)} {
		assert.Equal(t, storage.JobRetryable, j.State)
		assert.True(t, j.RunAt.After(before.Add(retryAfter/2)), "RunAt %s is not about now+%s", j.RunAt, retryAfter)
		assert.Equal(t, "boom", j.LastError)
		require.Len(t, j.Errors, 1)
		assert.Equal(t, "boom", j.Errors[0].Error)
		assert.Equal(t, 1, j.Errors[0].Attempt)
		assertRecent(t, j.Errors[0].At, "Errors[0].At")
		assert.Equal(t, 1, j.Attempt, "the failed attempt counts")
		assert.Nil(t, j.FinishedAt, "a retryable job is not finished")
		assert.Nil(t, j.LeaseExpiresAt)
	}
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease), "not due before RetryAfter")
	require.ErrorIs(t, s.JobComplete(ctx, ref(c)), storage.ErrLeaseLost, "failing gives the lease up")
}

func testJobFailHistory(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k", MaxAttempts: 3}, longLease)
	for attempt := 1; attempt <= 3; attempt++ {
		require.Equal(t, attempt, c.Attempt)
		failed, err := s.JobFail(ctx, &storage.JobFailParams{
			JobRef: ref(c), Error: fmt.Sprintf("boom %d", attempt), Retry: true,
		})
		require.NoError(t, err)
		require.Len(t, failed.Errors, attempt, "one error per failed attempt")
		if attempt < 3 {
			require.Equal(t, storage.JobRetryable, failed.State)
			// RetryAfter zero: due again at once.
			next := claimOne(t, ctx, s, c.Queue, longLease)
			require.Equal(t, c.ID, next.ID)
			assert.NotEqual(t, c.LeaseToken, next.LeaseToken, "each claim gets a fresh token")
			c = next
		} else {
			assert.Equal(t, storage.JobDiscarded, failed.State, "out of attempts")
		}
	}
	j := getJob(t, ctx, s, c.ID)
	assert.Equal(t, "boom 3", j.LastError)
	require.Len(t, j.Errors, 3)
	for i, e := range j.Errors {
		assert.Equal(t, i+1, e.Attempt, "oldest first")
		assert.Equal(t, fmt.Sprintf("boom %d", i+1), e.Error)
		if i > 0 {
			assert.False(t, e.At.Before(j.Errors[i-1].At), "errors out of order")
		}
	}
}

func testJobFailNoRetry(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	failed, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(c), Error: "fatal", Retry: false, RetryAfter: time.Hour})
	require.NoError(t, err)
	assert.Equal(t, storage.JobDiscarded, failed.State)
	require.NotNil(t, failed.FinishedAt)
	assert.Equal(t, "fatal", failed.LastError)
	require.Len(t, failed.Errors, 1)
	assert.Equal(t, storage.JobDiscarded, getJob(t, ctx, s, c.ID).State)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobFailLastAttempt(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k", MaxAttempts: 1}, longLease)
	failed, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(c), Error: "boom", Retry: true})
	require.NoError(t, err)
	assert.Equal(t, storage.JobDiscarded, failed.State)
	require.NotNil(t, failed.FinishedAt)
	assert.Equal(t, 1, failed.Attempt)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobFailLost(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	_, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: storage.JobRef{ID: c.ID, Token: c.LeaseToken + 1}, Error: "x", Retry: true})
	require.ErrorIs(t, err, storage.ErrLeaseLost)
	_, err = s.JobFail(ctx, &storage.JobFailParams{JobRef: storage.JobRef{ID: c.ID + 1000, Token: c.LeaseToken}, Error: "x", Retry: true})
	require.ErrorIs(t, err, storage.ErrNotFound)
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobRunning, got.State)
	assert.Empty(t, got.Errors)
	assert.Empty(t, got.LastError)
}

func testJobFailMany(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 3 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 3, longLease)
	require.Len(t, jobs, 3)
	updated, err := s.JobFailMany(ctx, []*storage.JobFailParams{
		{JobRef: ref(jobs[0]), Error: "retry me", Retry: true, RetryAfter: time.Hour},
		{JobRef: storage.JobRef{ID: jobs[1].ID, Token: jobs[1].LeaseToken + 1}, Error: "not mine", Retry: true},
		{JobRef: ref(jobs[2]), Error: "give up", Retry: false},
		{JobRef: storage.JobRef{ID: jobs[2].ID + 1000, Token: 1}, Error: "nobody", Retry: true},
	})
	require.NoError(t, err)
	assert.ElementsMatch(t, []int64{jobs[0].ID, jobs[2].ID}, updated)

	j0 := getJob(t, ctx, s, jobs[0].ID)
	assert.Equal(t, storage.JobRetryable, j0.State)
	assert.Equal(t, "retry me", j0.LastError)
	j1 := getJob(t, ctx, s, jobs[1].ID)
	assert.Equal(t, storage.JobRunning, j1.State)
	assert.Empty(t, j1.Errors)
	j2 := getJob(t, ctx, s, jobs[2].ID)
	assert.Equal(t, storage.JobDiscarded, j2.State)
	assert.Equal(t, "give up", j2.LastError)

	updated, err = s.JobFailMany(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, updated)
}

func testJobExtendLease(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 2 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 2, time.Minute)
	require.Len(t, jobs, 2)
	held, lost := jobs[0], jobs[1]

	before := time.Now()
	leases, err := s.JobExtendLease(ctx, []storage.JobRef{
		ref(held),
		{ID: lost.ID, Token: lost.LeaseToken + 1},
		{ID: lost.ID + 1000, Token: 1},
	}, longLease)
	require.NoError(t, err)
	assert.Equal(t, []storage.JobLease{{ID: held.ID, CancelRequested: false}}, leases)

	got := getJob(t, ctx, s, held.ID)
	require.NotNil(t, got.LeaseExpiresAt)
	assert.True(t, got.LeaseExpiresAt.After(before.Add(longLease/2)), "lease not extended: %s", got.LeaseExpiresAt)
	assert.Equal(t, held.LeaseToken, got.LeaseToken, "extending keeps the token")
	other := getJob(t, ctx, s, lost.ID)
	assertSameTime(t, *lost.LeaseExpiresAt, *other.LeaseExpiresAt, "a wrong token extended a lease")

	// A finished job has no lease to extend.
	require.NoError(t, s.JobComplete(ctx, ref(held)))
	leases, err = s.JobExtendLease(ctx, []storage.JobRef{ref(held)}, longLease)
	require.NoError(t, err)
	assert.Empty(t, leases)
}

func testJobCancelAvailable(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	cancelled, err := s.JobCancel(ctx, j.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.JobCancelled, cancelled.State)
	require.NotNil(t, cancelled.FinishedAt)
	assert.Equal(t, storage.JobCancelled, getJob(t, ctx, s, j.ID).State)
	assert.Empty(t, claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease), "a cancelled job never runs")
}

func testJobCancelRetryable(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	_, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(c), Error: "boom", Retry: true})
	require.NoError(t, err)
	cancelled, err := s.JobCancel(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.JobCancelled, cancelled.State)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobCancelRunning(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	flagged, err := s.JobCancel(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, storage.JobRunning, flagged.State, "a running job keeps running until its worker notices")
	assert.True(t, flagged.CancelRequested)
	assert.Nil(t, flagged.FinishedAt)
	assert.Equal(t, c.LeaseToken, flagged.LeaseToken)

	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobRunning, got.State)
	assert.True(t, got.CancelRequested)

	leases, err := s.JobExtendLease(ctx, []storage.JobRef{ref(c)}, longLease)
	require.NoError(t, err)
	assert.Equal(t, []storage.JobLease{{ID: c.ID, CancelRequested: true}}, leases)

	failed, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(c), Error: "cancelled", Retry: true})
	require.NoError(t, err)
	assert.Equal(t, storage.JobCancelled, failed.State, "a failed, cancel-requested job is cancelled, not retried")
	require.NotNil(t, failed.FinishedAt)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobCancelFinished(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(c)))
	_, err := s.JobCancel(ctx, c.ID)
	require.ErrorIs(t, err, storage.ErrConflict)
	require.NotErrorIs(t, err, storage.ErrNotFound)
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobCompleted, got.State)
	assert.False(t, got.CancelRequested)

	// Cancelling twice: the second finds a finished job.
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	_, err = s.JobCancel(ctx, j.ID)
	require.NoError(t, err)
	_, err = s.JobCancel(ctx, j.ID)
	require.ErrorIs(t, err, storage.ErrConflict)
}

func testJobCancelUnknown(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	_, err := s.JobCancel(ctx, j.ID+1000)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NotErrorIs(t, err, storage.ErrConflict)
}

func testJobRelease(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 2 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 2, longLease)
	require.Len(t, jobs, 2)
	c, other := jobs[0], jobs[1]

	released, err := s.JobRelease(ctx, []storage.JobRef{ref(c), {ID: other.ID, Token: other.LeaseToken + 1}})
	require.NoError(t, err)
	assert.Equal(t, []int64{c.ID}, released)

	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobAvailable, got.State)
	assert.Zero(t, got.Attempt, "a released attempt does not count")
	assert.Nil(t, got.LeaseExpiresAt)
	assert.Nil(t, got.FinishedAt)
	assert.Empty(t, got.Errors)
	assert.Equal(t, storage.JobRunning, getJob(t, ctx, s, other.ID).State)

	again := claimOne(t, ctx, s, storage.DefaultQueue, longLease)
	assert.Equal(t, c.ID, again.ID, "claimable at once")
	assert.Equal(t, 1, again.Attempt)
	require.ErrorIs(t, s.JobComplete(ctx, ref(c)), storage.ErrLeaseLost, "the released token no longer holds the job")
	require.NoError(t, s.JobComplete(ctx, ref(again)))

	released, err = s.JobRelease(ctx, []storage.JobRef{ref(again)})
	require.NoError(t, err)
	assert.Empty(t, released, "a completed job is not released")
}

func testJobReleaseCancelled(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, longLease)
	_, err := s.JobCancel(ctx, c.ID)
	require.NoError(t, err)
	released, err := s.JobRelease(ctx, []storage.JobRef{ref(c)})
	require.NoError(t, err)
	assert.Equal(t, []int64{c.ID}, released)
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobCancelled, got.State)
	assert.NotNil(t, got.FinishedAt)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobRescue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, tinyLease)
	held := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "held"}, longLease)
	rescueUntil(t, ctx, s, 1)

	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobRetryable, got.State)
	assert.Equal(t, 1, got.Attempt, "a rescued attempt counts")
	assertLeaseExpiredError(t, got, 1)
	assert.Nil(t, got.FinishedAt)
	assert.Nil(t, got.LeaseExpiresAt)
	assert.Equal(t, storage.JobRunning, getJob(t, ctx, s, held.ID).State, "an unexpired lease was rescued")

	// The old token is fenced off and changes nothing.
	require.ErrorIs(t, s.JobComplete(ctx, ref(c)), storage.ErrLeaseLost)
	_, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(c), Error: "late", Retry: true})
	require.ErrorIs(t, err, storage.ErrLeaseLost)
	leases, err := s.JobExtendLease(ctx, []storage.JobRef{ref(c)}, longLease)
	require.NoError(t, err)
	assert.Empty(t, leases)
	after := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobRetryable, after.State)
	assert.Len(t, after.Errors, len(got.Errors))

	// Retryable and due at once.
	again := claimOne(t, ctx, s, c.Queue, longLease)
	assert.Equal(t, c.ID, again.ID)
	assert.Equal(t, 2, again.Attempt)
}

func testJobRescueLastAttempt(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k", MaxAttempts: 1}, tinyLease)
	rescueUntil(t, ctx, s, 1)
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobDiscarded, got.State)
	assert.NotNil(t, got.FinishedAt)
	assertLeaseExpiredError(t, got, 1)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobRescueCancelled(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	c := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, tinyLease)
	_, err := s.JobCancel(ctx, c.ID)
	require.NoError(t, err)
	rescueUntil(t, ctx, s, 1)
	got := getJob(t, ctx, s, c.ID)
	assert.Equal(t, storage.JobCancelled, got.State)
	assert.NotNil(t, got.FinishedAt)
	assert.Empty(t, claim(t, ctx, s, c.Queue, "worker", 10, longLease))
}

func testJobRescueAfterComplete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 2 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	jobs := claim(t, ctx, s, storage.DefaultQueue, "worker", 2, tinyLease)
	require.Len(t, jobs, 2)
	done, idle := jobs[0], jobs[1]
	time.Sleep(3 * tinyLease)

	// The lease has expired but nobody rescued the job yet: its token still
	// holds it.
	require.NoError(t, s.JobComplete(ctx, ref(done)))
	// Only the idle job is rescued; this also proves the leases expired.
	rescueUntil(t, ctx, s, 1)

	got := getJob(t, ctx, s, done.ID)
	assert.Equal(t, storage.JobCompleted, got.State)
	assert.Empty(t, got.Errors)
	assert.Empty(t, got.LastError)
	assert.Equal(t, storage.JobRetryable, getJob(t, ctx, s, idle.ID).State)
}

func testJobCompleteRacesRescue(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const rounds, perRound, rescuers = 3, 16, 4
	for round := range rounds {
		queue := fmt.Sprintf("race-%d", round)
		for range perRound {
			enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k", Queue: queue})
		}
		jobs := claim(t, ctx, s, queue, "worker", perRound, tinyLease)
		require.Len(t, jobs, perRound)
		time.Sleep(3 * tinyLease)

		completeErrs := make([]error, perRound)
		var rescued atomic.Int64
		rescueErrs := make([]error, rescuers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, j := range jobs {
			wg.Go(func() {
				<-start
				completeErrs[i] = s.JobComplete(ctx, ref(j))
			})
		}
		for r := range rescuers {
			wg.Go(func() {
				<-start
				for {
					n, err := s.JobRescue(ctx, 3)
					if err != nil {
						rescueErrs[r] = err
						return
					}
					rescued.Add(n)
					if n == 0 {
						return
					}
				}
			})
		}
		close(start)
		wg.Wait()
		for r, err := range rescueErrs {
			require.NoError(t, err, "rescuer %d", r)
		}

		var retryable int64
		for i, j := range jobs {
			got := getJob(t, ctx, s, j.ID)
			if completeErrs[i] == nil {
				assert.Equal(t, storage.JobCompleted, got.State, "round %d job %d: complete succeeded", round, j.ID)
				assert.Empty(t, got.Errors, "round %d job %d: completed and rescued", round, j.ID)
				continue
			}
			assert.ErrorIs(t, completeErrs[i], storage.ErrLeaseLost, "round %d job %d", round, j.ID)
			assert.Equal(t, storage.JobRetryable, got.State, "round %d job %d: complete lost", round, j.ID)
			assertLeaseExpiredError(t, got, 1)
			retryable++
		}
		t.Logf("round %d: %d completed, %d rescued", round, int64(perRound)-retryable, retryable)
		assert.Equal(t, retryable, rescued.Load(), "round %d: rescue count vs retryable jobs", round)
		n, err := s.JobRescue(ctx, 100)
		require.NoError(t, err)
		assert.Zero(t, n, "round %d: jobs left to rescue", round)
	}
}

func testJobRescueReclaim(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	a := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "k"}, tinyLease)
	rescueUntil(t, ctx, s, 1)

	bJobs := claim(t, ctx, s, a.Queue, "worker-b", 1, longLease)
	require.Len(t, bJobs, 1)
	b := bJobs[0]
	require.Equal(t, a.ID, b.ID)
	assert.NotEqual(t, a.LeaseToken, b.LeaseToken, "a new claim gets a new token")
	assert.Equal(t, 2, b.Attempt)
	assert.Equal(t, "worker-b", b.LeaseOwner)

	// A's lease is long past; B's is fresh and must survive rescue passes.
	time.Sleep(3 * tinyLease)
	n, err := s.JobRescue(ctx, 100)
	require.NoError(t, err)
	assert.Zero(t, n, "rescue took a fresh lease")
	got := getJob(t, ctx, s, b.ID)
	assert.Equal(t, storage.JobRunning, got.State)
	assert.Equal(t, b.LeaseToken, got.LeaseToken)
	assert.Equal(t, "worker-b", got.LeaseOwner)

	require.ErrorIs(t, s.JobComplete(ctx, ref(a)), storage.ErrLeaseLost, "worker A's old token")
	_, err = s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(a), Error: "late"})
	require.ErrorIs(t, err, storage.ErrLeaseLost)
	released, err := s.JobRelease(ctx, []storage.JobRef{ref(a)})
	require.NoError(t, err)
	assert.Empty(t, released)
	assert.Equal(t, storage.JobRunning, getJob(t, ctx, s, b.ID).State)

	require.NoError(t, s.JobComplete(ctx, ref(b)))
	assert.Equal(t, storage.JobCompleted, getJob(t, ctx, s, b.ID).State)
}

// listJobs returns every job that p selects, walking all pages.
func listJobs(t *testing.T, ctx context.Context, s storage.Store, p storage.JobListParams) []*storage.Job {
	t.Helper()
	return walkPages(t, storage.PageLimit(p.Limit), func(cursor string) ([]*storage.Job, string) {
		q := p
		q.Cursor = cursor
		page, err := s.JobList(ctx, &q)
		require.NoError(t, err)
		return page.Jobs, page.NextCursor
	})
}

func testJobListFilters(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	j1 := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q1", Kind: "k1"}).ID
	j2 := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q1", Kind: "k2"}).ID
	j3 := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q2", Kind: "k1"}).ID
	j4 := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q2", Kind: "k2", RunAt: time.Now().Add(time.Hour)}).ID
	j5 := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q1", Kind: "k1"}).ID
	require.Equal(t, j3, claimOne(t, ctx, s, "q2", longLease).ID)

	tests := []struct {
		name string
		p    storage.JobListParams
		want []int64
	}{
		{"All", storage.JobListParams{}, []int64{j5, j4, j3, j2, j1}},
		{"ByQueue", storage.JobListParams{Queue: "q1"}, []int64{j5, j2, j1}},
		{"ByState", storage.JobListParams{State: storage.JobRunning}, []int64{j3}},
		{"ByKind", storage.JobListParams{Kind: "k1"}, []int64{j5, j3, j1}},
		{"ByQueueAndKind", storage.JobListParams{Queue: "q1", Kind: "k1"}, []int64{j5, j1}},
		{"ByQueueAndState", storage.JobListParams{Queue: "q2", State: storage.JobAvailable}, []int64{j4}},
		{"ByAllThree", storage.JobListParams{Queue: "q2", State: storage.JobRunning, Kind: "k1"}, []int64{j3}},
		{"NoneInState", storage.JobListParams{State: storage.JobCompleted}, []int64{}},
		{"UnknownKind", storage.JobListParams{Kind: "nope"}, []int64{}},
		{"UnknownQueue", storage.JobListParams{Queue: "nope"}, []int64{}},
		{"ByQueuePaged", storage.JobListParams{Queue: "q1", Limit: 2}, []int64{j5, j2, j1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, jobIDs(listJobs(t, ctx, s, tt.p)))
		})
	}
}

func testJobListWalk(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	var want []int64 // Newest first.
	for i := range 5 {
		want = append([]int64{enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: fmt.Sprintf("k%d", i)}).ID}, want...)
	}
	var sizes []int
	jobs := walkPages(t, 2, func(cursor string) ([]*storage.Job, string) {
		page, err := s.JobList(ctx, &storage.JobListParams{Limit: 2, Cursor: cursor})
		require.NoError(t, err)
		sizes = append(sizes, len(page.Jobs))
		return page.Jobs, page.NextCursor
	})
	assert.Equal(t, want, jobIDs(jobs))
	assert.Equal(t, []int{2, 2, 1}, sizes)

	// A full last page has no NextCursor; a cursor survives its row.
	first, err := s.JobList(ctx, &storage.JobListParams{Limit: 4})
	require.NoError(t, err)
	require.NotEmpty(t, first.NextCursor)
	last, err := s.JobList(ctx, &storage.JobListParams{Limit: 1, Cursor: first.NextCursor})
	require.NoError(t, err)
	assert.Equal(t, want[4:], jobIDs(last.Jobs))
	assert.Empty(t, last.NextCursor)
	_, err = s.JobCancel(ctx, want[4])
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond)
	n, err := s.JobPrune(ctx, time.Millisecond, 100)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	past, err := s.JobList(ctx, &storage.JobListParams{Limit: 1, Cursor: first.NextCursor})
	require.NoError(t, err)
	assert.Empty(t, past.Jobs, "a cursor past the last row gives an empty page")
	assert.Empty(t, past.NextCursor)
}

func testJobListMalformed(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	for name, cursor := range malformedCursors(storage.ListJobs) {
		t.Run(name, func(t *testing.T) {
			_, err := s.JobList(ctx, &storage.JobListParams{Cursor: cursor})
			require.ErrorIs(t, err, storage.ErrInvalidInput, "cursor %q", cursor)
		})
	}
	t.Run("UnknownState", func(t *testing.T) {
		for _, state := range []storage.JobState{"bogus", "RUNNING", "scheduled"} {
			_, err := s.JobList(ctx, &storage.JobListParams{State: state})
			require.ErrorIs(t, err, storage.ErrInvalidInput, "state %q", state)
		}
	})
}

func testJobListLimits(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const total = storage.MaxPageLimit + 10
	params := make([]*storage.JobEnqueueParams, total)
	for i := range params {
		params[i] = &storage.JobEnqueueParams{Kind: "k"}
	}
	_, err := s.JobEnqueueMany(ctx, params)
	require.NoError(t, err)

	page, err := s.JobList(ctx, &storage.JobListParams{})
	require.NoError(t, err)
	assert.Len(t, page.Jobs, storage.DefaultPageLimit)
	assert.NotEmpty(t, page.NextCursor)

	page, err = s.JobList(ctx, &storage.JobListParams{Limit: 1000})
	require.NoError(t, err)
	assert.Len(t, page.Jobs, storage.MaxPageLimit)
	require.NotEmpty(t, page.NextCursor)
	rest, err := s.JobList(ctx, &storage.JobListParams{Limit: 1000, Cursor: page.NextCursor})
	require.NoError(t, err)
	assert.Len(t, rest.Jobs, total-storage.MaxPageLimit)
	assert.Empty(t, rest.NextCursor)
}

func testJobStats(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	assertNoJobStats(t, ctx, s)

	enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q1", Kind: "k", RunAt: time.Now().Add(-time.Minute)})
	enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "q1", Kind: "k", RunAt: time.Now().Add(time.Hour)})
	done := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Queue: "q2", Kind: "k", RunAt: time.Now().Add(-time.Hour)}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(done)))
	enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Queue: "q2", Kind: "k", RunAt: time.Now().Add(-time.Hour)}, longLease)

	stats, err := s.JobStats(ctx)
	require.NoError(t, err)
	byQueue := map[string]*storage.JobQueueStats{}
	counts := map[string]map[storage.JobState]int64{}
	for _, q := range stats {
		require.NotContains(t, byQueue, q.Queue, "queue %s listed twice", q.Queue)
		byQueue[q.Queue] = q
		for state, n := range q.Counts {
			if n != 0 {
				if counts[q.Queue] == nil {
					counts[q.Queue] = map[storage.JobState]int64{}
				}
				counts[q.Queue][state] = n
			}
		}
	}
	assert.Equal(t, map[string]map[storage.JobState]int64{
		"q1": {storage.JobAvailable: 2},
		"q2": {storage.JobRunning: 1, storage.JobCompleted: 1},
	}, counts)

	require.Contains(t, byQueue, "q1")
	age := byQueue["q1"].OldestAvailableAge
	assert.GreaterOrEqual(t, age, 30*time.Second, "the due job has waited a minute")
	assert.Less(t, age, recent, "the future job does not count; wrong unit?")
	require.Contains(t, byQueue, "q2")
	assert.Zero(t, byQueue["q2"].OldestAvailableAge, "running and completed jobs are not waiting")
}

func testJobPrune(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	completed := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "completed"}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(completed)))
	discarded := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "discarded"}, longLease)
	_, err := s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(discarded), Error: "fatal"})
	require.NoError(t, err)
	cancelled := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "cancelled"})
	_, err = s.JobCancel(ctx, cancelled.ID)
	require.NoError(t, err)
	retryable := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "retryable"}, longLease)
	_, err = s.JobFail(ctx, &storage.JobFailParams{JobRef: ref(retryable), Error: "again", Retry: true, RetryAfter: time.Hour})
	require.NoError(t, err)
	available := enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "available", Queue: "idle"})
	running := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Kind: "running"}, longLease)

	n, err := s.JobPrune(ctx, time.Hour, 100)
	require.NoError(t, err)
	assert.Zero(t, n, "nothing finished an hour ago")

	time.Sleep(10 * time.Millisecond)
	n, err = s.JobPrune(ctx, time.Millisecond, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(2), n, "prune honours its limit")
	n, err = s.JobPrune(ctx, time.Millisecond, 100)
	require.NoError(t, err)
	assert.Equal(t, int64(1), n)

	for _, id := range []int64{completed.ID, discarded.ID, cancelled.ID} {
		_, err := s.JobGet(ctx, id)
		require.ErrorIs(t, err, storage.ErrNotFound, "job %d was not pruned", id)
	}
	remaining := jobIDs(listJobs(t, ctx, s, storage.JobListParams{}))
	assert.Equal(t, []int64{running.ID, available.ID, retryable.ID}, remaining, "newest first")
}

// testJobGetByUniqueKey covers JobGetByUniqueKey: ErrNotFound for an unused
// key, the live job, and after it finishes and the key is reused, the
// newer job.
func testJobGetByUniqueKey(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.JobGetByUniqueKey(ctx, "nobody")
	require.ErrorIs(t, err, storage.ErrNotFound)

	first := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Queue: "ukey", Kind: "k", UniqueKey: "key-1"}, longLease)
	got, err := s.JobGetByUniqueKey(ctx, "key-1")
	require.NoError(t, err)
	assert.Equal(t, first.ID, got.ID)

	require.NoError(t, s.JobComplete(ctx, ref(first)))
	got, err = s.JobGetByUniqueKey(ctx, "key-1")
	require.NoError(t, err)
	assert.Equal(t, first.ID, got.ID, "a final job is still found")
	assert.Equal(t, storage.JobCompleted, got.State)

	second := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "ukey", Kind: "k", UniqueKey: "key-1"})
	require.NotEqual(t, first.ID, second.ID)
	got, err = s.JobGetByUniqueKey(ctx, "key-1")
	require.NoError(t, err)
	assert.Equal(t, second.ID, got.ID, "the newest job of the key wins")
}

// testJobIDsByUniqueKeys covers JobIDsByUniqueKeys: an empty map for no
// keys or unknown keys, the newest job of a reused key, and several keys in
// one call.
func testJobIDsByUniqueKeys(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	got, err := s.JobIDsByUniqueKeys(ctx, nil)
	require.NoError(t, err)
	assert.Empty(t, got)
	got, err = s.JobIDsByUniqueKeys(ctx, []string{"nobody"})
	require.NoError(t, err)
	assert.Empty(t, got)

	first := enqueueAndClaim(t, ctx, s, storage.JobEnqueueParams{Queue: "ids", Kind: "k", UniqueKey: "ids-1"}, longLease)
	require.NoError(t, s.JobComplete(ctx, ref(first)))
	second := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "ids", Kind: "k", UniqueKey: "ids-1"})
	other := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "ids", Kind: "k", UniqueKey: "ids-2"})
	enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "ids", Kind: "k"})

	got, err = s.JobIDsByUniqueKeys(ctx, []string{"ids-1", "ids-2", "nobody"})
	require.NoError(t, err)
	assert.Equal(t, map[string]int64{"ids-1": second.ID, "ids-2": other.ID}, got)
}

// testJobBatchesDoNotDeadlock runs heartbeats over the same held jobs in
// opposite orders from two goroutines, then completes them in shuffled
// halves at once: no call may fail (a deadlock is an error).
func testJobBatchesDoNotDeadlock(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const n = 200
	ps := make([]*storage.JobEnqueueParams, n)
	for i := range ps {
		ps[i] = &storage.JobEnqueueParams{Queue: "order", Kind: "k"}
	}
	_, err := s.JobEnqueueMany(ctx, ps)
	require.NoError(t, err)
	jobs := claim(t, ctx, s, "order", "w", n, longLease)
	require.Len(t, jobs, n)
	refs := make([]storage.JobRef, n)
	for i, j := range jobs {
		refs[i] = ref(j)
	}
	reversed := make([]storage.JobRef, n)
	for i, r := range refs {
		reversed[n-1-i] = r
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for _, order := range [][]storage.JobRef{refs, reversed} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if _, err := s.JobExtendLease(ctx, order, longLease); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	var done atomic.Int64
	halves := [][]storage.JobRef{reversed[:n/2+20], refs[:n/2+20]}
	for _, h := range halves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids, err := s.JobCompleteMany(ctx, h)
			assert.NoError(t, err)
			done.Add(int64(len(ids)))
		}()
	}
	wg.Wait()
	assert.Equal(t, int64(n), done.Load(), "every job completed exactly once")
}

// testJobBatchCrossedTokens pairs each of two jobs, held under different
// tokens, with the other's token: every batch update must match the pair,
// not the ID and the token separately.
func testJobBatchCrossedTokens(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for range 2 {
		enqueue(t, ctx, s, storage.JobEnqueueParams{Kind: "k"})
	}
	a := claimOne(t, ctx, s, storage.DefaultQueue, longLease)
	b := claimOne(t, ctx, s, storage.DefaultQueue, longLease)
	require.NotEqual(t, a.LeaseToken, b.LeaseToken, "each claim issues its own token")
	crossed := []storage.JobRef{{ID: a.ID, Token: b.LeaseToken}, {ID: b.ID, Token: a.LeaseToken}}

	done, err := s.JobCompleteMany(ctx, crossed)
	require.NoError(t, err)
	assert.Empty(t, done, "complete")
	leases, err := s.JobExtendLease(ctx, crossed, longLease)
	require.NoError(t, err)
	assert.Empty(t, leases, "extend")
	released, err := s.JobRelease(ctx, crossed)
	require.NoError(t, err)
	assert.Empty(t, released, "release")
	failed, err := s.JobFailMany(ctx, []*storage.JobFailParams{
		{JobRef: crossed[0], Error: "x", Retry: true},
		{JobRef: crossed[1], Error: "x", Retry: true},
	})
	require.NoError(t, err)
	assert.Empty(t, failed, "fail")
	for _, j := range []*storage.Job{a, b} {
		got := getJob(t, ctx, s, j.ID)
		assert.Equal(t, storage.JobRunning, got.State)
		assertSameTime(t, *j.LeaseExpiresAt, *got.LeaseExpiresAt, "a crossed token extended a lease")
	}

	done, err = s.JobCompleteMany(ctx, []storage.JobRef{ref(b), ref(a)})
	require.NoError(t, err)
	assert.ElementsMatch(t, []int64{a.ID, b.ID}, done)
}

func testJobEnqueueManyBytesAndOrder(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	payloads := []string{`{"b": 1, "a": [2, 3]}`, `{"s":"\u00e9\n\"q\""}`, `[]`, `{ }`}
	params := make([]*storage.JobEnqueueParams, len(payloads))
	for i, p := range payloads {
		params[i] = &storage.JobEnqueueParams{Kind: "k", Payload: json.RawMessage(p), Priority: i}
	}
	ids, err := s.JobEnqueueMany(ctx, params)
	require.NoError(t, err)
	require.Len(t, ids, len(params))
	for i, id := range ids {
		j := getJob(t, ctx, s, id)
		assert.Equal(t, i, j.Priority, "IDs come back in the order of the jobs")
		assertJSONEq(t, payloads[i], j.Payload, fmt.Sprintf("payload %d", i))
		if i > 0 {
			assert.Greater(t, id, ids[i-1])
		}
	}
}

func testJobEnqueueManyLarge(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const n = 12_345 // More than one chunk of any adapter's batching.
	params := make([]*storage.JobEnqueueParams, n)
	for i := range params {
		params[i] = &storage.JobEnqueueParams{Kind: "k", Payload: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i))}
	}
	params[n-1].UniqueKey = "last"
	params[n/2].UniqueKey = "last" // Same key as the last job: only this one is added.
	runAt := time.Now().Add(time.Hour)
	params[7].RunAt = runAt
	params[8].Queue, params[8].Priority, params[8].MaxAttempts = "other", 4, 9
	ids, err := s.JobEnqueueMany(ctx, params)
	require.NoError(t, err)
	require.Len(t, ids, n-1)
	assert.True(t, slices.IsSorted(ids), "IDs ascend in the order of the jobs")
	j7, j8, j9 := getJob(t, ctx, s, ids[7]), getJob(t, ctx, s, ids[8]), getJob(t, ctx, s, ids[9])
	assert.WithinDuration(t, runAt, j7.RunAt, time.Millisecond, "RunAt")
	assert.Equal(t, []any{"other", 4, 9}, []any{j8.Queue, j8.Priority, j8.MaxAttempts})
	assert.Equal(t, []any{storage.DefaultQueue, 0, storage.DefaultMaxAttempts}, []any{j9.Queue, j9.Priority, j9.MaxAttempts})
	assertRecent(t, j9.RunAt, "default RunAt")
	assertJSONEq(t, `{"i":9}`, j9.Payload, "payload")
	assertJSONEq(t, fmt.Sprintf(`{"i":%d}`, n/2), getJob(t, ctx, s, ids[n/2]).Payload, "payload")
	assertJSONEq(t, fmt.Sprintf(`{"i":%d}`, n-2), getJob(t, ctx, s, ids[n-2]).Payload, "payload")
	stats, err := s.JobStats(ctx)
	require.NoError(t, err)
	var available int64
	for _, q := range stats {
		available += q.Counts[storage.JobAvailable]
	}
	assert.Equal(t, int64(n-1), available)
}

func testJobVacuum(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	ids, err := s.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{{Kind: "k"}, {Kind: "k"}, {Kind: "k"}})
	require.NoError(t, err)
	done := claim(t, ctx, s, storage.DefaultQueue, "worker", 2, longLease)
	require.Len(t, done, 2)
	completed, err := s.JobCompleteMany(ctx, []storage.JobRef{ref(done[0]), ref(done[1])})
	require.NoError(t, err)
	require.Len(t, completed, 2)

	require.NoError(t, s.JobVacuum(ctx))
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "in-tx"}); err != nil {
			return err
		}
		return tx.JobVacuum(ctx)
	}), "vacuum inside a transaction does nothing, and the transaction commits")

	for _, id := range ids[:2] {
		assert.Equal(t, storage.JobCompleted, getJob(t, ctx, s, id).State)
	}
	left := claim(t, ctx, s, storage.DefaultQueue, "worker", 10, longLease)
	require.Len(t, left, 2)
	assert.ElementsMatch(t, []string{"k", "in-tx"}, []string{left[0].Kind, left[1].Kind})
}

func testJobTraceContext(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	const (
		tc1 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
		tc2 = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
	)
	one := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "traced", Kind: "k", TraceContext: tc1})
	assert.Equal(t, tc1, one.TraceContext, "as enqueued")
	plain := enqueue(t, ctx, s, storage.JobEnqueueParams{Queue: "traced", Kind: "k"})
	assert.Empty(t, plain.TraceContext, "none given, none stored")
	ids, err := s.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{
		{Queue: "traced", Kind: "many", TraceContext: tc2},
		{Queue: "traced", Kind: "many"},
	})
	require.NoError(t, err)
	require.Len(t, ids, 2)
	assert.Equal(t, tc2, getJob(t, ctx, s, ids[0]).TraceContext, "JobEnqueueMany")
	assert.Empty(t, getJob(t, ctx, s, ids[1]).TraceContext, "JobEnqueueMany without one")

	want := map[int64]string{one.ID: tc1, plain.ID: "", ids[0]: tc2, ids[1]: ""}
	claimed := claim(t, ctx, s, "traced", "worker", 10, longLease)
	require.Len(t, claimed, 4)
	for _, j := range claimed {
		assert.Equal(t, want[j.ID], j.TraceContext, "claimed job %d", j.ID)
	}
	page, err := s.JobList(ctx, &storage.JobListParams{Queue: "traced"})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 4)
	for _, j := range page.Jobs {
		assert.Equal(t, want[j.ID], j.TraceContext, "listed job %d", j.ID)
	}
}
