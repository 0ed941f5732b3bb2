package webui

import (
	"encoding/json"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testDist is a build as Vite writes it: index.html and hashed assets.
var testDist = fstest.MapFS{
	"index.html":                    {Data: []byte(`<!doctype html><title>dash</title><script type="module" src="/assets/index-AbC123.js"></script>`)},
	"assets/index-AbC123.js":        {Data: []byte(`console.log("dashboard")`)},
	"assets/index-DeF456.css":       {Data: []byte(`body{margin:0}`)},
	"assets/fonts/inter-1a2b.woff2": {Data: []byte("wOF2")},
	"assets/logo-9z8y.svg":          {Data: []byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)},
	"assets/data-0000.bin":          {Data: []byte{0, 1, 2}},
	"stray.txt":                     {Data: []byte("not under assets")},
}

func newTestHandler(t *testing.T) http.Handler {
	t.Helper()
	h, err := newHandler(testDist)
	require.NoError(t, err)
	return h
}

func serve(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func assertSecurityHeaders(t *testing.T, w *httptest.ResponseRecorder, what string) {
	t.Helper()
	assert.Equal(t, "default-src 'self'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:",
		w.Header().Get("Content-Security-Policy"), what)
	assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"), what)
	assert.Equal(t, "DENY", w.Header().Get("X-Frame-Options"), what)
	assert.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"), what)
}

func TestIndexForTheRootAndEveryClientRoute(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	index, _ := fs.ReadFile(testDist, "index.html")
	for _, p := range []string{"/", "/ui", "/ui/", "/ui/plans/0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d", "/ui/executions/x",
		"/ui/queue", "/ui/jobs/42", "/ui/plans/new", "/ui/no/such/page", "/ui/assets/index-AbC123.js"} {
		w := serve(h, http.MethodGet, p)
		require.Equal(t, http.StatusOK, w.Code, p)
		assert.Equal(t, string(index), w.Body.String(), p)
		assert.Equal(t, "text/html; charset=utf-8", w.Header().Get("Content-Type"), p)
		assert.Equal(t, "no-cache", w.Header().Get("Cache-Control"), p)
		assert.NotEmpty(t, w.Header().Get("ETag"), p)
		assertSecurityHeaders(t, w, p)
	}
}

func TestAssetsAreServedImmutableWithTheirType(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for p, ct := range map[string]string{
		"/assets/index-AbC123.js":        "text/javascript; charset=utf-8",
		"/assets/index-DeF456.css":       "text/css; charset=utf-8",
		"/assets/fonts/inter-1a2b.woff2": "font/woff2",
		"/assets/logo-9z8y.svg":          "image/svg+xml",
		"/assets/data-0000.bin":          "application/octet-stream",
	} {
		w := serve(h, http.MethodGet, p)
		require.Equal(t, http.StatusOK, w.Code, p)
		want, _ := fs.ReadFile(testDist, strings.TrimPrefix(p, "/"))
		assert.Equal(t, want, w.Body.Bytes(), p)
		assert.Equal(t, ct, w.Header().Get("Content-Type"), p)
		assert.Equal(t, "public, max-age=31536000, immutable", w.Header().Get("Cache-Control"), p)
		assertSecurityHeaders(t, w, p)
	}
}

func TestETagRevalidation(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for _, p := range []string{"/", "/assets/index-AbC123.js"} {
		first := serve(h, http.MethodGet, p)
		etag := first.Header().Get("ETag")
		require.NotEmpty(t, etag, p)
		again := serve(h, http.MethodGet, p, "If-None-Match", etag)
		assert.Equal(t, http.StatusNotModified, again.Code, p)
		assert.Empty(t, again.Body.String(), p)
		other := serve(h, http.MethodGet, p, "If-None-Match", `"stale"`)
		assert.Equal(t, http.StatusOK, other.Code, p)
	}
	assert.NotEqual(t, serve(h, http.MethodGet, "/").Header().Get("ETag"),
		serve(h, http.MethodGet, "/assets/index-AbC123.js").Header().Get("ETag"), "tags follow the content")
}

func TestMissingFilesAreNotFoundProblems(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	for _, p := range []string{"/assets/", "/assets/missing.js", "/assets/fonts", "/assets/../index.html",
		"/stray.txt", "/index.html", "/plan"} {
		w := serve(h, http.MethodGet, p)
		require.Equal(t, http.StatusNotFound, w.Code, p)
		assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"), p)
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"), p)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &doc), p)
		assert.Equal(t, "Not Found", doc["title"], p)
		assert.EqualValues(t, 404, doc["status"], p)
		assert.NotEmpty(t, doc["detail"], p)
		assertSecurityHeaders(t, w, p)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	head := serve(h, http.MethodHead, "/assets/index-AbC123.js")
	assert.Equal(t, http.StatusOK, head.Code)
	assert.Empty(t, head.Body.String())
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		w := serve(h, m, "/ui/queue")
		assert.Equal(t, http.StatusMethodNotAllowed, w.Code, m)
		assert.Equal(t, "GET, HEAD", w.Header().Get("Allow"), m)
		assert.Equal(t, "application/problem+json", w.Header().Get("Content-Type"), m)
	}
}

func TestNewHandlerNeedsAnIndex(t *testing.T) {
	t.Parallel()
	_, err := newHandler(fstest.MapFS{"assets/a.js": {Data: []byte("x")}})
	require.Error(t, err)
	h, err := newHandler(fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}})
	require.NoError(t, err, "a build without assets, as the placeholder, is served")
	assert.Equal(t, http.StatusNotFound, serve(h, http.MethodGet, "/assets/a.js").Code)
}

// TestEmbeddedDist checks the build that is compiled in: its index.html
// is served, and every file under assets/ is too.
func TestEmbeddedDist(t *testing.T) {
	t.Parallel()
	h := Handler()
	dist, err := fs.Sub(distFS, "dist")
	require.NoError(t, err)
	index, err := fs.ReadFile(dist, "index.html")
	require.NoError(t, err)
	w := serve(h, http.MethodGet, "/")
	require.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, index, w.Body.Bytes())
	for _, tag := range regexp.MustCompile(`(?i)<script\b[^>]*>`).FindAllString(string(index), -1) {
		assert.Contains(t, tag, "src=", "no inline script: the CSP forbids it")
	}
	assert.NotRegexp(t, `(?i)\sstyle=`, string(index), "no style attribute: the CSP forbids it")
	_ = fs.WalkDir(dist, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		assert.Equal(t, http.StatusOK, serve(h, http.MethodGet, "/"+p).Code, p)
		return nil
	})
}
