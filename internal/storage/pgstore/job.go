package pgstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// JobEnqueue adds a job. See storage.JobStore.
func (s *Store) JobEnqueue(ctx context.Context, p *storage.JobEnqueueParams) (*storage.Job, error) {
	e := p.WithDefaults()
	arg := &postgres.JobEnqueueParams{
		Queue:       e.Queue,
		Kind:        e.Kind,
		Payload:     e.Payload,
		Priority:    int32(e.Priority),
		MaxAttempts: int32(e.MaxAttempts),
	}
	if !e.RunAt.IsZero() {
		arg.RunAt = &e.RunAt
	}
	if e.UniqueKey != "" {
		arg.UniqueKey = &e.UniqueKey
	}
	if e.TraceContext != "" {
		arg.TraceContext = &e.TraceContext
	}
	// The insert skips a key held by a live job, and the lookup then finds
	// that job. If the holder finishes between the two, the key is free
	// again, so insert once more.
	for range 3 {
		row, err := s.q.JobEnqueue(ctx, s.db, arg)
		if err == nil {
			return jobFromRow(row), nil
		}
		if err = interpretError(err); !storage.IsNotFound(err) || e.UniqueKey == "" {
			return nil, fmt.Errorf("enqueue %s job: %w", e.Kind, err)
		}
		row, err = s.q.JobGetLiveByUniqueKey(ctx, s.db, &e.UniqueKey)
		if err == nil {
			return jobFromRow(row), nil
		}
		if err = interpretError(err); !storage.IsNotFound(err) {
			return nil, fmt.Errorf("enqueue %s job: get job holding its unique key: %w", e.Kind, err)
		}
	}
	return nil, fmt.Errorf("enqueue %s job: unique key %q kept changing hands: %w", e.Kind, e.UniqueKey, storage.ErrConflict)
}

// JobEnqueueMany adds many jobs with one statement. See storage.JobStore.
func (s *Store) JobEnqueueMany(ctx context.Context, ps []*storage.JobEnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	arg := &postgres.JobEnqueueManyParams{
		Queues:        make([]string, len(ps)),
		Kinds:         make([]string, len(ps)),
		Payloads:      make([][]byte, len(ps)),
		Priorities:    make([]int32, len(ps)),
		RunAts:        make([]time.Time, len(ps)),
		MaxAttempts:   make([]int32, len(ps)),
		UniqueKeys:    make([]string, len(ps)),
		TraceContexts: make([]string, len(ps)),
	}
	for i, p := range ps {
		e := p.WithDefaults()
		arg.Queues[i] = e.Queue
		arg.Kinds[i] = e.Kind
		arg.Payloads[i] = e.Payload
		arg.Priorities[i] = int32(e.Priority)
		arg.RunAts[i] = e.RunAt // The zero time means now, in the query.
		arg.MaxAttempts[i] = int32(e.MaxAttempts)
		arg.UniqueKeys[i] = e.UniqueKey
		arg.TraceContexts[i] = e.TraceContext // Empty means NULL, in the query.
	}
	ids, err := s.q.JobEnqueueMany(ctx, s.db, arg)
	if err != nil {
		return nil, fmt.Errorf("enqueue %d jobs: %w", len(ps), interpretError(err))
	}
	// The statement takes IDs from the sequence row by row, in the order of
	// ps; RETURNING promises no order.
	slices.Sort(ids)
	return ids, nil
}

// JobClaim claims due jobs with FOR UPDATE SKIP LOCKED. See storage.JobStore.
func (s *Store) JobClaim(ctx context.Context, p *storage.JobClaimParams) ([]*storage.Job, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	rows, err := s.q.JobClaim(ctx, s.queue, &postgres.JobClaimParams{
		Queue:        p.Queue,
		Worker:       p.Worker,
		Token:        newToken(),
		LeaseSeconds: p.Lease.Seconds(),
		MaxRows:      int32(p.Limit),
	})
	if err != nil {
		return nil, fmt.Errorf("claim jobs of queue %q: %w", p.Queue, interpretError(err))
	}
	jobs := make([]*storage.Job, len(rows))
	for i, r := range rows {
		jobs[i] = jobFromRow(r)
	}
	return jobs, nil
}

// newToken returns a fresh, positive fencing token.
func newToken() int64 { return rand.Int64N(1<<62) + 1 }

// JobComplete completes one held job. See storage.JobStore.
func (s *Store) JobComplete(ctx context.Context, ref storage.JobRef) error {
	ids, err := s.JobCompleteMany(ctx, []storage.JobRef{ref})
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("complete job %d: %w", ref.ID, s.lostOrMissing(ctx, ref.ID))
	}
	return nil
}

// lostOrMissing tells apart a job whose lease was lost from one that does
// not exist.
func (s *Store) lostOrMissing(ctx context.Context, id int64) error {
	if _, err := s.q.JobGet(ctx, s.db, id); err != nil {
		return interpretError(err)
	}
	return storage.ErrLeaseLost
}

// JobCompleteMany completes held jobs with one statement. See
// storage.JobStore.
func (s *Store) JobCompleteMany(ctx context.Context, refs []storage.JobRef) ([]int64, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	done, err := s.q.JobCompleteMany(ctx, s.queue, &postgres.JobCompleteManyParams{Ids: ids, Tokens: tokens})
	if err != nil {
		return nil, fmt.Errorf("complete %d jobs: %w", len(refs), interpretError(err))
	}
	return done, nil
}

func splitRefs(refs []storage.JobRef) (ids, tokens []int64) {
	ids = make([]int64, len(refs))
	tokens = make([]int64, len(refs))
	for i, r := range refs {
		ids[i], tokens[i] = r.ID, r.Token
	}
	return ids, tokens
}

// JobFail records a failed attempt. See storage.JobStore.
func (s *Store) JobFail(ctx context.Context, p *storage.JobFailParams) (*storage.Job, error) {
	rows, err := s.jobFailMany(ctx, []*storage.JobFailParams{p})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("fail job %d: %w", p.ID, s.lostOrMissing(ctx, p.ID))
	}
	return jobFromRow(rows[0]), nil
}

// JobFailMany records failed attempts with one statement. See
// storage.JobStore.
func (s *Store) JobFailMany(ctx context.Context, ps []*storage.JobFailParams) ([]int64, error) {
	rows, err := s.jobFailMany(ctx, ps)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	return ids, nil
}

func (s *Store) jobFailMany(ctx context.Context, ps []*storage.JobFailParams) ([]*postgres.Job, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	arg := &postgres.JobFailManyParams{
		Ids:          make([]int64, len(ps)),
		Tokens:       make([]int64, len(ps)),
		Errors:       make([]string, len(ps)),
		Retries:      make([]bool, len(ps)),
		DelaySeconds: make([]float64, len(ps)),
	}
	for i, p := range ps {
		arg.Ids[i] = p.ID
		arg.Tokens[i] = p.Token
		arg.Errors[i] = p.Error
		arg.Retries[i] = p.Retry
		arg.DelaySeconds[i] = max(p.RetryAfter, 0).Seconds()
	}
	rows, err := s.q.JobFailMany(ctx, s.queue, arg)
	if err != nil {
		return nil, fmt.Errorf("fail %d jobs: %w", len(ps), interpretError(err))
	}
	return rows, nil
}

// JobExtendLease extends held leases. See storage.JobStore.
func (s *Store) JobExtendLease(ctx context.Context, refs []storage.JobRef, lease time.Duration) ([]storage.JobLease, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	rows, err := s.q.JobExtendLease(ctx, s.queue, &postgres.JobExtendLeaseParams{
		Ids: ids, Tokens: tokens, LeaseSeconds: lease.Seconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("extend %d leases: %w", len(refs), interpretError(err))
	}
	out := make([]storage.JobLease, len(rows))
	for i, r := range rows {
		out[i] = storage.JobLease{ID: r.ID, CancelRequested: r.CancelRequested}
	}
	return out, nil
}

// JobRelease gives held jobs back, uncounted. See storage.JobStore.
func (s *Store) JobRelease(ctx context.Context, refs []storage.JobRef) ([]int64, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, tokens := splitRefs(refs)
	done, err := s.q.JobRelease(ctx, s.queue, &postgres.JobReleaseParams{Ids: ids, Tokens: tokens})
	if err != nil {
		return nil, fmt.Errorf("release %d jobs: %w", len(refs), interpretError(err))
	}
	return done, nil
}

// JobRescue takes back jobs whose lease expired. See storage.JobStore.
func (s *Store) JobRescue(ctx context.Context, limit int) (int64, error) {
	n, err := s.q.JobRescue(ctx, s.queue, int32(max(limit, 1)))
	if err != nil {
		return 0, fmt.Errorf("rescue jobs: %w", interpretError(err))
	}
	return n, nil
}

// JobCancel cancels a job. See storage.JobStore.
func (s *Store) JobCancel(ctx context.Context, id int64) (*storage.Job, error) {
	row, err := s.q.JobCancel(ctx, s.db, id)
	if err != nil {
		err = interpretError(err)
		if storage.IsNotFound(err) {
			if cur, gerr := s.q.JobGet(ctx, s.db, id); gerr == nil {
				err = fmt.Errorf("%w: job is %s", storage.ErrConflict, cur.State)
			}
		}
		return nil, fmt.Errorf("cancel job %d: %w", id, err)
	}
	return jobFromRow(row), nil
}

// JobGet returns one job. See storage.JobStore.
func (s *Store) JobGet(ctx context.Context, id int64) (*storage.Job, error) {
	row, err := s.q.JobGet(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", id, interpretError(err))
	}
	return jobFromRow(row), nil
}

// JobList returns one page of jobs. See storage.JobStore.
func (s *Store) JobList(ctx context.Context, p *storage.JobListParams) (*storage.JobPage, error) {
	before, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	rows, err := s.q.JobList(ctx, s.db, &postgres.JobListParams{
		BeforeID: before,
		Queue:    optional(p.Queue),
		State:    optional(string(p.State)),
		Kind:     optional(p.Kind),
		MaxRows:  int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	page := &storage.JobPage{}
	page.Jobs, page.NextCursor = storage.PageOf(rows, limit, jobFromRow,
		func(r *postgres.Job) storage.Cursor { return storage.Cursor{List: storage.ListJobs, Seq: r.ID} })
	return page, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// JobStats counts jobs by queue and state. See storage.JobStore.
func (s *Store) JobStats(ctx context.Context) ([]*storage.JobQueueStats, error) {
	rows, err := s.q.JobStats(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", interpretError(err))
	}
	var out []*storage.JobQueueStats
	for _, r := range rows {
		out = storage.AddJobCount(out, r.Queue, storage.JobState(r.State), r.Jobs,
			time.Duration(r.OldestDueSeconds*float64(time.Second)))
	}
	return out, nil
}

// JobPrune deletes old final jobs. See storage.JobStore.
func (s *Store) JobPrune(ctx context.Context, retention time.Duration, limit int) (int64, error) {
	n, err := s.q.JobPrune(ctx, s.db, &postgres.JobPruneParams{
		RetentionSeconds: retention.Seconds(),
		MaxRows:          int32(max(limit, 1)),
	})
	if err != nil {
		return 0, fmt.Errorf("prune jobs: %w", interpretError(err))
	}
	return n, nil
}

func jobFromRow(r *postgres.Job) *storage.Job {
	j := &storage.Job{
		ID:              r.ID,
		Queue:           r.Queue,
		Kind:            r.Kind,
		Payload:         json.RawMessage(r.Payload),
		Priority:        int(r.Priority),
		RunAt:           r.RunAt,
		State:           storage.JobState(r.State),
		Attempt:         int(r.Attempt),
		MaxAttempts:     int(r.MaxAttempts),
		LastError:       r.LastError,
		Errors:          storage.UnmarshalJobErrors(r.Errors),
		LeaseOwner:      r.LeaseOwner,
		LeaseToken:      r.LeaseToken,
		LeaseExpiresAt:  r.LeaseExpiresAt,
		CancelRequested: r.CancelRequested,
		CreatedAt:       r.CreatedAt,
		FinishedAt:      r.FinishedAt,
	}
	if r.UniqueKey != nil {
		j.UniqueKey = *r.UniqueKey
	}
	if r.TraceContext != nil {
		j.TraceContext = *r.TraceContext
	}
	return j
}

// JobGetByUniqueKey returns the newest job with that key. See
// storage.JobStore.
func (s *Store) JobGetByUniqueKey(ctx context.Context, key string) (*storage.Job, error) {
	row, err := s.q.JobGetByUniqueKey(ctx, s.db, &key)
	if err != nil {
		return nil, fmt.Errorf("get job by unique key %q: %w", key, interpretError(err))
	}
	return jobFromRow(row), nil
}

// JobIDsByUniqueKeys returns the newest job ID of each key. See
// storage.JobStore.
func (s *Store) JobIDsByUniqueKeys(ctx context.Context, keys []string) (map[string]int64, error) {
	ids := make(map[string]int64, len(keys))
	if len(keys) == 0 {
		return ids, nil
	}
	rows, err := s.q.JobIDsByUniqueKeys(ctx, s.db, keys)
	if err != nil {
		return nil, fmt.Errorf("get job ids of %d unique keys: %w", len(keys), interpretError(err))
	}
	for _, r := range rows {
		if r.UniqueKey != nil {
			ids[*r.UniqueKey] = r.ID
		}
	}
	return ids, nil
}

// JobVacuum vacuums the jobs table, skipping it if another session holds
// a conflicting lock. Inside InTx it does nothing, since Postgres cannot
// vacuum in a transaction. See storage.JobStore.
func (s *Store) JobVacuum(ctx context.Context) error {
	if s.inTx {
		return nil
	}
	if err := s.q.JobVacuum(ctx, s.pool); err != nil {
		return fmt.Errorf("vacuum jobs: %w", interpretError(err))
	}
	return nil
}
