package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/internal/docsui"
	"github.com/astro-runner/astro-runner/internal/webui"
)

// requestTimeout bounds every request, so that a storage call cannot hang.
const requestTimeout = 15 * time.Second

// requestIDHeader carries the request ID in both directions.
const requestIDHeader = "X-Request-ID"

// maxRequestIDLength is the longest client-supplied request ID that is kept.
const maxRequestIDLength = 128

// NewHandler returns the complete HTTP handler of the API: the operations
// of Register, the OpenAPI and schema documents, the embedded docs page
// at /docs, the embedded dashboard (webui) at /, /ui/ and /assets/, and
// deps.Metrics at /metrics when it is set. Every request
// passes, outermost first, through:
//
//   - a server span, when deps.TracerProvider is set (see withTracing);
//   - the request ID: X-Request-ID is kept if it is at most 128 characters
//     of [A-Za-z0-9._-] and generated otherwise, and sent back;
//   - the request log: one slog record per request with the method, the
//     route pattern, the status, the duration and the request ID; the same
//     goes to deps.ObserveRequestFunc when it is set;
//   - panic recovery: a panicking handler gives a bare 500 problem;
//   - bearer authentication, when deps.APIToken is set: every route except
//     /healthz, /readyz, /docs, /openapi.*, /schemas/ and the dashboard's
//     files (/, /ui, /ui/ and /assets/) requires
//     "Authorization: Bearer <token>" and answers 401 without it;
//   - a 15 s deadline on the request's context;
//   - a 400 instead of Huma's 500 when the request body cannot be read
//     (malformed chunked encoding, a body cut short);
//   - the OpenAPI 3.0 downgrade served by withSpec30 rather than Huma;
//   - problem documents instead of the mux's plain-text 404 (no route) and
//     405 (no route for the method; Allow lists the methods that have one).
func NewHandler(deps Deps) http.Handler {
	deps = deps.withDefaults()
	mux := http.NewServeMux()
	api := humago.New(mux, Config(deps.Version))
	Register(api, deps)
	docs := docsui.Handler(docsui.Options{})
	mux.Handle("/docs", docs)
	mux.Handle("/docs/", docs)
	ui := webui.Handler()
	for _, pattern := range []string{"GET /{$}", "GET /ui", "GET /ui/", "GET /assets/"} {
		mux.Handle(pattern, ui)
	}
	if deps.Metrics != nil {
		mux.Handle("GET /metrics", deps.Metrics)
	}

	var h http.Handler = recordPattern(withSpec30(withRouteProblems(mux), api.OpenAPI()))
	h = withBodyErrors(h)
	h = withTimeout(h, requestTimeout)
	h = requireToken(h, deps.APIToken)
	h = logAndRecover(h, deps.Logger, mux, deps.ObserveRequestFunc)
	h = withRequestID(h)
	h = withTracing(h, deps.TracerProvider, mux)
	return h
}

// requestState is what the middleware learns about a request. It is shared
// through the request's context so that outer middleware can read what
// inner middleware found.
type requestState struct {
	id string
	// pattern is the ServeMux pattern that matched, such as
	// "GET /plan/{id}", or empty if the request never reached the mux.
	pattern string
}

// stateKey is the context key of the *requestState.
type stateKey struct{}

// stateFrom returns the request's state, or nil outside NewHandler.
func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// requestIDFrom returns the request ID, or "" outside NewHandler.
func requestIDFrom(ctx context.Context) string {
	if st := stateFrom(ctx); st != nil {
		return st.id
	}
	return ""
}

// validRequestID reports whether a client-supplied request ID is safe to
// keep, log and echo: 1 to 128 characters of [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// withRequestID gives every request an ID and echoes it in the response.
func withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(requestIDHeader)
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(requestIDHeader, id)
		st := &requestState{id: id}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

// recordPattern stores the pattern that the mux matched in the request
// state. The mux sets r.Pattern on the request it is given, so it must be
// read from that request, after routing; next must pass r on to the mux.
func recordPattern(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if st := stateFrom(r.Context()); st != nil {
				st.pattern = r.Pattern
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Client-facing texts of the mux's own answers.
const (
	msgNoRoute          = "no operation at this path: see /openapi.json for the API's operations"
	msgMethodNotAllowed = "this path has no operation for the method"
)

// withRouteProblems turns the mux's plain-text answers for a request that
// matched no route, 404 "404 page not found" and 405 "Method Not Allowed",
// into problem documents. It keeps the Allow header that the mux sets on a
// 405. The mux leaves r.Pattern empty for exactly those answers, so an
// operation's own 404 or 405 passes unchanged.
func withRouteProblems(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&routeErrorWriter{ResponseWriter: w, r: r}, r)
	})
}

// routeErrorWriter replaces the mux's 404 and 405 with problem documents
// and drops the mux's own text.
type routeErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

// WriteHeader passes the status on, or answers with a problem when the mux
// found no route.
func (w *routeErrorWriter) WriteHeader(code int) {
	if w.r.Pattern == "" && !w.replaced && (code == http.StatusNotFound || code == http.StatusMethodNotAllowed) {
		w.replaced = true
		w.Header().Del("Content-Length")
		detail := msgNoRoute
		if code == http.StatusMethodNotAllowed {
			detail = msgMethodNotAllowed
			if allow := w.Header().Get("Allow"); allow != "" {
				detail += ": it accepts " + allow
			}
		}
		writeProblem(w.ResponseWriter, code, detail)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write passes the bytes on, unless the answer was replaced.
func (w *routeErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on, for streamed responses.
func (w *routeErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.replaced {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *routeErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withTimeout bounds the request's context.
func withTimeout(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// msgBadBody answers a request whose body could not be read.
const msgBadBody = "cannot read request body: it is malformed or was cut short"

// withBodyErrors answers 400 instead of 500 when reading the request body
// fails because of the client: Huma answers every read error other than a
// timeout with a 500 that carries the reader's error text. Timeouts still
// give Huma's 408.
func withBodyErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		body := &bodyReader{ReadCloser: r.Body}
		r.Body = body
		next.ServeHTTP(&bodyErrorWriter{ResponseWriter: w, body: body}, r)
	})
}

// bodyReader remembers the first error, other than io.EOF or a timeout,
// met while reading a request body.
type bodyReader struct {
	io.ReadCloser
	err error
}

// Read reads from the body and records a failure.
func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && b.err == nil && !errors.Is(err, io.EOF) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			b.err = err
		}
	}
	return n, err
}

// bodyErrorWriter turns a 500 into a bare 400 problem when the request body
// could not be read, and drops what the handler writes after it.
type bodyErrorWriter struct {
	http.ResponseWriter
	body     *bodyReader
	replaced bool
}

// WriteHeader passes the status on, or answers 400 instead of a 500 caused
// by an unreadable body.
func (w *bodyErrorWriter) WriteHeader(code int) {
	if code == http.StatusInternalServerError && w.body.err != nil && !w.replaced {
		w.replaced = true
		w.Header().Del("Content-Length")
		writeProblem(w.ResponseWriter, http.StatusBadRequest, msgBadBody)
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write passes the bytes on, unless the answer was replaced.
func (w *bodyErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Flush passes a flush on, for streamed responses.
func (w *bodyErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok && !w.replaced {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *bodyErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

// WriteHeader records the first final status.
func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write records an implicit 200 and the bytes written.
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush passes a flush on, for streamed responses.
func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection, which Huma uses
// to set read deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logAndRecover logs one record per request and turns a panic into a bare
// 500 problem. The route is the mux pattern; for a request that never
// reached the mux (such as a 401) it is looked up in mux. Neither headers
// nor query strings are logged, so tokens never reach the log. observe,
// when not nil, is told of every request too.
func logAndRecover(next http.Handler, logger *slog.Logger, mux *http.ServeMux,
	observe func(method, pattern string, status int, elapsed time.Duration)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		ctx := r.Context()
		st := stateFrom(ctx)
		if st == nil {
			st = &requestState{}
		}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				logger.ErrorContext(ctx, "panic serving request",
					"request_id", st.id, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeProblem(sw, http.StatusInternalServerError, msgInternal)
				}
			}
			route := st.pattern
			if route == "" {
				_, route = mux.Handler(r)
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
			}
			elapsed := time.Since(start)
			if observe != nil {
				observe(r.Method, route, status, elapsed)
			}
			level := slog.LevelInfo
			switch {
			case status >= http.StatusInternalServerError:
				level = slog.LevelError
			case isHealthProbe(r.URL.Path) && status < http.StatusBadRequest:
				level = slog.LevelDebug
			}
			logger.LogAttrs(ctx, level, "http request",
				slog.String("method", r.Method),
				slog.String("route", route),
				slog.String("path", r.URL.Path),
				slog.Int("status", status),
				slog.Duration("duration", elapsed),
				slog.Int64("bytes", sw.bytes),
				slog.String("request_id", st.id),
			)
		}()
		next.ServeHTTP(sw, r)
	})
}

// isHealthProbe reports whether a request path is a health check or the
// metrics, which orchestrators and Prometheus poll every few seconds:
// their successful requests are logged at debug, so they do not drown the
// request log.
func isHealthProbe(p string) bool {
	return p == "/healthz" || p == "/readyz" || p == "/metrics"
}

// publicPaths are the exact paths served without a token.
var publicPaths = map[string]bool{
	"/":                 true,
	"/ui":               true,
	"/ui/":              true,
	"/healthz":          true,
	"/readyz":           true,
	"/docs":             true,
	"/docs/":            true,
	"/openapi.json":     true,
	"/openapi.yaml":     true,
	"/openapi-3.0.json": true,
	"/openapi-3.0.yaml": true,
}

// isPublic reports whether a path is served without a token: the health
// checks, the docs page and its assets, the OpenAPI and schema documents,
// and the dashboard's files, which hold no data (its API calls carry the
// token). A path that is not clean (dot segments, double or trailing
// slashes) is never public, so it cannot smuggle a protected route past
// the check; the mux redirects such paths to their clean form, which is
// checked again.
func isPublic(p string) bool {
	if publicPaths[p] {
		return true
	}
	if path.Clean(p) != p {
		return false
	}
	for _, prefix := range []string{"/docs/assets/", "/schemas/", "/ui/", "/assets/"} {
		if strings.HasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// requireToken answers 401 to requests for protected routes that lack
// "Authorization: Bearer <token>". An empty token turns the check off.
func requireToken(next http.Handler, token string) http.Handler {
	if token == "" {
		return next
	}
	// Compare digests so that the comparison takes the same time whatever
	// the length of the presented token.
	want := sha256.Sum256([]byte(token))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPublic(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		got, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="astro-runner"`)
			writeProblem(w, http.StatusUnauthorized, "missing bearer token: send Authorization: Bearer <token>")
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="astro-runner", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "invalid bearer token")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header. The scheme is case-insensitive.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// writeProblem writes a bare problem document, for answers given outside
// Huma (authentication, unknown routes and panics).
func writeProblem(w http.ResponseWriter, status int, detail string) {
	b, err := json.Marshal(&huma.ErrorModel{
		Title:  http.StatusText(status),
		Status: status,
		Detail: detail,
	})
	if err != nil {
		// An ErrorModel of strings and an int always marshals.
		b = []byte(`{"title":"Internal Server Error","status":500}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
