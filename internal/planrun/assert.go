package planrun

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/theory/jsonpath"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// checker runs assertions and captures against one response.
type checker struct {
	resp      *http.Response
	body      []byte
	truncated bool
	limit     int64
	latency   time.Duration
	// captureBudget is how many bytes of captured values the run may
	// still hold; see MaxRunCaptureBytes.
	captureBudget int

	parsed  bool
	json    any
	jsonErr error
}

// jsonBody decodes the body once, keeping numbers exact.
func (c *checker) jsonBody() (any, error) {
	if c.parsed {
		return c.json, c.jsonErr
	}
	c.parsed = true
	switch {
	case c.truncated:
		c.jsonErr = fmt.Errorf("response body is larger than %d bytes and was not parsed as JSON", c.limit)
	case len(bytes.TrimSpace(c.body)) == 0:
		c.jsonErr = errors.New("response body is empty, not JSON")
	default:
		c.json, c.jsonErr = decodeJSON(c.body)
		if c.jsonErr != nil {
			c.jsonErr = fmt.Errorf("response body is not JSON: %w", c.jsonErr)
		}
	}
	return c.json, c.jsonErr
}

// decodeJSON decodes one JSON value with json.Number for numbers.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// assert runs every assertion of a and returns their results in a fixed
// order: status, headers, body, JSONPath, latency.
func (c *checker) assert(a *plan.Assert) []AssertionResult {
	var results []AssertionResult
	if len(a.Status) > 0 {
		results = append(results, c.status(a.Status))
	}
	for _, h := range a.Headers {
		results = append(results, c.header(h)...)
	}
	for _, s := range a.BodyContains {
		results = append(results, c.bodyContains(s))
	}
	for _, j := range a.JSONPath {
		results = append(results, c.jsonPath(j)...)
	}
	if a.MaxLatencyMS > 0 {
		results = append(results, c.maxLatency(a.MaxLatencyMS))
	}
	return results
}

func (c *checker) status(want plan.StatusSpec) AssertionResult {
	res := AssertionResult{Kind: KindStatus, Actual: c.resp.StatusCode, Passed: want.Contains(c.resp.StatusCode)}
	if len(want) == 1 {
		res.Expected = want[0]
	} else {
		res.Expected = []int(want)
	}
	if !res.Passed {
		if len(want) == 1 {
			res.Message = fmt.Sprintf("expected status %d, got %d", want[0], c.resp.StatusCode)
		} else {
			res.Message = fmt.Sprintf("expected status in %v, got %d", []int(want), c.resp.StatusCode)
		}
	}
	return res
}

// header checks a header. A header sent more than once is checked as its
// values joined by ", ".
func (c *checker) header(h plan.HeaderAssert) []AssertionResult {
	values := c.resp.Header.Values(h.Name)
	present := len(values) > 0
	value := strings.Join(values, ", ")
	var actual any
	if present {
		actual = clip(value, echoWindow)
	}
	var results []AssertionResult
	if h.Equals != nil {
		res := AssertionResult{Kind: KindHeaderEquals, Target: h.Name, Expected: *h.Equals, Actual: actual}
		switch {
		case !present:
			res.Message = "header " + h.Name + " is missing"
		case value != *h.Equals:
			res.Message = fmt.Sprintf("expected header %s to equal %q, got %s", h.Name, *h.Equals, quoted(value))
		default:
			res.Passed = true
		}
		results = append(results, res)
	}
	if h.Matches != nil {
		res := AssertionResult{Kind: KindHeaderMatches, Target: h.Name, Expected: *h.Matches, Actual: actual}
		re, err := regexp.Compile(*h.Matches)
		switch {
		case err != nil:
			res.Message = "invalid regular expression: " + err.Error()
		case !present:
			res.Message = "header " + h.Name + " is missing"
		case !re.MatchString(value):
			res.Message = fmt.Sprintf("expected header %s to match %q, got %s", h.Name, *h.Matches, quoted(value))
		default:
			res.Passed = true
		}
		results = append(results, res)
	}
	return results
}

func (c *checker) bodyContains(s string) AssertionResult {
	res := AssertionResult{Kind: KindBodyContains, Expected: s, Passed: bytes.Contains(c.body, []byte(s))}
	if !res.Passed {
		res.Message = fmt.Sprintf("body does not contain %q", s)
		if c.truncated {
			res.Message += fmt.Sprintf(" in its first %d bytes", c.limit)
		}
	}
	return res
}

// jsonPath runs the checks of one JSONPath assertion.
func (c *checker) jsonPath(j plan.JSONPathAssert) []AssertionResult {
	var results []AssertionResult
	add := func(kind string, expected any) *AssertionResult {
		results = append(results, AssertionResult{Kind: kind, Target: j.Path, Expected: expected})
		return &results[len(results)-1]
	}
	var expectedEquals any
	if j.Equals != nil {
		v, err := decodeJSON(j.Equals)
		if err != nil {
			add(KindJSONPathEquals, string(j.Equals)).Message = "invalid expected value: " + err.Error()
			j.Equals = nil
		}
		expectedEquals = v
	}

	fail := func(msg string) []AssertionResult {
		if j.Equals != nil {
			add(KindJSONPathEquals, expectedEquals).Message = msg
		}
		if j.Exists != nil {
			add(KindJSONPathExists, *j.Exists).Message = msg
		}
		if j.Matches != nil {
			add(KindJSONPathMatches, *j.Matches).Message = msg
		}
		return results
	}
	doc, err := c.jsonBody()
	if err != nil {
		return fail(err.Error())
	}
	path, err := jsonpath.Parse(j.Path)
	if err != nil {
		return fail("invalid JSONPath: " + err.Error())
	}
	nodes := path.Select(doc)
	value, found := pathValue(nodes)

	if j.Equals != nil {
		res := add(KindJSONPathEquals, expectedEquals)
		switch {
		case !found:
			res.Message = "path selected nothing"
		case !jsonEqual(value, expectedEquals):
			res.Actual = value
			got, ok := boundedJSON(value, echoWindow)
			if !ok {
				got += ellipsis
			}
			res.Message = fmt.Sprintf("expected %s, got %s", jsonText(expectedEquals), got)
		default:
			res.Actual = value
			res.Passed = true
		}
	}
	if j.Exists != nil {
		res := add(KindJSONPathExists, *j.Exists)
		res.Actual = found
		res.Passed = found == *j.Exists
		if !res.Passed {
			if found {
				res.Message = "expected path to select nothing, but it selected a value"
			} else {
				res.Message = "expected path to select a value, but it selected nothing"
			}
		}
	}
	if j.Matches != nil {
		res := add(KindJSONPathMatches, *j.Matches)
		re, err := regexp.Compile(*j.Matches)
		switch {
		case err != nil:
			res.Message = "invalid regular expression: " + err.Error()
		case !found:
			res.Message = "path selected nothing"
		default:
			text, ok := boundedText(value, int(c.limit))
			if !ok {
				res.Message = fmt.Sprintf("selected value is larger than %d bytes as text and was not matched", c.limit)
				break
			}
			res.Actual = clip(text, echoWindow)
			res.Passed = re.MatchString(text)
			if !res.Passed {
				res.Message = fmt.Sprintf("expected value to match %q, got %s", *j.Matches, quoted(text))
			}
		}
	}
	return results
}

func (c *checker) maxLatency(maxMS int) AssertionResult {
	ms := c.latency.Milliseconds()
	res := AssertionResult{Kind: KindMaxLatency, Expected: maxMS, Actual: ms, Passed: ms <= int64(maxMS)}
	if !res.Passed {
		res.Message = fmt.Sprintf("response took %d ms, more than %d ms", ms, maxMS)
	}
	return res
}

// capture extracts the captures' values. It returns the values found and a
// result for every capture.
func (c *checker) capture(captures []plan.Capture) ([]captured, []AssertionResult) {
	var values []captured
	var results []AssertionResult
	for _, cp := range captures {
		res := AssertionResult{Kind: KindCapture, Target: cp.Name}
		value, source, err := c.captureValue(cp)
		res.Expected = source
		if err == nil && len(value) > c.captureBudget {
			err = fmt.Errorf("captured values of this run would pass %s in total, the limit for a run", plan.FormatSize(MaxRunCaptureBytes))
		}
		if err != nil {
			res.Message = err.Error()
		} else {
			c.captureBudget -= len(value)
			res.Passed = true
			res.Actual = clip(value, echoWindow)
			values = append(values, captured{name: cp.Name, value: value})
		}
		results = append(results, res)
	}
	return values, results
}

// captureValue returns the value of one capture and a description of its
// source.
func (c *checker) captureValue(cp plan.Capture) (value, source string, err error) {
	switch {
	case cp.JSONPath != "":
		source = "jsonpath " + cp.JSONPath
		doc, err := c.jsonBody()
		if err != nil {
			return "", source, err
		}
		path, err := jsonpath.Parse(cp.JSONPath)
		if err != nil {
			return "", source, fmt.Errorf("invalid JSONPath: %w", err)
		}
		v, found := pathValue(path.Select(doc))
		if !found {
			return "", source, errors.New("path selected nothing")
		}
		text, ok := boundedText(v, MaxCaptureBytes)
		if !ok {
			return "", source, errCaptureTooLarge
		}
		return text, source, nil
	case cp.Header != "":
		source = "header " + cp.Header
		values := c.resp.Header.Values(cp.Header)
		if len(values) == 0 {
			return "", source, fmt.Errorf("header %s is missing", cp.Header)
		}
		if len(values[0]) > MaxCaptureBytes {
			return "", source, errCaptureTooLarge
		}
		return values[0], source, nil
	case cp.Regex != "":
		group := cp.RegexGroup()
		source = fmt.Sprintf("regex %s group %d", cp.Regex, group)
		re, err := regexp.Compile(cp.Regex)
		if err != nil {
			return "", source, fmt.Errorf("invalid regular expression: %w", err)
		}
		m := re.FindSubmatch(c.body)
		switch {
		case m == nil:
			return "", source, errors.New("regex did not match the body")
		case group >= len(m):
			return "", source, fmt.Errorf("regex has no group %d", group)
		case len(m[group]) > MaxCaptureBytes:
			return "", source, errCaptureTooLarge
		}
		return string(m[group]), source, nil
	}
	return "", source, errors.New("capture has no source")
}

// errCaptureTooLarge fails a capture whose value is longer than
// MaxCaptureBytes. The value is not cut, since a cut value would be silently
// wrong when a later step uses it.
var errCaptureTooLarge = fmt.Errorf("captured value is larger than %s, the limit for one capture", plan.FormatSize(MaxCaptureBytes))

// pathValue returns the value a JSONPath selected: the single node, or an
// array of the nodes if there are several. found is false if there are none.
func pathValue(nodes jsonpath.NodeList) (value any, found bool) {
	switch len(nodes) {
	case 0:
		return nil, false
	case 1:
		return nodes[0], true
	}
	return []any(nodes), true
}

// jsonText returns v as compact JSON.
func jsonText(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// jsonEqual reports whether two decoded JSON values are equal, comparing
// numbers by value.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case json.Number:
		bn, ok := b.(json.Number)
		return ok && numberEqual(a, bn)
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return false
		}
		for i := range a {
			if !jsonEqual(a[i], bs[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok || len(a) != len(bm) {
			return false
		}
		for k, av := range a {
			bv, ok := bm[k]
			if !ok || !jsonEqual(av, bv) {
				return false
			}
		}
		return true
	}
	return false
}

// numberEqual compares JSON numbers exactly, so 1 equals 1.0 and 1e2
// equals 100, and large integers are not rounded. Numbers with very large
// exponents are compared as float64 to bound the work.
func numberEqual(a, b json.Number) bool {
	if a == b {
		return true
	}
	if hugeExponent(a) || hugeExponent(b) {
		af, aerr := a.Float64()
		bf, berr := b.Float64()
		return aerr == nil && berr == nil && af == bf
	}
	ar, ok1 := new(big.Rat).SetString(string(a))
	br, ok2 := new(big.Rat).SetString(string(b))
	return ok1 && ok2 && ar.Cmp(br) == 0
}

// hugeExponent reports whether a number's exponent has more than three
// digits.
func hugeExponent(n json.Number) bool {
	i := strings.IndexAny(string(n), "eE")
	if i < 0 {
		return false
	}
	return len(strings.TrimLeft(string(n[i+1:]), "+-0")) > 3
}

// excerpt returns at most n bytes from the start of s, cut at a character
// boundary, with invalid UTF-8 and NUL replaced by U+FFFD.
func excerpt(s string, n int) string {
	if len(s) > n {
		s = s[:runeBoundary(s, n)]
	}
	s = cleanText(s)
	if len(s) > n {
		// Replacement characters made it longer.
		s = s[:runeBoundary(s, n)]
	}
	return s
}

// runeBoundary returns the largest index not after n at which s can be cut
// without splitting a character, looking back at most utf8.UTFMax-1 bytes.
func runeBoundary(s string, n int) int {
	for cut := n; cut > 0 && cut > n-utf8.UTFMax; cut-- {
		if utf8.RuneStart(s[cut]) {
			return cut
		}
	}
	return n
}

// jsonEscaped returns s as it appears inside a JSON string literal.
func jsonEscaped(s string) string {
	b, err := json.Marshal(s)
	if err != nil || len(b) < 2 {
		return s
	}
	return string(b[1 : len(b)-1])
}
