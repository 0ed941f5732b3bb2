package planjob_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// alertReceiver records the alert events it is sent.
type alertReceiver struct {
	mu     sync.Mutex
	events []alert.Event
}

func (rc *alertReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var ev alert.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.events = append(rc.events, ev)
	rc.mu.Unlock()
}

func (rc *alertReceiver) received() []alert.Event {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.events)
}

// startProcess runs what one serve or worker process runs against the
// Postgres database at url, on a store of its own: the default queue's
// pool with the alert evaluator, and the alert queue's pool.
func startProcess(t *testing.T, url, name string) storage.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), pgstore.Config{URL: url, MaxConns: 8})
	require.NoError(t, err)
	log := slog.New(slog.DiscardHandler)
	eval := &alert.Evaluator{Store: st, PublicURL: "http://astro.test", Logger: log}
	fast := storage.RetryPolicy{Base: time.Millisecond, Max: 10 * time.Millisecond}
	runs := worker.New(st, worker.Config{ID: name, Logger: log, Workers: 4, PollInterval: 10 * time.Millisecond, Retry: fast})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, Alerts: eval}).Register(runs)
	alerts := worker.New(st, worker.Config{Queue: alert.Queue, Logger: log, Workers: 2, PollInterval: 10 * time.Millisecond, Retry: fast})
	alerts.Handle(alert.DeliverKind, (&alert.Deliverer{Store: st, Logger: log}).Handle)
	alerts.Handle(alert.FlushKind, eval.HandleFlush)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, p := range []*worker.Pool{runs, alerts} {
		wg.Go(func() { _ = p.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait(); _ = st.Close() })
	return st
}

// TestTwoProcessesFinishingOnePlansExecutionsAlertOnce runs two processes
// on one Postgres database, which finish executions of one plan at the
// same time: the plan's failures give exactly one failure message (and
// every_failure one per failure, with no count lost), and its pass one
// recovery.
func TestTwoProcessesFinishingOnePlansExecutionsAlertOnce(t *testing.T) {
	t.Parallel()
	up := true
	var upMu sync.Mutex
	// The first requests wait until more have arrived than one process has
	// workers (4), so that both processes run executions at once, whichever
	// claims first. The wait is bounded so that a failure cannot hang.
	const together = 5
	arrived, release := 0, make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		upMu.Lock()
		if arrived < together {
			if arrived++; arrived == together {
				close(release)
			}
			upMu.Unlock()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			upMu.Lock()
		}
		defer upMu.Unlock()
		if !up {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(target.Close)
	once, every := &alertReceiver{}, &alertReceiver{}
	onceSrv, everySrv := httptest.NewServer(once), httptest.NewServer(every)
	t.Cleanup(onceSrv.Close)
	t.Cleanup(everySrv.Close)

	url := pgtest.URL(t)
	a := startProcess(t, url, "a")
	startProcess(t, url, "b")
	ctx := context.Background()
	doc, err := json.Marshal(map[string]any{"steps": []any{step("health", target.URL)}})
	require.NoError(t, err)
	p, err := a.PlanCreate(ctx, &storage.PlanCreateParams{Name: "checkout", Document: doc})
	require.NoError(t, err)
	onceCh, err := a.ChannelCreate(ctx, &storage.ChannelCreateParams{Name: "once", Kind: storage.ChannelWebhook, URL: onceSrv.URL})
	require.NoError(t, err)
	everyCh, err := a.ChannelCreate(ctx, &storage.ChannelCreateParams{Name: "every", Kind: storage.ChannelWebhook, URL: everySrv.URL})
	require.NoError(t, err)
	_, err = a.AlertRuleCreate(ctx, &storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: []uuid.UUID{onceCh.ID}, OnFailure: true, OnRecovery: true})
	require.NoError(t, err)
	_, err = a.AlertRuleCreate(ctx, &storage.AlertRuleCreateParams{PlanID: p.ID, ChannelIDs: []uuid.UUID{everyCh.ID}, EveryFailure: true})
	require.NoError(t, err)

	// runAll creates n executions of the plan at once and waits for all;
	// workers collects the processes that ran them.
	workers := map[string]bool{}
	runAll := func(n int) {
		t.Helper()
		execs := make([]*storage.Execution, n)
		require.NoError(t, a.InTx(ctx, func(tx storage.Store) error {
			for i := range execs {
				x, err := tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision})
				if err != nil {
					return err
				}
				if _, err := tx.JobEnqueue(ctx, planjob.EnqueueParams(x)); err != nil {
					return err
				}
				execs[i] = x
			}
			return nil
		}))
		for _, x := range execs {
			workers[waitFinal(t, a, x).WorkerID] = true
		}
	}
	// waitDelivered waits until no alert job is left to run.
	waitDelivered := func() {
		t.Helper()
		require.Eventually(t, func() bool {
			page, err := a.JobList(ctx, &storage.JobListParams{Queue: alert.Queue, Limit: storage.MaxPageLimit})
			require.NoError(t, err)
			for _, j := range page.Jobs {
				if !j.State.Final() {
					return false
				}
			}
			return true
		}, 30*time.Second, 10*time.Millisecond)
	}

	const failures = 8
	upMu.Lock()
	up = false
	upMu.Unlock()
	runAll(failures)
	waitDelivered()
	got := once.received()
	require.Len(t, got, 1, "the failures alert once")
	assert.Equal(t, alert.EventFailed, got[0].Event)
	counts := []int{}
	for _, ev := range every.received() {
		counts = append(counts, ev.ConsecutiveFailures)
	}
	slices.Sort(counts)
	assert.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8}, counts, "every failure alerts, each counted once")

	upMu.Lock()
	up = true
	upMu.Unlock()
	runAll(3)
	waitDelivered()
	got = once.received()
	require.Len(t, got, 2, "the passes recover once")
	assert.Equal(t, alert.EventRecovered, got[1].Event)
	assert.Len(t, every.received(), failures, "every_failure alone sends no recovery")
	assert.Equal(t, map[string]bool{"a": true, "b": true}, workers, "both processes finished executions")
}
