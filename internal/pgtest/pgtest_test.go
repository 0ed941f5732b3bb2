package pgtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// searchPath returns the schema that a URL from pgtest.URL selects.
func searchPath(t *testing.T, u string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(u)
	require.NoError(t, err)
	schema := cfg.RuntimeParams["search_path"]
	require.NotEmpty(t, schema, "URL carries no search_path")
	return schema
}

func connect(t *testing.T, u string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func schemaExists(t *testing.T, conn *pgx.Conn, schema string) bool {
	t.Helper()
	var exists bool
	err := conn.QueryRow(context.Background(),
		"SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)", schema).Scan(&exists)
	require.NoError(t, err)
	return exists
}

func TestURLSelectsAFreshEmptySchema(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	schema := searchPath(t, u)
	conn := connect(t, u)
	ctx := context.Background()

	var current string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_schema()").Scan(&current))
	assert.Equal(t, schema, current)

	var tables int
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema).Scan(&tables))
	assert.Zero(t, tables, "a new schema has no tables")

	// Unqualified names land in the schema.
	_, err := conn.Exec(ctx, "CREATE TABLE probe (id int)")
	require.NoError(t, err)
	var where string
	require.NoError(t, conn.QueryRow(ctx,
		"SELECT schemaname FROM pg_tables WHERE tablename = 'probe' AND schemaname = $1", schema).Scan(&where))
	assert.Equal(t, schema, where)
}

func TestURLGivesEachCallItsOwnSchema(t *testing.T) {
	t.Parallel()
	a := searchPath(t, pgtest.URL(t))
	b := searchPath(t, pgtest.URL(t))
	assert.NotEqual(t, a, b)
}

func TestURLDropsTheSchemaWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	var schema, u string
	t.Run("User", func(t *testing.T) {
		u = pgtest.URL(t)
		schema = searchPath(t, u)
		conn := connect(t, u)
		_, err := conn.Exec(context.Background(), "CREATE TABLE probe (id int)")
		require.NoError(t, err)
		assert.True(t, schemaExists(t, conn, schema))
	})
	if schema == "" {
		t.Skip("no database")
	}
	// The URL still reaches the database; only the schema is gone.
	conn := connect(t, u)
	assert.False(t, schemaExists(t, conn, schema), "schema %s survived its test", schema)
}
