package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/theory/jsonpath"
)

// ValidateOptions configures Document.Validate.
type ValidateOptions struct {
	// EnvAllow lists the environment variables that {{env.NAME}} may read.
	// Any other env reference is an error. Defaults to none.
	EnvAllow []string
	// CheckSecretFunc checks each {{secret.NAME}} reference, given NAME: it
	// returns nil if plans may use the secret, or an error whose text says
	// why not, such as "secret API_TOKEN does not exist". The error is
	// reported at the field that holds the reference. Nil accepts every
	// secret: whether it exists is then found out at run time.
	CheckSecretFunc func(name string) error
	// Location is the prefix of every FieldError location, such as
	// "body.document". Defaults to "document".
	Location string
}

// FieldError describes one problem with a document.
type FieldError struct {
	// Location is a path to the field, such as "document.steps[0].request.url".
	Location string `json:"location" doc:"Path to the invalid field." example:"document.steps[0].request.url"`
	// Message says what is wrong.
	Message string `json:"message" doc:"What is wrong with the field." example:"scheme must be http or https, not \"file\""`
	// Value is the offending value, when it is safe to echo back. Header
	// values are never included.
	Value any `json:"value,omitempty" doc:"The offending value, when it is safe to echo back." example:"file:///etc/passwd"`
}

// Error returns the location and message.
func (e *FieldError) Error() string {
	return e.Location + ": " + e.Message
}

// ErrorDetail returns the error as a Huma error detail, so that the API can
// pass field errors to huma.Error422UnprocessableEntity.
func (e *FieldError) ErrorDetail() *huma.ErrorDetail {
	return &huma.ErrorDetail{Location: e.Location, Message: e.Message, Value: e.Value}
}

// ValidationError lists every problem Validate found in a document.
type ValidationError struct {
	// Errors holds the problems in document order. It is never empty.
	Errors []FieldError
}

// Error summarises the problems.
func (e *ValidationError) Error() string {
	if len(e.Errors) == 1 {
		return "invalid plan: " + e.Errors[0].Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "invalid plan: %d problems: ", len(e.Errors))
	for i := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(e.Errors[i].Error())
	}
	return b.String()
}

// Details returns the problems as errors, each a *FieldError, in the form
// huma.Error422UnprocessableEntity accepts.
func (e *ValidationError) Details() []error {
	errs := make([]error, len(e.Errors))
	for i := range e.Errors {
		errs[i] = &e.Errors[i]
	}
	return errs
}

// validator collects the problems found in one document.
type validator struct {
	doc      *Document
	envAllow map[string]bool
	// checkSecret is ValidateOptions.CheckSecretFunc.
	checkSecret func(name string) error
	errs        []FieldError
	// captured holds the capture names of the steps checked so far.
	captured map[string]bool
	// capturedLater holds every capture name in the document, for messages.
	capturedLater map[string]bool
}

// add records a problem.
func (v *validator) add(loc, msg string, value any) {
	v.errs = append(v.errs, FieldError{Location: loc, Message: msg, Value: value})
}

// Validate checks the document for the problems the schema cannot express:
// URLs that are not absolute http or https URLs, invalid header names or
// values, templates that reference undeclared variables, captures of later
// steps or env variables not in opts.EnvAllow, regular expressions and
// JSONPath expressions that do not compile, captures without exactly one
// source, text that is not valid UTF-8 or contains NUL (U+0000, in any
// string, including those inside bodies), and URLs, header values and bodies
// that the declared variables alone already make larger than
// MaxExpandedURLBytes, MaxExpandedHeaderBytes or MaxExpandedBodyBytes.
// Those sizes are computed without expanding anything. It also applies the
// limits given by the schema tags, for documents that did not come through
// the API.
// It returns nil or a *ValidationError listing every problem.
func (d *Document) Validate(opts ValidateOptions) error {
	prefix := opts.Location
	if prefix == "" {
		prefix = "document"
	}
	if d == nil {
		return &ValidationError{Errors: []FieldError{{Location: prefix, Message: "document is missing"}}}
	}
	v := &validator{
		doc:           d,
		envAllow:      map[string]bool{},
		checkSecret:   opts.CheckSecretFunc,
		captured:      map[string]bool{},
		capturedLater: map[string]bool{},
	}
	for _, name := range opts.EnvAllow {
		v.envAllow[name] = true
	}
	for i := range d.Steps {
		for _, c := range d.Steps[i].Capture {
			v.capturedLater[c.Name] = true
		}
	}

	v.variables(prefix+".variables", d.Variables)
	switch {
	case len(d.Steps) == 0:
		v.add(prefix+".steps", "must have at least 1 step", nil)
	case len(d.Steps) > MaxSteps:
		v.add(prefix+".steps", fmt.Sprintf("must have at most %d steps, has %d", MaxSteps, len(d.Steps)), nil)
	}
	for i := range d.Steps {
		v.step(fmt.Sprintf("%s.steps[%d]", prefix, i), &d.Steps[i])
	}
	if len(v.errs) > 0 {
		return &ValidationError{Errors: v.errs}
	}
	return nil
}

func (v *validator) variables(loc string, vars map[string]string) {
	if len(vars) > MaxVariables {
		v.add(loc, fmt.Sprintf("must have at most %d variables, has %d", MaxVariables, len(vars)), nil)
	}
	for _, name := range sortedKeys(vars) {
		l := loc + "." + name
		if !v.name(l, name) {
			continue
		}
		v.text(l, vars[name], false)
	}
}

// name checks a variable or capture name and reports whether it is valid.
func (v *validator) name(loc, name string) bool {
	switch {
	case !utf8.ValidString(name):
		v.add(loc, "name must be valid UTF-8", nil)
	case name == "":
		v.add(loc, "name must not be empty", nil)
	case len(name) > MaxNameLength:
		v.add(loc, fmt.Sprintf("name must be at most %d characters", MaxNameLength), truncate(name, 60))
	case !namePattern.MatchString(name):
		v.add(loc, "name must match ^[A-Za-z_][A-Za-z0-9_]*$", name)
	default:
		return true
	}
	return false
}

// text checks that s is valid UTF-8 without NUL characters and reports
// whether it is. When echo is true the value may be included in the error.
// NUL is refused because Postgres cannot store it in text or jsonb, and every
// backend must accept the same documents.
func (v *validator) text(loc, s string, echo bool) bool {
	if !utf8.ValidString(s) {
		var value any
		if echo {
			value = strings.ToValidUTF8(s, "\uFFFD")
		}
		v.add(loc, "must be valid UTF-8", value)
		return false
	}
	if strings.Contains(s, "\x00") {
		v.add(loc, msgNUL, nil)
		return false
	}
	return true
}

// msgNUL is the message for text that contains U+0000.
const msgNUL = "must not contain NUL (\\u0000)"

// jsonNUL checks that no string or object key in the JSON text b contains
// NUL, and reports whether none does. b must be valid JSON.
func (v *validator) jsonNUL(loc string, b []byte) bool {
	err := eachJSONString(b, func(s string) error {
		if strings.Contains(s, "\x00") {
			return errNUL
		}
		return nil
	})
	if err != nil {
		v.add(loc, msgNUL+" in any string", nil)
		return false
	}
	return true
}

// errNUL stops jsonNUL at the first NUL.
var errNUL = errors.New("NUL")

func (v *validator) step(loc string, s *Step) {
	switch {
	case !v.text(loc+".name", s.Name, false):
	case strings.TrimSpace(s.Name) == "":
		v.add(loc+".name", "must not be empty", s.Name)
	case utf8.RuneCountInString(s.Name) > MaxStepNameLength:
		v.add(loc+".name", fmt.Sprintf("must be at most %d characters", MaxStepNameLength), truncate(s.Name, 60))
	}
	v.request(loc+".request", &s.Request)
	v.intRange(loc+".timeout_ms", s.TimeoutMS, 0, MaxTimeoutMS)
	v.intRange(loc+".retries", s.Retries, 0, MaxRetries)
	v.intRange(loc+".retry_delay_ms", s.RetryDelayMS, 0, MaxRetryDelayMS)
	if s.Assert != nil {
		v.assert(loc+".assert", s.Assert)
	}
	if len(s.Capture) > MaxCaptures {
		v.add(loc+".capture", fmt.Sprintf("must have at most %d captures, has %d", MaxCaptures, len(s.Capture)), nil)
	}
	for i := range s.Capture {
		v.capture(fmt.Sprintf("%s.capture[%d]", loc, i), &s.Capture[i])
	}
	// Captures become visible to later steps only.
	for _, c := range s.Capture {
		v.captured[c.Name] = true
	}
}

func (v *validator) intRange(loc string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(loc, fmt.Sprintf("must be between %d and %d", lo, hi), n)
	}
}

func (v *validator) request(loc string, r *Request) {
	if !slices.Contains(Methods, r.Method) {
		v.add(loc+".method", "must be one of "+strings.Join(Methods, ", "), truncate(r.Method, 20))
	}
	v.requestURL(loc+".url", r.URL)

	if len(r.Headers) > MaxHeaders {
		v.add(loc+".headers", fmt.Sprintf("must have at most %d headers, has %d", MaxHeaders, len(r.Headers)), nil)
	}
	for _, name := range sortedKeys(r.Headers) {
		l := loc + ".headers." + name
		if !v.headerName(l, name) {
			continue
		}
		value := r.Headers[name]
		if !v.text(l, value, false) {
			continue
		}
		if !v.references(l, value) {
			continue
		}
		if !v.templateSize(l, "header value", MaxExpandedHeaderBytes, value) {
			continue
		}
		// Variables are constant, so their values can be checked now.
		if hasCTL(v.substitute(value, MaxExpandedHeaderBytes)) {
			v.add(l, "header value must not contain CR, LF or NUL", nil)
		}
	}

	if len(r.Body) > 0 {
		switch {
		case !utf8.Valid(r.Body):
			v.add(loc+".body", "must be valid UTF-8", nil)
		case !json.Valid(r.Body):
			v.add(loc+".body", "must be valid JSON", nil)
		case !v.jsonNUL(loc+".body", r.Body):
		default:
			refs, err := r.Body.References()
			if err != nil {
				v.add(loc+".body", err.Error(), nil)
				return
			}
			ok := true
			for _, name := range refs {
				ok = v.reference(loc+".body", name) && ok
			}
			if ok {
				size, err := r.Body.SentSize(v.constantValue)
				v.expandedSize(loc+".body", "body", MaxExpandedBodyBytes, size, err)
			}
		}
	}
}

// requestURL checks a URL template. Templates are replaced by the values of
// declared variables, which are constant, and by a placeholder otherwise.
func (v *validator) requestURL(loc, raw string) {
	switch {
	case !v.text(loc, raw, true):
		return
	case raw == "":
		v.add(loc, "must not be empty", nil)
		return
	case len(raw) > MaxURLLength:
		v.add(loc, fmt.Sprintf("must be at most %d bytes", MaxURLLength), truncate(raw, 60))
		return
	case !v.references(loc, raw):
		return
	case !v.templateSize(loc, "URL", MaxExpandedURLBytes, raw):
		return
	}
	// The scheme must be known before the run, so a URL cannot start with
	// a capture or env reference. The host and everything after it may come
	// from one: the runner checks the expanded URL again, and the network
	// policy checks every address it dials.
	hint := ""
	if refs, _ := References(raw); len(refs) > 0 && strings.HasPrefix(raw, "{{") && !v.isConstant(refs[0]) {
		hint = "; the scheme cannot come from a capture or env variable: start the URL with http:// or https://, " +
			"or with a declared variable that does (the host and the rest may come from a capture or env variable)"
	}
	u, err := url.Parse(v.substitute(raw, MaxExpandedURLBytes))
	if err != nil {
		msg := err.Error()
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			msg = uerr.Err.Error()
		}
		v.add(loc, "invalid URL: "+msg+hint, raw)
		return
	}
	switch {
	case !u.IsAbs():
		v.add(loc, "must be an absolute http or https URL"+hint, raw)
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		v.add(loc, fmt.Sprintf("scheme must be http or https, not %q", u.Scheme), raw)
	case u.Opaque != "" || u.Host == "":
		v.add(loc, "must include a host, as in https://host/path", raw)
	}
}

// isConstant reports whether a reference always has the declared value of a
// variable: it is declared and no earlier step captures the same name.
func (v *validator) isConstant(name string) bool {
	_, declared := v.doc.Variables[name]
	return declared && !v.captured[name]
}

// placeholder stands in for values unknown before a run.
const placeholder = "0"

// substitute expands the constant references in s and replaces the others
// by a placeholder. s must already have been checked by references and by
// expandedSize with limit; a placeholder is shorter than the reference it
// replaces, so the result is never longer than limit+len(s).
func (v *validator) substitute(s string, limit int) string {
	out, err := Expand(s, func(name string) (string, bool) {
		if v.isConstant(name) {
			return v.doc.Variables[name], true
		}
		return placeholder, true
	}, limit+len(s))
	if err != nil {
		return s
	}
	return out
}

// constantValue returns a reference's value if it is constant. Captured and
// env values are unknown until the run.
func (v *validator) constantValue(name string) (string, bool) {
	if !v.isConstant(name) {
		return "", false
	}
	return v.doc.Variables[name], true
}

// templateSize checks the expanded size of a URL or header value with
// expandedSize.
func (v *validator) templateSize(loc, what string, limit int, s string) bool {
	size, err := TemplateSize(s, v.constantValue)
	return v.expandedSize(loc, what, limit, size, err)
}

// expandedSize checks the size that a URL, header value or body has after
// expanding its constant references, computed without expanding it, and
// reports whether it is within limit. Unknown references count as empty.
func (v *validator) expandedSize(loc, what string, limit, size int, err error) bool {
	switch {
	case err != nil:
		v.add(loc, err.Error(), nil)
		return false
	case size > limit:
		v.add(loc, fmt.Sprintf("%s expands to %d bytes with the declared variables, more than the limit of %s",
			what, size, FormatSize(limit)), nil)
		return false
	}
	return true
}

// references checks the templates in s and reports whether they are all
// valid and in scope.
func (v *validator) references(loc, s string) bool {
	refs, err := References(s)
	if err != nil {
		v.add(loc, err.Error(), nil)
		return false
	}
	ok := true
	for _, name := range refs {
		ok = v.reference(loc, name) && ok
	}
	return ok
}

// reference checks that one referenced name is in scope.
func (v *validator) reference(loc, name string) bool {
	if env, ok := strings.CutPrefix(name, EnvPrefix); ok {
		if v.envAllow[env] {
			return true
		}
		v.add(loc, fmt.Sprintf("{{%s}}: environment variable %s is not in the allow list", name, env), name)
		return false
	}
	if secret, ok := strings.CutPrefix(name, SecretPrefix); ok {
		if v.checkSecret == nil {
			return true
		}
		if err := v.checkSecret(secret); err != nil {
			v.add(loc, fmt.Sprintf("{{%s}}: %s", name, err.Error()), name)
			return false
		}
		return true
	}
	if _, ok := v.doc.Variables[name]; ok || v.captured[name] {
		return true
	}
	msg := fmt.Sprintf("{{%s}}: undefined variable; declare it in variables or capture it in an earlier step", name)
	if v.capturedLater[name] {
		msg = fmt.Sprintf("{{%s}} is captured only by this or a later step", name)
	}
	v.add(loc, msg, name)
	return false
}

// headerName checks a header name and reports whether it is valid.
func (v *validator) headerName(loc, name string) bool {
	switch {
	case !v.text(loc, name, false):
	case name == "":
		v.add(loc, "header name must not be empty", nil)
	case len(name) > 200:
		v.add(loc, "header name must be at most 200 characters", truncate(name, 60))
	case !isToken(name):
		v.add(loc, "header name must be an HTTP token (letters, digits and !#$%&'*+-.^_`|~)", name)
	default:
		return true
	}
	return false
}

func (v *validator) assert(loc string, a *Assert) {
	if len(a.Status) > 20 {
		v.add(loc+".status", "must list at most 20 codes", len(a.Status))
	}
	for _, code := range a.Status {
		if code < 100 || code > 599 {
			v.add(loc+".status", "status codes must be between 100 and 599", code)
		}
	}
	v.count(loc+".headers", len(a.Headers))
	for i, h := range a.Headers {
		l := fmt.Sprintf("%s.headers[%d]", loc, i)
		v.headerName(l+".name", h.Name)
		if h.Equals == nil && h.Matches == nil {
			v.add(l, "must set equals or matches", nil)
		}
		if h.Equals != nil {
			v.text(l+".equals", *h.Equals, false)
		}
		if h.Matches != nil {
			v.regex(l+".matches", *h.Matches)
		}
	}
	v.count(loc+".body_contains", len(a.BodyContains))
	for i, s := range a.BodyContains {
		v.text(fmt.Sprintf("%s.body_contains[%d]", loc, i), s, false)
	}
	v.count(loc+".jsonpath", len(a.JSONPath))
	for i, j := range a.JSONPath {
		l := fmt.Sprintf("%s.jsonpath[%d]", loc, i)
		v.jsonPath(l+".path", j.Path)
		if j.Equals == nil && j.Exists == nil && j.Matches == nil {
			v.add(l, "must set equals, exists or matches", nil)
		}
		if j.Equals != nil {
			switch {
			case !utf8.Valid(j.Equals):
				v.add(l+".equals", "must be valid UTF-8", nil)
			case !json.Valid(j.Equals):
				v.add(l+".equals", "must be valid JSON", nil)
			default:
				v.jsonNUL(l+".equals", j.Equals)
			}
		}
		if j.Matches != nil {
			v.regex(l+".matches", *j.Matches)
		}
	}
	v.intRange(loc+".max_latency_ms", a.MaxLatencyMS, 0, MaxTimeoutMS)
}

func (v *validator) count(loc string, n int) {
	if n > MaxAssertions {
		v.add(loc, fmt.Sprintf("must have at most %d entries, has %d", MaxAssertions, n), nil)
	}
}

// regex checks that a regular expression compiles and returns it, or nil.
func (v *validator) regex(loc, expr string) *regexp.Regexp {
	if !v.text(loc, expr, false) {
		return nil
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		v.add(loc, "invalid regular expression: "+err.Error(), truncate(expr, 100))
		return nil
	}
	return re
}

func (v *validator) jsonPath(loc, expr string) {
	if !v.text(loc, expr, false) {
		return
	}
	if expr == "" {
		v.add(loc, "must not be empty", nil)
		return
	}
	if _, err := jsonpath.Parse(expr); err != nil {
		v.add(loc, "invalid JSONPath: "+err.Error(), truncate(expr, 100))
	}
}

func (v *validator) capture(loc string, c *Capture) {
	v.name(loc+".name", c.Name)
	sources := 0
	for _, s := range []string{c.JSONPath, c.Header, c.Regex} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		v.add(loc, fmt.Sprintf("must set exactly one of jsonpath, header and regex, has %d", sources), nil)
	}
	if c.JSONPath != "" {
		v.jsonPath(loc+".jsonpath", c.JSONPath)
	}
	if c.Header != "" {
		v.headerName(loc+".header", c.Header)
	}
	if c.Regex != "" {
		re := v.regex(loc+".regex", c.Regex)
		switch {
		case c.Group < 0 || c.Group > 100:
			v.add(loc+".group", "must be between 0 and 100", c.Group)
		case re != nil && c.RegexGroup() > re.NumSubexp():
			v.add(loc+".group", fmt.Sprintf("regex has %d groups, cannot capture group %d", re.NumSubexp(), c.RegexGroup()), c.Group)
		}
	}
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// hasCTL reports whether s contains CR, LF or NUL.
func hasCTL(s string) bool {
	return strings.ContainsAny(s, "\r\n\x00")
}

// ValidHeaderValue reports whether s may be sent as a header value: it must
// not contain CR, LF or NUL.
func ValidHeaderValue(s string) bool {
	return !hasCTL(s)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
