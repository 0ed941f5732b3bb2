package planjob

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// TestSummarizeAgreesWithTheStore checks that the summary worked out from a
// result equals what the store reads back from its JSON, for every shape
// of result the handler stores.
func TestSummarizeAgreesWithTheStore(t *testing.T) {
	t.Parallel()
	cases := map[string]*Result{
		"no run":   {PlanRevision: 2, Error: "plan no longer exists"},
		"no steps": {Result: &planrun.Result{Status: "passed", Totals: planrun.Totals{DurationMS: 5}}},
		"empty steps": {Result: &planrun.Result{Status: "passed", Steps: []planrun.StepResult{},
			Totals: planrun.Totals{DurationMS: 0}}},
		"steps": {Result: &planrun.Result{Status: "failed", Steps: []planrun.StepResult{
			{Name: "Create a user", Status: "passed", DurationMS: 12},
			{Name: `quote " back\slash <tag> & é 🙂`, Status: "failed", DurationMS: 0},
			{Name: "", Status: "skipped"},
			{Name: "slow", Status: "error", DurationMS: 1e15 - 1},
		}, Totals: planrun.Totals{DurationMS: 1534}}},
		"out of bounds": {Result: &planrun.Result{Status: "failed", Steps: []planrun.StepResult{
			{Name: "negative", Status: "passed", DurationMS: -1},
			{Name: "huge", Status: "passed", DurationMS: 1e15},
		}, Totals: planrun.Totals{DurationMS: -7}}},
	}
	for name, res := range cases {
		doc, err := json.Marshal(res)
		require.NoError(t, err, name)
		got := summarize(res)
		require.NotNil(t, got, name)
		assert.Equal(t, storage.SummarizeResult(doc), *got, name)
	}
	bad := &Result{Result: &planrun.Result{Steps: []planrun.StepResult{{Name: "bad \xff", Status: "passed"}}}}
	assert.Nil(t, summarize(bad), "a name that encoding changes leaves the summary to the store")
}
