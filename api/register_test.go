package api

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/danielgtaylor/huma/v2/humatest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRegisterWithHumatest drives the operations through humatest, without
// NewHandler's middleware, as main's own wiring or another router would.
func TestRegisterWithHumatest(t *testing.T) {
	t.Parallel()
	_, api := humatest.New(t, Config("test"))
	Register(api, Deps{Store: openStore(t)})

	res := api.Post("/plan", planBody("Humatest", map[string]string{"via": "humatest"}))
	require.Equal(t, http.StatusCreated, res.Code, "body: %s", res.Body)
	var p Plan
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &p))

	res = api.Get("/plan/" + p.ID.String())
	require.Equal(t, http.StatusOK, res.Code)
	assert.Equal(t, `"1"`, res.Header().Get("ETag"))

	res = api.Post("/plan/"+p.ID.String()+"/execute", "Idempotency-Key: once")
	require.Equal(t, http.StatusAccepted, res.Code, "body: %s", res.Body)
	var x Execution
	require.NoError(t, json.Unmarshal(res.Body.Bytes(), &x))
	assert.Equal(t, "queued", x.Status)

	// Without NewHandler there is no token check: Register adds operations only.
	res = api.Get("/queue/stats")
	assert.Equal(t, http.StatusOK, res.Code)
}
