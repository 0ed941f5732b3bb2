package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestToHTTPError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		err        error
		status     int
		detail     string
		retryAfter bool
		logged     bool
	}{
		{"not found", fmt.Errorf("get plan x: %w", storage.ErrNotFound), 404, msgNotFound, false, false},
		{"not found explained", explain(storage.ErrNotFound, details{NotFound: "no plan has id x"}), 404, "no plan has id x", false, false},
		{"stale", fmt.Errorf("update: %w", storage.ErrStaleRevision), 412, msgStale, false, false},
		{"stale explained", explain(storage.ErrStaleRevision, details{Stale: "moved on", Conflict: "c"}), 412, "moved on", false, false},
		{"conflict", fmt.Errorf("create: %w: UNIQUE constraint", storage.ErrConflict), 409, msgConflict, false, false},
		{"referenced", storage.ErrReferenced, 409, msgConflict, false, false},
		{"referenced explained", explain(storage.ErrReferenced, details{Referenced: "has executions"}), 409, "has executions", false, false},
		{"referenced falls back to conflict text", explain(storage.ErrReferenced, details{Conflict: "busy"}), 409, "busy", false, false},
		{"illegal transition", storage.ErrIllegalTransition, 409, msgConflict, false, false},
		{"invalid input", fmt.Errorf("%w: CHECK constraint failed: status", storage.ErrInvalidInput), 400, msgInvalid, false, false},
		{"invalid cursor", explain(storage.ErrInvalidInput, details{Invalid: "invalid cursor", InvalidLocation: "query.cursor"}), 400, "invalid cursor", false, false},
		{"unavailable", fmt.Errorf("ping: %w", storage.ErrUnavailable), 503, msgUnavailable, true, true},
		{"deadline", fmt.Errorf("list: %w", context.DeadlineExceeded), 503, msgUnavailable, true, true},
		{"unknown", errors.New("pq: syntax error at SELECT secret_column"), 500, msgInternal, false, true},
		{"huma error passes", huma.Error428PreconditionRequired("need If-Match"), 428, "need If-Match", false, false},
		{"wrapped huma error passes", fmt.Errorf("in tx: %w", huma.Error409Conflict("already done")), 409, "already done", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			err := toHTTPError(context.Background(), logger, tc.err)
			var se huma.StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.status, se.GetStatus())
			em, ok := se.(*huma.ErrorModel)
			require.True(t, ok)
			assert.Equal(t, tc.detail, em.Detail)
			assert.NotContains(t, em.Detail, "secret_column")
			var he huma.HeadersError
			if tc.retryAfter {
				require.ErrorAs(t, err, &he)
				assert.Equal(t, retryAfterSeconds, he.GetHeaders().Get("Retry-After"))
			} else {
				assert.False(t, errors.As(err, &he))
			}
			assert.Equal(t, tc.logged, logs.Len() > 0, "logs: %s", logs.String())
		})
	}
	assert.NoError(t, toHTTPError(context.Background(), slog.Default(), nil))
}

func TestParseIfMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		header string
		rev    int64
		status int
	}{
		{`"3"`, 3, 0},
		{`W/"3"`, 0, http.StatusPreconditionFailed},
		{` W/"3" `, 0, http.StatusPreconditionFailed},
		{`3`, 3, 0},
		{` "12" `, 12, 0},
		{``, 0, http.StatusPreconditionRequired},
		{`*`, 0, http.StatusPreconditionRequired},
		{`"1", "2"`, 0, http.StatusBadRequest},
		{`"abc"`, 0, http.StatusPreconditionFailed},
		{`"0"`, 0, http.StatusPreconditionFailed},
		{`"-1"`, 0, http.StatusPreconditionFailed},
		{`"`, 0, http.StatusPreconditionFailed},
	}
	for _, tc := range cases {
		rev, err := parseIfMatch(tc.header, "plan")
		if tc.status == 0 {
			require.NoError(t, err, tc.header)
			assert.Equal(t, tc.rev, rev, tc.header)
			continue
		}
		var se huma.StatusError
		require.ErrorAs(t, err, &se, tc.header)
		assert.Equal(t, tc.status, se.GetStatus(), tc.header)
	}
}

func TestParseLabelFilter(t *testing.T) {
	t.Parallel()
	got, err := parseLabelFilter([]string{"team:a", "url:http://x", "empty:", "team:a"})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"team": "a", "url": "http://x", "empty": ""}, got)

	got, err = parseLabelFilter(nil)
	require.NoError(t, err)
	assert.Nil(t, got)

	for _, bad := range [][]string{{"nocolon"}, {":v"}, {"k:a", "k:b"}} {
		_, err := parseLabelFilter(bad)
		var se huma.StatusError
		require.ErrorAs(t, err, &se, bad)
		assert.Equal(t, http.StatusUnprocessableEntity, se.GetStatus(), bad)
	}
}

func TestBoundValue(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 300)
	bigArray := make([]any, 500)
	for i := range bigArray {
		bigArray[i] = float64(i)
	}
	cases := []struct {
		name string
		in   any
		want any
	}{
		{"nil", nil, nil},
		{"number", 3.5, 3.5},
		{"short string", "abc", "abc"},
		{"string at the limit", strings.Repeat("x", maxEchoedRunes), strings.Repeat("x", maxEchoedRunes)},
		{"string one past the limit", strings.Repeat("x", maxEchoedRunes+1), strings.Repeat("x", maxEchoedRunes) + truncatedMark},
		{"multi-byte string", long, strings.Repeat("é", maxEchoedRunes) + truncatedMark},
		{"small array", []any{1.0, "a"}, []any{1.0, "a"}},
		{"big array", bigArray, "(array of 500 items, not shown)"},
		{"array of one long string", []any{strings.Repeat("x", 300)}, "(array of 1 items, not shown)"},
		{"small object", map[string]any{"a": "b"}, map[string]any{"a": "b"}},
		{"big object", map[string]any{"a": strings.Repeat("x", 300), "b": 1.0}, "(object of 2 members, not shown)"},
		{"small Go value", []string{"a"}, []string{"a"}},
		{"big Go value", []string{strings.Repeat("x", 300)}, "(value not shown)"},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.want, boundValue(tc.in), tc.name)
	}
}

// TestValidationErrorsEchoBoundedValues checks that a 422 does not echo a
// large request body back: strings are cut to 200 characters, large arrays
// and objects are summarised, and at most 20 details are listed.
func TestValidationErrorsEchoBoundedValues(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// A body of nearly 1 MiB whose name is far too long.
	name := strings.Repeat("x", maxPlanBodyBytes-1000)
	res := e.request(http.MethodPost, "/plan", `{"name":"`+name+`","document":`+validDocument+`}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%.300s", res.Body)
	assert.Less(t, len(res.Body), 1000, "the answer must not echo the body: %.300s", res.Body)
	p := res.problem(t)
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "body.name", p.Errors[0].Location)
	assert.Equal(t, strings.Repeat("x", maxEchoedRunes)+truncatedMark, p.Errors[0].Value)

	// 100,000 steps that are not objects: one error each.
	items := strings.Repeat("1,", 100000) + "1"
	res = e.request(http.MethodPost, "/plan", `{"name":"a","document":{"steps":[`+items+`]}}`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%.300s", res.Body)
	assert.Less(t, len(res.Body), 4000, "%.300s", res.Body)
	p = res.problem(t)
	require.Len(t, p.Errors, maxErrorDetails+1)
	assert.Equal(t, "body.document.steps", p.Errors[0].Location)
	assert.Equal(t, "(array of 100001 items, not shown)", p.Errors[0].Value)
	assert.Regexp(t, `^\d+ more errors not shown$`, p.Errors[maxErrorDetails].Message)
	assert.Equal(t, 0, e.planCount())
}

// TestValidationErrorsBoundLocations checks that a 422 does not echo a
// huge key the client sent in an error's location: label keys and unknown
// property names are cut to 200 characters there, as values are.
func TestValidationErrorsBoundLocations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var labels []string
	for i := range 5 {
		labels = append(labels, fmt.Sprintf(`"%d%s":"v"`, i, strings.Repeat("k", 150_000)))
	}
	huge := strings.Repeat("u", 800_000)
	cases := []struct {
		name, body, location string
	}{
		{
			name:     "LabelKeys",
			body:     `{"name":"a","labels":{` + strings.Join(labels, ",") + `},"document":` + validDocument + `}`,
			location: "body.labels.",
		},
		{
			name:     "UnknownProperty",
			body:     `{"name":"a","` + huge + `":1,"document":` + validDocument + `}`,
			location: "body.u",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := e.request(http.MethodPost, "/plan", tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%.300s", res.Body)
			assert.Less(t, len(res.Body), 8<<10, "%.300s", res.Body)
			p := res.problem(t)
			require.NotEmpty(t, p.Errors)
			for _, d := range p.Errors {
				assert.True(t, strings.HasPrefix(d.Location, tc.location), "%.80s", d.Location)
				assert.LessOrEqual(t, utf8.RuneCountInString(d.Location), maxEchoedRunes+1, "%.80s", d.Location)
			}
			assert.Equal(t, 0, e.planCount())
		})
	}
}

// TestBoundProblemKeepsTheBodySmall checks that details past
// maxProblemBytes are counted rather than listed, whatever their messages
// hold.
func TestBoundProblemKeepsTheBodySmall(t *testing.T) {
	t.Parallel()
	em := &huma.ErrorModel{Status: http.StatusUnprocessableEntity, Detail: strings.Repeat("d", 5000)}
	for i := range 30 {
		em.Errors = append(em.Errors, &huma.ErrorDetail{
			Message:  fmt.Sprintf("%d %s", i, strings.Repeat("\x01", 5000)),
			Location: "body." + strings.Repeat("l", 5000),
			Value:    strings.Repeat("v", 5000),
		})
	}
	out, err := boundProblem(nil, "", em)
	require.NoError(t, err)
	bounded := out.(*huma.ErrorModel)
	size := problemSize(bounded)
	assert.Less(t, size, maxProblemBytes+8<<10)
	last := bounded.Errors[len(bounded.Errors)-1]
	assert.Equal(t, fmt.Sprintf("%d more errors not shown", 30-len(bounded.Errors)+1), last.Message)
	assert.Greater(t, len(bounded.Errors), 1)
}

func TestJSONDepthOver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		limit int
		over  bool
	}{
		{`1`, 0, false},
		{`[]`, 0, true},
		{`[]`, 1, false},
		{`{"a":[1,{"b":2}]}`, 3, false},
		{`{"a":[1,{"b":2}]}`, 2, true},
		{`[[],[],[]]`, 2, false},
		{`"[[[[["`, 1, false},
		{`["\"[[[["]`, 1, false},
		{`["\\",[]]`, 1, true},
		{`{"a\\\"[":{}}`, 1, true},
		{`]]]][[`, 2, false},
	}
	for _, tc := range cases {
		assert.Equal(t, tc.over, jsonDepthOver([]byte(tc.in), tc.limit), "%s limit %d", tc.in, tc.limit)
	}
}
