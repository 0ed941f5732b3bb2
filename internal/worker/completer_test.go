package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// refusingStore refuses outcome writes as a database refuses a value it
// cannot hold (storage.ErrInvalidInput): every completion batch that
// includes a job in refused, and every failure batch with an error text
// that holds a NUL byte (as Postgres does) or is not plain ASCII (as a
// database whose encoding lacks a character does).
type refusingStore struct {
	worker.Store
	refused sync.Map // Job ID to true.
}

func (s *refusingStore) JobCompleteMany(ctx context.Context, refs []storage.JobRef) ([]int64, error) {
	for _, r := range refs {
		if refused, _ := s.refused.Load(r.ID); refused == true {
			return nil, fmt.Errorf("%w: completion of job %d refused by the test", storage.ErrInvalidInput, r.ID)
		}
	}
	return s.Store.JobCompleteMany(ctx, refs)
}

func (s *refusingStore) JobFailMany(ctx context.Context, ps []*storage.JobFailParams) ([]int64, error) {
	for _, p := range ps {
		for _, r := range p.Error {
			if r == 0 || r > 0x7e {
				return nil, fmt.Errorf("%w: error text of job %d refused by the test", storage.ErrInvalidInput, p.ID)
			}
		}
	}
	return s.Store.JobFailMany(ctx, ps)
}

// handleFailWithPayloadText registers a handler for "fail" that discards
// its job with the text of its JSON string payload as the error, with each
// "<NUL>" turned into a NUL byte (no store accepts a payload holding one).
func handleFailWithPayloadText(pool *worker.Pool) {
	pool.Handle("fail", func(_ context.Context, job *storage.Job) error {
		var text string
		if err := json.Unmarshal(job.Payload, &text); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s", worker.ErrDiscard, strings.ReplaceAll(text, "<NUL>", "\x00"))
	})
}

// TestPoolCompleterSurvivesAnOutcomeTheStoreRefuses checks that outcomes the
// store refuses hold up no other: a failure whose error text the store
// cannot hold is recorded with a plain copy, a completion the store always
// refuses is dropped so that its lease runs out, and every other outcome,
// of the same batch or a later one, is written.
func TestPoolCompleterSurvivesAnOutcomeTheStoreRefuses(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	rs := &refusingStore{Store: s}
	refused := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "ok"})
	rs.refused.Store(refused.ID, true)
	pool := worker.New(rs, config(t, worker.Config{
		Lease:             2 * time.Second,
		HeartbeatInterval: 50 * time.Millisecond,
		RescueInterval:    time.Hour,
		CompleteDelay:     50 * time.Millisecond, // Batches gather most outcomes.
	}))
	pool.Handle("ok", func(context.Context, *storage.Job) error { return nil })
	handleFailWithPayloadText(pool)
	fancy := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "fail", Payload: []byte(`"naïve ✓"`)})
	nul := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "fail", Payload: []byte(`"a<NUL>b"`)})
	enqueue(t, s, "ok", 20)
	startPool(t, pool)

	waitCompleted(t, s, 20, waitFor)
	fancyDone := waitState(t, s, fancy.ID, storage.JobDiscarded)
	assert.Equal(t, worker.ErrDiscard.Error()+": na?ve ?", fancyDone.LastError, "a plain copy of the error is recorded")
	nulDone := waitState(t, s, nul.ID, storage.JobDiscarded)
	assert.Equal(t, worker.ErrDiscard.Error()+": ab", nulDone.LastError, "NUL bytes are stripped before writing")

	// The refused completion is dropped: its lease is no longer renewed,
	// so it runs out and the job can be rescued.
	ctx := context.Background()
	require.Eventually(t, func() bool {
		n, err := s.JobRescue(ctx, 10)
		return err == nil && n == 1
	}, waitFor, 20*time.Millisecond, "the refused job's lease never ran out")
	rs.refused.Store(refused.ID, false)

	// The completer still writes.
	enqueue(t, s, "ok", 10)
	waitCompleted(t, s, 31, waitFor)
	assert.Equal(t, storage.JobCompleted, getJob(t, s, refused.ID).State)
}

// stuckStore fails every completion batch that includes the stuck job
// with an error no adapter maps, as a driver might for a value it cannot
// take without saying so.
type stuckStore struct {
	worker.Store
	stuck atomic.Int64 // Job ID.
}

func (s *stuckStore) JobCompleteMany(ctx context.Context, refs []storage.JobRef) ([]int64, error) {
	for _, r := range refs {
		if r.ID == s.stuck.Load() {
			return nil, fmt.Errorf("complete jobs: %w", errors.New("weird driver error"))
		}
	}
	return s.Store.JobCompleteMany(ctx, refs)
}

// TestPoolCompleterDropsAnOutcomeThatKeepsFailingAlone checks that an
// outcome whose own write keeps failing with an unmapped error holds up no
// other, and is dropped after a bounded number of tries, so that its lease
// runs out and the job can be rescued instead of staying running for ever.
func TestPoolCompleterDropsAnOutcomeThatKeepsFailingAlone(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ss := &stuckStore{Store: s}
	stuck := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "ok"})
	ss.stuck.Store(stuck.ID)
	pool := worker.New(ss, config(t, worker.Config{
		Lease:             2 * time.Second,
		HeartbeatInterval: 50 * time.Millisecond,
		RescueInterval:    time.Hour,
		CompleteDelay:     50 * time.Millisecond,
		Logger:            slog.New(slog.DiscardHandler), // The errors are expected.
	}))
	pool.Handle("ok", func(context.Context, *storage.Job) error { return nil })
	enqueue(t, s, "ok", 20)
	startPool(t, pool)

	waitCompleted(t, s, 20, waitFor)
	ctx := context.Background()
	require.Eventually(t, func() bool {
		n, err := s.JobRescue(ctx, 10)
		return err == nil && n == 1
	}, waitFor, 20*time.Millisecond, "the stuck job's lease never ran out")
	ss.stuck.Store(0)

	enqueue(t, s, "ok", 5)
	waitCompleted(t, s, 26, waitFor)
	assert.Equal(t, storage.JobCompleted, getJob(t, s, stuck.ID).State)
}

// flakyStore fails the first completion batches with err, as an outage
// would.
type flakyStore struct {
	worker.Store
	err   error
	fails atomic.Int64 // Batches still to fail.
}

func (s *flakyStore) JobCompleteMany(ctx context.Context, refs []storage.JobRef) ([]int64, error) {
	if s.fails.Add(-1) >= 0 {
		return nil, s.err
	}
	return s.Store.JobCompleteMany(ctx, refs)
}

// TestPoolCompleterKeepsOutcomesThroughAnOutage checks that outcomes that
// meet an error other than a refusal (storage.ErrInvalidInput) are
// retried, not dropped, however often they fail: an outage, a timeout, or
// an error no adapter maps, such as a driver's own. A dropped outcome
// would show as a job that runs twice: leases are short and expired ones
// are rescued at once.
func TestPoolCompleterKeepsOutcomesThroughAnOutage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"unavailable", fmt.Errorf("%w: connection refused", storage.ErrUnavailable)},
		{"timeout", fmt.Errorf("complete jobs: %w", context.DeadlineExceeded)},
		{"unmapped", fmt.Errorf("complete jobs: %w", errors.New("weird driver error"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := openSQLite(t)
			fs := &flakyStore{Store: s, err: tc.err}
			fs.fails.Store(5) // Over a second of backoff.
			pool := worker.New(fs, config(t, worker.Config{
				Lease:             time.Second,
				HeartbeatInterval: 50 * time.Millisecond,
				RescueInterval:    50 * time.Millisecond,
				Logger:            slog.New(slog.DiscardHandler), // The outage warning is expected.
			}))
			runs := countRuns(pool, "count")
			ids := enqueue(t, s, "count", 20)
			startPool(t, pool)

			waitCompleted(t, s, 20, waitFor)
			requireEachRanOnce(t, runs, ids)
			assert.Negative(t, fs.fails.Load(), "the outage never ended")
		})
	}
}

// TestPoolRecordsAnErrorTextWithANULBytePostgres fails a job with a NUL
// byte in its error text, which Postgres text cannot hold (22021), among
// jobs that complete: every outcome is recorded.
func TestPoolRecordsAnErrorTextWithANULBytePostgres(t *testing.T) {
	t.Parallel()
	s := openPostgres(t, pgtest.URL(t))
	pool := worker.New(s, config(t, worker.Config{CompleteDelay: 50 * time.Millisecond}))
	countRuns(pool, "count")
	pool.Handle("nul", func(context.Context, *storage.Job) error {
		return fmt.Errorf("%w: a\x00b\x00", worker.ErrDiscard)
	})
	nul := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "nul"})
	enqueue(t, s, "count", 20)
	startPool(t, pool)

	waitCompleted(t, s, 20, waitFor)
	done := waitState(t, s, nul.ID, storage.JobDiscarded)
	assert.Equal(t, worker.ErrDiscard.Error()+": ab", done.LastError)
	require.Len(t, done.Errors, 1)
	assert.Equal(t, worker.ErrDiscard.Error()+": ab", done.Errors[0].Error)

	enqueue(t, s, "count", 10)
	waitCompleted(t, s, 30, waitFor)
}

// nulInjector puts a NUL byte back into every error text with a non-ASCII
// character, as if a text reached the store uncleaned.
type nulInjector struct{ worker.Store }

func (s *nulInjector) JobFailMany(ctx context.Context, ps []*storage.JobFailParams) ([]int64, error) {
	out := make([]*storage.JobFailParams, len(ps))
	for i, p := range ps {
		c := *p
		if strings.ContainsFunc(c.Error, func(r rune) bool { return r > 0x7e }) {
			c.Error += "\x00"
		}
		out[i] = &c
	}
	return s.Store.JobFailMany(ctx, out)
}

// TestPoolCompleterWritesAroundAnOutcomePostgresRefuses lets Postgres
// itself refuse a batch of failures (22021, a NUL byte in text): the
// completer must write the batch item by item, record the refused failure
// with a plain ASCII copy of its error, and write the others.
func TestPoolCompleterWritesAroundAnOutcomePostgresRefuses(t *testing.T) {
	t.Parallel()
	s := openPostgres(t, pgtest.URL(t))
	pool := worker.New(&nulInjector{Store: s}, config(t, worker.Config{
		CompleteDelay: 50 * time.Millisecond, // Batches gather most outcomes.
	}))
	handleFailWithPayloadText(pool)
	refused := enqueueOne(t, s, storage.JobEnqueueParams{Kind: "fail", Payload: []byte(`"refused ✓"`)})
	ids := make([]int64, 10)
	for i := range ids {
		ids[i] = enqueueOne(t, s, storage.JobEnqueueParams{Kind: "fail", Payload: []byte(`"plain"`)}).ID
	}
	startPool(t, pool)

	done := waitState(t, s, refused.ID, storage.JobDiscarded)
	assert.Equal(t, worker.ErrDiscard.Error()+": refused ?", done.LastError)
	for _, id := range ids {
		assert.Equal(t, worker.ErrDiscard.Error()+": plain", waitState(t, s, id, storage.JobDiscarded).LastError)
	}
}
