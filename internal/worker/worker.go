// Package worker runs queued jobs: one claim loop per process fetches due
// jobs in batches, a bounded set of goroutines runs their handlers, a
// heartbeat extends the leases of running jobs, and a completer records
// outcomes in batches. A rescuer and a pruner keep the queue healthy; both
// are safe to run on every node at once.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Store is the part of storage.Store the pool uses.
type Store interface {
	JobClaim(ctx context.Context, p *storage.JobClaimParams) ([]*storage.Job, error)
	JobCompleteMany(ctx context.Context, refs []storage.JobRef) ([]int64, error)
	JobFailMany(ctx context.Context, ps []*storage.JobFailParams) ([]int64, error)
	JobExtendLease(ctx context.Context, refs []storage.JobRef, lease time.Duration) ([]storage.JobLease, error)
	JobRelease(ctx context.Context, refs []storage.JobRef) ([]int64, error)
	JobRescue(ctx context.Context, limit int) (int64, error)
	JobPrune(ctx context.Context, retention time.Duration, limit int) (int64, error)
	JobVacuum(ctx context.Context) error
}

// HandlerFunc runs one job. Returning nil completes the job; an error fails
// the attempt, which is retried with backoff while attempts remain unless
// the error wraps ErrDiscard. A panic fails the attempt like an error. The
// context is cancelled when the job is cancelled, its lease is lost, it
// outlives Config.JobTimeout, or the pool shuts down; context.Cause tells
// which.
type HandlerFunc func(ctx context.Context, job *storage.Job) error

// Causes of a job context's cancellation, as reported by context.Cause.
var (
	// ErrJobCancelled means the job was cancelled through the store.
	ErrJobCancelled = errors.New("job cancelled")
	// ErrJobLeaseLost means the pool no longer holds the job's lease, so
	// another worker may run it.
	ErrJobLeaseLost = errors.New("job lease lost")
	// ErrJobTimeout means the handler outlived Config.JobTimeout.
	ErrJobTimeout = errors.New("job timed out")
	// ErrShutdown means the pool is stopping; the job is handed back
	// without counting the attempt.
	ErrShutdown = errors.New("worker shutting down")
	// ErrDiscard, wrapped in a handler's error, fails the job for good
	// instead of retrying it.
	ErrDiscard = errors.New("discard job")
)

// MaxRetryDelay bounds the delay that RetryIn asks for.
const MaxRetryDelay = time.Hour

// RetryIn wraps err so that the job's next attempt, if any, comes after d
// (at most MaxRetryDelay) instead of after the pool's backoff, when d is
// longer than that backoff: as when a server answered 429 or 503 with a
// Retry-After header.
func RetryIn(d time.Duration, err error) error {
	return &retryInError{after: min(max(d, 0), MaxRetryDelay), err: err}
}

// retryInError is an error returned through RetryIn.
type retryInError struct {
	after time.Duration
	err   error
}

func (e *retryInError) Error() string { return e.err.Error() }

func (e *retryInError) Unwrap() error { return e.err }

// Config holds the pool's options; zero values take the documented
// defaults.
type Config struct {
	// Queue is the queue to work. Defaults to storage.DefaultQueue.
	Queue string
	// Workers is how many jobs run at once. Defaults to 8.
	Workers int
	// ID names this pool as the lease owner. Defaults to host-pid-random.
	ID string
	// Lease is how long a claim holds between heartbeats. Defaults to 30s.
	// A job whose lease the pool has not renewed for this long (counted
	// from when the claim or the last successful renewal was sent) is
	// cancelled with ErrJobLeaseLost, because another worker may now run
	// it. Each store call of the heartbeat, rescuer, pruner and completer
	// times out after half of it.
	Lease time.Duration
	// HeartbeatInterval is how often leases are extended. Defaults to a
	// third of Lease.
	HeartbeatInterval time.Duration
	// PollInterval is how often the pool looks for jobs when nothing woke
	// it. Defaults to 1s.
	PollInterval time.Duration
	// JobTimeout cancels a handler that runs longer. Defaults to 10m.
	JobTimeout time.Duration
	// Retry computes the wait before a failed job's next attempt. Defaults
	// to storage.DefaultRetryPolicy.
	Retry storage.RetryPolicy
	// RescueInterval is how often expired leases are taken back. Defaults
	// to 10s.
	RescueInterval time.Duration
	// PruneInterval is how often old final jobs are deleted. Defaults to 1m.
	PruneInterval time.Duration
	// VacuumInterval is how often the pool checks whether to vacuum the
	// queue. Defaults to 2s.
	VacuumInterval time.Duration
	// VacuumAfter is how many outcomes the pool writes before it vacuums
	// the queue (storage.JobStore.JobVacuum). Defaults to 10,000.
	VacuumAfter int
	// Retention is how long final jobs are kept. Defaults to 24h.
	Retention time.Duration
	// ShutdownTimeout is how long running jobs may finish after Run's
	// context ends before they are cancelled. Defaults to 30s.
	ShutdownTimeout time.Duration
	// CompleteBatch is the most outcomes written in one statement.
	// Defaults to 500.
	CompleteBatch int
	// CompleteDelay is the longest an outcome waits to be written with
	// others. Defaults to 5ms.
	CompleteDelay time.Duration
	// Logger receives the pool's logs. Defaults to slog.Default().
	Logger *slog.Logger
	// TracerProvider, when set, gives every handled job a span, linked to
	// the span that enqueued the job (its storage.Job.TraceContext), with
	// the handler's context inside it. Nil records no spans.
	TracerProvider trace.TracerProvider
	// Observer, when set, is told of the pool's work, for metrics.
	// Defaults to none.
	Observer Observer
}

// WithDefaults returns a copy of c with defaults filled in.
func (c Config) WithDefaults() Config {
	if c.Queue == "" {
		c.Queue = storage.DefaultQueue
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.ID == "" {
		host, _ := os.Hostname()
		c.ID = host + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(rand.Uint64()%1e6, 10)
	}
	if c.Lease <= 0 {
		c.Lease = 30 * time.Second
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = c.Lease / 3
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.JobTimeout <= 0 {
		c.JobTimeout = 10 * time.Minute
	}
	if c.Retry == (storage.RetryPolicy{}) {
		c.Retry = storage.DefaultRetryPolicy
	}
	if c.RescueInterval <= 0 {
		c.RescueInterval = 10 * time.Second
	}
	if c.PruneInterval <= 0 {
		c.PruneInterval = time.Minute
	}
	if c.VacuumInterval <= 0 {
		c.VacuumInterval = 2 * time.Second
	}
	if c.VacuumAfter <= 0 {
		c.VacuumAfter = 10_000
	}
	if c.Retention <= 0 {
		c.Retention = 24 * time.Hour
	}
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = 30 * time.Second
	}
	if c.CompleteBatch <= 0 {
		c.CompleteBatch = 500
	}
	if c.CompleteDelay <= 0 {
		c.CompleteDelay = 5 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Pool runs jobs of one queue.
type Pool struct {
	store    Store
	cfg      Config
	log      *slog.Logger
	handlers map[string]HandlerFunc
	starters map[string]Starter
	obs      Observer // Config.Observer, or nil.

	wake    chan struct{} // Something was enqueued.
	check   chan struct{} // A job was asked to cancel.
	freed   chan struct{} // A worker slot came free.
	results chan outcome  // Finished handlers, for the completer.
	// slots holds a token for each worker that holds a job: from its
	// claim until its handler has returned.
	slots chan struct{}

	// now tells the time for the local lease deadlines.
	now func() time.Time

	mu sync.Mutex
	// held maps the ID of each job whose lease this pool holds to its
	// newest claim; an older claim of the same ID is cancelled when a newer
	// one starts.
	held map[int64]*heldJob

	unvacuumed atomic.Int64 // Outcomes written since the last vacuum.

	// shutdownFlush bounds the retries of the last outcomes at shutdown.
	shutdownFlush time.Duration

	outage outageLog

	// finishes is whether the store runs transactions, so that handlers
	// may return CompleteWith (see CanFinishLater).
	finishes bool
}

// heldJob is a claimed job from claim until its outcome is written or its
// lease is lost.
type heldJob struct {
	ref storage.JobRef
	// ctx is the context of the job's handler; cancel cancels it.
	ctx    context.Context
	cancel context.CancelCauseFunc
	// renewed is when the claim or the last successful renewal of the
	// lease was sent: the store's lease runs out no earlier than renewed
	// plus Config.Lease.
	renewed time.Time
	// expiry fires at the local lease deadline, checks it, and cancels the
	// job if the lease was not renewed meanwhile.
	expiry *time.Timer
}

// leaseExpired reports whether a lease last renewed (or claimed) at renewed
// has run out at now.
func leaseExpired(now, renewed time.Time, lease time.Duration) bool {
	return !now.Before(renewed.Add(lease))
}

type outcomeKind int

const (
	outcomeComplete outcomeKind = iota
	outcomeFail
	outcomeRelease
	outcomeDrop   // The lease was lost: write nothing.
	outcomeFinish // Complete the job with its handler's Finisher.
)

type outcome struct {
	kind outcomeKind
	job  *storage.Job
	fail *storage.JobFailParams
	// strikes counts the writes of this outcome alone that failed with an
	// error that is neither a refusal nor an outage.
	strikes int
	// ended is how the attempt ended, for the observer, once written.
	ended Outcome
	// took is how long the handler ran, when the pool has an observer.
	took time.Duration
	// finisher is the handler's last write, for outcomeFinish.
	finisher Finisher
	// cause is the cause of the handler's context when it returned, for
	// the outcome of finisher's Alone.
	cause error
}

// New returns a pool over store. Register handlers with Handle before Run.
func New(store Store, cfg Config) *Pool {
	cfg = cfg.WithDefaults()
	_, finishes := store.(txStore)
	return &Pool{
		finishes: finishes,
		store:    store,
		cfg:      cfg,
		log:      cfg.Logger.With("component", "worker", "worker_id", cfg.ID, "queue", cfg.Queue),
		handlers: map[string]HandlerFunc{},
		starters: map[string]Starter{},
		obs:      cfg.Observer,
		wake:     make(chan struct{}, 1),
		check:    make(chan struct{}, 1),
		freed:    make(chan struct{}, 1),
		results:  make(chan outcome, cfg.Workers*2),
		slots:    make(chan struct{}, cfg.Workers),
		now:      time.Now,
		held:     map[int64]*heldJob{},
		outage:   outageLog{log: cfg.Logger, now: time.Now},

		shutdownFlush: time.Minute,
	}
}

// Handle registers the handler for a job kind. Jobs of a kind with no
// handler are discarded with an error.
func (p *Pool) Handle(kind string, h HandlerFunc) { p.handlers[kind] = h }

// Wake makes the claim loop look for jobs now instead of at its next poll.
// It never blocks.
func (p *Pool) Wake() { signal(p.wake) }

// CheckCancels makes the heartbeat renew leases now instead of at its next
// interval, so that running jobs asked to cancel through the store are
// cancelled promptly. It never blocks.
func (p *Pool) CheckCancels() { signal(p.check) }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Run works jobs until ctx ends, then shuts down gracefully: it stops
// claiming, lets running jobs finish for up to ShutdownTimeout, cancels the
// rest and hands them back uncounted, and writes every outcome before it
// returns.
func (p *Pool) Run(ctx context.Context) error {
	if p.obs != nil {
		p.obs.PoolStarted(p)
		defer p.obs.PoolStopped(p)
	}
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	completerDone := make(chan struct{})
	go func() { defer close(completerDone); p.complete() }()
	bg.Go(func() { p.heartbeat(bgCtx) })
	bg.Go(func() { p.every(bgCtx, p.cfg.RescueInterval, "rescue", p.rescue) })
	bg.Go(func() { p.every(bgCtx, p.cfg.PruneInterval, "prune", p.prune) })
	bg.Go(func() { p.every(bgCtx, p.cfg.VacuumInterval, "vacuum", p.vacuum) })

	var jobs sync.WaitGroup
	p.claimLoop(ctx, &jobs)

	// Graceful shutdown: give running jobs time, then cancel them.
	drained := make(chan struct{})
	go func() { jobs.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-time.After(p.cfg.ShutdownTimeout):
		p.log.Warn("shutdown timeout reached; cancelling running jobs")
		p.mu.Lock()
		for _, h := range p.held {
			h.cancel(ErrShutdown)
		}
		p.mu.Unlock()
		<-drained
	}
	close(p.results)
	<-completerDone
	stopBG()
	bg.Wait()
	// Outcomes that could not be written leave their jobs held; their
	// leases expire in the store, and nothing here needs to watch them.
	// Forgetting them also disarms a lease check that fired meanwhile and
	// waits for p.mu: it finds its job no longer held, so it neither
	// re-arms its timer nor logs a lost lease after Run returned.
	p.mu.Lock()
	for _, h := range p.held {
		h.expiry.Stop()
	}
	clear(p.held)
	p.mu.Unlock()
	return nil
}

// claimLoop claims jobs into free slots until ctx ends. A claim that fills
// every free slot is followed by another as soon as slots free up (waiting
// up to claimGather for all of them); one that comes back short means the
// queue is drained, so the loop waits for a wake-up or the next poll.
func (p *Pool) claimLoop(ctx context.Context, jobs *sync.WaitGroup) {
	slots := p.slots
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		free := p.cfg.Workers - len(slots)
		if free == 0 {
			select {
			case <-ctx.Done():
			case <-p.freed:
			}
			continue
		}
		if free < p.cfg.Workers {
			// A claim of a few jobs costs nearly what a full one does, so
			// give the other slots a moment to come free.
			free = p.gather(ctx, slots)
			if ctx.Err() != nil {
				return
			}
		}
		// The claim runs to its end even if ctx ends meanwhile, so that a
		// claim that committed is known and its jobs handed back at once.
		claimCtx, cancelClaim := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		claimedAt := p.now()
		claimed, err := p.store.JobClaim(claimCtx, &storage.JobClaimParams{
			Queue: p.cfg.Queue, Worker: p.cfg.ID, Limit: free, Lease: p.cfg.Lease,
		})
		cancelClaim()
		if ctx.Err() != nil {
			p.releaseUnstarted(claimed)
			return
		}
		if err != nil {
			p.outage.fail("claim jobs", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 2*time.Second)
			p.waitFor(ctx, backoff+time.Duration(rand.Int64N(int64(backoff/4)+1)))
			continue
		}
		p.outage.ok()
		backoff = 0
		// Hold the jobs before their Starter makes their executions
		// running, so that a cancellation or a lost lease seen meanwhile
		// reaches their handlers.
		holds := make([]*heldJob, len(claimed))
		for i, job := range claimed {
			holds[i] = p.hold(job, claimedAt)
		}
		prepared := p.startMany(ctx, claimed)
		for i, job := range claimed {
			slots <- struct{}{}
			jobs.Add(1)
			p.start(job, holds[i], prepared[i], func() {
				<-slots
				jobs.Done()
				signal(p.freed)
			})
		}
		if len(claimed) < free {
			p.waitForWork(ctx)
		}
	}
}

// claimGather is how long the claim loop, with some but not all of its
// slots free, waits for the rest before it claims.
const claimGather = time.Millisecond

// gather waits up to claimGather for every worker slot to be free, and
// returns how many are.
func (p *Pool) gather(ctx context.Context, slots chan struct{}) int {
	t := time.NewTimer(claimGather)
	defer t.Stop()
	for len(slots) > 0 {
		select {
		case <-p.freed:
		case <-t.C:
			return p.cfg.Workers - len(slots)
		case <-ctx.Done():
			return p.cfg.Workers - len(slots)
		}
	}
	return p.cfg.Workers
}

// waitForWork waits for a wake-up, the next poll, or the end of ctx.
func (p *Pool) waitForWork(ctx context.Context) { p.waitFor(ctx, p.cfg.PollInterval) }

// waitFor waits for a wake-up, for d, or for the end of ctx.
func (p *Pool) waitFor(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-p.wake:
	case <-t.C:
	}
}

// releaseUnstarted hands back jobs claimed as the pool was stopping.
func (p *Pool) releaseUnstarted(jobs []*storage.Job) {
	if len(jobs) == 0 {
		return
	}
	refs := make([]storage.JobRef, len(jobs))
	for i, j := range jobs {
		refs[i] = storage.JobRef{ID: j.ID, Token: j.LeaseToken}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.store.JobRelease(ctx, refs); err != nil {
		p.log.Warn("release jobs claimed at shutdown", "jobs", len(refs), "error", err)
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// hold makes the pool hold a claimed job: from then on its lease is
// renewed, and a cancellation or a lost lease cancels its context (h.ctx),
// even before its handler starts. claimedAt is when the claim was sent,
// which starts the local lease deadline. An older claim of the same job by
// this pool has lost its lease, so its handler is cancelled.
func (p *Pool) hold(job *storage.Job, claimedAt time.Time) *heldJob {
	jobCtx, cancel := context.WithCancelCause(context.Background())
	h := &heldJob{ref: storage.JobRef{ID: job.ID, Token: job.LeaseToken}, ctx: jobCtx, cancel: cancel, renewed: claimedAt}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.held[job.ID]; old != nil {
		p.log.Info("job claimed again; cancelling the older claim's handler", "job_id", job.ID)
		p.loseLocked(old)
	}
	p.held[job.ID] = h
	h.expiry = time.AfterFunc(p.cfg.Lease-p.now().Sub(claimedAt), func() { p.checkExpiry(h) })
	return h
}

// start runs the handler of a job that the pool holds (see hold) in its
// own goroutine. started is what the kind's Starter prepared for the job,
// if anything (see Started).
func (p *Pool) start(job *storage.Job, h *heldJob, started any, done func()) {
	jobCtx, cancel := h.ctx, h.cancel
	go func() {
		defer done()
		ctx, cancelTimeout := context.WithTimeoutCause(jobCtx, p.cfg.JobTimeout, ErrJobTimeout)
		ctx, span := p.startJobSpan(ctx, job)
		if p.finishes {
			ctx = context.WithValue(ctx, finishLaterKey{}, true)
		}
		if started != nil {
			ctx = context.WithValue(ctx, startedKey{}, started)
		}
		var began time.Time
		if p.obs != nil {
			began = time.Now()
			p.obs.JobClaimed(p.cfg.Queue, job.Kind, pickupLatency(job, began))
		}
		err := p.run(ctx, job)
		cause := context.Cause(ctx) // The timeout's cause, or the parent's.
		cancelTimeout()
		cancel(nil)
		o := p.outcomeOf(job, err, cause)
		endJobSpan(span, o)
		if p.obs != nil {
			o.took = time.Since(began)
		}
		p.results <- o
	}()
}

// run calls the job's handler, turning a panic into an error.
func (p *Pool) run(ctx context.Context, job *storage.Job) (err error) {
	h, ok := p.handlers[job.Kind]
	if !ok {
		return fmt.Errorf("%w: no handler for kind %q", ErrDiscard, job.Kind)
	}
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("job handler panicked", "job_id", job.ID, "kind", job.Kind, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, job)
}

func (p *Pool) outcomeOf(job *storage.Job, err, cause error) outcome {
	switch {
	case errors.Is(cause, ErrJobLeaseLost), errors.Is(err, storage.ErrLeaseLost):
		// The pool, or the store on a fenced write, found that another
		// worker holds the job now: write nothing.
		return outcome{kind: outcomeDrop, job: job, ended: OutcomeLeaseLost}
	case IsCompleteWith(err):
		// Completed, with a last write that the completer commits with the
		// completion, even if shutdown cancelled the context meanwhile.
		c, _ := errors.AsType[*completeWith](err)
		return outcome{kind: outcomeFinish, job: job, ended: OutcomeCompleted, finisher: c.f, cause: cause}
	case err == nil:
		// A handler that returns nil has done its work, even if shutdown
		// cancelled its context meanwhile: releasing it would run it again.
		return outcome{kind: outcomeComplete, job: job, ended: OutcomeCompleted}
	case errors.Is(cause, ErrShutdown):
		return outcome{kind: outcomeRelease, job: job, ended: OutcomeReleased}
	}
	if errors.Is(cause, ErrJobTimeout) || errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", ErrJobTimeout, err)
	}
	retry := !errors.Is(err, ErrDiscard) && !errors.Is(cause, ErrJobCancelled)
	return outcome{kind: outcomeFail, job: job, ended: failOutcome(job, retry, cause), fail: &storage.JobFailParams{
		JobRef:     storage.JobRef{ID: job.ID, Token: job.LeaseToken},
		Error:      cleanErrorText(err.Error()),
		Retry:      retry,
		RetryAfter: p.retryDelay(job.Attempt, err),
	}}
}

// retryDelay is the wait before the next attempt of a job whose attempt
// failed with err: the pool's backoff, or the delay err asks for through
// RetryIn when that is longer.
func (p *Pool) retryDelay(attempt int, err error) time.Duration {
	d := p.cfg.Retry.Backoff(attempt)
	if r, ok := errors.AsType[*retryInError](err); ok {
		d = max(d, r.after)
	}
	return d
}

// every runs fn every interval, with jitter, until ctx ends.
func (p *Pool) every(ctx context.Context, interval time.Duration, what string, fn func(context.Context) error) {
	for {
		jitter := time.Duration(rand.Int64N(int64(interval/5) + 1))
		if !sleep(ctx, interval+jitter) {
			return
		}
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			p.outage.fail(what, err)
		}
	}
}

func (p *Pool) rescue(ctx context.Context) error {
	for {
		callCtx, cancel := context.WithTimeout(ctx, p.storeTimeout())
		n, err := p.store.JobRescue(callCtx, 1000)
		cancel()
		if err != nil {
			return fmt.Errorf("rescue expired leases: %w", err)
		}
		p.outage.ok()
		if n > 0 {
			p.log.Info("rescued jobs with expired leases", "jobs", n)
			if p.obs != nil {
				p.obs.JobsRescued(n)
			}
			p.Wake()
		}
		if n < 1000 {
			return nil
		}
	}
}

func (p *Pool) prune(ctx context.Context) error {
	callCtx, cancel := context.WithTimeout(ctx, p.storeTimeout())
	defer cancel()
	n, err := p.store.JobPrune(callCtx, p.cfg.Retention, 10000)
	if err != nil {
		return fmt.Errorf("prune finished jobs: %w", err)
	}
	if n > 0 {
		p.log.Debug("pruned finished jobs", "jobs", n)
	}
	return nil
}

// vacuum vacuums the queue once the pool has written VacuumAfter outcomes
// since it last did.
func (p *Pool) vacuum(ctx context.Context) error {
	n := p.unvacuumed.Load()
	if n < int64(p.cfg.VacuumAfter) {
		return nil
	}
	callCtx, cancel := context.WithTimeout(ctx, vacuumTimeout)
	defer cancel()
	if err := p.store.JobVacuum(callCtx); err != nil {
		return fmt.Errorf("vacuum the queue: %w", err)
	}
	p.unvacuumed.Add(-n)
	p.log.Debug("vacuumed the queue", "outcomes", n)
	return nil
}

// storeTimeout bounds each store call of the heartbeat, rescuer, pruner and
// completer: half the lease, so that a call that hangs (a silently dropped
// connection) cannot outlast the leases it is meant to keep.
func (p *Pool) storeTimeout() time.Duration { return p.cfg.Lease / 2 }

// vacuumTimeout bounds a vacuum of the queue, which may take long on a big
// table and keeps no lease.
const vacuumTimeout = 10 * time.Minute

// checkExpiry runs at a held job's local lease deadline. If the lease was
// renewed meanwhile it waits for the new deadline; otherwise the job is
// cancelled with ErrJobLeaseLost, as the store may already have given it
// to another worker.
func (p *Pool) checkExpiry(h *heldJob) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held[h.ref.ID] != h {
		return // Its outcome was written, or its lease lost already.
	}
	now := p.now()
	if !leaseExpired(now, h.renewed, p.cfg.Lease) {
		h.expiry.Reset(h.renewed.Add(p.cfg.Lease).Sub(now))
		return
	}
	p.log.Warn("lease ran out without a renewal; cancelling the job, which may run elsewhere",
		"job_id", h.ref.ID, "last_renewed", h.renewed)
	p.loseLocked(h)
}

// loseLocked forgets a held job whose lease is lost and cancels its
// handler with ErrJobLeaseLost. The caller holds p.mu.
func (p *Pool) loseLocked(h *heldJob) {
	if p.held[h.ref.ID] == h {
		delete(p.held, h.ref.ID)
	}
	h.expiry.Stop()
	h.cancel(ErrJobLeaseLost)
}

// forgetLocked forgets a held job whose outcome was written or dropped.
// The caller holds p.mu.
func (p *Pool) forgetLocked(ref storage.JobRef) {
	if h := p.held[ref.ID]; h != nil && h.ref == ref {
		delete(p.held, ref.ID)
		h.expiry.Stop()
	}
}

// heartbeat extends the leases of held jobs at every HeartbeatInterval, and
// at once after CheckCancels.
func (p *Pool) heartbeat(ctx context.Context) {
	t := time.NewTicker(p.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-p.check:
		}
		p.renew(ctx)
	}
}

// renew extends the leases of held jobs, moves their local deadlines, and
// cancels the context of a job that was cancelled or whose lease was lost.
func (p *Pool) renew(ctx context.Context) {
	p.mu.Lock()
	refs := make([]storage.JobRef, 0, len(p.held))
	for _, h := range p.held {
		refs = append(refs, h.ref)
	}
	p.mu.Unlock()
	if len(refs) == 0 {
		return
	}
	sent := p.now()
	callCtx, cancel := context.WithTimeout(ctx, p.storeTimeout())
	leases, err := p.store.JobExtendLease(callCtx, refs, p.cfg.Lease)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.outage.fail("extend leases", err)
		}
		return
	}
	p.outage.ok()
	sentRef := make(map[int64]storage.JobRef, len(refs))
	for _, ref := range refs {
		sentRef[ref.ID] = ref
	}
	kept := make(map[int64]bool, len(leases))
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range leases {
		kept[l.ID] = true
		h := p.held[l.ID]
		if h == nil || h.ref != sentRef[l.ID] {
			continue // Written, lost or claimed again meanwhile.
		}
		h.renewed = sent
		if l.CancelRequested {
			h.cancel(ErrJobCancelled)
		}
	}
	for _, ref := range refs {
		if h := p.held[ref.ID]; h != nil && !kept[ref.ID] && h.ref == ref {
			p.log.Info("lease lost; the job may run elsewhere", "job_id", ref.ID)
			p.loseLocked(h)
		}
	}
}
