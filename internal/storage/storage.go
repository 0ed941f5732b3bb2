// Package storage defines astro-runner's domain types, the Store interface
// that every backend implements, and the sentinel errors callers check with
// errors.Is. It imports no database driver.
package storage

import (
	"context"
	"errors"
	"fmt"
)

// Sentinel errors returned by every Store implementation. Callers check them
// with errors.Is; adapters wrap them with context.
var (
	// ErrNotFound means that no row has the requested identity.
	ErrNotFound = errors.New("not found")
	// ErrConflict means that the write conflicts with the current state: a
	// duplicate name, a stale revision, a row still referenced, or an
	// illegal status transition.
	ErrConflict = errors.New("conflict")
	// ErrInvalidInput means that a parameter is malformed, such as a
	// tampered cursor or an out-of-range limit.
	ErrInvalidInput = errors.New("invalid input")
	// ErrLeaseLost means that the caller no longer holds the job's lease:
	// its fencing token does not match, because the lease expired and the
	// job was rescued or claimed again.
	ErrLeaseLost = errors.New("lease lost")
	// ErrUnavailable means that the database could not be reached. It is
	// temporary; the API answers it with 503.
	ErrUnavailable = errors.New("storage unavailable")

	// ErrStaleRevision is a conflict where the expected revision of a plan
	// is not its current one. errors.Is(err, ErrConflict) is also true.
	ErrStaleRevision = fmt.Errorf("%w: stale revision", ErrConflict)
	// ErrIllegalTransition is a conflict where an execution cannot move from
	// its current status to the requested one. errors.Is(err, ErrConflict)
	// is also true.
	ErrIllegalTransition = fmt.Errorf("%w: illegal status transition", ErrConflict)
	// ErrReferenced is a conflict where a row cannot be deleted because
	// other rows still refer to it. errors.Is(err, ErrConflict) is also true.
	ErrReferenced = fmt.Errorf("%w: still referenced", ErrConflict)
)

// Store is the persistence contract shared by every backend: plans,
// executions, environments, schedules, alerts, the job queue and secrets,
// all in one database so that a write and its job commit together.
type Store interface {
	PlanStore
	ExecutionStore
	JobStore
	EnvironmentStore
	SecretStore
	ScheduleStore
	AlertStore
	StatsStore
	OverviewStore

	// InTx runs fn with a Store bound to one transaction. It commits when fn
	// returns nil, rolls back when fn returns an error or panics, and
	// re-panics after rolling back. Calling InTx on a transaction-bound
	// Store runs fn in the same transaction.
	InTx(ctx context.Context, fn func(tx Store) error) error
	// Ping checks that the database answers and accepts writes: on SQLite
	// that the writer can be had within ctx, on Postgres that the server
	// is not read-only. Returns ErrUnavailable if not.
	Ping(ctx context.Context) error
	// Close releases the store's connections.
	Close() error
}
