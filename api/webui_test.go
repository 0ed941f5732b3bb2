package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/webui"
)

// TestDashboardIsServedBesideTheAPI checks the mounting of the dashboard:
// its files need no token, every other route is unchanged, with and
// without a token configured.
func TestDashboardIsServedBesideTheAPI(t *testing.T) {
	t.Parallel()
	for name, opts := range map[string][]envOption{"NoToken": nil, "Token": {withToken(testToken)}} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, opts...)
			noAuth := []string{"Authorization", ""}

			var index []byte
			for _, p := range []string{"/", "/ui", "/ui/", "/ui/queue", "/ui/plans/new", "/ui/executions/0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f"} {
				res := e.request(http.MethodGet, p, nil, noAuth...)
				require.Equal(t, http.StatusOK, res.Status, "%s: %s", p, res.Body)
				assert.Equal(t, "text/html; charset=utf-8", res.Header.Get("Content-Type"), p)
				assert.Equal(t, webui.ContentSecurityPolicy, res.Header.Get("Content-Security-Policy"), p)
				assert.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"), p)
				assert.Equal(t, "no-cache", res.Header.Get("Cache-Control"), p)
				assert.NotEmpty(t, res.Header.Get("X-Request-ID"), "%s passes through the middleware", p)
				if index == nil {
					index = res.Body
				}
				assert.Equal(t, string(index), string(res.Body), "%s serves index.html", p)
			}
			assert.Contains(t, strings.ToLower(string(index)), "<!doctype html>")

			res := e.request(http.MethodGet, "/assets/no-such-file.js", nil, noAuth...)
			assert.Equal(t, http.StatusNotFound, res.Status, "a missing asset needs no token either")
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			assert.Equal(t, http.StatusNotFound, res.problem(t).Status)

			// The API still answers JSON, and needs the token when one is set.
			res = e.request(http.MethodGet, "/plan", nil, noAuth...)
			if name == "Token" {
				assert.Equal(t, http.StatusUnauthorized, res.Status)
				assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			} else {
				assert.Equal(t, http.StatusOK, res.Status)
			}
			for _, p := range []string{"/plan", "/overview", "/job", "/queue/stats"} {
				res := e.request(http.MethodGet, p, nil)
				require.Equal(t, http.StatusOK, res.Status, "%s: %s", p, res.Body)
				assert.True(t, strings.HasPrefix(res.Header.Get("Content-Type"), "application/json"), "%s: %s", p, res.Header.Get("Content-Type"))
				assert.True(t, json.Valid(res.Body), p)
			}
			for _, p := range []string{"/docs", "/openapi.json", "/healthz"} {
				assert.Equal(t, http.StatusOK, e.request(http.MethodGet, p, nil, noAuth...).Status, p)
			}
			res = e.request(http.MethodGet, "/no-such-route", nil)
			assert.Equal(t, http.StatusNotFound, res.Status, "other paths are not the dashboard's")
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
			res = e.request(http.MethodPost, "/ui/queue", nil)
			assert.Equal(t, http.StatusMethodNotAllowed, res.Status)
			assert.Equal(t, "application/problem+json", res.Header.Get("Content-Type"))
		})
	}
}
