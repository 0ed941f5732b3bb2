package api

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestHealthProbesAreLoggedAtDebug checks that /healthz and /readyz, which
// orchestrators poll every few seconds, are logged at debug, and other
// requests at info.
func TestHealthProbesAreLoggedAtDebug(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, p := range []string{"/healthz", "/readyz", "/plan"} {
		require.Equal(t, http.StatusOK, e.request(http.MethodGet, p, nil).Status, p)
	}
	levels := map[string]string{}
	for _, r := range e.logs.records(t) {
		if r["msg"] == "http request" {
			levels[r["path"].(string)] = r["level"].(string)
		}
	}
	require.Equal(t, map[string]string{"/healthz": "DEBUG", "/readyz": "DEBUG", "/plan": "INFO"}, levels)
}
