// Package pgstore implements storage.Store on PostgreSQL with pgx, over the
// sqlc package gen/postgres.
package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/jackc/puddle/v2"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/migration"
	"github.com/astro-runner/astro-runner/sql/postgres/migrations"
)

// Store is a storage.Store on PostgreSQL. A Store returned by Open owns a
// connection pool; the Store that InTx passes to its function is bound to
// one transaction.
type Store struct {
	pool  *pgxpool.Pool
	qpool *pgxpool.Pool // The queue pool, if it is not pool.
	db    postgres.DBTX
	queue postgres.DBTX // The worker's own bookkeeping; see Config.AsyncQueueCommit.
	q     *postgres.Queries
	inTx  bool
}

// Config holds the options of Open.
type Config struct {
	// URL is the connection string, for example
	// postgres://user@127.0.0.1:5432/astro?sslmode=disable.
	URL string
	// MaxConns caps the main pool. Defaults to pgxpool's default (4 per
	// CPU, at least 4) when zero. AsyncQueueCommit adds a pool of up to 4
	// more connections.
	MaxConns int32
	// SkipMigrate opens the store without applying pending migrations.
	SkipMigrate bool
	// AsyncQueueCommit sends the worker pool's own bookkeeping (JobClaim,
	// JobComplete, JobCompleteMany, JobFail, JobFailMany, JobExtendLease,
	// JobRelease and JobRescue, outside InTx) through a second, small pool
	// whose sessions set synchronous_commit=off, so those commits do not
	// wait for the WAL flush. A Postgres crash can then forget the last
	// fraction of a second of claims and outcomes; those jobs are rescued
	// as after a worker crash. Enqueues, plans and executions stay durable,
	// and a later durable commit also makes every earlier one durable.
	AsyncQueueCommit bool
}

// Open connects to Postgres, checks that it answers and applies pending
// migrations under a session advisory lock, so concurrent starts do not
// race.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("parse postgres url: %w", redactParseError(err))
	}
	if cfg.MaxConns > 0 {
		pcfg.MaxConns = cfg.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres pool: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pingCtx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	s := &Store{pool: pool, db: pool, queue: pool, q: postgres.New()}
	if cfg.AsyncQueueCommit {
		qcfg := pcfg.Copy()
		qcfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
		qcfg.MaxConns = min(pcfg.MaxConns, 4)
		if s.qpool, err = pgxpool.NewWithConfig(ctx, qcfg); err != nil {
			pool.Close()
			return nil, fmt.Errorf("open postgres queue pool: %w", err)
		}
		s.queue = s.qpool
		if err := s.qpool.Ping(pingCtx); err != nil {
			s.Close()
			return nil, fmt.Errorf("connect to postgres with synchronous_commit=off (set ASTRO_QUEUE_COMMIT=sync behind a pooler that refuses it): %w", err)
		}
	}
	if !cfg.SkipMigrate {
		if _, err := s.Migrate(ctx, MigrateUp); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// redactParseError drops the connection string, which may hold a password,
// from a parse error.
func redactParseError(err error) error {
	var pe *pgconn.ParseConfigError
	if errors.As(err, &pe) {
		return errors.New("invalid connection string")
	}
	return err
}

// Pool returns the store's connection pool, for listeners and tests.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// PoolStats returns a snapshot of the store's connection pools, for
// metrics: "main", and "queue" when Config.AsyncQueueCommit gave the
// worker's bookkeeping a pool of its own.
func (s *Store) PoolStats() map[string]*pgxpool.Stat {
	stats := map[string]*pgxpool.Stat{"main": s.pool.Stat()}
	if s.qpool != nil {
		stats["queue"] = s.qpool.Stat()
	}
	return stats
}

// MigrateDirection says which way Migrate moves.
type MigrateDirection = migration.Direction

// The migration directions.
const (
	MigrateUp     = migration.Up
	MigrateDown   = migration.Down
	MigrateStatus = migration.Status
)

// Migrate applies all pending migrations (up), rolls back the latest one
// (down), or reports the state of each (status), holding a Postgres session
// advisory lock throughout. It returns one line per migration touched or
// listed.
func (s *Store) Migrate(ctx context.Context, dir MigrateDirection) ([]string, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	return migrate(ctx, db, dir)
}

func migrate(ctx context.Context, db *sql.DB, dir MigrateDirection) ([]string, error) {
	// goose keeps its version table in the current schema, so one lock per
	// schema is enough: nodes sharing a schema wait for each other, while
	// unrelated schemas (such as parallel tests) migrate at once.
	var schema string
	if err := db.QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return nil, fmt.Errorf("read current schema: %w", interpretError(err))
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte("astro-runner migrations " + schema))
	locker, err := lock.NewPostgresSessionLocker(
		lock.WithLockID(int64(h.Sum64()>>1)),
		lock.WithLockTimeout(1, 300),
	)
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, goose.WithSessionLocker(locker))
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return migration.Run(ctx, p, dir)
}

// InTx runs fn in one transaction. See storage.Store.
func (s *Store) InTx(ctx context.Context, fn func(tx storage.Store) error) (err error) {
	if s.inTx {
		return fn(s)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", interpretError(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(&Store{pool: s.pool, db: tx, queue: tx, q: s.q, inTx: true}); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", interpretError(err))
	}
	return nil
}

// Ping checks that Postgres answers and accepts writes: the server must not
// be a read-only standby nor have default_transaction_read_only on, and
// the queue pool, if there is one, must answer too. See storage.Store.
func (s *Store) Ping(ctx context.Context) error {
	var readOnly bool
	err := s.db.QueryRow(ctx,
		"SELECT pg_is_in_recovery() OR current_setting('transaction_read_only')::boolean").Scan(&readOnly)
	if err != nil {
		return fmt.Errorf("ping postgres: %w", unavailable(err))
	}
	if readOnly {
		return fmt.Errorf("ping postgres: %w: the database is read-only", storage.ErrUnavailable)
	}
	if s.qpool != nil && !s.inTx {
		if err := s.qpool.Ping(ctx); err != nil {
			return fmt.Errorf("ping postgres queue pool: %w", unavailable(err))
		}
	}
	return nil
}

// unavailable maps err as interpretError does, and makes it ErrUnavailable
// if it is not already: a failed ping means the store cannot serve.
func unavailable(err error) error {
	err = interpretError(err)
	if errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// Close closes the pools. It does nothing on a transaction-bound Store.
func (s *Store) Close() error {
	if s.inTx {
		return nil
	}
	s.pool.Close()
	if s.qpool != nil {
		s.qpool.Close()
	}
	return nil
}

// Postgres error codes this adapter maps.
const (
	codeUniqueViolation     = "23505"
	codeForeignKeyViolation = "23503"
	codeCheckViolation      = "23514"
	codeInvalidText         = "22P02"
	// codeUntranslatable is jsonb refusing the escape \u0000.
	codeUntranslatable = "22P05"
	// codeNotInRepertoire is text refusing the byte 0x00.
	codeNotInRepertoire = "22021"
	// codeProgramLimit is a value over a hard limit, such as a jsonb
	// array whose elements total more than 256 MiB.
	codeProgramLimit = "54000"
	// codeReadOnlyTransaction is a write sent to a server that is (now) a
	// standby, as after a failover.
	codeReadOnlyTransaction = "25006"
	// codeSerializationFailure and codeDeadlockDetected end a transaction
	// that may succeed if run again.
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// interpretError maps driver errors to the storage sentinels, keeping the
// original error in the chain for logs.
func interpretError(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.ErrNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == codeUniqueViolation:
			return fmt.Errorf("%w: %w", storage.ErrConflict, err)
		case pgErr.Code == codeForeignKeyViolation:
			return fmt.Errorf("%w: %w", storage.ErrReferenced, err)
		case pgErr.Code == codeCheckViolation, pgErr.Code == codeInvalidText,
			pgErr.Code == codeUntranslatable, pgErr.Code == codeNotInRepertoire,
			pgErr.Code == codeProgramLimit:
			return fmt.Errorf("%w: %w", storage.ErrInvalidInput, err)
		case len(pgErr.Code) == 5 && (pgErr.Code[:2] == "08" || pgErr.Code[:2] == "57" || pgErr.Code[:2] == "53"),
			pgErr.Code == codeReadOnlyTransaction, pgErr.Code == codeSerializationFailure,
			pgErr.Code == codeDeadlockDetected:
			// Connection exceptions, operator intervention (shutdown),
			// insufficient resources, a failover and a transaction the
			// server chose to abort are temporary.
			return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
		}
		return err
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	// A closed pool (puddle.ErrClosedPool) is a store shutting down.
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.Is(err, puddle.ErrClosedPool) || pgconn.SafeToRetry(err) ||
		pgconn.Timeout(err) {
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}
