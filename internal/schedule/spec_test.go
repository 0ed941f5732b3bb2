package schedule

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)

func TestCheck(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, cron, tz string
		min            time.Duration
		field          string // "" when valid
	}{
		{"FiveFields", "*/5 * * * *", "", DefaultMinInterval, ""},
		{"Hourly", "@hourly", "Europe/Paris", DefaultMinInterval, ""},
		{"Daily", "@daily", "UTC", DefaultMinInterval, ""},
		{"Every30s", "@every 30s", "", DefaultMinInterval, ""},
		{"EveryMinuteAtTheLimit", "* * * * *", "", time.Minute, ""},
		{"Every1sWithLowerLimit", "@every 1s", "", time.Second, ""},
		{"Every5sUnderLimit", "@every 5s", "", DefaultMinInterval, "cron"},
		{"EveryMinuteUnderLimit", "* * * * *", "", 2 * time.Minute, "cron"},
		{"TwoTicksCloseTogether", "0,1 * * * *", "", 5 * time.Minute, "cron"},
		{"SixFields", "0 */5 * * * *", "", DefaultMinInterval, "cron"},
		{"Junk", "every day", "", DefaultMinInterval, "cron"},
		{"Empty", "", "", DefaultMinInterval, "cron"},
		{"BadEvery", "@every soon", "", DefaultMinInterval, "cron"},
		{"NeverFires", "0 0 30 2 *", "", DefaultMinInterval, "cron"},
		{"TZPrefix", "CRON_TZ=Asia/Tokyo 0 * * * *", "", DefaultMinInterval, "cron"},
		{"UnknownZone", "@hourly", "Mars/Olympus", DefaultMinInterval, "timezone"},
		{"LocalZone", "@hourly", "Local", DefaultMinInterval, "timezone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := Check(c.cron, c.tz, c.min, now)
			if c.field == "" {
				require.NoError(t, err)
				return
			}
			var fe *FieldError
			require.True(t, errors.As(err, &fe), "want a FieldError, got %v", err)
			assert.Equal(t, c.field, fe.Field)
			assert.NotEmpty(t, fe.Message)
		})
	}
}

func TestNextEvaluatesInTheTimeZone(t *testing.T) {
	t.Parallel()
	s, err := Parse("0 9 * * *", "Asia/Tokyo")
	require.NoError(t, err)
	// 09:00 in Tokyo is 00:00 UTC.
	assert.Equal(t, time.Date(2026, 1, 16, 0, 0, 0, 0, time.UTC), s.Next(now))
	assert.Equal(t, time.UTC, s.Next(now).Location())
}

func TestNextEveryIsRelativeToNow(t *testing.T) {
	t.Parallel()
	s, err := Parse("@every 30s", "")
	require.NoError(t, err)
	assert.Equal(t, now.Add(30*time.Second), s.Next(now))
	// A fraction of a second is dropped: ticks fall on whole seconds.
	assert.Equal(t, now.Add(30*time.Second), s.Next(now.Add(300*time.Millisecond)))
}

// ticks returns the ticks of s after from, up to until.
func ticks(s *Spec, from, until time.Time) []time.Time {
	var out []time.Time
	for t := s.Next(from); !t.IsZero() && !t.After(until); t = s.Next(t) {
		out = append(out, t)
	}
	return out
}

func TestNextAcrossSpringForward(t *testing.T) {
	t.Parallel()
	// On 2026-03-08 New York skips from 02:00 EST to 03:00 EDT: 02:30
	// does not exist that day, and the cron library does not fire it.
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	s, err := Parse("30 2 * * *", "America/New_York")
	require.NoError(t, err)
	got := ticks(s, time.Date(2026, 3, 6, 12, 0, 0, 0, ny), time.Date(2026, 3, 9, 12, 0, 0, 0, ny))
	want := []time.Time{
		time.Date(2026, 3, 7, 2, 30, 0, 0, ny).UTC(), // 07:30 UTC (EST)
		time.Date(2026, 3, 9, 2, 30, 0, 0, ny).UTC(), // 06:30 UTC (EDT)
	}
	assert.Equal(t, want, got)
	assert.Equal(t, time.Date(2026, 3, 7, 7, 30, 0, 0, time.UTC), got[0])
	assert.Equal(t, time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC), got[1])
}

func TestNextAcrossFallBack(t *testing.T) {
	t.Parallel()
	// On 2026-11-01 New York repeats 01:00-02:00 (EDT, then EST): 01:30
	// happens twice, and robfig/cron v3.0.1 fires both.
	s, err := Parse("30 1 * * *", "America/New_York")
	require.NoError(t, err)
	got := ticks(s, time.Date(2026, 10, 31, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC))
	want := []time.Time{
		time.Date(2026, 10, 31, 5, 30, 0, 0, time.UTC), // 01:30 EDT
		time.Date(2026, 11, 1, 5, 30, 0, 0, time.UTC),  // 01:30 EDT
		time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC),  // 01:30 EST, the same wall time again
		time.Date(2026, 11, 2, 6, 30, 0, 0, time.UTC),  // 01:30 EST
	}
	assert.Equal(t, want, got)
}

func TestMinGap(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string]time.Duration{
		"@every 90s":   90 * time.Second,
		"*/15 * * * *": 15 * time.Minute,
		"0,5 * * * *":  5 * time.Minute,
		"@hourly":      time.Hour,
		"0 9 * * 1-5":  24 * time.Hour,
		"0 0 1 1 *":    365 * 24 * time.Hour,
	} {
		s, err := Parse(expr, "UTC")
		require.NoError(t, err, expr)
		assert.Equal(t, want, s.MinGap(now), expr)
	}
}
