package sqlitestore

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func cachedCount(c *stmtCache) (stmts, missed int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts), len(c.missed)
}

func TestStatementsFirstRunInATransactionAreCachedAfterIt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // Hang guard.
	defer cancel()
	s, err := Open(ctx, Config{})
	require.NoError(t, err)
	defer s.Close()

	before, _ := cachedCount(s.wc)
	enqueue := func() error {
		return s.InTx(ctx, func(tx storage.Store) error {
			_, err := tx.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "k"})
			return err
		})
	}
	require.NoError(t, enqueue())
	after, missed := cachedCount(s.wc)
	require.Greater(t, after, before, "the transaction's statement was prepared once it ended")
	require.Zero(t, missed)

	// The next transaction runs the cached statement on the writer's one
	// connection, which it holds.
	require.NoError(t, enqueue())
	again, _ := cachedCount(s.wc)
	require.Equal(t, after, again, "no statement was prepared twice")
	page, err := s.JobList(ctx, &storage.JobListParams{})
	require.NoError(t, err)
	require.Len(t, page.Jobs, 2)

	require.NoError(t, s.wc.Close())
	left, _ := cachedCount(s.wc)
	require.Zero(t, left)
}
