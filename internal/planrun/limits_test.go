package planrun_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

// allocated returns how many bytes fn allocates in total. Tests that use it
// do not run in parallel, so the count is theirs (parallel tests start only
// after the sequential ones).
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// regexCaptures returns n captures of the whole body.
func regexCaptures(n int) []plan.Capture {
	caps := make([]plan.Capture, n)
	for i := range caps {
		caps[i] = plan.Capture{Name: fmt.Sprintf("c%d", i), Regex: `(?s)(.*)`}
	}
	return caps
}

// storable checks that a result encodes as valid UTF-8 JSON with no NUL in
// any string or key (Postgres jsonb refuses the escape \u0000).
func storable(t *testing.T, res *planrun.Result) []byte {
	t.Helper()
	data, err := json.Marshal(res)
	require.NoError(t, err)
	require.True(t, utf8.Valid(data))
	var v any
	require.NoError(t, json.Unmarshal(data, &v))
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			require.NotContains(t, v, "\x00")
		case []any:
			for _, item := range v {
				walk(item)
			}
		case map[string]any:
			for k, item := range v {
				require.NotContains(t, k, "\x00")
				walk(item)
			}
		}
	}
	walk(v)
	return data
}

// TestGzipBombIsBounded serves 50 MB of zeros gzip-compressed (about 50 KB on
// the wire). The transport decompresses it, the runner reads at most
// MaxBodyBytes of the result, and 50 (.*) captures of it fail rather than
// copying 1 MiB each.
func TestGzipBombIsBounded(t *testing.T) {
	var compressed bytes.Buffer
	zw, err := gzip.NewWriterLevel(&compressed, gzip.BestCompression)
	require.NoError(t, err)
	zeros := make([]byte, 1<<20)
	for range 50 {
		_, err := zw.Write(zeros)
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(compressed.Bytes())
	}))

	step := get("bomb", srv.URL)
	step.Assert = &plan.Assert{BodyContains: []string{"never"}}
	step.Capture = regexCaptures(plan.MaxCaptures)
	var res *planrun.Result
	used := allocated(func() { res = run(t, newRunner(), step) })
	// 1 MiB body read plus bookkeeping; unbounded it was 50 MB of body and
	// 50 MiB of captures.
	require.Less(t, used, uint64(32<<20), "allocated %d bytes", used)

	sr := res.Steps[0]
	require.Equal(t, planrun.StatusFailed, sr.Status)
	require.Contains(t, sr.Assertions[0].Message, "in its first 1048576 bytes", "the body read stops at MaxBodyBytes")
	require.Len(t, sr.Assertions, 1+plan.MaxCaptures)
	for _, a := range sr.Assertions[1:] {
		require.False(t, a.Passed)
		require.Equal(t, "captured value is larger than 64 KiB, the limit for one capture", a.Message)
	}
	require.Empty(t, sr.Captured)
	require.Len(t, sr.BodyExcerpt, planrun.ExcerptBytes-planrun.ExcerptBytes%3, "zeros become U+FFFD (3 bytes each)")
	require.Less(t, len(storable(t, res)), 64<<10)
}

// TestNULResponseIsStoredClean checks that NUL bytes from a target reach the
// result as U+FFFD, while a captured value used by a later step keeps its
// real bytes.
func TestNULResponseIsStoredClean(t *testing.T) {
	t.Parallel()
	var echoed atomic.Value
	mux := http.NewServeMux()
	mux.HandleFunc("/nul", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Bad", "a\xffb")
		_, _ = io.WriteString(w, "ab\x00cd")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"v":"x\u0000y","o":{"k\u0000":"\u0000"}}`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		echoed.Store(string(body))
	})
	srv := newServer(t, mux)

	s1 := get("nul", srv.URL+"/nul")
	s1.Assert = &plan.Assert{
		BodyContains: []string{"zz"},
		Headers:      []plan.HeaderAssert{{Name: "X-Bad", Equals: ptr("no")}},
	}
	s1.Capture = []plan.Capture{{Name: "raw", Regex: `(?s)(.*)`}, {Name: "bad", Header: "X-Bad"}}
	s1.ContinueOnFailure = true
	s2 := get("json", srv.URL+"/json")
	s2.Assert = &plan.Assert{JSONPath: []plan.JSONPathAssert{
		{Path: "$.o", Equals: json.RawMessage(`1`)},
		{Path: "$.v", Matches: ptr("^z")},
	}}
	s2.Capture = []plan.Capture{{Name: "v", JSONPath: "$.v"}}
	s2.ContinueOnFailure = true
	s3 := plan.Step{Name: "echo", Request: plan.Request{Method: http.MethodPost, URL: srv.URL + "/echo", Body: plan.Body(`"{{raw}}|{{v}}"`)}}
	res := run(t, newRunner(), s1, s2, s3)

	data := storable(t, res)
	require.Contains(t, string(data), "ab\uFFFDcd")
	require.Equal(t, "ab\uFFFDcd", res.Steps[0].BodyExcerpt)
	require.Equal(t, "ab\uFFFDcd", res.Steps[0].Captured["raw"])
	require.Equal(t, "a\uFFFDb", res.Steps[0].Captured["bad"])
	require.Equal(t, "x\uFFFDy", res.Steps[1].Captured["v"])
	require.Equal(t, map[string]any{"k\uFFFD": "\uFFFD"}, res.Steps[1].Assertions[0].Actual)
	require.Equal(t, planrun.StatusPassed, res.Steps[2].Status)
	// Later requests use the value as received.
	require.Equal(t, "ab\x00cd|x\x00y", echoed.Load())
}

// TestHugeCaptureInNextBody checks that a capture within its own limit that
// makes a later request too large fails that step, without sending it.
func TestHugeCaptureInNextBody(t *testing.T) {
	t.Parallel()
	var posts atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/big", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("v", 60_000))
	})
	mux.HandleFunc("/post", func(http.ResponseWriter, *http.Request) { posts.Add(1) })
	srv := newServer(t, mux)

	s1 := get("big", srv.URL+"/big")
	s1.Capture = []plan.Capture{{Name: "big", Regex: `(?s)(.*)`}}
	tests := []struct {
		name    string
		request plan.Request
		want    string
	}{
		{
			name:    "Body",
			request: plan.Request{Method: http.MethodPost, URL: srv.URL + "/post", Body: plan.Body(`"` + strings.Repeat("{{big}}", 20) + `"`)},
			want:    "build request: expanded body is larger than 1 MiB",
		},
		{
			name:    "JSONBody",
			request: plan.Request{Method: http.MethodPost, URL: srv.URL + "/post", Body: plan.Body(`{"a":"` + strings.Repeat("{{big}}", 20) + `"}`)},
			want:    "build request: expanded body is larger than 1 MiB",
		},
		{
			name:    "URL",
			request: plan.Request{Method: http.MethodGet, URL: srv.URL + "/post?q={{big}}"},
			want:    "build request: expanded url is larger than 8 KiB",
		},
		{
			name:    "Header",
			request: plan.Request{Method: http.MethodGet, URL: srv.URL + "/post", Headers: map[string]string{"X-Big": "{{big}}"}},
			want:    "build request: expanded header X-Big is larger than 8 KiB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := run(t, newRunner(), s1, plan.Step{Name: "use", Request: tt.request})
			require.Equal(t, planrun.StatusPassed, res.Steps[0].Status)
			require.Equal(t, planrun.StatusError, res.Steps[1].Status)
			require.Equal(t, tt.want, res.Steps[1].Error)
			require.Equal(t, 1, res.Steps[1].Attempts, "a request that cannot be built is not retried")
		})
	}
	require.Zero(t, posts.Load())
}

// TestNestedJSONPathIsBounded selects 1,000 nested nodes that each hold the
// same 500 KB string: their JSON text would be 500 MB. The assertion's
// Actual and Message, and the capture, stay small.
func TestNestedJSONPathIsBounded(t *testing.T) {
	const depth = 1000
	body := strings.Repeat("[", depth) + `"` + strings.Repeat("a", 500_000) + `"` + strings.Repeat("]", depth)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	step := get("nested", srv.URL)
	step.Assert = &plan.Assert{JSONPath: []plan.JSONPathAssert{
		{Path: "$..*", Equals: json.RawMessage(`1`)},
		{Path: "$..*", Matches: ptr("b")},
	}}
	step.Capture = []plan.Capture{{Name: "all", JSONPath: "$..*"}}
	var res *planrun.Result
	used := allocated(func() { res = run(t, newRunner(), step) })
	require.Less(t, used, uint64(64<<20), "allocated %d bytes", used)

	sr := res.Steps[0]
	eq := sr.Assertions[0]
	require.False(t, eq.Passed)
	actual, ok := eq.Actual.(string)
	require.True(t, ok, "a large Actual becomes cut JSON text, got %T", eq.Actual)
	require.LessOrEqual(t, len(actual), planrun.MaxEchoBytes)
	require.True(t, strings.HasSuffix(actual, "…"))
	require.LessOrEqual(t, len(eq.Message), planrun.MaxEchoBytes)
	require.Contains(t, sr.Assertions[1].Message, "larger than 1048576 bytes as text")
	require.Equal(t, "captured value is larger than 64 KiB, the limit for one capture", sr.Assertions[2].Message)
	require.Less(t, len(storable(t, res)), 16<<10)
}

// TestLongHeaderIsCutInResults checks that a long header value is cut in
// Actual and in the message.
func TestLongHeaderIsCutInResults(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("h", 100_000)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Long", long)
	}))
	step := get("long", srv.URL)
	step.Assert = &plan.Assert{Headers: []plan.HeaderAssert{{Name: "X-Long", Equals: ptr("x"), Matches: ptr("^x")}}}
	step.Capture = []plan.Capture{{Name: "h", Header: "X-Long"}}
	res := run(t, newRunner(), step)
	for _, a := range res.Steps[0].Assertions[:2] {
		require.False(t, a.Passed)
		require.LessOrEqual(t, len(a.Actual.(string)), planrun.MaxEchoBytes)
		require.LessOrEqual(t, len(a.Message), planrun.MaxEchoBytes)
	}
	require.Equal(t, "captured value is larger than 64 KiB, the limit for one capture", res.Steps[0].Assertions[2].Message)
}

// TestRunCaptureBudget checks that a run holds at most MaxRunCaptureBytes of
// captured values.
func TestRunCaptureBudget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("v", 60_000))
	}))
	var steps []plan.Step
	for i := range 2 {
		s := get(fmt.Sprintf("s%d", i), srv.URL)
		for j := range plan.MaxCaptures {
			s.Capture = append(s.Capture, plan.Capture{Name: fmt.Sprintf("c%d_%d", i, j), Regex: `(?s)(.*)`})
		}
		s.ContinueOnFailure = true
		steps = append(steps, s)
	}
	r := newRunner()
	r.MaxResultBytes = 64 << 20 // keep every assertion of both steps
	res := run(t, r, steps...)
	require.Equal(t, planrun.StatusPassed, res.Steps[0].Status)
	require.Equal(t, planrun.StatusFailed, res.Steps[1].Status)
	fits := planrun.MaxRunCaptureBytes/60_000 - plan.MaxCaptures
	require.True(t, res.Steps[1].Assertions[fits-1].Passed)
	require.Equal(t, "captured values of this run would pass 4 MiB in total, the limit for a run", res.Steps[1].Assertions[fits].Message)
}

// TestResultBudget checks that steps past MaxResultBytes keep their outcome
// and failed assertions but drop their passed assertions, excerpts and
// captured values, and are marked.
func TestResultBudget(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("b", 3000))
	}))
	var steps []plan.Step
	for i := range 5 {
		s := get(fmt.Sprintf("s%d", i), srv.URL)
		s.Assert = &plan.Assert{Status: plan.StatusSpec{201}}
		s.Capture = []plan.Capture{{Name: fmt.Sprintf("c%d", i), Regex: `(?s)(.*)`}}
		s.ContinueOnFailure = true
		steps = append(steps, s)
	}
	r := newRunner()
	r.MaxResultBytes = 15_000 // each full step takes about 6.5 KB
	res := run(t, r, steps...)
	require.True(t, res.Truncated)
	for i, sr := range res.Steps {
		require.Equal(t, planrun.StatusFailed, sr.Status, i)
		require.Equal(t, http.StatusOK, sr.HTTPStatus, i)
		require.Equal(t, "1 of 2 checks failed", sr.Error, i)
		require.Equal(t, "expected status 201, got 200", sr.Assertions[0].Message)
		if i < 2 {
			require.False(t, sr.Truncated, i)
			require.Len(t, sr.Assertions, 2, i)
			require.NotEmpty(t, sr.BodyExcerpt, i)
			require.Len(t, sr.Captured, 1, i)
			continue
		}
		require.True(t, sr.Truncated, i)
		require.Len(t, sr.Assertions, 1, "the passed capture is dropped")
		require.Empty(t, sr.BodyExcerpt, i)
		require.Empty(t, sr.Captured, i)
	}

	res, err := newRunner().Run(context.Background(), &plan.Document{Steps: steps[:1]})
	require.NoError(t, err)
	require.False(t, res.Truncated, "the default budget is 4 MiB")
}

// TestResultBudgetIsNearlyHard checks that steps past MaxResultBytes add
// little to the result however many assertions they have: 100 steps with
// 50 failing JSONPath assertions on 1,000-byte paths would take 5 MB if
// each kept its assertions.
func TestResultBudgetIsNearlyHard(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"a":1}`)
	}))
	var steps []plan.Step
	for i := range plan.MaxSteps {
		s := get(fmt.Sprintf("s%d", i), srv.URL)
		s.Assert = &plan.Assert{}
		for j := range plan.MaxAssertions {
			path := fmt.Sprintf("$['%d%s']", j, strings.Repeat("k", 1000))
			s.Assert.JSONPath = append(s.Assert.JSONPath, plan.JSONPathAssert{Path: path, Equals: json.RawMessage(`1`)})
		}
		s.ContinueOnFailure = true
		steps = append(steps, s)
	}
	r := newRunner()
	r.MaxResultBytes = 64 << 10
	res := run(t, r, steps...)
	require.True(t, res.Truncated)
	last := res.Steps[len(res.Steps)-1]
	require.True(t, last.Truncated)
	require.Equal(t, planrun.StatusFailed, last.Status)
	require.Equal(t, "50 of 50 checks failed", last.Error)
	require.Len(t, last.Assertions, planrun.TruncatedAssertions)
	for _, a := range last.Assertions {
		require.LessOrEqual(t, len(a.Target), planrun.TruncatedEchoBytes)
	}
	size := len(storable(t, res))
	require.LessOrEqual(t, size, r.MaxResultBytes+len(steps)*2<<10, "result of %d bytes", size)
}

// TestTruncatedStepIsBoundedWithControlCharacters checks that a step past
// MaxResultBytes takes at most MaxTruncatedStepBytes even where its texts,
// full of control characters, grow sixfold as JSON.
func TestTruncatedStepIsBoundedWithControlCharacters(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"a":"`+strings.Repeat(`\u0001`, 500)+`"}`)
	}))
	controls := json.RawMessage(`"` + strings.Repeat(`\u0002`, 500) + `"`)
	s := get(strings.Repeat("\x01", plan.MaxStepNameLength), srv.URL)
	s.Assert = &plan.Assert{}
	for range plan.MaxAssertions {
		s.Assert.JSONPath = append(s.Assert.JSONPath, plan.JSONPathAssert{Path: "$.a", Equals: controls})
	}
	r := newRunner()
	r.MaxResultBytes = 1
	res := run(t, r, s)
	sr := res.Steps[0]
	require.True(t, sr.Truncated)
	require.NotEmpty(t, sr.Assertions)
	data, err := json.Marshal(sr)
	require.NoError(t, err)
	require.LessOrEqual(t, len(data), planrun.MaxTruncatedStepBytes)
}

// TestResponseHeadersAreBounded checks that a response whose headers pass
// MaxResponseHeaderBytes errors its step, with a message naming the
// headers, while headers below the limit are read as usual.
func TestResponseHeadersAreBounded(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		size := 100 << 10
		if r.URL.Path == "/huge" {
			size = 200 << 10
		}
		w.Header().Set("X-Big", strings.Repeat("a", size))
	}))

	res, err := newRunner().Run(context.Background(), &plan.Document{Steps: []plan.Step{
		get("large", srv.URL+"/large"),
		get("huge", srv.URL+"/huge"),
	}})
	require.NoError(t, err)
	require.Equal(t, planrun.StatusPassed, res.Steps[0].Status, "100 KiB of headers is within the limit")
	sr := res.Steps[1]
	require.Equal(t, planrun.StatusError, sr.Status)
	require.Contains(t, sr.Error, fmt.Sprintf("response headers exceeded %d bytes", planrun.MaxResponseHeaderBytes))
}
