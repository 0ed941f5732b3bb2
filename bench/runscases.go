package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stepsPerRun is the number of requests of examples/plan.json and of the
// collection.
const stepsPerRun = 3

// assertionsPerRun is the number of checks of examples/plan.json: one
// pm.test each in the collection.
const assertionsPerRun = 9

// pageRepeats is how many times each listing page is timed; the table
// shows the median.
const pageRepeats = 21

// e2eRow is one line of the end-to-end table: astro-runner's value and
// Newman's, either of which may be missing.
type e2eRow struct {
	workload, backend, w string
	unit                 string
	astro, newman        []float64
	// failed holds why runs of this row failed.
	failed []string
	// kind marks the rows that the "best row" comparison reads.
	kind string
}

// The kinds of e2eRow that the comparison of best rows reads.
const (
	kindRuns   = "runs"   // astro-runner executions/s
	kindSteps  = "steps"  // astro-runner steps/s
	kindNewman = "newman" // Newman runs/s
)

// runsCase is one measured thing of the runs workload, run once per round.
type runsCase struct {
	rows []*e2eRow
	do   func(ctx context.Context) ([]float64, error)
	// newman puts the values in the Newman column.
	newman bool
}

// runsCases runs the end-to-end workload on memory and each backend given,
// Newman with 1, 2 and 4 processes, the CLI against one Newman process, and
// the scale check with a long history, o.rounds times, alternating the
// order.
func (r *runner) runsCases(ctx context.Context, pg, sqlite *backend) error {
	o := r.o
	fmt.Fprintln(r.progress, "runs: building astro-runner and the example target")
	bins, err := buildBinaries(ctx)
	if err != nil {
		return err
	}
	defer bins.close()
	target, targetAddr, err := startTarget(ctx, bins)
	if err != nil {
		return err
	}
	defer func() { _ = target.stop() }()
	planBody, err := examplePlan(bins.root, targetAddr)
	if err != nil {
		return err
	}

	var cases []*runsCase
	label := fmt.Sprintf("runs of examples/plan.json, N=%d, %d clients", o.runsN, o.runsConcurrency)
	type store struct {
		name string
		b    *backend
	}
	stores := []store{{"memory", nil}}
	if sqlite != nil {
		stores = append(stores, store{"sqlite", sqlite})
	}
	if pg != nil {
		stores = append(stores, store{"postgres", pg})
	}
	for _, st := range stores {
		for _, w := range o.runsWorkers {
			cases = append(cases, r.runsCase(bins, target, targetAddr, planBody, st.name, st.b, w, label, 0))
		}
	}
	if o.runsHistory > 0 {
		w := o.runsWorkers[len(o.runsWorkers)-1]
		for _, st := range stores[1:] {
			cases = append(cases, r.runsCase(bins, target, targetAddr, planBody, st.name, st.b, w, label, o.runsHistory))
		}
	}
	nm, skip := findNewman("http://"+targetAddr, bins.dir)
	if nm == nil {
		r.newmanSkipped = skip
		fmt.Fprintf(r.progress, "runs: Newman rows skipped: %s\n", skip)
	} else {
		if err := nm.check(ctx, assertionsPerRun); err != nil {
			return err
		}
		for _, p := range o.newmanProcs {
			procs := "process"
			if p > 1 {
				procs = "processes"
			}
			row := &e2eRow{workload: fmt.Sprintf("newman run -n %d, %d %s at once", o.newmanN, p, procs), backend: "–",
				w: "–", unit: "runs/s", kind: kindNewman}
			cases = append(cases, &runsCase{rows: []*e2eRow{row}, newman: true, do: func(ctx context.Context) ([]float64, error) {
				d, err := nm.run(ctx, p, o.newmanN)
				if err != nil {
					return nil, err
				}
				return []float64{float64(p*o.newmanN) / d.Seconds()}, nil
			}})
		}
	}
	cases = append(cases, r.cliCases(bins, targetAddr, nm)...)

	for round := range o.rounds {
		order := slices.Clone(cases)
		if round%2 == 1 {
			slices.Reverse(order)
		}
		for _, c := range order {
			started := time.Now()
			vs, err := c.do(ctx)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				fmt.Fprintf(r.progress, "round %d  FAILED: %s on %s, W=%s: %v\n", round+1, c.rows[0].workload, c.rows[0].backend, c.rows[0].w, err)
				for _, row := range c.rows {
					row.failed = append(row.failed, err.Error())
				}
				continue
			}
			for i, v := range vs {
				row := c.rows[i]
				who := "astro"
				if c.newman {
					who = "newman"
					row.newman = append(row.newman, v)
				} else {
					row.astro = append(row.astro, v)
				}
				fmt.Fprintf(r.progress, "round %d  %-8s %-60s W=%-4s %-7s %14s %s  (%.1fs)\n", round+1, row.backend, row.workload,
					row.w, who, format(v, row.unit), row.unit, time.Since(started).Seconds())
			}
		}
	}
	for _, c := range cases {
		for _, row := range c.rows {
			if !slices.Contains(r.e2e, row) {
				r.e2e = append(r.e2e, row)
			}
		}
	}
	return nil
}

// runsCase is the workload on one backend with w workers, after seeding
// history executions when history > 0 (sqlite and postgres only). Without
// history, it also reports the CPU time per execution of each process.
func (r *runner) runsCase(bins *binaries, target *process, targetAddr string, planBody []byte, name string, b *backend, w int, label string, history int) *runsCase {
	o := r.o
	ws := strconv.Itoa(w)
	if history > 0 {
		label += fmt.Sprintf(", %s executions in history", format(float64(history), ""))
	}
	rows := []*e2eRow{
		{workload: label, backend: name, w: ws, unit: "executions/s", kind: kindRuns},
		{workload: label + ", steps", backend: name, w: ws, unit: "steps/s", kind: kindSteps},
		{workload: label + ", enqueue-to-finished p50", backend: name, w: ws, unit: "ms"},
		{workload: label + ", enqueue-to-finished p99", backend: name, w: ws, unit: "ms"},
	}
	if history > 0 {
		rows = append(rows,
			&e2eRow{workload: fmt.Sprintf("GET /execution page 1 (50 a page), %s in history", format(float64(history), "")), backend: name, w: "–", unit: "ms"},
			&e2eRow{workload: fmt.Sprintf("GET /execution page %d (keyset cursor), %s in history", o.runsLastPage, format(float64(history), "")), backend: name, w: "–", unit: "ms"},
		)
	} else {
		for _, i := range cpuPartsOf(name) {
			rows = append(rows, &e2eRow{workload: label + ", CPU per execution: " + cpuParts[i], backend: name, w: ws, unit: "µs"})
		}
	}
	return &runsCase{rows: rows, do: func(ctx context.Context) ([]float64, error) {
		cfg := &serverConfig{backend: name, workers: w, targetAddr: targetAddr, queueCommit: o.queueCommit, debug: o.runsProfile != ""}
		switch name {
		case "sqlite":
			cfg.sqlitePath = b.freshFile("runs")
			if history > 0 {
				if err := seedSQLiteHistory(ctx, cfg.sqlitePath, history); err != nil {
					return nil, err
				}
			}
		case "postgres":
			u, err := b.freshSchema(ctx, "astro_runs")
			if err != nil {
				return nil, err
			}
			cfg.pgURL = u
			if history > 0 {
				if err := seedPostgresHistory(ctx, u, history); err != nil {
					return nil, err
				}
			}
		}
		srv, err := startServer(ctx, bins, cfg)
		if err != nil {
			return nil, err
		}
		var probe *runsProbe
		var cpu [2]cpuSample
		if history == 0 {
			probe = &runsProbe{
				begin: func() { cpu[0] = sampleCPU(srv.proc.cmd.Process.Pid, target.cmd.Process.Pid) },
				end:   func() { cpu[1] = sampleCPU(srv.proc.cmd.Process.Pid, target.cmd.Process.Pid) },
			}
			if o.runsProfile != "" {
				probe = srv.profiled(probe, filepath.Join(o.runsProfile, fmt.Sprintf("server-%s-w%d.pprof", name, w)), o.runsProfileTime)
			}
		}
		vs, err := r.measureRuns(ctx, srv, b, planBody, history > 0, probe)
		if err == nil && history == 0 {
			perRun := cpu[1].perRun(cpu[0], o.runsN)
			for _, i := range cpuPartsOf(name) {
				vs = append(vs, perRun[i])
			}
		}
		if stopErr := srv.proc.stop(); err == nil && stopErr != nil {
			err = fmt.Errorf("astro-runner serve: %w:\n%s", stopErr, srv.proc.tail())
		}
		return vs, err
	}}
}

// measureRuns runs the workload on a ready server, then times the listing
// pages when pages is set.
func (r *runner) measureRuns(ctx context.Context, srv *runsServer, b *backend, planBody []byte, pages bool, probe *runsProbe) ([]float64, error) {
	o := r.o
	if b != nil {
		if err := b.checkpoint(ctx); err != nil {
			return nil, err
		}
	}
	c := newRunsClient(srv.base, o.runsConcurrency)
	defer c.close()
	res, err := c.runWorkload(ctx, planBody, o.runsN, o.runsConcurrency, probe)
	if err != nil {
		return nil, err
	}
	q := res.quantiles()
	vs := []float64{res.rate(), res.stepRate(), q[0], q[1]}
	if pages {
		first, last, err := c.pageTimes(ctx, o.runsLastPage, pageRepeats)
		if err != nil {
			return nil, err
		}
		vs = append(vs, ms(first), ms(last))
	}
	return vs, nil
}

// cliCases compares astro-runner run, given the plan file o.cliN times, with
// one newman run of o.cliN iterations, each timed from start to exit.
func (r *runner) cliCases(bins *binaries, targetAddr string, nm *newman) []*runsCase {
	k := r.o.cliN
	label := fmt.Sprintf("%d runs in one process, start-up included: astro-runner run (plan ×%d) vs newman run -n %d", k, k, k)
	rows := []*e2eRow{
		{workload: label, backend: "–", w: "–", unit: "s"},
		{workload: label + ", rate", backend: "–", w: "–", unit: "runs/s"},
	}
	astro := &runsCase{rows: rows, do: func(ctx context.Context) ([]float64, error) {
		d, err := runCLI(ctx, bins, targetAddr, k)
		if err != nil {
			return nil, err
		}
		return []float64{d.Seconds(), float64(k) / d.Seconds()}, nil
	}}
	if nm == nil {
		return []*runsCase{astro}
	}
	peer := &runsCase{rows: rows, newman: true, do: func(ctx context.Context) ([]float64, error) {
		d, err := nm.run(ctx, 1, k)
		if err != nil {
			return nil, err
		}
		return []float64{d.Seconds(), float64(k) / d.Seconds()}, nil
	}}
	return []*runsCase{astro, peer}
}

// printE2E prints the end-to-end table and the comparison of best rows.
func (r *runner) printE2E(w io.Writer) {
	if len(r.e2e) == 0 {
		return
	}
	bestRuns, bestRunsRow := bestOf(r.e2e, kindRuns, func(x *e2eRow) []float64 { return x.astro })
	bestNewman, bestNewmanRow := bestOf(r.e2e, kindNewman, func(x *e2eRow) []float64 { return x.newman })
	fmt.Fprintln(w, "\n| workload | backend | W | astro-runner | Newman | ratio |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
	for _, row := range r.e2e {
		cell := func(vs []float64) (float64, string) {
			m, ok := median(vs)
			if !ok {
				return 0, "–"
			}
			return m, format(m, row.unit) + " " + row.unit
		}
		a, aCell := cell(row.astro)
		n, nCell := cell(row.newman)
		// The runs rows compare with Newman's best row, in runs and in
		// requests (its steps).
		switch {
		case row.kind == kindRuns && bestNewmanRow != nil:
			n, nCell = bestNewman, format(bestNewman, "runs/s")+" runs/s (best)"
		case row.kind == kindSteps && bestNewmanRow != nil:
			n, nCell = bestNewman*stepsPerRun, format(bestNewman*stepsPerRun, "steps/s")+" steps/s (best)"
		}
		ratio := "–"
		if len(row.failed) > 0 {
			aCell = fmt.Sprintf("FAILED (%d of %d runs)", len(row.failed), len(row.failed)+len(row.astro)+len(row.newman))
		} else if aCell != "–" && n > 0 {
			ratio = fmt.Sprintf("%.2f×", a/n)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", row.workload, row.backend, row.w, aCell, nCell, ratio)
	}
	if bestRunsRow != nil && bestNewmanRow != nil {
		fmt.Fprintf(w, "\nBest rows: astro-runner %s executions/s (%s, W=%s) / Newman %s runs/s (%s) = %.2f×.\n",
			format(bestRuns, ""), bestRunsRow.backend, bestRunsRow.w, format(bestNewman, ""),
			strings.TrimPrefix(bestNewmanRow.workload, fmt.Sprintf("newman run -n %d, ", r.o.newmanN)), bestRuns/bestNewman)
	}
	if r.newmanSkipped != "" {
		fmt.Fprintf(w, "\nNewman rows skipped: %s.\n", r.newmanSkipped)
	}
	if r.o.rounds > 1 {
		fmt.Fprintf(w, "\nEach cell is the median of %d runs; the cases alternated their order.\n", r.o.rounds)
	}
}

// bestOf returns the highest median of the rows of a kind, and its row.
func bestOf(rows []*e2eRow, kind string, vals func(*e2eRow) []float64) (float64, *e2eRow) {
	var best float64
	var bestRow *e2eRow
	for _, row := range rows {
		if row.kind != kind || len(row.failed) > 0 {
			continue
		}
		if m, ok := median(vals(row)); ok && m > best {
			best, bestRow = m, row
		}
	}
	return best, bestRow
}

// e2eFailed returns an error if any row of the end-to-end table failed.
func (r *runner) e2eFailed() error {
	n := 0
	for _, row := range r.e2e {
		if len(row.failed) > 0 {
			n++
		}
	}
	if n > 0 {
		return fmt.Errorf("%d rows of the runs workload failed (see FAILED above)", n)
	}
	return nil
}
