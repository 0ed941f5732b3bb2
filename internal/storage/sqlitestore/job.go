package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// JobEnqueue adds a job, or returns the live job holding its unique key.
// See storage.JobStore.
func (s *Store) JobEnqueue(ctx context.Context, p *storage.JobEnqueueParams) (*storage.Job, error) {
	var job *storage.Job
	err := s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		job, err = tx.jobEnqueue(ctx, p)
		return err
	})
	return job, err
}

func (s *Store) jobEnqueue(ctx context.Context, p *storage.JobEnqueueParams) (*storage.Job, error) {
	e := p.WithDefaults()
	if err := checkJobNoNUL(&e); err != nil {
		return nil, fmt.Errorf("enqueue %s job: %w", e.Kind, err)
	}
	t := now()
	row, err := s.q.JobEnqueue(ctx, s.db, &sqlite.JobEnqueueParams{
		Queue:        e.Queue,
		Kind:         e.Kind,
		Payload:      string(e.Payload),
		Priority:     int64(e.Priority),
		RunAt:        runAtMicros(e, t),
		MaxAttempts:  int64(e.MaxAttempts),
		UniqueKey:    nullString(e.UniqueKey),
		Now:          t,
		TraceContext: nullString(e.TraceContext),
	})
	if err == nil {
		return jobFromRow(row), nil
	}
	err = interpretError(err)
	if !storage.IsNotFound(err) || e.UniqueKey == "" {
		return nil, fmt.Errorf("enqueue %s job: %w", e.Kind, err)
	}
	// The unique key is held by a live job: return that one.
	row, err = s.q.JobGetLiveByUniqueKey(ctx, s.db, nullString(e.UniqueKey))
	if err != nil {
		return nil, fmt.Errorf("enqueue %s job: get job holding its unique key: %w", e.Kind, interpretError(err))
	}
	return jobFromRow(row), nil
}

// runAtMicros is when e is due, as stored: its RunAt, or now (t) if unset.
func runAtMicros(e storage.JobEnqueueParams, t int64) int64 {
	if e.RunAt.IsZero() {
		return t
	}
	return e.RunAt.UnixMicro()
}

// JobEnqueueMany adds many jobs, with one statement per chunk of
// enqueueChunk jobs. See storage.JobStore.
func (s *Store) JobEnqueueMany(ctx context.Context, ps []*storage.JobEnqueueParams) ([]int64, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	ids := make([]int64, 0, len(ps))
	err := s.inWriteTx(ctx, func(tx *Store) error {
		t := now()
		for chunk := range slices.Chunk(ps, enqueueChunk) {
			batch, err := enqueueBatch(chunk, t)
			if err != nil {
				return err
			}
			got, err := tx.q.JobEnqueueMany(ctx, tx.db, &sqlite.JobEnqueueManyParams{Jobs: batch, Now: t})
			if err != nil {
				return interpretError(err)
			}
			ids = append(ids, got...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("enqueue %d jobs: %w", len(ps), err)
	}
	// RETURNING gives no order; IDs grow with insertion order.
	slices.Sort(ids)
	return ids, nil
}

// enqueueChunk is the most jobs one JobEnqueueMany statement takes.
const enqueueChunk = 5000

// enqueueBatch encodes jobs as the JSON array JobEnqueueMany reads: one
// [queue, kind, payload, priority, run_at, max_attempts, unique_key,
// trace_context] array per job. The payload travels as a JSON string, so it is stored as given
// (JSON text is UTF-8; an invalid byte would become U+FFFD).
func enqueueBatch(ps []*storage.JobEnqueueParams, t int64) (string, error) {
	rows := make([][8]any, len(ps))
	for i, p := range ps {
		e := p.WithDefaults()
		if err := checkJobNoNUL(&e); err != nil {
			return "", fmt.Errorf("job %d: %w", i, err)
		}
		var key, traceContext any
		if e.UniqueKey != "" {
			key = e.UniqueKey
		}
		if e.TraceContext != "" {
			traceContext = e.TraceContext
		}
		rows[i] = [8]any{e.Queue, e.Kind, string(e.Payload), e.Priority, runAtMicros(e, t), e.MaxAttempts, key, traceContext}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return "", fmt.Errorf("encode jobs: %w", err)
	}
	return string(b), nil
}

// checkJobNoNUL refuses NUL in a job's fields, as Postgres does.
func checkJobNoNUL(e *storage.JobEnqueueParams) error {
	return errors.Join(
		checkNoNUL("queue", e.Queue),
		checkNoNUL("kind", e.Kind),
		checkNoNUL("unique key", e.UniqueKey),
		checkNoNUL("trace context", e.TraceContext),
		checkJSONNoNUL("payload", e.Payload),
	)
}

// JobClaim claims due jobs with one UPDATE … RETURNING in an IMMEDIATE
// transaction. See storage.JobStore.
func (s *Store) JobClaim(ctx context.Context, p *storage.JobClaimParams) ([]*storage.Job, error) {
	if p.Limit <= 0 {
		return nil, nil
	}
	t := now()
	rows, err := s.q.JobClaim(ctx, s.db, &sqlite.JobClaimParams{
		Queue:          p.Queue,
		Worker:         p.Worker,
		Token:          rand.Int64N(1<<62) + 1,
		LeaseExpiresAt: sql.NullInt64{Int64: t + p.Lease.Microseconds(), Valid: true},
		Now:            t,
		MaxRows:        int64(p.Limit),
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

// JobComplete completes one held job. See storage.JobStore.
func (s *Store) JobComplete(ctx context.Context, ref storage.JobRef) error {
	_, err := s.q.JobComplete(ctx, s.db, &sqlite.JobCompleteParams{
		ID: ref.ID, Token: ref.Token, Now: sql.NullInt64{Int64: now(), Valid: true},
	})
	if err != nil {
		return fmt.Errorf("complete job %d: %w", ref.ID, s.lostOrMissing(ctx, ref.ID, err))
	}
	return nil
}

// lostOrMissing maps a failed finishing statement: no row means the lease
// was lost, or that the job does not exist.
func (s *Store) lostOrMissing(ctx context.Context, id int64, err error) error {
	if !errors.Is(err, sql.ErrNoRows) {
		return interpretError(err)
	}
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
	ids, err := s.q.JobCompleteMany(ctx, s.db, &sqlite.JobCompleteManyParams{
		Refs: refsJSON(refs), Now: sql.NullInt64{Int64: now(), Valid: true},
	})
	if err != nil {
		return nil, fmt.Errorf("complete %d jobs: %w", len(refs), interpretError(err))
	}
	return ids, nil
}

// refsJSON encodes refs as the JSON array of [id, token] arrays that the
// batch statements read.
func refsJSON(refs []storage.JobRef) string {
	b := make([]byte, 0, 24*len(refs)+2)
	b = append(b, '[')
	for i, r := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		b = strconv.AppendInt(b, r.ID, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.Token, 10)
		b = append(b, ']')
	}
	return string(append(b, ']'))
}

// eachRef runs fn for each ref in one transaction and returns the IDs for
// which it matched a row.
func (s *Store) eachRef(ctx context.Context, verb string, refs []storage.JobRef,
	fn func(tx *Store, ref storage.JobRef, now int64) error) ([]int64, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	var done []int64
	err := s.inWriteTx(ctx, func(tx *Store) error {
		t := now()
		for _, ref := range refs {
			err := fn(tx, ref, t)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return interpretError(err)
			}
			done = append(done, ref.ID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s %d jobs: %w", verb, len(refs), err)
	}
	return done, nil
}

// JobFail records a failed attempt. See storage.JobStore.
func (s *Store) JobFail(ctx context.Context, p *storage.JobFailParams) (*storage.Job, error) {
	if err := checkNoNUL("error", p.Error); err != nil {
		return nil, fmt.Errorf("fail job %d: %w", p.ID, err)
	}
	row, err := s.q.JobFail(ctx, s.db, failParams(p, now()))
	if err != nil {
		return nil, fmt.Errorf("fail job %d: %w", p.ID, s.lostOrMissing(ctx, p.ID, err))
	}
	return jobFromRow(row), nil
}

func failParams(p *storage.JobFailParams, t int64) *sqlite.JobFailParams {
	return &sqlite.JobFailParams{
		ID:      p.ID,
		Token:   p.Token,
		Retry:   p.Retry,
		RetryAt: t + max(p.RetryAfter, 0).Microseconds(),
		Now:     sql.NullInt64{Int64: t, Valid: true},
		Error:   p.Error,
		ErrorAt: fromMicros(t).Format(time.RFC3339Nano),
	}
}

// JobFailMany records failed attempts in one transaction. See
// storage.JobStore.
func (s *Store) JobFailMany(ctx context.Context, ps []*storage.JobFailParams) ([]int64, error) {
	refs := make([]storage.JobRef, len(ps))
	byID := make(map[int64]*storage.JobFailParams, len(ps))
	for i, p := range ps {
		if err := checkNoNUL("error", p.Error); err != nil {
			return nil, fmt.Errorf("fail %d jobs: job %d: %w", len(ps), p.ID, err)
		}
		refs[i] = p.JobRef
		byID[p.ID] = p
	}
	return s.eachRef(ctx, "fail", refs, func(tx *Store, ref storage.JobRef, t int64) error {
		_, err := tx.q.JobFail(ctx, tx.db, failParams(byID[ref.ID], t))
		return err
	})
}

// JobExtendLease extends held leases with one statement. See
// storage.JobStore.
func (s *Store) JobExtendLease(ctx context.Context, refs []storage.JobRef, lease time.Duration) ([]storage.JobLease, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	rows, err := s.q.JobExtendLeaseMany(ctx, s.db, &sqlite.JobExtendLeaseManyParams{
		Refs: refsJSON(refs), LeaseExpiresAt: sql.NullInt64{Int64: now() + lease.Microseconds(), Valid: true},
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

// JobRelease gives held jobs back, uncounted, with one statement. See
// storage.JobStore.
func (s *Store) JobRelease(ctx context.Context, refs []storage.JobRef) ([]int64, error) {
	if len(refs) == 0 {
		return nil, nil
	}
	ids, err := s.q.JobReleaseMany(ctx, s.db, &sqlite.JobReleaseManyParams{Refs: refsJSON(refs), Now: now()})
	if err != nil {
		return nil, fmt.Errorf("release %d jobs: %w", len(refs), interpretError(err))
	}
	return ids, nil
}

// JobRescue takes back jobs whose lease expired. See storage.JobStore.
func (s *Store) JobRescue(ctx context.Context, limit int) (int64, error) {
	t := now()
	n, err := s.q.JobRescue(ctx, s.db, &sqlite.JobRescueParams{
		Now: t, ErrorAt: fromMicros(t).Format(time.RFC3339Nano), MaxRows: int64(max(limit, 1)),
	})
	if err != nil {
		return 0, fmt.Errorf("rescue jobs: %w", interpretError(err))
	}
	return n, nil
}

// JobCancel cancels a job. See storage.JobStore.
func (s *Store) JobCancel(ctx context.Context, id int64) (*storage.Job, error) {
	var row *sqlite.Job
	err := s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.JobCancel(ctx, tx.db, &sqlite.JobCancelParams{ID: id, Now: sql.NullInt64{Int64: now(), Valid: true}})
		err = interpretError(err)
		if storage.IsNotFound(err) {
			if cur, gerr := tx.q.JobGet(ctx, tx.db, id); gerr == nil {
				err = fmt.Errorf("%w: job is %s", storage.ErrConflict, cur.State)
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cancel job %d: %w", id, err)
	}
	return jobFromRow(row), nil
}

// JobGet returns one job. See storage.JobStore.
func (s *Store) JobGet(ctx context.Context, id int64) (*storage.Job, error) {
	row, err := s.q.JobGet(ctx, s.read, id)
	if err != nil {
		return nil, fmt.Errorf("get job %d: %w", id, interpretError(err))
	}
	return jobFromRow(row), nil
}

// JobList returns one page of jobs. See storage.JobStore.
func (s *Store) JobList(ctx context.Context, p *storage.JobListParams) (*storage.JobPage, error) {
	before, limit, err := p.Decode()
	if err == nil {
		err = errors.Join(checkNoNUL("queue", p.Queue), checkNoNUL("kind", p.Kind))
	}
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	rows, err := s.q.JobList(ctx, s.read, &sqlite.JobListParams{
		BeforeID: before,
		Queue:    nullString(p.Queue),
		State:    nullString(string(p.State)),
		Kind:     nullString(p.Kind),
		MaxRows:  int64(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", interpretError(err))
	}
	page := &storage.JobPage{}
	page.Jobs, page.NextCursor = storage.PageOf(rows, limit, jobFromRow,
		func(r *sqlite.Job) storage.Cursor { return storage.Cursor{List: storage.ListJobs, Seq: r.ID} })
	return page, nil
}

// JobStats counts jobs by queue and state. See storage.JobStore.
func (s *Store) JobStats(ctx context.Context) ([]*storage.JobQueueStats, error) {
	t := now()
	rows, err := s.q.JobStats(ctx, s.read, t)
	if err != nil {
		return nil, fmt.Errorf("job stats: %w", interpretError(err))
	}
	var out []*storage.JobQueueStats
	for _, r := range rows {
		var oldest time.Duration
		if r.OldestDueRunAt > 0 {
			oldest = time.Duration(t-r.OldestDueRunAt) * time.Microsecond
		}
		out = storage.AddJobCount(out, r.Queue, storage.JobState(r.State), r.Jobs, oldest)
	}
	return out, nil
}

// JobPrune deletes old final jobs. See storage.JobStore.
func (s *Store) JobPrune(ctx context.Context, retention time.Duration, limit int) (int64, error) {
	n, err := s.q.JobPrune(ctx, s.db, &sqlite.JobPruneParams{
		Cutoff:  sql.NullInt64{Int64: now() - retention.Microseconds(), Valid: true},
		MaxRows: int64(max(limit, 1)),
	})
	if err != nil {
		return 0, fmt.Errorf("prune jobs: %w", interpretError(err))
	}
	return n, nil
}

func jobFromRow(r *sqlite.Job) *storage.Job {
	j := &storage.Job{
		ID:              r.ID,
		Queue:           r.Queue,
		Kind:            r.Kind,
		Payload:         json.RawMessage(r.Payload),
		Priority:        int(r.Priority),
		RunAt:           fromMicros(r.RunAt),
		State:           storage.JobState(r.State),
		Attempt:         int(r.Attempt),
		MaxAttempts:     int(r.MaxAttempts),
		LastError:       r.LastError,
		Errors:          storage.UnmarshalJobErrors([]byte(r.Errors)),
		LeaseOwner:      r.LeaseOwner,
		LeaseToken:      r.LeaseToken,
		LeaseExpiresAt:  fromNullMicros(r.LeaseExpiresAt),
		CancelRequested: r.CancelRequested,
		UniqueKey:       r.UniqueKey.String,
		CreatedAt:       fromMicros(r.CreatedAt),
		FinishedAt:      fromNullMicros(r.FinishedAt),
		TraceContext:    r.TraceContext.String,
	}
	return j
}

// JobGetByUniqueKey returns the newest job with that key. See
// storage.JobStore.
func (s *Store) JobGetByUniqueKey(ctx context.Context, key string) (*storage.Job, error) {
	if err := checkNoNUL("unique key", key); err != nil {
		return nil, fmt.Errorf("get job by unique key: %w", err)
	}
	row, err := s.q.JobGetByUniqueKey(ctx, s.read, nullString(key))
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
	args := make([]sql.NullString, 0, len(keys))
	for _, k := range keys {
		if err := checkNoNUL("unique key", k); err != nil {
			return nil, fmt.Errorf("get job ids by unique keys: %w", err)
		}
		args = append(args, nullString(k))
	}
	rows, err := s.q.JobIDsByUniqueKeys(ctx, s.read, args)
	if err != nil {
		return nil, fmt.Errorf("get job ids of %d unique keys: %w", len(keys), interpretError(err))
	}
	for _, r := range rows {
		if r.UniqueKey.Valid {
			ids[r.UniqueKey.String] = r.ID
		}
	}
	return ids, nil
}

// JobVacuum does nothing: SQLite reuses the pages of updated rows at once,
// so the queue has no dead rows to reclaim. See storage.JobStore.
func (s *Store) JobVacuum(context.Context) error { return nil }
