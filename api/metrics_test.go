package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/metrics"
)

// withMetrics serves m at /metrics, observes every request in it and
// instruments the store, labelled backend, as serve does.
func withMetrics(m *metrics.Metrics, backend string) envOption {
	return func(d *Deps) {
		d.Metrics = m.Handler()
		d.ObserveRequestFunc = m.HTTP.Observe
		d.Store = metrics.InstrumentStore(d.Store, backend, m.Store)
	}
}

// TestMetricsEndpoint scrapes a real /metrics after a few requests: it
// requires the token like the other routes, and it shows the HTTP series
// by route template, never by raw path, and the store operations the
// requests made.
func TestMetricsEndpoint(t *testing.T) {
	t.Parallel()
	backend := "sqlite"
	if onPostgres(t) {
		backend = "postgres"
	}
	e := newEnv(t, withToken(testToken), withMetrics(metrics.New(metrics.Options{}), backend))

	p := e.createPlan("metered", nil)
	require.Equal(t, http.StatusOK, e.request(http.MethodGet, "/plan/"+p.ID.String(), nil).Status)
	missing := uuid.New()
	require.Equal(t, http.StatusNotFound, e.request(http.MethodGet, "/plan/"+missing.String(), nil).Status)
	require.Equal(t, http.StatusNotFound, e.request(http.MethodGet, "/no/such/route/"+missing.String(), nil).Status)
	require.Equal(t, http.StatusUnauthorized,
		e.request(http.MethodGet, "/plan/"+p.ID.String(), nil, "Authorization", "").Status)
	require.Equal(t, http.StatusNotFound, e.request("BREW", "/coffee", nil).Status)

	for _, auth := range []string{"", "Bearer wrong"} {
		res := e.request(http.MethodGet, "/metrics", nil, "Authorization", auth)
		require.Equal(t, http.StatusUnauthorized, res.Status, "/metrics needs the token (Authorization %q): %s", auth, res.Body)
		require.NotContains(t, string(res.Body), "astro_http_requests_total")
	}

	res := e.request(http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	require.Contains(t, res.Header.Get("Content-Type"), "text/plain")
	text := string(res.Body)
	for _, line := range []string{
		`astro_http_requests_total{code="201",method="POST",route="/plan"} 1`,
		`astro_http_requests_total{code="200",method="GET",route="/plan/{id}"} 1`,
		`astro_http_requests_total{code="404",method="GET",route="/plan/{id}"} 1`,
		`astro_http_requests_total{code="401",method="GET",route="/plan/{id}"} 1`,
		`astro_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`astro_http_requests_total{code="404",method="other",route="unmatched"} 1`,
		`astro_http_requests_total{code="401",method="GET",route="/metrics"} 2`,
		`astro_http_request_duration_seconds_count{method="GET",route="/plan/{id}"} 3`,
		fmt.Sprintf(`astro_store_operation_duration_seconds_count{backend=%q,operation="PlanCreate"} 1`, backend),
		fmt.Sprintf(`astro_store_operation_duration_seconds_count{backend=%q,operation="PlanGetByID"} 2`, backend),
		fmt.Sprintf(`astro_store_errors_total{backend=%q,kind=%q,operation="PlanGetByID"} 1`, backend, metrics.KindNotFound),
	} {
		require.Contains(t, text, line+"\n")
	}
	require.NotContains(t, text, p.ID.String(), "no raw path")
	require.NotContains(t, text, missing.String(), "no raw path")
	require.NotContains(t, text, "/coffee")
	require.NotContains(t, text, "BREW")

	// Scrapes come every few seconds: a successful one is logged at debug,
	// like the health checks; a refused one at info.
	levels := map[int]string{}
	for _, r := range e.logs.records(t) {
		if r["msg"] == "http request" && r["path"] == "/metrics" {
			levels[int(r["status"].(float64))] = r["level"].(string)
		}
	}
	require.Equal(t, map[int]string{http.StatusOK: "DEBUG", http.StatusUnauthorized: "INFO"}, levels)
}

// TestMetricsNotRoutedWithoutHandler checks that /metrics is an unknown
// route when the API is given no metrics.
func TestMetricsNotRoutedWithoutHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/metrics", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	require.False(t, strings.Contains(string(res.Body), "astro_"), "body: %s", res.Body)
}
