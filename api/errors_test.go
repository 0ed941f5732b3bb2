package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"testing"

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
		rev, err := parseIfMatch(tc.header)
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
