//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/alert"
)

// The phases of the outage test, as seen by a request when it starts and
// when it ends.
const (
	phaseBefore int32 = iota
	phaseStopping
	phaseDown
	phaseAfter
)

// Worker log messages the outage test counts (internal/worker/outage.go).
const (
	msgWorkerOutage    = "storage unavailable; workers back off until it answers"
	msgWorkerRecovered = "storage answers again"
)

// outageRecorder collects what the clients saw.
type outageRecorder struct {
	mu sync.Mutex
	// plans and execs are the IDs of 2xx writes.
	plans []string
	execs []string
	// counts counts answers by route, status and phase.
	counts map[string]int
	// failures are answers or errors that break the test's expectations.
	failures []string
	// slowestDown is the longest a request made entirely during an outage
	// took to be answered.
	slowestDown time.Duration
}

func (r *outageRecorder) add(route string, start, end int32, took time.Duration, resp *response, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if start == phaseDown && end == phaseDown {
		r.slowestDown = max(r.slowestDown, took)
	}
	names := []string{"before", "stopping", "down", "after"}
	switch {
	case err != nil:
		r.failures = append(r.failures, fmt.Sprintf("%s (%s→%s): no answer: %v", route, names[start], names[end], err))
		return
	case resp.status >= 500 && resp.status != http.StatusServiceUnavailable:
		r.failures = append(r.failures, fmt.Sprintf("%s (%s→%s): %s", route, names[start], names[end], resp))
	case resp.status >= 400 && !resp.isProblem():
		r.failures = append(r.failures, fmt.Sprintf("%s (%s→%s): %d without a problem document: %q %s",
			route, names[start], names[end], resp.status, resp.header.Get("Content-Type"), resp.body))
	case start == phaseDown && end == phaseDown && resp.status != http.StatusServiceUnavailable:
		// Postgres had exited before the request started and was not yet
		// restarted when it ended: anything but 503 is wrong.
		r.failures = append(r.failures, fmt.Sprintf("%s during the outage: %s, want 503", route, resp))
	}
	phase := names[end]
	if start == phaseDown && end == phaseDown {
		phase = "down"
	} else if start != end {
		phase = names[start] + "→" + names[end]
	}
	r.counts[fmt.Sprintf("%-26s %d %s", route, resp.status, phase)]++
}

// keep decodes a 2xx answer into v and records the ID it holds in ids.
// It runs on client goroutines, so it records failures instead of failing.
func (r *outageRecorder) keep(resp *response, v any, ids *[]string, id func() string) {
	err := json.Unmarshal(resp.body, v)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil || id() == "" {
		r.failures = append(r.failures, fmt.Sprintf("undecodable answer %s: %v", resp, err))
		return
	}
	*ids = append(*ids, id())
}

// TestPostgresOutageRecovers stops the database under a running
// astro-runner for about 4 s while clients keep using it, then starts it
// again, twice. It checks that each outage is answered with 503 problem
// documents (never 500) and logged once by the workers, and that
// afterwards, without a restart of astro-runner, nothing accepted is lost.
func TestPostgresOutageRecovers(t *testing.T) {
	pg := newPGCluster(t)
	target, _ := newOKTarget(t)
	srv := startAstro(t, astroConfig{name: "outage", env: map[string]string{
		"STORAGE_BACKEND": "postgres",
		"POSTGRESQL_URL":  pg.url(),
	}})

	var phase atomic.Int32
	rec := &outageRecorder{counts: map[string]int{}}
	ctx, stopClients := context.WithCancel(context.Background())
	defer stopClients()
	var wg sync.WaitGroup

	call := func(route, method, path string, body any) *response {
		start, began := phase.Load(), time.Now()
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		resp, err := srv.do(rctx, method, path, body)
		if ctx.Err() != nil {
			return nil // Stopping; the answer does not count.
		}
		rec.add(route, start, phase.Load(), time.Since(began), resp, err)
		if err != nil {
			return nil
		}
		return resp
	}
	pick := func(ids *[]string) string {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		if len(*ids) == 0 {
			return ""
		}
		return (*ids)[rand.IntN(len(*ids))]
	}

	const clients = 4
	for c := range clients {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				if r := call("POST /plan", http.MethodPost, "/plan",
					okPlan(fmt.Sprintf("outage-%d-%d", c, n), target)); r != nil && r.status == http.StatusCreated {
					var p apiPlan
					rec.keep(r, &p, &rec.plans, func() string { return p.ID })
				}
				if id := pick(&rec.plans); id != "" {
					if r := call("POST /plan/{id}/execute", http.MethodPost, "/plan/"+id+"/execute", nil); r != nil && r.status == http.StatusAccepted {
						var e apiExecution
						rec.keep(r, &e, &rec.execs, func() string { return e.ID })
					}
				}
				if id := pick(&rec.plans); id != "" {
					call("GET /plan/{id}", http.MethodGet, "/plan/"+id, nil)
				}
				if id := pick(&rec.execs); id != "" {
					call("GET /execution/{id}", http.MethodGet, "/execution/"+id, nil)
				}
				select {
				case <-ctx.Done():
				case <-time.After(25 * time.Millisecond):
				}
			}
		})
	}
	wg.Go(func() {
		for ctx.Err() == nil {
			call("GET /readyz", http.MethodGet, "/readyz", nil)
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})

	// Two outages, so that "once per outage" is told apart from "once
	// ever".
	const outagesWanted = 2
	time.Sleep(2 * time.Second)
	for i := 1; i <= outagesWanted; i++ {
		phase.Store(phaseStopping)
		pg.stop()
		phase.Store(phaseDown)
		t.Logf("outage %d: postgres stopped", i)
		time.Sleep(4 * time.Second)
		phase.Store(phaseAfter)
		pg.start()
		t.Logf("outage %d: postgres started again", i)
		// The server recovers by itself: no restart of astro-runner.
		srv.waitReady(30 * time.Second)
		// Wait for the workers to notice too before the next outage, or
		// two outages close together are rightly one outage to them. The
		// claim loop's backoff reaches 5 s (plus jitter) during an outage
		// and ignores wake-ups, so this can take a few seconds.
		deadline := time.Now().Add(30 * time.Second)
		for countLogMsg(t, srv.log, msgWorkerRecovered) < i {
			if time.Now().After(deadline) {
				t.Fatalf("outage %d: the workers did not log %q within 30s of postgres answering\n%s",
					i, msgWorkerRecovered, logTail(srv.log, 20))
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(2 * time.Second)
	}
	stopClients()
	wg.Wait()

	keys := make([]string, 0, len(rec.counts))
	for k := range rec.counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var down503, downReadyz503 int
	for _, k := range keys {
		t.Logf("  %5d × %s", rec.counts[k], k)
		if strings.HasSuffix(k, " 503 down") {
			down503 += rec.counts[k]
			if strings.HasPrefix(k, "GET /readyz") {
				downReadyz503 += rec.counts[k]
			}
		}
	}
	for _, f := range rec.failures {
		t.Errorf("unexpected answer: %s", f)
	}
	t.Logf("slowest answer while postgres was down: %s (server request deadline 15s, client timeout 25s)", rec.slowestDown)
	require.Positive(t, downReadyz503, "/readyz never answered 503 while postgres was down")
	require.Greater(t, down503, downReadyz503, "no store-backed route answered 503 while postgres was down")

	// The worker's warning is logged once per outage, not once per poll.
	// Its message says "storage unavailable" whatever the error; only the
	// warnings whose error is an unavailability (storage.ErrUnavailable)
	// are outages. Others are listed, so that any other store error the
	// outage provokes shows in the test's output.
	// Each worker pool (the default queue's and the alert queue's) tracks
	// the outage on its own, so each warns once per outage.
	var outageWarnings, otherWarnings, recoveries int
	pools := map[any]bool{}
	for _, r := range logRecords(t, srv.log) {
		switch r["msg"] {
		case msgWorkerOutage:
			errText, _ := r["error"].(string)
			if strings.Contains(errText, "storage unavailable") {
				outageWarnings++
				pools[r["queue"]] = true
				t.Logf("  log: %v WARN %q op=%v", r["time"], msgWorkerOutage, r["op"])
			} else {
				otherWarnings++
				t.Logf("  log: %v WARN %q op=%v, NOT an outage (product bug, reported): %s", r["time"], msgWorkerOutage, r["op"], errText)
			}
		case msgWorkerRecovered:
			recoveries++
			t.Logf("  log: %v INFO %q failed_calls=%v", r["time"], msgWorkerRecovered, r["failed_calls"])
		}
	}
	apiWarnings := countLogMsg(t, srv.log, "storage unavailable")
	t.Logf("log: %d outage warnings for %d outages, %d other warnings with the same message, %d recovery lines; %d per-request API warnings %q",
		outageWarnings, outagesWanted, otherWarnings, recoveries, apiWarnings, "storage unavailable")
	require.Equal(t, map[any]bool{"default": true, alert.Queue: true}, pools, "both pools see the outage")
	require.Equal(t, outagesWanted*len(pools), outageWarnings, "each pool's outage warning should appear once per outage\n%s", logTail(srv.log, 20))
	require.Equal(t, outagesWanted*len(pools)+otherWarnings, recoveries, "each warning should be followed by one recovery line")

	// Nothing accepted was lost.
	rec.mu.Lock()
	plans, execs := rec.plans, rec.execs
	rec.mu.Unlock()
	require.NotEmpty(t, plans)
	require.NotEmpty(t, execs)
	for _, id := range plans {
		srv.must(http.MethodGet, "/plan/"+id, nil, http.StatusOK)
	}
	final := srv.waitFinal(execs, 90*time.Second)
	attempts := map[int]int{}
	for id, e := range final {
		require.Equal(t, "passed", e.Status, "execution %s: %+v", id, e)
		attempts[e.Attempt]++
	}
	t.Logf("%d plans created (all readable after the outage), %d executions accepted (all passed; by attempt: %v), %d 503s while down (%d of them /readyz)",
		len(plans), len(execs), attempts, down503, downReadyz503)
}
