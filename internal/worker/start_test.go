package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// starterFunc is a worker.Starter made of a function.
type starterFunc func(ctx context.Context, jobs []*storage.Job) []any

func (f starterFunc) StartMany(ctx context.Context, jobs []*storage.Job) []any { return f(ctx, jobs) }

// TestStartersPrepareTheJobsOfTheirKind claims jobs of four kinds at once:
// one whose Starter labels each job, one with no Starter, one whose
// Starter panics, and one whose Starter returns too few values. Only the
// first kind's handlers see what was prepared, each its own; every job
// runs and completes.
func TestStartersPrepareTheJobsOfTheirKind(t *testing.T) {
	t.Parallel()
	s := openSQLite(t)
	ctx := context.Background()
	kinds := []string{"labelled", "plain", "panics", "short"}
	for _, kind := range kinds {
		for i := range 2 {
			_, err := s.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "starters", Kind: kind, Payload: []byte(fmt.Sprintf(`{"n":%d}`, i))})
			require.NoError(t, err)
		}
	}
	pool := worker.New(s, config(t, worker.Config{Queue: "starters", Workers: 8, Lease: time.Hour,
		Logger: slog.New(slog.DiscardHandler)}))
	var mu sync.Mutex
	calls := map[string]int{}
	seen := map[int64]any{}
	handler := func(ctx context.Context, job *storage.Job) error {
		mu.Lock()
		defer mu.Unlock()
		seen[job.ID] = worker.Started(ctx)
		return nil
	}
	for _, kind := range kinds {
		pool.Handle(kind, handler)
	}
	starter := func(kind string, f func(jobs []*storage.Job) []any) worker.Starter {
		return starterFunc(func(_ context.Context, jobs []*storage.Job) []any {
			mu.Lock()
			calls[kind]++
			mu.Unlock()
			for _, j := range jobs {
				assert.Equal(t, kind, j.Kind, "a Starter gets only its kind's jobs")
			}
			return f(jobs)
		})
	}
	pool.HandleStart("labelled", starter("labelled", func(jobs []*storage.Job) []any {
		out := make([]any, len(jobs))
		for i, j := range jobs {
			out[i] = fmt.Sprintf("prepared %d", j.ID)
		}
		return out
	}))
	pool.HandleStart("panics", starter("panics", func([]*storage.Job) []any { panic("starter bug") }))
	pool.HandleStart("short", starter("short", func(jobs []*storage.Job) []any { return []any{"only one"} }))
	stop := startPool(t, pool)
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) == 8
	}, waitFor, tick)
	stop()

	assert.Equal(t, map[string]int{"labelled": 1, "panics": 1, "short": 1}, calls, "one call per kind of the one claim")
	jobs, err := s.JobList(ctx, &storage.JobListParams{Queue: "starters", Limit: 100})
	require.NoError(t, err)
	require.Len(t, jobs.Jobs, 8)
	for _, j := range jobs.Jobs {
		assert.Equal(t, storage.JobCompleted, j.State, "job %d (%s)", j.ID, j.Kind)
		if j.Kind == "labelled" {
			assert.Equal(t, fmt.Sprintf("prepared %d", j.ID), seen[j.ID])
		} else {
			assert.Nil(t, seen[j.ID], "job %d (%s)", j.ID, j.Kind)
		}
	}
}
