package planrun

import "time"

// Step and plan statuses.
const (
	// StatusPassed means every assertion and capture succeeded.
	StatusPassed = "passed"
	// StatusFailed means a response arrived but an assertion or capture
	// failed. For a whole plan it means some step failed or errored.
	StatusFailed = "failed"
	// StatusError means no usable response arrived: the request could not
	// be built, the destination was blocked, DNS failed, the connection was
	// refused, or the attempt timed out or was cancelled.
	StatusError = "error"
	// StatusSkipped means the step did not run.
	StatusSkipped = "skipped"
)

// Assertion kinds reported in AssertionResult.Kind.
const (
	KindStatus          = "status"
	KindHeaderEquals    = "header_equals"
	KindHeaderMatches   = "header_matches"
	KindBodyContains    = "body_contains"
	KindJSONPathEquals  = "jsonpath_equals"
	KindJSONPathExists  = "jsonpath_exists"
	KindJSONPathMatches = "jsonpath_matches"
	KindMaxLatency      = "max_latency_ms"
	// KindCapture reports a capture: whether the value was found, and the
	// value, redacted when the capture's name looks secret.
	KindCapture = "capture"
)

// Redacted replaces secret values in results.
const Redacted = "[REDACTED]"

// Result is the outcome of running a plan.
type Result struct {
	Status     string       `json:"status" enum:"passed,failed" doc:"failed if any step failed or errored, otherwise passed." example:"passed"`
	Steps      []StepResult `json:"steps" nullable:"false" doc:"One result per step of the plan, in order." example:"[{\"name\":\"Health check\",\"status\":\"passed\",\"attempts\":1,\"http_status\":200,\"duration_ms\":12}]"`
	Totals     Totals       `json:"totals" doc:"Counts of step results." example:"{\"passed\":1,\"failed\":0,\"errors\":0,\"skipped\":0,\"duration_ms\":12}"`
	StartedAt  time.Time    `json:"started_at" doc:"When the run started." example:"2026-01-02T15:04:05Z"`
	FinishedAt time.Time    `json:"finished_at" doc:"When the run finished." example:"2026-01-02T15:04:06Z"`
	Truncated  bool         `json:"truncated,omitempty" doc:"Whether the result reached its size budget (4 MiB of JSON by default), so that some steps kept only their outcome; those steps are marked truncated." example:"false"`
}

// Totals counts the step results of a run.
type Totals struct {
	Passed     int   `json:"passed" doc:"Steps that passed." example:"3"`
	Failed     int   `json:"failed" doc:"Steps with a failed assertion or capture." example:"1"`
	Errors     int   `json:"errors" doc:"Steps that got no usable response." example:"0"`
	Skipped    int   `json:"skipped" doc:"Steps that did not run." example:"1"`
	DurationMS int64 `json:"duration_ms" doc:"Wall-clock duration of the run in milliseconds." example:"1534"`
}

// StepResult is the outcome of one step.
type StepResult struct {
	Name        string            `json:"name" doc:"Name of the step." example:"Create a user"`
	Status      string            `json:"status" enum:"passed,failed,error,skipped" doc:"Outcome of the step's last attempt." example:"passed"`
	Attempts    int               `json:"attempts" doc:"Attempts made, including retries. 0 for a skipped step." example:"1"`
	HTTPStatus  int               `json:"http_status,omitempty" doc:"Status code of the last response, if one arrived." example:"201"`
	DurationMS  int64             `json:"duration_ms" doc:"Duration of the step in milliseconds, including retries and the delays between them." example:"87"`
	Error       string            `json:"error,omitempty" doc:"Why the step errored, failed or was skipped." example:"timed out after 10000 ms"`
	Assertions  []AssertionResult `json:"assertions,omitempty" nullable:"false" doc:"Results of the assertions and captures of the last attempt." example:"[{\"kind\":\"status\",\"expected\":201,\"actual\":201,\"passed\":true}]"`
	Captured    map[string]string `json:"captured,omitempty" doc:"Values captured for later steps, at most 64 KiB each. Values of captures whose names look secret are replaced by [REDACTED]. Invalid UTF-8 and NUL characters are replaced by U+FFFD here; later steps use the value as received." example:"{\"user_id\":\"42\",\"api_token\":\"[REDACTED]\"}"`
	BodyExcerpt string            `json:"body_excerpt,omitempty" doc:"The first 4 KiB of the last response body, as valid UTF-8, with secret captured values replaced by [REDACTED]. Invalid UTF-8 and NUL characters are replaced by U+FFFD." example:"{\"id\":42}"`
	Truncated   bool              `json:"truncated,omitempty" doc:"Whether the step came after the result reached its size budget: it keeps its status, HTTP status, attempts, duration, error and first 5 failed assertions, with each text cut to 100 bytes, but not its passed assertions, body excerpt or captured values." example:"false"`
}

// AssertionResult is the outcome of one assertion or capture.
type AssertionResult struct {
	Kind     string `json:"kind" enum:"status,header_equals,header_matches,body_contains,jsonpath_equals,jsonpath_exists,jsonpath_matches,max_latency_ms,capture" doc:"What was checked." example:"jsonpath_equals"`
	Target   string `json:"target,omitempty" doc:"The header name, JSONPath expression or capture name checked." example:"$.user.id"`
	Expected any    `json:"expected,omitempty" doc:"The expected value." example:"42"`
	Actual   any    `json:"actual,omitempty" doc:"The value found. Text longer than 1 KiB is cut and ends with …; a longer JSON value becomes its cut JSON text. NUL characters and invalid UTF-8 are replaced by U+FFFD." example:"41"`
	Passed   bool   `json:"passed" doc:"Whether the check passed." example:"false"`
	Message  string `json:"message,omitempty" doc:"Why the check failed." example:"expected 42, got 41"`
}
