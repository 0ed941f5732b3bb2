package metrics

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// The error kinds of astro_store_errors_total, from the storage sentinel
// errors (see ErrorKind).
const (
	KindNotFound     = "not_found"
	KindConflict     = "conflict"
	KindInvalidInput = "invalid_input"
	KindLeaseLost    = "lease_lost"
	KindUnavailable  = "unavailable"
	KindCanceled     = "canceled"
	KindOther        = "other"
)

// storeBuckets are the bounds of the store operation histogram, in
// seconds: from half a millisecond (an indexed read on SQLite) to 10 s (a
// transaction that waits for a lock).
var storeBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// StoreMetrics observes store operations, through the decorator that
// InstrumentStore returns. Its series are:
//
//   - astro_store_operation_duration_seconds{operation,backend}, a
//     histogram of every call of a storage.Store method, successful or
//     not; operation is the method's name (PlanCreate, JobClaim, InTx...)
//     and backend the one InstrumentStore was given (memory, sqlite,
//     postgres). InTx's duration includes the calls made inside it.
//   - astro_store_errors_total{operation,backend,kind}, the calls that
//     returned an error, by ErrorKind. not_found, conflict and lease_lost
//     are ordinary outcomes (a GET of an unknown ID, a duplicate name, a
//     worker whose lease was taken back) and invalid_input is the
//     caller's mistake; canceled is a caller that gave up (a client that
//     went away, a shutdown). unavailable and other are the ones that mean
//     the store is in trouble: alert on those. unavailable includes a call
//     that ran out of time, since every deadline on a store call is
//     astro-runner's own bound on how long the store may take. An error returned by the
//     function given to InTx counts for that call and again for InTx.
//   - astro_jobs_enqueued_total{queue}, the jobs that JobEnqueue returned
//     and that JobEnqueueMany added. Inside InTx they count when the
//     transaction commits, so a rolled-back enqueue never counts. A
//     JobEnqueue whose UniqueKey is held by a live job returns that job
//     without adding one, and counts too: the store does not say which
//     happened (only alert flush jobs are enqueued so).
type StoreMetrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	enqueued *prometheus.CounterVec
	// queues bounds the queue label of enqueued.
	queues queueLabels
}

func newStoreMetrics(reg *prometheus.Registry) *StoreMetrics {
	m := &StoreMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astro_store_operation_duration_seconds",
			Help:    "Duration of store operations, by operation (the storage.Store method) and backend.",
			Buckets: storeBuckets,
		}, []string{"operation", "backend"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astro_store_errors_total",
			Help: "Store operations that returned an error, by operation, backend and kind (not_found, conflict, invalid_input, lease_lost, unavailable, canceled, other).",
		}, []string{"operation", "backend", "kind"}),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astro_jobs_enqueued_total",
			Help: "Jobs enqueued, by queue (at most 100 queues, then \"other\"); counted when their transaction commits.",
		}, []string{"queue"}),
	}
	reg.MustRegister(m.duration, m.errors, m.enqueued)
	return m
}

// ErrorKind classifies a store error for astro_store_errors_total by the
// storage sentinel it wraps: not_found, conflict (every ErrConflict,
// including stale revisions, illegal transitions and references),
// invalid_input, lease_lost, unavailable (ErrUnavailable, or
// context.DeadlineExceeded: a store that did not answer in time, as when
// it hangs or waits on a lock), canceled (context.Canceled: the caller
// went away) or other.
func ErrorKind(err error) string {
	switch {
	case errors.Is(err, storage.ErrLeaseLost):
		return KindLeaseLost
	case errors.Is(err, storage.ErrNotFound):
		return KindNotFound
	case errors.Is(err, storage.ErrConflict):
		return KindConflict
	case errors.Is(err, storage.ErrInvalidInput):
		return KindInvalidInput
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return KindUnavailable
	case errors.Is(err, context.Canceled):
		return KindCanceled
	default:
		return KindOther
	}
}

// InstrumentStore returns st with every method observed in m, labelled
// with backend. The returned store is the only thing that knows about
// metrics: st is called exactly as before. The store that InTx hands its
// function is instrumented too, and nested InTx calls behave as st's do.
//
// The returned store implements storage.Store only: type-assert st, not
// it, for a backend's own methods (such as pgstore's Listen or Migrate).
func InstrumentStore(st storage.Store, backend string, m *StoreMetrics) storage.Store {
	return &store{next: st, backend: backend, m: m}
}

// store is the decorator of InstrumentStore.
type store struct {
	next    storage.Store
	backend string
	m       *StoreMetrics
	// tally holds the enqueues of the transaction the store is bound to,
	// until it commits. Nil outside a transaction: enqueues count at once.
	tally *enqueueTally
}

var _ storage.Store = (*store)(nil)

// observe records one call of op that started at start and returned *err.
func (s *store) observe(op string, start time.Time, err *error) {
	s.m.duration.WithLabelValues(op, s.backend).Observe(time.Since(start).Seconds())
	if *err != nil {
		s.m.errors.WithLabelValues(op, s.backend, ErrorKind(*err)).Inc()
	}
}

// enqueued counts n jobs added to queue: now, or when the transaction
// commits.
func (s *store) enqueued(queue string, n int) {
	if n <= 0 {
		return
	}
	if queue == "" {
		queue = storage.DefaultQueue
	}
	if s.tally != nil {
		s.tally.add(queue, n)
		return
	}
	s.m.addEnqueued(queue, n)
}

// addEnqueued counts n jobs enqueued on queue, under its bounded label.
func (m *StoreMetrics) addEnqueued(queue string, n int) {
	m.enqueued.WithLabelValues(m.queues.label(queue)).Add(float64(n))
}

// enqueueTally counts the jobs a transaction enqueued, by queue.
type enqueueTally struct {
	mu     sync.Mutex
	counts map[string]int
}

func (t *enqueueTally) add(queue string, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.counts == nil {
		t.counts = map[string]int{}
	}
	t.counts[queue] += n
}

// reset forgets what an earlier run of the transaction's function counted.
func (t *enqueueTally) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.counts)
}

// flush adds the tally to m's enqueued jobs.
func (t *enqueueTally) flush(m *StoreMetrics) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for queue, n := range t.counts {
		m.addEnqueued(queue, n)
	}
	clear(t.counts)
}

// InTx calls the wrapped store's InTx with fn given an instrumented
// transaction, and records it. The jobs enqueued in the transaction count
// when it commits.
func (s *store) InTx(ctx context.Context, fn func(tx storage.Store) error) (err error) {
	defer s.observe("InTx", time.Now(), &err)
	if s.tally != nil {
		// Already in a transaction: the outermost InTx counts at commit.
		return s.next.InTx(ctx, func(tx storage.Store) error {
			return fn(&store{next: tx, backend: s.backend, m: s.m, tally: s.tally})
		})
	}
	t := &enqueueTally{}
	err = s.next.InTx(ctx, func(tx storage.Store) error {
		t.reset()
		return fn(&store{next: tx, backend: s.backend, m: s.m, tally: t})
	})
	if err == nil {
		t.flush(s.m)
	}
	return err
}

// JobEnqueue calls the wrapped store's JobEnqueue, records it and counts
// the job.
func (s *store) JobEnqueue(ctx context.Context, p *storage.JobEnqueueParams) (_ *storage.Job, err error) {
	defer s.observe("JobEnqueue", time.Now(), &err)
	job, err := s.next.JobEnqueue(ctx, p)
	if err == nil {
		s.enqueued(p.Queue, 1)
	}
	return job, err
}

// JobEnqueueMany calls the wrapped store's JobEnqueueMany, records it and
// counts the jobs it added.
func (s *store) JobEnqueueMany(ctx context.Context, ps []*storage.JobEnqueueParams) (_ []int64, err error) {
	defer s.observe("JobEnqueueMany", time.Now(), &err)
	ids, err := s.next.JobEnqueueMany(ctx, ps)
	if err == nil {
		for queue, n := range addedByQueue(ps, len(ids)) {
			s.enqueued(queue, n)
		}
	}
	return ids, err
}

// addedByQueue tells how many jobs went to each queue when JobEnqueueMany
// added added of ps. Jobs without a UniqueKey are always added; only keyed
// jobs may be skipped, and the store does not say which, so the rest of
// added is attributed to the keyed jobs in order. That is exact unless the
// batch skipped some keyed jobs and its keyed jobs span several queues.
func addedByQueue(ps []*storage.JobEnqueueParams, added int) map[string]int {
	out := map[string]int{}
	all := added >= len(ps)
	var keyed []string
	for _, p := range ps {
		queue := p.Queue
		if queue == "" {
			queue = storage.DefaultQueue
		}
		if all || p.UniqueKey == "" {
			out[queue]++
			continue
		}
		keyed = append(keyed, queue)
	}
	rest := added - (len(ps) - len(keyed))
	for _, queue := range keyed[:max(0, min(rest, len(keyed)))] {
		out[queue]++
	}
	return out
}

// The other methods only forward and record.

// PlanCreate calls the wrapped store's PlanCreate and records it.
func (s *store) PlanCreate(ctx context.Context, p *storage.PlanCreateParams) (_ *storage.Plan, err error) {
	defer s.observe("PlanCreate", time.Now(), &err)
	return s.next.PlanCreate(ctx, p)
}

// PlanGetByID calls the wrapped store's PlanGetByID and records it.
func (s *store) PlanGetByID(ctx context.Context, id uuid.UUID) (_ *storage.Plan, err error) {
	defer s.observe("PlanGetByID", time.Now(), &err)
	return s.next.PlanGetByID(ctx, id)
}

// PlanUpdate calls the wrapped store's PlanUpdate and records it.
func (s *store) PlanUpdate(ctx context.Context, p *storage.PlanUpdateParams) (_ *storage.Plan, err error) {
	defer s.observe("PlanUpdate", time.Now(), &err)
	return s.next.PlanUpdate(ctx, p)
}

// PlanDelete calls the wrapped store's PlanDelete and records it.
func (s *store) PlanDelete(ctx context.Context, id uuid.UUID) (err error) {
	defer s.observe("PlanDelete", time.Now(), &err)
	return s.next.PlanDelete(ctx, id)
}

// PlanList calls the wrapped store's PlanList and records it.
func (s *store) PlanList(ctx context.Context, p *storage.PlanListParams) (_ *storage.PlanPage, err error) {
	defer s.observe("PlanList", time.Now(), &err)
	return s.next.PlanList(ctx, p)
}

// ExecutionCreate calls the wrapped store's ExecutionCreate and records it.
func (s *store) ExecutionCreate(ctx context.Context, p *storage.ExecutionCreateParams) (_ *storage.Execution, err error) {
	defer s.observe("ExecutionCreate", time.Now(), &err)
	return s.next.ExecutionCreate(ctx, p)
}

// ExecutionCreateMany calls the wrapped store's ExecutionCreateMany and records it.
func (s *store) ExecutionCreateMany(ctx context.Context, ps []*storage.ExecutionCreateParams) (_ []*storage.Execution, err error) {
	defer s.observe("ExecutionCreateMany", time.Now(), &err)
	return s.next.ExecutionCreateMany(ctx, ps)
}

// ExecutionGetByID calls the wrapped store's ExecutionGetByID and records it.
func (s *store) ExecutionGetByID(ctx context.Context, id uuid.UUID) (_ *storage.Execution, err error) {
	defer s.observe("ExecutionGetByID", time.Now(), &err)
	return s.next.ExecutionGetByID(ctx, id)
}

// ExecutionGetByIdempotencyKey calls the wrapped store's ExecutionGetByIdempotencyKey and records it.
func (s *store) ExecutionGetByIdempotencyKey(ctx context.Context, planID uuid.UUID, key string) (_ *storage.Execution, err error) {
	defer s.observe("ExecutionGetByIdempotencyKey", time.Now(), &err)
	return s.next.ExecutionGetByIdempotencyKey(ctx, planID, key)
}

// ExecutionList calls the wrapped store's ExecutionList and records it.
func (s *store) ExecutionList(ctx context.Context, p *storage.ExecutionListParams) (_ *storage.ExecutionPage, err error) {
	defer s.observe("ExecutionList", time.Now(), &err)
	return s.next.ExecutionList(ctx, p)
}

// ExecutionSetStatus calls the wrapped store's ExecutionSetStatus and records it.
func (s *store) ExecutionSetStatus(ctx context.Context, p *storage.ExecutionSetStatusParams) (_ *storage.Execution, err error) {
	defer s.observe("ExecutionSetStatus", time.Now(), &err)
	return s.next.ExecutionSetStatus(ctx, p)
}

// ExecutionFinishMany calls the wrapped store's ExecutionFinishMany and records it.
func (s *store) ExecutionFinishMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) (_ []*storage.Execution, err error) {
	defer s.observe("ExecutionFinishMany", time.Now(), &err)
	return s.next.ExecutionFinishMany(ctx, ps)
}

// ExecutionStartMany calls the wrapped store's ExecutionStartMany and records it.
func (s *store) ExecutionStartMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) (_ []*storage.ExecutionStarted, err error) {
	defer s.observe("ExecutionStartMany", time.Now(), &err)
	return s.next.ExecutionStartMany(ctx, ps)
}

// ExecutionDeleteByPlanID calls the wrapped store's ExecutionDeleteByPlanID and records it.
func (s *store) ExecutionDeleteByPlanID(ctx context.Context, planID uuid.UUID) (_ int64, err error) {
	defer s.observe("ExecutionDeleteByPlanID", time.Now(), &err)
	return s.next.ExecutionDeleteByPlanID(ctx, planID)
}

// ExecutionReconcile calls the wrapped store's ExecutionReconcile and records it.
func (s *store) ExecutionReconcile(ctx context.Context) (_ []*storage.Execution, err error) {
	defer s.observe("ExecutionReconcile", time.Now(), &err)
	return s.next.ExecutionReconcile(ctx)
}

// ExecutionPrune calls the wrapped store's ExecutionPrune and records it.
func (s *store) ExecutionPrune(ctx context.Context, p *storage.ExecutionPruneParams) (_ int64, err error) {
	defer s.observe("ExecutionPrune", time.Now(), &err)
	return s.next.ExecutionPrune(ctx, p)
}

// JobClaim calls the wrapped store's JobClaim and records it.
func (s *store) JobClaim(ctx context.Context, p *storage.JobClaimParams) (_ []*storage.Job, err error) {
	defer s.observe("JobClaim", time.Now(), &err)
	return s.next.JobClaim(ctx, p)
}

// JobComplete calls the wrapped store's JobComplete and records it.
func (s *store) JobComplete(ctx context.Context, ref storage.JobRef) (err error) {
	defer s.observe("JobComplete", time.Now(), &err)
	return s.next.JobComplete(ctx, ref)
}

// JobCompleteMany calls the wrapped store's JobCompleteMany and records it.
func (s *store) JobCompleteMany(ctx context.Context, refs []storage.JobRef) (_ []int64, err error) {
	defer s.observe("JobCompleteMany", time.Now(), &err)
	return s.next.JobCompleteMany(ctx, refs)
}

// JobFail calls the wrapped store's JobFail and records it.
func (s *store) JobFail(ctx context.Context, p *storage.JobFailParams) (_ *storage.Job, err error) {
	defer s.observe("JobFail", time.Now(), &err)
	return s.next.JobFail(ctx, p)
}

// JobFailMany calls the wrapped store's JobFailMany and records it.
func (s *store) JobFailMany(ctx context.Context, ps []*storage.JobFailParams) (_ []int64, err error) {
	defer s.observe("JobFailMany", time.Now(), &err)
	return s.next.JobFailMany(ctx, ps)
}

// JobExtendLease calls the wrapped store's JobExtendLease and records it.
func (s *store) JobExtendLease(ctx context.Context, refs []storage.JobRef, lease time.Duration) (_ []storage.JobLease, err error) {
	defer s.observe("JobExtendLease", time.Now(), &err)
	return s.next.JobExtendLease(ctx, refs, lease)
}

// JobRelease calls the wrapped store's JobRelease and records it.
func (s *store) JobRelease(ctx context.Context, refs []storage.JobRef) (_ []int64, err error) {
	defer s.observe("JobRelease", time.Now(), &err)
	return s.next.JobRelease(ctx, refs)
}

// JobRescue calls the wrapped store's JobRescue and records it.
func (s *store) JobRescue(ctx context.Context, limit int) (_ int64, err error) {
	defer s.observe("JobRescue", time.Now(), &err)
	return s.next.JobRescue(ctx, limit)
}

// JobCancel calls the wrapped store's JobCancel and records it.
func (s *store) JobCancel(ctx context.Context, id int64) (_ *storage.Job, err error) {
	defer s.observe("JobCancel", time.Now(), &err)
	return s.next.JobCancel(ctx, id)
}

// JobGet calls the wrapped store's JobGet and records it.
func (s *store) JobGet(ctx context.Context, id int64) (_ *storage.Job, err error) {
	defer s.observe("JobGet", time.Now(), &err)
	return s.next.JobGet(ctx, id)
}

// JobGetByUniqueKey calls the wrapped store's JobGetByUniqueKey and records it.
func (s *store) JobGetByUniqueKey(ctx context.Context, key string) (_ *storage.Job, err error) {
	defer s.observe("JobGetByUniqueKey", time.Now(), &err)
	return s.next.JobGetByUniqueKey(ctx, key)
}

// JobIDsByUniqueKeys calls the wrapped store's JobIDsByUniqueKeys and records it.
func (s *store) JobIDsByUniqueKeys(ctx context.Context, keys []string) (_ map[string]int64, err error) {
	defer s.observe("JobIDsByUniqueKeys", time.Now(), &err)
	return s.next.JobIDsByUniqueKeys(ctx, keys)
}

// JobList calls the wrapped store's JobList and records it.
func (s *store) JobList(ctx context.Context, p *storage.JobListParams) (_ *storage.JobPage, err error) {
	defer s.observe("JobList", time.Now(), &err)
	return s.next.JobList(ctx, p)
}

// JobStats calls the wrapped store's JobStats and records it.
func (s *store) JobStats(ctx context.Context) (_ []*storage.JobQueueStats, err error) {
	defer s.observe("JobStats", time.Now(), &err)
	return s.next.JobStats(ctx)
}

// JobPrune calls the wrapped store's JobPrune and records it.
func (s *store) JobPrune(ctx context.Context, retention time.Duration, limit int) (_ int64, err error) {
	defer s.observe("JobPrune", time.Now(), &err)
	return s.next.JobPrune(ctx, retention, limit)
}

// JobVacuum calls the wrapped store's JobVacuum and records it.
func (s *store) JobVacuum(ctx context.Context) (err error) {
	defer s.observe("JobVacuum", time.Now(), &err)
	return s.next.JobVacuum(ctx)
}

// EnvironmentCreate calls the wrapped store's EnvironmentCreate and records it.
func (s *store) EnvironmentCreate(ctx context.Context, p *storage.EnvironmentCreateParams) (_ *storage.Environment, err error) {
	defer s.observe("EnvironmentCreate", time.Now(), &err)
	return s.next.EnvironmentCreate(ctx, p)
}

// EnvironmentGetByName calls the wrapped store's EnvironmentGetByName and records it.
func (s *store) EnvironmentGetByName(ctx context.Context, name string) (_ *storage.Environment, err error) {
	defer s.observe("EnvironmentGetByName", time.Now(), &err)
	return s.next.EnvironmentGetByName(ctx, name)
}

// EnvironmentUpdate calls the wrapped store's EnvironmentUpdate and records it.
func (s *store) EnvironmentUpdate(ctx context.Context, p *storage.EnvironmentUpdateParams) (_ *storage.Environment, err error) {
	defer s.observe("EnvironmentUpdate", time.Now(), &err)
	return s.next.EnvironmentUpdate(ctx, p)
}

// EnvironmentDelete calls the wrapped store's EnvironmentDelete and records it.
func (s *store) EnvironmentDelete(ctx context.Context, name string) (err error) {
	defer s.observe("EnvironmentDelete", time.Now(), &err)
	return s.next.EnvironmentDelete(ctx, name)
}

// EnvironmentList calls the wrapped store's EnvironmentList and records it.
func (s *store) EnvironmentList(ctx context.Context, p *storage.EnvironmentListParams) (_ *storage.EnvironmentPage, err error) {
	defer s.observe("EnvironmentList", time.Now(), &err)
	return s.next.EnvironmentList(ctx, p)
}

// SecretPut calls the wrapped store's SecretPut and records it.
func (s *store) SecretPut(ctx context.Context, p *storage.SecretPutParams) (_ *storage.Secret, _ bool, err error) {
	defer s.observe("SecretPut", time.Now(), &err)
	return s.next.SecretPut(ctx, p)
}

// SecretGet calls the wrapped store's SecretGet and records it.
func (s *store) SecretGet(ctx context.Context, name string) (_ *storage.Secret, err error) {
	defer s.observe("SecretGet", time.Now(), &err)
	return s.next.SecretGet(ctx, name)
}

// SecretList calls the wrapped store's SecretList and records it.
func (s *store) SecretList(ctx context.Context) (_ []*storage.Secret, err error) {
	defer s.observe("SecretList", time.Now(), &err)
	return s.next.SecretList(ctx)
}

// SecretDelete calls the wrapped store's SecretDelete and records it.
func (s *store) SecretDelete(ctx context.Context, name string) (err error) {
	defer s.observe("SecretDelete", time.Now(), &err)
	return s.next.SecretDelete(ctx, name)
}

// SecretKeyCheckGet calls the wrapped store's SecretKeyCheckGet and records it.
func (s *store) SecretKeyCheckGet(ctx context.Context) (_ *storage.SecretKeyCheck, err error) {
	defer s.observe("SecretKeyCheckGet", time.Now(), &err)
	return s.next.SecretKeyCheckGet(ctx)
}

// SecretKeyCheckSet calls the wrapped store's SecretKeyCheckSet and records it.
func (s *store) SecretKeyCheckSet(ctx context.Context, ciphertext, nonce []byte) (err error) {
	defer s.observe("SecretKeyCheckSet", time.Now(), &err)
	return s.next.SecretKeyCheckSet(ctx, ciphertext, nonce)
}

// SecretKeyCheckCreate calls the wrapped store's SecretKeyCheckCreate and records it.
func (s *store) SecretKeyCheckCreate(ctx context.Context, ciphertext, nonce []byte) (_ bool, err error) {
	defer s.observe("SecretKeyCheckCreate", time.Now(), &err)
	return s.next.SecretKeyCheckCreate(ctx, ciphertext, nonce)
}

// SecretKeyCheckGetForUpdate calls the wrapped store's SecretKeyCheckGetForUpdate and records it.
func (s *store) SecretKeyCheckGetForUpdate(ctx context.Context) (_ *storage.SecretKeyCheck, err error) {
	defer s.observe("SecretKeyCheckGetForUpdate", time.Now(), &err)
	return s.next.SecretKeyCheckGetForUpdate(ctx)
}

// SecretKeyCheckGetForShare calls the wrapped store's SecretKeyCheckGetForShare and records it.
func (s *store) SecretKeyCheckGetForShare(ctx context.Context) (_ *storage.SecretKeyCheck, err error) {
	defer s.observe("SecretKeyCheckGetForShare", time.Now(), &err)
	return s.next.SecretKeyCheckGetForShare(ctx)
}

// ScheduleCreate calls the wrapped store's ScheduleCreate and records it.
func (s *store) ScheduleCreate(ctx context.Context, p *storage.ScheduleCreateParams) (_ *storage.Schedule, err error) {
	defer s.observe("ScheduleCreate", time.Now(), &err)
	return s.next.ScheduleCreate(ctx, p)
}

// ScheduleGetByID calls the wrapped store's ScheduleGetByID and records it.
func (s *store) ScheduleGetByID(ctx context.Context, id uuid.UUID) (_ *storage.Schedule, err error) {
	defer s.observe("ScheduleGetByID", time.Now(), &err)
	return s.next.ScheduleGetByID(ctx, id)
}

// ScheduleUpdate calls the wrapped store's ScheduleUpdate and records it.
func (s *store) ScheduleUpdate(ctx context.Context, p *storage.ScheduleUpdateParams) (_ *storage.Schedule, err error) {
	defer s.observe("ScheduleUpdate", time.Now(), &err)
	return s.next.ScheduleUpdate(ctx, p)
}

// ScheduleSetPaused calls the wrapped store's ScheduleSetPaused and records it.
func (s *store) ScheduleSetPaused(ctx context.Context, p *storage.ScheduleSetPausedParams) (_ *storage.Schedule, err error) {
	defer s.observe("ScheduleSetPaused", time.Now(), &err)
	return s.next.ScheduleSetPaused(ctx, p)
}

// ScheduleDelete calls the wrapped store's ScheduleDelete and records it.
func (s *store) ScheduleDelete(ctx context.Context, id uuid.UUID) (err error) {
	defer s.observe("ScheduleDelete", time.Now(), &err)
	return s.next.ScheduleDelete(ctx, id)
}

// ScheduleList calls the wrapped store's ScheduleList and records it.
func (s *store) ScheduleList(ctx context.Context, p *storage.ScheduleListParams) (_ *storage.SchedulePage, err error) {
	defer s.observe("ScheduleList", time.Now(), &err)
	return s.next.ScheduleList(ctx, p)
}

// ScheduleClaimDue calls the wrapped store's ScheduleClaimDue and records it.
func (s *store) ScheduleClaimDue(ctx context.Context, now time.Time, limit int) (_ []*storage.DueSchedule, err error) {
	defer s.observe("ScheduleClaimDue", time.Now(), &err)
	return s.next.ScheduleClaimDue(ctx, now, limit)
}

// ScheduleAdvance calls the wrapped store's ScheduleAdvance and records it.
func (s *store) ScheduleAdvance(ctx context.Context, ps []*storage.ScheduleAdvanceParams) (err error) {
	defer s.observe("ScheduleAdvance", time.Now(), &err)
	return s.next.ScheduleAdvance(ctx, ps)
}

// ScheduleNextDue calls the wrapped store's ScheduleNextDue and records it.
func (s *store) ScheduleNextDue(ctx context.Context) (_ time.Time, err error) {
	defer s.observe("ScheduleNextDue", time.Now(), &err)
	return s.next.ScheduleNextDue(ctx)
}

// ScheduleCountByEnvironment calls the wrapped store's ScheduleCountByEnvironment and records it.
func (s *store) ScheduleCountByEnvironment(ctx context.Context, name string) (_ int, err error) {
	defer s.observe("ScheduleCountByEnvironment", time.Now(), &err)
	return s.next.ScheduleCountByEnvironment(ctx, name)
}

// ChannelCreate calls the wrapped store's ChannelCreate and records it.
func (s *store) ChannelCreate(ctx context.Context, p *storage.ChannelCreateParams) (_ *storage.Channel, err error) {
	defer s.observe("ChannelCreate", time.Now(), &err)
	return s.next.ChannelCreate(ctx, p)
}

// ChannelGetByID calls the wrapped store's ChannelGetByID and records it.
func (s *store) ChannelGetByID(ctx context.Context, id uuid.UUID) (_ *storage.Channel, err error) {
	defer s.observe("ChannelGetByID", time.Now(), &err)
	return s.next.ChannelGetByID(ctx, id)
}

// ChannelUpdate calls the wrapped store's ChannelUpdate and records it.
func (s *store) ChannelUpdate(ctx context.Context, p *storage.ChannelUpdateParams) (_ *storage.Channel, err error) {
	defer s.observe("ChannelUpdate", time.Now(), &err)
	return s.next.ChannelUpdate(ctx, p)
}

// ChannelDelete calls the wrapped store's ChannelDelete and records it.
func (s *store) ChannelDelete(ctx context.Context, id uuid.UUID) (err error) {
	defer s.observe("ChannelDelete", time.Now(), &err)
	return s.next.ChannelDelete(ctx, id)
}

// ChannelList calls the wrapped store's ChannelList and records it.
func (s *store) ChannelList(ctx context.Context, p *storage.ChannelListParams) (_ *storage.ChannelPage, err error) {
	defer s.observe("ChannelList", time.Now(), &err)
	return s.next.ChannelList(ctx, p)
}

// AlertRuleCreate calls the wrapped store's AlertRuleCreate and records it.
func (s *store) AlertRuleCreate(ctx context.Context, p *storage.AlertRuleCreateParams) (_ *storage.AlertRule, err error) {
	defer s.observe("AlertRuleCreate", time.Now(), &err)
	return s.next.AlertRuleCreate(ctx, p)
}

// AlertRuleGetByID calls the wrapped store's AlertRuleGetByID and records it.
func (s *store) AlertRuleGetByID(ctx context.Context, id uuid.UUID) (_ *storage.AlertRule, err error) {
	defer s.observe("AlertRuleGetByID", time.Now(), &err)
	return s.next.AlertRuleGetByID(ctx, id)
}

// AlertRuleUpdate calls the wrapped store's AlertRuleUpdate and records it.
func (s *store) AlertRuleUpdate(ctx context.Context, p *storage.AlertRuleUpdateParams) (_ *storage.AlertRule, err error) {
	defer s.observe("AlertRuleUpdate", time.Now(), &err)
	return s.next.AlertRuleUpdate(ctx, p)
}

// AlertRuleDelete calls the wrapped store's AlertRuleDelete and records it.
func (s *store) AlertRuleDelete(ctx context.Context, id uuid.UUID) (err error) {
	defer s.observe("AlertRuleDelete", time.Now(), &err)
	return s.next.AlertRuleDelete(ctx, id)
}

// AlertRuleList calls the wrapped store's AlertRuleList and records it.
func (s *store) AlertRuleList(ctx context.Context, p *storage.AlertRuleListParams) (_ *storage.AlertRulePage, err error) {
	defer s.observe("AlertRuleList", time.Now(), &err)
	return s.next.AlertRuleList(ctx, p)
}

// AlertRulesFor calls the wrapped store's AlertRulesFor and records it.
func (s *store) AlertRulesFor(ctx context.Context, planID, scheduleID uuid.UUID) (_ []*storage.AlertRule, err error) {
	defer s.observe("AlertRulesFor", time.Now(), &err)
	return s.next.AlertRulesFor(ctx, planID, scheduleID)
}

// AlertStateLock calls the wrapped store's AlertStateLock and records it.
func (s *store) AlertStateLock(ctx context.Context, ruleID, planID uuid.UUID) (_ *storage.AlertState, err error) {
	defer s.observe("AlertStateLock", time.Now(), &err)
	return s.next.AlertStateLock(ctx, ruleID, planID)
}

// AlertStatePut calls the wrapped store's AlertStatePut and records it.
func (s *store) AlertStatePut(ctx context.Context, state *storage.AlertState) (err error) {
	defer s.observe("AlertStatePut", time.Now(), &err)
	return s.next.AlertStatePut(ctx, state)
}

// AlertDeliveryRecord calls the wrapped store's AlertDeliveryRecord and records it.
func (s *store) AlertDeliveryRecord(ctx context.Context, p *storage.AlertDeliveryRecordParams) (_ *storage.AlertDelivery, err error) {
	defer s.observe("AlertDeliveryRecord", time.Now(), &err)
	return s.next.AlertDeliveryRecord(ctx, p)
}

// AlertDeliveryList calls the wrapped store's AlertDeliveryList and records it.
func (s *store) AlertDeliveryList(ctx context.Context, p *storage.AlertDeliveryListParams) (_ *storage.AlertDeliveryPage, err error) {
	defer s.observe("AlertDeliveryList", time.Now(), &err)
	return s.next.AlertDeliveryList(ctx, p)
}

// AlertDeliveryPrune calls the wrapped store's AlertDeliveryPrune and records it.
func (s *store) AlertDeliveryPrune(ctx context.Context, before time.Time, limit int) (_ int64, err error) {
	defer s.observe("AlertDeliveryPrune", time.Now(), &err)
	return s.next.AlertDeliveryPrune(ctx, before, limit)
}

// Ping calls the wrapped store's Ping and records it.
func (s *store) Ping(ctx context.Context) (err error) {
	defer s.observe("Ping", time.Now(), &err)
	return s.next.Ping(ctx)
}

// Close calls the wrapped store's Close and records it.
func (s *store) Close() (err error) {
	defer s.observe("Close", time.Now(), &err)
	return s.next.Close()
}

// PlanStats calls the wrapped store's PlanStats and records it.
func (s *store) PlanStats(ctx context.Context, p *storage.PlanStatsParams) (_ *storage.PlanStats, err error) {
	defer s.observe("PlanStats", time.Now(), &err)
	return s.next.PlanStats(ctx, p)
}

// GlobalStats calls the wrapped store's GlobalStats and records it.
func (s *store) GlobalStats(ctx context.Context, p *storage.GlobalStatsParams) (_ *storage.GlobalStats, err error) {
	defer s.observe("GlobalStats", time.Now(), &err)
	return s.next.GlobalStats(ctx, p)
}

// Overview calls the wrapped store's Overview and records it.
func (s *store) Overview(ctx context.Context, p *storage.OverviewParams) (_ *storage.Overview, err error) {
	defer s.observe("Overview", time.Now(), &err)
	return s.next.Overview(ctx, p)
}

// ExecutionPickup calls the wrapped store's ExecutionPickup and records it.
func (s *store) ExecutionPickup(ctx context.Context) (_ []*storage.QueuePickup, err error) {
	defer s.observe("ExecutionPickup", time.Now(), &err)
	return s.next.ExecutionPickup(ctx)
}
