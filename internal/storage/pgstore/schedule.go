package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// ScheduleCreate stores a new schedule. See storage.ScheduleStore.
func (s *Store) ScheduleCreate(ctx context.Context, p *storage.ScheduleCreateParams) (*storage.Schedule, error) {
	c, err := p.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("create schedule: %w", err)
	}
	vars, err := storage.MarshalLabels(c.Variables)
	if err != nil {
		return nil, fmt.Errorf("create schedule: %w", err)
	}
	row, err := s.q.ScheduleCreate(ctx, s.db, &postgres.ScheduleCreateParams{
		ID:          c.ID,
		PlanID:      c.PlanID,
		Cron:        c.Cron,
		Timezone:    c.Timezone,
		Variables:   vars,
		Environment: optional(c.Environment),
		Queue:       c.Queue,
		Overlap:     string(c.Overlap),
		Paused:      c.Paused,
		NextRunAt:   c.NextRunAt,
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
	row, err := s.q.ScheduleGetByID(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", id, interpretError(err))
	}
	return scheduleFromRow(row), nil
}

// ScheduleUpdate replaces a schedule's fields. See storage.ScheduleStore.
func (s *Store) ScheduleUpdate(ctx context.Context, p *storage.ScheduleUpdateParams) (*storage.Schedule, error) {
	u, err := p.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", p.ID, err)
	}
	vars, err := storage.MarshalLabels(u.Variables)
	if err != nil {
		return nil, fmt.Errorf("update schedule %s: %w", p.ID, err)
	}
	row, err := s.q.ScheduleUpdate(ctx, s.db, &postgres.ScheduleUpdateParams{
		ID:               u.ID,
		ExpectedRevision: u.ExpectedRevision,
		Cron:             u.Cron,
		Timezone:         u.Timezone,
		Variables:        vars,
		Environment:      optional(u.Environment),
		Queue:            u.Queue,
		Overlap:          string(u.Overlap),
		NextRunAt:        u.NextRunAt,
	})
	if err != nil {
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the schedule is gone or its revision moved on.
			if _, gerr := s.q.ScheduleGetByID(ctx, s.db, p.ID); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return nil, fmt.Errorf("update schedule %s: %w", p.ID, err)
	}
	return scheduleFromRow(row), nil
}

// ScheduleSetPaused pauses or resumes a schedule. See
// storage.ScheduleStore.
func (s *Store) ScheduleSetPaused(ctx context.Context, p *storage.ScheduleSetPausedParams) (*storage.Schedule, error) {
	var next *time.Time
	if !p.NextRunAt.IsZero() {
		next = &p.NextRunAt
	}
	row, err := s.q.ScheduleSetPaused(ctx, s.db, &postgres.ScheduleSetPausedParams{ID: p.ID, Paused: p.Paused, NextRunAt: next})
	if err != nil {
		return nil, fmt.Errorf("set schedule %s paused=%t: %w", p.ID, p.Paused, interpretError(err))
	}
	return scheduleFromRow(row), nil
}

// ScheduleDelete deletes a schedule. See storage.ScheduleStore.
func (s *Store) ScheduleDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.ScheduleDelete(ctx, s.db, id)
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
	var planID *uuid.UUID
	if p.PlanID != uuid.Nil {
		planID = &p.PlanID
	}
	rows, err := s.q.ScheduleList(ctx, s.db, &postgres.ScheduleListParams{
		AfterID: after,
		PlanID:  planID,
		MaxRows: int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", interpretError(err))
	}
	page := &storage.SchedulePage{}
	page.Schedules, page.NextCursor = storage.PageOf(rows, limit, scheduleFromRow,
		func(r *postgres.Schedule) storage.Cursor {
			return storage.Cursor{List: storage.ListSchedules, ID: r.ID.String()}
		})
	return page, nil
}

// ScheduleClaimDue locks due schedules with FOR UPDATE SKIP LOCKED. See
// storage.ScheduleStore.
func (s *Store) ScheduleClaimDue(ctx context.Context, now time.Time, limit int) ([]*storage.DueSchedule, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.q.ScheduleClaimDue(ctx, s.db, &postgres.ScheduleClaimDueParams{Now: now, MaxRows: int32(limit)})
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

// ScheduleAdvance moves schedules to their next tick in one statement. See
// storage.ScheduleStore.
func (s *Store) ScheduleAdvance(ctx context.Context, ps []*storage.ScheduleAdvanceParams) error {
	if len(ps) == 0 {
		return nil
	}
	arg := &postgres.ScheduleAdvanceParams{
		Ids:              make([]uuid.UUID, len(ps)),
		NextRunAts:       make([]time.Time, len(ps)),
		Fired:            make([]bool, len(ps)),
		LastRunAts:       make([]time.Time, len(ps)),
		LastExecutionIds: make([]uuid.UUID, len(ps)),
	}
	for i, p := range ps {
		arg.Ids[i], arg.NextRunAts[i], arg.Fired[i] = p.ID, p.NextRunAt, p.Fired
		arg.LastRunAts[i], arg.LastExecutionIds[i] = p.LastRunAt, p.LastExecutionID
	}
	if err := s.q.ScheduleAdvance(ctx, s.db, arg); err != nil {
		return fmt.Errorf("advance %d schedules: %w", len(ps), interpretError(err))
	}
	return nil
}

// ScheduleNextDue returns the earliest next run. See
// storage.ScheduleStore.
func (s *Store) ScheduleNextDue(ctx context.Context) (time.Time, error) {
	t, err := s.q.ScheduleNextDue(ctx, s.db)
	if err != nil {
		return time.Time{}, fmt.Errorf("next due schedule: %w", interpretError(err))
	}
	return t, nil
}

// ScheduleCountByEnvironment counts the schedules of an environment. See
// storage.ScheduleStore.
func (s *Store) ScheduleCountByEnvironment(ctx context.Context, name string) (int, error) {
	n, err := s.q.ScheduleCountByEnvironment(ctx, s.db, name)
	if err != nil {
		return 0, fmt.Errorf("count schedules of environment %q: %w", name, interpretError(err))
	}
	return int(n), nil
}

func scheduleFromRow(r *postgres.Schedule) *storage.Schedule {
	sc := &storage.Schedule{
		ID:        r.ID,
		PlanID:    r.PlanID,
		Cron:      r.Cron,
		Timezone:  r.Timezone,
		Variables: storage.UnmarshalLabels(r.Variables),
		Queue:     r.Queue,
		Overlap:   storage.ScheduleOverlap(r.Overlap),
		Paused:    r.Paused,
		NextRunAt: r.NextRunAt,
		LastRunAt: r.LastRunAt,
		Revision:  r.Revision,
		CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt,
	}
	if r.Environment != nil {
		sc.Environment = *r.Environment
	}
	if r.LastExecutionID != nil {
		sc.LastExecutionID = *r.LastExecutionID
	}
	return sc
}
