// Package planjob runs executions: it is the handler of execute_plan jobs,
// which loads the execution and its plan, runs the plan's steps, and stores
// the result and final status on the execution.
package planjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// Kind is the job kind that runs an execution.
const Kind = "execute_plan"

// Payload is the payload of an execute_plan job.
type Payload struct {
	ExecutionID uuid.UUID `json:"execution_id"`
}

// EnqueueParams returns the job that runs an execution. Its unique key
// makes a second enqueue for the same execution return the first job.
func EnqueueParams(executionID uuid.UUID) *storage.JobEnqueueParams {
	payload, _ := json.Marshal(Payload{ExecutionID: executionID})
	return &storage.JobEnqueueParams{
		Kind:      Kind,
		Payload:   payload,
		UniqueKey: storage.ExecutionJobKey(executionID),
	}
}

// Result is the result document stored on an execution: the run's result,
// and the error that ended the attempt when the run could not finish.
type Result struct {
	*planrun.Result
	// PlanRevision is the revision of the plan that ran.
	PlanRevision int64 `json:"plan_revision" doc:"Revision of the plan that ran." example:"3"`
	// Error says why the run could not finish, for status error.
	Error string `json:"error,omitempty" doc:"Why the run could not finish, when the execution ended in error." example:"plan no longer exists"`
}

// Handler runs execute_plan jobs.
type Handler struct {
	// Store reads plans and executions and records results.
	Store storage.Store
	// Runner runs the plan's steps.
	Runner *planrun.Runner
	// Logger receives the handler's logs. Defaults to slog.Default().
	Logger *slog.Logger
}

// Handle runs one execute_plan job. It is a worker.HandlerFunc.
//
// An execution that is gone or already final makes the job complete with
// nothing to do. A run that finishes sets the execution passed or failed.
// Trouble in astro-runner itself (the store, a timeout) fails the attempt:
// the execution goes back to queued and the whole plan runs again as the
// next attempt, or, on the last attempt, the execution ends in error.
func (h *Handler) Handle(ctx context.Context, job *storage.Job) error {
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	var p Payload
	if err := json.Unmarshal(job.Payload, &p); err != nil || p.ExecutionID == uuid.Nil {
		return fmt.Errorf("%w: bad execute_plan payload", worker.ErrDiscard)
	}
	exec, err := h.Store.ExecutionGetByID(ctx, p.ExecutionID)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // Deleted with its plan; nothing to run.
	}
	if err != nil {
		return fmt.Errorf("load execution: %w", err)
	}
	if exec.Status.Final() {
		return nil
	}
	pl, err := h.Store.PlanGetByID(ctx, exec.PlanID)
	if errors.Is(err, storage.ErrNotFound) {
		return h.finish(ctx, exec.ID, storage.ExecutionError, &Result{Error: "plan no longer exists"}, worker.ErrDiscard)
	}
	if err != nil {
		return fmt.Errorf("load plan: %w", err)
	}
	var doc plan.Document
	if err := json.Unmarshal(pl.Document, &doc); err != nil {
		return h.finish(ctx, exec.ID, storage.ExecutionError,
			&Result{PlanRevision: pl.Revision, Error: "stored plan document is unreadable"}, worker.ErrDiscard)
	}
	_, err = h.Store.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: exec.ID, Status: storage.ExecutionRunning, Attempt: job.Attempt,
	})
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return nil // Cancelled or deleted meanwhile.
	}
	if err != nil {
		return fmt.Errorf("mark execution running: %w", err)
	}
	log.Info("running execution", "execution_id", exec.ID, "plan_id", pl.ID, "attempt", job.Attempt)

	res, runErr := h.Runner.Run(ctx, &doc)
	result := &Result{Result: res, PlanRevision: pl.Revision}
	if runErr == nil {
		status := storage.ExecutionPassed
		if res.Status != planrun.StatusPassed {
			status = storage.ExecutionFailed
		}
		return h.finish(ctx, exec.ID, status, result, nil)
	}

	var verr *plan.ValidationError
	cause := context.Cause(ctx)
	switch {
	case errors.As(runErr, &verr):
		// Saved under other rules (such as a narrower env allow list).
		result.Error = verr.Error()
		return h.finish(ctx, exec.ID, storage.ExecutionError, result, worker.ErrDiscard)
	case errors.Is(cause, worker.ErrJobCancelled):
		return h.finish(ctx, exec.ID, storage.ExecutionCancelled, result, runErr)
	case errors.Is(cause, worker.ErrJobLeaseLost):
		return runErr // Another worker owns the execution now.
	case errors.Is(cause, worker.ErrShutdown):
		h.requeue(exec.ID, "worker shut down")
		return runErr
	}
	// Trouble on our side, such as the job's timeout.
	if cause != nil && !errors.Is(runErr, cause) {
		runErr = fmt.Errorf("%w: %w", cause, runErr)
	}
	result.Error = runErr.Error()
	if job.Attempt < job.MaxAttempts {
		h.requeue(exec.ID, runErr.Error())
		return runErr
	}
	return h.finish(ctx, exec.ID, storage.ExecutionError, result, fmt.Errorf("%w: %w", worker.ErrDiscard, runErr))
}

// finish stores the final status and result, then returns jobErr (nil
// completes the job). If the store cannot take the result, the attempt
// fails so that the plan runs again.
func (h *Handler) finish(ctx context.Context, id uuid.UUID, status storage.ExecutionStatus, res *Result, jobErr error) error {
	doc, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	// A cancelled job context must not stop the final write.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	_, err = h.Store.ExecutionSetStatus(wctx, &storage.ExecutionSetStatusParams{ID: id, Status: status, Result: doc})
	if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
		return jobErr // Cancelled or deleted meanwhile; keep what is there.
	}
	if err != nil {
		return fmt.Errorf("store execution result: %w", err)
	}
	return jobErr
}

// requeue puts a running execution back to queued before its job is
// retried. Failing that, the next attempt moves it from running itself.
func (h *Handler) requeue(id uuid.UUID, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := h.Store.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{
		ID: id, Status: storage.ExecutionQueued,
	}); err != nil && h.Logger != nil {
		h.Logger.Warn("could not requeue execution", "execution_id", id, "reason", why, "error", err)
	}
}

// Reconcile finishes executions whose job ended without finishing them, as
// when a worker crashed on the job's last attempt. Run it periodically.
func (h *Handler) Reconcile(ctx context.Context) (int64, error) {
	n, err := h.Store.ExecutionReconcile(ctx)
	if err != nil {
		return 0, fmt.Errorf("reconcile executions: %w", err)
	}
	return n, nil
}
