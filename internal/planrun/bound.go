package planrun

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// echoWindow is how much of a response text is kept while a step result is
// built: enough to scrub any secret (at most MaxCaptureBytes long) that
// starts within the MaxEchoBytes finally kept.
const echoWindow = MaxEchoBytes + MaxCaptureBytes

// ellipsis marks text that was cut.
const ellipsis = "…"

// clip returns s cut to at most n bytes at a character boundary, ending with
// an ellipsis if it was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:runeBoundary(s, max(n-len(ellipsis), 0))] + ellipsis
}

// cleanText returns s with invalid UTF-8 and NUL characters replaced by
// U+FFFD, so that every backend can store it (Postgres refuses \u0000 in
// jsonb).
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.Contains(s, "\x00") {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// boundedJSON returns v, a value decoded from JSON, as compact JSON text like
// json.Marshal. It stops as soon as the text would pass limit bytes and then
// returns the text so far and false. A JSONPath that selects many nested
// nodes can make the full text far larger than the body it came from.
func boundedJSON(v any, limit int) (string, bool) {
	e := &boundedEncoder{limit: limit}
	ok := e.value(v)
	return string(e.buf), ok
}

// boundedEncoder writes JSON text up to a limit.
type boundedEncoder struct {
	buf   []byte
	limit int
}

// raw appends s if it fits.
func (e *boundedEncoder) raw(s string) bool {
	if len(e.buf)+len(s) > e.limit {
		e.buf = append(e.buf, s[:e.limit-len(e.buf)]...)
		return false
	}
	e.buf = append(e.buf, s...)
	return true
}

// value appends v.
func (e *boundedEncoder) value(v any) bool {
	switch v := v.(type) {
	case nil:
		return e.raw("null")
	case string:
		// The JSON text is never shorter than the string, so a string that
		// cannot fit is not encoded.
		if len(e.buf)+len(v) > e.limit {
			return e.raw(`"` + v[:min(len(v), e.limit)])
		}
		return e.raw(jsonText(v))
	case []any:
		return e.array(v)
	case map[string]any:
		return e.object(v)
	default:
		// Numbers and booleans are short.
		return e.raw(jsonText(v))
	}
}

func (e *boundedEncoder) array(v []any) bool {
	if !e.raw("[") {
		return false
	}
	for i, item := range v {
		if i > 0 && !e.raw(",") {
			return false
		}
		if !e.value(item) {
			return false
		}
	}
	return e.raw("]")
}

func (e *boundedEncoder) object(v map[string]any) bool {
	if !e.raw("{") {
		return false
	}
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 && !e.raw(",") {
			return false
		}
		if !e.value(k) || !e.raw(":") || !e.value(v[k]) {
			return false
		}
	}
	return e.raw("}")
}

// boundedText returns a string as is and any other value as compact JSON,
// like stringForm, and false if that is longer than limit bytes.
func boundedText(v any, limit int) (string, bool) {
	if s, ok := v.(string); ok {
		return s, len(s) <= limit
	}
	return boundedJSON(v, limit)
}

// quoted returns s quoted for a message, cut to echoWindow bytes first.
func quoted(s string) string {
	return fmt.Sprintf("%q", clip(s, echoWindow))
}

// echoValue returns the form of a value taken from a response that goes into
// AssertionResult.Actual: the value itself if its JSON text fits in
// MaxEchoBytes, or else that text cut, as a string. Strings are cut to
// echoWindow here and to MaxEchoBytes by sanitize, after scrubbing.
func echoValue(v any) any {
	switch v := v.(type) {
	case string:
		return clip(v, echoWindow)
	case nil, bool, json.Number, int, int64, float64:
		return v
	}
	text, ok := boundedJSON(v, MaxEchoBytes)
	if !ok {
		return clip(text+ellipsis, MaxEchoBytes)
	}
	return v
}

// cleanValue returns v with cleanText applied to every string in it,
// including object keys. v must be small: echoValue bounds it.
func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return cleanText(v)
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = cleanValue(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[cleanText(k)] = cleanValue(item)
		}
		return out
	}
	return v
}

// sanitize makes a step result safe to store: every text taken from a
// response is valid UTF-8 without NUL, and each error, message and Actual
// text is at most n bytes. Captured values are cleaned but not cut: they are
// at most MaxCaptureBytes already. Expected values come from the plan, which
// is validated, and are left alone.
func sanitize(sr *StepResult, n int) {
	sr.Error = clip(cleanText(sr.Error), n)
	for i := range sr.Assertions {
		a := &sr.Assertions[i]
		a.Message = clip(cleanText(a.Message), n)
		a.Actual = sanitizeValue(a.Actual, n)
	}
	for name, value := range sr.Captured {
		sr.Captured[name] = cleanText(value)
	}
	sr.BodyExcerpt = cleanText(sr.BodyExcerpt)
}

// sanitizeValue cleans an Actual or Expected value and cuts its text to n
// bytes.
func sanitizeValue(v any, n int) any {
	if s, ok := v.(string); ok {
		return clip(cleanText(s), n)
	}
	switch v.(type) {
	case []any, map[string]any:
		if text, ok := boundedJSON(v, n); !ok {
			return clip(cleanText(text)+ellipsis, n)
		}
	}
	return cleanValue(v)
}

// resultBudget tracks the size of a result as its steps are added.
type resultBudget struct {
	limit, used int
	truncated   bool
}

func newResultBudget(limit int) *resultBudget {
	if limit <= 0 {
		limit = DefaultMaxResultBytes
	}
	return &resultBudget{limit: limit}
}

// fit returns sr as it goes into the result: unchanged while the result is
// within its budget, and otherwise reduced to its outcome and marked
// Truncated.
func (b *resultBudget) fit(sr StepResult) StepResult {
	size := jsonSize(sr)
	if b.used+size > b.limit {
		sr.BodyExcerpt = ""
		sr.Captured = nil
		for i := range sr.Assertions {
			a := &sr.Assertions[i]
			if a.Kind == KindCapture {
				a.Actual = nil
			}
			a.Expected = sanitizeValue(a.Expected, TruncatedEchoBytes)
		}
		sanitize(&sr, TruncatedEchoBytes)
		sr.Truncated = true
		b.truncated = true
		size = jsonSize(sr)
	}
	b.used += size
	return sr
}

// jsonSize returns the size of v as JSON. Step results are bounded, so
// encoding one is cheap.
func jsonSize(v any) int {
	data, err := json.Marshal(v)
	if err != nil {
		return 0
	}
	return len(data)
}
