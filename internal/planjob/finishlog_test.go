package planjob_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFinishedExecutionIsLoggedOnce checks the one info line per finished
// execution: its id, plan, status and duration.
func TestFinishedExecutionIsLoggedOnce(t *testing.T) {
	t.Parallel()
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		logs := &lockedBuffer{}
		log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
		st := openStore(t)
		pool := worker.New(st, worker.Config{Logger: slog.New(slog.DiscardHandler), PollInterval: 20 * time.Millisecond})
		path.register(pool, &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = pool.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		h := &harness{t: t, store: st, pool: pool}

		var passed, failed *storage.Execution
		// Subtests, because each plan is named after its test.
		t.Run("passing", func(t *testing.T) { h.t = t; passed = h.waitFinal(h.execute(step("one", target.URL))) })
		t.Run("failing", func(t *testing.T) { h.t = t; failed = h.waitFinal(h.execute(step("bad", target.URL+"/bad"))) })
		require.Equal(t, storage.ExecutionFailed, failed.Status)
		// The line is logged once the final status and the job's completion
		// have committed, which may be a moment after a reader sees them; the
		// pool has written every outcome once it has stopped.
		for _, e := range []*storage.Execution{passed, failed} {
			require.Eventually(t, func() bool {
				job, err := st.JobGetByUniqueKey(context.Background(), storage.ExecutionJobKey(e.ID))
				return err == nil && job.State.Final()
			}, 30*time.Second, 10*time.Millisecond, "the job of %s never finished", e.ID)
		}
		cancel()
		<-done

		byExec := map[string]map[string]any{}
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
			if rec["msg"] != "execution finished" {
				continue
			}
			id, _ := rec["execution_id"].(string)
			require.NotContains(t, byExec, id, "one line per execution")
			byExec[id] = rec
		}
		for _, e := range []*storage.Execution{passed, failed} {
			rec, ok := byExec[e.ID.String()]
			require.True(t, ok, "no finish line for %s in %s", e.ID, logs.String())
			require.Equal(t, "INFO", rec["level"])
			require.Equal(t, e.PlanID.String(), rec["plan_id"])
			require.Equal(t, string(e.Status), rec["status"])
			require.Contains(t, rec, "duration")
		}
	})
}

// reconcileStore is a store whose ExecutionReconcile finishes n executions.
type reconcileStore struct {
	storage.Store
	n int64
}

func (s reconcileStore) InTx(_ context.Context, fn func(storage.Store) error) error { return fn(s) }

func (s reconcileStore) ExecutionReconcile(context.Context) ([]*storage.Execution, error) {
	return make([]*storage.Execution, s.n), nil
}

// TestReconcileLogsHowManyItFinished checks the line that stands for the
// "execution finished" lines no worker logs for the executions reconcile
// ends, and that a reconcile that ends none is silent.
func TestReconcileLogsHowManyItFinished(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := (&planjob.Handler{Store: reconcileStore{n: 0}, Logger: log}).Reconcile(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)
	require.Empty(t, logs.String())

	n, err = (&planjob.Handler{Store: reconcileStore{n: 3}, Logger: log}).Reconcile(context.Background())
	require.NoError(t, err)
	require.EqualValues(t, 3, n)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(logs.String()), &rec), logs.String())
	require.Equal(t, "executions finished by reconcile", rec["msg"])
	require.Equal(t, "INFO", rec["level"])
	require.EqualValues(t, 3, rec["count"])
}
