package api

import (
	"context"
	"errors"
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
