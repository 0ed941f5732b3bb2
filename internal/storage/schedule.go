package storage

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ScheduleOverlap says what a schedule's tick does while the schedule's
// previous execution is still queued or running.
type ScheduleOverlap string

// The overlap policies.
const (
	// OverlapSkip skips the tick: no execution is created, and the
	// schedule moves on to its next tick.
	OverlapSkip ScheduleOverlap = "skip"
	// OverlapAllow creates the execution anyway.
	OverlapAllow ScheduleOverlap = "allow"
)

// ScheduleOverlaps lists every overlap policy.
var ScheduleOverlaps = []ScheduleOverlap{OverlapSkip, OverlapAllow}

// Valid reports whether o is a known overlap policy.
func (o ScheduleOverlap) Valid() bool { return slices.Contains(ScheduleOverlaps, o) }

// Schedule runs a plan on a cron expression, in a time zone. The storage
// layer does not interpret Cron or Timezone: the caller computes
// NextRunAt.
type Schedule struct {
	ID     uuid.UUID
	PlanID uuid.UUID
	Cron   string
	// Timezone is an IANA time zone name.
	Timezone string
	// Variables are the run-time overrides of each execution. Never nil.
	Variables map[string]string
	// Environment names the environment of each execution, or is "".
	Environment string
	Queue       string
	Overlap     ScheduleOverlap
	Paused      bool
	// NextRunAt is when the schedule is next due.
	NextRunAt time.Time
	// LastRunAt is the tick of the schedule's last execution, or nil.
	LastRunAt *time.Time
	// LastExecutionID is the schedule's last execution, or uuid.Nil.
	LastExecutionID uuid.UUID
	Revision        int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// ScheduleCreateParams are the fields of a new schedule. Revision starts
// at 1.
type ScheduleCreateParams struct {
	// ID is the schedule's identity. Defaults to a new UUIDv7.
	ID       uuid.UUID
	PlanID   uuid.UUID
	Cron     string
	Timezone string
	// Variables default to none.
	Variables   map[string]string
	Environment string
	// Queue defaults to DefaultQueue.
	Queue string
	// Overlap defaults to OverlapSkip.
	Overlap   ScheduleOverlap
	Paused    bool
	NextRunAt time.Time
}

// WithDefaults returns a copy of p with defaults filled in. Returns
// ErrInvalidInput for an unknown overlap policy.
func (p ScheduleCreateParams) WithDefaults() (ScheduleCreateParams, error) {
	if p.ID == uuid.Nil {
		p.ID = uuid.Must(uuid.NewV7())
	}
	if p.Timezone == "" {
		p.Timezone = "UTC"
	}
	if p.Queue == "" {
		p.Queue = DefaultQueue
	}
	if p.Overlap == "" {
		p.Overlap = OverlapSkip
	}
	if !p.Overlap.Valid() {
		return p, fmt.Errorf("%w: unknown overlap %q", ErrInvalidInput, p.Overlap)
	}
	return p, nil
}

// ScheduleUpdateParams replace a schedule's fields when its revision is
// still ExpectedRevision. The plan and the paused state cannot change.
type ScheduleUpdateParams struct {
	ID               uuid.UUID
	ExpectedRevision int64
	Cron             string
	Timezone         string
	Variables        map[string]string
	Environment      string
	Queue            string
	Overlap          ScheduleOverlap
	NextRunAt        time.Time
}

// WithDefaults returns a copy of p with the defaults of
// ScheduleCreateParams filled in. Returns ErrInvalidInput for an unknown
// overlap policy.
func (p ScheduleUpdateParams) WithDefaults() (ScheduleUpdateParams, error) {
	c, err := ScheduleCreateParams{ID: p.ID, Timezone: p.Timezone, Queue: p.Queue, Overlap: p.Overlap}.WithDefaults()
	p.Timezone, p.Queue, p.Overlap = c.Timezone, c.Queue, c.Overlap
	return p, err
}

// ScheduleSetPausedParams pause or resume a schedule.
type ScheduleSetPausedParams struct {
	ID     uuid.UUID
	Paused bool
	// NextRunAt, when not zero, replaces the schedule's next tick (a
	// resumed schedule's next tick is computed from the time of resuming).
	NextRunAt time.Time
}

// ScheduleListParams filter and page a schedule listing, ordered by ID
// (creation order).
type ScheduleListParams struct {
	// PlanID keeps the schedules of one plan when it is not uuid.Nil.
	PlanID uuid.UUID
	// Limit is the page size. Defaults to 50; at most 200.
	Limit int
	// Cursor continues after the last schedule of a previous page.
	Cursor string
}

// SchedulePage is one page of schedules. NextCursor is empty on the last
// page.
type SchedulePage struct {
	Schedules  []*Schedule
	NextCursor string
}

// DueSchedule is a schedule claimed by ScheduleClaimDue, with what its
// tick needs to know.
type DueSchedule struct {
	*Schedule
	// PlanRevision is the current revision of the schedule's plan.
	PlanRevision int64
	// LastExecutionStatus is the status of the schedule's last execution,
	// or "" if it has none or it no longer exists.
	LastExecutionStatus ExecutionStatus
}

// ScheduleAdvanceParams move a claimed schedule to its next tick.
type ScheduleAdvanceParams struct {
	ID        uuid.UUID
	NextRunAt time.Time
	// Fired, when true, records LastRunAt and LastExecutionID; a skipped
	// tick leaves them as they are.
	Fired           bool
	LastRunAt       time.Time
	LastExecutionID uuid.UUID
}

// ScheduleStore persists schedules.
type ScheduleStore interface {
	// ScheduleCreate stores a new schedule at revision 1. Returns
	// ErrNotFound if the plan does not exist, ErrConflict if a schedule
	// already has that ID, and ErrInvalidInput for an unknown overlap.
	ScheduleCreate(ctx context.Context, p *ScheduleCreateParams) (*Schedule, error)
	// ScheduleGetByID returns one schedule. Returns ErrNotFound if no
	// schedule has that ID.
	ScheduleGetByID(ctx context.Context, id uuid.UUID) (*Schedule, error)
	// ScheduleUpdate replaces a schedule's fields and bumps its revision.
	// Returns ErrNotFound if no schedule has that ID, ErrStaleRevision if
	// its revision is not p.ExpectedRevision, and ErrInvalidInput for an
	// unknown overlap.
	ScheduleUpdate(ctx context.Context, p *ScheduleUpdateParams) (*Schedule, error)
	// ScheduleSetPaused pauses or resumes a schedule and bumps its
	// revision. Executions already created are untouched. Returns
	// ErrNotFound if no schedule has that ID.
	ScheduleSetPaused(ctx context.Context, p *ScheduleSetPausedParams) (*Schedule, error)
	// ScheduleDelete deletes a schedule. Its executions keep its ID.
	// Returns ErrNotFound if no schedule has that ID.
	ScheduleDelete(ctx context.Context, id uuid.UUID) error
	// ScheduleList returns one page of schedules. Returns ErrInvalidInput
	// for a malformed cursor.
	ScheduleList(ctx context.Context, p *ScheduleListParams) (*SchedulePage, error)
	// ScheduleClaimDue returns up to limit schedules that are not paused
	// and whose next_run_at is at or before now, earliest first, and holds
	// them until the transaction ends: a concurrent claimer never gets the
	// same schedule (FOR UPDATE SKIP LOCKED on Postgres, the single writer
	// on SQLite). Call it inside InTx, and move each claimed schedule on
	// with ScheduleAdvance in the same transaction.
	ScheduleClaimDue(ctx context.Context, now time.Time, limit int) ([]*DueSchedule, error)
	// ScheduleAdvance moves schedules to their next tick, and records the
	// execution of those that fired. An unknown ID is ignored.
	ScheduleAdvance(ctx context.Context, ps []*ScheduleAdvanceParams) error
	// ScheduleNextDue returns the earliest next_run_at of the schedules
	// that are not paused. Returns ErrNotFound if there is none.
	ScheduleNextDue(ctx context.Context) (time.Time, error)
	// ScheduleCountByEnvironment returns how many schedules, paused or
	// not, run in the environment name; 0 if none (or no such
	// environment).
	ScheduleCountByEnvironment(ctx context.Context, name string) (int, error)
}

// Decode checks p and returns the ID to list after (uuid.Nil for the
// first page) and the page size. Returns ErrInvalidInput for a malformed
// cursor.
func (p *ScheduleListParams) Decode() (afterID uuid.UUID, limit int, err error) {
	if afterID, err = DecodeUUIDCursor(p.Cursor, ListSchedules); err != nil {
		return uuid.Nil, 0, err
	}
	return afterID, PageLimit(p.Limit), nil
}
