package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

// TestExamplePlanPassesAgainstTarget keeps examples/plan.json honest: it
// validates and passes every step against this target.
func TestExamplePlanPassesAgainstTarget(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(newMux())
	defer srv.Close()

	raw, err := os.ReadFile("../plan.json")
	require.NoError(t, err)
	var body struct {
		Name     string        `json:"name"`
		Document plan.Document `json:"document"`
	}
	require.NoError(t, json.Unmarshal(raw, &body))
	require.NoError(t, body.Document.Validate(plan.ValidateOptions{}))
	body.Document.Variables["base_url"] = srv.URL

	res, err := (&planrun.Runner{}).Run(context.Background(), &body.Document)
	require.NoError(t, err)
	require.Equal(t, planrun.StatusPassed, res.Status, "steps: %+v", res.Steps)
	require.Equal(t, 3, res.Totals.Passed)
	require.Equal(t, "1", res.Steps[1].Captured["user_id"])
}
