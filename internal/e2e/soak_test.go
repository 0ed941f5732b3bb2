//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
)

// soakEnv names the variable that sets the length of each half of TestSoak.
const soakEnv = "ASTRO_SOAK_DURATION"

// soakClients is how many clients run at once.
const soakClients = 50

func soakDuration(t *testing.T) time.Duration {
	t.Helper()
	v := os.Getenv(soakEnv)
	if v == "" {
		return 60 * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "%s", soakEnv)
	require.Positive(t, d, "%s", soakEnv)
	return d
}

// TestSoak runs 50 concurrent clients against the real binary for
// ASTRO_SOAK_DURATION (default 60 s), once on the memory backend and once
// on Postgres, mixing plan creates, reads, lists and executions. It expects
// no 5xx (nor any other unexpected status), every accepted execution to
// pass, and the server's memory to stay within a loose bound.
//
// The server runs with ASTRO_DEBUG_ADDR, so the test reads its goroutine
// count and heap from /debug/vars: the goroutine count must return near its
// idle baseline once the load ends, and the heap is reported at start and
// end and bounded loosely, as is the resident set size from
// /proc/<pid>/status.
func TestSoak(t *testing.T) {
	d := soakDuration(t)
	t.Run("memory", func(t *testing.T) {
		runSoak(t, d, map[string]string{"STORAGE_BACKEND": "memory"})
	})
	t.Run("postgres", func(t *testing.T) {
		// Skips with a message, or fails with ASTRO_REQUIRE_POSTGRES=1,
		// when there is no database.
		u := pgtest.URL(t)
		runSoak(t, d, map[string]string{"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": u})
	})
}

// soakStats is what the soak clients saw.
type soakStats struct {
	mu        sync.Mutex
	counts    map[string]int // "op status"
	failures  []string
	failCount int
	latencies []time.Duration
	execs     []string
}

func (s *soakStats) record(op string, want int, d time.Duration, r *response, err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latencies = append(s.latencies, d)
	if err != nil {
		s.counts[op+" error"]++
		s.fail(fmt.Sprintf("%s: no answer after %s: %v", op, d, err))
		return false
	}
	s.counts[fmt.Sprintf("%s %d", op, r.status)]++
	if r.status != want {
		s.fail(fmt.Sprintf("%s: %s, want %d", op, r, want))
		return false
	}
	return true
}

func (s *soakStats) fail(msg string) {
	s.failCount++
	if len(s.failures) < 20 {
		s.failures = append(s.failures, msg)
	}
}

func runSoak(t *testing.T, d time.Duration, backend map[string]string) {
	target, hits := newOKTarget(t)
	env := map[string]string{"ASTRO_DEBUG_ADDR": freeAddr(t)}
	for k, v := range backend {
		env[k] = v
	}
	srv := startAstro(t, astroConfig{name: "soak", env: env})
	rss0, threads0, err := procStatus(srv.proc.pid())
	require.NoError(t, err)
	vars0 := debugVars(t, env["ASTRO_DEBUG_ADDR"])

	stats := &soakStats{counts: map[string]int{}}
	run := rand.Int64()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	for c := range soakClients {
		wg.Go(func() { soakClient(ctx, srv, stats, target, fmt.Sprintf("soak-%x-c%02d-", run, c)) })
	}
	// Sample the server's memory while the load runs.
	var peakRSS, peakThreads int64
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if rss, th, err := procStatus(srv.proc.pid()); err == nil {
				peakRSS, peakThreads = max(peakRSS, rss), max(peakThreads, th)
			}
		}
	})
	wg.Wait()
	require.False(t, srv.proc.exited(), "the server died under load\n%s", logTail(srv.log, 30))

	stats.mu.Lock()
	execs := slices.Clone(stats.execs)
	keys := make([]string, 0, len(stats.counts))
	total := 0
	for k, n := range stats.counts {
		keys = append(keys, k)
		total += n
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %6d × %s", stats.counts[k], k)
	}
	lat := slices.Clone(stats.latencies)
	slices.Sort(lat)
	for _, f := range stats.failures {
		t.Errorf("unexpected answer: %s", f)
	}
	failCount := stats.failCount
	stats.mu.Unlock()
	require.Zero(t, failCount, "%d unexpected answers (first ones above)", failCount)
	if len(lat) > 0 {
		t.Logf("%d requests in %s from %d clients (%.0f/s); latency p50 %s, p99 %s, max %s (reported, not asserted)",
			total, d, soakClients, float64(total)/d.Seconds(),
			lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
	}

	// Every accepted execution finishes, and passes.
	require.NotEmpty(t, execs)
	final := srv.waitFinal(execs, 3*time.Minute)
	byStatus := map[string]int{}
	for _, e := range final {
		byStatus[e.Status]++
	}
	require.Equal(t, map[string]int{"passed": len(execs)}, byStatus, "every accepted execution should pass")
	require.GreaterOrEqual(t, hits(), int64(len(execs)), "the target saw fewer requests than executions passed")

	// Memory after the load, once the server is idle again.
	time.Sleep(2 * time.Second)
	rss1, threads1, err := procStatus(srv.proc.pid())
	require.NoError(t, err)
	t.Logf("server pid %d: VmRSS %d MB at start, peak %d MB under load, %d MB after; threads %d at start, peak %d, %d after",
		srv.proc.pid(), rss0/1024, peakRSS/1024, rss1/1024, threads0, peakThreads, threads1)
	require.Less(t, rss1, 4*rss0+100*1024, "resident memory grew past 4× its start + 100 MB")

	// Goroutines return to their idle baseline: no request, job or worker
	// goroutine is left behind. The slack allows for the plan runner's
	// pooled keep-alive connections to the target (at most 10 idle per
	// host, two goroutines each), which are reuse, not leaks; a leak would
	// grow with the tens of thousands of requests above.
	const slack = 2*10 + 5
	srv.client.CloseIdleConnections()
	var vars1 runtimeVars
	deadline := time.Now().Add(30 * time.Second)
	for {
		vars1 = debugVars(t, env["ASTRO_DEBUG_ADDR"])
		if vars1.Goroutines <= vars0.Goroutines+slack {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d at start, still %d after the load:\n%s",
				vars0.Goroutines, vars1.Goroutines, goroutineDump(t, env["ASTRO_DEBUG_ADDR"]))
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Logf("goroutines %d at start, %d after; heap in use %d MB at start, %d MB after",
		vars0.Goroutines, vars1.Goroutines, vars0.Memstats.HeapInuse>>20, vars1.Memstats.HeapInuse>>20)
	require.Less(t, vars1.Memstats.HeapInuse, 4*vars0.Memstats.HeapInuse+100<<20, "heap grew past 4× its start + 100 MB")
	t.Logf("%d executions accepted, all passed", len(execs))
}

// runtimeVars is the part of the server's /debug/vars the soak reads.
type runtimeVars struct {
	Goroutines int `json:"goroutines"`
	Memstats   struct {
		HeapInuse uint64 `json:"HeapInuse"`
	} `json:"memstats"`
}

// goroutineDump returns the server's goroutines, grouped by stack.
func goroutineDump(t *testing.T, addr string) string {
	t.Helper()
	res, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return string(b)
}

// debugVars reads the server's runtime variables from its debug listener.
func debugVars(t *testing.T, addr string) runtimeVars {
	t.Helper()
	res, err := http.Get("http://" + addr + "/debug/vars")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var v runtimeVars
	require.NoError(t, json.NewDecoder(res.Body).Decode(&v))
	require.Positive(t, v.Goroutines)
	return v
}

// soakClient loops until ctx ends over a mix of operations on its own
// plans: 25% create, 25% read, 15% list, 20% execute, 15% read an
// execution, with 20–80 ms between requests.
func soakClient(ctx context.Context, srv *astro, stats *soakStats, target, prefix string) {
	rng := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	var plans, execs []string
	n := 0
	do := func(op, method, path string, body any, want int) *response {
		start := time.Now()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		r, err := srv.do(rctx, method, path, body)
		if !stats.record(op, want, time.Since(start), r, err) {
			return nil
		}
		return r
	}
	decode := func(r *response, v any) bool {
		if err := json.Unmarshal(r.body, v); err != nil {
			stats.mu.Lock()
			stats.fail(fmt.Sprintf("decode %s: %v", r, err))
			stats.mu.Unlock()
			return false
		}
		return true
	}
	for ctx.Err() == nil {
		switch x := rng.Float64(); {
		case len(plans) == 0 || x < 0.25:
			n++
			if r := do("POST /plan", http.MethodPost, "/plan", okPlan(fmt.Sprintf("%s%05d", prefix, n), target), http.StatusCreated); r != nil {
				var p apiPlan
				if decode(r, &p) {
					plans = append(plans, p.ID)
				}
			}
		case x < 0.50:
			do("GET /plan/{id}", http.MethodGet, "/plan/"+plans[rng.IntN(len(plans))], nil, http.StatusOK)
		case x < 0.65:
			q := url.Values{"name": {prefix}, "limit": {"20"}}
			do("GET /plan", http.MethodGet, "/plan?"+q.Encode(), nil, http.StatusOK)
		case x < 0.85 || len(execs) == 0:
			if r := do("POST /plan/{id}/execute", http.MethodPost, "/plan/"+plans[rng.IntN(len(plans))]+"/execute", nil, http.StatusAccepted); r != nil {
				var e apiExecution
				if decode(r, &e) {
					execs = append(execs, e.ID)
					stats.mu.Lock()
					stats.execs = append(stats.execs, e.ID)
					stats.mu.Unlock()
				}
			}
		default:
			do("GET /execution/{id}", http.MethodGet, "/execution/"+execs[rng.IntN(len(execs))], nil, http.StatusOK)
		}
		select {
		case <-ctx.Done():
		case <-time.After(20*time.Millisecond + time.Duration(rng.Int64N(int64(60*time.Millisecond)))):
		}
	}
}
