package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"syscall"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/astro-runner/astro-runner/internal/metrics"
)

// scrapeInterval is how often the benchmark scrapes the metrics of a pool
// that has them: far more often than Prometheus would (15s by default), so
// that the scrapes' own cost is not hidden.
const scrapeInterval = time.Second

// withTracing gives q a tracer provider as serve sets one up when
// OTEL_EXPORTER_OTLP_ENDPOINT is set, every span sampled and batched, but
// exported to nowhere: the cost measured is the spans', not a collector's.
func withTracing(q *astroQueue) *astroQueue {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	q.tp = tp
	closeStore := q.close
	q.close = func() { _ = tp.Shutdown(context.Background()); closeStore() }
	return q
}

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

// overheadRow is one line of an instrument's table: one workload's values
// with the instrument (metrics or tracing) off and on.
type overheadRow struct {
	instrument                 string
	workload, backend, w, unit string
	off, on                    []float64
	// cpuOff and cpuOn are this process's CPU time per job, in µs.
	cpuOff, cpuOn []float64
}

// overheadCases runs astro-runner's burn-down with instrument ("metrics"
// or "tracing") off and on, in turns, on one backend.
func (r *runner) overheadCases(ctx context.Context, b *backend, instrument string) error {
	n := r.o.n
	if n == 0 {
		n = map[string]int{"postgres": 200000, "sqlite": 50000}[b.name]
	}
	systems := map[bool]*astroSystem{}
	for _, on := range []bool{false, true} {
		systems[on] = &astroSystem{b: b, log: r.log.With("system", "astro-runner", instrument, on),
			asyncQueueCommit: r.o.queueCommit == "async", metrics: on && instrument == "metrics",
			tracing: on && instrument == "tracing"}
	}
	for _, w := range r.o.workers {
		row := &overheadRow{instrument: instrument, workload: fmt.Sprintf("burn-down, N=%d", n), backend: b.name,
			w: strconv.Itoa(w), unit: "jobs/s"}
		order := []bool{false, true}
		for round := range r.o.rounds {
			for _, on := range order {
				started := time.Now()
				v, err := systems[on].Burndown(ctx, n, w)
				if err != nil {
					return fmt.Errorf("astro with %s %s on %s, %s, W=%d: %w", instrument, onOff(on), b.name, row.workload, w, err)
				}
				cpu := float64(systems[on].burndownCPU.Microseconds()) / float64(n)
				if on {
					row.on = append(row.on, v)
					row.cpuOn = append(row.cpuOn, cpu)
				} else {
					row.off = append(row.off, v)
					row.cpuOff = append(row.cpuOff, cpu)
				}
				fmt.Fprintf(r.progress, "round %d  %-8s %-44s W=%-4d %s %-3s %14s %s  %6.1f µs CPU/job  (%.1fs)\n", round+1, b.name,
					row.workload, w, instrument, onOff(on), format(v, row.unit), row.unit, cpu, time.Since(started).Seconds())
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

// printOverhead prints the table of each instrument whose cases ran.
func (r *runner) printOverhead(w io.Writer) {
	for _, instrument := range []string{"metrics", "tracing"} {
		r.printInstrument(w, instrument)
	}
}

// printInstrument prints the table of one instrument, if any case ran.
func (r *runner) printInstrument(w io.Writer, instrument string) {
	rows := slices.DeleteFunc(slices.Clone(r.overhead), func(row *overheadRow) bool { return row.instrument != instrument })
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nastro-runner with its %s off and on (on/off below 1 is the cost):\n", instrument)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| workload | backend | W | %[1]s off | %[1]s on | on/off | CPU µs/job off | CPU µs/job on | on/off |\n", instrument)
	fmt.Fprintln(w, "|---|---|---|---:|---:|---:|---:|---:|---:|")
	for _, row := range rows {
		off, _ := median(row.off)
		on, _ := median(row.on)
		cpuOff, _ := median(row.cpuOff)
		cpuOn, _ := median(row.cpuOn)
		fmt.Fprintf(w, "| %s | %s | %s | %s %s | %s %s | %s | %.1f | %.1f | %s |\n", row.workload, row.backend, row.w,
			format(off, row.unit), row.unit, format(on, row.unit), row.unit, pairedRatio(row.on, row.off), cpuOff, cpuOn,
			pairedRatio(row.cpuOn, row.cpuOff))
	}
	fmt.Fprintln(w, "\nThe on/off columns are the median of each round's own ratio; CPU is this process's (user and system)")
	fmt.Fprintln(w, "during the timed part, divided by N, so on Postgres it leaves out the server's.")
	if r.o.rounds > 1 {
		fmt.Fprintf(w, "Each other cell is the median of %d runs; off and on alternated which ran first.\n", r.o.rounds)
	}
}

// pairedRatio is the median, over rounds, of on[i]/off[i]: each round's
// runs ran back to back, so their ratio is steadier than the ratio of
// medians on a busy machine.
func pairedRatio(on, off []float64) string {
	var rs []float64
	for i := range min(len(on), len(off)) {
		if off[i] > 0 {
			rs = append(rs, on[i]/off[i])
		}
	}
	m, ok := median(rs)
	if !ok {
		return "–"
	}
	return fmt.Sprintf("%.3f", m)
}

// processCPU is the CPU time, user and system, this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
