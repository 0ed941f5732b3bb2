package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"time"
)

// stmtCache is a sqlite.DBTX that prepares each query once and reuses the
// statement. database/sql and the driver would otherwise parse the SQL
// again on every call, which costs more than running the queue's short
// statements.
type stmtCache struct {
	db     *sql.DB
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	missed map[string]bool // Queries a transaction ran unprepared.
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, missed: map[string]bool{}}
}

// stmt returns the prepared statement for query, preparing it on first use.
// The lock is not held while preparing: on the writer, preparing waits for
// the one connection.
func (c *stmtCache) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	st := c.stmts[query]
	c.mu.Unlock()
	if st != nil {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev := c.stmts[query]; prev != nil {
		_ = st.Close()
		return prev, nil
	}
	c.stmts[query] = st
	return st, nil
}

// cached returns the statement for query if it was prepared already, and
// otherwise notes the query for prepareMissed.
func (c *stmtCache) cached(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stmts[query]
	if st == nil {
		c.missed[query] = true
	}
	return st
}

// prepareMissed prepares the queries that transactions ran unprepared. The
// Store calls it once a transaction has ended, when the writer's connection
// is free again. A query that fails to prepare is left to run unprepared.
func (c *stmtCache) prepareMissed(ctx context.Context) {
	c.mu.Lock()
	queries := make([]string, 0, len(c.missed))
	for q := range c.missed {
		queries = append(queries, q)
	}
	clear(c.missed)
	c.mu.Unlock()
	if len(queries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, q := range queries {
		_, _ = c.stmt(ctx, q)
	}
}

// ExecContext runs query as a cached prepared statement.
func (c *stmtCache) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryContext runs query as a cached prepared statement.
func (c *stmtCache) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query as a cached prepared statement.
func (c *stmtCache) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := c.stmt(ctx, query)
	if err != nil {
		// sql.Row cannot be built with an error; the unprepared query
		// reports the same failure.
		return c.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// PrepareContext prepares query outside the cache; the caller closes it.
func (c *stmtCache) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.db.PrepareContext(ctx, query)
}

// Close closes every cached statement.
func (c *stmtCache) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var err error
	for q, st := range c.stmts {
		err = errors.Join(err, st.Close())
		delete(c.stmts, q)
	}
	return err
}

// txStmts is a sqlite.DBTX bound to one transaction. It reuses statements
// that the writer's cache prepared already, and runs the others
// unprepared: preparing through the cache would wait for the writer's one
// connection, which this transaction holds. Those are prepared once the
// transaction ends (stmtCache.prepareMissed).
//
// Every statement runs under the transaction's bound as well as its
// caller's context: it is interrupted once ctx, the transaction's context
// (which ends at Config.WriteTimeout), is done, so that a statement begun
// late in the transaction does not hold the writer past the bound.
type txStmts struct {
	tx    *sql.Tx
	cache *stmtCache
	ctx   context.Context
}

// bound returns ctx, ended too when the transaction's context ends. An
// Exec calls the cancel function on return; rows may be read after the
// call returns, so a query leaves its context to end with the transaction.
func (t txStmts) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	return ctx, func() { stop(); cancel(nil) }
}

// ExecContext runs query in the transaction.
func (t txStmts) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	if st := t.cache.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query in the transaction.
func (t txStmts) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx, _ = t.bound(ctx) // Ends with the transaction.
	if st := t.cache.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query in the transaction.
func (t txStmts) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx, _ = t.bound(ctx) // Ends with the transaction.
	if st := t.cache.cached(query); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

// PrepareContext prepares query for the transaction's life.
func (t txStmts) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	return t.tx.PrepareContext(ctx, query)
}
