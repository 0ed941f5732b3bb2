package planrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

func ptr[T any](v T) *T { return &v }

// newServer starts a server on 127.0.0.1 that is closed when the test ends.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// newRunner returns a runner with a client of its own that allows loopback.
func newRunner() *planrun.Runner {
	return &planrun.Runner{Client: planrun.NewHTTPClient(nil)}
}

// get returns a GET step.
func get(name, url string) plan.Step {
	return plan.Step{Name: name, Request: plan.Request{Method: http.MethodGet, URL: url}}
}

// run runs the steps and requires that Run itself succeeds.
func run(t *testing.T, r *planrun.Runner, steps ...plan.Step) *planrun.Result {
	t.Helper()
	res, err := r.Run(context.Background(), &plan.Document{Steps: steps})
	require.NoError(t, err)
	require.Len(t, res.Steps, len(steps))
	return res
}

// assertionServer serves the fixtures the assertion tests check.
func assertionServer(t *testing.T) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		_, _ = io.WriteString(w, `{"id":1,"name":"Ada","tags":["a","b"],"nested":{"x":null,"ok":true},"big":12345678901234567890,"items":[{"n":1},{"n":5}]}`)
	})
	mux.HandleFunc("/text", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello world")
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, "done")
	})
	return newServer(t, mux)
}

func TestAssertions(t *testing.T) {
	t.Parallel()
	srv := assertionServer(t)
	tests := []struct {
		name     string
		path     string
		assert   plan.Assert
		wantKind string
		// wantMessage is a substring of the failure message, or "" if the
		// assertion must pass.
		wantMessage string
		wantActual  any
	}{
		{name: "StatusPass", path: "/json", assert: plan.Assert{Status: plan.StatusSpec{200}}, wantKind: planrun.KindStatus, wantActual: 200},
		{name: "StatusFail", path: "/json", assert: plan.Assert{Status: plan.StatusSpec{201}}, wantKind: planrun.KindStatus, wantMessage: "expected status 201, got 200"},
		{name: "StatusListPass", path: "/json", assert: plan.Assert{Status: plan.StatusSpec{201, 200}}, wantKind: planrun.KindStatus},
		{name: "StatusListFail", path: "/nope", assert: plan.Assert{Status: plan.StatusSpec{200, 204}}, wantKind: planrun.KindStatus, wantMessage: "expected status in [200 204], got 404"},
		{name: "HeaderEqualsPass", path: "/json", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "content-type", Equals: ptr("application/json")}}}, wantKind: planrun.KindHeaderEquals, wantActual: "application/json"},
		{name: "HeaderEqualsRepeated", path: "/json", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "X-Multi", Equals: ptr("a, b")}}}, wantKind: planrun.KindHeaderEquals},
		{name: "HeaderEqualsFail", path: "/text", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "Content-Type", Equals: ptr("application/json")}}}, wantKind: planrun.KindHeaderEquals, wantMessage: `got "text/plain"`},
		{name: "HeaderEqualsMissing", path: "/json", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "X-Absent", Equals: ptr("")}}}, wantKind: planrun.KindHeaderEquals, wantMessage: "header X-Absent is missing"},
		{name: "HeaderMatchesPass", path: "/json", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "Content-Type", Matches: ptr("^application/")}}}, wantKind: planrun.KindHeaderMatches},
		{name: "HeaderMatchesFail", path: "/json", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "Content-Type", Matches: ptr("^text/")}}}, wantKind: planrun.KindHeaderMatches, wantMessage: `to match "^text/"`},
		{name: "HeaderMatchesMissing", path: "/json", assert: plan.Assert{Headers: []plan.HeaderAssert{{Name: "X-Absent", Matches: ptr(".*")}}}, wantKind: planrun.KindHeaderMatches, wantMessage: "is missing"},
		{name: "BodyContainsPass", path: "/text", assert: plan.Assert{BodyContains: []string{"lo wo"}}, wantKind: planrun.KindBodyContains},
		{name: "BodyContainsFail", path: "/text", assert: plan.Assert{BodyContains: []string{"goodbye"}}, wantKind: planrun.KindBodyContains, wantMessage: `body does not contain "goodbye"`},
		{name: "JSONPathEqualsNumberByValue", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.id", Equals: json.RawMessage(`1.0`)}}}, wantKind: planrun.KindJSONPathEquals, wantActual: json.Number("1")},
		{name: "JSONPathEqualsExponent", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.id", Equals: json.RawMessage(`10e-1`)}}}, wantKind: planrun.KindJSONPathEquals},
		{name: "JSONPathEqualsString", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.name", Equals: json.RawMessage(`"Ada"`)}}}, wantKind: planrun.KindJSONPathEquals},
		{name: "JSONPathEqualsObject", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.nested", Equals: json.RawMessage(`{"ok":true,"x":null}`)}}}, wantKind: planrun.KindJSONPathEquals},
		{name: "JSONPathEqualsSeveralNodesAsArray", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.items[*].n", Equals: json.RawMessage(`[1, 5.0]`)}}}, wantKind: planrun.KindJSONPathEquals},
		{name: "JSONPathEqualsFilter", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.items[?@.n > 2].n", Equals: json.RawMessage(`5`)}}}, wantKind: planrun.KindJSONPathEquals},
		{name: "JSONPathEqualsBigIntegerExact", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.big", Equals: json.RawMessage(`12345678901234567890`)}}}, wantKind: planrun.KindJSONPathEquals},
		{name: "JSONPathEqualsBigIntegerOffByOne", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.big", Equals: json.RawMessage(`12345678901234567891`)}}}, wantKind: planrun.KindJSONPathEquals, wantMessage: "expected 12345678901234567891, got 12345678901234567890"},
		{name: "JSONPathEqualsFail", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.id", Equals: json.RawMessage(`"1"`)}}}, wantKind: planrun.KindJSONPathEquals, wantMessage: `expected "1", got 1`},
		{name: "JSONPathEqualsNothingSelected", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.missing", Equals: json.RawMessage(`null`)}}}, wantKind: planrun.KindJSONPathEquals, wantMessage: "path selected nothing"},
		{name: "JSONPathEqualsNotJSON", path: "/text", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.a", Equals: json.RawMessage(`1`)}}}, wantKind: planrun.KindJSONPathEquals, wantMessage: "response body is not JSON"},
		{name: "JSONPathExistsPass", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.nested.x", Exists: ptr(true)}}}, wantKind: planrun.KindJSONPathExists, wantActual: true},
		{name: "JSONPathNotExistsPass", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.missing", Exists: ptr(false)}}}, wantKind: planrun.KindJSONPathExists, wantActual: false},
		{name: "JSONPathExistsFail", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.missing", Exists: ptr(true)}}}, wantKind: planrun.KindJSONPathExists, wantMessage: "selected nothing"},
		{name: "JSONPathNotExistsFail", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.id", Exists: ptr(false)}}}, wantKind: planrun.KindJSONPathExists, wantMessage: "expected path to select nothing"},
		{name: "JSONPathExistsNotJSON", path: "/text", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$", Exists: ptr(true)}}}, wantKind: planrun.KindJSONPathExists, wantMessage: "not JSON"},
		{name: "JSONPathMatchesString", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.name", Matches: ptr("^A.a$")}}}, wantKind: planrun.KindJSONPathMatches, wantActual: "Ada"},
		{name: "JSONPathMatchesNumberAsText", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.big", Matches: ptr(`^\d{20}$`)}}}, wantKind: planrun.KindJSONPathMatches},
		{name: "JSONPathMatchesObjectAsJSON", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.tags", Matches: ptr(`^\["a","b"\]$`)}}}, wantKind: planrun.KindJSONPathMatches},
		{name: "JSONPathMatchesFail", path: "/json", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.name", Matches: ptr("^B")}}}, wantKind: planrun.KindJSONPathMatches, wantMessage: `expected value to match "^B", got "Ada"`},
		{name: "JSONPathMatchesNotJSON", path: "/text", assert: plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$", Matches: ptr(".")}}}, wantKind: planrun.KindJSONPathMatches, wantMessage: "not JSON"},
		{name: "MaxLatencyPass", path: "/json", assert: plan.Assert{MaxLatencyMS: plan.MaxTimeoutMS}, wantKind: planrun.KindMaxLatency},
		// The handler sleeps 20 ms, so the response cannot arrive within 1 ms.
		{name: "MaxLatencyFail", path: "/slow", assert: plan.Assert{MaxLatencyMS: 1}, wantKind: planrun.KindMaxLatency, wantMessage: "more than 1 ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			step := get(tt.name, srv.URL+tt.path)
			step.Assert = &tt.assert
			res := run(t, newRunner(), step)
			sr := res.Steps[0]
			require.Len(t, sr.Assertions, 1)
			a := sr.Assertions[0]
			require.Equal(t, tt.wantKind, a.Kind)
			if tt.wantActual != nil {
				require.Equal(t, tt.wantActual, a.Actual)
			}
			if tt.wantMessage == "" {
				require.True(t, a.Passed, a.Message)
				require.Empty(t, a.Message)
				require.Equal(t, planrun.StatusPassed, sr.Status)
				require.Equal(t, planrun.StatusPassed, res.Status)
				return
			}
			require.False(t, a.Passed)
			require.Contains(t, a.Message, tt.wantMessage)
			require.Equal(t, planrun.StatusFailed, sr.Status)
			require.Equal(t, planrun.StatusFailed, res.Status)
			require.Equal(t, "1 of 1 checks failed", sr.Error)
		})
	}
}

func TestAssertionsAllRunAndReportEachFailure(t *testing.T) {
	t.Parallel()
	srv := assertionServer(t)
	step := get("many", srv.URL+"/json")
	step.Assert = &plan.Assert{
		Status:       plan.StatusSpec{200},
		Headers:      []plan.HeaderAssert{{Name: "Content-Type", Equals: ptr("text/html"), Matches: ptr("json")}},
		BodyContains: []string{"Ada", "Bob"},
		JSONPath:     []plan.JSONPathAssert{{Path: "$.id", Equals: json.RawMessage(`1`), Exists: ptr(true), Matches: ptr("^2$")}},
	}
	sr := run(t, newRunner(), step).Steps[0]
	var kinds []string
	var failed []string
	for _, a := range sr.Assertions {
		kinds = append(kinds, a.Kind)
		if !a.Passed {
			failed = append(failed, a.Kind)
		}
	}
	require.Equal(t, []string{
		planrun.KindStatus, planrun.KindHeaderEquals, planrun.KindHeaderMatches,
		planrun.KindBodyContains, planrun.KindBodyContains,
		planrun.KindJSONPathEquals, planrun.KindJSONPathExists, planrun.KindJSONPathMatches,
	}, kinds)
	require.Equal(t, []string{planrun.KindHeaderEquals, planrun.KindBodyContains, planrun.KindJSONPathMatches}, failed)
	require.Equal(t, "3 of 8 checks failed", sr.Error)
}

// recorded is a request as a handler saw it.
type recorded struct {
	Path, Session, ContentType, Body string
}

func TestCapturesFlowIntoLaterSteps(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []recorded
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Session", "sess-7")
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"user":{"id":"u-42","roles":["admin"]},"note":"csrf=abc123;"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, recorded{Path: r.URL.Path, Session: r.Header.Get("X-Session"), ContentType: r.Header.Get("Content-Type"), Body: string(body)})
		mu.Unlock()
	})
	srv := newServer(t, mux)

	login := get("log in", srv.URL+"/login")
	login.Capture = []plan.Capture{
		{Name: "user_id", JSONPath: "$.user.id"},
		{Name: "roles", JSONPath: "$.user.roles"},
		{Name: "session", Header: "x-session"},
		{Name: "csrf", Regex: `csrf=([a-z]+)([0-9]+)`, Group: 2},
		{Name: "csrf_all", Regex: `(csrf=[a-z0-9]+)`},
	}
	jsonStep := plan.Step{Name: "json body", Request: plan.Request{
		Method:  http.MethodPost,
		URL:     srv.URL + "/users/{{user_id}}",
		Headers: map[string]string{"X-Session": "{{ session }}"},
		Body:    plan.Body(`{"csrf":"{{csrf}}","all":"{{csrf_all}}","roles":"{{roles}}","n":1}`),
	}}
	textStep := plan.Step{Name: "text body", Request: plan.Request{
		Method:  http.MethodPut,
		URL:     srv.URL + "/text",
		Headers: map[string]string{"Content-Type": "text/plain"},
		Body:    plan.Body(`"user={{user_id}}"`),
	}}
	res := run(t, newRunner(), login, jsonStep, textStep)
	require.Equal(t, planrun.StatusPassed, res.Status, "%+v", res.Steps)
	require.Equal(t, map[string]string{
		"user_id":  "u-42",
		"roles":    `["admin"]`,
		"session":  "sess-7",
		"csrf":     "123",
		"csrf_all": "csrf=abc123",
	}, res.Steps[0].Captured)

	require.Equal(t, []recorded{
		{Path: "/users/u-42", Session: "sess-7", ContentType: "application/json", Body: `{"csrf":"123","all":"csrf=abc123","roles":"[\"admin\"]","n":1}`},
		{Path: "/text", ContentType: "text/plain", Body: "user=u-42"},
	}, seen)
}

func TestCaptureFailureFailsTheStep(t *testing.T) {
	t.Parallel()
	srv := assertionServer(t)
	tests := []struct {
		name    string
		capture plan.Capture
		message string
	}{
		{name: "JSONPathNothing", capture: plan.Capture{Name: "a", JSONPath: "$.missing"}, message: "path selected nothing"},
		{name: "JSONPathNotJSON", capture: plan.Capture{Name: "a", JSONPath: "$.x"}, message: "not JSON"},
		{name: "HeaderMissing", capture: plan.Capture{Name: "a", Header: "X-Absent"}, message: "header X-Absent is missing"},
		{name: "RegexNoMatch", capture: plan.Capture{Name: "a", Regex: `id=(\d+)`}, message: "regex did not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := "/json"
			if tt.name == "JSONPathNotJSON" {
				path = "/text"
			}
			step := get("capture", srv.URL+path)
			step.Capture = []plan.Capture{tt.capture}
			next := get("next", srv.URL+"/json?{{a}}")
			res := run(t, newRunner(), step, next)
			sr := res.Steps[0]
			require.Equal(t, planrun.StatusFailed, sr.Status)
			require.Len(t, sr.Assertions, 1)
			require.Equal(t, planrun.KindCapture, sr.Assertions[0].Kind)
			require.Equal(t, "a", sr.Assertions[0].Target)
			require.Contains(t, sr.Assertions[0].Message, tt.message)
			require.Empty(t, sr.Captured)
			require.Equal(t, planrun.StatusSkipped, res.Steps[1].Status)
		})
	}
}

func TestMissingCaptureErrorsALaterStep(t *testing.T) {
	t.Parallel()
	srv := assertionServer(t)
	first := get("capture", srv.URL+"/json")
	first.Capture = []plan.Capture{{Name: "a", Header: "X-Absent"}}
	first.ContinueOnFailure = true
	res := run(t, newRunner(), first, get("uses it", srv.URL+"/json?a={{a}}"))
	require.Equal(t, planrun.StatusFailed, res.Steps[0].Status)
	require.Equal(t, planrun.StatusError, res.Steps[1].Status)
	require.Contains(t, res.Steps[1].Error, `unknown variable "a"`)
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		failures     int32
		retries      int
		wantStatus   string
		wantAttempts int
	}{
		{name: "SucceedsOnThirdAttempt", failures: 2, retries: 3, wantStatus: planrun.StatusPassed, wantAttempts: 3},
		{name: "SucceedsFirstTime", failures: 0, retries: 3, wantStatus: planrun.StatusPassed, wantAttempts: 1},
		{name: "RunsOutOfRetries", failures: 5, retries: 2, wantStatus: planrun.StatusFailed, wantAttempts: 3},
		{name: "NoRetries", failures: 1, retries: 0, wantStatus: planrun.StatusFailed, wantAttempts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var calls atomic.Int32
			srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if calls.Add(1) <= tt.failures {
					w.WriteHeader(http.StatusServiceUnavailable)
				}
			}))
			step := get("flaky", srv.URL)
			step.Retries = tt.retries
			step.RetryDelayMS = 1
			step.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
			sr := run(t, newRunner(), step).Steps[0]
			require.Equal(t, tt.wantStatus, sr.Status)
			require.Equal(t, tt.wantAttempts, sr.Attempts)
			require.Equal(t, int32(tt.wantAttempts), calls.Load())
		})
	}
}

func TestRetriesAfterTransportError(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			<-r.Context().Done() // The first attempt times out.
		}
	}))
	step := get("slow then fine", srv.URL)
	step.TimeoutMS = 50
	step.Retries = 1
	sr := run(t, newRunner(), step).Steps[0]
	require.Equal(t, planrun.StatusPassed, sr.Status, sr.Error)
	require.Equal(t, 2, sr.Attempts)
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // Block until the client gives up.
	}))
	step := get("hangs", srv.URL)
	step.TimeoutMS = 50
	res := run(t, newRunner(), step)
	sr := res.Steps[0]
	require.Equal(t, planrun.StatusError, sr.Status)
	require.Equal(t, "timed out after 50 ms", sr.Error)
	require.Zero(t, sr.HTTPStatus)
	require.Equal(t, planrun.StatusFailed, res.Status)
	require.Equal(t, 1, res.Totals.Errors)
}

func TestTimeoutWhileReadingBody(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	step := get("stalls", srv.URL)
	step.TimeoutMS = 50
	sr := run(t, newRunner(), step).Steps[0]
	require.Equal(t, planrun.StatusError, sr.Status)
	require.Equal(t, http.StatusOK, sr.HTTPStatus)
	require.Equal(t, "read response body: timed out after 50 ms", sr.Error)
	require.Equal(t, "partial", sr.BodyExcerpt)
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())

	res := run(t, newRunner(), get("refused", "http://"+addr+"/"))
	sr := res.Steps[0]
	require.Equal(t, planrun.StatusError, sr.Status)
	require.Contains(t, sr.Error, "connection refused")
	require.Equal(t, 1, sr.Attempts)
}

func TestBlockedByNetworkPolicy(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { calls.Add(1) }))
	policy, err := netguard.ParsePolicy("", "127.0.0.0/8, ::1/128")
	require.NoError(t, err)
	r := &planrun.Runner{Client: planrun.NewHTTPClient(policy)}

	res := run(t, r, get("blocked", srv.URL))
	sr := res.Steps[0]
	require.Equal(t, planrun.StatusError, sr.Status)
	require.Equal(t, "blocked by network policy: destination 127.0.0.1 is denied by 127.0.0.0/8", sr.Error)
	require.Zero(t, calls.Load())
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var hops atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/once", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/done", http.StatusFound)
	})
	mux.HandleFunc("/done", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "arrived") })
	srv := newServer(t, mux)

	once := get("once", srv.URL+"/once")
	once.Assert = &plan.Assert{Status: plan.StatusSpec{200}, BodyContains: []string{"arrived"}}
	loop := get("loop", srv.URL+"/loop")
	res := run(t, newRunner(), once, loop)
	require.Equal(t, planrun.StatusPassed, res.Steps[0].Status)
	require.Equal(t, planrun.StatusError, res.Steps[1].Status)
	require.Contains(t, res.Steps[1].Error, "stopped after 10 redirects")
	require.Equal(t, int32(planrun.MaxRedirects), hops.Load())
}

func TestNoCookieJar(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/set", func(w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "abc", Path: "/"})
	})
	mux.HandleFunc("/check", func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, "cookies=%d", len(r.Cookies()))
	})
	srv := newServer(t, mux)
	check := get("check", srv.URL+"/check")
	check.Assert = &plan.Assert{BodyContains: []string{"cookies=0"}}
	res := run(t, newRunner(), get("set", srv.URL+"/set"), check)
	require.Equal(t, planrun.StatusPassed, res.Status, res.Steps[1].BodyExcerpt)
}

func TestFailureSkipsRemainingSteps(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	first := get("first", srv.URL)
	first.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	res := run(t, newRunner(), first, get("second", srv.URL), get("third", srv.URL))
	require.Equal(t, []string{planrun.StatusFailed, planrun.StatusSkipped, planrun.StatusSkipped}, statuses(res))
	require.Equal(t, `step 1 ("first") failed`, res.Steps[1].Error)
	require.Zero(t, res.Steps[1].Attempts)
	require.Equal(t, planrun.Totals{Failed: 1, Skipped: 2, DurationMS: res.Totals.DurationMS}, res.Totals)
	require.Equal(t, planrun.StatusFailed, res.Status)
	require.Equal(t, int32(1), calls.Load())
}

func TestErrorSkipsRemainingSteps(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	res := run(t, newRunner(), get("refused", "http://"+addr), get("after", "http://"+addr))
	require.Equal(t, []string{planrun.StatusError, planrun.StatusSkipped}, statuses(res))
	require.Equal(t, `step 1 ("refused") errored`, res.Steps[1].Error)
}

func TestContinueOnFailure(t *testing.T) {
	t.Parallel()
	srv := assertionServer(t)
	first := get("first", srv.URL+"/json")
	first.Assert = &plan.Assert{Status: plan.StatusSpec{500}}
	first.ContinueOnFailure = true
	second := get("second", srv.URL+"/json")
	second.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	third := get("third", srv.URL+"/nope")
	third.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	fourth := get("fourth", srv.URL+"/json")
	res := run(t, newRunner(), first, second, third, fourth)
	require.Equal(t, []string{planrun.StatusFailed, planrun.StatusPassed, planrun.StatusFailed, planrun.StatusSkipped}, statuses(res))
	require.Equal(t, 1, res.Totals.Passed)
	require.Equal(t, 2, res.Totals.Failed)
	require.Equal(t, 1, res.Totals.Skipped)
	require.Equal(t, planrun.StatusFailed, res.Status)
}

func TestCancellationMidPlan(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var thirdCalled atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/one", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("/two", func(_ http.ResponseWriter, r *http.Request) {
		cancel()
		<-r.Context().Done() // Held until the client aborts the request.
	})
	mux.HandleFunc("/three", func(http.ResponseWriter, *http.Request) { thirdCalled.Store(true) })
	srv := newServer(t, mux)

	doc := &plan.Document{Steps: []plan.Step{get("one", srv.URL+"/one"), get("two", srv.URL+"/two"), get("three", srv.URL+"/three")}}
	two := &doc.Steps[1]
	two.Retries = 5 // Cancellation must also stop retries.
	res, err := newRunner().Run(ctx, doc)
	require.ErrorIs(t, err, context.Canceled)
	require.NotNil(t, res)
	require.Equal(t, []string{planrun.StatusPassed, planrun.StatusError, planrun.StatusSkipped}, statuses(res))
	require.Equal(t, 1, res.Steps[1].Attempts)
	require.Equal(t, "request aborted: context canceled", res.Steps[1].Error)
	require.Equal(t, "run cancelled", res.Steps[2].Error)
	require.False(t, thirdCalled.Load())
	require.Equal(t, planrun.StatusFailed, res.Status)
	require.False(t, res.FinishedAt.IsZero())
}

// TestStopCauseNamesTheReason checks that a run stopped with a cause, such
// as the handler's time limit, says so in the aborted and skipped steps.
func TestStopCauseNamesTheReason(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	mux := http.NewServeMux()
	mux.HandleFunc("/one", func(_ http.ResponseWriter, r *http.Request) {
		cancel(errors.New("run timed out"))
		<-r.Context().Done()
	})
	mux.HandleFunc("/two", func(http.ResponseWriter, *http.Request) {})
	srv := newServer(t, mux)

	res, err := newRunner().Run(ctx, &plan.Document{Steps: []plan.Step{get("one", srv.URL+"/one"), get("two", srv.URL+"/two")}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{planrun.StatusError, planrun.StatusSkipped}, statuses(res))
	require.Equal(t, "request aborted: run timed out", res.Steps[0].Error)
	require.Equal(t, "run stopped: run timed out", res.Steps[1].Error)
}

func TestCancellationDuringRetryDelay(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		calls.Add(1)
		cancel() // Cancelled while the runner waits to retry.
		w.WriteHeader(http.StatusInternalServerError)
	}))
	step := get("flaky", srv.URL)
	step.Assert = &plan.Assert{Status: plan.StatusSpec{200}}
	step.Retries = 3
	step.RetryDelayMS = plan.MaxRetryDelayMS // Must not be waited out.
	res, err := newRunner().Run(ctx, &plan.Document{Steps: []plan.Step{step, get("after", srv.URL)}})
	require.ErrorIs(t, err, context.Canceled)
	// The first attempt may see the response or the cancellation first,
	// but there is no second attempt.
	require.Equal(t, 1, res.Steps[0].Attempts)
	require.Contains(t, []string{planrun.StatusFailed, planrun.StatusError}, res.Steps[0].Status)
	require.Equal(t, planrun.StatusSkipped, res.Steps[1].Status)
	require.Equal(t, int32(1), calls.Load())
}

func TestCancelledBeforeRun(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := newRunner().Run(ctx, &plan.Document{Steps: []plan.Step{get("a", "http://127.0.0.1:1/")}})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, []string{planrun.StatusSkipped}, statuses(res))
}

func TestSecretRedaction(t *testing.T) {
	t.Parallel()
	const token = "tok-SECRET-1234567890"
	const literalKey = "literal-api-key-xyz"
	const literalBasic = "bGl0ZXJhbDpiYXNpYw=="
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Api-Key", "key-from-header-999")
		_, _ = io.WriteString(w, `{"api_token":"`+token+`","user":"ada"}`)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		// A careless server that echoes credentials back.
		_, _ = fmt.Fprintf(w, "auth=%s key=%s", r.Header.Get("Authorization"), r.Header.Get("X-Api-Key"))
	})
	srv := newServer(t, mux)

	login := get("log in", srv.URL+"/login")
	login.Capture = []plan.Capture{
		{Name: "api_token", JSONPath: "$.api_token"},
		{Name: "user", JSONPath: "$.user"},
		{Name: "API_KEY", Header: "X-Api-Key"},
	}
	login.Assert = &plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.api_token", Matches: ptr("^tok-")}}}
	echo := plan.Step{Name: "echo", Request: plan.Request{
		Method:  http.MethodGet,
		URL:     srv.URL + "/echo",
		Headers: map[string]string{"Authorization": "Bearer {{api_token}}", "X-Api-Key": literalKey},
	}}
	echo.Assert = &plan.Assert{BodyContains: []string{"nothing like this"}}
	echo.ContinueOnFailure = true
	basic := get("basic", srv.URL+"/echo")
	basic.Request.Headers = map[string]string{"authorization": "Basic " + literalBasic}
	res := run(t, newRunner(), login, echo, basic)

	require.Equal(t, map[string]string{"api_token": planrun.Redacted, "user": "ada", "API_KEY": planrun.Redacted}, res.Steps[0].Captured)
	for _, a := range res.Steps[0].Assertions {
		if a.Kind == planrun.KindCapture && a.Target != "user" {
			require.Equal(t, planrun.Redacted, a.Actual, a.Target)
		}
	}
	// The longest secret matching at a position wins: the whole header
	// value rather than the token after "Bearer".
	require.Equal(t, "auth="+planrun.Redacted+" key="+planrun.Redacted, res.Steps[1].BodyExcerpt)
	require.Equal(t, "auth="+planrun.Redacted+" key=", res.Steps[2].BodyExcerpt)

	out, err := json.Marshal(res)
	require.NoError(t, err)
	for _, secret := range []string{token, "key-from-header-999", literalKey, literalBasic} {
		require.NotContains(t, string(out), secret)
	}
	require.Contains(t, string(out), `"user":"ada"`)
	junit, err := planrun.JUnit("secrets", res)
	require.NoError(t, err)
	require.NotContains(t, string(junit), token)
}

func TestCustomSecretPattern(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"pin":"4321-5678","token":"visible"}`)
	}))
	step := get("s", srv.URL)
	step.Capture = []plan.Capture{{Name: "pin", JSONPath: "$.pin"}, {Name: "token", JSONPath: "$.token"}}
	r := newRunner()
	r.SecretPattern = regexp.MustCompile("^pin$")
	sr := run(t, r, step).Steps[0]
	require.Equal(t, map[string]string{"pin": planrun.Redacted, "token": "visible"}, sr.Captured)
	require.NotContains(t, sr.BodyExcerpt, "4321-5678")
}

func TestBodyExcerptIsCappedAndValidUTF8(t *testing.T) {
	t.Parallel()
	// One ASCII byte then two-byte runes, so that byte 4096 falls inside a
	// rune.
	body := "a" + strings.Repeat("é", 5000)
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, body)
	}))
	sr := run(t, newRunner(), get("big", srv.URL)).Steps[0]
	require.LessOrEqual(t, len(sr.BodyExcerpt), planrun.ExcerptBytes)
	require.GreaterOrEqual(t, len(sr.BodyExcerpt), planrun.ExcerptBytes-3)
	require.True(t, utf8.ValidString(sr.BodyExcerpt))
	require.True(t, strings.HasPrefix(body, sr.BodyExcerpt))
}

func TestBodyExcerptReplacesInvalidUTF8(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\xff\xfe" + strings.Repeat("\x80", 5000)))
	}))
	sr := run(t, newRunner(), get("binary", srv.URL)).Steps[0]
	require.True(t, utf8.ValidString(sr.BodyExcerpt))
	require.True(t, strings.HasPrefix(sr.BodyExcerpt, "ok\uFFFD"))
	require.LessOrEqual(t, len(sr.BodyExcerpt), planrun.ExcerptBytes)
}

func TestMaxBodyBytes(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"pad":"`+strings.Repeat("x", 200)+`","tail":"END"}`)
	}))
	step := get("big", srv.URL)
	step.Assert = &plan.Assert{
		BodyContains: []string{"xxxx", "END"},
		JSONPath:     []plan.JSONPathAssert{{Path: "$.tail", Exists: ptr(true)}},
	}
	r := newRunner()
	r.MaxBodyBytes = 100
	sr := run(t, r, step).Steps[0]
	require.Equal(t, planrun.StatusFailed, sr.Status)
	require.True(t, sr.Assertions[0].Passed)
	require.Equal(t, `body does not contain "END" in its first 100 bytes`, sr.Assertions[1].Message)
	require.Equal(t, "response body is larger than 100 bytes and was not parsed as JSON", sr.Assertions[2].Message)
	require.Len(t, sr.BodyExcerpt, 100)
}

func TestEnvAllow(t *testing.T) {
	t.Parallel()
	var gotHeader atomic.Value
	srv := newServer(t, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		gotHeader.Store(r.Header.Get("X-Env"))
	}))
	var asked []string
	r := newRunner()
	r.EnvAllow = []string{"API_TAG"}
	r.LookupEnvFunc = func(name string) (string, bool) {
		asked = append(asked, name)
		switch name {
		case "API_TAG":
			return "from-env", true
		case "SECRET_THING":
			return "must-not-be-read", true
		}
		return "", false
	}

	step := get("env", srv.URL)
	step.Request.Headers = map[string]string{"X-Env": "tag={{ env.API_TAG }}"}
	run(t, r, step)
	require.Equal(t, "tag=from-env", gotHeader.Load())
	require.Equal(t, []string{"API_TAG"}, asked)

	denied := get("env", srv.URL)
	denied.Request.Headers = map[string]string{"X-Env": "{{env.SECRET_THING}}"}
	res, err := r.Run(context.Background(), &plan.Document{Steps: []plan.Step{denied}})
	require.Nil(t, res)
	var verr *plan.ValidationError
	require.ErrorAs(t, err, &verr)
	require.Contains(t, err.Error(), "environment variable SECRET_THING is not in the allow list")
	require.Equal(t, []string{"API_TAG"}, asked, "a denied variable must not be read")
}

func TestAllowedButUnsetEnvErrorsTheStep(t *testing.T) {
	t.Parallel()
	r := newRunner()
	r.EnvAllow = []string{"UNSET_VAR"}
	r.LookupEnvFunc = func(string) (string, bool) { return "", false }
	step := get("env", "http://127.0.0.1:1/{{env.UNSET_VAR}}")
	step.Retries = 3 // Retrying cannot help, so it does not happen.
	sr := run(t, r, step).Steps[0]
	require.Equal(t, planrun.StatusError, sr.Status)
	require.Equal(t, 1, sr.Attempts)
	require.Equal(t, `build request: expand url: unknown variable "env.UNSET_VAR"`, sr.Error)
}

func TestHeaderInjectionFromCaptureIsRefused(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		_, _ = io.WriteString(w, `{"v":"a\r\nX-Injected: 1"}`)
	}))
	first := get("first", srv.URL)
	first.Capture = []plan.Capture{{Name: "v", JSONPath: "$.v"}}
	second := get("second", srv.URL)
	second.Request.Headers = map[string]string{"X-Value": "{{v}}"}
	res := run(t, newRunner(), first, second)
	require.Equal(t, planrun.StatusError, res.Steps[1].Status)
	require.Equal(t, "build request: header X-Value: expanded value contains CR, LF or NUL", res.Steps[1].Error)
	require.Equal(t, int32(1), calls.Load())
}

func TestInvalidDocumentIsRejected(t *testing.T) {
	t.Parallel()
	res, err := newRunner().Run(context.Background(), &plan.Document{Steps: []plan.Step{get("x", "file:///etc/passwd")}})
	require.Nil(t, res)
	require.True(t, errors.As(err, new(*plan.ValidationError)))
}

func TestZeroRunnerUsesDefaults(t *testing.T) {
	t.Parallel()
	srv := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(w, `{"ua":%q,"method":%q}`, r.UserAgent(), r.Method)
	}))
	step := plan.Step{Name: "post", Request: plan.Request{Method: http.MethodPost, URL: srv.URL, Body: plan.Body(`{"a":1}`)}}
	step.Assert = &plan.Assert{JSONPath: []plan.JSONPathAssert{{Path: "$.method", Equals: json.RawMessage(`"POST"`)}}}
	step.Capture = []plan.Capture{{Name: "secret_ua", JSONPath: "$.ua"}}
	var r planrun.Runner
	sr := run(t, &r, step).Steps[0]
	require.Equal(t, planrun.StatusPassed, sr.Status, sr.Error)
	require.Equal(t, planrun.Redacted, sr.Captured["secret_ua"])
}

func statuses(res *planrun.Result) []string {
	var out []string
	for _, s := range res.Steps {
		out = append(out, s.Status)
	}
	return out
}
