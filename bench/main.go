// Command bench runs the same queue workloads on astro-runner's job queue
// and on River, against the same database server in one run, alternating the
// two, and prints a markdown table with the ratio astro-runner / River per
// row. It also load-tests the HTTP API of the real server. See BENCHMARKS.md.
//
// It is its own module so that River never becomes a dependency of the
// product.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are the command's flags.
type options struct {
	backends        []string
	pgURL           string
	pgMaxConns      int
	sqliteDir       string
	n               int
	workers         []int
	workloads       map[string]bool
	systems         map[string]bool
	rounds          int
	enqueueN        int
	singleN         int
	latencyRate     float64
	latencyDuration time.Duration
	latencyWorkers  int
	httpConcurrency int
	httpDuration    time.Duration
	riverCooldown   time.Duration
	riverPoll       time.Duration
	cpuProfile      string
	pgWaits         bool
	queueCommit     string
	metrics         string
	tracing         string
	logLevel        slog.Level
	// The runs workload.
	runsN           int
	runsConcurrency int
	runsWorkers     []int
	runsHistory     int
	runsLastPage    int
	newmanN         int
	newmanProcs     []int
	cliN            int
	runsProfile     string
	runsProfileTime time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	backend := fs.String("backend", "all", "postgres, sqlite or all")
	fs.StringVar(&o.pgURL, "pg-url", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable",
		"admin connection URL; the benchmark creates and uses the database "+benchDatabase)
	fs.IntVar(&o.pgMaxConns, "pg-max-conns", 0, "connection pool size of each system on Postgres (0: pgxpool's default, max(4, 4×cores))")
	fs.StringVar(&o.sqliteDir, "sqlite-dir", "", "directory for the SQLite files (default: a new temporary directory)")
	fs.IntVar(&o.n, "n", 0, "burn-down jobs (0: 200000 on Postgres, 50000 on SQLite)")
	workers := fs.String("workers", "50,200", "comma-separated worker counts W for the burn-down")
	workloads := fs.String("workloads", "burndown,enqueue,latency,http,runs", "comma-separated workloads")
	systems := fs.String("systems", "astro,river", "comma-separated systems to run (astro, river), e.g. to profile one")
	fs.IntVar(&o.rounds, "rounds", 1, "runs of each system per row, alternating; the table shows the median")
	fs.IntVar(&o.enqueueN, "enqueue-n", 100000, "rows of the batch-insert workload (batches of 5000)")
	fs.IntVar(&o.singleN, "single-n", 5000, "rows of the single-insert workload (one transaction each)")
	fs.Float64Var(&o.latencyRate, "latency-rate", 200, "jobs/s of the pick-up latency workload")
	fs.DurationVar(&o.latencyDuration, "latency-duration", 10*time.Second, "duration of the pick-up latency workload")
	fs.IntVar(&o.latencyWorkers, "latency-workers", 50, "workers of the pick-up latency workload")
	fs.IntVar(&o.httpConcurrency, "http-concurrency", 32, "concurrent clients of the HTTP load")
	fs.DurationVar(&o.httpDuration, "http-duration", 10*time.Second, "duration of each HTTP load")
	fs.DurationVar(&o.riverCooldown, "river-fetch-cooldown", 2*time.Millisecond, "River FetchCooldown (River's benchmark: 2ms; its default: 100ms)")
	fs.DurationVar(&o.riverPoll, "river-fetch-poll", 20*time.Millisecond, "River FetchPollInterval (River's benchmark: 20ms; its default: 1s)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to this file")
	fs.BoolVar(&o.pgWaits, "pg-waits", false, "sample pg_stat_activity every 10ms during Postgres burn-downs and print the wait events")
	fs.StringVar(&o.queueCommit, "astro-queue-commit", "async", "astro-runner's ASTRO_QUEUE_COMMIT on Postgres: async (the product's default) or sync")
	fs.StringVar(&o.tracing, "tracing", "off", "astro-runner's tracing: off, or both (also a table of the burn-down with every job traced, off and on, in turns; spans are batched and dropped, not sent)")
	fs.StringVar(&o.metrics, "metrics", "off", "astro-runner's metrics: off, on (in every workload), or both (also a table of the burn-down with metrics off and on, in turns)")
	fs.IntVar(&o.runsN, "runs-n", 3000, "executions of examples/plan.json per run of the runs workload")
	fs.IntVar(&o.runsConcurrency, "runs-concurrency", 64, "concurrent POST /plan/{id}/execute requests of the runs workload")
	runsWorkers := fs.String("runs-workers", "8,32", "comma-separated ASTRO_WORKERS values W of the runs workload's server")
	fs.IntVar(&o.runsHistory, "runs-history", 100000, "executions seeded into the history before the scale check of the runs workload (0: no scale check)")
	fs.IntVar(&o.runsLastPage, "runs-page", 400, "the deep page of GET /execution the scale check times, besides page 1")
	fs.IntVar(&o.newmanN, "newman-n", 200, "iterations of each newman process of the runs workload")
	newmanProcs := fs.String("newman-procs", "1,2,4", "comma-separated numbers of newman processes run at once")
	fs.IntVar(&o.cliN, "cli-n", 100, "runs of the CLI comparison: astro-runner run given the plan file this many times vs newman run -n this")
	fs.StringVar(&o.runsProfile, "runs-profile", "", "directory for CPU profiles of the runs workload's server (ASTRO_DEBUG_ADDR), one per backend and W, taken from the first execution queued")
	fs.DurationVar(&o.runsProfileTime, "runs-profile-time", 3*time.Second, "length of each -runs-profile profile")
	logLevel := fs.String("log-level", "warn", "level of the systems' logs on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch *backend {
	case "all":
		o.backends = []string{"postgres", "sqlite"}
	case "postgres", "sqlite":
		o.backends = []string{*backend}
	default:
		return nil, fmt.Errorf("-backend: want postgres, sqlite or all, not %q", *backend)
	}
	var err error
	if o.workers, err = positiveList(*workers); err != nil {
		return nil, fmt.Errorf("-workers: %w", err)
	}
	if o.runsWorkers, err = positiveList(*runsWorkers); err != nil {
		return nil, fmt.Errorf("-runs-workers: %w", err)
	}
	if o.newmanProcs, err = positiveList(*newmanProcs); err != nil {
		return nil, fmt.Errorf("-newman-procs: %w", err)
	}
	for name, v := range map[string]int{"-runs-n": o.runsN, "-runs-concurrency": o.runsConcurrency, "-runs-page": o.runsLastPage,
		"-newman-n": o.newmanN, "-cli-n": o.cliN} {
		if v < 1 {
			return nil, fmt.Errorf("%s must be at least 1", name)
		}
	}
	if o.runsHistory < 0 {
		return nil, errors.New("-runs-history must not be negative")
	}
	if o.runsHistory > 0 && o.runsHistory < o.runsLastPage*50 {
		return nil, fmt.Errorf("-runs-history %d is too short for page %d of 50 executions: give 0 or at least %d", o.runsHistory, o.runsLastPage, o.runsLastPage*50)
	}
	if o.workloads, err = set(*workloads, "burndown", "enqueue", "latency", "http", "runs"); err != nil {
		return nil, fmt.Errorf("-workloads: %w", err)
	}
	if o.systems, err = set(*systems, "astro", "river"); err != nil {
		return nil, fmt.Errorf("-systems: %w", err)
	}
	if o.queueCommit != "async" && o.queueCommit != "sync" {
		return nil, fmt.Errorf("-astro-queue-commit: want async or sync, not %q", o.queueCommit)
	}
	if o.tracing != "off" && o.tracing != "both" {
		return nil, fmt.Errorf("-tracing: want off or both, not %q", o.tracing)
	}
	if o.metrics != "off" && o.metrics != "on" && o.metrics != "both" {
		return nil, fmt.Errorf("-metrics: want off, on or both, not %q", o.metrics)
	}
	if o.rounds < 1 {
		return nil, errors.New("-rounds must be at least 1")
	}
	if err := o.logLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	return o, nil
}

// positiveList parses a comma-separated list of positive numbers.
func positiveList(list string) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func set(list string, known ...string) (map[string]bool, error) {
	m := map[string]bool{}
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(known, s) {
			return nil, fmt.Errorf("unknown %q: want some of %s", s, strings.Join(known, ", "))
		}
		m[s] = true
	}
	return m, nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "bench:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: o.logLevel}))
	r := &runner{o: o, log: log, progress: stderr}

	var sqliteBackend, pgBackend *backend
	for _, name := range o.backends {
		var b *backend
		switch name {
		case "postgres":
			if b, err = openPostgres(ctx, o.pgURL, int32(o.pgMaxConns)); err != nil {
				return err
			}
			pgBackend = b
		case "sqlite":
			if b, err = newSQLiteBackend(o.sqliteDir); err != nil {
				return err
			}
			sqliteBackend = b
		}
		defer b.close()
		if err := r.queueCases(ctx, b); err != nil {
			return err
		}
		if o.metrics == "both" && o.workloads["burndown"] {
			if err := r.overheadCases(ctx, b, "metrics"); err != nil {
				return err
			}
		}
		if o.tracing == "both" && o.workloads["burndown"] {
			if err := r.overheadCases(ctx, b, "tracing"); err != nil {
				return err
			}
		}
	}
	if o.workloads["http"] {
		if err := r.httpCases(ctx, pgBackend, sqliteBackend); err != nil {
			return err
		}
	}

	if o.workloads["runs"] {
		if err := r.runsCases(ctx, pgBackend, sqliteBackend); err != nil {
			return err
		}
	}

	fmt.Fprintf(stdout, "\n%s · %d cores · %s · %s\n\n", time.Now().Format("2006-01-02 15:04 MST"), runtime.NumCPU(),
		runtime.Version(), pgBackend.serverVersion(ctx))
	if len(r.rows) > 0 {
		r.printTable(stdout)
	}
	r.printOverhead(stdout)
	r.printE2E(stdout)
	return r.e2eFailed()
}

// runner runs the cases and gathers the table.
type runner struct {
	o        *options
	log      *slog.Logger
	progress io.Writer
	rows     []*row
	// overhead are the rows of the metrics and tracing tables (-metrics
	// both, -tracing both).
	overhead []*overheadRow
	// e2e are the rows of the runs workload's table, astro-runner beside
	// Newman.
	e2e []*e2eRow
	// newmanSkipped says why the Newman rows were skipped, if they were.
	newmanSkipped string
}

// row is one line of the table.
type row struct {
	workload, backend, w string
	unit                 string
	astro, river         []float64
	// noPeer marks rows that River has no counterpart for.
	noPeer bool
}

// measure is what one system's run of a case gives: one value per row of
// the case.
type measure func(ctx context.Context, sys queueSystem) ([]float64, error)

// queueCases runs every queue workload on one backend.
func (r *runner) queueCases(ctx context.Context, b *backend) error {
	o := r.o
	systems := map[string]queueSystem{
		"astro": &astroSystem{b: b, log: r.log.With("system", "astro-runner"), asyncQueueCommit: r.o.queueCommit == "async", metrics: o.metrics == "on"},
		"river": &riverSystem{b: b, log: r.log.With("system", "river"), fetchCooldown: o.riverCooldown, fetchPoll: o.riverPoll},
	}
	if o.workloads["burndown"] {
		n := o.n
		if n == 0 {
			n = map[string]int{"postgres": 200000, "sqlite": 50000}[b.name]
		}
		for _, w := range o.workers {
			rows := []*row{{workload: fmt.Sprintf("burn-down, N=%d", n), backend: b.name, w: strconv.Itoa(w), unit: "jobs/s"}}
			err := r.runCase(ctx, b, systems, rows, func(ctx context.Context, sys queueSystem) ([]float64, error) {
				v, err := sys.Burndown(ctx, n, w)
				return []float64{v}, err
			})
			if err != nil {
				return err
			}
		}
	}
	if o.workloads["enqueue"] {
		rows := []*row{{workload: fmt.Sprintf("enqueue, batches of %d, N=%d", batchSize, o.enqueueN), backend: b.name, w: "–", unit: "rows/s"}}
		err := r.runCase(ctx, b, systems, rows, func(ctx context.Context, sys queueSystem) ([]float64, error) {
			v, err := sys.EnqueueBatch(ctx, o.enqueueN, batchSize)
			return []float64{v}, err
		})
		if err != nil {
			return err
		}
		rows = []*row{{workload: fmt.Sprintf("enqueue, single, 1 tx/job, N=%d", o.singleN), backend: b.name, w: "–", unit: "rows/s"}}
		err = r.runCase(ctx, b, systems, rows, func(ctx context.Context, sys queueSystem) ([]float64, error) {
			v, err := sys.EnqueueSingle(ctx, o.singleN)
			return []float64{v}, err
		})
		if err != nil {
			return err
		}
	}
	if o.workloads["latency"] {
		name := fmt.Sprintf("pick-up latency %s at %g jobs/s", "%s", o.latencyRate)
		w := strconv.Itoa(o.latencyWorkers)
		rows := []*row{
			{workload: fmt.Sprintf(name, "p50"), backend: b.name, w: w, unit: "ms"},
			{workload: fmt.Sprintf(name, "p99"), backend: b.name, w: w, unit: "ms"},
		}
		err := r.runCase(ctx, b, systems, rows, func(ctx context.Context, sys queueSystem) ([]float64, error) {
			l, err := sys.Latency(ctx, o.latencyRate, o.latencyDuration, o.latencyWorkers)
			if err != nil {
				return nil, err
			}
			return []float64{ms(l.quantile(0.5)), ms(l.quantile(0.99))}, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// runCase runs m on each system o.rounds times, alternating which goes
// first, and fills rows.
func (r *runner) runCase(ctx context.Context, b *backend, systems map[string]queueSystem, rows []*row, m measure) error {
	order := []string{"astro", "river"}
	for round := range r.o.rounds {
		for _, name := range order {
			if !r.o.systems[name] {
				continue
			}
			var sampler *waitSampler
			if r.o.pgWaits && b.admin != nil && strings.HasPrefix(rows[0].workload, "burn-down") {
				sampler = startWaitSampler(ctx, b)
			}
			started := time.Now()
			vs, err := m(ctx, systems[name])
			if sampler != nil {
				sampler.stop(r.progress, name)
			}
			if err != nil {
				return fmt.Errorf("%s on %s, %s, W=%s: %w", name, b.name, rows[0].workload, rows[0].w, err)
			}
			for i, v := range vs {
				if name == "astro" {
					rows[i].astro = append(rows[i].astro, v)
				} else {
					rows[i].river = append(rows[i].river, v)
				}
				fmt.Fprintf(r.progress, "round %d  %-8s %-44s W=%-4s %-12s %14s %s  (%.1fs)\n", round+1, b.name, rows[i].workload,
					rows[i].w, name, format(v, rows[i].unit), rows[i].unit, time.Since(started).Seconds())
			}
		}
		slices.Reverse(order)
	}
	r.rows = append(r.rows, rows...)
	return nil
}

func median(vs []float64) (float64, bool) {
	if len(vs) == 0 {
		return 0, false
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2], true
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2, true
}

func format(v float64, unit string) string {
	if unit == "ms" || unit == "s" {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (r *runner) printTable(w io.Writer) {
	fmt.Fprintln(w, "| workload | backend | W | astro-runner | River | ratio |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
	for _, row := range r.rows {
		a, okA := median(row.astro)
		rv, okR := median(row.river)
		cell := func(v float64, ok bool) string {
			if !ok {
				return "–"
			}
			return format(v, row.unit) + " " + row.unit
		}
		ratio := "–"
		if okA && okR && rv > 0 {
			ratio = fmt.Sprintf("%.2f×", a/rv)
		}
		peer := cell(rv, okR)
		if row.noPeer {
			peer = "n/a"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", row.workload, row.backend, row.w, cell(a, okA), peer, ratio)
	}
	if r.o.rounds > 1 {
		fmt.Fprintf(w, "\nEach cell is the median of %d runs; the systems alternated which ran first.\n", r.o.rounds)
	}
}
