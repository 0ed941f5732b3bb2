package planjob

import (
	"unicode/utf8"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// summarize returns storage.SummarizeResult of res encoded as JSON, worked
// out from res itself, so that the store need not decode the document it
// was just given. It returns nil when it cannot be sure of giving the
// same answer (a name or status that is not valid UTF-8, which encoding
// replaces): the store then decodes the document.
func summarize(res *Result) *storage.ResultSummary {
	if res.Result == nil {
		return &storage.ResultSummary{}
	}
	sum := &storage.ResultSummary{DurationMS: storage.SummaryMS(res.Totals.DurationMS)}
	if res.Steps == nil {
		// Encoded as null, which SummarizeResult takes for no steps.
		return sum
	}
	steps := make([]storage.StepSummary, len(res.Steps))
	for i, st := range res.Steps {
		if !utf8.ValidString(st.Name) || !utf8.ValidString(st.Status) {
			return nil
		}
		steps[i] = storage.StepSummary{Name: st.Name, Status: st.Status, DurationMS: storage.SummaryMS(st.DurationMS)}
	}
	sum.Steps = storage.EncodeStepSummaries(steps)
	return sum
}
