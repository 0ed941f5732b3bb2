package metrics_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/metrics"
)

func TestRouteLabel(t *testing.T) {
	t.Parallel()
	for pattern, want := range map[string]string{
		"GET /plan/{id}":            "/plan/{id}",
		"POST /plan/{id}/execute":   "/plan/{id}/execute",
		"/docs/":                    "/docs/",
		"GET example.com/plan/{id}": "/plan/{id}",
		"example.com/x":             "/x",
		"":                          metrics.RouteUnmatched,
		"DELETE  /schedule/{id}":    "/schedule/{id}",
		"GET /schemas/{schema...}":  "/schemas/{schema...}",
		"GET /execution/{id}/{$}":   "/execution/{id}/{$}",
	} {
		require.Equal(t, want, metrics.RouteLabel(pattern), pattern)
	}
}

func TestObserveBoundsLabels(t *testing.T) {
	t.Parallel()
	m := metrics.New(metrics.Options{})
	reg := m.Registry()
	m.HTTP.Observe(http.MethodGet, "GET /plan/{id}", http.StatusOK, 30*time.Millisecond)
	m.HTTP.Observe(http.MethodGet, "GET /plan/{id}", http.StatusNotFound, 10*time.Millisecond)
	m.HTTP.Observe("BREW", "", http.StatusNotFound, time.Millisecond)
	m.HTTP.Observe("brew-1", "", http.StatusMethodNotAllowed, time.Millisecond)

	require.EqualValues(t, 1, value(t, reg, "astro_http_requests_total",
		map[string]string{"method": "GET", "route": "/plan/{id}", "code": "200"}))
	require.EqualValues(t, 1, value(t, reg, "astro_http_requests_total",
		map[string]string{"method": "GET", "route": "/plan/{id}", "code": "404"}))
	require.EqualValues(t, 2, histCount(t, reg, "astro_http_request_duration_seconds",
		map[string]string{"method": "GET", "route": "/plan/{id}"}))
	require.EqualValues(t, 2, value(t, reg, "astro_http_requests_total",
		map[string]string{"method": metrics.MethodOther, "route": metrics.RouteUnmatched}),
		"invented methods share one label value")
	require.Len(t, series(t, reg, "astro_http_requests_total", nil), 4)
}
