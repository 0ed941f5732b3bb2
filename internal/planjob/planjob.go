// Package planjob runs executions: it is the handler of execute_plan jobs,
// which loads the execution and its plan, runs the plan's steps, and stores
// the result and final status on the execution.
package planjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// Kind is the job kind that runs an execution.
const Kind = "execute_plan"

// Payload is the payload of an execute_plan job.
type Payload struct {
	ExecutionID uuid.UUID `json:"execution_id"`
}

// EnqueueParams returns the job that runs an execution, on the execution's
// queue (storage.DefaultQueue if it names none). Its unique key makes a
// second enqueue for the same execution return the first job.
func EnqueueParams(e *storage.Execution) *storage.JobEnqueueParams {
	payload, _ := json.Marshal(Payload{ExecutionID: e.ID})
	return &storage.JobEnqueueParams{
		Queue:     e.Queue,
		Kind:      Kind,
		Payload:   payload,
		UniqueKey: storage.ExecutionJobKey(e.ID),
	}
}

// executionOf returns the execution that an execute_plan job runs, or
// false if its payload names none.
func executionOf(job *storage.Job) (uuid.UUID, bool) {
	var p Payload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.ExecutionID == uuid.Nil {
		return uuid.Nil, false
	}
	return p.ExecutionID, true
}

// Result is the result document stored on an execution: the run's result,
// and the error that ended the attempt when the run could not finish.
type Result struct {
	*planrun.Result
	// PlanRevision is the revision of the plan that ran.
	PlanRevision int64 `json:"plan_revision" doc:"Revision of the plan that ran." example:"3"`
	// Error says why the run could not finish, for status error.
	Error string `json:"error,omitempty" doc:"Why the run could not finish, when the execution ended in error." example:"plan no longer exists"`
	// TraceID is the W3C trace ID of the run that stored this result, when
	// the server traces and sampled the run's trace.
	TraceID string `json:"trace_id,omitempty" doc:"W3C trace ID (32 hex digits) of the run that produced this result, present when the server exports traces (OTEL_EXPORTER_OTLP_ENDPOINT) and the run's trace was sampled: look it up in your tracing backend. Each step's request carried it in its traceparent header, unless ASTRO_TRACE_TARGETS is false or the step's propagate_trace is false, so the targets' own spans are in the same trace." example:"4bf92f3577b34da6a3ce929d0e0e4736"`
}

// DefaultMaxResultBytes is the default of Handler.MaxResultBytes. The
// runner caps results well below it; it guards the store against a result
// that slipped past those caps.
const DefaultMaxResultBytes = 8 << 20

// DefaultRunTimeout is the default of Handler.RunTimeout.
const DefaultRunTimeout = 15 * time.Minute

// ErrRunTimeout is the cause of the context of a run that took longer than
// Handler.RunTimeout. The handler's error for such a run wraps it.
var ErrRunTimeout = errors.New("run timed out")

// FinishHook is told of every final status that the handler or Reconcile
// stores, inside the transaction that stores it: what it writes commits
// with the status, or neither does. *alert.Evaluator is one.
type FinishHook interface {
	ExecutionFinished(ctx context.Context, tx storage.Store, e *storage.Execution) error
}

// Handler runs execute_plan jobs.
type Handler struct {
	// Store reads plans and executions and records results.
	Store storage.Store
	// Runner runs the plan's steps.
	Runner *planrun.Runner
	// SecretBox decrypts the stored secrets that plans use as
	// {{secret.NAME}}. Nil means no key is configured: executions of plans
	// that use secrets end in error.
	SecretBox *secret.Box
	// Logger receives the handler's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxResultBytes bounds the encoded result document. A larger result
	// is not stored: the execution ends in error saying so. Defaults to
	// DefaultMaxResultBytes.
	MaxResultBytes int
	// RunTimeout bounds one run of a plan; defaults to DefaultRunTimeout.
	// A run that takes longer is stopped, and its execution ends in error
	// with the partial result, without another attempt: the plan, not
	// astro-runner, is at fault.
	RunTimeout time.Duration
	// Alerts, when set, is told of every final status in the transaction
	// that stores it (alert rules enqueue their messages there).
	Alerts FinishHook
	// Observer, when set, is told of every final status once it is
	// stored, for metrics.
	Observer Observer

	// docs keeps the plans' documents decoded.
	docs docCache
}

// Observer is told of every execution that the handler or Reconcile
// finishes, after its final status is stored. *metrics.RunMetrics is one.
// It is called from the workers' goroutines, many at once.
type Observer interface {
	// ExecutionFinished is told of e as stored with its final status, the
	// name of its plan ("" if it could not be read), and the run's
	// result, or nil if the plan did not run.
	ExecutionFinished(e *storage.Execution, planName string, res *planrun.Result)
}

// Handle runs one execute_plan job. It is a worker.HandlerFunc.
//
// An execution that is gone or already final makes the job complete with
// nothing to do. A run that finishes sets the execution passed or failed.
// Trouble in astro-runner itself (the store, the worker's job timeout)
// fails the attempt: the execution goes back to queued and the whole plan
// runs again as the next attempt, or, on the last attempt, the execution
// ends in error. A run that takes longer than RunTimeout, a result that
// the store refuses, or one that is too large, ends the execution in error
// at once and discards the job: another attempt would end the same way.
//
// Every write to the execution is fenced by the job's lease token. When a
// write finds that another worker holds the job now, the handler writes
// nothing more and returns an error wrapping storage.ErrLeaseLost, so that
// its outcome is not recorded.
//
// The errors it returns become the job's last_error, which the API shows,
// so store errors are reduced to the handler's own words ("load
// execution: storage unavailable"); their full text is logged.
//
// When ctx carries a span (the job's, when the server traces), the attempt
// runs inside a span of its own, the parent of each step's span, and the
// result stores its trace ID.
func (h *Handler) Handle(ctx context.Context, job *storage.Job) error {
	id, ok := executionOf(job)
	if !ok {
		return fmt.Errorf("%w: bad execute_plan payload", worker.ErrDiscard)
	}
	r := &run{h: h, log: h.logger().With("execution_id", id), id: id,
		job: storage.JobRef{ID: job.ID, Token: job.LeaseToken}, start: time.Now()}
	ctx = r.startSpan(ctx, job)
	err := r.handle(ctx, job)
	if worker.IsCompleteWith(err) {
		r.endSpan(nil)
	} else {
		r.endSpan(err)
	}
	return err
}

// handle runs one attempt at the execution; see Handle.
func (r *run) handle(ctx context.Context, job *storage.Job) error {
	h := r.h
	exec, pl, running, err := r.load(ctx)
	if err != nil || exec == nil {
		return err
	}
	r.planName = pl.Name
	stored, err := h.docs.get(pl.ID, pl.Revision, pl.Document)
	if err != nil {
		return r.finish(ctx, storage.ExecutionError,
			&Result{PlanRevision: pl.Revision, Error: "stored plan document is unreadable"}, worker.ErrDiscard)
	}
	var envVars map[string]string
	if exec.Environment != "" {
		env, err := h.Store.EnvironmentGetByName(ctx, exec.Environment)
		if errors.Is(err, storage.ErrNotFound) {
			msg := fmt.Sprintf("environment %q no longer exists", exec.Environment)
			return r.finish(ctx, storage.ExecutionError, &Result{PlanRevision: pl.Revision, Error: msg},
				fmt.Errorf("%w: %s", worker.ErrDiscard, msg))
		}
		if err != nil {
			return r.beforeRunFailed(running, "load environment", err)
		}
		envVars = env.Variables
	}
	// Lowest precedence first: the plan's, the environment's as it is
	// now, the execution's.
	doc := stored.WithVariables(envVars, exec.Variables)
	secrets, err := h.storedSecrets(ctx, doc)
	if problem, ok := errors.AsType[*secretProblem](err); ok {
		r.log.Info("execution cannot have its secrets", "reason", problem.msg)
		return r.finish(ctx, storage.ExecutionError, &Result{PlanRevision: pl.Revision, Error: problem.msg}, worker.ErrDiscard)
	}
	if err != nil {
		return r.beforeRunFailed(running, "load secrets", err)
	}
	if !running {
		_, err = r.h.Store.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
			ID: r.id, Status: storage.ExecutionRunning, Attempt: job.Attempt, WorkerID: job.LeaseOwner, Job: &r.job,
		})
		switch {
		case errors.Is(err, storage.ErrLeaseLost):
			return r.storeFailed("mark execution running", err)
		case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
			return nil // Cancelled or deleted meanwhile.
		case err != nil:
			return r.storeFailed("mark execution running", err)
		}
	}
	r.log.Debug("running execution", "plan_id", pl.ID, "attempt", job.Attempt)
	r.spanPlan(pl)

	runCtx, cancelRun := context.WithTimeoutCause(ctx, h.runTimeout(), ErrRunTimeout)
	res, runErr := h.Runner.RunWithSecrets(runCtx, doc, secrets)
	// The run's cause, read before cancelRun: ErrRunTimeout only when the
	// limit, not the worker, stopped the run.
	runCause := context.Cause(runCtx)
	cancelRun()
	result := &Result{Result: res, PlanRevision: pl.Revision}
	if runErr == nil {
		status := storage.ExecutionPassed
		if res.Status != planrun.StatusPassed {
			status = storage.ExecutionFailed
		}
		return r.finish(ctx, status, result, nil)
	}

	var verr *plan.ValidationError
	cause := context.Cause(ctx)
	switch {
	case errors.As(runErr, &verr):
		// Saved under other rules (such as a narrower env allow list).
		result.Error = verr.Error()
		return r.finish(ctx, storage.ExecutionError, result, worker.ErrDiscard)
	case errors.Is(runCause, ErrRunTimeout):
		// The plan is too slow; another attempt would be as slow.
		result.Error = fmt.Sprintf("the run took longer than the limit of %s (ASTRO_RUN_TIMEOUT)", h.runTimeout())
		r.log.Info("run took longer than its limit", "limit", h.runTimeout())
		return r.finish(ctx, storage.ExecutionError, result,
			fmt.Errorf("%w: %w: %s", worker.ErrDiscard, ErrRunTimeout, result.Error))
	case errors.Is(cause, worker.ErrJobCancelled):
		return r.finish(ctx, storage.ExecutionCancelled, result, runErr)
	case errors.Is(cause, worker.ErrJobLeaseLost):
		return runErr // Another worker owns the execution now.
	case errors.Is(cause, worker.ErrShutdown):
		if err := r.requeue("worker shut down"); err != nil {
			return err
		}
		return runErr
	}
	// Trouble on our side, such as the job's timeout.
	if cause != nil && !errors.Is(runErr, cause) {
		runErr = fmt.Errorf("%w: %w", cause, runErr)
	}
	result.Error = runErr.Error()
	if job.Attempt < job.MaxAttempts {
		if err := r.requeue(runErr.Error()); err != nil {
			return err
		}
		return runErr
	}
	return r.finish(ctx, storage.ExecutionError, result, fmt.Errorf("%w: %w", worker.ErrDiscard, runErr))
}

// load reads the execution and its plan as they are now. When the pool's
// claim started the execution already (StartMany), it takes them from
// there, and running is true: the execution is running under this job.
// A nil execution and error mean there is nothing to do, or that the
// attempt has ended with the returned error.
func (r *run) load(ctx context.Context) (exec *storage.Execution, pl *storage.Plan, running bool, err error) {
	if st, ok := worker.Started(ctx).(*storage.ExecutionStarted); ok {
		r.planID = st.Execution.PlanID
		r.spanExecution(st.Execution)
		return st.Execution, &storage.Plan{ID: st.Execution.PlanID, Name: st.PlanName, Revision: st.PlanRevision, Document: st.PlanDocument},
			true, nil
	}
	exec, err = r.h.Store.ExecutionGetByID(ctx, r.id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, false, nil // Deleted with its plan; nothing to run.
	}
	if err != nil {
		return nil, nil, false, r.storeFailed("load execution", err)
	}
	if exec.Status.Final() {
		return nil, nil, false, nil
	}
	r.planID = exec.PlanID
	r.spanExecution(exec)
	pl, err = r.h.Store.PlanGetByID(ctx, exec.PlanID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil, false, r.finish(ctx, storage.ExecutionError, &Result{Error: "plan no longer exists"}, worker.ErrDiscard)
	}
	if err != nil {
		return nil, nil, false, r.storeFailed("load plan", err)
	}
	return exec, pl, false, nil
}

// Register makes pool run execute_plan jobs with h: StartMany for the
// jobs of each claim, then Handle for each job.
func (h *Handler) Register(pool *worker.Pool) {
	pool.Handle(Kind, h.Handle)
	pool.HandleStart(Kind, h)
}

// StartMany is the worker.Starter of execute_plan jobs: it moves the
// executions of one claim's jobs to running and reads their plans, with
// one store call (storage.ExecutionStore.ExecutionStartMany), so that each
// handler skips those reads and its own running write. A job whose
// execution did not move (gone, final, or its lease lost meanwhile) gets
// nothing and its handler finds out by itself, as does every job when the
// call fails.
func (h *Handler) StartMany(ctx context.Context, jobs []*storage.Job) []any {
	ps := make([]*storage.ExecutionSetStatusParams, 0, len(jobs))
	index := make(map[uuid.UUID]int, len(jobs))
	for i, job := range jobs {
		id, ok := executionOf(job)
		if !ok {
			continue // Its handler discards it.
		}
		if _, dup := index[id]; dup {
			continue
		}
		index[id] = i
		ps = append(ps, &storage.ExecutionSetStatusParams{
			ID: id, Status: storage.ExecutionRunning, Attempt: job.Attempt, WorkerID: job.LeaseOwner,
			Job: &storage.JobRef{ID: job.ID, Token: job.LeaseToken},
		})
	}
	started, err := h.Store.ExecutionStartMany(ctx, ps)
	if err != nil {
		h.logger().Warn("could not start the claimed executions together; each starts by itself", "jobs", len(ps), "error", err)
		return nil
	}
	out := make([]any, len(jobs))
	for _, st := range started {
		if i, ok := index[st.Execution.ID]; ok {
			out[i] = st
		}
	}
	return out
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger == nil {
		return slog.Default()
	}
	return h.Logger
}

// run is one attempt at an execution: the job's claim that fences its
// writes, and its log.
type run struct {
	h        *Handler
	log      *slog.Logger
	id       uuid.UUID
	planID   uuid.UUID
	planName string
	job      storage.JobRef
	// start is when the attempt began, for the duration logged when the
	// execution finishes.
	start time.Time
	// span is the attempt's span, or nil when it is not traced; traceID is
	// its trace ID, stored with the result, when the trace is sampled.
	span    trace.Span
	traceID string
	// status is the final status the attempt stored, if any.
	status storage.ExecutionStatus
	// ran is the run's result, for Handler.Observer, once the plan ran.
	ran *planrun.Result
}

// finished logs the one line that says an execution ended, e as stored
// with its final status: the status and how long its last attempt took.
// It then tells Handler.Observer.
func (r *run) finished(e *storage.Execution) {
	r.status = e.Status
	r.log.Info("execution finished", "plan_id", r.planID, "status", e.Status, "duration", time.Since(r.start))
	if r.h.Observer != nil {
		r.h.Observer.ExecutionFinished(e, r.planName, r.ran)
	}
}

// set writes the execution's status, fenced by the job's claim. A final
// status is written in one transaction with what Handler.Alerts writes.
func (r *run) set(ctx context.Context, status storage.ExecutionStatus, attempt int, result json.RawMessage) (*storage.Execution, error) {
	return r.setIn(ctx, r.h.Store, status, attempt, result)
}

// setIn is set through st, which may be bound to a transaction.
func (r *run) setIn(ctx context.Context, st storage.Store, status storage.ExecutionStatus, attempt int, result json.RawMessage) (*storage.Execution, error) {
	p := &storage.ExecutionSetStatusParams{ID: r.id, Status: status, Attempt: attempt, Result: result, Job: &r.job}
	if !status.Final() || r.h.Alerts == nil {
		return st.ExecutionSetStatus(ctx, p)
	}
	var exec *storage.Execution
	err := st.InTx(ctx, func(tx storage.Store) error {
		e, err := tx.ExecutionSetStatus(ctx, p)
		if err != nil {
			return err
		}
		exec = e
		if err := r.h.Alerts.ExecutionFinished(ctx, tx, e); err != nil {
			return &hookError{err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return exec, nil
}

// hookError is the error of Handler.Alerts, which rolled back the final
// status. Whatever store error it wraps, it says nothing of the execution
// itself (not cancelled, not deleted, its result not refused): the attempt
// fails, so that the next one stores the status and the alerts together.
type hookError struct{ err error }

func (e *hookError) Error() string { return "evaluate alert rules: " + e.err.Error() }

func (e *hookError) Unwrap() error { return e.err }

// isHookError reports whether err came from Handler.Alerts.
func isHookError(err error) bool {
	_, ok := errors.AsType[*hookError](err)
	return ok
}

// finish stores the final status and result, then returns jobErr (nil
// completes the job). If the store is unavailable, or Handler.Alerts
// fails, the attempt fails so that the plan runs again; if it refuses the result, or the result is too
// large, the execution ends in error without it and the job is discarded.
//
// When the job completes (jobErr is nil) and the worker pool can commit
// the write with the job's completion (worker.CanFinishLater), finish
// returns that write as a worker.Finisher instead (see finisher): the
// pool commits the final statuses of many executions, with what
// Handler.Alerts writes of each and their jobs' completions, in one
// transaction.
func (r *run) finish(ctx context.Context, status storage.ExecutionStatus, res *Result, jobErr error) error {
	res.TraceID = r.traceID
	r.ran = res.Result
	doc, err := json.Marshal(res)
	if err != nil {
		r.log.Warn("could not encode execution result", "error", err)
		return r.unstorable(ctx, res.PlanRevision, "it could not be encoded", jobErr)
	}
	if limit := r.h.maxResultBytes(); len(doc) > limit {
		r.log.Warn("execution result too large to store", "bytes", len(doc), "limit", limit)
		return r.unstorable(ctx, res.PlanRevision,
			fmt.Sprintf("it is %d bytes, over the limit of %d", len(doc), limit), jobErr)
	}
	if jobErr == nil && worker.CanFinishLater(ctx) {
		r.status = status // For the span; stored when the pool commits.
		return worker.CompleteWith(&finisher{r: r, status: status, doc: doc, summary: summarize(res), revision: res.PlanRevision})
	}
	return r.store(ctx, status, doc, res.PlanRevision, jobErr)
}

// store writes the final status and result doc now, then returns jobErr;
// see finish.
func (r *run) store(ctx context.Context, status storage.ExecutionStatus, doc json.RawMessage, revision int64, jobErr error) error {
	// A cancelled job context must not stop the final write.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	e, err := r.set(wctx, status, 0, doc)
	return r.stored(ctx, e, err, len(doc), revision, jobErr)
}

// stored handles the outcome of the final write of store or of a
// finisher, e as stored or err, and returns the handler's result; see
// finish. size is the size of the result document.
func (r *run) stored(ctx context.Context, e *storage.Execution, err error, size int, revision int64, jobErr error) error {
	switch {
	case errors.Is(err, storage.ErrLeaseLost):
		return r.storeFailed("store execution result", err)
	case isHookError(err):
		return r.storeFailed("store execution result", err)
	case errors.Is(err, storage.ErrInvalidInput):
		r.log.Warn("store refused execution result", "bytes", size, "error", err)
		return r.unstorable(ctx, revision, "the database refused it as invalid or too large", jobErr)
	case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
		return jobErr // Cancelled or deleted meanwhile; keep what is there.
	case err != nil:
		return r.storeFailed("store execution result", err)
	}
	r.finished(e)
	return jobErr
}

// finisher is the final write of an execution whose job completes, which
// the worker pool commits with the job's completion (worker.Finisher); the
// Handler writes it (Handler.FinishMany).
type finisher struct {
	r      *run
	status storage.ExecutionStatus
	doc    json.RawMessage
	// summary is doc's storage.SummarizeResult, or nil to let the store
	// work it out.
	summary  *storage.ResultSummary
	revision int64
	// stored is the execution as the last FinishMany stored it, or nil if
	// it stored nothing.
	stored *storage.Execution
}

// Batch returns the handler, which writes the finishers of its runs.
func (f *finisher) Batch() worker.FinishBatch { return f.r.h }

// Committed logs the execution's end and tells Handler.Observer, if
// FinishMany stored its status.
func (f *finisher) Committed() {
	if f.stored != nil {
		f.r.finished(f.stored)
	}
}

// Alone handles the error that FinishMany blamed on this execution as the
// handler handles that of its own write (see finish), or, without one,
// stores the final status as the handler does without the pool's help; it
// returns the handler's result.
func (f *finisher) Alone(ctx context.Context, err error) error {
	if err == nil {
		return f.r.store(ctx, f.status, f.doc, f.revision, nil)
	}
	return f.r.stored(ctx, nil, err, len(f.doc), f.revision, nil)
}

// FinishMany stores the final statuses and results of the runs of fs in
// tx, with one ExecutionFinishMany, each fenced by its job's lease token,
// then tells Handler.Alerts of each execution it moved, by plan, as
// Reconcile does, so that every node locks the alert states of plans in
// one order. An execution whose job lost its lease stores nothing (nor is
// its job completed); one cancelled or deleted meanwhile keeps what it has
// and its job completes, as when the handler writes alone. An error of
// Alerts is blamed on its execution, so that only that attempt fails. It
// is the worker.FinishBatch of the handler's finishers.
func (h *Handler) FinishMany(ctx context.Context, tx storage.Store, fs []worker.Finisher) (int, error) {
	runs := make([]*finisher, len(fs))
	ps := make([]*storage.ExecutionSetStatusParams, len(fs))
	index := make(map[uuid.UUID]int, len(fs))
	for i, wf := range fs {
		f, ok := wf.(*finisher)
		if !ok {
			return i, fmt.Errorf("finish executions: %T is not an execution's finisher", wf)
		}
		f.stored = nil
		runs[i] = f
		ps[i] = &storage.ExecutionSetStatusParams{ID: f.r.id, Status: f.status, Result: f.doc, Summary: f.summary, Job: &f.r.job}
		index[f.r.id] = i
	}
	done, err := tx.ExecutionFinishMany(ctx, ps)
	if err != nil {
		return -1, err
	}
	slices.SortFunc(done, byPlan)
	for _, e := range done {
		runs[index[e.ID]].stored = e
	}
	if h.Alerts == nil {
		return -1, nil
	}
	rules := &rulesOnce{Store: tx, rules: map[[2]uuid.UUID][]*storage.AlertRule{}}
	for _, e := range done {
		r := runs[index[e.ID]].r
		if err := h.Alerts.ExecutionFinished(r.spanContext(ctx), rules, e); err != nil {
			return index[e.ID], &hookError{err: err}
		}
	}
	return -1, nil
}

// byPlan orders executions by plan, then by ID: the order in which
// FinishMany and Reconcile tell Handler.Alerts of them, so that every node
// locks the alert states of plans in one order.
func byPlan(a, b *storage.Execution) int {
	if c := bytes.Compare(a.PlanID[:], b.PlanID[:]); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

// rulesOnce is a transaction's store that lists the alert rules of each
// plan and schedule once, for FinishMany: the executions of one batch that
// share a plan then cost one query, not one each. A rule created
// meanwhile by another transaction is missed as it would be by an
// execution that finished a moment earlier.
type rulesOnce struct {
	storage.Store
	rules map[[2]uuid.UUID][]*storage.AlertRule
}

// AlertRulesFor returns the rules as the first call for the plan and
// schedule found them.
func (s *rulesOnce) AlertRulesFor(ctx context.Context, planID, scheduleID uuid.UUID) ([]*storage.AlertRule, error) {
	key := [2]uuid.UUID{planID, scheduleID}
	if rules, ok := s.rules[key]; ok {
		return rules, nil
	}
	rules, err := s.Store.AlertRulesFor(ctx, planID, scheduleID)
	if err != nil {
		return nil, err
	}
	s.rules[key] = rules
	return rules, nil
}

// unstorable ends the execution in error with a small result that says why
// its result could not be stored, and discards the job: another attempt
// would produce the same result. If even that write fails, the job is
// still discarded and ExecutionReconcile ends the execution later.
func (r *run) unstorable(ctx context.Context, revision int64, why string, jobErr error) error {
	msg := "result could not be stored: " + why
	doc, _ := json.Marshal(&Result{PlanRevision: revision, Error: msg, TraceID: r.traceID})
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	e, err := r.set(wctx, storage.ExecutionError, 0, doc)
	switch {
	case errors.Is(err, storage.ErrLeaseLost):
		return r.storeFailed("store execution error", err)
	case isHookError(err):
		r.log.Warn("could not store execution error", "error", err)
	case errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound):
		return jobErr // Cancelled or deleted meanwhile; keep what is there.
	case err != nil:
		r.log.Warn("could not store execution error", "error", err)
	default:
		r.finished(e)
	}
	return fmt.Errorf("%w: %s", worker.ErrDiscard, msg)
}

func (h *Handler) runTimeout() time.Duration {
	if h.RunTimeout <= 0 {
		return DefaultRunTimeout
	}
	return h.RunTimeout
}

func (h *Handler) maxResultBytes() int {
	if h.MaxResultBytes <= 0 {
		return DefaultMaxResultBytes
	}
	return h.MaxResultBytes
}

// requeue puts a running execution back to queued before its job is
// retried. Failing that, the next attempt moves it from running itself.
// It returns an error only when another worker holds the job now.
func (r *run) requeue(why string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := r.set(ctx, storage.ExecutionQueued, 0, nil)
	if errors.Is(err, storage.ErrLeaseLost) {
		return r.storeFailed("requeue execution", err)
	}
	if err != nil {
		r.log.Warn("could not requeue execution", "reason", why, "error", err)
	}
	return nil
}

// beforeRunFailed handles a store error that ends the attempt before the
// plan ran: see storeFailed. When the claim had moved the execution to
// running (StartMany), it goes back to queued first, as after a failed
// run, so that it does not look running while its job waits for the next
// attempt.
func (r *run) beforeRunFailed(running bool, op string, err error) error {
	failed := r.storeFailed(op, err)
	if running && !errors.Is(err, storage.ErrLeaseLost) {
		if rerr := r.requeue(op); rerr != nil {
			return rerr
		}
	}
	return failed
}

// storeFailed logs a store error in full and returns it as the handler
// reports it: see storeError.
func (r *run) storeFailed(op string, err error) error {
	if errors.Is(err, storage.ErrLeaseLost) {
		r.log.Info("another worker holds the job now; dropping this attempt", "op", op, "job_id", r.job.ID, "error", err)
	} else {
		r.log.Warn("store call failed", "op", op, "error", err)
	}
	return &storeError{op: op, err: err}
}

// storeError is a store error as the handler reports it. Its text is the
// handler's own, since it becomes the job's error that the API shows; the
// store's text, which may hold SQL, SQLSTATE codes or connection details,
// goes to the log only. It wraps the store's error for errors.Is.
type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string { return e.op + ": " + storeSummary(e.err) }

func (e *storeError) Unwrap() error { return e.err }

// storeSummary names the kind of a store error in a few words.
func storeSummary(err error) string {
	switch {
	case errors.Is(err, storage.ErrLeaseLost):
		return "lease lost: another worker holds the job now"
	case errors.Is(err, storage.ErrUnavailable):
		return "storage unavailable"
	case errors.Is(err, context.DeadlineExceeded):
		return "storage timed out"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.Is(err, storage.ErrInvalidInput):
		return "storage refused the data"
	default:
		return "storage error"
	}
}

// Reconcile finishes executions whose job ended without finishing them, as
// when a worker crashed on the job's last attempt, and returns how many. Run
// it periodically. No worker logs "execution finished" for these, so it
// logs their count, when there are any.
//
// The executions it ends and what Alerts writes about them commit in one
// transaction. Should Alerts fail for any reason but an unavailable store,
// the executions are ended without it, so that none stays unfinished.
func (h *Handler) Reconcile(ctx context.Context) (int64, error) {
	done, err := h.reconcile(ctx, h.Alerts)
	if err != nil && h.Alerts != nil && ctx.Err() == nil && !errors.Is(err, storage.ErrUnavailable) {
		h.logger().WarnContext(ctx, "reconcile with alerts failed; ending the executions without their alerts", "error", err)
		done, err = h.reconcile(ctx, nil)
	}
	if err != nil {
		return 0, fmt.Errorf("reconcile executions: %w", err)
	}
	n := int64(len(done))
	if n > 0 {
		h.logger().InfoContext(ctx, "executions finished by reconcile", "count", n)
	}
	if h.Observer != nil {
		names := map[uuid.UUID]string{}
		for _, e := range done {
			name, ok := names[e.PlanID]
			if !ok {
				if pl, err := h.Store.PlanGetByID(ctx, e.PlanID); err == nil {
					name = pl.Name
				}
				names[e.PlanID] = name
			}
			h.Observer.ExecutionFinished(e, name, nil)
		}
	}
	return n, nil
}

// reconcile ends the executions ExecutionReconcile finds and tells alerts,
// if not nil, of each, in one transaction, and returns them.
func (h *Handler) reconcile(ctx context.Context, alerts FinishHook) ([]*storage.Execution, error) {
	var done []*storage.Execution
	err := h.Store.InTx(ctx, func(tx storage.Store) error {
		var err error
		done, err = tx.ExecutionReconcile(ctx)
		if err != nil {
			return err
		}
		if alerts == nil {
			return nil
		}
		// By plan, so that every node locks the alert states of the plans
		// (rules in ID order within a plan) in one order: two reconciles at
		// once cannot deadlock on them.
		slices.SortFunc(done, byPlan)
		for _, e := range done {
			if err := alerts.ExecutionFinished(ctx, tx, e); err != nil {
				return fmt.Errorf("evaluate alert rules: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}
