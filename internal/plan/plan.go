// Package plan defines version 1 of the API test plan document: the steps to
// run, the requests they send, the assertions they check and the values they
// capture for later steps. It also validates documents and expands the
// {{name}} templates used in requests.
//
// The types carry Huma schema tags because the HTTP API embeds Document in
// its request bodies and generates the OpenAPI description from them.
// Validate checks the rules that struct tags cannot express, and repeats the
// tag limits so that documents that did not come through the API are held to
// the same rules.
package plan

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
)

// Limits on the size of a document. They match the Huma schema tags on the
// types below.
const (
	// MaxVariables is the largest number of declared variables.
	MaxVariables = 100
	// MaxSteps is the largest number of steps in a document.
	MaxSteps = 100
	// MaxStepNameLength is the longest step name, in characters.
	MaxStepNameLength = 200
	// MaxURLLength is the longest request URL, in bytes, before expansion.
	MaxURLLength = 2048
	// MaxHeaders is the largest number of request headers in a step.
	MaxHeaders = 50
	// MaxCaptures is the largest number of captures in a step.
	MaxCaptures = 50
	// MaxAssertions is the largest number of entries in each assertion list.
	MaxAssertions = 50
	// MaxRetries is the largest number of retries of a step.
	MaxRetries = 10
	// MaxRetryDelayMS is the longest delay between attempts, in milliseconds.
	MaxRetryDelayMS = 60000
	// MaxTimeoutMS is the longest per-attempt timeout, in milliseconds.
	MaxTimeoutMS = 300000
	// DefaultTimeoutMS is the per-attempt timeout used when a step sets none.
	DefaultTimeoutMS = 10000
	// MaxNameLength is the longest variable or capture name.
	MaxNameLength = 100
)

// Limits on the size of a request after template expansion. Validate refuses
// a document whose declared variables alone already pass them, and a run
// fails the step, without sending it, when captured or env values do.
// Expansion checks them as it goes, so an oversized request is never built.
const (
	// MaxExpandedURLBytes is the largest size of a request URL after
	// expansion: 8 KiB.
	MaxExpandedURLBytes = 8 << 10
	// MaxExpandedHeaderBytes is the largest size of each request header
	// value after expansion: 8 KiB.
	MaxExpandedHeaderBytes = 8 << 10
	// MaxExpandedBodyBytes is the largest size of a request body after
	// expansion, as sent: the text of a body written as a JSON string, or
	// the JSON text of any other body. 1 MiB.
	MaxExpandedBodyBytes = 1 << 20
)

// Methods lists the HTTP methods a step may use.
var Methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// namePattern is the syntax of variable and capture names.
var namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Document is a version 1 test plan: variables and the steps that use them.
type Document struct {
	Variables map[string]string `json:"variables,omitempty" maxProperties:"100" doc:"Variables available to every step as {{name}}. Names must match ^[A-Za-z_][A-Za-z0-9_]*$. Values are used as written and are not expanded again." example:"{\"base_url\":\"https://api.example.com\"}"`
	Steps     []Step            `json:"steps" minItems:"1" maxItems:"100" nullable:"false" doc:"Steps to run, in order." example:"[{\"name\":\"Health check\",\"request\":{\"method\":\"GET\",\"url\":\"{{base_url}}/health\"},\"assert\":{\"status\":[200]}}]"`
}

// Step is one request of a plan, with the checks made on its response and the
// values captured from it for later steps.
type Step struct {
	Name              string    `json:"name" minLength:"1" maxLength:"200" doc:"Name of the step, shown in results. Names need not be unique." example:"Create a user"`
	Request           Request   `json:"request" doc:"Request to send." example:"{\"method\":\"GET\",\"url\":\"https://api.example.com/health\"}"`
	TimeoutMS         int       `json:"timeout_ms,omitempty" minimum:"0" maximum:"300000" default:"10000" doc:"Timeout of each attempt in milliseconds, covering the request and reading the response. 0 means the default of 10000." example:"5000"`
	Retries           int       `json:"retries,omitempty" minimum:"0" maximum:"10" doc:"How many times to retry the step when it fails or errors." example:"2"`
	RetryDelayMS      int       `json:"retry_delay_ms,omitempty" minimum:"0" maximum:"60000" doc:"Delay between attempts in milliseconds." example:"500"`
	Assert            *Assert   `json:"assert,omitempty" doc:"Checks made on the response. Without them any response passes." example:"{\"status\":[200,201]}"`
	Capture           []Capture `json:"capture,omitempty" maxItems:"50" doc:"Values captured from the response for use by later steps as {{name}}." example:"[{\"name\":\"user_id\",\"jsonpath\":\"$.id\"}]"`
	ContinueOnFailure bool      `json:"continue_on_failure,omitempty" doc:"Run the next steps even if this one fails or errors." example:"false"`
	PropagateTrace    *bool     `json:"propagate_trace,omitempty" doc:"Whether the step's request carries a W3C traceparent header naming its HTTP client span, so that a target which traces joins the run's trace. Absent or true sends it when the server traces (OTEL_EXPORTER_OTLP_ENDPOINT is set) and ASTRO_TRACE_TARGETS is not false; false never sends it, for targets that must not see trace headers. The step's own spans are recorded either way. A traceparent header that the step sets in request.headers is always sent as written, and astro-runner adds none." example:"false"`
}

// SendsTraceContext reports whether the step's request may carry the
// traceparent of its client span: unless PropagateTrace is false.
func (s *Step) SendsTraceContext() bool {
	return s.PropagateTrace == nil || *s.PropagateTrace
}

// Timeout returns the step's per-attempt timeout in milliseconds, applying
// DefaultTimeoutMS when TimeoutMS is 0.
func (s *Step) Timeout() int {
	if s.TimeoutMS <= 0 {
		return DefaultTimeoutMS
	}
	return s.TimeoutMS
}

// Request is the HTTP request a step sends. The URL, header values and body
// may contain {{name}} templates.
type Request struct {
	Method  string            `json:"method" required:"true" enum:"GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS" doc:"HTTP method." example:"POST"`
	URL     string            `json:"url" required:"true" minLength:"1" maxLength:"2048" doc:"Absolute http or https URL. May contain {{name}} templates." example:"{{base_url}}/users"`
	Headers map[string]string `json:"headers,omitempty" maxProperties:"50" doc:"Request headers. Values may contain {{name}} templates." example:"{\"Authorization\":\"Bearer {{api_token}}\"}"`
	Body    Body              `json:"body,omitempty" doc:"Request body. A JSON string is sent as raw text; any other JSON value is sent as JSON with Content-Type application/json unless a header sets it. Templates are expanded inside strings." example:"{\"name\":\"Ada\"}"`
}

// Assert holds the checks made on a step's response. Every check that is set
// must pass for the step to pass.
type Assert struct {
	Status       StatusSpec       `json:"status,omitempty" doc:"Accepted status codes. A bare integer is also accepted, as a deprecated shorthand for a list of one code." example:"[200]"`
	Headers      []HeaderAssert   `json:"headers,omitempty" maxItems:"50" doc:"Checks on response headers." example:"[{\"name\":\"Content-Type\",\"matches\":\"^application/json\"}]"`
	BodyContains []string         `json:"body_contains,omitempty" maxItems:"50" doc:"Strings the response body must contain." example:"[\"healthy\"]"`
	JSONPath     []JSONPathAssert `json:"jsonpath,omitempty" maxItems:"50" doc:"Checks on values selected from a JSON response body." example:"[{\"path\":\"$.id\",\"exists\":true}]"`
	MaxLatencyMS int              `json:"max_latency_ms,omitempty" minimum:"0" maximum:"300000" doc:"Largest accepted time in milliseconds from sending the request to reading the whole response. 0 means no limit." example:"500"`
}

// HeaderAssert checks one response header. At least one of Equals and
// Matches must be set; both may be.
type HeaderAssert struct {
	Name    string  `json:"name" minLength:"1" maxLength:"200" doc:"Header name, matched case-insensitively." example:"Content-Type"`
	Equals  *string `json:"equals,omitempty" maxLength:"4096" doc:"Exact value the header must have." example:"application/json"`
	Matches *string `json:"matches,omitempty" maxLength:"1024" doc:"Regular expression (Go RE2 syntax) the header value must match." example:"^application/json"`
}

// JSONPathAssert checks the value selected by an RFC 9535 JSONPath expression
// from a JSON response body. The value is the single node selected, or an
// array of the nodes when the path selects more than one. At least one of
// Equals, Exists and Matches must be set.
type JSONPathAssert struct {
	Path    string          `json:"path" minLength:"1" maxLength:"1024" doc:"RFC 9535 JSONPath expression." example:"$.user.id"`
	Equals  json.RawMessage `json:"equals,omitempty" doc:"JSON value the selected value must equal. Numbers compare by value, so 1 equals 1.0." example:"42"`
	Exists  *bool           `json:"exists,omitempty" doc:"Whether the path must select at least one node (true) or none (false)." example:"true"`
	Matches *string         `json:"matches,omitempty" maxLength:"1024" doc:"Regular expression the selected value must match: a string as is, anything else as JSON." example:"^[0-9a-f-]{36}$"`
}

// Capture stores a value from a step's response in a variable for later
// steps. Exactly one of JSONPath, Header and Regex must be set.
type Capture struct {
	Name     string `json:"name" minLength:"1" maxLength:"100" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" doc:"Variable name to store the value in." example:"user_id"`
	JSONPath string `json:"jsonpath,omitempty" maxLength:"1024" doc:"RFC 9535 JSONPath selecting the value from a JSON body; a string is captured as is, anything else as JSON." example:"$.id"`
	Header   string `json:"header,omitempty" maxLength:"200" doc:"Response header whose first value is captured." example:"Location"`
	Regex    string `json:"regex,omitempty" maxLength:"1024" doc:"Regular expression run on the response body; the text of group Group of the first match is captured." example:"token=([a-z0-9]+)"`
	Group    int    `json:"group,omitempty" minimum:"0" maximum:"100" default:"1" doc:"Capture group of Regex to store. 0 means the default, group 1; wrap the whole expression in parentheses to capture the whole match." example:"1"`
}

// RegexGroup returns the capture group to use for a Regex capture, applying
// the default of 1 when Group is 0.
func (c *Capture) RegexGroup() int {
	if c.Group <= 0 {
		return 1
	}
	return c.Group
}

// StatusSpec is the expected status of a response: a list of accepted
// codes. In JSON it is an array of integers; a bare integer is read as a
// one-element array, a shorthand kept for compatibility.
type StatusSpec []int

// UnmarshalJSON accepts an array of integers, an integer (the shorthand for
// a one-element array) or null.
func (s *StatusSpec) UnmarshalJSON(data []byte) error {
	trimmed := strings.TrimSpace(string(data))
	switch {
	case trimmed == "null":
		*s = nil
		return nil
	case strings.HasPrefix(trimmed, "["):
		var codes []int
		if err := json.Unmarshal(data, &codes); err != nil {
			return fmt.Errorf("status: expected an array of integers or an integer: %w", err)
		}
		*s = codes
		return nil
	default:
		code, err := strconv.Atoi(trimmed)
		if err != nil {
			return fmt.Errorf("status: expected an array of integers or an integer, got %s", truncate(trimmed, 40))
		}
		*s = StatusSpec{code}
		return nil
	}
}

// MarshalJSON writes the codes as an array, even a single one, so that
// readers see one shape; nil is null.
func (s StatusSpec) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return json.Marshal([]int(s))
}

// Schema returns the OpenAPI schema of a status: a non-empty array of at
// most 20 codes from 100 to 599. It has one shape so that generated clients
// get a plain list type. The bare integer that UnmarshalJSON also accepts
// is a compatibility shorthand the schema does not describe: the HTTP API
// rewrites it to an array before validating a request (see
// NormalizeStatusShorthand).
func (StatusSpec) Schema(huma.Registry) *huma.Schema {
	lo, hi := 100.0, 599.0
	one, most := 1, 20
	return &huma.Schema{
		Type:        huma.TypeArray,
		Description: "Accepted status codes: 1 to 20 codes from 100 to 599. A bare integer is also accepted, as a deprecated shorthand for a list of one code; responses always carry an array.",
		Items:       &huma.Schema{Type: huma.TypeInteger, Format: "int32", Minimum: &lo, Maximum: &hi},
		MinItems:    &one,
		MaxItems:    &most,
	}
}

// NormalizeStatusShorthand rewrites, in place, every assert.status written
// as a bare number in a decoded document (as produced by decoding JSON into
// an any) into an array of that number, the form the schema describes. It
// lets a schema validator accept the shorthand that UnmarshalJSON accepts.
// Numbers may be float64 or json.Number (a decoder with UseNumber). Anything
// that is not shaped like a document is left alone.
func NormalizeStatusShorthand(document any) {
	doc, _ := document.(map[string]any)
	steps, _ := doc["steps"].([]any)
	for _, step := range steps {
		st, _ := step.(map[string]any)
		as, _ := st["assert"].(map[string]any)
		switch code := as["status"].(type) {
		case float64, json.Number:
			as["status"] = []any{code}
		}
	}
}

// Contains reports whether code is one of the accepted codes.
func (s StatusSpec) Contains(code int) bool {
	for _, c := range s {
		if c == code {
			return true
		}
	}
	return false
}

// Body is a request body as written in a plan: any JSON value. A JSON string
// stands for a raw text body; anything else is sent as JSON. It behaves like
// json.RawMessage and gives Huma a schema that accepts any value.
type Body []byte

// MarshalJSON returns the body as written, or null if it is empty.
func (b Body) MarshalJSON() ([]byte, error) {
	if len(b) == 0 {
		return []byte("null"), nil
	}
	return b, nil
}

// UnmarshalJSON stores a copy of data.
func (b *Body) UnmarshalJSON(data []byte) error {
	if b == nil {
		return fmt.Errorf("plan.Body: UnmarshalJSON on nil pointer")
	}
	*b = append((*b)[0:0], data...)
	return nil
}

// Schema returns a schema that accepts any JSON value.
func (Body) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{
		Description: "Any JSON value. A string is sent as raw text; anything else as JSON.",
	}
}

// IsEmpty reports whether the body is absent or JSON null.
func (b Body) IsEmpty() bool {
	s := strings.TrimSpace(string(b))
	return s == "" || s == "null"
}

// Text returns the text of a body written as a JSON string, and false if the
// body is not a JSON string.
func (b Body) Text() (string, bool) {
	s := strings.TrimSpace(string(b))
	if !strings.HasPrefix(s, `"`) {
		return "", false
	}
	var text string
	if err := json.Unmarshal([]byte(s), &text); err != nil {
		return "", false
	}
	return text, true
}

// truncate shortens s to at most n bytes, cut at a character boundary, for
// use in messages.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
