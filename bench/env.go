package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// benchDatabase is the database the benchmark creates and owns. Nothing
// else is ever written.
const benchDatabase = "astro_bench"

// backend is one database the queues run on: a schema of astro_bench on the
// Postgres server, or a directory of SQLite files. Every workload asks it for
// a fresh, empty place: a new schema or a new file.
type backend struct {
	name string // "postgres" or "sqlite"

	// Postgres.
	baseURL string        // astro_bench on the server, without search_path.
	admin   *pgxpool.Pool // Connected to astro_bench, for set-up and probes.
	maxConn int32

	// SQLite.
	dir    string
	ownDir bool // dir is a temporary directory to remove on close.
	seq    int
	last   []string // Files of the previous fresh database, removed on the next.
}

// openPostgres creates astro_bench through the admin URL if it is missing
// and connects to it.
func openPostgres(ctx context.Context, adminURL string, maxConns int32) (*backend, error) {
	u, err := url.Parse(adminURL)
	if err != nil {
		return nil, fmt.Errorf("parse -pg-url: %w", err)
	}
	if strings.TrimPrefix(u.Path, "/") == "test" {
		return nil, errors.New("-pg-url must not name the test database; give the admin database (postgres)")
	}
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", u.Redacted(), err)
	}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", benchDatabase).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+benchDatabase)
	}
	conn.Close(ctx)
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", benchDatabase, err)
	}
	u.Path = "/" + benchDatabase
	b := &backend{name: "postgres", baseURL: u.String(), maxConn: maxConns}
	pcfg, err := pgxpool.ParseConfig(b.baseURL)
	if err != nil {
		return nil, err
	}
	// Schemas are dropped and recreated between runs, so cached statements
	// would name stale types: describe nothing, cache nothing.
	pcfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	if b.admin, err = pgxpool.NewWithConfig(ctx, pcfg); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", benchDatabase, err)
	}
	return b, nil
}

func newSQLiteBackend(dir string) (*backend, error) {
	if dir == "" {
		d, err := os.MkdirTemp("", "astro-bench-")
		if err != nil {
			return nil, err
		}
		return &backend{name: "sqlite", dir: d, ownDir: true}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &backend{name: "sqlite", dir: dir}, nil
}

// freshSchema drops and recreates a schema of astro_bench and returns a URL
// whose connections use it, then checkpoints so that the previous run's
// dirty pages are not written during the next one.
func (b *backend) freshSchema(ctx context.Context, schema string) (string, error) {
	if _, err := b.admin.Exec(ctx, fmt.Sprintf("DROP SCHEMA IF EXISTS %[1]s CASCADE; CREATE SCHEMA %[1]s", schema)); err != nil {
		return "", fmt.Errorf("reset schema %s: %w", schema, err)
	}
	u, _ := url.Parse(b.baseURL)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// checkpoint flushes dirty buffers so that each measured run starts from the
// same state. On SQLite it does nothing: each run has a new file.
func (b *backend) checkpoint(ctx context.Context) error {
	if b.admin == nil {
		return nil
	}
	_, err := b.admin.Exec(ctx, "CHECKPOINT")
	return err
}

// freshFile returns the path of a new SQLite database file and removes the
// previous one.
func (b *backend) freshFile(system string) string {
	for _, f := range b.last {
		_ = os.Remove(f)
	}
	b.seq++
	p := filepath.Join(b.dir, fmt.Sprintf("%s-%d.db", system, b.seq))
	b.last = []string{p, p + "-wal", p + "-shm", p + "-journal"}
	return p
}

// liveProbe reports whether the queue still holds unfinished jobs, with a
// query that reads only partial or state-led indexes.
type liveProbe func(ctx context.Context) (bool, error)

func (b *backend) pgProbe(query string) liveProbe {
	return func(ctx context.Context) (live bool, err error) {
		err = b.admin.QueryRow(ctx, query).Scan(&live)
		return live, err
	}
}

func sqliteProbe(db *sql.DB, query string) liveProbe {
	return func(ctx context.Context) (live bool, err error) {
		err = db.QueryRowContext(ctx, query).Scan(&live)
		return live, err
	}
}

// openSQLiteProbeDB opens a read connection on a database file with the
// same options as the store.
func openSQLiteProbeDB(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// waitDrained polls probe until the queue holds no unfinished job, and
// returns when it saw that.
func waitDrained(ctx context.Context, probe liveProbe, every time.Duration) (time.Time, error) {
	for {
		live, err := probe(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("probe queue: %w", err)
		}
		if !live {
			return time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-time.After(every):
		}
	}
}

func (b *backend) close() {
	if b.admin != nil {
		b.admin.Close()
	}
	for _, f := range b.last {
		_ = os.Remove(f)
	}
	if b.ownDir {
		_ = os.RemoveAll(b.dir)
	}
}
