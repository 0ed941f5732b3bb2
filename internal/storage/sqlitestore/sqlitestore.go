// Package sqlitestore implements storage.Store on SQLite with the ncruces
// driver (no cgo), over the sqlc package gen/sqlite. It opens either a file
// in WAL mode or a database that lives in memory for the life of the Store.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/ncruces/go-sqlite3/vfs/memdb"
	"github.com/pressly/goose/v3"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/migration"
	"github.com/astro-runner/astro-runner/sql/sqlite/migrations"
)

// Store is a storage.Store on SQLite. Writes go through one connection, so
// writers in this process queue in Go instead of contending for the file
// lock; reads use a separate pool. The Store that InTx passes to its
// function is bound to one IMMEDIATE transaction.
type Store struct {
	w, r   *sql.DB
	wc, rc *stmtCache  // Prepared statements of w and r.
	db     sqlite.DBTX // Writes and, inside a transaction, reads.
	read   sqlite.DBTX // Reads outside a transaction.
	q      *sqlite.Queries
	inTx   bool
	memDB  string        // The memdb name to delete on Close, if in memory.
	limit  time.Duration // Config.WriteTimeout.
}

// Config holds the options of Open.
type Config struct {
	// Path is the database file. Empty means a private in-memory database,
	// shared by the Store's connections and deleted on Close.
	Path string
	// BusyTimeout is how long a write waits for another process's lock.
	// Defaults to 10s.
	BusyTimeout time.Duration
	// MaxReaders caps the read pool. Defaults to 8.
	MaxReaders int
	// WriteTimeout bounds each statement on the writer connection and each
	// write transaction (InTx), so that no caller holds the writer longer:
	// past it the statement is interrupted, or the transaction rolled back,
	// and the caller gets an error. Defaults to DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SkipMigrate opens the store without applying pending migrations.
	SkipMigrate bool
}

// DefaultWriteTimeout is the default of Config.WriteTimeout.
const DefaultWriteTimeout = 10 * time.Second

// WithDefaults returns a copy of c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.BusyTimeout <= 0 {
		c.BusyTimeout = 10 * time.Second
	}
	if c.MaxReaders <= 0 {
		c.MaxReaders = 8
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c
}

// DSN returns the ncruces connection string for a database file: busy_timeout
// first (any later pragma would otherwise drop it to zero), then WAL,
// synchronous=NORMAL, foreign keys and IMMEDIATE write transactions.
func DSN(cfg Config) string {
	cfg = cfg.WithDefaults()
	return dsn(&url.URL{Scheme: "file", OmitHost: true, Path: cfg.Path}, cfg.BusyTimeout,
		"journal_mode(wal)", "synchronous(normal)")
}

// memDSN returns the connection string for the shared in-memory database
// of that name.
func memDSN(name string, busy time.Duration) string {
	u := &url.URL{Scheme: "file", OmitHost: true, Path: "/" + name}
	return dsn(u, busy) + "&vfs=memdb"
}

func dsn(u *url.URL, busy time.Duration, pragmas ...string) string {
	// url.Values would sort the keys but keep the order of the values;
	// write the query by hand to keep busy_timeout visibly first.
	q := "_pragma=" + url.QueryEscape(fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	for _, p := range append(pragmas, "foreign_keys(1)") {
		q += "&_pragma=" + url.QueryEscape(p)
	}
	u.RawQuery = q + "&_txlock=immediate"
	return u.String()
}

// Open opens (creating if needed) the database and applies pending
// migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	var memName, dsn string
	if cfg.Path == "" {
		memName = "astro-" + rand.Text()
		memdb.Create(memName, nil)
		dsn = memDSN(memName, cfg.BusyTimeout)
	} else {
		dsn = DSN(cfg)
	}
	s := &Store{q: sqlite.New(), memDB: memName, limit: cfg.WriteTimeout}
	wconn, err := newGuardedConnector(dsn, cfg.WriteTimeout)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", describe(cfg), err)
	}
	rconn, err := newGuardedConnector(dsn, 0)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", describe(cfg), err)
	}
	s.w = sql.OpenDB(wconn)
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	s.r = sql.OpenDB(rconn)
	s.r.SetMaxOpenConns(cfg.MaxReaders)
	s.r.SetMaxIdleConns(cfg.MaxReaders) // Keep readers, and their prepared statements.
	s.wc, s.rc = newStmtCache(s.w), newStmtCache(s.r)
	s.db, s.read = s.wc, s.rc
	if err := s.w.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", describe(cfg), interpretError(err))
	}
	if !cfg.SkipMigrate {
		if _, err := s.Migrate(ctx, MigrateUp); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

func describe(cfg Config) string {
	if cfg.Path == "" {
		return "in memory"
	}
	return fmt.Sprintf("file %q", cfg.Path)
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
// (down), or reports the state of each (status). It returns one line per
// migration touched or listed.
func (s *Store) Migrate(ctx context.Context, dir MigrateDirection) ([]string, error) {
	p, err := goose.NewProvider(goose.DialectSQLite3, s.w, migrations.FS)
	if err != nil {
		return nil, fmt.Errorf("create migration provider: %w", err)
	}
	return migration.Run(ctx, p, dir)
}

// InTx runs fn in one IMMEDIATE transaction. See storage.Store.
//
// The transaction lasts at most Config.WriteTimeout: past it the statement
// running is interrupted, database/sql rolls the transaction back, so the
// writer is free again, and InTx returns an error. The bound holds
// whatever the context that fn passes to the Store's methods, and COMMIT
// is not started past it. A panic inside the driver comes back as an
// error (see guardedConnector), and its connection is closed.
func (s *Store) InTx(ctx context.Context, fn func(tx storage.Store) error) (err error) {
	if s.inTx {
		return fn(s)
	}
	txCtx, cancel := context.WithTimeout(ctx, s.limit)
	defer cancel()
	tx, err := s.w.BeginTx(txCtx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", interpretError(err))
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback()
		}
		s.wc.prepareMissed(ctx)
	}()
	txdb := txStmts{tx: tx, cache: s.wc, ctx: txCtx}
	if err = fn(&Store{w: s.w, r: s.r, wc: s.wc, rc: s.rc, db: txdb, read: txdb, q: s.q, inTx: true, limit: s.limit}); err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", interpretError(err))
	}
	return nil
}

// inWriteTx runs fn in a transaction unless s already is one.
func (s *Store) inWriteTx(ctx context.Context, fn func(tx *Store) error) error {
	return s.InTx(ctx, func(tx storage.Store) error { return fn(tx.(*Store)) })
}

// Ping checks that the database answers reads and that the writer can be
// had within ctx: it takes the writer connection and the database's write
// lock (BEGIN IMMEDIATE), and rolls back. A writer held by a transaction
// that does not end in time, or a database locked by another process,
// gives ErrUnavailable. On a transaction-bound Store it checks only that
// the transaction answers.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.read.ExecContext(ctx, "SELECT 1"); err != nil {
		return fmt.Errorf("ping sqlite: %w: %w", storage.ErrUnavailable, err)
	}
	if s.inTx {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("ping sqlite writer: %w: %w", storage.ErrUnavailable, err)
	}
	if err := tx.Rollback(); err != nil {
		return fmt.Errorf("ping sqlite writer: %w: %w", storage.ErrUnavailable, err)
	}
	return nil
}

// Close closes both pools and, for an in-memory store, drops the database.
// It does nothing on a transaction-bound Store.
func (s *Store) Close() error {
	if s.inTx {
		return nil
	}
	var err error
	for _, c := range []*stmtCache{s.rc, s.wc} {
		if c != nil {
			err = errors.Join(err, c.Close())
		}
	}
	for _, db := range []*sql.DB{s.r, s.w} {
		if db != nil {
			err = errors.Join(err, db.Close())
		}
	}
	if s.memDB != "" {
		memdb.Delete(s.memDB)
	}
	if err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

// now returns the current time as stored: integer microseconds.
func now() int64 { return time.Now().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// interpretError maps driver errors to the storage sentinels, keeping the
// original error in the chain for logs.
//
// ErrUnavailable covers, besides a locked or unwritable database, a write
// that the writer's bound (Config.WriteTimeout) interrupted or whose
// transaction it rolled back, and a connection lost to a driver panic:
// each may succeed if tried again.
func interpretError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, sqlite3.CONSTRAINT_UNIQUE), errors.Is(err, sqlite3.CONSTRAINT_PRIMARYKEY):
		return fmt.Errorf("%w: %w", storage.ErrConflict, err)
	case errors.Is(err, sqlite3.CONSTRAINT_FOREIGNKEY),
		// ON DELETE RESTRICT reports the bare CONSTRAINT code.
		errors.Is(err, sqlite3.CONSTRAINT) && strings.Contains(err.Error(), "FOREIGN KEY"):
		return fmt.Errorf("%w: %w", storage.ErrReferenced, err)
	case errors.Is(err, sqlite3.CONSTRAINT_CHECK), errors.Is(err, sqlite3.TOOBIG):
		return fmt.Errorf("%w: %w", storage.ErrInvalidInput, err)
	case errors.Is(err, sqlite3.BUSY), errors.Is(err, sqlite3.LOCKED), errors.Is(err, sqlite3.CANTOPEN),
		errors.Is(err, sqlite3.IOERR), errors.Is(err, sqlite3.FULL), errors.Is(err, sqlite3.INTERRUPT),
		errors.Is(err, errDriverPanic), errors.Is(err, sql.ErrConnDone), errors.Is(err, sql.ErrTxDone),
		errors.Is(err, driver.ErrBadConn):
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}
