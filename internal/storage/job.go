package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// JobState is the lifecycle state of a queued job.
type JobState string

// The job states. Completed, discarded and cancelled are final.
const (
	JobAvailable JobState = "available"
	JobRunning   JobState = "running"
	JobRetryable JobState = "retryable"
	JobCompleted JobState = "completed"
	JobDiscarded JobState = "discarded"
	JobCancelled JobState = "cancelled"
)

// JobStates lists every state.
var JobStates = []JobState{JobAvailable, JobRunning, JobRetryable, JobCompleted, JobDiscarded, JobCancelled}

// Valid reports whether s is a known state.
func (s JobState) Valid() bool {
	for _, v := range JobStates {
		if v == s {
			return true
		}
	}
	return false
}

// Final reports whether s is an end state.
func (s JobState) Final() bool {
	return s == JobCompleted || s == JobDiscarded || s == JobCancelled
}

// Job defaults.
const (
	// DefaultQueue is the queue a job goes to when none is named.
	DefaultQueue = "default"
	// DefaultMaxAttempts is how many times a job runs before it is
	// discarded, when the enqueuer sets no limit.
	DefaultMaxAttempts = 5
)

// Job is one unit of work in the queue.
type Job struct {
	ID          int64
	Queue       string
	Kind        string
	Payload     json.RawMessage
	Priority    int
	RunAt       time.Time
	State       JobState
	Attempt     int
	MaxAttempts int
	LastError   string
	// Errors is the history of failed attempts, oldest first.
	Errors []JobError
	// LeaseOwner names the worker that holds the job while it runs.
	LeaseOwner string
	// LeaseToken is the fencing token of the current claim. A worker must
	// present it to finish or extend the job.
	LeaseToken     int64
	LeaseExpiresAt *time.Time
	// CancelRequested is set when a running job was cancelled; its worker
	// learns of it at the next heartbeat.
	CancelRequested bool
	UniqueKey       string
	CreatedAt       time.Time
	FinishedAt      *time.Time
	// TraceContext is the W3C traceparent of the span that enqueued the
	// job, or empty: the span of each run of the job links to it.
	TraceContext string
}

// JobError records one failed attempt.
type JobError struct {
	At      time.Time `json:"at"`
	Attempt int       `json:"attempt"`
	Error   string    `json:"error"`
}

// JobEnqueueParams describe a job to enqueue.
type JobEnqueueParams struct {
	// Queue defaults to DefaultQueue.
	Queue string
	Kind  string
	// Payload defaults to {}.
	Payload json.RawMessage
	// Priority orders due jobs: higher runs first. Defaults to 0.
	Priority int
	// RunAt delays the job. Defaults to now.
	RunAt time.Time
	// MaxAttempts defaults to DefaultMaxAttempts.
	MaxAttempts int
	// UniqueKey, when set, makes the enqueue return the existing job with
	// that key while that job is not final, instead of adding a duplicate.
	UniqueKey string
	// TraceContext is the W3C traceparent of the span that enqueues the
	// job (see tracing.TraceParent), stored with it so that the span of
	// each run links to the enqueuer's. Empty stores none (NULL).
	TraceContext string
}

// WithDefaults returns a copy of p with defaults filled in.
func (p JobEnqueueParams) WithDefaults() JobEnqueueParams {
	if p.Queue == "" {
		p.Queue = DefaultQueue
	}
	if len(p.Payload) == 0 {
		p.Payload = json.RawMessage("{}")
	}
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	return p
}

// JobClaimParams ask for up to Limit due jobs of one queue.
type JobClaimParams struct {
	Queue string
	// Worker names the claimer; it is recorded as the lease owner.
	Worker string
	Limit  int
	// Lease is how long the claim holds before the rescuer may take it back.
	Lease time.Duration
}

// JobRef names one claim of a job: the job and its fencing token.
type JobRef struct {
	ID    int64
	Token int64
}

// JobFailParams record a failed attempt.
type JobFailParams struct {
	JobRef
	Error string
	// Retry asks for another attempt when the job has attempts left.
	Retry bool
	// RetryAfter is how long to wait before the next attempt; see
	// RetryPolicy.
	RetryAfter time.Duration
}

// JobLease is the outcome of a heartbeat for one job still held.
type JobLease struct {
	ID              int64
	CancelRequested bool
}

// JobListParams filter and page a job listing, newest first (by ID,
// descending).
type JobListParams struct {
	Queue string
	State JobState
	Kind  string
	// Limit is the page size. Defaults to 50; at most 200.
	Limit  int
	Cursor string
}

// JobPage is one page of jobs. NextCursor is empty on the last page.
type JobPage struct {
	Jobs       []*Job
	NextCursor string
}

// JobQueueStats counts one queue's jobs by state.
type JobQueueStats struct {
	Queue  string
	Counts map[JobState]int64
	// OldestAvailableAge is how long the oldest due, unclaimed job has been
	// waiting, or zero if none is waiting.
	OldestAvailableAge time.Duration
}

// JobStore is the durable job queue. Every method works inside InTx, so a
// job commits or rolls back with the writes around it.
type JobStore interface {
	// JobEnqueue adds a job. With a UniqueKey held by a live job, it returns
	// that job instead.
	JobEnqueue(ctx context.Context, p *JobEnqueueParams) (*Job, error)
	// JobEnqueueMany adds many jobs in one transaction and returns the IDs
	// of those it added, in the order of ps. A job whose UniqueKey is held
	// by a live job, or by an earlier job of the batch, is skipped.
	JobEnqueueMany(ctx context.Context, ps []*JobEnqueueParams) ([]int64, error)
	// JobClaim claims up to p.Limit due jobs of p.Queue, highest priority
	// first, then by run_at, then by ID. Each claim bumps the attempt and
	// issues a fresh fencing token. Concurrent claimers never get the same
	// job.
	JobClaim(ctx context.Context, p *JobClaimParams) ([]*Job, error)
	// JobComplete marks a running job completed. Returns ErrLeaseLost if
	// the caller's token no longer holds the job, and ErrNotFound if there
	// is no such job.
	JobComplete(ctx context.Context, ref JobRef) error
	// JobCompleteMany completes many jobs in one statement and returns the
	// IDs it completed; the others had lost their lease.
	JobCompleteMany(ctx context.Context, refs []JobRef) ([]int64, error)
	// JobFail records a failed attempt: the job becomes retryable after
	// p.RetryAfter if p.Retry is set and attempts remain, cancelled if a
	// cancellation was requested, and discarded otherwise. Returns
	// ErrLeaseLost or ErrNotFound as JobComplete does.
	JobFail(ctx context.Context, p *JobFailParams) (*Job, error)
	// JobFailMany records many failed attempts in one statement and returns
	// the IDs it updated.
	JobFailMany(ctx context.Context, ps []*JobFailParams) ([]int64, error)
	// JobExtendLease extends the leases of running jobs still held by refs
	// to now+lease, and reports for each whether cancellation was requested.
	// Jobs whose lease was lost are left out of the answer.
	JobExtendLease(ctx context.Context, refs []JobRef, lease time.Duration) ([]JobLease, error)
	// JobRelease gives held jobs back at once, uncounted, as at a graceful
	// shutdown: each becomes available again with its attempt restored, or
	// cancelled if a cancellation was requested. Returns the released IDs.
	JobRelease(ctx context.Context, refs []JobRef) ([]int64, error)
	// JobRescue returns up to limit running jobs whose lease expired to
	// retryable (due now), or discards them when out of attempts, or
	// cancels them if cancellation was requested. The attempt counts. A job
	// completed or claimed again meanwhile is never touched. Returns how
	// many it rescued.
	JobRescue(ctx context.Context, limit int) (int64, error)
	// JobCancel cancels a job: a job not yet running becomes cancelled and
	// never runs; a running job is flagged, and its worker sees the flag at
	// its next heartbeat. Returns ErrNotFound, or ErrConflict if the job
	// already finished.
	JobCancel(ctx context.Context, id int64) (*Job, error)
	// JobGet returns one job. Returns ErrNotFound if no job has that ID.
	JobGet(ctx context.Context, id int64) (*Job, error)
	// JobGetByUniqueKey returns the newest job enqueued with that unique
	// key, live or final. Returns ErrNotFound if there is none.
	JobGetByUniqueKey(ctx context.Context, key string) (*Job, error)
	// JobIDsByUniqueKeys returns the ID of the newest job enqueued with
	// each of the unique keys, live or final, in one query. Keys without a
	// job (never enqueued, or pruned) are absent from the map.
	JobIDsByUniqueKeys(ctx context.Context, keys []string) (map[string]int64, error)
	// JobList returns one page of jobs. Returns ErrInvalidInput for a
	// malformed cursor or an unknown state.
	JobList(ctx context.Context, p *JobListParams) (*JobPage, error)
	// JobStats counts jobs by queue and state.
	JobStats(ctx context.Context) ([]*JobQueueStats, error)
	// JobPrune deletes up to limit final jobs that finished more than
	// retention ago, and returns how many it deleted.
	JobPrune(ctx context.Context, retention time.Duration, limit int) (int64, error)
	// JobVacuum reclaims the space that claims and completions leave
	// behind, so that claiming stays fast under heavy churn. The worker
	// pool calls it after it has finished many jobs. It may do nothing,
	// and does nothing inside InTx.
	JobVacuum(ctx context.Context) error
}

// RetryPolicy computes the wait before a failed job's next attempt:
// exponential backoff from Base, capped at Max, plus random jitter.
type RetryPolicy struct {
	// Base is the wait after the first failed attempt. Defaults to 1s.
	Base time.Duration
	// Max caps the wait. Defaults to 10m.
	Max time.Duration
	// Jitter is the fraction of the wait added at random, 0 to 1. Zero
	// adds none; DefaultRetryPolicy uses 0.2.
	Jitter float64
}

// DefaultRetryPolicy is the retry policy of workers that set none: 1s
// doubling up to 10m, plus up to 20% jitter.
var DefaultRetryPolicy = RetryPolicy{Base: time.Second, Max: 10 * time.Minute, Jitter: 0.2}

// WithDefaults returns a copy of p with Base and Max filled in, and an
// out-of-range Jitter replaced by 0.2.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.Base <= 0 {
		p.Base = time.Second
	}
	if p.Max <= 0 {
		p.Max = 10 * time.Minute
	}
	if p.Jitter < 0 || p.Jitter > 1 {
		p.Jitter = 0.2
	}
	return p
}

// Backoff returns the wait after the given failed attempt (1-based).
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.WithDefaults()
	d := p.Base
	for i := 1; i < attempt && d < p.Max; i++ {
		d *= 2
	}
	d = min(d, p.Max)
	if p.Jitter > 0 {
		d += time.Duration(rand.Float64() * p.Jitter * float64(d))
	}
	return d
}

// UnmarshalJobErrors decodes a stored error history. It never fails: an
// unreadable history gives none.
func UnmarshalJobErrors(b []byte) []JobError {
	var errs []JobError
	_ = json.Unmarshal(b, &errs)
	return errs
}

// Decode checks p and returns the ID to list below (newest first; the
// first page starts below math.MaxInt64) and the page size. Returns
// ErrInvalidInput for a malformed cursor or an unknown state.
func (p *JobListParams) Decode() (beforeID int64, limit int, err error) {
	if beforeID, err = DecodeSeqCursor(p.Cursor, ListJobs); err != nil {
		return 0, 0, err
	}
	if p.Cursor == "" {
		beforeID = math.MaxInt64
	}
	if p.State != "" && !p.State.Valid() {
		return 0, 0, fmt.Errorf("%w: unknown state %q", ErrInvalidInput, p.State)
	}
	return beforeID, PageLimit(p.Limit), nil
}

// AddJobCount adds the count of one queue and state to stats, which are
// grouped by queue in the order rows arrive sorted by queue. oldestDue is
// the age of the state's oldest due job; it counts for available and
// retryable jobs.
func AddJobCount(stats []*JobQueueStats, queue string, state JobState, n int64, oldestDue time.Duration) []*JobQueueStats {
	if len(stats) == 0 || stats[len(stats)-1].Queue != queue {
		stats = append(stats, &JobQueueStats{Queue: queue, Counts: map[JobState]int64{}})
	}
	qs := stats[len(stats)-1]
	qs.Counts[state] = n
	if state == JobAvailable || state == JobRetryable {
		qs.OldestAvailableAge = max(qs.OldestAvailableAge, oldestDue)
	}
	return stats
}
