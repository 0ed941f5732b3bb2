package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestAsyncQueueCommitSendsOnlyTheWorkersBookkeepingThroughTheQueuePool(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{URL: pgtest.URL(t), AsyncQueueCommit: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NotNil(t, s.qpool)

	var setting string
	require.NoError(t, s.qpool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&setting))
	assert.Equal(t, "off", setting, "queue pool")
	require.NoError(t, s.pool.QueryRow(ctx, "SHOW synchronous_commit").Scan(&setting))
	assert.Equal(t, "on", setting, "main pool")

	// acquired reports how many connections each pool handed out during fn.
	acquired := func(fn func()) (main, queue int64) {
		m, q := s.pool.Stat().AcquireCount(), s.qpool.Stat().AcquireCount()
		fn()
		return s.pool.Stat().AcquireCount() - m, s.qpool.Stat().AcquireCount() - q
	}

	m, q := acquired(func() {
		_, err := s.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{{Kind: "a"}, {Kind: "b"}, {Kind: "c"}})
		require.NoError(t, err)
	})
	assert.Equal(t, [2]int64{1, 0}, [2]int64{m, q}, "enqueue stays on the durable pool")

	var jobs []*storage.Job
	m, q = acquired(func() {
		jobs, err = s.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Lease: time.Hour, Limit: 3})
		require.NoError(t, err)
		require.Len(t, jobs, 3)
		refs := []storage.JobRef{{ID: jobs[0].ID, Token: jobs[0].LeaseToken}}
		_, err = s.JobExtendLease(ctx, refs, time.Hour)
		require.NoError(t, err)
		done, err := s.JobCompleteMany(ctx, refs)
		require.NoError(t, err)
		require.Len(t, done, 1)
		failed, err := s.JobFailMany(ctx, []*storage.JobFailParams{{JobRef: storage.JobRef{ID: jobs[1].ID, Token: jobs[1].LeaseToken}, Error: "x"}})
		require.NoError(t, err)
		require.Len(t, failed, 1)
		released, err := s.JobRelease(ctx, []storage.JobRef{{ID: jobs[2].ID, Token: jobs[2].LeaseToken}})
		require.NoError(t, err)
		require.Len(t, released, 1)
		_, err = s.JobRescue(ctx, 10)
		require.NoError(t, err)
	})
	assert.Equal(t, [2]int64{0, 6}, [2]int64{m, q}, "bookkeeping goes through the queue pool")

	// Inside a transaction everything joins the transaction.
	m, q = acquired(func() {
		require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
			_, err := tx.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Lease: time.Hour, Limit: 1})
			return err
		}))
	})
	assert.Equal(t, [2]int64{1, 0}, [2]int64{m, q}, "in a transaction")

	// What the queue pool committed is visible through the main pool.
	got, err := s.JobGet(ctx, jobs[0].ID)
	require.NoError(t, err)
	assert.Equal(t, storage.JobCompleted, got.State)
}
