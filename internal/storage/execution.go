package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
)

// ExecutionStatus is the lifecycle state of an execution.
type ExecutionStatus string

// The execution statuses. Passed, failed, error and cancelled are final.
const (
	ExecutionQueued    ExecutionStatus = "queued"
	ExecutionRunning   ExecutionStatus = "running"
	ExecutionPassed    ExecutionStatus = "passed"
	ExecutionFailed    ExecutionStatus = "failed"
	ExecutionError     ExecutionStatus = "error"
	ExecutionCancelled ExecutionStatus = "cancelled"
)

// ExecutionStatuses lists every status, in lifecycle order.
var ExecutionStatuses = []ExecutionStatus{
	ExecutionQueued, ExecutionRunning, ExecutionPassed, ExecutionFailed, ExecutionError, ExecutionCancelled,
}

// executionMoves lists, for each status, the statuses it may move to.
// Running may move to running (a retried attempt) and back to queued (an
// attempt that failed on infrastructure and will be retried).
var executionMoves = map[ExecutionStatus][]ExecutionStatus{
	ExecutionQueued:  {ExecutionRunning, ExecutionError, ExecutionCancelled},
	ExecutionRunning: {ExecutionRunning, ExecutionQueued, ExecutionPassed, ExecutionFailed, ExecutionError, ExecutionCancelled},
}

// Valid reports whether s is a known status.
func (s ExecutionStatus) Valid() bool { return slices.Contains(ExecutionStatuses, s) }

// Final reports whether s is an end state that admits no further move.
func (s ExecutionStatus) Final() bool {
	return s.Valid() && len(executionMoves[s]) == 0
}

// CanMoveTo reports whether an execution in status s may move to next.
func (s ExecutionStatus) CanMoveTo(next ExecutionStatus) bool {
	return slices.Contains(executionMoves[s], next)
}

// ExecutionSourcesOf returns the statuses from which an execution may move
// to next.
func ExecutionSourcesOf(next ExecutionStatus) []ExecutionStatus {
	var from []ExecutionStatus
	for _, s := range ExecutionStatuses {
		if s.CanMoveTo(next) {
			from = append(from, s)
		}
	}
	return from
}

// ExecutionTrigger says what created an execution.
type ExecutionTrigger string

// The execution triggers.
const (
	// TriggerAPI is POST /plan/{id}/execute.
	TriggerAPI ExecutionTrigger = "api"
	// TriggerSchedule is a schedule's tick; the execution names the
	// schedule.
	TriggerSchedule ExecutionTrigger = "schedule"
	// TriggerCLI is the command line.
	TriggerCLI ExecutionTrigger = "cli"
)

// ExecutionTriggers lists every trigger.
var ExecutionTriggers = []ExecutionTrigger{TriggerAPI, TriggerSchedule, TriggerCLI}

// Valid reports whether t is a known trigger.
func (t ExecutionTrigger) Valid() bool { return slices.Contains(ExecutionTriggers, t) }

// Execution is one request to run a plan, and its outcome.
type Execution struct {
	ID             uuid.UUID
	PlanID         uuid.UUID
	PlanRevision   int64
	Status         ExecutionStatus
	Attempt        int
	IdempotencyKey string
	CreatedAt      time.Time
	StartedAt      *time.Time
	FinishedAt     *time.Time
	// Result is the run's result document, or nil before a run finishes.
	Result json.RawMessage
	// Variables are the run-time overrides as given when the execution
	// was created, not merged with the plan's or the environment's. Never
	// nil.
	Variables map[string]string
	// Environment names the environment the execution runs with, or is "".
	Environment string
	Trigger     ExecutionTrigger
	// ScheduleID is the schedule that created the execution, or uuid.Nil.
	ScheduleID uuid.UUID
	// Queue is the queue of the execution's job.
	Queue string
	// WorkerID is the lease owner of the job when the execution last went
	// running, or "" before it ran.
	WorkerID string
}

// ExecutionCreateParams are the fields of a new, queued execution.
type ExecutionCreateParams struct {
	// ID is the execution's identity. Defaults to a new UUIDv7.
	ID           uuid.UUID
	PlanID       uuid.UUID
	PlanRevision int64
	// IdempotencyKey, when set, is unique per plan.
	IdempotencyKey string
	// Variables are the run-time overrides, stored as given. Defaults to
	// none.
	Variables map[string]string
	// Environment names the environment to run with. Defaults to none.
	Environment string
	// Trigger defaults to TriggerAPI.
	Trigger ExecutionTrigger
	// ScheduleID names the schedule that created the execution. Defaults
	// to none (uuid.Nil).
	ScheduleID uuid.UUID
	// Queue is the queue of the execution's job. Defaults to DefaultQueue.
	Queue string
}

// WithDefaults returns a copy of p with defaults filled in. Returns
// ErrInvalidInput for an unknown trigger.
func (p ExecutionCreateParams) WithDefaults() (ExecutionCreateParams, error) {
	if p.ID == uuid.Nil {
		p.ID = uuid.Must(uuid.NewV7())
	}
	if p.Trigger == "" {
		p.Trigger = TriggerAPI
	}
	if !p.Trigger.Valid() {
		return p, fmt.Errorf("%w: unknown trigger %q", ErrInvalidInput, p.Trigger)
	}
	if p.Queue == "" {
		p.Queue = DefaultQueue
	}
	return p, nil
}

// InOrderOf returns the executions of created in the order of their IDs in
// ids, leaving out IDs that created lacks: it puts the rows of a batch
// insert, which RETURNING gives in no promised order, back in the order of
// the batch.
func InOrderOf(ids []uuid.UUID, created []*Execution) []*Execution {
	byID := make(map[uuid.UUID]*Execution, len(created))
	for _, e := range created {
		byID[e.ID] = e
	}
	out := make([]*Execution, 0, len(created))
	for _, id := range ids {
		if e, ok := byID[id]; ok {
			out = append(out, e)
		}
	}
	return out
}

// ExecutionSetStatusParams move an execution to a new status.
type ExecutionSetStatusParams struct {
	ID     uuid.UUID
	Status ExecutionStatus
	// Attempt, when positive, replaces the execution's attempt number.
	Attempt int
	// Result, when set, replaces the result document.
	Result json.RawMessage
	// WorkerID, when set, replaces the execution's worker ID: the lease
	// owner of the job that runs it.
	WorkerID string
	// Job, when set, fences the write: it happens only while that job is
	// running under that token, checked in the same statement. Every write
	// that a job's handler makes sets it, so that a worker that lost its
	// lease cannot write over the worker that holds it now.
	Job *JobRef
	// Now is the time stamped as started_at (on the first move to
	// running) or finished_at (on a final status). Defaults to the
	// database's current time (on SQLite, the process clock).
	Now time.Time
	// Summary, when set with Result, is SummarizeResult(Result), worked
	// out by the caller from the value it encoded, so that the store does
	// not decode Result again. It must equal SummarizeResult(Result).
	Summary *ResultSummary
}

// ResultSummary returns p.Summary, or else SummarizeResult(p.Result).
func (p *ExecutionSetStatusParams) ResultSummary() ResultSummary {
	if p.Summary != nil {
		return *p.Summary
	}
	return SummarizeResult(p.Result)
}

// CheckFinish checks that p is one that ExecutionFinishMany takes: a final
// status and a job, and no attempt, worker ID or time. Returns
// ErrInvalidInput if not.
func (p *ExecutionSetStatusParams) CheckFinish() error {
	switch {
	case !p.Status.Final():
		return fmt.Errorf("%w: %q is not a final status", ErrInvalidInput, p.Status)
	case p.Job == nil:
		return fmt.Errorf("%w: execution %s: a finish needs the job that fences it", ErrInvalidInput, p.ID)
	case p.Attempt != 0 || p.WorkerID != "" || !p.Now.IsZero():
		return fmt.Errorf("%w: execution %s: a finish sets no attempt, worker ID or time", ErrInvalidInput, p.ID)
	}
	return nil
}

// CheckStart checks that p is one that ExecutionStartMany takes: status
// running and a job, and no result or time. Returns ErrInvalidInput if
// not.
func (p *ExecutionSetStatusParams) CheckStart() error {
	switch {
	case p.Status != ExecutionRunning:
		return fmt.Errorf("%w: execution %s: a start moves to running, not %q", ErrInvalidInput, p.ID, p.Status)
	case p.Job == nil:
		return fmt.Errorf("%w: execution %s: a start needs the job that fences it", ErrInvalidInput, p.ID)
	case p.Result != nil || !p.Now.IsZero():
		return fmt.Errorf("%w: execution %s: a start sets no result or time", ErrInvalidInput, p.ID)
	case p.Attempt < 0:
		return fmt.Errorf("%w: execution %s: negative attempt %d", ErrInvalidInput, p.ID, p.Attempt)
	}
	return nil
}

// CheckStarts checks that ps is a batch that ExecutionStartMany takes:
// each params passes CheckStart, and no execution is named twice (which
// would leave it to the database which of its params moved it). Returns
// ErrInvalidInput if not.
func CheckStarts(ps []*ExecutionSetStatusParams) error {
	seen := make(map[uuid.UUID]bool, len(ps))
	for _, p := range ps {
		if err := p.CheckStart(); err != nil {
			return err
		}
		if seen[p.ID] {
			return fmt.Errorf("%w: execution %s: started twice in one batch", ErrInvalidInput, p.ID)
		}
		seen[p.ID] = true
	}
	return nil
}

// ExecutionStarted is an execution that ExecutionStartMany moved to
// running, with its plan as it is now: what the job that runs it reads.
type ExecutionStarted struct {
	Execution *Execution
	// PlanName, PlanRevision and PlanDocument are the plan's current name,
	// revision and document (Execution.PlanRevision is the revision when
	// the execution was created).
	PlanName     string
	PlanRevision int64
	PlanDocument json.RawMessage
}

// ExecutionListParams filter and page an execution listing, newest first.
type ExecutionListParams struct {
	// PlanID keeps executions of one plan when it is not uuid.Nil.
	PlanID uuid.UUID
	// Status keeps executions in one status when it is not empty.
	Status ExecutionStatus
	// Trigger keeps executions created by one trigger when it is not
	// empty.
	Trigger ExecutionTrigger
	// ScheduleID keeps the executions of one schedule when it is not
	// uuid.Nil.
	ScheduleID uuid.UUID
	// Since keeps executions created at or after it when it is not zero.
	Since time.Time
	// Until keeps executions created before it when it is not zero.
	Until time.Time
	// Labels keeps the executions of plans that carry every one of these
	// key/value pairs, as PlanListParams.Labels does.
	Labels map[string]string
	// Limit is the page size. Defaults to 50; at most 200.
	Limit int
	// Cursor continues after the last execution of a previous page.
	Cursor string
}

// ExecutionPage is one page of executions. NextCursor is empty on the last
// page.
type ExecutionPage struct {
	Executions []*Execution
	NextCursor string
}

// ExecutionStore persists executions.
type ExecutionStore interface {
	// ExecutionCreate stores a new execution in status queued, attempt 0.
	// Returns ErrNotFound if the plan does not exist, ErrConflict if the
	// plan already has an execution with that idempotency key, and
	// ErrInvalidInput for an unknown trigger.
	ExecutionCreate(ctx context.Context, p *ExecutionCreateParams) (*Execution, error)
	// ExecutionCreateMany stores a batch of new executions, as
	// ExecutionCreate does each, with one statement per batch (SQLite:
	// per chunk of several thousand, in one transaction). A params whose
	// idempotency key the plan already has, from an older execution or an
	// earlier params of the same batch, creates nothing and is left out of
	// the result, without failing the others: for the scheduler, whose key
	// is per (schedule, tick), that means the tick already fired. It
	// returns the executions it created, in the order of ps; none for an
	// empty ps. Returns ErrInvalidInput for an unknown trigger, ErrNotFound
	// if a plan does not exist, and ErrConflict if an ID is taken; any
	// error stores nothing.
	ExecutionCreateMany(ctx context.Context, ps []*ExecutionCreateParams) ([]*Execution, error)
	// ExecutionGetByID returns one execution. Returns ErrNotFound if no
	// execution has that ID.
	ExecutionGetByID(ctx context.Context, id uuid.UUID) (*Execution, error)
	// ExecutionGetByIdempotencyKey returns the plan's execution created
	// with that key. Returns ErrNotFound if there is none.
	ExecutionGetByIdempotencyKey(ctx context.Context, planID uuid.UUID, key string) (*Execution, error)
	// ExecutionList returns one page of executions, newest first, that
	// match every filter of p. Returns ErrInvalidInput for a malformed
	// cursor, an unknown status or an unknown trigger.
	ExecutionList(ctx context.Context, p *ExecutionListParams) (*ExecutionPage, error)
	// ExecutionSetStatus moves an execution to p.Status, stamping
	// started_at on the first move to running and finished_at on a final
	// status. With p.Result it also stores the result's summary
	// (SummarizeResult) for the statistics. Returns ErrNotFound if no execution has that ID,
	// ErrLeaseLost if p.Job is set and that job is no longer running under
	// that token (the execution is then unchanged), and
	// ErrIllegalTransition if its current status cannot move to p.Status.
	ExecutionSetStatus(ctx context.Context, p *ExecutionSetStatusParams) (*Execution, error)
	// ExecutionFinishMany moves a batch of executions to final statuses,
	// as ExecutionSetStatus moves each, with one statement (SQLite: one
	// transaction): the worker pool's completer stores many executions'
	// results with their jobs' completions so. Each params must have a
	// final Status and a Job, which fences its write; Attempt, WorkerID
	// and Now must be unset (finished_at is the database's current time).
	// A params whose job no longer runs under its token, or whose
	// execution is gone or cannot move to its status (it was cancelled
	// meanwhile), moves nothing and is left out of the result, without
	// failing the others. It returns the executions it moved, in no
	// particular order; none for an empty ps. Returns ErrInvalidInput for a
	// params out of these bounds, or a result the database refuses; any
	// error moves nothing.
	ExecutionFinishMany(ctx context.Context, ps []*ExecutionSetStatusParams) ([]*Execution, error)
	// ExecutionStartMany moves a batch of executions to running, as
	// ExecutionSetStatus moves each, with one statement (SQLite: one
	// transaction), and returns each moved execution with its plan as it
	// is now: the worker pool marks the executions of one claim's jobs
	// running so, with what their handlers read next. Each params must
	// have Status running and a Job, which fences its write; Result and
	// Now must be unset (started_at, when not yet set, is the database's
	// current time). A params whose job no longer runs under its token,
	// or whose execution is gone or final, moves nothing and is left out
	// of the result, without failing the others. It returns what it
	// moved, in no particular order; none for an empty ps. Returns
	// ErrInvalidInput for a params out of these bounds, or for an
	// execution named twice (see CheckStarts); any error moves nothing.
	ExecutionStartMany(ctx context.Context, ps []*ExecutionSetStatusParams) ([]*ExecutionStarted, error)
	// ExecutionDeleteByPlanID deletes every execution of a plan and returns
	// how many it deleted.
	ExecutionDeleteByPlanID(ctx context.Context, planID uuid.UUID) (int64, error)
	// ExecutionReconcile finishes queued or running executions whose newest
	// job (the job with unique key ExecutionJobKey(id)) ended without
	// finishing them, or that have no job left: a cancelled job cancels the
	// execution; a discarded or completed job, or none, ends it in error
	// and merges {"plan_revision", "error"} into its result, the error
	// being one of ReconcileReasonDiscarded, ReconcileReasonCompleted and
	// ReconcileReasonGone. A queued or running execution must therefore be
	// created in the same transaction as its job. It returns the
	// executions it finished, as they are now, ordered by ID.
	ExecutionReconcile(ctx context.Context) ([]*Execution, error)
	// ExecutionPrune deletes up to p.Limit executions, with their results,
	// that are in a final status and finished longer ago than their plan's
	// retention (Plan.Retention, or p.DefaultRetention when the plan has
	// none; zero keeps them forever), never one of a plan's p.KeepNewest
	// newest executions (by ID, that is creation order), whatever its age.
	// It returns how many it deleted. Several callers may prune at once,
	// on any number of nodes: each row is deleted and counted once.
	// Returns ErrInvalidInput if p is out of range.
	ExecutionPrune(ctx context.Context, p *ExecutionPruneParams) (int64, error)
}

// ExecutionPruneParams choose the executions that ExecutionPrune deletes.
type ExecutionPruneParams struct {
	// DefaultRetention is how long finished executions of a plan without
	// its own retention are kept. Zero keeps them forever. Stored
	// retentions are whole seconds; this one is rounded up to a second.
	DefaultRetention time.Duration
	// KeepNewest is how many of each plan's newest executions are kept
	// whatever their age. Defaults to DefaultKeepNewest (100).
	KeepNewest int
	// Limit is the most executions one call deletes. Defaults to
	// DefaultPruneLimit (500); at most 10,000.
	Limit int
	// Now is the time that ages are measured from. Defaults to the
	// database's current time.
	Now time.Time
}

// Defaults of ExecutionPruneParams.
const (
	DefaultKeepNewest = 100
	DefaultPruneLimit = 500
	maxPruneLimit     = 10000
)

// WithDefaults returns a copy of p with its zero fields set to their
// defaults.
func (p ExecutionPruneParams) WithDefaults() ExecutionPruneParams {
	if p.KeepNewest == 0 {
		p.KeepNewest = DefaultKeepNewest
	}
	if p.Limit == 0 {
		p.Limit = DefaultPruneLimit
	}
	return p
}

// Validate checks p after WithDefaults. Returns ErrInvalidInput for a
// negative retention or KeepNewest, or a Limit outside 1 to 10,000.
func (p *ExecutionPruneParams) Validate() error {
	switch {
	case p.DefaultRetention < 0:
		return fmt.Errorf("%w: negative default retention %s", ErrInvalidInput, p.DefaultRetention)
	case p.KeepNewest < 0:
		return fmt.Errorf("%w: negative keep-newest %d", ErrInvalidInput, p.KeepNewest)
	case p.Limit < 1 || p.Limit > maxPruneLimit:
		return fmt.Errorf("%w: prune limit %d is not from 1 to %d", ErrInvalidInput, p.Limit, maxPruneLimit)
	}
	return nil
}

// DefaultRetentionSeconds returns p.DefaultRetention in whole seconds,
// rounded up.
func (p *ExecutionPruneParams) DefaultRetentionSeconds() int64 {
	return int64((p.DefaultRetention + time.Second - 1) / time.Second)
}

// The reasons that ExecutionReconcile stores in the result of an execution
// it ends in error.
const (
	ReconcileReasonDiscarded = "the job gave up without recording a result"
	ReconcileReasonCompleted = "the job finished without recording a result"
	ReconcileReasonGone      = "the job of this execution no longer exists"
)

// ExecutionJobKey is the unique key of the job that runs an execution.
func ExecutionJobKey(id uuid.UUID) string { return "execution:" + id.String() }

// Decode checks p and returns the ID to list before (uuid.Nil for the
// first page), the labels as stored (nil when p has none) and the page
// size. Returns ErrInvalidInput for a malformed cursor, an unknown status
// or an unknown trigger.
func (p *ExecutionListParams) Decode() (beforeID uuid.UUID, labels []byte, limit int, err error) {
	if beforeID, err = DecodeUUIDCursor(p.Cursor, ListExecutions); err != nil {
		return uuid.Nil, nil, 0, err
	}
	if p.Status != "" && !p.Status.Valid() {
		return uuid.Nil, nil, 0, fmt.Errorf("%w: unknown status %q", ErrInvalidInput, p.Status)
	}
	if p.Trigger != "" && !p.Trigger.Valid() {
		return uuid.Nil, nil, 0, fmt.Errorf("%w: unknown trigger %q", ErrInvalidInput, p.Trigger)
	}
	if len(p.Labels) > 0 {
		if labels, err = MarshalLabels(p.Labels); err != nil {
			return uuid.Nil, nil, 0, err
		}
	}
	return beforeID, labels, PageLimit(p.Limit), nil
}
