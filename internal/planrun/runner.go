// Package planrun runs plan documents: it sends each step's request, checks
// the response against the step's assertions, captures values for later
// steps and reports the outcome as a Result, which it can also render as
// JUnit XML.
package planrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/plan"
)

// DefaultMaxBodyBytes is how much of a response body a Runner reads unless
// MaxBodyBytes says otherwise.
const DefaultMaxBodyBytes int64 = 1 << 20

// ExcerptBytes is the largest size of StepResult.BodyExcerpt.
const ExcerptBytes = 4096

// Limits on what a run keeps from its targets' responses. Each bounds memory
// and the size of the stored result whatever the targets send.
const (
	// MaxCaptureBytes is the largest captured value: 64 KiB. A longer value
	// fails its capture, because a cut value would be silently wrong when
	// a later step uses it. With at most plan.MaxCaptures captures, a step
	// captures at most 3.2 MiB.
	MaxCaptureBytes = 64 << 10
	// MaxRunCaptureBytes is the largest total size of the captured values a
	// run holds at once: 4 MiB. A capture that would pass it fails.
	MaxRunCaptureBytes = 4 << 20
	// MaxEchoBytes is the largest size of each text taken from a response
	// into an assertion result (Actual, and the values quoted in Message)
	// and of StepResult.Error: 1 KiB. Longer text is cut and ends with "…";
	// a structured Actual becomes its cut JSON text.
	MaxEchoBytes = 1 << 10
	// DefaultMaxResultBytes is the default of Runner.MaxResultBytes: 4 MiB.
	DefaultMaxResultBytes = 4 << 20
	// TruncatedEchoBytes is how much of each Target, Actual, Expected,
	// Message and Error a step keeps once the result is past
	// Runner.MaxResultBytes.
	TruncatedEchoBytes = 100
	// TruncatedAssertions is how many assertions, the first that failed, a
	// step keeps once the result is past Runner.MaxResultBytes.
	TruncatedAssertions = 5
	// MaxTruncatedStepBytes is the largest size, as JSON, of a step once
	// the result is past Runner.MaxResultBytes: 4 KiB. Its name (at most
	// 200 characters) and error take at most 2 KiB; it keeps fewer
	// assertions where they would not fit.
	MaxTruncatedStepBytes = 4 << 10
)

// DefaultSecretPattern matches capture names whose values are redacted.
var DefaultSecretPattern = regexp.MustCompile(`(?i)token|secret|password|key`)

// minSecretLength is the shortest secret value that is also scrubbed from
// messages and body excerpts; shorter values would garble unrelated text.
const minSecretLength = 4

// defaultClient is the client used by Runners without one.
var defaultClient = sync.OnceValue(func() *http.Client { return NewHTTPClient(nil) })

// Runner runs plan documents. The zero value is ready to use. A Runner is
// safe for concurrent use if its fields are not changed while it runs.
type Runner struct {
	// Client sends the requests. Defaults to a shared client from
	// NewHTTPClient with netguard's default policy.
	Client *http.Client
	// LookupEnvFunc reads environment variables for {{env.NAME}}. It is
	// called only for names in EnvAllow. Defaults to os.LookupEnv.
	LookupEnvFunc func(name string) (string, bool)
	// EnvAllow lists the environment variables plans may read.
	EnvAllow []string
	// SecretPattern matches the capture names whose values are redacted
	// from results. Defaults to DefaultSecretPattern.
	SecretPattern *regexp.Regexp
	// MaxBodyBytes caps how much of each response body is read, after any
	// decompression. Defaults to DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxResultBytes is the size of a result, as JSON, past which steps
	// keep only their outcome: a step that would take the result past it
	// keeps its name, status, HTTP status, attempts, duration, error and
	// first TruncatedAssertions failed assertions (with each text cut to
	// TruncatedEchoBytes), drops its passed assertions, body excerpt and
	// captured values, and is marked Truncated, as is the Result. Such a
	// step takes at most MaxTruncatedStepBytes (4 KiB), so a result is at
	// most MaxResultBytes plus 4 KiB for each of at most plan.MaxSteps
	// (100) steps: 4.4 MiB with the default. Defaults to
	// DefaultMaxResultBytes.
	MaxResultBytes int
	// NoTracePropagation keeps every step's request free of the W3C
	// traceparent header (ASTRO_TRACE_TARGETS=false). Without it, when the
	// run's context carries a span (the execution's, when the server
	// traces), each step gets a span, each attempt an HTTP client span
	// inside it, and the request carries that client span's traceparent,
	// unless the step sets propagate_trace false or its own traceparent
	// header. A context without a span records no spans and sends no trace
	// headers.
	NoTracePropagation bool
}

// Run validates doc and runs its steps in order. Each step sees the
// document's variables plus the values captured by the steps before it.
// A step that fails or errors skips the remaining steps unless it has
// ContinueOnFailure.
//
// It returns an error wrapping *plan.ValidationError, and no result, if the
// document is invalid. If ctx is cancelled, the request in flight is
// aborted, the remaining steps are skipped, and Run returns the partial
// result with an error wrapping ctx.Err(). Failed steps are not errors: they
// are reported in the result.
func (r *Runner) Run(ctx context.Context, doc *plan.Document) (*Result, error) {
	return r.RunWithSecrets(ctx, doc, nil)
}

// RunWithSecrets is Run with the values of stored secrets, keyed by name,
// that the document's {{secret.NAME}} templates expand to. A reference to a
// secret missing from secrets fails its step like an unknown variable.
// Every value in secrets is redacted from the result, by value, wherever it
// appears: in errors, messages, assertion targets, expected and actual
// values, captured values and body excerpts, raw, JSON-escaped or quoted.
func (r *Runner) RunWithSecrets(ctx context.Context, doc *plan.Document, secrets map[string]string) (*Result, error) {
	if err := doc.Validate(plan.ValidateOptions{EnvAllow: r.EnvAllow}); err != nil {
		return nil, fmt.Errorf("run plan: %w", err)
	}
	state := r.newRun(doc)
	state.useStoredSecrets(secrets)
	res := &Result{StartedAt: time.Now().UTC(), Steps: make([]StepResult, 0, len(doc.Steps))}
	budget := newResultBudget(r.MaxResultBytes)
	skipReason := ""
	var ctxErr error
	for i := range doc.Steps {
		step := &doc.Steps[i]
		if skipReason == "" && ctx.Err() != nil {
			ctxErr = ctx.Err()
			skipReason = stopReason(ctx)
		}
		if skipReason != "" {
			res.Steps = append(res.Steps, budget.fit(StepResult{Name: step.Name, Status: StatusSkipped, Error: skipReason}))
			continue
		}
		sr := budget.fit(state.step(ctx, step, i))
		res.Steps = append(res.Steps, sr)
		switch {
		case ctx.Err() != nil:
			ctxErr = ctx.Err()
			skipReason = stopReason(ctx)
		case (sr.Status == StatusFailed || sr.Status == StatusError) && !step.ContinueOnFailure:
			outcome := "failed"
			if sr.Status == StatusError {
				outcome = "errored"
			}
			skipReason = fmt.Sprintf("step %d (%q) %s", i+1, step.Name, outcome)
		}
	}
	res.Truncated = budget.truncated
	res.FinishedAt = time.Now().UTC()
	res.Totals.DurationMS = res.FinishedAt.Sub(res.StartedAt).Milliseconds()
	res.Status = StatusPassed
	for i := range res.Steps {
		switch res.Steps[i].Status {
		case StatusPassed:
			res.Totals.Passed++
		case StatusFailed:
			res.Totals.Failed++
			res.Status = StatusFailed
		case StatusError:
			res.Totals.Errors++
			res.Status = StatusFailed
		case StatusSkipped:
			res.Totals.Skipped++
		}
	}
	if ctxErr != nil {
		return res, fmt.Errorf("run plan: %w", ctxErr)
	}
	return res, nil
}

// stopReason says why the steps after a stopped run are skipped: "run
// cancelled", or the cause given to the context, such as the run's time
// limit.
func stopReason(ctx context.Context) string {
	cause := context.Cause(ctx)
	if errors.Is(cause, context.Canceled) {
		return "run cancelled"
	}
	return "run stopped: " + cause.Error()
}

// run holds the state of one Run.
type run struct {
	client        *http.Client
	lookupEnv     func(string) (string, bool)
	envAllow      map[string]bool
	secretPattern *regexp.Regexp
	maxBodyBytes  int64
	// vars holds the declared variables and the captures so far. Captured
	// values are kept as received, NUL and all; only the copies in results
	// are cleaned.
	vars map[string]string
	// captureSizes holds the size of each captured value in vars, and
	// captureBytes their total, checked against MaxRunCaptureBytes.
	captureSizes map[string]int
	captureBytes int
	// secrets holds the values scrubbed from results: stored secrets,
	// captured values whose names match secretPattern and credentials sent
	// in request headers.
	secrets []string
	// stored holds the values of stored secrets, by name, for
	// {{secret.NAME}}.
	stored map[string]string
	// scrub scrubs the first scrubbed of secrets; see scrubber.
	scrub    *scrubber
	scrubbed int
	// propagate is whether steps send the traceparent of their client
	// spans; see Runner.NoTracePropagation.
	propagate bool
}

func (r *Runner) newRun(doc *plan.Document) *run {
	rn := &run{
		client:        r.Client,
		lookupEnv:     r.LookupEnvFunc,
		envAllow:      map[string]bool{},
		secretPattern: r.SecretPattern,
		maxBodyBytes:  r.MaxBodyBytes,
		vars:          maps.Clone(doc.Variables),
		captureSizes:  map[string]int{},
		propagate:     !r.NoTracePropagation,
	}
	if rn.client == nil {
		rn.client = defaultClient()
	}
	if rn.lookupEnv == nil {
		rn.lookupEnv = os.LookupEnv
	}
	if rn.secretPattern == nil {
		rn.secretPattern = DefaultSecretPattern
	}
	if rn.maxBodyBytes <= 0 {
		rn.maxBodyBytes = DefaultMaxBodyBytes
	}
	if rn.vars == nil {
		rn.vars = map[string]string{}
	}
	for _, name := range r.EnvAllow {
		rn.envAllow[name] = true
	}
	return rn
}

// lookup resolves a template reference.
func (rn *run) lookup(name string) (string, bool) {
	if env, ok := strings.CutPrefix(name, plan.EnvPrefix); ok {
		if !rn.envAllow[env] {
			return "", false
		}
		return rn.lookupEnv(env)
	}
	if secret, ok := strings.CutPrefix(name, plan.SecretPrefix); ok {
		v, ok := rn.stored[secret]
		return v, ok
	}
	v, ok := rn.vars[name]
	return v, ok
}

// step runs one step, the index-th of the plan, with its retries, inside
// its span when the run is traced.
func (rn *run) step(ctx context.Context, step *plan.Step, index int) StepResult {
	ctx, span := startStepSpan(ctx, step, index)
	start := time.Now()
	var out attempt
	for n := 1; n <= step.Retries+1; n++ {
		if n > 1 && !sleep(ctx, time.Duration(step.RetryDelayMS)*time.Millisecond) {
			break
		}
		out = rn.attempt(ctx, step)
		out.result.Attempts = n
		if out.result.Status == StatusPassed || out.permanent || ctx.Err() != nil {
			break
		}
	}
	sr := out.result
	sr.Name = step.Name
	sr.DurationMS = time.Since(start).Milliseconds()

	// Captures of the last attempt are kept even if it failed, so that
	// steps after a ContinueOnFailure step can use them.
	for _, c := range out.captures {
		rn.vars[c.name] = c.value
		rn.captureBytes += len(c.value) - rn.captureSizes[c.name]
		rn.captureSizes[c.name] = len(c.value)
		if sr.Captured == nil {
			sr.Captured = map[string]string{}
		}
		if rn.secretPattern.MatchString(c.name) {
			sr.Captured[c.name] = Redacted
			rn.addSecret(c.value)
		} else {
			sr.Captured[c.name] = c.value
		}
	}
	rn.redact(&sr, out.body)
	sanitize(&sr, MaxEchoBytes)
	endStepSpan(span, &sr)
	return sr
}

// addSecret records a value to scrub from results.
func (rn *run) addSecret(value string) {
	if len(value) < minSecretLength || slices.Contains(rn.secrets, value) {
		return
	}
	rn.secrets = append(rn.secrets, value)
}

// isSecretHeader reports whether a request header carries credentials.
func (rn *run) isSecretHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return true
	}
	return rn.secretPattern.MatchString(name)
}

// sleep waits for d or until ctx is done, and reports whether it waited the
// whole time.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// redact replaces secret values in the step result's error, messages,
// Actual values and body excerpt, cutting each text to MaxEchoBytes (the
// excerpt to ExcerptBytes) only after scrubbing it, and sets the excerpt
// from body.
func (rn *run) redact(sr *StepResult, body []byte) {
	sc := rn.scrubber()
	sr.Error = sc.cut(sr.Error, MaxEchoBytes)
	for i := range sr.Assertions {
		a := &sr.Assertions[i]
		a.Message = sc.cut(a.Message, MaxEchoBytes)
		if a.Kind == KindCapture && rn.secretPattern.MatchString(a.Target) && a.Actual != nil {
			a.Actual = Redacted
		}
		a.Actual = sc.echo(a.Actual)
		a.Target = sc.scrub(a.Target)
		a.Expected = sc.scrubExpected(a.Expected)
	}
	for name, value := range sr.Captured {
		// A capture that is not secret by name may still hold a secret
		// value that the target echoed.
		sr.Captured[name] = sc.scrub(value)
	}
	if len(body) > 0 {
		// Scrub before cutting, so that a secret that straddles the cut
		// leaves no prefix behind. The window is wide enough for cut to
		// keep ExcerptBytes after dropping its slack.
		n := min(len(body), ExcerptBytes)
		if sc != nil {
			n = min(len(body), ExcerptBytes+2*sc.slack)
		}
		text := string(body[:n])
		if n < len(body) {
			text = strings.TrimSuffix(sc.cut(text, ExcerptBytes+len(ellipsis)), ellipsis)
		} else {
			text = sc.scrub(text)
		}
		sr.BodyExcerpt = excerpt(text, ExcerptBytes)
	}
}

// scrubber returns the scrubber of every secret the run knows so far; nil
// (which scrubs nothing) while there are none.
func (rn *run) scrubber() *scrubber {
	if rn.scrubbed != len(rn.secrets) {
		rn.scrub, rn.scrubbed = newScrubber(rn.secrets), len(rn.secrets)
	}
	return rn.scrub
}

// attempt is the outcome of one try of a step.
type attempt struct {
	result   StepResult
	captures []captured
	body     []byte
	// permanent is set when retrying cannot help: the request could not be
	// built from the plan and the variables.
	permanent bool
}

// captured is one captured value.
type captured struct {
	name, value string
}

// attempt sends the step's request once and checks the response.
func (rn *run) attempt(ctx context.Context, step *plan.Step) attempt {
	timeout := time.Duration(step.Timeout()) * time.Millisecond
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req, err := rn.buildRequest(actx, &step.Request)
	if err != nil {
		return attempt{result: StepResult{Status: StatusError, Error: "build request: " + err.Error()}, permanent: true}
	}
	req, span := rn.startClientSpan(req, step)
	sent := time.Now()
	resp, err := rn.client.Do(req)
	if err != nil {
		endClientSpan(actx, span, 0, err)
		return attempt{result: StepResult{Status: StatusError, Error: describeError(ctx, actx, step, err)}}
	}
	body, truncated, err := readBody(resp.Body, rn.maxBodyBytes)
	latency := time.Since(sent)
	endClientSpan(actx, span, resp.StatusCode, err)
	if err != nil {
		return attempt{
			result: StepResult{
				Status:     StatusError,
				HTTPStatus: resp.StatusCode,
				Error:      "read response body: " + describeError(ctx, actx, step, err),
			},
			body: body,
		}
	}

	resp.Body = nil // The body has been read; checks use body.
	chk := &checker{
		resp: resp, body: body, truncated: truncated, limit: rn.maxBodyBytes, latency: latency,
		captureBudget: MaxRunCaptureBytes - rn.captureBytes,
	}
	sr := StepResult{Status: StatusPassed, HTTPStatus: resp.StatusCode}
	if step.Assert != nil {
		sr.Assertions = chk.assert(step.Assert)
	}
	caps, capResults := chk.capture(step.Capture)
	sr.Assertions = append(sr.Assertions, capResults...)
	failed := 0
	for _, a := range sr.Assertions {
		if !a.Passed {
			failed++
		}
	}
	if failed > 0 {
		sr.Status = StatusFailed
		sr.Error = fmt.Sprintf("%d of %d checks failed", failed, len(sr.Assertions))
	}
	return attempt{result: sr, captures: caps, body: body}
}

// buildRequest expands the step's templates and builds its request.
func (rn *run) buildRequest(ctx context.Context, r *plan.Request) (*http.Request, error) {
	rawURL, err := plan.Expand(r.URL, rn.lookup, plan.MaxExpandedURLBytes)
	if err != nil {
		return nil, expandError("url", plan.MaxExpandedURLBytes, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("expanded url is not a valid URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("expanded url is not an absolute http or https URL")
	}

	var body io.Reader
	contentType := ""
	if !r.Body.IsEmpty() {
		expanded, err := r.Body.Expand(rn.lookup, plan.MaxExpandedBodyBytes)
		if err != nil {
			return nil, expandError("body", plan.MaxExpandedBodyBytes, err)
		}
		if text, ok := expanded.Text(); ok {
			body = strings.NewReader(text)
		} else {
			body = bytes.NewReader(expanded)
			contentType = "application/json"
		}
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("User-Agent", "astro-runner")
	for name, template := range r.Headers {
		value, err := plan.Expand(template, rn.lookup, plan.MaxExpandedHeaderBytes)
		if err != nil {
			return nil, expandError("header "+name, plan.MaxExpandedHeaderBytes, err)
		}
		if !plan.ValidHeaderValue(value) {
			// The value is not echoed: headers often carry credentials.
			return nil, fmt.Errorf("header %s: expanded value contains CR, LF or NUL", name)
		}
		if rn.isSecretHeader(name) {
			// A server that echoes the header must not leak it into the
			// result; scrub the whole value and the credentials after an
			// auth scheme such as "Bearer".
			rn.addSecret(value)
			if _, credentials, ok := strings.Cut(value, " "); ok {
				rn.addSecret(strings.TrimSpace(credentials))
			}
		}
		if strings.EqualFold(name, "Host") {
			req.Host = value
			continue
		}
		req.Header.Set(name, value)
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req, nil
}

// expandError describes a failed expansion of part of a request, such as
// "expanded body is larger than 1 MiB".
func expandError(what string, limit int, err error) error {
	if errors.Is(err, plan.ErrTooLarge) {
		return fmt.Errorf("expanded %s is larger than %s", what, plan.FormatSize(limit))
	}
	return fmt.Errorf("expand %s: %w", what, err)
}

// readBody reads at most limit bytes and reports whether there was more.
func readBody(body io.ReadCloser, limit int64) ([]byte, bool, error) {
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if int64(len(data)) > limit {
		return data[:limit], true, nil
	}
	return data, false, err
}

// describeError explains why a request got no usable response, without
// the request URL, which may carry expanded secrets, and without the
// machine's own addresses: a DNS error is described from its fields, since
// its text names the resolver ("lookup x on 10.0.0.2:53"), and a socket
// error names the target but not the local end ("read tcp
// 10.0.0.5:41234->203.0.113.9:443" becomes "read tcp 203.0.113.9:443").
func describeError(ctx, actx context.Context, step *plan.Step, err error) string {
	if ctx.Err() != nil {
		return "request aborted: " + context.Cause(ctx).Error()
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return fmt.Sprintf("timed out after %d ms", step.Timeout())
	}
	if blocked, ok := errors.AsType[*netguard.BlockedError](err); ok {
		return "blocked by network policy: " + blocked.Error()
	}
	if dnsErr, ok := errors.AsType[*net.DNSError](err); ok {
		msg := "DNS lookup of " + dnsErr.Name + " failed"
		switch {
		case dnsErr.IsNotFound:
			msg += ": no such host"
		case dnsErr.IsTimeout:
			msg += ": timed out"
		case dnsErr.IsTemporary:
			msg += ": temporary failure"
		}
		return msg
	}
	if uerr, ok := errors.AsType[*url.Error](err); ok {
		err = uerr.Err
	}
	msg := err.Error()
	if opErr, ok := errors.AsType[*net.OpError](err); ok && opErr.Source != nil {
		bare := *opErr
		bare.Source = nil
		msg = strings.ReplaceAll(msg, opErr.Error(), bare.Error())
	}
	return msg
}
