package api

// Hostile-input tests. Every request here is one a client should never send:
// each must be answered with a 4xx problem document (never a 5xx), must not
// leak driver or SQL text, and must write nothing. A few inputs that are
// accepted on purpose (duplicate keys, deep but legal nesting) are pinned in
// tests of their own, named for what they document.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// leakFragments are pieces of driver and SQL error text, lower-cased, that
// no answer may carry.
var leakFragments = []string{"sqlite", "sqlstate", "syntax error", "constraint"}

// hostileTimeout bounds every hostile request: a parser that recursed or
// looped on its input would blow it.
const hostileTimeout = 5 * time.Second

// requireNoLeak fails if the answer carries driver or SQL text. Fragments
// that the request itself contains are skipped, because a 400 echoes the
// body it could not parse.
func requireNoLeak(t *testing.T, res *response, sent []byte) {
	t.Helper()
	body := strings.ToLower(string(res.Body))
	sentLower := bytes.ToLower(sent)
	for _, f := range leakFragments {
		if bytes.Contains(sentLower, []byte(f)) {
			continue
		}
		require.NotContains(t, body, f, "the answer leaks driver or SQL text: %.500s", res.Body)
	}
}

// requireRejected checks that res is a 4xx problem document, with one of
// the given statuses if any, whose status matches the HTTP status, that has
// a title and that leaks nothing. It returns the problem.
func requireRejected(t *testing.T, res *response, statuses ...int) problemDoc {
	t.Helper()
	require.GreaterOrEqual(t, res.Status, 400, "body: %.500s", res.Body)
	require.Less(t, res.Status, 500, "body: %.500s", res.Body)
	if len(statuses) > 0 {
		require.Contains(t, statuses, res.Status, "body: %.500s", res.Body)
	}
	p := res.problem(t)
	require.NotEmpty(t, p.Title, "body: %.500s", res.Body)
	requireNoLeak(t, res, nil)
	return p
}

// requireLocation checks that one of the problem's errors points at loc.
func requireLocation(t *testing.T, p problemDoc, loc string) {
	t.Helper()
	require.Contains(t, p.locations(), loc, "errors: %+v", p.Errors)
}

// withT returns a copy of e that reports to t, so that subtests and fuzz
// inputs fail themselves rather than the test that made the env.
func (e *testEnv) withT(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

// timedRequest is request, failing if the answer takes longer than
// hostileTimeout.
func (e *testEnv) timedRequest(method, path string, body any, headers ...string) *response {
	e.t.Helper()
	start := time.Now()
	res := e.request(method, path, body, headers...)
	require.Less(e.t, time.Since(start), hostileTimeout, "%s %.100s took too long", method, path)
	return res
}

// storeState is what a rejected request must leave as it was: how many
// plans there are, and the identity and state of every execution and job,
// so that a status change (a cancel) shows as well as an insert.
type storeState struct {
	Plans      int
	Executions []string
	Jobs       []string
	// Plan is the plan a PUT targets, read straight from the store, or nil.
	Plan *storage.Plan
}

// state reads the store. planID, if not uuid.Nil, names a plan to read in
// full.
func (e *testEnv) state(planID uuid.UUID) storeState {
	e.t.Helper()
	s := storeState{Plans: e.planCount()}
	page, err := e.raw.ExecutionList(context.Background(), &storage.ExecutionListParams{Limit: storage.MaxPageLimit})
	require.NoError(e.t, err)
	for _, x := range page.Executions {
		s.Executions = append(s.Executions, fmt.Sprintf("%s %s %d", x.ID, x.Status, x.Attempt))
	}
	for _, j := range e.jobs() {
		s.Jobs = append(s.Jobs, fmt.Sprintf("%d %s %d %t", j.ID, j.State, j.Attempt, j.CancelRequested))
	}
	if planID != uuid.Nil {
		s.Plan = e.storedPlan(planID)
	}
	return s
}

// requireUnchanged fails if the store differs from before.
func (e *testEnv) requireUnchanged(before storeState) {
	e.t.Helper()
	var id uuid.UUID
	if before.Plan != nil {
		id = before.Plan.ID
	}
	require.Equal(e.t, before, e.state(id), "a rejected request must write nothing")
}

// hostileEnv returns an env holding one plan ("Target", revision 1) with one
// execution and its job, so that writes to any table would show.
func hostileEnv(t *testing.T) (*testEnv, Plan) {
	t.Helper()
	e := newEnv(t)
	p := e.createPlan("Target", map[string]string{"team": "a"})
	e.execute(p.ID)
	require.Equal(t, 1, e.executionCount())
	require.Len(t, e.jobs(), 1)
	return e, p
}

// Builders of plan bodies. Each returns JSON text with the hostile part
// spliced in verbatim, so that bytes json.Marshal would escape (invalid
// UTF-8, raw control characters) reach the server as written.

// bodyWithDoc returns a plan body around a document.
func bodyWithDoc(doc string) string {
	return `{"name":"Hostile","document":` + doc + `}`
}

// bodyWithStep returns a plan body whose document has one step.
func bodyWithStep(step string) string {
	return bodyWithDoc(`{"variables":{"base_url":"https://api.example.com"},"steps":[` + step + `]}`)
}

// bodyWithRequest returns a plan body whose one step sends request.
func bodyWithRequest(request string) string {
	return bodyWithStep(`{"name":"s","request":` + request + `}`)
}

// getWithHeaders returns a GET request to a fixed URL with these headers
// (a JSON object's members, without braces).
func getWithHeaders(members string) string {
	return `{"method":"GET","url":"https://api.example.com/","headers":{` + members + `}}`
}

// getURL returns a GET request to u, written as a JSON string literal body.
func getURL(u string) string {
	return `{"method":"GET","url":` + u + `}`
}

// jsonString quotes s as a JSON string.
func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// nested returns depth levels of open, then leaf, then depth levels of close.
func nested(open, leaf, close string, depth int) string {
	return strings.Repeat(open, depth) + leaf + strings.Repeat(close, depth)
}

// hostileBody is a request body that create-plan and update-plan must
// reject.
type hostileBody struct {
	name string
	body string
	// contentType replaces application/json when set.
	contentType string
	// statuses are the accepted statuses.
	statuses []int
	// location, when set, must be one of the problem's error locations.
	location string
}

// hostileBodies lists the bodies that create-plan and update-plan must
// reject without writing anything.
func hostileBodies() []hostileBody {
	const (
		step0   = "body.document.steps[0]"
		request = step0 + ".request"
	)
	bad := "\xff\xfe"
	mib := 1 << 20

	manySteps := make([]string, 101)
	for i := range manySteps {
		manySteps[i] = `{"name":"s","request":{"method":"GET","url":"https://api.example.com/"}}`
	}
	manyHeaders := make([]string, 51)
	for i := range manyHeaders {
		manyHeaders[i] = fmt.Sprintf(`"X-H%d":"v"`, i)
	}
	manyVariables := make([]string, 101)
	for i := range manyVariables {
		manyVariables[i] = fmt.Sprintf(`"v%d":"x"`, i)
	}
	manyLabels := make([]string, 60)
	for i := range manyLabels {
		manyLabels[i] = fmt.Sprintf(`"k%d":"%s"`, i, strings.Repeat("v", 300))
	}
	manyCaptures := make([]string, 51)
	for i := range manyCaptures {
		manyCaptures[i] = fmt.Sprintf(`{"name":"c%d","jsonpath":"$.id"}`, i)
	}

	return []hostileBody{
		// Size.
		{name: "over 1 MiB of valid JSON", body: `{"name":"Big","description":"` + strings.Repeat("d", mib) + `","document":` + validDocument + `}`, statuses: []int{413}},
		{name: "over 1 MiB inside the document", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":"` + strings.Repeat("b", mib) + `"}`), statuses: []int{413}},
		{name: "over 1 MiB of garbage", body: strings.Repeat("x", mib+1), statuses: []int{413}},
		{name: "over 1 MiB of whitespace then a valid body", body: strings.Repeat(" ", mib) + bodyWithDoc(validDocument), statuses: []int{413}},

		// Nesting past encoding/json's limit of 10,000 levels.
		{name: "10,000 nested arrays in a step body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":` + nested("[", "", "]", 10000) + `}`), statuses: []int{400}, location: "body"},
		{name: "10,000 nested objects in a step body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":` + nested(`{"a":`, "1", "}", 10000) + `}`), statuses: []int{400}, location: "body"},
		{name: "10,000 unclosed arrays in a step body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":` + strings.Repeat("[", 10000)), statuses: []int{400}, location: "body"},
		{name: "10,000 nested arrays in a variable", body: bodyWithDoc(`{"variables":{"v":` + nested("[", "", "]", 10000) + `},"steps":[]}`), statuses: []int{400}, location: "body"},
		{name: "10,000 nested objects as an unknown field", body: bodyWithDoc(`{"x":` + nested(`{"a":`, "1", "}", 10000) + `,"steps":[]}`), statuses: []int{400}, location: "body"},
		{name: "10,001 nested arrays as the whole body", body: nested("[", "", "]", 10001), statuses: []int{400}, location: "body"},

		// Bytes that are not UTF-8.
		{name: "invalid UTF-8 in name", body: `{"name":"a` + bad + `","document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in description", body: `{"name":"a","description":"` + bad + `","document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in label key", body: `{"name":"a","labels":{"k` + bad + `":"v"},"document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in label value", body: `{"name":"a","labels":{"k":"` + bad + `"},"document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in variable value", body: bodyWithDoc(`{"variables":{"v":"` + bad + `"},"steps":[{"name":"s","request":{"method":"GET","url":"https://api.example.com/"}}]}`), statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in step name", body: bodyWithStep(`{"name":"s` + bad + `","request":{"method":"GET","url":"https://api.example.com/"}}`), statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in URL", body: bodyWithRequest(getURL(`"https://api.example.com/` + bad + `"`)), statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in header name", body: bodyWithRequest(getWithHeaders(`"X-` + bad + `":"v"`)), statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in header value", body: bodyWithRequest(getWithHeaders(`"X-A":"` + bad + `"`)), statuses: []int{400}, location: "body"},
		{name: "invalid UTF-8 in request body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":"` + bad + `"}`), statuses: []int{400}, location: "body"},
		{name: "overlong UTF-8 slash", body: `{"name":"a` + "\xc0\xaf" + `","document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "UTF-8 encoded surrogate", body: `{"name":"a` + "\xed\xa0\x80" + `","document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "truncated UTF-8 sequence", body: `{"name":"a` + "\xe2\x82" + `","document":` + validDocument + `}`, statuses: []int{400}, location: "body"},

		// Media types other than JSON.
		{name: "text/plain", body: bodyWithDoc(validDocument), contentType: "text/plain", statuses: []int{415}},
		{name: "application/xml", body: `<plan><name>x</name></plan>`, contentType: "application/xml", statuses: []int{415}},
		{name: "form", body: `name=x&document=y`, contentType: "application/x-www-form-urlencoded", statuses: []int{415}},
		{name: "multipart", body: "--b\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nx\r\n--b--\r\n", contentType: "multipart/form-data; boundary=b", statuses: []int{415}},
		{name: "malformed media type", body: bodyWithDoc(validDocument), contentType: "a/b/c;;==", statuses: []int{400, 415}},

		// Bodies that are empty, not JSON or not an object.
		{name: "empty body", body: "", statuses: []int{400}},
		{name: "whitespace only", body: " \r\n\t ", statuses: []int{400}, location: "body"},
		{name: "null", body: "null", statuses: []int{422}, location: "body"},
		{name: "empty array", body: "[]", statuses: []int{422}, location: "body"},
		{name: "bare string", body: `"a plan"`, statuses: []int{422}, location: "body"},
		{name: "bare number", body: `42`, statuses: []int{422}, location: "body"},
		{name: "bare true", body: `true`, statuses: []int{422}, location: "body"},
		{name: "empty object", body: `{}`, statuses: []int{422}, location: "body"},
		{name: "truncated in document", body: `{"name":"x","document":{"steps":[`, statuses: []int{400}, location: "body"},
		{name: "truncated in a string", body: `{"name":"x`, statuses: []int{400}, location: "body"},
		{name: "trailing garbage", body: bodyWithDoc(validDocument) + `x`, statuses: []int{400}, location: "body"},
		{name: "two objects", body: bodyWithDoc(validDocument) + bodyWithDoc(validDocument), statuses: []int{400}, location: "body"},
		{name: "single quotes", body: `{'name':'x'}`, statuses: []int{400}, location: "body"},
		{name: "NaN", body: `{"name":"x","document":{"steps":[{"name":"s","timeout_ms":NaN}]}}`, statuses: []int{400}, location: "body"},
		{name: "comment", body: `{"name":"x" /* hi */,"document":` + validDocument + `}`, statuses: []int{400}, location: "body"},
		{name: "BOM", body: "\xef\xbb\xbf" + bodyWithDoc(validDocument), statuses: []int{400}, location: "body"},

		// Numbers and types.
		{name: "timeout beyond float64", body: bodyWithStep(`{"name":"s","timeout_ms":1e400,"request":{"method":"GET","url":"https://api.example.com/"}}`), statuses: []int{400}, location: "body"},
		{name: "timeout of 2^63", body: bodyWithStep(`{"name":"s","timeout_ms":9223372036854775808,"request":{"method":"GET","url":"https://api.example.com/"}}`), statuses: []int{422}, location: step0 + ".timeout_ms"},
		{name: "negative retries", body: bodyWithStep(`{"name":"s","retries":-1,"request":{"method":"GET","url":"https://api.example.com/"}}`), statuses: []int{422}, location: step0 + ".retries"},
		{name: "fractional timeout", body: bodyWithStep(`{"name":"s","timeout_ms":1.5,"request":{"method":"GET","url":"https://api.example.com/"}}`), statuses: []int{422}, location: step0 + ".timeout_ms"},
		{name: "status as a string", body: bodyWithStep(`{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"assert":{"status":"200"}}`), statuses: []int{422}, location: step0 + ".assert.status"},
		{name: "name as a number", body: `{"name":123,"document":` + validDocument + `}`, statuses: []int{422}, location: "body.name"},
		{name: "document as a string", body: `{"name":"x","document":"{}"}`, statuses: []int{422}, location: "body.document"},
		{name: "steps as an object", body: bodyWithDoc(`{"steps":{"0":{}}}`), statuses: []int{422}, location: "body.document.steps"},
		{name: "labels as an array", body: `{"name":"x","labels":["a"],"document":` + validDocument + `}`, statuses: []int{422}, location: "body.labels"},
		{name: "variable as a number", body: bodyWithDoc(`{"variables":{"a":1},"steps":[{"name":"s","request":{"method":"GET","url":"https://api.example.com/"}}]}`), statuses: []int{422}, location: "body.document.variables.a"},

		// Unknown fields, at every level.
		{name: "unknown top-level field", body: `{"name":"x","owner":"me","document":` + validDocument + `}`, statuses: []int{422}, location: "body.owner"},
		// Huma matched field names case-insensitively but validated only the
		// exact one, while encoding/json kept the last: these bodies stored
		// an empty name, a 5,000-character name and 60 labels of 300
		// characters. api.go's init turns on strict casing.
		{name: "case variant of a known field", body: `{"name":"x","Name":"y","document":` + validDocument + `}`, statuses: []int{422}, location: "body.Name"},
		{name: "case variant smuggles an empty name", body: `{"name":"ok","Name":"","document":` + validDocument + `}`, statuses: []int{422}, location: "body.Name"},
		{name: "case variant smuggles a long name", body: `{"name":"ok","NAME":"` + strings.Repeat("n", 5000) + `","document":` + validDocument + `}`, statuses: []int{422}, location: "body.NAME"},
		{name: "case variant smuggles a long description", body: `{"name":"ok","description":"","DESCRIPTION":"` + strings.Repeat("d", 5000) + `","document":` + validDocument + `}`, statuses: []int{422}, location: "body.DESCRIPTION"},
		{name: "case variant smuggles too many labels", body: `{"name":"ok","labels":{},"Labels":{` + strings.Join(manyLabels, ",") + `},"document":` + validDocument + `}`, statuses: []int{422}, location: "body.Labels"},
		{name: "case variant alone", body: `{"Name":"ok","document":` + validDocument + `}`, statuses: []int{422}, location: "body.Name"},
		{name: "case variant inside the document", body: bodyWithDoc(`{"steps":[{"name":"s","request":{"method":"GET","url":"https://api.example.com/"}}],"Steps":[]}`), statuses: []int{422}, location: "body.document.Steps"},
		{name: "unknown document field", body: bodyWithDoc(`{"steps":[{"name":"s","request":{"method":"GET","url":"https://api.example.com/"}}],"version":2}`), statuses: []int{422}, location: "body.document.version"},
		{name: "unknown step field", body: bodyWithStep(`{"name":"s","when":"always","request":{"method":"GET","url":"https://api.example.com/"}}`), statuses: []int{422}, location: step0 + ".when"},
		{name: "unknown request field", body: bodyWithRequest(`{"method":"GET","url":"https://api.example.com/","proxy":"http://evil.example/"}`), statuses: []int{422}, location: request + ".proxy"},
		{name: "unknown assert field", body: bodyWithStep(`{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"assert":{"status":200,"eval":"1"}}`), statuses: []int{422}, location: step0 + ".assert.eval"},
		{name: "unknown capture field", body: bodyWithStep(`{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"capture":[{"name":"c","jsonpath":"$.id","x":1}]}`), statuses: []int{422}, location: step0 + ".capture[0].x"},

		// Header injection, caught at save time.
		{name: "CRLF in header value", body: bodyWithRequest(getWithHeaders(`"X-A":"v\r\nInjected: 1"`)), statuses: []int{422}, location: request + ".headers.X-A"},
		{name: "LF in header value", body: bodyWithRequest(getWithHeaders(`"X-A":"v\nInjected: 1"`)), statuses: []int{422}, location: request + ".headers.X-A"},
		{name: "NUL in header value", body: bodyWithRequest(getWithHeaders(`"X-A":"v\u0000"`)), statuses: []int{422}, location: request + ".headers.X-A"},
		{name: "CRLF in header name", body: bodyWithRequest(getWithHeaders(`"X\r\nB":"v"`)), statuses: []int{422}, location: request + ".headers.X\r\nB"},
		{name: "NUL in header name", body: bodyWithRequest(getWithHeaders(`"X\u0000":"v"`)), statuses: []int{422}, location: request + ".headers.X\x00"},
		{name: "space in header name", body: bodyWithRequest(getWithHeaders(`"X A":"v"`)), statuses: []int{422}, location: request + ".headers.X A"},
		{name: "colon in header name", body: bodyWithRequest(getWithHeaders(`"X-A:":"v"`)), statuses: []int{422}, location: request + ".headers.X-A:"},
		{name: "empty header name", body: bodyWithRequest(getWithHeaders(`"":"v"`)), statuses: []int{422}, location: request + ".headers."},
		{name: "CRLF through a variable into a header", body: bodyWithDoc(`{"variables":{"v":"a\r\nInjected: 1"},"steps":[{"name":"s","request":` + getWithHeaders(`"X-A":"{{v}}"`) + `}]}`), statuses: []int{422}, location: request + ".headers.X-A"},
		{name: "CRLF in asserted header name", body: bodyWithStep(`{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"assert":{"headers":[{"name":"X\r\nB","equals":"v"}]}}`), statuses: []int{422}, location: step0 + ".assert.headers[0].name"},
		{name: "CRLF in captured header name", body: bodyWithStep(`{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"capture":[{"name":"c","header":"X\r\nB"}]}`), statuses: []int{422}, location: step0 + ".capture[0].header"},
		{name: "CRLF in URL", body: bodyWithRequest(getURL(`"https://api.example.com/\r\nHost: evil.example"`)), statuses: []int{422}, location: request + ".url"},
		{name: "method TRACE", body: bodyWithRequest(`{"method":"TRACE","url":"https://api.example.com/"}`), statuses: []int{422}, location: request + ".method"},
		{name: "method CONNECT", body: bodyWithRequest(`{"method":"CONNECT","url":"https://api.example.com/"}`), statuses: []int{422}, location: request + ".method"},
		{name: "lower-case method", body: bodyWithRequest(`{"method":"get","url":"https://api.example.com/"}`), statuses: []int{422}, location: request + ".method"},
		{name: "method with CRLF", body: bodyWithRequest(`{"method":"GET\r\nX: 1","url":"https://api.example.com/"}`), statuses: []int{422}, location: request + ".method"},

		// URLs that are not absolute http or https URLs.
		{name: "file URL", body: bodyWithRequest(getURL(`"file:///etc/passwd"`)), statuses: []int{422}, location: request + ".url"},
		{name: "gopher URL", body: bodyWithRequest(getURL(`"gopher://127.0.0.1/"`)), statuses: []int{422}, location: request + ".url"},
		{name: "ftp URL", body: bodyWithRequest(getURL(`"ftp://127.0.0.1/"`)), statuses: []int{422}, location: request + ".url"},
		{name: "javascript URL", body: bodyWithRequest(getURL(`"javascript:alert(1)"`)), statuses: []int{422}, location: request + ".url"},
		{name: "data URL", body: bodyWithRequest(getURL(`"data:text/plain,hi"`)), statuses: []int{422}, location: request + ".url"},
		{name: "relative URL", body: bodyWithRequest(getURL(`"/x"`)), statuses: []int{422}, location: request + ".url"},
		{name: "scheme-relative URL", body: bodyWithRequest(getURL(`"//evil.example/x"`)), statuses: []int{422}, location: request + ".url"},
		{name: "empty URL", body: bodyWithRequest(getURL(`""`)), statuses: []int{422}, location: request + ".url"},
		{name: "missing URL", body: bodyWithRequest(`{"method":"GET"}`), statuses: []int{422}, location: request},
		{name: "URL without host", body: bodyWithRequest(getURL(`"http://"`)), statuses: []int{422}, location: request + ".url"},
		{name: "opaque URL", body: bodyWithRequest(getURL(`"https:api.example.com"`)), statuses: []int{422}, location: request + ".url"},
		{name: "URL too long", body: bodyWithRequest(getURL(`"https://api.example.com/` + strings.Repeat("a", 2048) + `"`)), statuses: []int{422}, location: request + ".url"},
		{name: "file scheme through a variable", body: bodyWithDoc(`{"variables":{"base":"file:///etc"},"steps":[{"name":"s","request":` + getURL(`"{{base}}/passwd"`) + `}]}`), statuses: []int{422}, location: request + ".url"},

		// Templates.
		{name: "unknown variable in URL", body: bodyWithRequest(getURL(`"https://api.example.com/{{nope}}"`)), statuses: []int{422}, location: request + ".url"},
		{name: "unknown variable in header", body: bodyWithRequest(getWithHeaders(`"X-A":"{{nope}}"`)), statuses: []int{422}, location: request + ".headers.X-A"},
		{name: "unknown variable in body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":{"a":"{{nope}}"}}`), statuses: []int{422}, location: request + ".body"},
		{name: "unknown variable in body key", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":{"{{nope}}":1}}`), statuses: []int{422}, location: request + ".body"},
		{name: "env not allowed in URL", body: bodyWithRequest(getURL(`"https://api.example.com/{{env.SECRET}}"`)), statuses: []int{422}, location: request + ".url"},
		{name: "env not allowed in header", body: bodyWithRequest(getWithHeaders(`"Authorization":"Bearer {{env.SECRET}}"`)), statuses: []int{422}, location: request + ".headers.Authorization"},
		{name: "env not allowed in body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":"{{env.SECRET}}"}`), statuses: []int{422}, location: request + ".body"},
		{name: "unclosed template in URL", body: bodyWithRequest(getURL(`"https://api.example.com/{{base_url"`)), statuses: []int{422}, location: request + ".url"},
		{name: "unclosed template in header", body: bodyWithRequest(getWithHeaders(`"X-A":"{{"`)), statuses: []int{422}, location: request + ".headers.X-A"},
		{name: "unclosed template in body", body: bodyWithRequest(`{"method":"POST","url":"https://api.example.com/","body":"{{base_url"}`), statuses: []int{422}, location: request + ".body"},
		{name: "empty template", body: bodyWithRequest(getURL(`"https://api.example.com/{{}}"`)), statuses: []int{422}, location: request + ".url"},
		{name: "template with SQL", body: bodyWithRequest(getURL(`"https://api.example.com/{{x' OR '1'='1}}"`)), statuses: []int{422}, location: request + ".url"},
		{name: "capture used before it is made", body: bodyWithDoc(`{"steps":[{"name":"a","request":` + getURL(`"https://api.example.com/{{id}}"`) + `},{"name":"b","request":` + getURL(`"https://api.example.com/"`) + `,"capture":[{"name":"id","jsonpath":"$.id"}]}]}`), statuses: []int{422}, location: request + ".url"},

		// Limits.
		{name: "101 steps", body: bodyWithDoc(`{"steps":[` + strings.Join(manySteps, ",") + `]}`), statuses: []int{422}, location: "body.document.steps"},
		{name: "51 headers", body: bodyWithRequest(getWithHeaders(strings.Join(manyHeaders, ","))), statuses: []int{422}, location: request + ".headers"},
		{name: "101 variables", body: bodyWithDoc(`{"variables":{` + strings.Join(manyVariables, ",") + `},"steps":[{"name":"s","request":{"method":"GET","url":"https://api.example.com/"}}]}`), statuses: []int{422}, location: "body.document.variables"},
		{name: "51 captures", body: bodyWithStep(`{"name":"s","request":{"method":"GET","url":"https://api.example.com/"},"capture":[` + strings.Join(manyCaptures, ",") + `]}`), statuses: []int{422}, location: step0 + ".capture"},
	}
}

// TestHostileBodiesAreRejectedAndWriteNothing sends every hostile body to
// create-plan and update-plan.
func TestHostileBodiesAreRejectedAndWriteNothing(t *testing.T) {
	t.Parallel()
	env, target := hostileEnv(t)
	for _, tc := range hostileBodies() {
		t.Run(tc.name, func(t *testing.T) {
			for _, op := range []struct {
				method, path string
				headers      []string
			}{
				{http.MethodPost, "/plan", nil},
				{http.MethodPut, "/plan/" + target.ID.String(), []string{"If-Match", `"1"`}},
			} {
				e := env.withT(t)
				before := e.state(target.ID)
				headers := op.headers
				if tc.contentType != "" {
					headers = append(headers, "Content-Type", tc.contentType)
				}
				res := e.timedRequest(op.method, op.path, []byte(tc.body), headers...)
				p := requireRejected(t, res, tc.statuses...)
				if tc.location != "" {
					requireLocation(t, p, tc.location)
				}
				e.requireUnchanged(before)
			}
		})
	}
}

// TestEveryTruncationOfAValidBodyIsRejected cuts a valid body at every byte.
func TestEveryTruncationOfAValidBodyIsRejected(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	full := `{"name":"Cut","description":"d","labels":{"k":"v"},"document":` + validDocument + `}`
	before := e.state(target.ID)
	for n := range len(full) {
		for _, op := range []struct{ method, path string }{
			{http.MethodPost, "/plan"},
			{http.MethodPut, "/plan/" + target.ID.String()},
		} {
			res := e.request(op.method, op.path, []byte(full[:n]), "If-Match", `"1"`)
			require.Equal(t, http.StatusBadRequest, res.Status, "%s %d bytes: %.300s", op.method, n, res.Body)
			requireRejected(t, res)
		}
	}
	e.requireUnchanged(before)
}

// TestMalformedChunkedBodyIsA400 sends bodies that cannot be read: bad
// chunked encoding, and a body shorter than its Content-Length. Huma
// answers a failed read with 500; withBodyErrors turns it into 400.
func TestMalformedChunkedBodyIsA400(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	valid := bodyWithDoc(validDocument)
	cases := []struct {
		name string
		raw  string
	}{
		{"bad chunk size", "Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"chunk longer than declared", "Transfer-Encoding: chunked\r\n\r\n2\r\n" + valid + "\r\n0\r\n\r\n"},
		{"chunked body cut short", "Transfer-Encoding: chunked\r\n\r\n400\r\n" + valid},
		{"shorter than Content-Length", fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(valid)+100, valid)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, requestLine := range []string{"POST /plan", "PUT /plan/" + target.ID.String()} {
				ee := e.withT(t)
				before := ee.state(target.ID)
				res := rawRequest(t, ee.srv.URL, requestLine+" HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nIf-Match: \"1\"\r\n"+tc.raw)
				require.NotNil(t, res, "%s: the server closed the connection without answering", requestLine)
				p := requireRejected(t, res, http.StatusBadRequest)
				assert.NotContains(t, p.Detail, "chunk", "no reader error text")
				for _, d := range p.Errors {
					assert.NotContains(t, d.Message, "chunk")
				}
				ee.requireUnchanged(before)
			}
		})
	}
}

// rawRequest writes raw to a new connection, closes the write side (so a
// body cut short ends there) and reads one response. It returns nil if the
// server closed the connection without answering.
func rawRequest(t *testing.T, serverURL, raw string) *response {
	t.Helper()
	conn, err := net.DialTimeout("tcp", strings.TrimPrefix(serverURL, "http://"), 2*time.Second)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(hostileTimeout)))
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())
	b, err := io.ReadAll(conn)
	require.NoError(t, err)
	if len(b) == 0 {
		return nil
	}
	res, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	require.NoError(t, err, "answer: %q", b)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return &response{Status: res.StatusCode, Header: res.Header, Body: body}
}

// TestHostileIDsInPaths sends identities that are not UUIDs or job numbers
// to every route that takes one.
func TestHostileIDsInPaths(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	uuidRoutes := []struct {
		method, pattern string
		body            any
	}{
		{http.MethodGet, "/plan/%s", nil},
		{http.MethodPut, "/plan/%s", planBody("Renamed", nil)},
		{http.MethodDelete, "/plan/%s", nil},
		{http.MethodPost, "/plan/%s/execute", nil},
		{http.MethodGet, "/execution/%s", nil},
		{http.MethodGet, "/execution/%s/report", nil},
		{http.MethodGet, "/execution/%s/report/junit", nil},
		{http.MethodPost, "/execution/%s/cancel", nil},
	}
	targetID := target.ID.String()
	malformed := []string{
		"abc",
		url.PathEscape("1;DROP TABLE plans"),
		url.PathEscape("' OR '1'='1"),
		url.PathEscape(targetID + "' OR '1'='1"),
		targetID + "%00",
		targetID + "0",
		"..%2f..%2fetc",
		"%00",
		"%ff%fe",
		"-1",
		strings.Repeat("a", 10<<10),
		url.PathEscape(strings.ToUpper(targetID[:8]) + "-xxxx-xxxx-xxxx-xxxxxxxxxxxx"),
	}
	// Well-formed identities that name nothing, in every form uuid.Parse
	// accepts (URN, braces, no hyphens): 404, not 422.
	unknown := []string{uuid.Nil.String(), uuid.NewString(), "urn:uuid:" + uuid.NewString(), url.PathEscape("{" + uuid.NewString() + "}"), strings.ReplaceAll(uuid.NewString(), "-", "")}

	for _, r := range uuidRoutes {
		for _, id := range malformed {
			path := fmt.Sprintf(r.pattern, id)
			t.Run(r.method+" "+truncateName(path), func(t *testing.T) {
				ee := e.withT(t)
				before := ee.state(target.ID)
				res := ee.timedRequest(r.method, path, r.body, "If-Match", `"1"`)
				p := requireRejected(t, res, http.StatusUnprocessableEntity)
				requireLocation(t, p, "path.id")
				ee.requireUnchanged(before)
			})
		}
		for _, id := range unknown {
			path := fmt.Sprintf(r.pattern, id)
			t.Run(r.method+" "+path, func(t *testing.T) {
				ee := e.withT(t)
				before := ee.state(target.ID)
				res := ee.timedRequest(r.method, path, r.body, "If-Match", `"1"`)
				requireRejected(t, res, http.StatusNotFound)
				ee.requireUnchanged(before)
			})
		}
	}

	jobIDs := map[string]int{
		"notanumber":                        422,
		"-1":                                422,
		"0":                                 422,
		"99999999999999999999":              422,
		"9223372036854775808":               422,
		"1.5":                               422,
		"0x10":                              422,
		"1e3":                               422,
		"%201":                              422,
		"1%00":                              422,
		url.PathEscape("1;DROP TABLE jobs"): 422,
		url.PathEscape("1 OR 1=1"):          422,
		"9223372036854775807":               404,
	}
	for id, status := range jobIDs {
		t.Run("GET /job/"+id, func(t *testing.T) {
			ee := e.withT(t)
			before := ee.state(target.ID)
			res := ee.timedRequest(http.MethodGet, "/job/"+id, nil)
			p := requireRejected(t, res, status)
			if status == 422 {
				requireLocation(t, p, "path.id")
			}
			ee.requireUnchanged(before)
		})
	}
}

// truncateName shortens a subtest name.
func truncateName(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// TestDotSegmentsNeverReachAHandler documents that ServeMux answers a path
// with dot segments by redirecting to its clean form, before any handler
// runs, so ../ cannot climb out of a route.
func TestDotSegmentsNeverReachAHandler(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	for _, tc := range []struct{ method, path, clean string }{
		{http.MethodGet, "/execution/../../etc", "/etc"},
		{http.MethodGet, "/plan/../../etc/passwd", "/etc/passwd"},
		{http.MethodPost, "/plan/../../plan/" + target.ID.String() + "/execute", "/plan/" + target.ID.String() + "/execute"},
		{http.MethodDelete, "/plan/./" + target.ID.String(), "/plan/" + target.ID.String()},
	} {
		before := e.state(target.ID)
		res := e.timedRequest(tc.method, tc.path, nil)
		require.Contains(t, []int{http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect}, res.Status,
			"%s %s: %s", tc.method, tc.path, res.Body)
		assert.Equal(t, tc.clean, res.Header.Get("Location"), tc.path)
		requireNoLeak(t, res, nil)
		e.requireUnchanged(before)
	}
	// The redirect leads to a path that no route serves.
	res := e.request(http.MethodGet, "/etc", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
}

// TestHostileQueryParameters sends bad limits, cursors, filters and unknown
// parameters to the listings.
func TestHostileQueryParameters(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	e.createPlan("Second", nil)
	e.createPlan("Third", nil)
	e.execute(target.ID)

	planCursor := nextCursor(t, e, "/plan?limit=1")
	execCursor := nextCursor(t, e, "/execution?limit=1")
	b64 := base64.RawURLEncoding.EncodeToString

	type queryCase struct {
		query    string
		statuses []int
		location string
	}
	common := []queryCase{
		{"limit=1e12", []int{422}, "query.limit"},
		{"limit=1000000000000", []int{422}, "query.limit"},
		{"limit=9223372036854775808", []int{422}, "query.limit"},
		{"limit=99999999999999999999999", []int{422}, "query.limit"},
		{"limit=-1", []int{422}, "query.limit"},
		{"limit=-9223372036854775808", []int{422}, "query.limit"},
		{"limit=0", []int{422}, "query.limit"},
		{"limit=201", []int{422}, "query.limit"},
		{"limit=abc", []int{422}, "query.limit"},
		{"limit=1.5", []int{422}, "query.limit"},
		{"limit=0x10", []int{422}, "query.limit"},
		{"limit=%00", []int{422}, "query.limit"},
		{"limit=" + url.QueryEscape("1 OR 1=1"), []int{422}, "query.limit"},
		{"cursor=" + b64([]byte("junk")), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`{"i":"not-a-uuid"}`)), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`{"i":"' OR 1=1 --"}`)), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`{"s":5}`)), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`{"i":"`+uuid.NewString()+`","x":1}`)), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`{"i":"`+uuid.NewString()+`"}{}`)), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`{}`)), []int{400}, "query.cursor"},
		{"cursor=" + b64([]byte(`null`)), []int{400}, "query.cursor"},
		{"cursor=" + url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(`{"i":"`+uuid.NewString()+`"}`))), []int{400}, "query.cursor"},
		{"cursor=" + url.QueryEscape("' OR 1=1 --"), []int{400}, "query.cursor"},
		{"cursor=%00", []int{400}, "query.cursor"},
		{"cursor=%ff%fe", []int{400}, "query.cursor"},
		{"cursor=" + strings.Repeat("A", 257), []int{422}, "query.cursor"},
		{"cursor=" + strings.Repeat("x", 10<<10), []int{422}, "query.cursor"},
		{"colour=blue", []int{422}, "query.colour"},
		{"limit=1&LIMIT=2", []int{422}, "query.LIMIT"},
		{url.QueryEscape("' OR 1=1 --") + "=1", []int{422}, "query.' OR 1=1 --"},
	}
	routes := map[string][]queryCase{
		"/plan": append(append([]queryCase{}, common...),
			queryCase{"cursor=" + flipFirst(planCursor), []int{400}, "query.cursor"},
			queryCase{"cursor=" + planCursor + "!", []int{400}, "query.cursor"},
			queryCase{"name=" + strings.Repeat("n", 201), []int{422}, "query.name"},
			queryCase{"name=%FF", []int{422}, "query.name"},
			queryCase{"name=a%00b", []int{422}, "query.name"},
			queryCase{"label=" + url.QueryEscape("' OR 1=1 --"), []int{422}, "query.label[0]"},
			queryCase{"label=" + strings.Repeat("k:v&label=", 50) + "k:v", []int{422}, "query.label"},
			queryCase{"plan_id=" + uuid.NewString(), []int{422}, "query.plan_id"},
		),
		"/execution": append(append([]queryCase{}, common...),
			queryCase{"cursor=" + flipFirst(execCursor), []int{400}, "query.cursor"},
			queryCase{"status=" + url.QueryEscape("queued' OR '1'='1"), []int{422}, "query.status"},
			queryCase{"status=QUEUED", []int{422}, "query.status"},
			queryCase{"status=" + url.QueryEscape("queued,running"), []int{422}, "query.status"},
			queryCase{"plan_id=" + url.QueryEscape("' OR 1=1 --"), []int{422}, "query.plan_id"},
			queryCase{"plan_id=abc", []int{422}, "query.plan_id"},
			queryCase{"name=x", []int{422}, "query.name"},
		),
		"/job": append(append([]queryCase{}, common...),
			queryCase{"cursor=" + b64([]byte(`{"l":"jobs","s":-1}`)), []int{400}, "query.cursor"},
			queryCase{"queue=%FF", []int{422}, "query.queue"},
			queryCase{"kind=" + url.QueryEscape("\xc3("), []int{422}, "query.kind"},
			queryCase{"queue=" + strings.Repeat("q", 201), []int{422}, "query.queue"},
			queryCase{"state=" + url.QueryEscape("running' OR '1'='1"), []int{422}, "query.state"},
		),
		"/overview": append(append([]queryCase{}, common...),
			queryCase{"cursor=" + flipFirst(planCursor), []int{400}, "query.cursor"},
			queryCase{"cursor=" + planCursor, []int{400}, "query.cursor"},
			queryCase{"name=x", []int{422}, "query.name"},
		),
	}
	for route, cases := range routes {
		for _, tc := range cases {
			t.Run(route+"?"+truncateName(tc.query), func(t *testing.T) {
				ee := e.withT(t)
				before := ee.state(target.ID)
				res := ee.timedRequest(http.MethodGet, route+"?"+tc.query, nil)
				p := requireRejected(t, res, tc.statuses...)
				requireLocation(t, p, tc.location)
				ee.requireUnchanged(before)
			})
		}
	}
}

// nextCursor returns the next_cursor of a listing, which must have one.
func nextCursor(t *testing.T, e *testEnv, path string) string {
	t.Helper()
	res := e.request(http.MethodGet, path, nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	res.decode(t, &page)
	require.NotEmpty(t, page.NextCursor)
	return page.NextCursor
}

// flipFirst changes the first character of a cursor, which breaks the
// opening brace of the JSON inside.
func flipFirst(c string) string {
	if c[0] == 'e' {
		return "f" + c[1:]
	}
	return "e" + c[1:]
}

// TestEverySingleCharacterFlipOfACursor changes each character of real
// cursors in turn. A flip may still decode to another valid position (the
// cursor is not signed), so 200 is allowed; anything else must be a 400
// problem at query.cursor. No flip may give a 5xx or write anything.
func TestEverySingleCharacterFlipOfACursor(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	e.createPlan("Second", nil)
	e.execute(target.ID)
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, route := range []string{"/plan", "/execution"} {
		cursor := nextCursor(t, e, route+"?limit=1")
		before := e.state(target.ID)
		rejected := 0
		for i := range len(cursor) {
			for _, repl := range []byte{alphabet[(strings.IndexByte(alphabet, cursor[i])+1)%len(alphabet)], '.', '~'} {
				flipped := cursor[:i] + string(repl) + cursor[i+1:]
				res := e.request(http.MethodGet, route+"?limit=1&cursor="+url.QueryEscape(flipped), nil)
				if res.Status == http.StatusOK {
					requireNoLeak(t, res, nil)
					continue
				}
				p := requireRejected(t, res, http.StatusBadRequest)
				requireLocation(t, p, "query.cursor")
				rejected++
			}
		}
		assert.Positive(t, rejected, route)
		e.requireUnchanged(before)
	}
}

// TestCursorOfAnotherListing sends a /execution cursor to /plan and the
// reverse: a cursor names its listing, so each is refused with 400.
func TestCursorOfAnotherListing(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	e.createPlan("Second", nil)
	e.execute(target.ID)
	planCursor := nextCursor(t, e, "/plan?limit=1")
	execCursor := nextCursor(t, e, "/execution?limit=1")
	before := e.state(target.ID)

	for _, tc := range []struct{ path, cursor string }{
		{"/plan", execCursor},
		{"/execution", planCursor},
	} {
		t.Run(tc.path, func(t *testing.T) {
			res := e.withT(t).timedRequest(http.MethodGet, tc.path+"?cursor="+tc.cursor, nil)
			require.Less(t, res.Status, 500, "body: %s", res.Body)
			requireNoLeak(t, res, nil)
			e.withT(t).requireUnchanged(before)
			p := requireRejected(t, res, http.StatusBadRequest)
			requireLocation(t, p, "query.cursor")
		})
	}
}

// TestUnknownQueryParametersAreRejectedEverywhere adds an unknown parameter
// to every operation, including ones that would otherwise write.
func TestUnknownQueryParametersAreRejectedEverywhere(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	id := target.ID.String()
	x := e.execute(target.ID)
	jobID := e.jobs()[0].ID
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{http.MethodPost, "/plan", planBody("New", nil)},
		{http.MethodGet, "/plan", nil},
		{http.MethodGet, "/plan/" + id, nil},
		{http.MethodPut, "/plan/" + id, planBody("Renamed", nil)},
		{http.MethodDelete, "/plan/" + id, nil},
		{http.MethodPost, "/plan/" + id + "/execute", nil},
		{http.MethodGet, "/execution", nil},
		{http.MethodGet, "/execution/" + x.ID.String(), nil},
		{http.MethodGet, "/execution/" + x.ID.String() + "/report", nil},
		{http.MethodGet, "/execution/" + x.ID.String() + "/report/junit", nil},
		{http.MethodPost, "/execution/" + x.ID.String() + "/cancel", nil},
		{http.MethodGet, fmt.Sprintf("/job/%d", jobID), nil},
		{http.MethodGet, "/queue/stats", nil},
	} {
		queries := []struct{ query, location string }{
			{"debug=1", "query.debug"},
			{"id=" + url.QueryEscape("1 OR 1=1"), "query.id"},
		}
		if r.method == http.MethodDelete {
			// A known parameter does not excuse an unknown one.
			queries = append(queries, struct{ query, location string }{"cascade=true&x=1", "query.x"})
		}
		for _, q := range queries {
			t.Run(r.method+" "+r.path+"?"+q.query, func(t *testing.T) {
				ee := e.withT(t)
				before := ee.state(target.ID)
				res := ee.timedRequest(r.method, r.path+"?"+q.query, r.body, "If-Match", `"1"`)
				p := requireRejected(t, res, http.StatusUnprocessableEntity)
				requireLocation(t, p, q.location)
				ee.requireUnchanged(before)
			})
		}
	}
}

// TestHostileHeadersOnWrites sends bad If-Match and Idempotency-Key headers.
func TestHostileHeadersOnWrites(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	path := "/plan/" + target.ID.String()
	for _, ifMatch := range []string{`"1' OR '1'='1"`, `"99999999999999999999"`, `"-1"`, `"0"`, `W/`, `""`, `"1"x`, `*`, `"1", "2"`, strings.Repeat("9", 10<<10)} {
		t.Run("If-Match "+truncateName(ifMatch), func(t *testing.T) {
			ee := e.withT(t)
			before := ee.state(target.ID)
			res := ee.timedRequest(http.MethodPut, path, planBody("Renamed", nil), "If-Match", ifMatch)
			requireRejected(t, res, http.StatusBadRequest, http.StatusPreconditionFailed, http.StatusPreconditionRequired)
			ee.requireUnchanged(before)
		})
	}
	for _, key := range []string{strings.Repeat("k", 201), strings.Repeat("k", 10<<10)} {
		t.Run("Idempotency-Key of "+fmt.Sprint(len(key)), func(t *testing.T) {
			ee := e.withT(t)
			before := ee.state(target.ID)
			res := ee.timedRequest(http.MethodPost, path+"/execute", nil, "Idempotency-Key", key)
			p := requireRejected(t, res, http.StatusUnprocessableEntity)
			requireLocation(t, p, "header.Idempotency-Key")
			ee.requireUnchanged(before)
		})
	}
}

// TestSQLMetacharactersAreData stores names, labels and keys full of SQL
// and LIKE metacharacters and shows that every filter matches them as
// literal text, and that the tables are intact afterwards.
func TestSQLMetacharactersAreData(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hostile := []string{`x' OR '1'='1`, `x%`, `x_`, `x\`, `x"; DROP TABLE plans; --`, `x*`, `x[a]`}
	for _, n := range hostile {
		e.createPlan(n, nil)
	}
	e.createPlan("xa", nil)
	e.createPlan("xyz", nil)
	labelled := e.createPlan("labelled", map[string]string{"k": "' OR 1=1 --", "q": `v"}]`, "p%": "_"})
	plain := e.createPlan("plain", map[string]string{"k": "v"})

	// An Idempotency-Key full of SQL is a key like any other.
	key := `k' OR '1'='1`
	first := e.execute(labelled.ID, "Idempotency-Key", key)
	again := e.execute(labelled.ID, "Idempotency-Key", key)
	require.Equal(t, first.ID, again.ID, "the same key names the same execution")
	other := e.execute(plain.ID, "Idempotency-Key", key)
	require.NotEqual(t, first.ID, other.ID, "keys are per plan")

	before := e.state(uuid.Nil)
	require.Equal(t, len(hostile)+4, before.Plans)
	require.Len(t, before.Executions, 2)

	names := func(query string) []string {
		t.Helper()
		res := e.timedRequest(http.MethodGet, "/plan?limit=200&"+query, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s: %s", query, res.Body)
		requireNoLeak(t, res, nil)
		var page PlanList
		res.decode(t, &page)
		out := []string{}
		for _, p := range page.Plans {
			out = append(out, p.Name)
		}
		sort.Strings(out)
		return out
	}
	q := url.QueryEscape

	for _, n := range hostile {
		assert.Equal(t, []string{n}, names("name="+q(n)), "name=%s matches only itself", n)
	}
	all := append([]string{"xa", "xyz"}, hostile...)
	sort.Strings(all)
	assert.Equal(t, all, names("name=x"))
	for _, prefix := range []string{"%", "_", "'", `' OR '1'='1`, `x' OR '1'='1' --`, `%x`, "*", "[", `\`, `x%a`, `x_a`, "X"} {
		assert.Empty(t, names("name="+q(prefix)), "name=%s", prefix)
	}

	labels := map[string][]string{
		"k:' OR 1=1 --":       {"labelled"},
		`q:v"}]`:              {"labelled"},
		"p%:_":                {"labelled"},
		"k:v":                 {"plain"},
		"k:' OR '1'='1":       {},
		"k' OR '1'='1:v":      {},
		"k:v' OR '1'='1":      {},
		"k:%":                 {},
		"%:v":                 {},
		"p_:_":                {},
		"p%:%":                {},
		"$.k:v":               {},
		`k":"v`:               {},
		"k:' OR 1=1 -- ":      {},
		"q:" + `v"}], {"a":1`: {},
	}
	for l, want := range labels {
		assert.Equal(t, want, names("label="+q(l)), "label=%s", l)
	}
	assert.Equal(t, []string{"labelled"}, names("label="+q("k:' OR 1=1 --")+"&label="+q("p%:_")))
	assert.Empty(t, names("label="+q("k:' OR 1=1 --")+"&label="+q("q:nope")), "every label must match")

	for _, query := range []string{
		"status=" + q("queued' OR '1'='1"),
		"status=" + q("queued'--"),
		"plan_id=" + q(labelled.ID.String()+"' OR '1'='1"),
	} {
		res := e.timedRequest(http.MethodGet, "/execution?"+query, nil)
		requireRejected(t, res, http.StatusUnprocessableEntity)
	}

	// The tables are intact and ordinary listings still work.
	e.requireUnchanged(before)
	assert.Len(t, names(""), len(hostile)+4)
	res := e.request(http.MethodGet, "/execution?plan_id="+labelled.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var xs ExecutionList
	res.decode(t, &xs)
	require.Len(t, xs.Executions, 1)
	assert.Equal(t, first.ID, xs.Executions[0].ID)
	res = e.request(http.MethodGet, "/plan/"+labelled.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status)
	var got Plan
	res.decode(t, &got)
	assert.Equal(t, Labels{"k": "' OR 1=1 --", "q": `v"}]`, "p%": "_"}, got.Labels)
}

// TestDuplicateKeysLastOneWins documents what a body with a repeated key
// does: the schema check and the decoding both keep the last value
// (encoding/json), so they cannot disagree and a hostile value cannot hide
// behind a harmless one. A repeat that differs only in case is an unknown
// field (422), since api.go turns on Huma's strict casing. An earlier value
// of the wrong type still fails decoding (422).
func TestDuplicateKeysLastOneWins(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	okURL := `"https://api.example.com/"`
	cases := []struct {
		name   string
		body   string
		status int
		// wantName is the stored name when the plan is created.
		wantName string
		location string
	}{
		{"name twice", `{"name":"first","name":"second","document":` + validDocument + `}`, 201, "second", ""},
		{"valid then empty name", `{"name":"ok","name":"","document":` + validDocument + `}`, 422, "", "body.name"},
		{"empty then valid name", `{"name":"","name":"ok2","document":` + validDocument + `}`, 201, "ok2", ""},
		{"good then file URL", bodyWithRequest(`{"method":"GET","url":` + okURL + `,"url":"file:///etc/passwd"}`), 422, "", "body.document.steps[0].request.url"},
		{"file then good URL", `{"name":"dup-url","document":{"steps":[{"name":"s","request":{"method":"GET","url":"file:///etc/passwd","url":` + okURL + `}}]}}`, 201, "dup-url", ""},
		{"good then CRLF header", bodyWithRequest(`{"method":"GET","url":` + okURL + `,"headers":{"X-A":"v","X-A":"v\r\nInjected: 1"}}`), 422, "", "body.document.steps[0].request.headers.X-A"},
		// The schema sees only the last document, but encoding/json decodes
		// both in turn and fails on the first.
		{"document twice", `{"name":"dup-doc","document":{"steps":"nope"},"document":` + validDocument + `}`, 422, "", "body"},
		{"case variant", `{"name":"ok3","NAME":"evil","document":` + validDocument + `}`, 422, "", "body.NAME"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ee := e.withT(t)
			before := ee.state(uuid.Nil)
			res := ee.timedRequest(http.MethodPost, "/plan", []byte(tc.body))
			require.Equal(t, tc.status, res.Status, "body: %s", res.Body)
			requireNoLeak(t, res, nil)
			if tc.status != http.StatusCreated {
				requireLocation(t, requireRejected(t, res), tc.location)
				ee.requireUnchanged(before)
				return
			}
			var p Plan
			res.decode(t, &p)
			assert.Equal(t, tc.wantName, p.Name)
			stored := ee.storedPlan(p.ID)
			assert.Equal(t, tc.wantName, stored.Name)
			assert.NotContains(t, string(stored.Document), "file:")
		})
	}
}

// TestNestingDepthLimit checks the explicit nesting limit of request
// bodies: a plan body nested exactly maxBodyDepth (64) deep, through its
// step's request body, is stored and read back intact; one level more is a
// 400 that writes nothing, on create and on replace.
func TestNestingDepthLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	target := e.createPlan("Target", nil)
	// The step's body sits at depth 6: body, document, steps, step, request.
	body := func(name string, depth int) (string, string) {
		deep := nested("[", "", "]", depth-5)
		return deep, `{"name":"` + name + `","document":{"steps":[{"name":"s","request":{"method":"POST","url":"https://api.example.com/","body":` + deep + `}}]}}`
	}

	deep, atLimit := body("deep", maxBodyDepth)
	res := e.timedRequest(http.MethodPost, "/plan", []byte(atLimit))
	require.Equal(t, http.StatusCreated, res.Status, "body: %.300s", res.Body)
	var p Plan
	res.decode(t, &p)
	res = e.timedRequest(http.MethodGet, "/plan/"+p.ID.String(), nil)
	require.Equal(t, http.StatusOK, res.Status)
	var got Plan
	res.decode(t, &got)
	assert.Equal(t, deep, string(got.Document.Steps[0].Request.Body))
	_, atLimit = body("Target", maxBodyDepth)
	res = e.request(http.MethodPut, "/plan/"+target.ID.String(), atLimit, "If-Match", `"1"`)
	require.Equal(t, http.StatusOK, res.Status, "body: %.300s", res.Body)

	_, overLimit := body("Target", maxBodyDepth+1)
	before := e.state(target.ID)
	for _, req := range []struct{ method, path string }{
		{http.MethodPost, "/plan"},
		{http.MethodPut, "/plan/" + target.ID.String()},
	} {
		res := e.request(req.method, req.path, overLimit, "If-Match", `"2"`)
		require.Equal(t, http.StatusBadRequest, res.Status, "%s: %.300s", req.method, res.Body)
		pd := res.problem(t)
		assert.Contains(t, string(res.Body), "more than 64 deep", "%s: %+v", req.method, pd)
	}
	e.requireUnchanged(before)
}

// TestBodyOnExecuteIsParsed documents that execute-plan reads its optional
// body: an empty body still runs the plan, and a garbage one is refused
// without writing anything (it used to be ignored, before run-time
// variables).
func TestBodyOnExecuteIsParsed(t *testing.T) {
	t.Parallel()
	e, target := hostileEnv(t)
	path := "/plan/" + target.ID.String() + "/execute"
	before := e.executionCount()
	for _, tc := range []struct {
		name        string
		body        []byte
		contentType string
		status      int
	}{
		{"GarbageAsText", []byte("\xff{{{not json"), "text/plain", http.StatusUnsupportedMediaType},
		{"GarbageAsJSON", []byte("{{{not json"), "application/json", http.StatusBadRequest},
		{"NotUTF8", []byte("{\"queue\":\"\xff\"}"), "application/json", http.StatusBadRequest},
		{"UnknownField", []byte(`{"vars":{}}`), "application/json", http.StatusUnprocessableEntity},
		{"NotAnObject", []byte(`[]`), "application/json", http.StatusUnprocessableEntity},
	} {
		res := e.timedRequest(http.MethodPost, path, tc.body, "Content-Type", tc.contentType)
		require.Equal(t, tc.status, res.Status, "%s: body: %s", tc.name, res.Body)
	}
	assert.Equal(t, before, e.executionCount(), "a refused body writes nothing")
	for _, body := range [][]byte{nil, []byte("{}")} {
		res := e.timedRequest(http.MethodPost, path, body, "Content-Type", "application/json")
		require.Equal(t, http.StatusAccepted, res.Status, "body %q: %s", body, res.Body)
	}
	assert.Equal(t, before+2, e.executionCount())
}

// fuzzSeeds are the seeds of FuzzCreatePlanBody, besides the files under
// testdata/fuzz/FuzzCreatePlanBody.
var fuzzSeeds = []string{
	bodyWithDoc(validDocument),
	`{"name":"labelled","description":"d","labels":{"team":"payments"},"document":` + validDocument + `}`,
	bodyWithDoc(`{"variables":{"u":"https://api.example.com"},"steps":[{"name":"a","request":{"method":"POST","url":"{{u}}/login","headers":{"Content-Type":"application/json"},"body":{"user":"{{u}}"}},"assert":{"status":[200,201],"jsonpath":[{"path":"$.token","exists":true}]},"capture":[{"name":"token","jsonpath":"$.token"}]},{"name":"b","request":{"method":"GET","url":"{{u}}/me","headers":{"Authorization":"Bearer {{token}}"}},"assert":{"headers":[{"name":"Content-Type","matches":"^application/json"}],"body_contains":["id"],"max_latency_ms":500},"retries":2,"retry_delay_ms":10,"timeout_ms":1000,"continue_on_failure":true}]}`),
	bodyWithRequest(getWithHeaders(`"X-A":"v\r\nInjected: 1"`)),
	bodyWithRequest(getURL(`"file:///etc/passwd"`)),
	`{"name":"a` + "\xff\xfe" + `","document":` + validDocument + `}`,
	`{"name":"x","name":"y","document":` + validDocument + `}`,
	"null",
	`{"name":"x","document":{"steps":[`,
	nested("[", "", "]", 50),
}

// newSharedEnv serves NewHandler over a fresh in-memory store, closed when
// tb ends. Unlike newEnv it takes a testing.TB, so one env can serve every
// input of a fuzz target: use withT to get one bound to an input's test.
func newSharedEnv(tb testing.TB) *testEnv {
	tb.Helper()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = st.Close() })
	e := &testEnv{raw: st, store: st, logs: &syncBuffer{}, wakes: &atomic.Int64{}}
	e.srv = httptest.NewServer(NewHandler(Deps{
		Store:   st,
		Logger:  slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Version: "test",
	}))
	tb.Cleanup(e.srv.Close)
	e.client = e.srv.Client()
	e.client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return e
}

// FuzzCreatePlanBody posts arbitrary bytes to create-plan. The answer is
// never a 5xx; a 201 plan can be read back as it was answered (and is then
// deleted, to keep the store small); anything else is a 4xx problem
// document and leaves the plan count as it was.
func FuzzCreatePlanBody(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	env := newSharedEnv(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		e := env.withT(t)
		before := e.planCount()
		res := e.request(http.MethodPost, "/plan", body)
		require.Less(t, res.Status, 500, "sent %q\nanswer: %.1000s", body, res.Body)
		requireNoLeak(t, res, body)
		if res.Status != http.StatusCreated {
			require.GreaterOrEqual(t, res.Status, 400, "sent %q\nanswer: %.1000s", body, res.Body)
			p := res.problem(t)
			require.NotEmpty(t, p.Title)
			require.Equal(t, before, e.planCount(), "a rejected body wrote a plan: %q", body)
			return
		}
		var created Plan
		res.decode(t, &created)
		require.Equal(t, "/plan/"+created.ID.String(), res.Header.Get("Location"))
		got := e.request(http.MethodGet, "/plan/"+created.ID.String(), nil)
		require.Equal(t, http.StatusOK, got.Status, "answer: %.1000s", got.Body)
		var read Plan
		got.decode(t, &read)
		require.Equal(t, created, read, "the plan read back differs from the one created")
		require.Equal(t, before+1, e.planCount())
		del := e.request(http.MethodDelete, "/plan/"+created.ID.String(), nil)
		require.Equal(t, http.StatusNoContent, del.Status, "answer: %s", del.Body)
	})
}
