package pgstore_test

import (
	"context"
	"io/fs"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/storagetest"
	"github.com/astro-runner/astro-runner/sql/postgres/migrations"
)

var _ storage.Store = (*pgstore.Store)(nil)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 8})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store { return open(t) })
}

func TestConcurrentMigrationsDoNotRace(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := pgstore.Open(ctx, pgstore.Config{URL: url, MaxConns: 2})
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url, SkipMigrate: true})
	require.NoError(t, err)
	defer s.Close()
	status, err := s.Migrate(ctx, pgstore.MigrateStatus)
	require.NoError(t, err)
	require.Len(t, status, migrationCount(t))
	for _, line := range status {
		require.Contains(t, line, "applied")
	}
}

func TestMigrateDownAndUpAgain(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	n := migrationCount(t)
	for range n {
		out, err := s.Migrate(ctx, pgstore.MigrateDown)
		require.NoError(t, err)
		require.Len(t, out, 1)
	}
	out, err := s.Migrate(ctx, pgstore.MigrateUp)
	require.NoError(t, err)
	require.Len(t, out, n)
}

func TestOpenUnreachableFails(t *testing.T) {
	t.Parallel()
	// Port 1 on loopback refuses connections.
	_, err := pgstore.Open(context.Background(), pgstore.Config{URL: "postgres://postgres@127.0.0.1:1/x?connect_timeout=2"})
	require.Error(t, err)
}

// migrationCount is how many migrations the store embeds.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	return len(files)
}

func TestPingFailsOnAReadOnlyDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.Ping(ctx))

	// A session that cannot write, as on a standby.
	ro, err := pgstore.Open(ctx, pgstore.Config{URL: url + "&default_transaction_read_only=on", SkipMigrate: true})
	require.NoError(t, err)
	defer ro.Close()
	require.ErrorIs(t, ro.Ping(ctx), storage.ErrUnavailable)
}

// TestWritesFailAsUnavailableOnAStandbyAndAClosedStore checks that the
// errors of a failover (a server that no longer takes writes, 25006) and
// of a store shutting down (a closed pool) are temporary, so callers
// retry instead of giving up.
func TestWritesFailAsUnavailableOnAStandbyAndAClosedStore(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Config{URL: url})
	require.NoError(t, err)
	ro, err := pgstore.Open(ctx, pgstore.Config{URL: url + "&default_transaction_read_only=on", SkipMigrate: true})
	require.NoError(t, err)
	defer ro.Close()

	_, err = ro.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "k"})
	require.ErrorIs(t, err, storage.ErrUnavailable, "a write on a standby")

	require.NoError(t, s.Close())
	_, err = s.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "k"})
	require.ErrorIs(t, err, storage.ErrUnavailable, "a write on a closed store")
}
