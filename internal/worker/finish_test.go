package worker_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// markBatch is a worker.FinishBatch whose write enqueues a marker job of
// kind "mark" with the finished job's ID and attempt as its unique key: a
// marker that exists committed, one that does not was rolled back or never
// written.
// It blames an error on each job in blame the first time it sees it.
type markBatch struct {
	mu    sync.Mutex
	blame map[int64]bool
	// blameErr is the error blamed, errBlamed if nil.
	blameErr error
	calls    int
	maxSize  int
}

var errBlamed = errors.New("this job's write failed")

func (b *markBatch) FinishMany(ctx context.Context, tx storage.Store, fs []worker.Finisher) (int, error) {
	b.mu.Lock()
	b.calls++
	b.maxSize = max(b.maxSize, len(fs))
	b.mu.Unlock()
	for i, f := range fs {
		m := f.(*markFinisher)
		if _, err := tx.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "marks", Kind: "mark", UniqueKey: m.key()}); err != nil {
			return i, err
		}
		b.mu.Lock()
		blamed := b.blame[m.job.ID]
		delete(b.blame, m.job.ID)
		b.mu.Unlock()
		if blamed {
			if b.blameErr != nil {
				return i, b.blameErr
			}
			return i, errBlamed
		}
	}
	return -1, nil
}

// markFinisher is the finisher of one attempt of a job.
type markFinisher struct {
	batch     *markBatch
	job       *storage.Job
	mu        sync.Mutex
	committed int
	aloneWith []error
}

func (f *markFinisher) key() string { return markKey(f.job.ID, f.job.Attempt) }

// markKey is the unique key of the marker of a job's attempt.
func markKey(id int64, attempt int) string { return fmt.Sprintf("mark-%d-%d", id, attempt) }

func (f *markFinisher) Batch() worker.FinishBatch { return f.batch }

func (f *markFinisher) Committed() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.committed++
}

// Alone fails the attempt with the blamed error, as planjob does with an
// error its own write met.
func (f *markFinisher) Alone(_ context.Context, err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.aloneWith = append(f.aloneWith, err)
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	return errors.New("finish alone: not expected here")
}

// markPool runs a pool whose "finish" handler completes each job with a
// markFinisher of batch, and returns the finishers by job ID.
func markPool(t *testing.T, s worker.Store, batch *markBatch) (*worker.Pool, func() map[int64][]*markFinisher) {
	t.Helper()
	var mu sync.Mutex
	made := map[int64][]*markFinisher{}
	pool := worker.New(s, config(t, worker.Config{Workers: 8, Retry: storage.RetryPolicy{Base: 1, Max: 1}}))
	pool.Handle("finish", func(ctx context.Context, job *storage.Job) error {
		require.True(t, worker.CanFinishLater(ctx), "a pool over a store with transactions takes finishers")
		f := &markFinisher{batch: batch, job: job}
		mu.Lock()
		made[job.ID] = append(made[job.ID], f)
		mu.Unlock()
		return worker.CompleteWith(f)
	})
	return pool, func() map[int64][]*markFinisher {
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int64][]*markFinisher, len(made))
		for id, fs := range made {
			out[id] = append([]*markFinisher(nil), fs...)
		}
		return out
	}
}

// markers returns the unique keys of the marker jobs that committed.
func markers(t *testing.T, s storage.JobStore) map[string]int {
	t.Helper()
	page, err := s.JobList(context.Background(), &storage.JobListParams{Kind: "mark", Limit: 200})
	require.NoError(t, err)
	keys := map[string]int{}
	for _, j := range page.Jobs {
		keys[j.UniqueKey]++
	}
	return keys
}

// TestFinishersCommitWithTheirJobsCompletion checks that a handler's
// finisher is written in the transaction that completes its job, once,
// and that Committed is called once it committed.
func TestFinishersCommitWithTheirJobsCompletion(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	batch := &markBatch{blame: map[int64]bool{}}
	pool, made := markPool(t, s, batch)
	ids := enqueue(t, s, "finish", 40)
	startPool(t, pool)
	for _, id := range ids {
		waitState(t, s, id, storage.JobCompleted)
	}
	marks := markers(t, s)
	finishers := made()
	for _, id := range ids {
		f := finishers[id]
		require.Len(t, f, 1, "job %d ran once", id)
		assert.Equal(t, 1, marks[f[0].key()], "job %d's write committed once", id)
		assert.Eventually(t, func() bool {
			f[0].mu.Lock()
			defer f[0].mu.Unlock()
			return f[0].committed == 1
		}, waitFor, tick)
		assert.Empty(t, f[0].aloneWith)
	}
	batch.mu.Lock()
	defer batch.mu.Unlock()
	assert.LessOrEqual(t, batch.calls, 40)
}

// TestAFinisherBlamedInABatchLeavesNothingAndTheOthersCommit checks that
// when FinishMany blames one finisher, the batch rolls back (its write
// leaves nothing), the others commit without it, and the blamed one's
// Alone decides its job's outcome: here a failed attempt, which runs
// again and then completes.
// The blamed error may also look like an outage (a finisher's alert rules
// could fail so every time): it still goes alone rather than holding the
// batch back for a retry.
func TestAFinisherBlamedInABatchLeavesNothingAndTheOthersCommit(t *testing.T) {
	t.Parallel()
	for _, blameErr := range []error{errBlamed, fmt.Errorf("alert rules: %w", storage.ErrUnavailable)} {
		t.Run(blameErr.Error(), func(t *testing.T) {
			t.Parallel()
			testBlamedFinisher(t, blameErr)
		})
	}
}

func testBlamedFinisher(t *testing.T, blameErr error) {
	s := openSQLite(t)
	ids := enqueue(t, s, "finish", 24)
	blamed := ids[5]
	batch := &markBatch{blame: map[int64]bool{blamed: true}, blameErr: blameErr}
	pool, made := markPool(t, s, batch)
	startPool(t, pool)
	for _, id := range ids {
		waitState(t, s, id, storage.JobCompleted)
	}
	marks := markers(t, s)
	finishers := made()
	for _, id := range ids {
		f := finishers[id]
		if id != blamed {
			assert.Equal(t, 1, marks[markKey(id, 1)], "job %d's write committed once", id)
			require.Len(t, f, 1, "job %d ran once", id)
			assert.Empty(t, f[0].aloneWith)
			continue
		}
		assert.Zero(t, marks[markKey(id, 1)], "the blamed attempt's write was rolled back")
		assert.Equal(t, 1, marks[markKey(id, 2)], "the next attempt's write committed once")
		require.Len(t, f, 2, "the blamed job failed its attempt and ran again")
		assert.Equal(t, []error{blameErr}, f[0].aloneWith, "Alone got the error FinishMany blamed")
		assert.Zero(t, f[0].committed, "the rolled-back write is not committed")
		job := getJob(t, s, id)
		assert.Equal(t, 2, job.Attempt)
		require.Len(t, job.Errors, 1)
		assert.Contains(t, job.Errors[0].Error, blameErr.Error())
	}
}

// TestAFinisherWhoseLeaseWasLostCompletesNothing checks that a finisher
// whose job was claimed again while its outcome waited leaves the job to
// the new claim: the batch's completion is fenced by the lease token.
func TestAFinisherWhoseLeaseWasLostCompletesNothing(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	id := enqueue(t, s, "finish", 1)[0]
	gate := make(chan struct{})
	batch := &markBatch{blame: map[int64]bool{}}
	ended := make(chan worker.Outcome, 1)
	pool := worker.New(s, config(t, worker.Config{Workers: 1, Lease: time.Hour, Observer: endObserver(ended)}))
	var stale *storage.Job
	pool.Handle("finish", func(ctx context.Context, job *storage.Job) error {
		stale = job
		// Another worker takes the job over before this outcome is written.
		_, err := s.JobRelease(ctx, []storage.JobRef{{ID: job.ID, Token: job.LeaseToken}})
		require.NoError(t, err)
		claimed, err := s.JobClaim(ctx, &storage.JobClaimParams{Queue: job.Queue, Worker: "other", Limit: 1, Lease: time.Hour})
		require.NoError(t, err)
		require.Len(t, claimed, 1)
		close(gate)
		return worker.CompleteWith(&markFinisher{batch: batch, job: job})
	})
	startPool(t, pool)
	<-gate
	select {
	case o := <-ended:
		assert.Equal(t, worker.OutcomeLeaseLost, o)
	case <-time.After(waitFor):
		t.Fatal("the outcome was never settled")
	}
	batch.mu.Lock()
	assert.Equal(t, 1, batch.calls, "the finisher was written, fenced")
	batch.mu.Unlock()
	job := getJob(t, s, id)
	assert.Equal(t, storage.JobRunning, job.State, "the new claim still holds the job")
	assert.Equal(t, "other", job.LeaseOwner)
	assert.NotEqual(t, stale.LeaseToken, job.LeaseToken)
}

// endObserver is a worker.Observer that sends each job's outcome to ch.
type endObserver chan worker.Outcome

func (endObserver) PoolStarted(*worker.Pool)                                       {}
func (endObserver) PoolStopped(*worker.Pool)                                       {}
func (endObserver) JobClaimed(string, string, time.Duration)                       {}
func (endObserver) JobsRescued(int64)                                              {}
func (o endObserver) JobFinished(_, _ string, out worker.Outcome, _ time.Duration) { o <- out }
