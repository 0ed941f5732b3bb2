package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// newExecution fills in the defaults of a new execution, encodes its
// variables, and refuses the NUL bytes Postgres cannot store, as Postgres
// would.
func newExecution(in *storage.ExecutionCreateParams) (storage.ExecutionCreateParams, []byte, error) {
	p, err := in.WithDefaults()
	if err != nil {
		return storage.ExecutionCreateParams{}, nil, err
	}
	vars, err := storage.MarshalLabels(p.Variables)
	if err != nil {
		return storage.ExecutionCreateParams{}, nil, err
	}
	err = errors.Join(checkNoNUL("idempotency key", p.IdempotencyKey), checkJSONNoNUL("variables", vars),
		checkNoNUL("environment", p.Environment), checkNoNUL("queue", p.Queue))
	if err != nil {
		return storage.ExecutionCreateParams{}, nil, err
	}
	return p, vars, nil
}

// ExecutionCreate stores a queued execution. See storage.ExecutionStore.
func (s *Store) ExecutionCreate(ctx context.Context, in *storage.ExecutionCreateParams) (*storage.Execution, error) {
	p, vars, err := newExecution(in)
	if err != nil {
		return nil, fmt.Errorf("create execution: %w", err)
	}
	arg := &sqlite.ExecutionCreateParams{
		ID:             p.ID.String(),
		PlanID:         p.PlanID.String(),
		PlanRevision:   p.PlanRevision,
		IdempotencyKey: nullString(p.IdempotencyKey),
		Variables:      string(vars),
		Environment:    nullString(p.Environment),
		Trigger:        string(p.Trigger),
		Queue:          p.Queue,
		Now:            now(),
	}
	if p.ScheduleID != uuid.Nil {
		arg.ScheduleID = nullString(p.ScheduleID.String())
	}
	row, err := s.q.ExecutionCreate(ctx, s.db, arg)
	if err != nil {
		err = interpretError(err)
		if errors.Is(err, storage.ErrReferenced) {
			err = fmt.Errorf("plan %s: %w", p.PlanID, storage.ErrNotFound)
		}
		return nil, fmt.Errorf("create execution: %w", err)
	}
	return executionFromRow(row), nil
}

// ExecutionCreateMany stores queued executions, with one statement per
// chunk of createChunk, in one transaction. See storage.ExecutionStore.
func (s *Store) ExecutionCreateMany(ctx context.Context, ps []*storage.ExecutionCreateParams) ([]*storage.Execution, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(ps))
	batches := make([]string, 0, (len(ps)+createChunk-1)/createChunk)
	for start := 0; start < len(ps); start += createChunk {
		b, err := executionBatch(ps[start:min(start+createChunk, len(ps))], start, ids)
		if err != nil {
			return nil, fmt.Errorf("create %d executions: %w", len(ps), err)
		}
		batches = append(batches, b)
	}
	created := make([]*storage.Execution, 0, len(ps))
	err := s.inWriteTx(ctx, func(tx *Store) error {
		t := now()
		for _, b := range batches {
			rows, err := tx.q.ExecutionCreateMany(ctx, tx.db, &sqlite.ExecutionCreateManyParams{Executions: b, Now: t})
			if err != nil {
				err = interpretError(err)
				if errors.Is(err, storage.ErrReferenced) {
					err = fmt.Errorf("a plan: %w", storage.ErrNotFound)
				}
				return err
			}
			for _, r := range rows {
				created = append(created, executionFromRow(r))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create %d executions: %w", len(ps), err)
	}
	return storage.InOrderOf(ids, created), nil
}

// createChunk is the most executions one ExecutionCreateMany statement
// takes.
const createChunk = 5000

// executionBatch checks ps, the executions from index start of a batch,
// records their IDs in ids, and encodes them as the JSON array that
// ExecutionCreateMany reads: one [id, plan_id, plan_revision,
// idempotency_key, variables, environment, trigger, schedule_id, queue]
// array each, with null for none.
func executionBatch(ps []*storage.ExecutionCreateParams, start int, ids []uuid.UUID) (string, error) {
	rows := make([][9]any, len(ps))
	for i, in := range ps {
		p, vars, err := newExecution(in)
		if err != nil {
			return "", fmt.Errorf("execution %d: %w", start+i, err)
		}
		ids[start+i] = p.ID
		var schedule any
		if p.ScheduleID != uuid.Nil {
			schedule = p.ScheduleID.String()
		}
		rows[i] = [9]any{p.ID.String(), p.PlanID.String(), p.PlanRevision, orNull(p.IdempotencyKey), string(vars),
			orNull(p.Environment), string(p.Trigger), schedule, p.Queue}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return "", fmt.Errorf("encode executions: %w", err)
	}
	return string(b), nil
}

// orNull returns s, or nil (JSON null) for "".
func orNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// nullMicros returns t as stored (microseconds), or NULL for the zero
// time.
func nullMicros(t time.Time) sql.NullInt64 {
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: !t.IsZero()}
}

// ExecutionGetByID returns one execution. See storage.ExecutionStore.
func (s *Store) ExecutionGetByID(ctx context.Context, id uuid.UUID) (*storage.Execution, error) {
	row, err := s.q.ExecutionGetByID(ctx, s.read, id.String())
	if err != nil {
		return nil, fmt.Errorf("get execution %s: %w", id, interpretError(err))
	}
	return executionFromRow(row), nil
}

// ExecutionGetByIdempotencyKey returns the plan's execution with that key.
// See storage.ExecutionStore.
func (s *Store) ExecutionGetByIdempotencyKey(ctx context.Context, planID uuid.UUID, key string) (*storage.Execution, error) {
	row, err := s.q.ExecutionGetByIdempotencyKey(ctx, s.read, &sqlite.ExecutionGetByIdempotencyKeyParams{
		PlanID:         planID.String(),
		IdempotencyKey: nullString(key),
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
	if err == nil {
		err = checkJSONNoNUL("labels", labels)
	}
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	arg := &sqlite.ExecutionListParams{
		MaxRows: int64(limit + 1),
		Status:  nullString(string(p.Status)),
		Since:   nullMicros(p.Since),
		Until:   nullMicros(p.Until),
		Labels:  nullString(string(labels)),
	}
	if before != uuid.Nil {
		arg.BeforeID = nullString(before.String())
	}
	if p.PlanID != uuid.Nil {
		arg.PlanID = nullString(p.PlanID.String())
	}
	arg.Trigger = nullString(string(p.Trigger))
	if p.ScheduleID != uuid.Nil {
		arg.ScheduleID = nullString(p.ScheduleID.String())
	}
	rows, err := s.q.ExecutionList(ctx, s.read, arg)
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", interpretError(err))
	}
	page := &storage.ExecutionPage{}
	page.Executions, page.NextCursor = storage.PageOf(rows, limit, executionFromRow,
		func(r *sqlite.Execution) storage.Cursor {
			return storage.Cursor{List: storage.ListExecutions, ID: r.ID}
		})
	return page, nil
}

// ExecutionFinishMany moves executions to final statuses, each with
// ExecutionSetStatus, in one transaction: SQLite runs statements in the
// process, so one statement per execution costs no round trips. See
// storage.ExecutionStore.
func (s *Store) ExecutionFinishMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) ([]*storage.Execution, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	for _, p := range ps {
		if err := p.CheckFinish(); err != nil {
			return nil, fmt.Errorf("finish %d executions: %w", len(ps), err)
		}
	}
	var done []*storage.Execution
	err := s.InTx(ctx, func(tx storage.Store) error {
		done = done[:0]
		for _, p := range ps {
			e, err := tx.ExecutionSetStatus(ctx, p)
			switch {
			case err == nil:
				done = append(done, e)
			case errors.Is(err, storage.ErrLeaseLost), errors.Is(err, storage.ErrConflict), storage.IsNotFound(err):
				// Skipped, as the Postgres statement skips it.
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("finish %d executions: %w", len(ps), err)
	}
	return done, nil
}

// ExecutionStartMany moves executions to running, each with
// ExecutionSetStatus, and reads their plans, in one transaction: SQLite
// runs statements in the process, so one statement per execution costs no
// round trips. See storage.ExecutionStore.
func (s *Store) ExecutionStartMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) ([]*storage.ExecutionStarted, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	if err := storage.CheckStarts(ps); err != nil {
		return nil, fmt.Errorf("start %d executions: %w", len(ps), err)
	}
	var started []*storage.ExecutionStarted
	err := s.InTx(ctx, func(tx storage.Store) error {
		started = started[:0]
		plans := map[uuid.UUID]*storage.Plan{}
		for _, p := range ps {
			e, err := tx.ExecutionSetStatus(ctx, p)
			switch {
			case err == nil:
			case errors.Is(err, storage.ErrLeaseLost), errors.Is(err, storage.ErrConflict), storage.IsNotFound(err):
				continue // Skipped, as the Postgres statement skips it.
			default:
				return err
			}
			pl := plans[e.PlanID]
			if pl == nil {
				if pl, err = tx.PlanGetByID(ctx, e.PlanID); err != nil {
					return err
				}
				plans[e.PlanID] = pl
			}
			started = append(started, &storage.ExecutionStarted{
				Execution: e, PlanName: pl.Name, PlanRevision: pl.Revision, PlanDocument: pl.Document,
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("start %d executions: %w", len(ps), err)
	}
	return started, nil
}

// ExecutionSetStatus moves an execution to a new status. See
// storage.ExecutionStore.
func (s *Store) ExecutionSetStatus(ctx context.Context, p *storage.ExecutionSetStatusParams) (*storage.Execution, error) {
	if !p.Status.Valid() {
		return nil, fmt.Errorf("set execution status: %w: unknown status %q", storage.ErrInvalidInput, p.Status)
	}
	if err := errors.Join(checkJSONNoNUL("result", p.Result), checkNoNUL("worker ID", p.WorkerID)); err != nil {
		return nil, fmt.Errorf("set execution %s status: %w", p.ID, err)
	}
	var from []string
	for _, st := range storage.ExecutionSourcesOf(p.Status) {
		from = append(from, string(st))
	}
	arg := &sqlite.ExecutionSetStatusParams{
		ID:           p.ID.String(),
		Status:       string(p.Status),
		Attempt:      int64(p.Attempt),
		Result:       nullString(string(p.Result)),
		Now:          sql.NullInt64{Int64: now(), Valid: true},
		FromStatuses: from,
		Final:        p.Status.Final(),
		WorkerID:     nullString(p.WorkerID),
	}
	if !p.Now.IsZero() {
		arg.Now.Int64 = p.Now.UnixMicro()
	}
	if p.Result != nil {
		sum := p.ResultSummary()
		if sum.DurationMS != nil {
			arg.DurationMs = sql.NullInt64{Int64: *sum.DurationMS, Valid: true}
		}
		arg.StepSummary = nullString(string(sum.Steps))
	}
	if p.Job != nil {
		arg.JobID = sql.NullInt64{Int64: p.Job.ID, Valid: true}
		arg.JobToken = p.Job.Token
	}
	var row *sqlite.Execution
	err := s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		if len(from) == 0 {
			err = sql.ErrNoRows
		} else {
			row, err = tx.q.ExecutionSetStatus(ctx, tx.db, arg)
		}
		err = interpretError(err)
		if storage.IsNotFound(err) {
			err = tx.whyNotSet(ctx, p)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("set execution %s status: %w", p.ID, err)
	}
	return executionFromRow(row), nil
}

// whyNotSet tells why ExecutionSetStatus matched no row: no such
// execution, a lost lease, or an illegal transition.
func (s *Store) whyNotSet(ctx context.Context, p *storage.ExecutionSetStatusParams) error {
	cur, err := s.q.ExecutionGetByID(ctx, s.db, p.ID.String())
	if err != nil {
		return interpretError(err)
	}
	if p.Job != nil {
		held, err := s.q.ExecutionJobHoldsLease(ctx, s.db, &sqlite.ExecutionJobHoldsLeaseParams{
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
	n, err := s.q.ExecutionDeleteByPlanID(ctx, s.db, planID.String())
	if err != nil {
		return 0, fmt.Errorf("delete executions of plan %s: %w", planID, interpretError(err))
	}
	return n, nil
}

func executionFromRow(r *sqlite.Execution) *storage.Execution {
	e := &storage.Execution{
		ID:             uuid.MustParse(r.ID),
		PlanID:         uuid.MustParse(r.PlanID),
		PlanRevision:   r.PlanRevision,
		Status:         storage.ExecutionStatus(r.Status),
		Attempt:        int(r.Attempt),
		IdempotencyKey: r.IdempotencyKey.String,
		CreatedAt:      fromMicros(r.CreatedAt),
		StartedAt:      fromNullMicros(r.StartedAt),
		FinishedAt:     fromNullMicros(r.FinishedAt),
		Variables:      storage.UnmarshalLabels([]byte(r.Variables)),
		Environment:    r.Environment.String,
		Trigger:        storage.ExecutionTrigger(r.Trigger),
		Queue:          r.Queue,
		WorkerID:       r.WorkerID.String,
	}
	if r.ScheduleID.Valid {
		e.ScheduleID = uuid.MustParse(r.ScheduleID.String)
	}
	if r.Result.Valid {
		e.Result = json.RawMessage(r.Result.String)
	}
	return e
}

// ExecutionReconcile finishes executions whose job ended without finishing
// them, and returns them ordered by ID. See storage.ExecutionStore.
func (s *Store) ExecutionReconcile(ctx context.Context) ([]*storage.Execution, error) {
	rows, err := s.q.ExecutionReconcile(ctx, s.db, sql.NullInt64{Int64: now(), Valid: true})
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

// ExecutionPrune deletes one batch of old finished executions. See
// storage.ExecutionStore.
func (s *Store) ExecutionPrune(ctx context.Context, p *storage.ExecutionPruneParams) (int64, error) {
	q := p.WithDefaults()
	if err := q.Validate(); err != nil {
		return 0, fmt.Errorf("prune executions: %w", err)
	}
	at := now()
	if !q.Now.IsZero() {
		at = q.Now.UnixMicro()
	}
	n, err := s.q.ExecutionPrune(ctx, s.db, &sqlite.ExecutionPruneParams{
		DefaultRetentionSeconds: q.DefaultRetentionSeconds(),
		Now:                     at,
		KeepNewest:              int64(q.KeepNewest),
		MaxRows:                 int64(q.Limit),
	})
	if err != nil {
		return 0, fmt.Errorf("prune executions: %w", interpretError(err))
	}
	return n, nil
}
