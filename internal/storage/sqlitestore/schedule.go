package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// ScheduleCreate stores a new schedule. See storage.ScheduleStore.
func (s *Store) ScheduleCreate(ctx context.Context, p *storage.ScheduleCreateParams) (*storage.Schedule, error) {
	c, err := p.WithDefaults()
	var vars []byte
	if err == nil {
		vars, err = storage.MarshalLabels(c.Variables)
	}
	if err == nil {
		err = checkScheduleNoNUL(c.Cron, c.Timezone, c.Environment, c.Queue, vars)
	}
	if err != nil {
		return nil, fmt.Errorf("create schedule: %w", err)
	}
	t := now()
	row, err := s.q.ScheduleCreate(ctx, s.db, &sqlite.ScheduleCreateParams{
		ID:          c.ID.String(),
		PlanID:      c.PlanID.String(),
		Cron:        c.Cron,
		Timezone:    c.Timezone,
		Variables:   string(vars),
		Environment: nullString(c.Environment),
		Queue:       c.Queue,
		Overlap:     string(c.Overlap),
		Paused:      c.Paused,
		NextRunAt:   c.NextRunAt.UnixMicro(),
		Now:         t,
	})
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			err = fmt.Errorf("plan %s: %w", c.PlanID, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("create schedule: %w", err)
	}
	return scheduleFromRow(row), nil
}

// ScheduleGetByID returns one schedule. See storage.ScheduleStore.
func (s *Store) ScheduleGetByID(ctx context.Context, id uuid.UUID) (*storage.Schedule, error) {
	row, err := s.q.ScheduleGetByID(ctx, s.read, id.String())
	if err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", id, interpretError(err))
	}
	return scheduleFromRow(row), nil
}

// ScheduleUpdate replaces a schedule's fields. See storage.ScheduleStore.
func (s *Store) ScheduleUpdate(ctx context.Context, p *storage.ScheduleUpdateParams) (*storage.Schedule, error) {
	u, err := p.WithDefaults()
	var vars []byte
	if err == nil {
		vars, err = storage.MarshalLabels(u.Variables)
	}
	if err == nil {
		err = checkScheduleNoNUL(u.Cron, u.Timezone, u.Environment, u.Queue, vars)
	}
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", p.ID, err)
	}
	var row *sqlite.Schedule
	err = s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.ScheduleUpdate(ctx, tx.db, &sqlite.ScheduleUpdateParams{
			ID:               u.ID.String(),
			ExpectedRevision: u.ExpectedRevision,
			Cron:             u.Cron,
			Timezone:         u.Timezone,
			Variables:        string(vars),
			Environment:      nullString(u.Environment),
			Queue:            u.Queue,
			Overlap:          string(u.Overlap),
			NextRunAt:        u.NextRunAt.UnixMicro(),
			Now:              now(),
		})
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the schedule is gone or its revision moved on.
			if _, gerr := tx.q.ScheduleGetByID(ctx, tx.db, p.ID.String()); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", p.ID, err)
	}
	return scheduleFromRow(row), nil
}

// ScheduleSetPaused pauses or resumes a schedule. See
// storage.ScheduleStore.
func (s *Store) ScheduleSetPaused(ctx context.Context, p *storage.ScheduleSetPausedParams) (*storage.Schedule, error) {
	var next sql.NullInt64
	if !p.NextRunAt.IsZero() {
		next = sql.NullInt64{Int64: p.NextRunAt.UnixMicro(), Valid: true}
	}
	row, err := s.q.ScheduleSetPaused(ctx, s.db, &sqlite.ScheduleSetPausedParams{
		ID: p.ID.String(), Paused: p.Paused, NextRunAt: next, Now: now(),
	})
	if err != nil {
		return nil, fmt.Errorf("set schedule %s paused=%t: %w", p.ID, p.Paused, interpretError(err))
	}
	return scheduleFromRow(row), nil
}

// ScheduleDelete deletes a schedule. See storage.ScheduleStore.
func (s *Store) ScheduleDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.ScheduleDelete(ctx, s.db, id.String())
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("delete schedule %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// ScheduleList returns one page of schedules. See storage.ScheduleStore.
func (s *Store) ScheduleList(ctx context.Context, p *storage.ScheduleListParams) (*storage.SchedulePage, error) {
	after, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	arg := &sqlite.ScheduleListParams{MaxRows: int64(limit + 1)}
	if after != uuid.Nil {
		arg.AfterID = after.String()
	}
	if p.PlanID != uuid.Nil {
		arg.PlanID = nullString(p.PlanID.String())
	}
	rows, err := s.q.ScheduleList(ctx, s.read, arg)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", interpretError(err))
	}
	page := &storage.SchedulePage{}
	page.Schedules, page.NextCursor = storage.PageOf(rows, limit, scheduleFromRow,
		func(r *sqlite.Schedule) storage.Cursor {
			return storage.Cursor{List: storage.ListSchedules, ID: r.ID}
		})
	return page, nil
}

// ScheduleClaimDue reads due schedules under the single writer. See
// storage.ScheduleStore.
func (s *Store) ScheduleClaimDue(ctx context.Context, now time.Time, limit int) ([]*storage.DueSchedule, error) {
	if limit <= 0 {
		return nil, nil
	}
	// s.db is the writer (or the caller's write transaction), so nothing
	// else writes until the caller's transaction ends.
	rows, err := s.q.ScheduleClaimDue(ctx, s.db, &sqlite.ScheduleClaimDueParams{Now: now.UnixMicro(), MaxRows: int64(limit)})
	if err != nil {
		return nil, fmt.Errorf("claim due schedules: %w", interpretError(err))
	}
	due := make([]*storage.DueSchedule, len(rows))
	for i, r := range rows {
		due[i] = &storage.DueSchedule{
			Schedule:            scheduleFromRow(&r.Schedule),
			PlanRevision:        r.PlanRevision,
			LastExecutionStatus: storage.ExecutionStatus(r.LastExecutionStatus),
		}
	}
	return due, nil
}

// ScheduleAdvance moves schedules to their next tick, one statement each,
// in one transaction. See storage.ScheduleStore.
func (s *Store) ScheduleAdvance(ctx context.Context, ps []*storage.ScheduleAdvanceParams) error {
	if len(ps) == 0 {
		return nil
	}
	err := s.inWriteTx(ctx, func(tx *Store) error {
		for _, p := range ps {
			arg := &sqlite.ScheduleAdvanceParams{ID: p.ID.String(), NextRunAt: p.NextRunAt.UnixMicro(), Fired: p.Fired}
			if p.Fired {
				arg.LastRunAt = sql.NullInt64{Int64: p.LastRunAt.UnixMicro(), Valid: true}
				arg.LastExecutionID = nullString(p.LastExecutionID.String())
			}
			if err := tx.q.ScheduleAdvance(ctx, tx.db, arg); err != nil {
				return interpretError(err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("advance %d schedules: %w", len(ps), err)
	}
	return nil
}

// ScheduleNextDue returns the earliest next run. See
// storage.ScheduleStore.
func (s *Store) ScheduleNextDue(ctx context.Context) (time.Time, error) {
	t, err := s.q.ScheduleNextDue(ctx, s.read)
	if err != nil {
		return time.Time{}, fmt.Errorf("next due schedule: %w", interpretError(err))
	}
	return fromMicros(t), nil
}

// ScheduleCountByEnvironment counts the schedules of an environment. See
// storage.ScheduleStore.
func (s *Store) ScheduleCountByEnvironment(ctx context.Context, name string) (int, error) {
	n, err := s.q.ScheduleCountByEnvironment(ctx, s.read, name)
	if err != nil {
		return 0, fmt.Errorf("count schedules of environment %q: %w", name, interpretError(err))
	}
	return int(n), nil
}

// checkScheduleNoNUL refuses NUL in a schedule's fields, as Postgres does.
func checkScheduleNoNUL(cron, timezone, environment, queue string, variables []byte) error {
	return errors.Join(
		checkNoNUL("cron", cron),
		checkNoNUL("timezone", timezone),
		checkNoNUL("environment", environment),
		checkNoNUL("queue", queue),
		checkJSONNoNUL("variables", variables),
	)
}

func scheduleFromRow(r *sqlite.Schedule) *storage.Schedule {
	sc := &storage.Schedule{
		ID:          uuid.MustParse(r.ID),
		PlanID:      uuid.MustParse(r.PlanID),
		Cron:        r.Cron,
		Timezone:    r.Timezone,
		Variables:   storage.UnmarshalLabels([]byte(r.Variables)),
		Environment: r.Environment.String,
		Queue:       r.Queue,
		Overlap:     storage.ScheduleOverlap(r.Overlap),
		Paused:      r.Paused,
		NextRunAt:   fromMicros(r.NextRunAt),
		LastRunAt:   fromNullMicros(r.LastRunAt),
		Revision:    r.Revision,
		CreatedAt:   fromMicros(r.CreatedAt),
		UpdatedAt:   fromMicros(r.UpdatedAt),
	}
	if r.LastExecutionID.Valid {
		sc.LastExecutionID = uuid.MustParse(r.LastExecutionID.String)
	}
	return sc
}
