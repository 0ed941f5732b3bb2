package worker

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// downStore hands out one job and then, as a store in an outage, never
// records its outcome. It keeps every lease it is asked to extend.
type downStore struct {
	Store   // Nil: the pool calls only the methods below.
	claimed sync.Once
	writing chan struct{} // Closed at the first outcome write.
	wrote   sync.Once
}

func (s *downStore) JobClaim(context.Context, *storage.JobClaimParams) ([]*storage.Job, error) {
	var jobs []*storage.Job
	s.claimed.Do(func() { jobs = []*storage.Job{{ID: 1, Kind: "ok", LeaseToken: 7, MaxAttempts: 1}} })
	return jobs, nil
}

func (s *downStore) JobCompleteMany(context.Context, []storage.JobRef) ([]int64, error) {
	s.wrote.Do(func() { close(s.writing) })
	return nil, fmt.Errorf("%w: the test's outage", storage.ErrUnavailable)
}

func (s *downStore) JobExtendLease(_ context.Context, refs []storage.JobRef, _ time.Duration) ([]storage.JobLease, error) {
	leases := make([]storage.JobLease, len(refs))
	for i, r := range refs {
		leases[i] = storage.JobLease{ID: r.ID}
	}
	return leases, nil
}

func (s *downStore) JobRescue(context.Context, int) (int64, error) { return 0, nil }

func (s *downStore) JobPrune(context.Context, time.Duration, int) (int64, error) { return 0, nil }

func (s *downStore) JobVacuum(context.Context) error { return nil }

// TestRunLeavesNoLeaseWatchBehind stops a pool whose last outcome could not
// be written, so its job is still held when Run returns. A lease check
// that fired just before (its callback waiting for the pool's lock) then
// runs: it must neither re-arm its timer nor log a lost lease, as the
// pool has stopped.
func TestRunLeavesNoLeaseWatchBehind(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	store := &downStore{writing: make(chan struct{})}
	p := New(store, Config{
		Lease:        time.Hour, // No timer fires during the test.
		PollInterval: 10 * time.Millisecond,
		Logger:       slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil)),
	})
	p.shutdownFlush = 0 // Give up on the outcome at once.
	p.Handle("ok", func(context.Context, *storage.Job) error { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	<-store.writing
	p.mu.Lock()
	h := p.held[1]
	p.mu.Unlock()
	require.NotNil(t, h, "the job is held while its outcome is unwritten")
	cancel()
	require.NoError(t, <-done)

	p.mu.Lock()
	assert.Empty(t, p.held, "jobs still held after Run returned")
	p.mu.Unlock()

	// The late lease check, first within the lease, then past it.
	p.now = func() time.Time { return h.renewed }
	p.checkExpiry(h)
	assert.False(t, h.expiry.Stop(), "the lease timer was re-armed after Run returned")
	p.now = func() time.Time { return h.renewed.Add(2 * time.Hour) }
	p.checkExpiry(h)
	logMu.Lock()
	defer logMu.Unlock()
	assert.NotContains(t, logs.String(), "lease ran out", "a lost lease was logged after Run returned")
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
