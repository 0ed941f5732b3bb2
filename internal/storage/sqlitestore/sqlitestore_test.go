package sqlitestore_test

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/storage/storagetest"
	"github.com/astro-runner/astro-runner/sql/sqlite/migrations"
)

var _ storage.Store = (*sqlitestore.Store)(nil)

func TestConformanceMemory(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestConformanceFile(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: filepath.Join(t.TempDir(), "astro.db")})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestMemoryStoresAreIsolated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	defer a.Close()
	b, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	defer b.Close()
	_, err = a.PlanCreate(ctx, &storage.PlanCreateParams{Name: "only-in-a", Document: []byte(`{}`)})
	require.NoError(t, err)
	page, err := b.PlanList(ctx, &storage.PlanListParams{})
	require.NoError(t, err)
	require.Empty(t, page.Plans)
}

func TestDSNPutsBusyTimeoutFirst(t *testing.T) {
	t.Parallel()
	dsn := sqlitestore.DSN(sqlitestore.Config{Path: "data/astro.db"})
	require.Equal(t,
		"file:data/astro.db?_pragma=busy_timeout%2810000%29&_pragma=journal_mode%28wal%29&_pragma=synchronous%28normal%29&_pragma=foreign_keys%281%29&_txlock=immediate",
		dsn)
}

func TestFilePersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "astro.db")
	s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	p, err := s.PlanCreate(ctx, &storage.PlanCreateParams{Name: "kept", Document: []byte(`{"steps":[]}`)})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s, err = sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err)
	defer s.Close()
	got, err := s.PlanGetByID(ctx, p.ID)
	require.NoError(t, err)
	require.Equal(t, "kept", got.Name)
	status, err := s.Migrate(ctx, sqlitestore.MigrateStatus)
	require.NoError(t, err)
	require.Len(t, status, migrationCount(t))
	for _, line := range status {
		require.Contains(t, line, "applied")
	}

	// WAL is a property of the file, so a plain connection sees it.
	db, err := sql.Open("sqlite3", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)
}

// migrationCount is how many migrations the store embeds.
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := fs.Glob(migrations.FS, "*.sql")
	require.NoError(t, err)
	return len(files)
}
