package worker

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestLeaseExpired(t *testing.T) {
	t.Parallel()
	renewed := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	const lease = 30 * time.Second
	for _, tc := range []struct {
		name string
		now  time.Time
		want bool
	}{
		{"just renewed", renewed, false},
		{"a moment before the deadline", renewed.Add(lease - time.Nanosecond), false},
		{"at the deadline", renewed.Add(lease), true},
		{"past the deadline", renewed.Add(lease + time.Minute), true},
		{"a clock behind the renewal", renewed.Add(-time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, leaseExpired(tc.now, renewed, lease))
		})
	}
}

func TestCleanErrorText(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", MaxErrorBytes) // 2 bytes each.
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "boom", "boom"},
		{"NUL bytes", "a\x00b\x00", "ab"},
		{"invalid UTF-8", "a\xffb\xc3", "ab"},
		{"keeps valid UTF-8", "naïve ✓", "naïve ✓"},
		{"at the limit", strings.Repeat("x", MaxErrorBytes), strings.Repeat("x", MaxErrorBytes)},
		{"over the limit", strings.Repeat("x", MaxErrorBytes+1), strings.Repeat("x", MaxErrorBytes-len(truncatedMark)) + truncatedMark},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, cleanErrorText(tc.in))
		})
	}
	t.Run("cuts at a character boundary", func(t *testing.T) {
		t.Parallel()
		got := cleanErrorText(long)
		assert.LessOrEqual(t, len(got), MaxErrorBytes)
		assert.True(t, utf8.ValidString(got))
		assert.True(t, strings.HasSuffix(got, truncatedMark))
	})
}

func TestASCIIErrorText(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want string
	}{
		{"plain", "boom: 42", "boom: 42"},
		{"keeps newlines and tabs", "a\n\tb", "a\n\tb"},
		{"replaces other characters", "naïve ✓\x01", "na?ve ??"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, asciiErrorText(tc.in))
		})
	}
}
