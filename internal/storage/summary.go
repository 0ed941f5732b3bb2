package storage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// The step statuses that a result document records and that per-step
// statistics count.
const (
	StepPassed  = "passed"
	StepFailed  = "failed"
	StepError   = "error"
	StepSkipped = "skipped"
)

// StepSummary is what statistics keep of one step result.
type StepSummary struct {
	Name   string
	Status string
	// DurationMS is the step's duration_ms, or nil.
	DurationMS *int64
}

// ResultSummary is what statistics keep of an execution's result document.
// Every backend stores it beside the result when the result is written, so
// that statistics never read results, which may be megabytes each.
type ResultSummary struct {
	// DurationMS is the result's totals.duration_ms, or nil.
	DurationMS *int64
	// Steps are the result's steps, encoded by EncodeStepSummaries, or nil
	// when the result has no steps array.
	Steps []byte
}

// maxSummaryMS bounds the durations a summary keeps: numbers from it up
// (over 31,000 years) are taken for garbage. Far below 2^53, every number
// under it reads the same as a float64, as an SQLite real and as a
// Postgres numeric, so that migration 00011's backfill agrees with
// SummarizeResult.
const maxSummaryMS = 1e15

// SummarizeResult reads the duration and the steps of a result document,
// leniently, since the store does not otherwise interpret results: a
// document that is not a JSON object gives an empty summary, steps that
// is not an array gives no steps, a name or status that is not a string
// gives "", and a duration that is not a number from 0 to under 10^15
// gives none. Durations are rounded to whole milliseconds, halves away
// from zero.
func SummarizeResult(result json.RawMessage) ResultSummary {
	var doc map[string]json.RawMessage
	if json.Unmarshal(result, &doc) != nil {
		return ResultSummary{}
	}
	var sum ResultSummary
	var totals map[string]json.RawMessage
	if json.Unmarshal(doc["totals"], &totals) == nil {
		sum.DurationMS = summaryMS(totals["duration_ms"])
	}
	var steps []json.RawMessage
	if raw, ok := doc["steps"]; !ok || json.Unmarshal(raw, &steps) != nil || steps == nil {
		return sum
	}
	out := make([]StepSummary, len(steps))
	for i, raw := range steps {
		var step map[string]json.RawMessage
		if json.Unmarshal(raw, &step) != nil {
			continue
		}
		out[i] = StepSummary{
			Name:       summaryText(step["name"]),
			Status:     summaryText(step["status"]),
			DurationMS: summaryMS(step["duration_ms"]),
		}
	}
	sum.Steps = EncodeStepSummaries(out)
	return sum
}

// summaryText returns raw as a string if it is a JSON string, or "".
func summaryText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// summaryMS returns raw as whole milliseconds if it is a JSON number from
// 0 to under maxSummaryMS, or nil.
func summaryMS(raw json.RawMessage) *int64 {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return nil
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f >= maxSummaryMS {
		return nil
	}
	ms := int64(math.Round(f))
	return &ms
}

// SummaryMS returns &ms when a summary keeps a duration of ms
// milliseconds, as SummarizeResult keeps one it reads: from 0 to under
// 10^15; otherwise nil.
func SummaryMS(ms int64) *int64 {
	if ms < 0 || ms >= maxSummaryMS {
		return nil
	}
	return &ms
}

// EncodeStepSummaries encodes steps as stored: a JSON array of [name,
// status, duration_ms or null] arrays, in order.
func EncodeStepSummaries(steps []StepSummary) []byte {
	rows := make([][3]any, len(steps))
	for i, s := range steps {
		rows[i] = [3]any{s.Name, s.Status, nil}
		if s.DurationMS != nil {
			rows[i][2] = *s.DurationMS
		}
	}
	b, err := json.Marshal(rows)
	if err != nil {
		// Strings and integers always marshal.
		panic(fmt.Sprintf("encode step summaries: %v", err))
	}
	return b
}

// DecodeStepSummaries decodes steps as EncodeStepSummaries encodes them.
// nil or empty input gives no steps.
func DecodeStepSummaries(b []byte) ([]StepSummary, error) {
	if len(b) == 0 {
		return nil, nil
	}
	// One decoding of the whole array: strings become string, numbers
	// float64 (exact, as stored durations are at most maxSummaryMS).
	var rows [][]any
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("decode step summaries: %w", err)
	}
	out := make([]StepSummary, len(rows))
	for i, row := range rows {
		if len(row) != 3 {
			return nil, fmt.Errorf("decode step summary %d: not a [name, status, duration_ms] array", i)
		}
		name, _ := row[0].(string)
		status, _ := row[1].(string)
		out[i] = StepSummary{Name: name, Status: status}
		if f, ok := row[2].(float64); ok && f >= 0 && f <= maxSummaryMS {
			ms := int64(math.Round(f))
			out[i].DurationMS = &ms
		}
	}
	return out, nil
}
