package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb" // Registers the memdb VFS.
	"github.com/pressly/goose/v3"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	sqlitemigrations "github.com/astro-runner/astro-runner/sql/sqlite/migrations"
)

// These benchmarks compare the store's PlanCreate and PlanGetByID with the
// same sqlc queries called straight, on the same kind of database opened the
// same way, so the ratio store/sqlc is the adapter's overhead: ID
// generation, label encoding, error mapping and row mapping.
//
// The Postgres cases need ASTRO_BENCH_PG_URL, an admin URL of the server
// (such as postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable); they
// use a schema of the database astro_bench, which they create if missing.
// Without it, they use the server of TEST_DATABASE_URL, but never its
// database. With neither, they are skipped.

var (
	benchDoc    = json.RawMessage(`{"steps":[{"name":"s","request":{"method":"GET","url":"http://127.0.0.1:1/"}}]}`)
	benchLabels = map[string]string{"team": "bench"}
	// runID keeps plan names unique across benchmark runs on one database.
	runID = rand.Text()[:8]
	seq   atomic.Int64
)

func planName() string { return fmt.Sprintf("bench-%s-%d", runID, seq.Add(1)) }

// planFixture is one backend: the store, and the same queries called
// straight through the generated code on a database opened alike.
type planFixture struct {
	name      string
	store     storage.Store
	rawCreate func(ctx context.Context, name string) (uuid.UUID, error)
	rawGet    func(ctx context.Context, id uuid.UUID) error
}

// sqliteRaw gives direct access to a SQLite database the way the store
// opens it: one write connection and a read pool.
func sqliteRaw(tb testing.TB, dsn string, migrate bool) (create func(context.Context, string) (uuid.UUID, error), get func(context.Context, uuid.UUID) error) {
	w, err := sql.Open("sqlite3", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	w.SetMaxOpenConns(1)
	r, err := sql.Open("sqlite3", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	r.SetMaxOpenConns(8)
	tb.Cleanup(func() { _ = r.Close(); _ = w.Close() })
	if migrate {
		p, err := goose.NewProvider(goose.DialectSQLite3, w, sqlitemigrations.FS)
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := p.Up(context.Background()); err != nil {
			tb.Fatal(err)
		}
	}
	labels, _ := json.Marshal(benchLabels)
	q := sqlite.New()
	create = func(ctx context.Context, name string) (uuid.UUID, error) {
		id := uuid.Must(uuid.NewV7())
		_, err := q.PlanCreate(ctx, w, &sqlite.PlanCreateParams{
			ID: id.String(), Name: name, Labels: string(labels), Document: string(benchDoc), Now: time.Now().UnixMicro(),
		})
		return id, err
	}
	get = func(ctx context.Context, id uuid.UUID) error {
		_, err := q.PlanGetByID(ctx, r, id.String())
		return err
	}
	return create, get
}

func memoryFixture(tb testing.TB) *planFixture {
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	// The store's DSN for memory, with a database of our own.
	dsn := "file:/storebench-" + rand.Text() + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate&vfs=memdb"
	create, get := sqliteRaw(tb, dsn, true)
	return &planFixture{name: "memory", store: s, rawCreate: create, rawGet: get}
}

func sqliteFixture(tb testing.TB) *planFixture {
	path := filepath.Join(tb.TempDir(), "storebench.db")
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	create, get := sqliteRaw(tb, sqlitestore.DSN(sqlitestore.Config{Path: path}), false)
	return &planFixture{name: "sqlite", store: s, rawCreate: create, rawGet: get}
}

// adminURL returns the admin URL of the Postgres server to use, or "".
func adminURL() string {
	if u := os.Getenv("ASTRO_BENCH_PG_URL"); u != "" {
		return u
	}
	if u, err := url.Parse(os.Getenv("TEST_DATABASE_URL")); err == nil && u.Host != "" {
		u.Path = "/postgres"
		return u.String()
	}
	return ""
}

func postgresFixture(tb testing.TB) *planFixture {
	admin := adminURL()
	if admin == "" {
		tb.Skip("Postgres cases skipped: set ASTRO_BENCH_PG_URL to an admin URL, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	}
	ctx := context.Background()
	b, err := openPostgres(ctx, admin, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(b.close)
	u, err := b.freshSchema(ctx, "storebench")
	if err != nil {
		tb.Fatal(err)
	}
	s, err := pgstore.Open(ctx, pgstore.Config{URL: u})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	pool, err := pgxpool.New(ctx, u)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(pool.Close)
	labels, _ := json.Marshal(benchLabels)
	q := postgres.New()
	return &planFixture{
		name:  "postgres",
		store: s,
		rawCreate: func(ctx context.Context, name string) (uuid.UUID, error) {
			id := uuid.Must(uuid.NewV7())
			_, err := q.PlanCreate(ctx, pool, &postgres.PlanCreateParams{ID: id, Name: name, Labels: labels, Document: benchDoc})
			return id, err
		},
		rawGet: func(ctx context.Context, id uuid.UUID) error {
			_, err := q.PlanGetByID(ctx, pool, id)
			return err
		},
	}
}

var fixtures = []struct {
	name string
	open func(testing.TB) *planFixture
}{
	{"memory", memoryFixture},
	{"sqlite", sqliteFixture},
	{"postgres", postgresFixture},
}

func BenchmarkPlanCreate(b *testing.B) {
	ctx := context.Background()
	for _, f := range fixtures {
		b.Run(f.name, func(b *testing.B) {
			fx := f.open(b)
			b.Run("store", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := fx.store.PlanCreate(ctx, &storage.PlanCreateParams{
						Name: planName(), Labels: benchLabels, Document: benchDoc,
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("sqlc", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := fx.rawCreate(ctx, planName()); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkPlanGet(b *testing.B) {
	ctx := context.Background()
	const plans = 1000
	for _, f := range fixtures {
		b.Run(f.name, func(b *testing.B) {
			fx := f.open(b)
			storeIDs := make([]uuid.UUID, plans)
			rawIDs := make([]uuid.UUID, plans)
			for i := range plans {
				p, err := fx.store.PlanCreate(ctx, &storage.PlanCreateParams{Name: planName(), Labels: benchLabels, Document: benchDoc})
				if err != nil {
					b.Fatal(err)
				}
				storeIDs[i] = p.ID
				if rawIDs[i], err = fx.rawCreate(ctx, planName()); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("store", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if _, err := fx.store.PlanGetByID(ctx, storeIDs[i%plans]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
			b.Run("sqlc", func(b *testing.B) {
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if err := fx.rawGet(ctx, rawIDs[i%plans]); err != nil {
						b.Fatal(err)
					}
					i++
				}
			})
		})
	}
}
