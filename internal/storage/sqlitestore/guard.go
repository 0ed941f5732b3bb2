package sqlitestore

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/ncruces/go-sqlite3"
	sqlite3driver "github.com/ncruces/go-sqlite3/driver"
)

// errDriverPanic is the error a driver call returns instead of panicking.
var errDriverPanic = errors.New("sqlite driver panicked")

// guardedConnector wraps the ncruces connector so that no panic inside the
// driver crosses database/sql, and, when limit is positive, so that every
// statement runs under a deadline of limit.
//
// database/sql does not release a connection when a prepared statement's
// driver call panics: the writer's one connection (or a transaction's lock
// on it) stays held for ever, and every later write waits. The guard turns
// the panic into an error and marks the connection broken; IsValid then
// reports it invalid, so database/sql closes it instead of reusing it.
//
// The deadline makes ncruces interrupt a statement that runs too long, so
// that no statement holds the writer for more than limit.
type guardedConnector struct {
	inner driver.Connector
	limit time.Duration
}

// newGuardedConnector returns the guarded connector for dsn.
func newGuardedConnector(dsn string, limit time.Duration) (*guardedConnector, error) {
	inner, err := (&sqlite3driver.SQLite{}).OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &guardedConnector{inner: inner, limit: limit}, nil
}

// Connect opens a guarded connection.
func (g *guardedConnector) Connect(ctx context.Context) (c driver.Conn, err error) {
	defer recoverDriver(nil, &err)
	inner, err := g.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	conn := inner.(sqlite3driver.Conn)
	if err := registerFunctions(conn.Raw()); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return &guardedConn{inner: conn, limit: g.limit}, nil
}

// Driver returns the ncruces driver.
func (g *guardedConnector) Driver() driver.Driver { return g.inner.Driver() }

// recoverDriver turns a panic into errDriverPanic in *err and marks c
// broken. It must be deferred directly.
func recoverDriver(c *guardedConn, err *error) {
	if p := recover(); p != nil {
		if c != nil {
			c.broken = true
		}
		*err = fmt.Errorf("%w: %v", errDriverPanic, p)
	}
}

// guardedConn is one guarded connection. database/sql serialises the calls
// on a connection, so broken needs no lock.
type guardedConn struct {
	inner  sqlite3driver.Conn
	limit  time.Duration
	broken bool
}

var (
	_ sqlite3driver.Conn       = (*guardedConn)(nil)
	_ driver.ExecerContext     = (*guardedConn)(nil)
	_ driver.NamedValueChecker = (*guardedConn)(nil)
	_ driver.Validator         = (*guardedConn)(nil)
)

// bound returns ctx under the connection's statement deadline, if any.
func (c *guardedConn) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.limit <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.limit)
}

// IsValid reports whether the connection may be reused: not after a panic.
func (c *guardedConn) IsValid() bool { return !c.broken }

// Raw returns the ncruces connection.
func (c *guardedConn) Raw() *sqlite3.Conn { return c.inner.Raw() }

// Prepare prepares a statement.
func (c *guardedConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// PrepareContext prepares a statement.
func (c *guardedConn) PrepareContext(ctx context.Context, query string) (st driver.Stmt, err error) {
	defer recoverDriver(c, &err)
	ctx, cancel := c.bound(ctx)
	defer cancel()
	inner, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &guardedStmt{inner: inner, c: c}, nil
}

// Close closes the connection.
func (c *guardedConn) Close() (err error) {
	defer recoverDriver(c, &err)
	return c.inner.Close()
}

// Begin starts a transaction.
func (c *guardedConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

// BeginTx starts a transaction.
func (c *guardedConn) BeginTx(ctx context.Context, opts driver.TxOptions) (tx driver.Tx, err error) {
	defer recoverDriver(c, &err)
	ctx, cancel := c.bound(ctx)
	defer cancel()
	inner, err := c.inner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return guardedTx{inner: inner, c: c}, nil
}

// ExecContext runs a statement without arguments, or asks database/sql to
// prepare it (driver.ErrSkip).
func (c *guardedConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (r driver.Result, err error) {
	defer recoverDriver(c, &err)
	ctx, cancel := c.bound(ctx)
	defer cancel()
	return c.inner.(driver.ExecerContext).ExecContext(ctx, query, args)
}

// CheckNamedValue accepts every argument, as ncruces does.
func (c *guardedConn) CheckNamedValue(arg *driver.NamedValue) error {
	return c.inner.(driver.NamedValueChecker).CheckNamedValue(arg)
}

// guardedTx ends a transaction. A broken connection is not asked to: it
// will be closed, which rolls back.
type guardedTx struct {
	inner driver.Tx
	c     *guardedConn
}

// Commit commits the transaction.
func (t guardedTx) Commit() (err error) {
	if t.c.broken {
		return driver.ErrBadConn
	}
	defer recoverDriver(t.c, &err)
	return t.inner.Commit()
}

// Rollback rolls the transaction back.
func (t guardedTx) Rollback() (err error) {
	if t.c.broken {
		return driver.ErrBadConn
	}
	defer recoverDriver(t.c, &err)
	return t.inner.Rollback()
}

// guardedStmt is a statement on a guarded connection.
type guardedStmt struct {
	inner driver.Stmt
	c     *guardedConn
}

var (
	_ driver.StmtExecContext   = (*guardedStmt)(nil)
	_ driver.StmtQueryContext  = (*guardedStmt)(nil)
	_ driver.NamedValueChecker = (*guardedStmt)(nil)
)

// Close closes the statement.
func (s *guardedStmt) Close() (err error) {
	defer recoverDriver(s.c, &err)
	return s.inner.Close()
}

// NumInput returns the number of parameters.
func (s *guardedStmt) NumInput() int { return s.inner.NumInput() }

// Exec runs the statement.
func (s *guardedStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("sqlite: Exec without context is not supported")
}

// Query runs the statement.
func (s *guardedStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("sqlite: Query without context is not supported")
}

// ExecContext runs the statement under the connection's deadline.
func (s *guardedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (r driver.Result, err error) {
	defer recoverDriver(s.c, &err)
	ctx, cancel := s.c.bound(ctx)
	defer cancel()
	return s.inner.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext runs the statement under the connection's deadline, which
// lasts until the rows are closed.
func (s *guardedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (r driver.Rows, err error) {
	defer recoverDriver(s.c, &err)
	ctx, cancel := s.c.bound(ctx)
	inner, err := s.inner.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		cancel()
		return nil, err
	}
	return &guardedRows{inner: inner, c: s.c, cancel: cancel}, nil
}

// CheckNamedValue checks an argument as ncruces does.
func (s *guardedStmt) CheckNamedValue(arg *driver.NamedValue) error {
	return s.inner.(driver.NamedValueChecker).CheckNamedValue(arg)
}

// guardedRows are the rows of a guarded statement.
type guardedRows struct {
	inner  driver.Rows
	c      *guardedConn
	cancel context.CancelFunc
}

var (
	_ driver.RowsColumnTypeDatabaseTypeName = (*guardedRows)(nil)
	_ driver.RowsColumnTypeNullable         = (*guardedRows)(nil)
)

// Columns returns the column names.
func (r *guardedRows) Columns() []string { return r.inner.Columns() }

// Close closes the rows and ends their deadline.
func (r *guardedRows) Close() (err error) {
	defer r.cancel()
	defer recoverDriver(r.c, &err)
	return r.inner.Close()
}

// Next reads the next row.
func (r *guardedRows) Next(dest []driver.Value) (err error) {
	defer recoverDriver(r.c, &err)
	return r.inner.Next(dest)
}

// ColumnTypeDatabaseTypeName returns the declared type of a column.
func (r *guardedRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.inner.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

// ColumnTypeNullable reports whether a column may be NULL.
func (r *guardedRows) ColumnTypeNullable(i int) (nullable, ok bool) {
	return r.inner.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}
