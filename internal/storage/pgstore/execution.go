package pgstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// ExecutionCreate stores a queued execution. See storage.ExecutionStore.
func (s *Store) ExecutionCreate(ctx context.Context, in *storage.ExecutionCreateParams) (*storage.Execution, error) {
	p, err := in.WithDefaults()
	if err != nil {
		return nil, fmt.Errorf("create execution: %w", err)
	}
	vars, err := storage.MarshalLabels(p.Variables)
	if err != nil {
		return nil, fmt.Errorf("create execution: %w", err)
	}
	row, err := s.q.ExecutionCreate(ctx, s.db, &postgres.ExecutionCreateParams{
		ID:             p.ID,
		PlanID:         p.PlanID,
		PlanRevision:   p.PlanRevision,
		IdempotencyKey: optional(p.IdempotencyKey),
		Variables:      vars,
		Environment:    optional(p.Environment),
		Trigger:        string(p.Trigger),
		ScheduleID:     optionalID(p.ScheduleID),
		Queue:          p.Queue,
	})
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			err = fmt.Errorf("plan %s: %w", p.PlanID, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("create execution: %w", err)
	}
	return executionFromRow(row), nil
}

// ExecutionCreateMany stores queued executions with one statement. See
// storage.ExecutionStore.
func (s *Store) ExecutionCreateMany(ctx context.Context, ps []*storage.ExecutionCreateParams) ([]*storage.Execution, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	arg := &postgres.ExecutionCreateManyParams{
		Ids:             make([]uuid.UUID, len(ps)),
		PlanIds:         make([]uuid.UUID, len(ps)),
		PlanRevisions:   make([]int64, len(ps)),
		IdempotencyKeys: make([]string, len(ps)),
		Variables:       make([][]byte, len(ps)),
		Environments:    make([]string, len(ps)),
		Triggers:        make([]string, len(ps)),
		ScheduleIds:     make([]uuid.UUID, len(ps)),
		Queues:          make([]string, len(ps)),
	}
	for i, in := range ps {
		p, err := in.WithDefaults()
		if err != nil {
			return nil, fmt.Errorf("create %d executions: execution %d: %w", len(ps), i, err)
		}
		vars, err := storage.MarshalLabels(p.Variables)
		if err != nil {
			return nil, fmt.Errorf("create %d executions: execution %d: %w", len(ps), i, err)
		}
		arg.Ids[i], arg.PlanIds[i], arg.PlanRevisions[i] = p.ID, p.PlanID, p.PlanRevision
		arg.IdempotencyKeys[i], arg.Variables[i], arg.Environments[i] = p.IdempotencyKey, vars, p.Environment
		arg.Triggers[i], arg.ScheduleIds[i], arg.Queues[i] = string(p.Trigger), p.ScheduleID, p.Queue
	}
	rows, err := s.q.ExecutionCreateMany(ctx, s.db, arg)
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			err = fmt.Errorf("a plan: %w", storage.ErrNotFound)
		}
		return nil, fmt.Errorf("create %d executions: %w", len(ps), err)
	}
	created := make([]*storage.Execution, len(rows))
	for i, r := range rows {
		created[i] = executionFromRow(r)
	}
	return storage.InOrderOf(arg.Ids, created), nil
}

// ExecutionGetByID returns one execution. See storage.ExecutionStore.
func (s *Store) ExecutionGetByID(ctx context.Context, id uuid.UUID) (*storage.Execution, error) {
	row, err := s.q.ExecutionGetByID(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("get execution %s: %w", id, interpretError(err))
	}
	return executionFromRow(row), nil
}

// ExecutionGetByIdempotencyKey returns the plan's execution with that key.
// See storage.ExecutionStore.
func (s *Store) ExecutionGetByIdempotencyKey(ctx context.Context, planID uuid.UUID, key string) (*storage.Execution, error) {
	row, err := s.q.ExecutionGetByIdempotencyKey(ctx, s.db, &postgres.ExecutionGetByIdempotencyKeyParams{
		PlanID:         planID,
		IdempotencyKey: &key,
	})
	if err != nil {
		return nil, fmt.Errorf("get execution by idempotency key: %w", interpretError(err))
	}
	return executionFromRow(row), nil
}

// ExecutionList returns one page of executions, newest first. See
// storage.ExecutionStore.
func (s *Store) ExecutionList(ctx context.Context, p *storage.ExecutionListParams) (*storage.ExecutionPage, error) {
	before, labels, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	arg := &postgres.ExecutionListParams{MaxRows: int32(limit + 1), Labels: labels}
	if before != uuid.Nil {
		arg.BeforeID = &before
	}
	if p.PlanID != uuid.Nil {
		arg.PlanID = &p.PlanID
	}
	if p.Status != "" {
		arg.Status = postgres.NullExecutionStatus{ExecutionStatus: postgres.ExecutionStatus(p.Status), Valid: true}
	}
	arg.Trigger = optional(string(p.Trigger))
	arg.ScheduleID = optionalID(p.ScheduleID)
	arg.Since, arg.Until = optionalTime(p.Since), optionalTime(p.Until)
	rows, err := s.q.ExecutionList(ctx, s.db, arg)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", interpretError(err))
	}
	page := &storage.ExecutionPage{}
	page.Executions, page.NextCursor = storage.PageOf(rows, limit, executionFromRow,
		func(r *postgres.Execution) storage.Cursor {
			return storage.Cursor{List: storage.ListExecutions, ID: r.ID.String()}
		})
	return page, nil
}

// ExecutionSetStatus moves an execution to a new status. See
// storage.ExecutionStore.
func (s *Store) ExecutionSetStatus(ctx context.Context, p *storage.ExecutionSetStatusParams) (*storage.Execution, error) {
	if !p.Status.Valid() {
		return nil, fmt.Errorf("set execution status: %w: unknown status %q", storage.ErrInvalidInput, p.Status)
	}
	var from []string
	for _, st := range storage.ExecutionSourcesOf(p.Status) {
		from = append(from, string(st))
	}
	arg := &postgres.ExecutionSetStatusParams{
		ID:           p.ID,
		Status:       postgres.ExecutionStatus(p.Status),
		Attempt:      int32(p.Attempt),
		Result:       p.Result,
		FromStatuses: from,
		Final:        p.Status.Final(),
		WorkerID:     optional(p.WorkerID),
		Now:          optionalTime(p.Now),
	}
	if p.Result != nil {
		sum := p.ResultSummary()
		if sum.DurationMS != nil {
			arg.DurationMs = pgtype.Int8{Int64: *sum.DurationMS, Valid: true}
		}
		arg.StepSummary = sum.Steps
	}
	if p.Job != nil {
		arg.JobID = pgtype.Int8{Int64: p.Job.ID, Valid: true}
		arg.JobToken = p.Job.Token
	}
	row, err := s.q.ExecutionSetStatus(ctx, s.db, arg)
	if err != nil {
		err = interpretError(err)
		if storage.IsNotFound(err) {
			err = s.whyNotSet(ctx, p)
		}
		return nil, fmt.Errorf("set execution %s status: %w", p.ID, err)
	}
	return executionFromRow(row), nil
}

// ExecutionFinishMany moves executions to final statuses with one
// statement. See storage.ExecutionStore.
func (s *Store) ExecutionFinishMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) ([]*storage.Execution, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	arg := &postgres.ExecutionFinishManyParams{
		Ids:           make([]uuid.UUID, len(ps)),
		Statuses:      make([]string, len(ps)),
		Results:       make([][]byte, len(ps)),
		DurationsMs:   make([]int64, len(ps)),
		StepSummaries: make([][]byte, len(ps)),
		JobIds:        make([]int64, len(ps)),
		JobTokens:     make([]int64, len(ps)),
	}
	for i, p := range ps {
		if err := p.CheckFinish(); err != nil {
			return nil, fmt.Errorf("finish %d executions: %w", len(ps), err)
		}
		arg.Ids[i], arg.Statuses[i], arg.Results[i] = p.ID, string(p.Status), p.Result
		arg.DurationsMs[i] = -1
		if p.Result != nil {
			sum := p.ResultSummary()
			if sum.DurationMS != nil {
				arg.DurationsMs[i] = *sum.DurationMS
			}
			arg.StepSummaries[i] = sum.Steps
		}
		arg.JobIds[i], arg.JobTokens[i] = p.Job.ID, p.Job.Token
	}
	rows, err := s.q.ExecutionFinishMany(ctx, s.db, arg)
	if err != nil {
		return nil, fmt.Errorf("finish %d executions: %w", len(ps), interpretError(err))
	}
	done := make([]*storage.Execution, len(rows))
	for i, r := range rows {
		done[i] = executionFromRow(r)
	}
	return done, nil
}

// ExecutionStartMany moves executions to running with one statement,
// which also reads their plans. See storage.ExecutionStore.
func (s *Store) ExecutionStartMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) ([]*storage.ExecutionStarted, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if err := storage.CheckStarts(ps); err != nil {
		return nil, fmt.Errorf("start %d executions: %w", len(ps), err)
	}
	arg := &postgres.ExecutionStartManyParams{
		Ids:       make([]uuid.UUID, len(ps)),
		Attempts:  make([]int32, len(ps)),
		WorkerIds: make([]string, len(ps)),
		JobIds:    make([]int64, len(ps)),
		JobTokens: make([]int64, len(ps)),
	}
	for i, p := range ps {
		arg.Ids[i], arg.Attempts[i], arg.WorkerIds[i] = p.ID, int32(min(p.Attempt, math.MaxInt32)), p.WorkerID
		arg.JobIds[i], arg.JobTokens[i] = p.Job.ID, p.Job.Token
	}
	rows, err := s.q.ExecutionStartMany(ctx, s.db, arg)
	if err != nil {
		return nil, fmt.Errorf("start %d executions: %w", len(ps), interpretError(err))
	}
	out := make([]*storage.ExecutionStarted, len(rows))
	for i, r := range rows {
		out[i] = &storage.ExecutionStarted{
			Execution: executionFromRow(&postgres.Execution{
				ID: r.ID, PlanID: r.PlanID, PlanRevision: r.PlanRevision, Status: r.Status, Attempt: r.Attempt,
				IdempotencyKey: r.IdempotencyKey, CreatedAt: r.CreatedAt, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
				Result: r.Result, Variables: r.Variables, Environment: r.Environment, Trigger: r.Trigger,
				ScheduleID: r.ScheduleID, Queue: r.Queue, WorkerID: r.WorkerID, DurationMs: r.DurationMs, StepSummary: r.StepSummary,
			}),
			PlanName: r.PlanName, PlanRevision: r.CurrentPlanRevision, PlanDocument: r.PlanDocument,
		}
	}
	return out, nil
}

// whyNotSet tells why ExecutionSetStatus matched no row: no such
// execution, a lost lease, or an illegal transition.
func (s *Store) whyNotSet(ctx context.Context, p *storage.ExecutionSetStatusParams) error {
	cur, err := s.q.ExecutionGetByID(ctx, s.db, p.ID)
	if err != nil {
		return interpretError(err)
	}
	if p.Job != nil {
		held, err := s.q.ExecutionJobHoldsLease(ctx, s.db, &postgres.ExecutionJobHoldsLeaseParams{
			JobID: p.Job.ID, JobToken: p.Job.Token,
		})
		if err != nil {
			return interpretError(err)
		}
		if !held {
			return fmt.Errorf("%w: job %d no longer runs under token %d", storage.ErrLeaseLost, p.Job.ID, p.Job.Token)
		}
	}
	return fmt.Errorf("%w: %s to %s", storage.ErrIllegalTransition, cur.Status, p.Status)
}

// ExecutionDeleteByPlanID deletes a plan's executions. See
// storage.ExecutionStore.
func (s *Store) ExecutionDeleteByPlanID(ctx context.Context, planID uuid.UUID) (int64, error) {
	n, err := s.q.ExecutionDeleteByPlanID(ctx, s.db, planID)
	if err != nil {
		return 0, fmt.Errorf("delete executions of plan %s: %w", planID, interpretError(err))
	}
	return n, nil
}

func executionFromRow(r *postgres.Execution) *storage.Execution {
	e := &storage.Execution{
		ID:           r.ID,
		PlanID:       r.PlanID,
		PlanRevision: r.PlanRevision,
		Status:       storage.ExecutionStatus(r.Status),
		Attempt:      int(r.Attempt),
		CreatedAt:    r.CreatedAt,
		StartedAt:    r.StartedAt,
		FinishedAt:   r.FinishedAt,
		Variables:    storage.UnmarshalLabels(r.Variables),
		Environment:  deref(r.Environment),
		Trigger:      storage.ExecutionTrigger(r.Trigger),
		Queue:        r.Queue,
		WorkerID:     deref(r.WorkerID),
	}
	e.IdempotencyKey = deref(r.IdempotencyKey)
	if r.ScheduleID != nil {
		e.ScheduleID = *r.ScheduleID
	}
	if r.Result != nil {
		e.Result = json.RawMessage(r.Result)
	}
	return e
}

// ExecutionReconcile finishes executions whose job ended without finishing
// them, and returns them ordered by ID. See storage.ExecutionStore.
func (s *Store) ExecutionReconcile(ctx context.Context) ([]*storage.Execution, error) {
	rows, err := s.q.ExecutionReconcile(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("reconcile executions: %w", interpretError(err))
	}
	done := make([]*storage.Execution, len(rows))
	for i, r := range rows {
		done[i] = executionFromRow(r)
	}
	// RETURNING gives the rows in no particular order.
	slices.SortFunc(done, func(a, b *storage.Execution) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	return done, nil
}

// optionalID returns nil for uuid.Nil and a pointer to id otherwise, for a
// nullable uuid column.
func optionalID(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

// optionalTime returns nil for the zero time and a pointer to t
// otherwise, for a nullable timestamptz parameter.
func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// deref returns *s, or "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// ExecutionPrune deletes one batch of old finished executions. See
// storage.ExecutionStore.
func (s *Store) ExecutionPrune(ctx context.Context, p *storage.ExecutionPruneParams) (int64, error) {
	q := p.WithDefaults()
	if err := q.Validate(); err != nil {
		return 0, fmt.Errorf("prune executions: %w", err)
	}
	arg := &postgres.ExecutionPruneParams{
		KeepNewest:              int32(q.KeepNewest),
		DefaultRetentionSeconds: q.DefaultRetentionSeconds(),
		MaxRows:                 int32(q.Limit),
	}
	if !q.Now.IsZero() {
		arg.Now = &q.Now
	}
	n, err := s.q.ExecutionPrune(ctx, s.db, arg)
	if err != nil {
		return 0, fmt.Errorf("prune executions: %w", interpretError(err))
	}
	return n, nil
}
