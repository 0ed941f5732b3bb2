package plan_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
)

func ptr[T any](v T) *T { return &v }

// validDoc returns a document that passes validation with EnvAllow
// ["API_HOST"] and uses most features.
func validDoc() *plan.Document {
	return &plan.Document{
		Variables: map[string]string{"base_url": "https://api.example.com", "user": "ada"},
		Steps: []plan.Step{
			{
				Name: "Log in",
				Request: plan.Request{
					Method:  "POST",
					URL:     "{{base_url}}/login",
					Headers: map[string]string{"Content-Type": "application/json", "X-User": "{{ user }}"},
					Body:    plan.Body(`{"user":"{{user}}","n":1}`),
				},
				TimeoutMS:    5000,
				Retries:      2,
				RetryDelayMS: 100,
				Assert: &plan.Assert{
					Status:       plan.StatusSpec{200, 201},
					Headers:      []plan.HeaderAssert{{Name: "Content-Type", Matches: ptr("^application/json")}},
					BodyContains: []string{"token"},
					JSONPath: []plan.JSONPathAssert{
						{Path: "$.token", Exists: ptr(true)},
						{Path: "$.n", Equals: json.RawMessage(`1.0`)},
						{Path: "$.items[?@.id > 1]", Matches: ptr(`^\d+$`)},
					},
					MaxLatencyMS: 1000,
				},
				Capture: []plan.Capture{
					{Name: "api_token", JSONPath: "$.token"},
					{Name: "location", Header: "Location"},
					{Name: "session", Regex: `session=([a-z0-9]+)`},
				},
			},
			{
				Name: "Get profile",
				Request: plan.Request{
					Method:  "GET",
					URL:     "https://{{env.API_HOST}}/users/{{session}}?loc={{location}}",
					Headers: map[string]string{"Authorization": "Bearer {{api_token}}"},
				},
				Assert: &plan.Assert{Status: plan.StatusSpec{200}},
			},
			{
				Name:    "Get profile",
				Request: plan.Request{Method: "DELETE", URL: "http://127.0.0.1:8080/x", Body: plan.Body(`"raw {{api_token}}"`)},
			},
		},
	}
}

var validOpts = plan.ValidateOptions{EnvAllow: []string{"API_HOST"}}

func TestValidateAcceptsValidDocument(t *testing.T) {
	t.Parallel()
	require.NoError(t, validDoc().Validate(validOpts))
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(d *plan.Document)
		opts    *plan.ValidateOptions
		loc     string
		message string
	}{
		{
			name:    "NoSteps",
			mutate:  func(d *plan.Document) { d.Steps = nil },
			loc:     "document.steps",
			message: "at least 1 step",
		},
		{
			name: "TooManySteps",
			mutate: func(d *plan.Document) {
				for len(d.Steps) <= plan.MaxSteps {
					d.Steps = append(d.Steps, d.Steps[2])
				}
			},
			loc:     "document.steps",
			message: "at most 100 steps",
		},
		{
			name:    "BadVariableName",
			mutate:  func(d *plan.Document) { d.Variables["bad-name"] = "x" },
			loc:     "document.variables.bad-name",
			message: "must match",
		},
		{
			name:    "InvalidUTF8Variable",
			mutate:  func(d *plan.Document) { d.Variables["v"] = "a\xffb" },
			loc:     "document.variables.v",
			message: "UTF-8",
		},
		{
			name:    "EmptyStepName",
			mutate:  func(d *plan.Document) { d.Steps[1].Name = "  " },
			loc:     "document.steps[1].name",
			message: "must not be empty",
		},
		{
			name:    "LongStepName",
			mutate:  func(d *plan.Document) { d.Steps[0].Name = strings.Repeat("é", 201) },
			loc:     "document.steps[0].name",
			message: "at most 200",
		},
		{
			name:    "InvalidUTF8StepName",
			mutate:  func(d *plan.Document) { d.Steps[0].Name = "\xc3" },
			loc:     "document.steps[0].name",
			message: "UTF-8",
		},
		{
			name:    "LowercaseMethod",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Method = "get" },
			loc:     "document.steps[0].request.method",
			message: "must be one of",
		},
		{
			name:    "FileURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "file:///etc/passwd" },
			loc:     "document.steps[2].request.url",
			message: `scheme must be http or https, not "file"`,
		},
		{
			name:    "GopherURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "gopher://127.0.0.1:6379/_INFO" },
			loc:     "document.steps[2].request.url",
			message: "scheme must be http or https",
		},
		{
			name:    "FTPURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "ftp://example.com/x" },
			loc:     "document.steps[2].request.url",
			message: "scheme must be http or https",
		},
		{
			name:    "SchemeFromVariable",
			mutate:  func(d *plan.Document) { d.Variables["base_url"] = "file:///etc" },
			loc:     "document.steps[0].request.url",
			message: "scheme must be http or https",
		},
		{
			name:    "RelativeURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "/users" },
			loc:     "document.steps[2].request.url",
			message: "absolute",
		},
		{
			name:    "OpaqueURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "http:example.com" },
			loc:     "document.steps[2].request.url",
			message: "must include a host",
		},
		{
			name:    "NoHost",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "http:///path" },
			loc:     "document.steps[2].request.url",
			message: "must include a host",
		},
		{
			name:    "URLStartsWithCapture",
			mutate:  func(d *plan.Document) { d.Steps[1].Request.URL = "{{location}}/x" },
			loc:     "document.steps[1].request.url",
			message: "the scheme cannot come from a capture or env variable",
		},
		{
			name:    "URLStartsWithEnv",
			mutate:  func(d *plan.Document) { d.Steps[1].Request.URL = "{{env.API_HOST}}/x" },
			loc:     "document.steps[1].request.url",
			message: "the scheme cannot come from a capture or env variable",
		},
		{
			name:    "URLControlCharacter",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "http://a/\x7f" },
			loc:     "document.steps[2].request.url",
			message: "invalid URL",
		},
		{
			name:    "EmptyURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "" },
			loc:     "document.steps[2].request.url",
			message: "must not be empty",
		},
		{
			name:    "LongURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "https://a/" + strings.Repeat("x", 2048) },
			loc:     "document.steps[2].request.url",
			message: "at most 2048",
		},
		{
			name:    "UndefinedVariableInURL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "https://a/{{nope}}" },
			loc:     "document.steps[2].request.url",
			message: "{{nope}}: undefined variable",
		},
		{
			name:    "CaptureUsedInSameStep",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.URL = "https://a/{{session}}" },
			loc:     "document.steps[0].request.url",
			message: "captured only by this or a later step",
		},
		{
			name: "CaptureUsedBeforeItsStep",
			mutate: func(d *plan.Document) {
				d.Steps[0].Request.Headers["X-Later"] = "{{later}}"
				d.Steps[2].Capture = []plan.Capture{{Name: "later", Header: "X"}}
			},
			loc:     "document.steps[0].request.headers.X-Later",
			message: "captured only by this or a later step",
		},
		{
			name:    "EnvNotAllowed",
			mutate:  func(d *plan.Document) {},
			opts:    &plan.ValidateOptions{},
			loc:     "document.steps[1].request.url",
			message: "environment variable API_HOST is not in the allow list",
		},
		{
			name:    "UnclosedTemplate",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "https://a/{{user" },
			loc:     "document.steps[2].request.url",
			message: "unclosed {{",
		},
		{
			name:    "BadHeaderName",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Headers["Bad Header"] = "x" },
			loc:     "document.steps[0].request.headers.Bad Header",
			message: "HTTP token",
		},
		{
			name:    "HeaderNameWithColon",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Headers["X:Y"] = "x" },
			loc:     "document.steps[0].request.headers.X:Y",
			message: "HTTP token",
		},
		{
			name:    "HeaderValueCRLF",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Headers["X-A"] = "a\r\nX-Injected: 1" },
			loc:     "document.steps[0].request.headers.X-A",
			message: "CR, LF or NUL",
		},
		{
			name:    "HeaderValueLF",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Headers["X-A"] = "a\nb" },
			loc:     "document.steps[0].request.headers.X-A",
			message: "CR, LF or NUL",
		},
		{
			name:    "HeaderValueNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Headers["X-A"] = "a\x00b" },
			loc:     "document.steps[0].request.headers.X-A",
			message: "must not contain NUL",
		},
		{
			name:    "HeaderValueCRLFFromVariable",
			mutate:  func(d *plan.Document) { d.Variables["user"] = "ada\r\nX-Injected: 1" },
			loc:     "document.steps[0].request.headers.X-User",
			message: "CR, LF or NUL",
		},
		{
			name: "TooManyHeaders",
			mutate: func(d *plan.Document) {
				d.Steps[2].Request.Headers = map[string]string{}
				for i := range 51 {
					d.Steps[2].Request.Headers["X-"+strings.Repeat("a", i+1)] = "v"
				}
			},
			loc:     "document.steps[2].request.headers",
			message: "at most 50 headers",
		},
		{
			name:    "UndefinedVariableInBody",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Body = plan.Body(`{"a":["{{ghost}}"]}`) },
			loc:     "document.steps[0].request.body",
			message: "{{ghost}}: undefined variable",
		},
		{
			name:    "InvalidJSONBody",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Body = plan.Body(`{"a":`) },
			loc:     "document.steps[0].request.body",
			message: "valid JSON",
		},
		{
			name:    "InvalidUTF8Body",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Body = plan.Body("\"\xff\"") },
			loc:     "document.steps[0].request.body",
			message: "UTF-8",
		},
		{
			name:    "NegativeTimeout",
			mutate:  func(d *plan.Document) { d.Steps[0].TimeoutMS = -1 },
			loc:     "document.steps[0].timeout_ms",
			message: "between 0 and 300000",
		},
		{
			name:    "LongTimeout",
			mutate:  func(d *plan.Document) { d.Steps[0].TimeoutMS = 300001 },
			loc:     "document.steps[0].timeout_ms",
			message: "between 0 and 300000",
		},
		{
			name:    "TooManyRetries",
			mutate:  func(d *plan.Document) { d.Steps[0].Retries = 11 },
			loc:     "document.steps[0].retries",
			message: "between 0 and 10",
		},
		{
			name:    "LongRetryDelay",
			mutate:  func(d *plan.Document) { d.Steps[0].RetryDelayMS = 60001 },
			loc:     "document.steps[0].retry_delay_ms",
			message: "between 0 and 60000",
		},
		{
			name:    "StatusOutOfRange",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.Status = plan.StatusSpec{200, 600} },
			loc:     "document.steps[0].assert.status",
			message: "between 100 and 599",
		},
		{
			name:    "HeaderAssertWithoutCheck",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.Headers[0].Matches = nil },
			loc:     "document.steps[0].assert.headers[0]",
			message: "must set equals or matches",
		},
		{
			name:    "BadHeaderRegex",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.Headers[0].Matches = ptr("(") },
			loc:     "document.steps[0].assert.headers[0].matches",
			message: "invalid regular expression",
		},
		{
			name:    "BadJSONPath",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[0].Path = "$.[" },
			loc:     "document.steps[0].assert.jsonpath[0].path",
			message: "invalid JSONPath",
		},
		{
			name:    "JSONPathWithoutRoot",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[0].Path = "token" },
			loc:     "document.steps[0].assert.jsonpath[0].path",
			message: "invalid JSONPath",
		},
		{
			name:    "JSONPathAssertWithoutCheck",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[0].Exists = nil },
			loc:     "document.steps[0].assert.jsonpath[0]",
			message: "must set equals, exists or matches",
		},
		{
			name:    "JSONPathEqualsInvalidJSON",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[1].Equals = json.RawMessage(`{`) },
			loc:     "document.steps[0].assert.jsonpath[1].equals",
			message: "valid JSON",
		},
		{
			name:    "BadJSONPathRegex",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[2].Matches = ptr(`a{2,1}`) },
			loc:     "document.steps[0].assert.jsonpath[2].matches",
			message: "invalid regular expression",
		},
		{
			name:    "NegativeMaxLatency",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.MaxLatencyMS = -5 },
			loc:     "document.steps[0].assert.max_latency_ms",
			message: "between 0 and 300000",
		},
		{
			name:    "CaptureWithoutSource",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[0].JSONPath = "" },
			loc:     "document.steps[0].capture[0]",
			message: "exactly one of jsonpath, header and regex, has 0",
		},
		{
			name:    "CaptureWithTwoSources",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[0].Header = "X-Token" },
			loc:     "document.steps[0].capture[0]",
			message: "exactly one of jsonpath, header and regex, has 2",
		},
		{
			name:    "CaptureBadName",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[0].Name = "api.token" },
			loc:     "document.steps[0].capture[0].name",
			message: "must match",
		},
		{
			name:    "CaptureEmptyName",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[0].Name = "" },
			loc:     "document.steps[0].capture[0].name",
			message: "must not be empty",
		},
		{
			name:    "CaptureBadRegex",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[2].Regex = `(?P<x` },
			loc:     "document.steps[0].capture[2].regex",
			message: "invalid regular expression",
		},
		{
			name:    "CaptureRegexWithoutGroup",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[2].Regex = `session=[a-z]+` },
			loc:     "document.steps[0].capture[2].group",
			message: "regex has 0 groups, cannot capture group 1",
		},
		{
			name:    "CaptureGroupTooHigh",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[2].Group = 2 },
			loc:     "document.steps[0].capture[2].group",
			message: "cannot capture group 2",
		},
		{
			name:    "CaptureBadJSONPath",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[0].JSONPath = "$$" },
			loc:     "document.steps[0].capture[0].jsonpath",
			message: "invalid JSONPath",
		},
		{
			name:    "CaptureBadHeader",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[1].Header = "Loc ation" },
			loc:     "document.steps[0].capture[1].header",
			message: "HTTP token",
		},
		{
			name: "URLTooLarge",
			mutate: func(d *plan.Document) {
				d.Variables["base_url"] = "https://" + strings.Repeat("a", plan.MaxExpandedURLBytes)
			},
			loc:     "document.steps[0].request.url",
			message: "URL expands to 8206 bytes with the declared variables, more than the limit of 8 KiB",
		},
		{
			name:    "HeaderTooLarge",
			mutate:  func(d *plan.Document) { d.Variables["user"] = strings.Repeat("a", plan.MaxExpandedHeaderBytes+1) },
			loc:     "document.steps[0].request.headers.X-User",
			message: "header value expands to 8193 bytes",
		},
		{
			name: "JSONBodyTooLarge",
			mutate: func(d *plan.Document) {
				d.Variables["user"] = strings.Repeat("a", plan.MaxExpandedBodyBytes/2)
				d.Steps[0].Request.Body = plan.Body(`["{{user}}","{{user}}"]`)
			},
			loc:     "document.steps[0].request.body",
			message: "body expands to 1048583 bytes with the declared variables, more than the limit of 1 MiB",
		},
		{
			name: "TextBodyTooLarge",
			mutate: func(d *plan.Document) {
				d.Variables["user"] = strings.Repeat("a", plan.MaxExpandedBodyBytes/4)
				d.Steps[0].Request.Body = plan.Body(`"{{user}}{{user}}{{user}}{{user}}!"`)
			},
			loc:     "document.steps[0].request.body",
			message: "more than the limit of 1 MiB",
		},
		{
			name:    "VariableNUL",
			mutate:  func(d *plan.Document) { d.Variables["user"] = "a\x00" },
			loc:     "document.variables.user",
			message: "must not contain NUL",
		},
		{
			name:    "StepNameNUL",
			mutate:  func(d *plan.Document) { d.Steps[1].Name = "a\x00" },
			loc:     "document.steps[1].name",
			message: "must not contain NUL",
		},
		{
			name:    "URLNUL",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "https://a/\x00" },
			loc:     "document.steps[2].request.url",
			message: "must not contain NUL",
		},
		{
			name:    "BodyValueNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Body = plan.Body(`{"a":"x\u0000"}`) },
			loc:     "document.steps[0].request.body",
			message: "must not contain NUL",
		},
		{
			name:    "BodyKeyNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Body = plan.Body(`{"\u0000":1}`) },
			loc:     "document.steps[0].request.body",
			message: "must not contain NUL",
		},
		{
			name:    "TextBodyNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Body = plan.Body(`"a\u0000b"`) },
			loc:     "document.steps[0].request.body",
			message: "must not contain NUL",
		},
		{
			name:    "HeaderNameNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Request.Headers["X\x00"] = "1" },
			loc:     "document.steps[0].request.headers.X\x00",
			message: "must not contain NUL",
		},
		{
			name: "HeaderAssertEqualsNUL",
			mutate: func(d *plan.Document) {
				d.Steps[2].Assert = &plan.Assert{Headers: []plan.HeaderAssert{{Name: "A", Equals: ptr("\x00")}}}
			},
			loc:     "document.steps[2].assert.headers[0].equals",
			message: "must not contain NUL",
		},
		{
			name:    "BodyContainsNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.BodyContains = []string{"\x00"} },
			loc:     "document.steps[0].assert.body_contains[0]",
			message: "must not contain NUL",
		},
		{
			name:    "JSONPathEqualsNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[1].Equals = json.RawMessage(`["\u0000"]`) },
			loc:     "document.steps[0].assert.jsonpath[1].equals",
			message: "must not contain NUL",
		},
		{
			name:    "JSONPathMatchesNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Assert.JSONPath[2].Matches = ptr("a\x00") },
			loc:     "document.steps[0].assert.jsonpath[2].matches",
			message: "must not contain NUL",
		},
		{
			name:    "CaptureRegexNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[2].Regex = "(a)\x00" },
			loc:     "document.steps[0].capture[2].regex",
			message: "must not contain NUL",
		},
		{
			name:    "CaptureJSONPathNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[0].JSONPath = "$['\x00']" },
			loc:     "document.steps[0].capture[0].jsonpath",
			message: "must not contain NUL",
		},
		{
			name:    "CaptureHeaderNUL",
			mutate:  func(d *plan.Document) { d.Steps[0].Capture[1].Header = "X\x00" },
			loc:     "document.steps[0].capture[1].header",
			message: "must not contain NUL",
		},
		{
			name:    "VariableNameNUL",
			mutate:  func(d *plan.Document) { d.Variables["a\x00"] = "1" },
			loc:     "document.variables.a\x00",
			message: "name must match",
		},
		{
			name:    "LocationPrefix",
			mutate:  func(d *plan.Document) { d.Steps[2].Request.URL = "ftp://x" },
			opts:    &plan.ValidateOptions{EnvAllow: []string{"API_HOST"}, Location: "body.document"},
			loc:     "body.document.steps[2].request.url",
			message: "scheme must be http or https",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := validDoc()
			tt.mutate(d)
			opts := validOpts
			if tt.opts != nil {
				opts = *tt.opts
			}
			err := d.Validate(opts)
			verr, ok := errors.AsType[*plan.ValidationError](err)
			require.True(t, ok, "want *ValidationError, got %v", err)
			require.NotEmpty(t, verr.Errors)
			for _, fe := range verr.Errors {
				if fe.Location == tt.loc && strings.Contains(fe.Message, tt.message) {
					return
				}
			}
			require.Failf(t, "missing error", "want %s: %s\ngot %v", tt.loc, tt.message, verr.Errors)
		})
	}
}

func TestValidateCollectsEveryProblemInOrder(t *testing.T) {
	t.Parallel()
	d := validDoc()
	d.Steps[0].Request.URL = "ftp://x"
	d.Steps[2].Retries = 99
	err := d.Validate(validOpts)
	verr, ok := errors.AsType[*plan.ValidationError](err)
	require.True(t, ok)
	require.Len(t, verr.Errors, 2)
	require.Equal(t, "document.steps[0].request.url", verr.Errors[0].Location)
	require.Equal(t, "ftp://x", verr.Errors[0].Value)
	require.Equal(t, "document.steps[2].retries", verr.Errors[1].Location)
	require.Equal(t, 99, verr.Errors[1].Value)
	require.Contains(t, err.Error(), "2 problems")
	require.Contains(t, err.Error(), "document.steps[2].retries: must be between 0 and 10")

	details := verr.Details()
	require.Len(t, details, 2)
	detailer, ok := details[0].(huma.ErrorDetailer)
	require.True(t, ok)
	require.Equal(t, "document.steps[0].request.url", detailer.ErrorDetail().Location)
}

func TestValidateNilDocument(t *testing.T) {
	t.Parallel()
	var d *plan.Document
	err := d.Validate(plan.ValidateOptions{Location: "body.document"})
	require.EqualError(t, err, "invalid plan: body.document: document is missing")
}

func TestValidateNeverEchoesHeaderValues(t *testing.T) {
	t.Parallel()
	d := validDoc()
	d.Steps[0].Request.Headers["Authorization"] = "Bearer s3cr3t\r\n"
	err := d.Validate(validOpts)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cr3t")
	b, merr := json.Marshal(err)
	require.NoError(t, merr)
	require.NotContains(t, string(b), "s3cr3t")
}

func TestValidateAllowsDuplicateStepNamesAndShadowingCaptures(t *testing.T) {
	t.Parallel()
	d := validDoc()
	// A capture may replace a declared variable; the URL check then cannot
	// rely on the declared value, but a literal scheme and host still pass.
	d.Steps[0].Capture = append(d.Steps[0].Capture, plan.Capture{Name: "user", Header: "X-User"})
	d.Steps[1].Request.URL = "https://example.com/{{user}}"
	require.Equal(t, d.Steps[1].Name, d.Steps[2].Name)
	require.NoError(t, d.Validate(validOpts))
}

// TestValidateSizesAtTheLimit checks that sizes exactly at each limit pass,
// and that captured and env values, unknown before the run, count as empty.
func TestValidateSizesAtTheLimit(t *testing.T) {
	t.Parallel()
	d := validDoc()
	const prefix = "https://h/"
	d.Variables["base_url"] = prefix + strings.Repeat("a", plan.MaxExpandedURLBytes-len(prefix)-len("/login"))
	d.Variables["user"] = strings.Repeat("u", plan.MaxExpandedHeaderBytes)
	d.Steps[0].Request.Body = plan.Body(`"{{user}}` + strings.Repeat("b", plan.MaxExpandedBodyBytes-plan.MaxExpandedHeaderBytes) + `"`)
	// Captures and env values count as empty at save time.
	d.Steps[1].Request.Body = plan.Body(`"{{session}}{{env.API_HOST}}` + strings.Repeat("c", plan.MaxExpandedBodyBytes) + `"`)
	require.NoError(t, d.Validate(validOpts))
}

// TestValidateCapturedHost checks the rule on URLs built from captures: the
// host may come from a capture or env variable, the scheme may not.
func TestValidateCapturedHost(t *testing.T) {
	t.Parallel()
	for _, url := range []string{"https://{{location}}/x", "http://{{session}}", "https://{{env.API_HOST}}:8080/{{location}}"} {
		d := validDoc()
		d.Steps[1].Request.URL = url
		require.NoError(t, d.Validate(validOpts), url)
	}
	d := validDoc()
	d.Steps[1].Request.URL = "{{location}}"
	err := d.Validate(validOpts)
	require.ErrorContains(t, err, "the scheme cannot come from a capture or env variable")
	require.ErrorContains(t, err, "the host and the rest may come from a capture or env variable")
}
