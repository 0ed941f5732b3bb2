package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"time"

	"github.com/astro-runner/astro-runner/internal/metrics"
)

// scrapeInterval is how often the benchmark scrapes the metrics of a pool
// that has them: far more often than Prometheus would (15s by default), so
// that the scrapes' own cost is not hidden.
const scrapeInterval = time.Second

// withMetrics gives q the product's metrics, wired as serve wires them:
// the worker pool's observer (astroQueue.start). Other instruments, such as
// a metrics decorator around the store, belong here too.
func withMetrics(q *astroQueue) *astroQueue {
	q.metrics = metrics.New(metrics.Options{})
	return q
}

// scrapeEvery gets h's metrics every interval until ctx ends, as a
// Prometheus server would, and throws them away.
func scrapeEvery(ctx context.Context, h http.Handler, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			_, _ = io.Copy(io.Discard, rec.Body)
		}
	}
}

// overheadRow is one line of the metrics table: one workload's values with
// metrics off and on.
type overheadRow struct {
	workload, backend, w, unit string
	off, on                    []float64
}

// overheadCases runs astro-runner's burn-down with metrics off and on, in
// turns, on one backend.
func (r *runner) overheadCases(ctx context.Context, b *backend) error {
	n := r.o.n
	if n == 0 {
		n = map[string]int{"postgres": 200000, "sqlite": 50000}[b.name]
	}
	systems := map[bool]*astroSystem{}
	for _, on := range []bool{false, true} {
		systems[on] = &astroSystem{b: b, log: r.log.With("system", "astro-runner", "metrics", on),
			asyncQueueCommit: r.o.queueCommit == "async", metrics: on}
	}
	for _, w := range r.o.workers {
		row := &overheadRow{workload: fmt.Sprintf("burn-down, N=%d", n), backend: b.name, w: strconv.Itoa(w), unit: "jobs/s"}
		order := []bool{false, true}
		for round := range r.o.rounds {
			for _, on := range order {
				started := time.Now()
				v, err := systems[on].Burndown(ctx, n, w)
				if err != nil {
					return fmt.Errorf("astro with metrics %s on %s, %s, W=%d: %w", onOff(on), b.name, row.workload, w, err)
				}
				if on {
					row.on = append(row.on, v)
				} else {
					row.off = append(row.off, v)
				}
				fmt.Fprintf(r.progress, "round %d  %-8s %-44s W=%-4d metrics %-3s %14s %s  (%.1fs)\n", round+1, b.name, row.workload,
					w, onOff(on), format(v, row.unit), row.unit, time.Since(started).Seconds())
			}
			slices.Reverse(order)
		}
		r.overhead = append(r.overhead, row)
	}
	return nil
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}

// printOverhead prints the metrics table, if any case ran.
func (r *runner) printOverhead(w io.Writer) {
	if len(r.overhead) == 0 {
		return
	}
	fmt.Fprintln(w, "\nastro-runner with its metrics off and on (on/off below 1 is the cost):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | backend | W | metrics off | metrics on | on/off |")
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|")
	for _, row := range r.overhead {
		off, _ := median(row.off)
		on, _ := median(row.on)
		ratio := "–"
		if off > 0 {
			ratio = fmt.Sprintf("%.3f", on/off)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s %s | %s %s | %s |\n", row.workload, row.backend, row.w,
			format(off, row.unit), row.unit, format(on, row.unit), row.unit, ratio)
	}
	if r.o.rounds > 1 {
		fmt.Fprintf(w, "\nEach cell is the median of %d runs; off and on alternated which ran first.\n", r.o.rounds)
	}
}
