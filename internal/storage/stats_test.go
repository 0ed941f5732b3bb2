package storage_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestHistogramPercentilesInterpolateAsPercentileCont(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values []int64
		want   *storage.Percentiles
	}{
		{"None", nil, nil},
		{"One", []int64{7}, &storage.Percentiles{P50: 7, P95: 7, P99: 7}},
		// Positions 0.5, 0.95 and 0.99 between the two values.
		{"Two", []int64{10, 20}, &storage.Percentiles{P50: 15, P95: 19.5, P99: 19.9}},
		// Positions 4.5, 8.55 and 8.91 of 100..1000.
		{"TenInAnyOrder", []int64{1000, 100, 900, 200, 800, 300, 700, 400, 600, 500}, &storage.Percentiles{P50: 550, P95: 955, P99: 991}},
		// Repeated values: ranks 0-2 are 1, ranks 3-4 are 5: positions 2,
		// 3.8 and 3.96.
		{"Repeats", []int64{5, 1, 1, 5, 1}, &storage.Percentiles{P50: 1, P95: 5, P99: 5}},
		// Positions 1.5 (between 1 and 9), 2.85 and 2.97 (9 and 9).
		{"RepeatsInterpolated", []int64{0, 1, 9, 9}, &storage.Percentiles{P50: 5, P95: 9, P99: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var h storage.Histogram
			for _, v := range tt.values {
				h.Add(v)
			}
			assert.Equal(t, int64(len(tt.values)), h.Len())
			got := h.Percentiles()
			if tt.want == nil {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.InDelta(t, tt.want.P50, got.P50, 1e-9, "p50")
			assert.InDelta(t, tt.want.P95, got.P95, 1e-9, "p95")
			assert.InDelta(t, tt.want.P99, got.P99, 1e-9, "p99")
		})
	}
}

func TestTotalsCounterLeavesCancelledOutOfRateAndDurations(t *testing.T) {
	t.Parallel()
	var c storage.TotalsCounter
	ms := func(v int64) *int64 { return &v }
	c.Add(storage.ExecutionPassed, ms(10))
	c.Add(storage.ExecutionFailed, ms(30))
	c.Add(storage.ExecutionError, nil)
	c.Add(storage.ExecutionCancelled, ms(1000))
	c.Add(storage.ExecutionRunning, ms(1000))
	got := c.Totals()
	assert.Equal(t, storage.RunTotals{Runs: 4, Passed: 1, Failed: 1, Error: 1, Cancelled: 1,
		Duration: &storage.Percentiles{P50: 20, P95: 29, P99: 29.8}}, got)
	rate, ok := got.PassRate()
	assert.True(t, ok)
	assert.InDelta(t, 1.0/3.0, rate, 1e-12)

	var none storage.TotalsCounter
	none.Add(storage.ExecutionCancelled, ms(1))
	_, ok = none.Totals().PassRate()
	assert.False(t, ok, "cancelled runs alone have no pass rate")
	assert.Nil(t, none.Totals().Duration)
}

func TestBuckets(t *testing.T) {
	t.Parallel()
	hour := time.Hour
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		return v
	}
	assert.Equal(t, int64(0), storage.BucketOf(at("1970-01-01T00:59:59.999999Z"), hour))
	assert.Equal(t, int64(1), storage.BucketOf(at("1970-01-01T01:00:00Z"), hour))
	assert.Equal(t, int64(-1), storage.BucketOf(at("1969-12-31T23:59:59Z"), hour), "floors before the epoch")
	assert.Equal(t, at("2026-03-04T05:00:00Z"), storage.BucketStart(storage.BucketOf(at("2026-03-04T05:06:07+02:00"), hour)+2, hour))

	first, last := storage.BucketRange(at("2026-03-04T05:30:00Z"), at("2026-03-04T08:00:00Z"), hour)
	assert.Equal(t, int64(2), last-first, "05, 06 and 07 o'clock, and not 08")
	p := storage.PlanStatsParams{Since: at("2026-03-04T05:30:00Z"), Until: at("2026-03-04T08:00:00.000001Z"), Bucket: hour}
	series := p.Series(map[int64]storage.RunTotals{first + 1: {Runs: 2, Passed: 2}})
	require.Len(t, series, 4)
	assert.Equal(t, at("2026-03-04T05:00:00Z"), series[0].Start)
	assert.Equal(t, at("2026-03-04T08:00:00Z"), series[3].Start)
	assert.Equal(t, int64(2), series[1].Runs)
	assert.Zero(t, series[2].Runs)
}

func TestPlanStatsParamsWithDefaults(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 1, 2, 3, 4, 5, 999, time.UTC)
	p := storage.PlanStatsParams{Since: since, Until: since.Add(time.Hour), Bucket: time.Hour}.WithDefaults()
	assert.Equal(t, storage.DefaultStatsStepRuns, p.StepRuns)
	assert.Equal(t, since.Truncate(time.Microsecond), p.Since)
	require.NoError(t, p.Validate())
	p.Bucket = 90 * time.Second
	assert.NoError(t, p.Validate(), "any whole number of seconds")
}

func TestSummarizeResult(t *testing.T) {
	t.Parallel()
	ms := func(v int64) *int64 { return &v }
	tests := []struct {
		name     string
		result   string
		duration *int64
		steps    []storage.StepSummary
		noSteps  bool
	}{
		{"Typical", `{"status":"passed","steps":[{"name":"a","status":"passed","duration_ms":12,"assertions":[]},{"name":"b","status":"skipped","duration_ms":0}],"totals":{"duration_ms":15}}`,
			ms(15), []storage.StepSummary{{"a", "passed", ms(12)}, {"b", "skipped", ms(0)}}, false},
		{"NoStepsNoTotals", `{"error":"plan no longer exists","plan_revision":2}`, nil, nil, true},
		{"EmptySteps", `{"steps":[],"totals":{"duration_ms":0}}`, ms(0), []storage.StepSummary{}, false},
		{"RoundsHalvesAway", `{"totals":{"duration_ms":2.5},"steps":[{"duration_ms":0.4}]}`, ms(3), []storage.StepSummary{{"", "", ms(0)}}, false},
		{"NotNumbers", `{"totals":{"duration_ms":"12"},"steps":[{"name":1,"status":true,"duration_ms":null}]}`, nil, []storage.StepSummary{{"", "", nil}}, false},
		{"OutOfRange", `{"totals":{"duration_ms":-1},"steps":[{"duration_ms":1e16}]}`, nil, []storage.StepSummary{{"", "", nil}}, false},
		{"StepsNotAnArray", `{"steps":{"name":"a"}}`, nil, nil, true},
		{"StepsNull", `{"steps":null}`, nil, nil, true},
		{"NotAnObject", `[1,2]`, nil, nil, true},
		{"NotJSON", `{`, nil, nil, true},
		{"ExactKeysOnly", `{"Totals":{"duration_ms":5},"Steps":[]}`, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sum := storage.SummarizeResult(json.RawMessage(tt.result))
			assert.Equal(t, tt.duration, sum.DurationMS)
			if tt.noSteps {
				assert.Nil(t, sum.Steps)
				return
			}
			got, err := storage.DecodeStepSummaries(sum.Steps)
			require.NoError(t, err)
			assert.Equal(t, tt.steps, got)
		})
	}
}

func TestStepSummariesRoundTrip(t *testing.T) {
	t.Parallel()
	ms := int64(42)
	in := []storage.StepSummary{{"naïve \"step\"", "failed", &ms}, {"", "", nil}}
	b := storage.EncodeStepSummaries(in)
	assert.JSONEq(t, `[["naïve \"step\"","failed",42],["","",null]]`, string(b))
	out, err := storage.DecodeStepSummaries(b)
	require.NoError(t, err)
	assert.Equal(t, in, out)
	for _, bad := range []string{`{`, `[1]`, `[["a","b"]]`} {
		_, err := storage.DecodeStepSummaries([]byte(bad))
		assert.Error(t, err, bad)
	}
}
