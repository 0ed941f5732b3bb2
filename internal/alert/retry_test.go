package alert

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/worker"
)

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"1", time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-5", 0, false},
		{"99999999999999", worker.MaxRetryDelay, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), worker.MaxRetryDelay, true},
		{"soon", 0, false},
	} {
		got, ok := retryAfter(tc.header, now)
		assert.Equal(t, tc.ok, ok, tc.header)
		assert.Equal(t, tc.want, got, tc.header)
	}
}

func TestChannelHeaderChecks(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"x-astro-signature", "X-Astro-Delivery", "X-ASTRO-EVENT", "X-Astro-Anything", "content-type",
		"User-Agent", "Host", "Content-Length", "Transfer-Encoding", "Connection", "TE", "trailer", "Upgrade",
		"Keep-Alive", "Proxy-Connection", "Content-Encoding"} {
		assert.True(t, ReservedHeader(name), name)
	}
	for _, name := range []string{"Authorization", "X-Team", "X-Astronomer"} {
		assert.False(t, ReservedHeader(name), name)
	}
	assert.True(t, validHeader("Authorization", "Bearer abc\tdef"))
	assert.False(t, validHeader("", "v"))
	assert.False(t, validHeader("Bad Name", "v"))
	assert.False(t, validHeader("Bad:Name", "v"))
	assert.False(t, validHeader("X-Ok", "line\r\nInjected: 1"))
	assert.False(t, validHeader("X-Ok", "nul\x00"))
}
