package planrun

import (
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// echoWindow is how much of a response text is kept while a step result is
// built, to be scrubbed and then cut to MaxEchoBytes: enough to hold any
// secret (at most MaxCaptureBytes long) that starts within the MaxEchoBytes
// finally kept. scrubber.cut drops what may be part of a secret at its end.
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
// The message is scrubbed later, including secrets in their quoted form.
func quoted(s string) string {
	return strconv.Quote(clip(s, echoWindow))
}

// scrubber replaces secret values in texts taken from responses. Each
// secret is matched in every form secretForms lists, in one pass over the
// text.
type scrubber struct {
	replacer *strings.Replacer
	// slack is how much of the end of a scrubbed text may differ from the
	// same part of the scrubbed whole text the first is a prefix of: the
	// part of a secret cut off by the prefix, and what the replacements
	// after its start made of the rest.
	slack int
}

// secretForms returns the forms in which a target may echo a secret, and
// in which it may appear in a result: raw, percent-encoded as in a query
// (url.QueryEscape) and as in a path (url.PathEscape), and with JSON's
// optional \/ escape; each of these also JSON-escaped (as in JSON text) and
// Go-quoted (as in messages, where a NUL is written \x00). It may list a
// form twice.
func secretForms(secret string) []string {
	var forms []string
	for _, base := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret),
		strings.ReplaceAll(jsonEscaped(secret), "/", `\/`)} {
		quoted := strconv.Quote(base)
		forms = append(forms, base, jsonEscaped(base), quoted[1:len(quoted)-1])
	}
	return forms
}

// newScrubber returns a scrubber for secrets, or nil if there are none.
func newScrubber(secrets []string) *scrubber {
	var forms []string
	for _, secret := range secrets {
		for _, form := range secretForms(secret) {
			if !slices.Contains(forms, form) {
				forms = append(forms, form)
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	// At a position where several forms match, the replacer takes the
	// first listed, so longer forms go first and leave no tail behind.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(forms))
	for _, form := range forms {
		pairs = append(pairs, form, Redacted)
	}
	// Past its start, a form cut off by the end of a prefix covers less
	// than len(forms[0]) bytes, which the replacements (of forms at least
	// minSecretLength bytes long by the 10 bytes of Redacted) make at most
	// 2.5 times as long; a few more cover a closing quote and ellipsis.
	return &scrubber{replacer: strings.NewReplacer(pairs...), slack: 3*len(forms[0]) + 16}
}

// scrub returns s with every secret replaced.
func (sc *scrubber) scrub(s string) string {
	if sc == nil {
		return s
	}
	return sc.replacer.Replace(s)
}

// cut returns s scrubbed and cut to at most n bytes. A text longer than n
// may have been cut from a longer one, within a secret, before it came
// here: its end, where the rest of such a secret would be, is dropped
// after scrubbing. That way no part of a secret is kept, even where
// replacing earlier secrets pulled the cut part forward.
func (sc *scrubber) cut(s string, n int) string {
	if sc == nil || len(s) <= n {
		return clip(sc.scrub(s), n)
	}
	t := sc.replacer.Replace(s)
	keep := len(t) - sc.slack
	if keep <= 0 {
		return ellipsis
	}
	return clip(t[:runeBoundary(t, keep)]+ellipsis, n)
}

// echo returns the form of a value taken from a response that goes into
// AssertionResult.Actual, scrubbed: a string cut to MaxEchoBytes; an object
// or array as is, with every string and key scrubbed, if its JSON text
// fits in MaxEchoBytes, and otherwise that text, scrubbed and cut.
func (sc *scrubber) echo(v any) any {
	switch v := v.(type) {
	case string:
		return sc.cut(v, MaxEchoBytes)
	case []any, map[string]any:
	default:
		return v
	}
	text, ok := boundedJSON(v, MaxEchoBytes)
	if ok && sc == nil {
		return v
	}
	if ok {
		v = sc.scrubValue(v)
		text = jsonText(v)
		// A secret may span strings, such as a key and its value.
		if len(text) <= MaxEchoBytes && sc.scrub(text) == text {
			return v
		}
	} else if sc != nil {
		// A wider window, so that any secret starting in the first
		// MaxEchoBytes is whole, and the cut comes after scrubbing.
		text, ok = boundedJSON(v, MaxEchoBytes+2*sc.slack)
	}
	if !ok {
		text += ellipsis
	}
	return sc.cut(text, MaxEchoBytes)
}

// scrubValue returns a copy of a decoded JSON value with every string in
// it, including object keys, scrubbed. v must be small: echo checks it.
func (sc *scrubber) scrubValue(v any) any {
	switch v := v.(type) {
	case string:
		return sc.scrub(v)
	case []any:
		out := make([]any, len(v))
		for i := range v {
			out[i] = sc.scrubValue(v[i])
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, item := range v {
			out[sc.scrub(k)] = sc.scrubValue(item)
		}
		return out
	}
	return v
}

// cleanValue returns v with cleanText applied to every string in it,
// including object keys. v must be small: scrubber.echo bounds it.
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
// Truncated. A reduced step keeps its name, status, HTTP status, attempts,
// duration, error (for a failed step, "N of M checks failed") and its first
// TruncatedAssertions failed assertions, with each text cut to
// TruncatedEchoBytes, as many of them as fit in MaxTruncatedStepBytes.
func (b *resultBudget) fit(sr StepResult) StepResult {
	size := jsonSize(sr)
	if b.used+size > b.limit {
		sr = truncateStep(sr)
		b.truncated = true
		size = jsonSize(sr)
		// Texts full of control characters are up to six times longer
		// as JSON; drop assertions until the step fits.
		for size > MaxTruncatedStepBytes && len(sr.Assertions) > 0 {
			sr.Assertions = sr.Assertions[:len(sr.Assertions)-1]
			size = jsonSize(sr)
		}
	}
	b.used += size
	return sr
}

// truncateStep reduces a step result to its outcome, as fit describes.
func truncateStep(sr StepResult) StepResult {
	sr.BodyExcerpt = ""
	sr.Captured = nil
	var failed []AssertionResult
	for _, a := range sr.Assertions {
		if a.Passed {
			continue
		}
		if len(failed) == TruncatedAssertions {
			break
		}
		if a.Kind == KindCapture {
			a.Actual = nil
		}
		a.Target = clip(a.Target, TruncatedEchoBytes)
		a.Expected = sanitizeValue(a.Expected, TruncatedEchoBytes)
		failed = append(failed, a)
	}
	sr.Assertions = failed
	sanitize(&sr, TruncatedEchoBytes)
	sr.Truncated = true
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
