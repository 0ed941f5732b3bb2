//go:build e2e

package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
)

// crashTarget is the service the worker-crash plans call. GET /block holds
// its request until released (it keeps the serve process's only worker
// busy). GET /step2 holds its first request until the client goes away or
// the test ends, and answers later ones at once.
type crashTarget struct {
	url          string
	blockArrived chan struct{}
	releaseBlock chan struct{}
	step2Arrived chan struct{}
	// releaseBlocker lets GET /block answer.
	releaseBlocker func()
	mu             sync.Mutex
	hits           map[string]int
}

func newCrashTarget(t *testing.T) *crashTarget {
	t.Helper()
	ct := &crashTarget{
		blockArrived: make(chan struct{}),
		releaseBlock: make(chan struct{}),
		step2Arrived: make(chan struct{}),
		hits:         map[string]int{},
	}
	testDone := make(chan struct{})
	var blockOnce, releaseOnce sync.Once
	ct.releaseBlocker = func() { releaseOnce.Do(func() { close(ct.releaseBlock) }) }
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	}
	mux.HandleFunc("GET /{step}", func(w http.ResponseWriter, r *http.Request) {
		step := r.PathValue("step")
		ct.mu.Lock()
		ct.hits[step]++
		n := ct.hits[step]
		ct.mu.Unlock()
		switch {
		case step == "block":
			blockOnce.Do(func() { close(ct.blockArrived) })
			select {
			case <-ct.releaseBlock:
			case <-r.Context().Done():
				return
			case <-testDone:
				return
			}
		case step == "step2" && n == 1:
			close(ct.step2Arrived)
			// Held until the worker that sent it dies.
			select {
			case <-r.Context().Done():
				return
			case <-testDone:
				return
			}
		}
		ok(w)
	})
	ct.url = newLocalServer(t, mux)
	// Runs before the server's shutdown (clean-ups run last in, first out),
	// so that held requests do not hold the shutdown up.
	t.Cleanup(func() { close(testDone) })
	return ct
}

func (ct *crashTarget) hitCount(step string) int {
	ct.mu.Lock()
	defer ct.mu.Unlock()
	return ct.hits[step]
}

// TestWorkerCrashMidPlanIsRescued SIGKILLs a `worker` process while it is
// in the middle of a plan's second step, starts another worker process,
// and checks that the job is rescued once its lease runs out and the
// execution finishes passed as attempt 2.
//
// The API process (`serve`) also runs workers. To be sure the first
// attempt runs in the worker process that gets killed, the serve process
// runs one worker, kept busy by a "blocker" execution until the end; its
// rescuer still runs.
func TestWorkerCrashMidPlanIsRescued(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "astro.db")
		testWorkerCrash(t, map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": path})
	})
	t.Run("postgres", func(t *testing.T) {
		// Skips with a message, or fails with ASTRO_REQUIRE_POSTGRES=1,
		// when there is no database.
		testWorkerCrash(t, map[string]string{"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": pgtest.URL(t)})
	})
}

func testWorkerCrash(t *testing.T, backend map[string]string) {
	ct := newCrashTarget(t)
	env := func(extra map[string]string) map[string]string {
		out := map[string]string{"ASTRO_WORKERS": "1"}
		for k, v := range backend {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	api := startAstro(t, astroConfig{name: "serve", env: env(nil)})

	var blocker, three apiPlan
	api.must(http.MethodPost, "/plan", map[string]any{
		"name": "blocker",
		"document": map[string]any{"steps": []any{map[string]any{
			"name": "hold the serve process's worker", "timeout_ms": 120000,
			"request": map[string]any{"method": "GET", "url": ct.url + "/block"},
			"assert":  map[string]any{"status": 200},
		}}},
	}, http.StatusCreated).decode(t, &blocker)
	step := func(name, path string, timeoutMS int) map[string]any {
		return map[string]any{
			"name": name, "timeout_ms": timeoutMS,
			"request": map[string]any{"method": "GET", "url": ct.url + path},
			"assert":  map[string]any{"status": 200},
		}
	}
	api.must(http.MethodPost, "/plan", map[string]any{
		"name": "three steps",
		"document": map[string]any{"steps": []any{
			step("one", "/step1", 0),
			step("two, held on the first attempt", "/step2", 60000),
			step("three", "/step3", 0),
		}},
	}, http.StatusCreated).decode(t, &three)

	var blockExec apiExecution
	api.must(http.MethodPost, "/plan/"+blocker.ID+"/execute", nil, http.StatusAccepted).decode(t, &blockExec)
	select {
	case <-ct.blockArrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("the serve process never ran the blocker\n%s", logTail(api.log, 30))
	}

	w1 := startAstro(t, astroConfig{name: "worker-1", command: "worker", env: env(nil)})
	var exec apiExecution
	api.must(http.MethodPost, "/plan/"+three.ID+"/execute", nil, http.StatusAccepted).decode(t, &exec)
	select {
	case <-ct.step2Arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("step 2 never arrived\n%s", logTail(w1.log, 30))
	}
	require.Equal(t, []int{1}, runsOf(t, w1.log, exec.ID), "worker-1 should be running attempt 1")
	require.Empty(t, runsOf(t, api.log, exec.ID), "the serve process should not have run the execution")
	var before apiExecution
	api.must(http.MethodGet, "/execution/"+exec.ID, nil, http.StatusOK).decode(t, &before)
	require.Equal(t, "running", before.Status)
	require.Equal(t, 1, before.Attempt)

	w1.proc.kill(t)
	killedAt := time.Now()
	t.Logf("SIGKILLed worker-1 (pid %d) while step 2 was in flight", w1.proc.pid())
	w2 := startAstro(t, astroConfig{name: "worker-2", command: "worker", env: env(nil)})

	// Bounded wait; the status must leave "running".
	seen := map[string]int{}
	var final apiExecution
	deadline := time.Now().Add(60 * time.Second)
	for {
		var e apiExecution
		api.must(http.MethodGet, "/execution/"+exec.ID, nil, http.StatusOK).decode(t, &e)
		seen[fmt.Sprintf("%s/attempt %d", e.Status, e.Attempt)]++
		if finalStatus(e.Status) {
			final = e
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("execution still %s (attempt %d) 60s after the kill; seen %v\nserve:\n%s\nworker-2:\n%s",
				e.Status, e.Attempt, seen, logTail(api.log, 20), logTail(w2.log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("execution %s finished %s as attempt %d, %.1fs after the kill (lease 2s); statuses polled: %v",
		exec.ID, final.Status, final.Attempt, time.Since(killedAt).Seconds(), seen)
	require.Equal(t, "passed", final.Status, "result: %s", final.Result)
	require.Equal(t, 2, final.Attempt)
	require.Equal(t, []int{2}, runsOf(t, w2.log, exec.ID), "worker-2 should have run attempt 2")
	require.Empty(t, runsOf(t, api.log, exec.ID), "the serve process's only worker was busy with the blocker")
	rescued := countLogMsg(t, api.log, "rescued jobs with expired leases") + countLogMsg(t, w2.log, "rescued jobs with expired leases")
	require.Positive(t, rescued, "no rescuer logged the rescue")
	require.Equal(t, 2, ct.hitCount("step1"))
	require.Equal(t, 2, ct.hitCount("step2"))
	require.Equal(t, 1, ct.hitCount("step3"), "step 3 runs only in attempt 2")

	ct.releaseBlocker()
	require.Equal(t, "passed", api.waitFinal([]string{blockExec.ID}, 30*time.Second)[blockExec.ID].Status)
}

// runsOf returns the attempts of an execution that a process's log says
// it started ("running execution"), in order.
func runsOf(t *testing.T, logPath, execID string) []int {
	t.Helper()
	var out []int
	for _, rec := range logRecords(t, logPath) {
		if rec["msg"] == "running execution" && rec["execution_id"] == execID {
			n, _ := rec["attempt"].(float64)
			out = append(out, int(n))
		}
	}
	return out
}
