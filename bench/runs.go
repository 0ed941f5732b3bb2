package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// runsServer is one astro-runner server process, serving the API and
// running the workers, on a store of its own.
type runsServer struct {
	proc *process
	base string
	// debugBase is the URL of its ASTRO_DEBUG_ADDR listener, if any.
	debugBase string
}

// serverConfig is how one astro-runner server of the runs workload is
// configured: the backend's variables and the worker count.
type serverConfig struct {
	backend string // memory, sqlite or postgres
	// sqlitePath and pgURL locate the store of the sqlite and postgres
	// backends.
	sqlitePath string
	pgURL      string
	workers    int
	// targetAddr is the example target's host:port, the only destination
	// the network policy allows.
	targetAddr  string
	queueCommit string
	// debug serves Go's profiles on a loopback port of its own.
	debug bool
}

// env returns the server's environment, as the README's configuration
// table names it, with debugAddr as ASTRO_DEBUG_ADDR when it is set.
func (c *serverConfig) env(addr, debugAddr string) []string {
	env := []string{
		"STORAGE_BACKEND=" + c.backend,
		"ASTRO_ADDR=" + addr,
		"ASTRO_WORKERS=" + strconv.Itoa(c.workers),
		// Plans may call the target and nothing else: a non-empty allow
		// list admits only what it lists.
		"ASTRO_TARGET_ALLOW=" + c.targetAddr,
		// Logged as in production (one line per request and per finished
		// execution), into a file.
		"ASTRO_LOG_FORMAT=json",
		"ASTRO_LOG_LEVEL=info",
	}
	if debugAddr != "" {
		env = append(env, "ASTRO_DEBUG_ADDR="+debugAddr)
	}
	switch c.backend {
	case "sqlite":
		env = append(env, "SQLITE_PATH="+c.sqlitePath)
	case "postgres":
		env = append(env, "POSTGRESQL_URL="+c.pgURL, "ASTRO_QUEUE_COMMIT="+c.queueCommit)
	}
	return env
}

// startServer runs astro-runner serve with cfg and waits until it is
// ready.
func startServer(ctx context.Context, bins *binaries, cfg *serverConfig) (*runsServer, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	debugAddr := ""
	if cfg.debug {
		if debugAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	p, err := startProcess("astro-runner serve", bins.astro, filepath.Join(bins.dir, "server-"+cfg.backend+".log"), cfg.env(addr, debugAddr), "serve")
	if err != nil {
		return nil, err
	}
	base := "http://" + addr
	if err := p.waitHTTP(ctx, base+"/readyz", 2*time.Minute); err != nil {
		_ = p.stop()
		return nil, err
	}
	srv := &runsServer{proc: p, base: base}
	if debugAddr != "" {
		srv.debugBase = "http://" + debugAddr
	}
	return srv, nil
}

// profiled returns probe with the server's CPU profile of the next d
// written to file from the moment the workload begins; end waits for it.
func (s *runsServer) profiled(probe *runsProbe, file string, d time.Duration) *runsProbe {
	done := make(chan struct{})
	return &runsProbe{
		begin: func() {
			probe.begin()
			go func() {
				defer close(done)
				u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", s.debugBase, max(1, int(d.Seconds())))
				if err := download(u, file); err != nil {
					fmt.Fprintf(os.Stderr, "bench: profile of the server: %v\n", err)
				}
			}()
		},
		end: func() {
			probe.end()
			<-done
		},
	}
}

// download writes the body of a GET of u to file.
func download(u, file string) error {
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// examplePlan returns the body of POST /plan for examples/plan.json, with
// its base_url pointing at the target.
func examplePlan(root, targetAddr string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(root, "examples", "plan.json"))
	if err != nil {
		return nil, err
	}
	var p map[string]any
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("examples/plan.json: %w", err)
	}
	doc, _ := p["document"].(map[string]any)
	vars, _ := doc["variables"].(map[string]any)
	if vars == nil {
		return nil, errors.New("examples/plan.json: no document.variables")
	}
	if _, ok := vars["base_url"]; !ok {
		return nil, errors.New("examples/plan.json: no base_url variable")
	}
	vars["base_url"] = "http://" + targetAddr
	return json.Marshal(p)
}

// pollEvery is how often the workload looks whether every execution is
// final: seldom, so that its listing queries stay a small part of the
// load. The run's time comes from the executions' finished_at.
const pollEvery = 100 * time.Millisecond

// runsResult is one run of the runs workload.
type runsResult struct {
	n, steps int
	elapsed  time.Duration
	// lastFinished is the latest finished_at of the executions.
	lastFinished time.Time
	// toFinish is each execution's finished_at minus created_at, sorted.
	toFinish *latencies
}

func (r *runsResult) rate() float64     { return float64(r.n) / r.elapsed.Seconds() }
func (r *runsResult) stepRate() float64 { return float64(r.steps) / r.elapsed.Seconds() }
func (r *runsResult) quantiles() [2]float64 {
	return [2]float64{ms(r.toFinish.quantile(0.5)), ms(r.toFinish.quantile(0.99))}
}

// apiExecution is the part of an execution that the workload reads.
type apiExecution struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Result     *struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Steps  []struct {
			Name   string `json:"name"`
			Status string `json:"status"`
			Error  string `json:"error"`
		} `json:"steps"`
	} `json:"result"`
}

type apiExecutionList struct {
	Executions []apiExecution `json:"executions"`
	NextCursor string         `json:"next_cursor"`
}

// runsProbe is what the workload measures besides time: hooks run around
// the timed part.
type runsProbe struct {
	begin, end func()
}

// runsClient talks to one server.
type runsClient struct {
	base   string
	client *http.Client
}

func newRunsClient(base string, c int) *runsClient {
	return &runsClient{base: base, client: &http.Client{
		Timeout:   60 * time.Second,
		Transport: &http.Transport{MaxIdleConns: c, MaxIdleConnsPerHost: c, MaxConnsPerHost: c},
	}}
}

func (c *runsClient) close() { c.client.CloseIdleConnections() }

// runWorkload creates the example plan, queues n executions of it from c
// concurrent clients, and waits until every one is final. It fails unless
// every execution passed. When probe is not nil, its begin and end run
// just before the first execution is queued and just after the last is
// final.
func (c *runsClient) runWorkload(ctx context.Context, planBody []byte, n, conc int, probe *runsProbe) (*runsResult, error) {
	var plan struct {
		ID string `json:"id"`
	}
	if err := call(ctx, c.client, http.MethodPost, c.base+"/plan", planBody, http.StatusCreated, &plan); err != nil {
		return nil, fmt.Errorf("create the plan: %w", err)
	}
	if probe != nil {
		probe.begin()
	}
	start := time.Now()
	if err := c.enqueue(ctx, plan.ID, n, conc); err != nil {
		return nil, err
	}
	if err := c.waitFinal(ctx, pollEvery); err != nil {
		return nil, err
	}
	seen := time.Since(start)
	if probe != nil {
		probe.end()
	}
	execs, err := c.listAll(ctx, url.Values{"plan_id": {plan.ID}})
	if err != nil {
		return nil, err
	}
	res, err := checkRuns(execs, n)
	if err != nil {
		return nil, err
	}
	// The run ends when the last execution finished, as the server
	// stamped it, not when a look saw that: the looks are far apart.
	res.elapsed = seen
	if d := res.lastFinished.Sub(start); d > 0 && d < seen {
		res.elapsed = d
	}
	return res, nil
}

// enqueue sends n POST /plan/{id}/execute requests from conc goroutines.
func (c *runsClient) enqueue(ctx context.Context, planID string, n, conc int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	u := c.base + "/plan/" + planID + "/execute"
	for range conc {
		wg.Go(func() {
			for ctx.Err() == nil && next.Add(1) <= int64(n) {
				if err := call(ctx, c.client, http.MethodPost, u, nil, http.StatusAccepted, nil); err != nil {
					cancel(fmt.Errorf("execute the plan: %w", err))
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// waitFinal polls until no execution is queued or running: two index
// reads (status, id) per look, every interval.
func (c *runsClient) waitFinal(ctx context.Context, every time.Duration) error {
	deadline := time.Now().Add(drainTimeout)
	for {
		busy := false
		for _, st := range []string{"queued", "running", "queued"} {
			var page apiExecutionList
			if err := call(ctx, c.client, http.MethodGet, c.base+"/execution?limit=1&status="+st, nil, http.StatusOK, &page); err != nil {
				return fmt.Errorf("poll executions: %w", err)
			}
			if len(page.Executions) > 0 {
				busy = true
				break
			}
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("executions still unfinished after %s", drainTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(every):
		}
	}
}

// listAll walks every page of GET /execution with the query q, 200 a page.
func (c *runsClient) listAll(ctx context.Context, q url.Values) ([]apiExecution, error) {
	var all []apiExecution
	cursor := ""
	for {
		qq := url.Values{}
		for k, v := range q {
			qq[k] = v
		}
		qq.Set("limit", "200")
		if cursor != "" {
			qq.Set("cursor", cursor)
		}
		var page apiExecutionList
		if err := call(ctx, c.client, http.MethodGet, c.base+"/execution?"+qq.Encode(), nil, http.StatusOK, &page); err != nil {
			return nil, fmt.Errorf("list executions: %w", err)
		}
		all = append(all, page.Executions...)
		if page.NextCursor == "" {
			return all, nil
		}
		cursor = page.NextCursor
	}
}

// checkRuns checks that execs are n passed executions, each with a result
// whose steps all passed, and returns their steps and latencies.
func checkRuns(execs []apiExecution, n int) (*runsResult, error) {
	res := &runsResult{n: len(execs), toFinish: &latencies{}}
	var bad []string
	for _, e := range execs {
		ok := e.Status == "passed" && e.FinishedAt != nil && e.Result != nil && e.Result.Status == "passed" && len(e.Result.Steps) > 0
		if ok {
			for _, s := range e.Result.Steps {
				ok = ok && s.Status == "passed"
			}
		}
		if !ok {
			if len(bad) < 3 {
				bad = append(bad, describeExecution(e))
			} else {
				bad = append(bad, "")
			}
			continue
		}
		res.steps += len(e.Result.Steps)
		res.toFinish.d = append(res.toFinish.d, e.FinishedAt.Sub(e.CreatedAt))
		if e.FinishedAt.After(res.lastFinished) {
			res.lastFinished = *e.FinishedAt
		}
	}
	slices.Sort(res.toFinish.d)
	switch {
	case len(bad) > 0:
		return nil, fmt.Errorf("%d of %d executions did not pass; the first: %s", len(bad), len(execs), joinNonEmpty(bad))
	case len(execs) != n:
		return nil, fmt.Errorf("found %d executions of the plan, want %d", len(execs), n)
	}
	return res, nil
}

func describeExecution(e apiExecution) string {
	s := fmt.Sprintf("%s status %s", e.ID, e.Status)
	if e.Result != nil {
		s += ", result " + e.Result.Status
		if e.Result.Error != "" {
			s += " (" + e.Result.Error + ")"
		}
		for _, st := range e.Result.Steps {
			if st.Status != "passed" {
				s += fmt.Sprintf(", step %q %s", st.Name, st.Status)
				if st.Error != "" {
					s += " (" + st.Error + ")"
				}
			}
		}
	}
	return s
}

func joinNonEmpty(ss []string) string {
	out := ""
	for _, s := range ss {
		if s == "" {
			continue
		}
		if out != "" {
			out += "; "
		}
		out += s
	}
	return out
}

// pageTimes walks GET /execution (no filter, the default 50 a page) to
// page last, then times page 1 and page last k times each, and returns
// their median times.
func (c *runsClient) pageTimes(ctx context.Context, last, k int) (first, lastPage time.Duration, err error) {
	cursor := ""
	for range last - 1 {
		var page apiExecutionList
		if err := call(ctx, c.client, http.MethodGet, c.base+"/execution?"+url.Values{"cursor": {cursor}}.Encode(), nil, http.StatusOK, &page); err != nil {
			return 0, 0, fmt.Errorf("list executions: %w", err)
		}
		if page.NextCursor == "" {
			return 0, 0, fmt.Errorf("GET /execution has fewer than %d pages", last)
		}
		cursor = page.NextCursor
	}
	timeIt := func(q string) (time.Duration, error) {
		l := &latencies{}
		for range k {
			t := time.Now()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/execution"+q, nil)
			if err != nil {
				return 0, err
			}
			resp, err := c.client.Do(req)
			if err != nil {
				return 0, err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				return 0, err
			}
			if resp.StatusCode != http.StatusOK {
				return 0, fmt.Errorf("GET /execution%s: status %d", q, resp.StatusCode)
			}
			l.d = append(l.d, time.Since(t))
		}
		slices.Sort(l.d)
		return l.quantile(0.5), nil
	}
	if first, err = timeIt(""); err != nil {
		return 0, 0, err
	}
	if lastPage, err = timeIt("?" + url.Values{"cursor": {cursor}}.Encode()); err != nil {
		return 0, 0, err
	}
	return first, lastPage, nil
}
