package pgstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// TestListenTellsOfEnqueuesAndCancels checks that Listen calls wake for an
// enqueue and checkCancels when a running job is asked to cancel. Other
// tests' schemas share the database and so the channel, so it checks only
// that each call comes, not that nothing else does.
func TestListenTellsOfEnqueuesAndCancels(t *testing.T) {
	t.Parallel()
	s := open(t)
	var wakes, checks atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Listen(ctx, func() { wakes.Add(1) }, func() { checks.Add(1) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	const waitFor, tick = 20 * time.Second, 5 * time.Millisecond
	require.Eventually(t, func() bool { return wakes.Load() >= 1 && checks.Load() >= 1 },
		waitFor, tick, "the listener never connected")

	w := wakes.Load()
	job, err := s.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "k"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return wakes.Load() > w }, waitFor, tick, "no wake after an enqueue")

	claimed, err := s.JobClaim(ctx, &storage.JobClaimParams{Queue: storage.DefaultQueue, Worker: "w", Limit: 1})
	require.NoError(t, err)
	require.Len(t, claimed, 1)
	require.Equal(t, job.ID, claimed[0].ID)
	c := checks.Load()
	cancelled, err := s.JobCancel(ctx, job.ID)
	require.NoError(t, err)
	require.True(t, cancelled.CancelRequested)
	require.Eventually(t, func() bool { return checks.Load() > c }, waitFor, tick, "no cancel check after a cancel")
}
