package storage

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/google/uuid"
)

// Run-history statistics (PlanStats and GlobalStats) count the executions
// that reached a final status inside a window of time, by finished_at:
// since <= finished_at < until.
//
// Definitions shared by every backend:
//
//   - Runs counts every final execution: passed, failed, error and
//     cancelled.
//   - The pass rate is passed / (passed + failed + error). Cancelled runs
//     are counted but left out of it, since cancelling says nothing about
//     the plan's health; with no such run there is no pass rate.
//   - A run's duration is its result's totals.duration_ms (the runner's
//     wall-clock time of the run, without queueing), as recorded when the
//     result was stored. Runs without one (an execution that never ran,
//     or whose job gave up) have no duration. Cancelled runs' durations
//     are left out, like their status.
//   - Percentiles are continuous, with linear interpolation between the
//     two nearest ranks, as Postgres' percentile_cont: over the n values
//     sorted, the q-th is at position q*(n-1), and a fractional position
//     p between ranks i and i+1 gives v[i] + (p-i)*(v[i+1]-v[i]). The
//     10 values 100, 200, ..., 1000 give p50 550, p95 955 and p99 991.
//   - Buckets of the time series are aligned to the Unix epoch (an hour's
//     bucket starts on the hour, a day's at midnight UTC); the first and
//     the last may be partly outside the window, and count only what is
//     inside it. Every bucket that meets the window is listed, even
//     empty.
//   - Per-step statistics come from the step results of the newest
//     StepRuns (default 1,000) passed, failed or error runs of the window,
//     grouped by the step's position and name, so that a step renamed by a
//     plan revision counts apart. A step's pass rate and percentiles leave
//     out its skipped results.

// Bounds of the statistics queries.
const (
	// MaxStatsWindow is the longest window a statistics query covers.
	MaxStatsWindow = 90 * 24 * time.Hour
	// MinStatsBucket and MaxStatsBucket bound the bucket of a time series.
	MinStatsBucket = time.Minute
	MaxStatsBucket = 24 * time.Hour
	// MaxStatsBuckets is the most buckets a time series has.
	MaxStatsBuckets = 2000
	// DefaultStatsStepRuns is the default of PlanStatsParams.StepRuns.
	DefaultStatsStepRuns = 1000
	// MaxStatsStepRuns is the largest PlanStatsParams.StepRuns.
	MaxStatsStepRuns = 10000
	// TopFailingPlans is how many plans GlobalStats ranks.
	TopFailingPlans = 10
)

// Percentiles are the 50th, 95th and 99th percentiles of durations, in
// milliseconds.
type Percentiles struct {
	P50, P95, P99 float64
}

// RunTotals count final executions by status, with the percentiles of
// their durations.
type RunTotals struct {
	// Runs is Passed + Failed + Error + Cancelled.
	Runs      int64
	Passed    int64
	Failed    int64
	Error     int64
	Cancelled int64
	// Duration holds the percentiles of the durations of the passed,
	// failed and error runs that have one, or is nil when none has.
	Duration *Percentiles
}

// PassRate returns Passed / (Passed + Failed + Error), and false when that
// is zero over zero.
func (t RunTotals) PassRate() (float64, bool) {
	return passRate(t.Passed, t.Passed+t.Failed+t.Error)
}

func passRate(passed, of int64) (float64, bool) {
	if of == 0 {
		return 0, false
	}
	return float64(passed) / float64(of), true
}

// StatsBucket is one bucket of a time series: the totals of the runs that
// finished from Start to Start + the bucket's length.
type StatsBucket struct {
	Start time.Time
	RunTotals
}

// StepStats are the statistics of one step of a plan, by position and
// name, over the step results of the runs sampled.
type StepStats struct {
	// Index is the step's position in the result, from 0.
	Index int
	Name  string
	// Runs counts the step's results, skipped ones included.
	Runs    int64
	Passed  int64
	Failed  int64
	Error   int64
	Skipped int64
	// Duration holds the percentiles of the step's durations, skipped
	// results left out, or is nil when none has one.
	Duration *Percentiles
}

// PassRate returns Passed / (Passed + Failed + Error), and false when that
// is zero over zero.
func (s StepStats) PassRate() (float64, bool) {
	return passRate(s.Passed, s.Passed+s.Failed+s.Error)
}

// PlanStatsParams choose the executions that PlanStats summarises.
type PlanStatsParams struct {
	PlanID uuid.UUID
	// Since and Until bound the window by finished_at: Since is included,
	// Until is not. Both are required; they are kept to the microsecond.
	Since, Until time.Time
	// Bucket is the length of the time series' buckets: a whole number of
	// seconds from MinStatsBucket to MaxStatsBucket.
	Bucket time.Duration
	// Trigger keeps the executions created by one trigger when it is not
	// empty.
	Trigger ExecutionTrigger
	// StepRuns is how many of the window's newest passed, failed or error
	// runs the per-step statistics cover. Defaults to
	// DefaultStatsStepRuns; at most MaxStatsStepRuns.
	StepRuns int
}

// WithDefaults returns a copy of p with defaults filled in and the window
// truncated to the microsecond, the precision of stored times.
func (p PlanStatsParams) WithDefaults() PlanStatsParams {
	if p.StepRuns == 0 {
		p.StepRuns = DefaultStatsStepRuns
	}
	p.Since, p.Until = p.Since.Truncate(time.Microsecond), p.Until.Truncate(time.Microsecond)
	return p
}

// Validate checks p after WithDefaults. Returns ErrInvalidInput for a
// window that is empty, reversed or longer than MaxStatsWindow, a bucket
// out of range or not a whole number of seconds, a window of more than
// MaxStatsBuckets buckets, an unknown trigger, or StepRuns out of range.
func (p *PlanStatsParams) Validate() error {
	if err := CheckStatsWindow(p.Since, p.Until); err != nil {
		return err
	}
	if err := CheckStatsBucket(p.Since, p.Until, p.Bucket); err != nil {
		return err
	}
	if p.Trigger != "" && !p.Trigger.Valid() {
		return fmt.Errorf("%w: unknown trigger %q", ErrInvalidInput, p.Trigger)
	}
	if p.StepRuns < 1 || p.StepRuns > MaxStatsStepRuns {
		return fmt.Errorf("%w: step runs %d is not from 1 to %d", ErrInvalidInput, p.StepRuns, MaxStatsStepRuns)
	}
	return nil
}

// CheckStatsWindow returns ErrInvalidInput unless since and until are set,
// since is before until, and the window is at most MaxStatsWindow long.
func CheckStatsWindow(since, until time.Time) error {
	switch {
	case since.IsZero() || until.IsZero():
		return fmt.Errorf("%w: the window needs both since and until", ErrInvalidInput)
	case !since.Before(until):
		return fmt.Errorf("%w: since (%s) must be before until (%s)", ErrInvalidInput,
			since.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
	case until.Sub(since) > MaxStatsWindow:
		return fmt.Errorf("%w: the window is longer than %d days", ErrInvalidInput, MaxStatsWindow/(24*time.Hour))
	}
	return nil
}

// CheckStatsBucket returns ErrInvalidInput unless bucket is a whole number
// of seconds from MinStatsBucket to MaxStatsBucket and the window from
// since to until meets at most MaxStatsBuckets buckets.
func CheckStatsBucket(since, until time.Time, bucket time.Duration) error {
	switch {
	case bucket < MinStatsBucket || bucket > MaxStatsBucket:
		return fmt.Errorf("%w: bucket %s is not from %s to %s", ErrInvalidInput, bucket, MinStatsBucket, MaxStatsBucket)
	case bucket%time.Second != 0:
		return fmt.Errorf("%w: bucket %s is not a whole number of seconds", ErrInvalidInput, bucket)
	}
	first, last := BucketRange(since, until, bucket)
	if n := last - first + 1; n > MaxStatsBuckets {
		return fmt.Errorf("%w: the window spans %d buckets of %s, more than %d", ErrInvalidInput, n, bucket, MaxStatsBuckets)
	}
	return nil
}

// BucketMicros returns a bucket's length in microseconds.
func BucketMicros(bucket time.Duration) int64 { return bucket.Microseconds() }

// BucketOf returns the index of the epoch-aligned bucket that holds t:
// floor(t / bucket), counted in microseconds since the Unix epoch.
func BucketOf(t time.Time, bucket time.Duration) int64 {
	us, b := t.UnixMicro(), BucketMicros(bucket)
	i := us / b
	if us%b < 0 {
		i--
	}
	return i
}

// BucketStart returns the start of bucket i.
func BucketStart(i int64, bucket time.Duration) time.Time {
	return time.UnixMicro(i * BucketMicros(bucket)).UTC()
}

// BucketRange returns the indexes of the first and the last bucket that
// meet the window from since (included) to until (excluded).
func BucketRange(since, until time.Time, bucket time.Duration) (first, last int64) {
	return BucketOf(since, bucket), BucketOf(until.Add(-time.Microsecond), bucket)
}

// Series returns the time series of the window of p: one bucket for each
// index from the first to the last that meet the window, with the totals
// of byIndex, or zero totals where it has none.
func (p *PlanStatsParams) Series(byIndex map[int64]RunTotals) []StatsBucket {
	first, last := BucketRange(p.Since, p.Until, p.Bucket)
	out := make([]StatsBucket, 0, last-first+1)
	for i := first; i <= last; i++ {
		out = append(out, StatsBucket{Start: BucketStart(i, p.Bucket), RunTotals: byIndex[i]})
	}
	return out
}

// PlanStats are the statistics of one plan's runs over a window.
type PlanStats struct {
	Totals RunTotals
	// Series has one bucket per bucket of the window, oldest first.
	Series []StatsBucket
	// Steps are ordered by index, then name.
	Steps []StepStats
	// StepRuns is how many runs the per-step statistics cover: the
	// window's newest passed, failed or error runs, at most
	// PlanStatsParams.StepRuns.
	StepRuns int64
}

// GlobalStatsParams choose the executions that GlobalStats summarises.
type GlobalStatsParams struct {
	// Since and Until bound the window by finished_at, as in
	// PlanStatsParams.
	Since, Until time.Time
}

// WithDefaults returns a copy of p with the window truncated to the
// microsecond.
func (p GlobalStatsParams) WithDefaults() GlobalStatsParams {
	p.Since, p.Until = p.Since.Truncate(time.Microsecond), p.Until.Truncate(time.Microsecond)
	return p
}

// Validate checks p after WithDefaults. Returns ErrInvalidInput for a
// window that is empty, reversed or longer than MaxStatsWindow.
func (p *GlobalStatsParams) Validate() error { return CheckStatsWindow(p.Since, p.Until) }

// PlanFailures are one plan's run counts, for the ranking of the plans
// that fail most. Their Duration is nil.
type PlanFailures struct {
	PlanID uuid.UUID
	Name   string
	RunTotals
}

// Failures returns Failed + Error.
func (f PlanFailures) Failures() int64 { return f.Failed + f.Error }

// GlobalStats are the statistics of every plan's runs over a window.
type GlobalStats struct {
	Totals RunTotals
	// TopFailing are the plans with the most failed and error runs in the
	// window, at most TopFailingPlans, most failures first, then by plan
	// ID. Plans without a failure are left out.
	TopFailing []PlanFailures
}

// StatsStore answers run-history statistics.
type StatsStore interface {
	// PlanStats summarises one plan's runs over a window: totals, a time
	// series and per-step statistics. Returns ErrNotFound if no plan has
	// that ID, and ErrInvalidInput if p is out of range (see
	// PlanStatsParams.Validate).
	PlanStats(ctx context.Context, p *PlanStatsParams) (*PlanStats, error)
	// GlobalStats summarises every plan's runs over a window, and ranks
	// the plans that fail most. Returns ErrInvalidInput if p is out of
	// range (see GlobalStatsParams.Validate).
	GlobalStats(ctx context.Context, p *GlobalStatsParams) (*GlobalStats, error)
}

// percentileQuantiles are the quantiles of Percentiles, in order.
var percentileQuantiles = [3]float64{0.5, 0.95, 0.99}

// PercentilesOf returns the percentiles of values given as quantiles 0.5,
// 0.95 and 0.99 in that order, as Postgres' percentile_cont with the
// array ARRAY[0.5, 0.95, 0.99] returns them, or nil for a missing (SQL
// NULL) result. Returns an error for any other length.
func PercentilesOf(values []float64) (*Percentiles, error) {
	switch len(values) {
	case 0:
		return nil, nil
	case len(percentileQuantiles):
		return &Percentiles{P50: values[0], P95: values[1], P99: values[2]}, nil
	}
	return nil, fmt.Errorf("expected %d percentiles, got %d", len(percentileQuantiles), len(values))
}

// Histogram counts integer values, such as durations in milliseconds, so
// that exact percentiles can be had in memory bounded by the number of
// distinct values rather than of values. The zero Histogram is empty and
// ready; it is not safe for concurrent use.
type Histogram struct {
	counts map[int64]int64
	n      int64
}

// Add counts one more v.
func (h *Histogram) Add(v int64) {
	if h.counts == nil {
		h.counts = map[int64]int64{}
	}
	h.counts[v]++
	h.n++
}

// Len returns how many values were added.
func (h *Histogram) Len() int64 { return h.n }

// Percentiles returns the percentiles of the values added, interpolated
// as percentile_cont does (see the package's notes on statistics), or nil
// when none was added.
func (h *Histogram) Percentiles() *Percentiles {
	if h.n == 0 {
		return nil
	}
	values := make([]int64, 0, len(h.counts))
	for v := range h.counts {
		values = append(values, v)
	}
	slices.Sort(values)
	// upto[i] is how many values are at most values[i].
	upto := make([]int64, len(values))
	var n int64
	for i, v := range values {
		n += h.counts[v]
		upto[i] = n
	}
	// at returns the value of rank r, from 0, in sorted order.
	at := func(r int64) float64 {
		i, _ := slices.BinarySearch(upto, r+1)
		return float64(values[i])
	}
	var out [3]float64
	for k, q := range percentileQuantiles {
		pos := q * float64(h.n-1)
		lo, hi := math.Floor(pos), math.Ceil(pos)
		vlo := at(int64(lo))
		if hi == lo {
			out[k] = vlo
			continue
		}
		vhi := at(int64(hi))
		// The same operations as Postgres' float8_lerp, each rounded.
		out[k] = vlo + float64((pos-lo)*(vhi-vlo))
	}
	return &Percentiles{P50: out[0], P95: out[1], P99: out[2]}
}

// TotalsCounter adds up final runs into RunTotals. The zero TotalsCounter
// is empty and ready.
type TotalsCounter struct {
	t     RunTotals
	durMS Histogram
}

// Add counts one final run. duration is its duration in milliseconds, or
// nil. A status that is not final is ignored.
func (c *TotalsCounter) Add(status ExecutionStatus, duration *int64) {
	switch status {
	case ExecutionPassed:
		c.t.Passed++
	case ExecutionFailed:
		c.t.Failed++
	case ExecutionError:
		c.t.Error++
	case ExecutionCancelled:
		c.t.Cancelled++
		c.t.Runs++
		return
	default:
		return
	}
	c.t.Runs++
	if duration != nil {
		c.durMS.Add(*duration)
	}
}

// Totals returns the totals counted so far.
func (c *TotalsCounter) Totals() RunTotals {
	t := c.t
	t.Duration = c.durMS.Percentiles()
	return t
}

// StepCounter adds up step summaries into StepStats. The zero StepCounter
// is empty and ready.
type StepCounter struct {
	steps map[stepKey]*stepCount
}

type stepKey struct {
	index int
	name  string
}

type stepCount struct {
	s     StepStats
	durMS Histogram
}

// Add counts the steps of one run's summary.
func (c *StepCounter) Add(steps []StepSummary) {
	if c.steps == nil {
		c.steps = map[stepKey]*stepCount{}
	}
	for i, st := range steps {
		k := stepKey{i, st.Name}
		sc := c.steps[k]
		if sc == nil {
			sc = &stepCount{s: StepStats{Index: i, Name: st.Name}}
			c.steps[k] = sc
		}
		sc.s.Runs++
		switch st.Status {
		case StepPassed:
			sc.s.Passed++
		case StepFailed:
			sc.s.Failed++
		case StepError:
			sc.s.Error++
		case StepSkipped:
			sc.s.Skipped++
			continue
		}
		if st.DurationMS != nil {
			sc.durMS.Add(*st.DurationMS)
		}
	}
}

// Stats returns the steps counted so far, ordered by index, then name.
func (c *StepCounter) Stats() []StepStats {
	out := make([]StepStats, 0, len(c.steps))
	for _, sc := range c.steps {
		s := sc.s
		s.Duration = sc.durMS.Percentiles()
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b StepStats) int {
		return cmp.Or(cmp.Compare(a.Index, b.Index), cmp.Compare(a.Name, b.Name))
	})
	return out
}
