package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// retryAfterSeconds is the Retry-After sent with 503 answers.
const retryAfterSeconds = "5"

// Client-facing texts used when a handler gives none. None of them carries
// any part of the underlying error, which may hold SQL or driver text.
const (
	msgNotFound    = "not found"
	msgStale       = "the resource changed since you read it: fetch it again and retry with its new ETag"
	msgConflict    = "the request conflicts with the current state of the resource"
	msgInvalid     = "invalid input"
	msgUnavailable = "storage unavailable"
	msgInternal    = "internal error"
)

// details holds the client-facing texts of the expected failures of one
// store call, so that a 404 can say which plan was not found. Empty fields
// fall back to generic texts. They must be built from the request alone,
// never from an error's text.
type details struct {
	// NotFound answers storage.ErrNotFound.
	NotFound string
	// Stale answers storage.ErrStaleRevision.
	Stale string
	// Referenced answers storage.ErrReferenced.
	Referenced string
	// Conflict answers any other storage.ErrConflict.
	Conflict string
	// Invalid answers storage.ErrInvalidInput; InvalidLocation and
	// InvalidValue, when set, point at the offending parameter.
	Invalid         string
	InvalidLocation string
	InvalidValue    any
}

// detailedError attaches client-facing texts to an error.
type detailedError struct {
	err error
	d   details
}

func (e *detailedError) Error() string { return e.err.Error() }
func (e *detailedError) Unwrap() error { return e.err }

// explain attaches client-facing texts to err for toHTTPError. It returns
// nil for a nil err.
func explain(err error, d details) error {
	if err == nil {
		return nil
	}
	return &detailedError{err: err, d: d}
}

// toHTTPError turns an error from a handler's store call into the problem
// the client receives. It is the only place where storage errors become
// HTTP statuses:
//
//   - an error that already is a huma.StatusError passes through;
//   - storage.ErrNotFound gives 404;
//   - storage.ErrStaleRevision gives 412;
//   - any other storage.ErrConflict (ErrReferenced, ErrIllegalTransition, a
//     duplicate) gives 409;
//   - storage.ErrInvalidInput gives 400;
//   - storage.ErrUnavailable, an expired deadline or a cancelled request give
//     503 "storage unavailable" with Retry-After;
//   - anything else is logged with the request ID and answered with a bare
//     500 "internal error".
//
// The text of err never reaches the client.
func toHTTPError(ctx context.Context, logger *slog.Logger, err error) error {
	if err == nil {
		return nil
	}
	var se huma.StatusError
	if errors.As(err, &se) {
		// Return err itself, not se, to keep any headers attached with
		// huma.ErrorWithHeaders. Huma writes only se.
		return err
	}
	var d details
	var de *detailedError
	if errors.As(err, &de) {
		d = de.d
	}
	or := func(s, fallback string) string {
		if s != "" {
			return s
		}
		return fallback
	}
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return huma.Error404NotFound(or(d.NotFound, msgNotFound))
	case errors.Is(err, storage.ErrStaleRevision):
		return huma.Error412PreconditionFailed(or(d.Stale, msgStale))
	case errors.Is(err, storage.ErrReferenced):
		return huma.Error409Conflict(or(d.Referenced, or(d.Conflict, msgConflict)))
	case errors.Is(err, storage.ErrConflict):
		return huma.Error409Conflict(or(d.Conflict, msgConflict))
	case errors.Is(err, storage.ErrInvalidInput):
		if d.InvalidLocation != "" {
			return huma.Error400BadRequest(or(d.Invalid, msgInvalid), &huma.ErrorDetail{
				Location: d.InvalidLocation,
				Message:  or(d.Invalid, msgInvalid),
				Value:    d.InvalidValue,
			})
		}
		return huma.Error400BadRequest(or(d.Invalid, msgInvalid))
	case errors.Is(err, storage.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, context.Canceled):
		level := slog.LevelWarn
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			// The client went away; nobody will read the answer.
			level = slog.LevelDebug
		}
		logger.Log(ctx, level, "storage unavailable", "request_id", requestIDFrom(ctx), "err", err)
		return huma.ErrorWithHeaders(huma.Error503ServiceUnavailable(msgUnavailable),
			http.Header{"Retry-After": {retryAfterSeconds}})
	default:
		logger.ErrorContext(ctx, "internal error", "request_id", requestIDFrom(ctx), "err", err)
		return huma.Error500InternalServerError(msgInternal)
	}
}

// httpError maps err with the server's logger; see toHTTPError.
func (s *server) httpError(ctx context.Context, err error) error {
	return toHTTPError(ctx, s.deps.Logger, err)
}

// Bounds on what a problem document echoes back. A 422 names each failing
// value, and Huma echoes the value whole: without these bounds a 1 MiB body
// came back whole, and an 800 KB array of bad steps gave a 33 MB answer.
const (
	// maxEchoedRunes is the longest echoed string, in characters; a longer
	// one is cut and ends with truncatedMark.
	maxEchoedRunes = 200
	// maxEchoedJSON is the largest echoed object or array, in bytes of
	// JSON; a larger one is replaced by a short summary.
	maxEchoedJSON = 200
	// maxErrorDetails is the most error details a problem lists; a last
	// detail then says how many more there were.
	maxErrorDetails = 20
	// maxProblemText is the longest detail or error message, in
	// characters, in case one quotes what the client sent.
	maxProblemText = 1000
	// maxProblemBytes is how large, as JSON, the details of a problem
	// may grow: details past it are counted in the last one instead. A
	// problem is at most about this size plus one detail of up to 5
	// KiB.
	maxProblemBytes = 16 << 10
)

// truncatedMark ends a string that was cut short.
const truncatedMark = "…"

// boundProblem is a Huma transformer that bounds what an error response
// echoes: at most maxErrorDetails details, each echoed string and each
// location (which holds the client's keys, such as a label key or an
// unknown property's name) cut to maxEchoedRunes characters, each echoed
// object or array larger than maxEchoedJSON bytes replaced by a summary
// such as "(array of 5000 items, not shown)", the detail and messages cut
// to maxProblemText characters, and as many details as fit in
// maxProblemBytes. Other responses pass unchanged. It works on the
// finished problem, so it leaves Huma's error constructors alone.
func boundProblem(_ huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok {
		return v, nil
	}
	em.Detail = truncateRunes(em.Detail, maxProblemText)
	total := len(em.Errors)
	if total > maxErrorDetails {
		em.Errors = em.Errors[:maxErrorDetails:maxErrorDetails]
	}
	for _, d := range em.Errors {
		if d != nil {
			d.Message = truncateRunes(d.Message, maxProblemText)
			d.Location = truncateRunes(d.Location, maxEchoedRunes)
			d.Value = boundValue(d.Value)
		}
	}
	for n := len(em.Errors); n > 1 && problemSize(em) > maxProblemBytes; n-- {
		em.Errors = em.Errors[: n-1 : n-1]
	}
	if n := total - len(em.Errors); n > 0 {
		em.Errors = append(em.Errors, &huma.ErrorDetail{
			Message: fmt.Sprintf("%d more errors not shown", n),
		})
	}
	return em, nil
}

// problemSize returns the size of a bounded problem as JSON.
func problemSize(em *huma.ErrorModel) int {
	b, err := json.Marshal(em)
	if err != nil {
		return 0
	}
	return len(b)
}

// boundValue returns an echoed value as boundProblem shows it.
func boundValue(v any) any {
	switch x := v.(type) {
	case nil, bool, float64, int, int64, json.Number:
		return v
	case string:
		return truncateRunes(x, maxEchoedRunes)
	case []any:
		if jsonSizeOver(x, maxEchoedJSON) {
			return fmt.Sprintf("(array of %d items, not shown)", len(x))
		}
		return v
	case map[string]any:
		if jsonSizeOver(x, maxEchoedJSON) {
			return fmt.Sprintf("(object of %d members, not shown)", len(x))
		}
		return v
	default:
		// A value built by the API itself; bound it all the same.
		b, err := json.Marshal(v)
		if err != nil || len(b) > maxEchoedJSON {
			return "(value not shown)"
		}
		return v
	}
}

// truncateRunes cuts s to at most n characters, ending it with
// truncatedMark when it was cut.
func truncateRunes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos] + truncatedMark
		}
		i++
	}
	return s
}

// jsonSizeOver reports whether the JSON encoding of a decoded JSON value
// (nil, bool, float64, string, []any, map[string]any) would exceed limit
// bytes. It estimates from below and stops as soon as the limit is passed,
// so a huge value costs no more than a small one.
func jsonSizeOver(v any, limit int) bool {
	n := 0
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			n += len(x) + 2
		case []any:
			n += 2
			for _, e := range x {
				n++
				if walk(e) {
					return true
				}
			}
		case map[string]any:
			n += 2
			for k, e := range x {
				n += len(k) + 4
				if walk(e) {
					return true
				}
			}
		default:
			n++
		}
		return n > limit
	}
	return walk(v)
}
