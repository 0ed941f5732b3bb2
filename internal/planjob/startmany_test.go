package planjob_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

var _ worker.Starter = (*planjob.Handler)(nil)

// countingStore counts the calls a handler makes to read an execution and
// its plan and to move it to running, and can fail ExecutionStartMany.
type countingStore struct {
	storage.Store
	failStart error

	mu    sync.Mutex
	calls map[string]int
}

func (s *countingStore) count(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[name]++
}

func (s *countingStore) get(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

func (s *countingStore) ExecutionGetByID(ctx context.Context, id uuid.UUID) (*storage.Execution, error) {
	s.count("ExecutionGetByID")
	return s.Store.ExecutionGetByID(ctx, id)
}

func (s *countingStore) PlanGetByID(ctx context.Context, id uuid.UUID) (*storage.Plan, error) {
	s.count("PlanGetByID")
	return s.Store.PlanGetByID(ctx, id)
}

func (s *countingStore) ExecutionSetStatus(ctx context.Context, p *storage.ExecutionSetStatusParams) (*storage.Execution, error) {
	s.count("ExecutionSetStatus")
	return s.Store.ExecutionSetStatus(ctx, p)
}

func (s *countingStore) ExecutionStartMany(ctx context.Context, ps []*storage.ExecutionSetStatusParams) ([]*storage.ExecutionStarted, error) {
	s.count("ExecutionStartMany")
	if s.failStart != nil {
		return nil, s.failStart
	}
	return s.Store.ExecutionStartMany(ctx, ps)
}

// runClaimed creates n executions of a passing plan, then runs a pool of
// n workers over st (whose first claim therefore takes them all) until
// every one is final, and returns them.
func runClaimed(t *testing.T, raw storage.Store, st storage.Store, n int) []*storage.Execution {
	t.Helper()
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(target.Close)
	var execs []*storage.Execution
	for range n {
		execs = append(execs, createExecution(t, raw, step("up", target.URL), step("again", target.URL)))
	}
	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{ID: "starter-pool", Workers: n, Logger: log, PollInterval: 20 * time.Millisecond, Lease: time.Hour})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log}).Register(pool)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	out := make([]*storage.Execution, n)
	for i, e := range execs {
		out[i] = waitFinal(t, raw, e)
	}
	return out
}

// TestAClaimStartsItsExecutionsWithOneStoreCall checks that the handlers of
// one claim's jobs neither read their executions and plans nor write
// running themselves: the claim's one ExecutionStartMany did, and the
// executions still pass with their attempt, worker and start time.
func TestAClaimStartsItsExecutionsWithOneStoreCall(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, raw storage.Store) {
		st := &countingStore{Store: raw}
		for _, e := range runClaimed(t, raw, st, 4) {
			assert.Equal(t, storage.ExecutionPassed, e.Status)
			assert.Equal(t, 1, e.Attempt)
			assert.Equal(t, "starter-pool", e.WorkerID)
			assert.NotNil(t, e.StartedAt)
		}
		assert.Equal(t, 1, st.get("ExecutionStartMany"), "one claim, one start")
		for _, name := range []string{"ExecutionGetByID", "PlanGetByID", "ExecutionSetStatus"} {
			assert.Zero(t, st.get(name), name)
		}
	})
}

// TestExecutionsRunWhenTheirClaimCouldNotStartThem checks that when
// ExecutionStartMany fails, each handler reads and starts its execution
// by itself, and every execution still passes.
func TestExecutionsRunWhenTheirClaimCouldNotStartThem(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, raw storage.Store) {
		st := &countingStore{Store: raw, failStart: errors.New("start refused")}
		for _, e := range runClaimed(t, raw, st, 3) {
			assert.Equal(t, storage.ExecutionPassed, e.Status)
			assert.Equal(t, "starter-pool", e.WorkerID)
		}
		assert.Equal(t, 1, st.get("ExecutionStartMany"))
		for _, name := range []string{"ExecutionGetByID", "PlanGetByID", "ExecutionSetStatus"} {
			assert.Equal(t, 3, st.get(name), name)
		}
	})
}
