package worker

import (
	"errors"
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Observer is told what pools do, for metrics: set it as Config.Observer.
// *metrics.QueueMetrics is one. Its methods are called from many of the
// pool's goroutines at once and must return quickly: the job calls come
// once or twice per job, so they should neither block nor allocate.
type Observer interface {
	// PoolStarted is told when p's Run begins. Until PoolStopped, the
	// observer may read p.Queue, p.Workers and p.Busy at any time.
	PoolStarted(p *Pool)
	// PoolStopped is told when p's Run returns.
	PoolStopped(p *Pool)
	// JobClaimed is told of each job the pool claimed, as its handler
	// starts, with its pick-up latency: the time from when the job was
	// due (the later of its RunAt and CreatedAt) to that start, which
	// follows the claim at once. It is never negative.
	JobClaimed(queue, kind string, pickup time.Duration)
	// JobFinished is told how each claimed job's attempt ended, with how
	// long its handler ran. Outcomes the store recorded are told once
	// they are written; an outcome that the store refused for good, and
	// dropped (see the completer), is not told.
	JobFinished(queue, kind string, outcome Outcome, took time.Duration)
	// JobsRescued is told how many jobs with expired leases, of any
	// queue, the pool's rescuer handed back, when it handed back any.
	JobsRescued(n int64)
}

// Outcome says how a job's attempt ended, as Observer.JobFinished is told.
type Outcome int

// The outcomes of an attempt.
const (
	// OutcomeCompleted means the handler succeeded and the job completed.
	OutcomeCompleted Outcome = iota
	// OutcomeFailed means the attempt failed and the job will be retried.
	OutcomeFailed
	// OutcomeDiscarded means the attempt failed and the job will not be
	// retried: its error wrapped ErrDiscard, or it was its last attempt.
	OutcomeDiscarded
	// OutcomeCancelled means the job was cancelled through the store while
	// it ran.
	OutcomeCancelled
	// OutcomeReleased means the pool shut down and handed the job back
	// without counting the attempt.
	OutcomeReleased
	// OutcomeLeaseLost means the pool lost the job's lease, so that
	// another worker may run it, and wrote nothing.
	OutcomeLeaseLost
)

var outcomeNames = [...]string{"completed", "failed", "discarded", "cancelled", "released", "lease_lost"}

// String returns the outcome's name: completed, failed, discarded,
// cancelled, released or lease_lost.
func (o Outcome) String() string {
	if o < 0 || int(o) >= len(outcomeNames) {
		return "unknown"
	}
	return outcomeNames[o]
}

// Queue returns the queue the pool works.
func (p *Pool) Queue() string { return p.cfg.Queue }

// Workers returns how many jobs the pool runs at once.
func (p *Pool) Workers() int { return p.cfg.Workers }

// Busy returns how many of the pool's workers hold a job now. It takes no
// lock, and is safe to call from any goroutine.
func (p *Pool) Busy() int { return len(p.slots) }

// pickupLatency is the time from when job was due to at, or zero if at
// comes first (the clocks of the store and the pool may differ).
func pickupLatency(job *storage.Job, at time.Time) time.Duration {
	due := job.RunAt
	if job.CreatedAt.After(due) {
		due = job.CreatedAt
	}
	return max(at.Sub(due), 0)
}

// failOutcome is how a failed attempt ends: cancelled, retried, or
// discarded.
func failOutcome(job *storage.Job, retry bool, cause error) Outcome {
	switch {
	case errors.Is(cause, ErrJobCancelled):
		return OutcomeCancelled
	case retry && job.Attempt < job.MaxAttempts:
		return OutcomeFailed
	default:
		return OutcomeDiscarded
	}
}

// observe tells the observer, if any, how o's attempt ended.
func (p *Pool) observe(o *outcome, ended Outcome) {
	if p.obs != nil {
		p.obs.JobFinished(p.cfg.Queue, o.job.Kind, ended, o.took)
	}
}
