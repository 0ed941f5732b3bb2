package astro

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestNextPollDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want time.Duration }{
		{firstPollDelay, 200 * time.Millisecond},
		{800 * time.Millisecond, 1600 * time.Millisecond},
		{1600 * time.Millisecond, maxPollDelay},
		{maxPollDelay, maxPollDelay},
	} {
		if got := nextPollDelay(tc.in); got != tc.want {
			t.Errorf("nextPollDelay(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestProblemFrom(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", maxProblemText+10)
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		want                    Problem
	}{
		{
			name: "ProblemDocument", status: 422, contentType: "application/problem+json",
			body: `{"status":422,"title":"Unprocessable Entity","detail":"validation failed","errors":[{"location":"body.name","message":"expected length >= 1","value":""}]}`,
			want: Problem{Status: 422, Title: "Unprocessable Entity", Detail: "validation failed",
				Errors: []ProblemDetail{{Location: "body.name", Message: "expected length >= 1", Value: ""}}},
		},
		{
			name: "StatusOfTheAnswerWins", status: 404, contentType: "application/problem+json; charset=utf-8",
			body: `{"status":400,"title":"Not Found"}`,
			want: Problem{Status: 404, Title: "Not Found"},
		},
		{
			name: "NotAProblem", status: 502, contentType: "text/html",
			body: "<h1>Bad Gateway</h1>\n",
			want: Problem{Status: 502, Title: "Bad Gateway", Detail: "<h1>Bad Gateway</h1>"},
		},
		{
			name: "BrokenJSON", status: 500, contentType: "application/json",
			body: `{"status":`,
			want: Problem{Status: 500, Title: "Internal Server Error", Detail: `{"status":`},
		},
		{
			name: "LongBodyIsCut", status: 503, contentType: "text/plain",
			body: long,
			want: Problem{Status: 503, Title: "Service Unavailable", Detail: long[:maxProblemText] + "…"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			hr := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {tc.contentType}}}
			got := problemFrom(hr, []byte(tc.body))
			if got.Error() != tc.want.Error() || len(got.Errors) != len(tc.want.Errors) {
				t.Fatalf("problemFrom = %+v, want %+v", got, tc.want)
			}
			for i := range got.Errors {
				if got.Errors[i] != tc.want.Errors[i] {
					t.Errorf("Errors[%d] = %+v, want %+v", i, got.Errors[i], tc.want.Errors[i])
				}
			}
		})
	}
}

// recorder is a test server that answers every request with status and body, and
// keeps the last request's headers.
type recorder struct {
	status int
	body   string
	last   http.Header
	// lastBody is the body of the last request.
	lastBody []byte
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.last = req.Header.Clone()
	r.lastBody, _ = io.ReadAll(req.Body)
	ct := "application/json"
	if r.status >= 300 {
		ct = "application/problem+json"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Request-ID", "req-1")
	w.WriteHeader(r.status)
	_, _ = io.WriteString(w, r.body)
}

func newRecorded(t *testing.T, rec *recorder, opts ...Option) *Client {
	t.Helper()
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const planID = "0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"

func TestHeadersAndProblems(t *testing.T) {
	t.Parallel()
	id, err := ParseUUID(planID)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{status: 412, body: `{"status":412,"title":"Precondition Failed","detail":"plan changed"}`}
	c := newRecorded(t, rec, WithToken("s3cret"))

	_, err = c.UpdatePlan(context.Background(), id, 3, PlanBody{Name: "x"})
	var p *Problem
	if !errors.As(err, &p) || p.Status != 412 || p.Detail != "plan changed" || p.RequestID != "req-1" {
		t.Fatalf("UpdatePlan error = %#v, want the 412 problem", err)
	}
	if got := rec.last.Get("If-Match"); got != `"3"` {
		t.Errorf("If-Match = %q, want %q", got, `"3"`)
	}
	if got := rec.last.Get("Authorization"); got != "Bearer s3cret" {
		t.Errorf("Authorization = %q, want the bearer token", got)
	}

	_, _ = c.ExecutePlan(context.Background(), id, "key-1")
	if got := rec.last.Get("Idempotency-Key"); got != "key-1" {
		t.Errorf("Idempotency-Key = %q, want key-1", got)
	}
	_, _ = c.ExecutePlan(context.Background(), id, "")
	if _, ok := rec.last["Idempotency-Key"]; ok {
		t.Errorf("an empty key sent Idempotency-Key %q", rec.last.Get("Idempotency-Key"))
	}
	if got := string(rec.lastBody); got != "{}" {
		t.Errorf("ExecutePlan sent body %q, want {}", got)
	}
	_, _ = c.ExecutePlanWith(context.Background(), id, ExecuteOptions{
		Variables: map[string]string{"base_url": "https://eu.example.com"}, Environment: "staging", Queue: "eu",
		Trigger: "cli",
	})
	want := `{"environment":"staging","queue":"eu","trigger":"cli","variables":{"base_url":"https://eu.example.com"}}`
	if got := string(rec.lastBody); got != want {
		t.Errorf("ExecutePlanWith sent body %s, want %s", got, want)
	}
}

func TestNoTokenSendsNoAuthorization(t *testing.T) {
	t.Parallel()
	rec := &recorder{status: 404, body: `{"status":404,"title":"Not Found"}`}
	c := newRecorded(t, rec, WithToken(""))
	id, _ := ParseUUID(planID)
	if _, err := c.GetPlan(context.Background(), id); err == nil {
		t.Fatal("GetPlan of a 404 gave no error")
	}
	if _, ok := rec.last["Authorization"]; ok {
		t.Errorf("Authorization sent without a token: %q", rec.last.Get("Authorization"))
	}
}

func TestWaitExecutionEndsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	polls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		polls++
		if polls == 2 {
			cancel() // the client is now waiting before its third poll, or sending its second
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+planID+`","plan_id":"`+planID+`","plan_revision":1,"status":"running","attempt":1,
			"created_at":"2025-01-02T15:04:05Z","started_at":null,"finished_at":null,"result":null}`)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ParseUUID(planID)
	_, err = c.WaitExecution(ctx, id)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitExecution error = %v, want context.Canceled", err)
	}
}

func TestParseUUIDRejectsNames(t *testing.T) {
	t.Parallel()
	if _, err := ParseUUID("Checkout smoke test"); err == nil {
		t.Error("ParseUUID accepted a plan name")
	}
}

// executionJSON is an execution of planID with the given status.
func executionJSON(status string) string {
	return `{"id":"` + planID + `","plan_id":"` + planID + `","plan_revision":1,"status":"` + status + `","attempt":1,
		"created_at":"2025-01-02T15:04:05Z","started_at":null,"finished_at":null,"result":null}`
}

// scriptedPolls serves one answer of script per request, then the last one again,
// and counts the requests. An answer "close" closes the connection without an answer;
// a number is that status with a text body; anything else is an execution with that
// status.
type scriptedPolls struct {
	script []string
	polls  atomic.Int64
}

func (s *scriptedPolls) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n := int(s.polls.Add(1))
	step := s.script[min(n, len(s.script))-1]
	switch {
	case step == "close":
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
	case step[0] >= '0' && step[0] <= '9':
		code, _ := strconv.Atoi(step)
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "restarting")
	default:
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, executionJSON(step))
	}
}

func TestWaitExecutionRetriesTransientErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		script    []string
		wantPolls int64
		// wantStatus is the final execution's status, or "" for an error with this
		// problem status (0: any error).
		wantStatus  string
		wantProblem int
	}{
		{name: "Unavailable", script: []string{"503", "503", "passed"}, wantPolls: 3, wantStatus: "passed"},
		{name: "GatewaysThenRunning", script: []string{"running", "502", "504", "failed"}, wantPolls: 4, wantStatus: "failed"},
		{name: "ConnectionClosed", script: []string{"close", "running", "passed"}, wantPolls: 3, wantStatus: "passed"},
		{name: "NotFoundEndsAtOnce", script: []string{"404", "passed"}, wantPolls: 1, wantProblem: 404},
		{name: "InternalErrorEndsAtOnce", script: []string{"running", "500", "passed"}, wantPolls: 2, wantProblem: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := &scriptedPolls{script: tc.script}
			srv := httptest.NewServer(s)
			t.Cleanup(srv.Close)
			c, err := New(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			id, _ := ParseUUID(planID)
			e, err := c.WaitExecution(context.Background(), id)
			if got := s.polls.Load(); got != tc.wantPolls {
				t.Errorf("polls = %d, want %d", got, tc.wantPolls)
			}
			if tc.wantStatus != "" {
				if err != nil {
					t.Fatalf("WaitExecution error = %v, want the %s execution", err, tc.wantStatus)
				}
				if string(e.Status) != tc.wantStatus {
					t.Errorf("status = %s, want %s", e.Status, tc.wantStatus)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) || p.Status != tc.wantProblem {
				t.Fatalf("WaitExecution error = %v, want a %d problem", err, tc.wantProblem)
			}
		})
	}
}

func TestWaitExecutionRetriesUntilTheContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &scriptedPolls{script: []string{"503"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.polls.Load() == 2 {
			cancel()
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := ParseUUID(planID)
	_, err = c.WaitExecution(ctx, id)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitExecution error = %v, want context.Canceled", err)
	}
	if got := s.polls.Load(); got < 3 {
		t.Errorf("polls = %d, want at least 3 (two 503s retried)", got)
	}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"BadGateway", &Problem{Status: 502}, true},
		{"Unavailable", fmt.Errorf("wrapped: %w", &Problem{Status: 503}), true},
		{"GatewayTimeout", &Problem{Status: 504}, true},
		{"InternalError", &Problem{Status: 500}, false},
		{"NotFound", &Problem{Status: 404}, false},
		{"TooManyRequests", &Problem{Status: 429}, false},
		{"ConnectionRefused", &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, true},
		{"ConnectionReset", fmt.Errorf("read body: %w", syscall.ECONNRESET), true},
		{"ClosedEarly", &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: io.EOF}, true},
		{"BodyCut", fmt.Errorf("read body: %w", io.ErrUnexpectedEOF), true},
		{"Canceled", &url.Error{Op: "Get", URL: "http://127.0.0.1:1", Err: context.Canceled}, false},
		{"DeadlineExceeded", fmt.Errorf("get: %w", context.DeadlineExceeded), false},
		{"Other", errors.New("unsupported protocol scheme"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := isTransient(tc.err); got != tc.want {
				t.Errorf("isTransient(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
