package docsui_test

import (
	"crypto/sha512"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/docsui"
)

// newServer serves h on 127.0.0.1 for the length of the test.
func newServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// noRedirectClient returns a client that reports redirects instead of following them.
func noRedirectClient(srv *httptest.Server) *http.Client {
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// do sends a request with method to srv's path and returns the response and its body.
func do(t *testing.T, srv *httptest.Server, method, path string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, srv.URL+path, nil)
	require.NoError(t, err)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := noRedirectClient(srv).Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// get fetches path from srv.
func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, []byte) {
	t.Helper()
	return do(t, srv, http.MethodGet, path, nil)
}

// assertSecurityHeaders checks the headers every response must carry.
func assertSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	require.NotEmpty(t, csp, "Content-Security-Policy")
	for _, banned := range []string{"http:", "https:", "unpkg", "cdn", "*", "unsafe-eval"} {
		assert.NotContains(t, csp, banned, "CSP must allow only this origin")
	}
	directives := map[string]string{}
	for d := range strings.SplitSeq(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	assert.Equal(t, "'none'", directives["default-src"])
	assert.Equal(t, "'self'", directives["script-src"], "scripts only from this origin, no inline script")
	assert.Equal(t, "'self' 'unsafe-inline'", directives["style-src"])
	assert.Equal(t, "'self'", directives["connect-src"])
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
}

var (
	attrURL     = regexp.MustCompile(`(?i)\b(?:src|href|apiDescriptionUrl)="([^"]*)"`)
	absoluteURL = regexp.MustCompile(`(?i)(?:https?:)?//[a-z0-9.-]+`)
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
)

func TestPageServedWithTitleFaviconAndNoRemoteURLs(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{}))

	resp, body := get(t, srv, "/docs")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assertSecurityHeaders(t, resp)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-cache", resp.Header.Get("Cache-Control"))

	html := string(body)
	assert.Contains(t, html, "<title>astro-runner API</title>")
	assert.Regexp(t, `<link rel="icon" type="image/svg\+xml" href="/docs/assets/favicon\.svg\?v=[0-9a-f]+">`, html)
	assert.Regexp(t, `<link rel="stylesheet" href="/docs/assets/styles\.min\.css\?v=[0-9a-f]+">`, html)
	assert.Regexp(t, `<script src="/docs/assets/web-components\.min\.js\?v=[0-9a-f]+"></script>`, html)
	assert.Contains(t, html, `apiDescriptionUrl="/openapi.yaml"`)
	assert.Contains(t, html, `router="hash"`)
	assert.Contains(t, html, `layout="sidebar"`)

	lower := strings.ToLower(html)
	for _, banned := range []string{"unpkg", "cdn", "jsdelivr", "http://", "https://", "integrity="} {
		assert.NotContains(t, lower, banned, "the page must not load anything from off-host")
	}
	assert.Empty(t, absoluteURL.FindAllString(html, -1), "no absolute or protocol-relative URLs")

	scripts := scriptTag.FindAllStringSubmatch(html, -1)
	require.NotEmpty(t, scripts)
	for _, s := range scripts {
		assert.Contains(t, s[1], "src=", "every script is external: the CSP allows no inline script")
		assert.Empty(t, strings.TrimSpace(s[2]), "no inline script body")
	}

	// Every URL the page links to is served by this handler, from the binary.
	for _, m := range attrURL.FindAllStringSubmatch(html, -1) {
		u := m[1]
		require.True(t, strings.HasPrefix(u, "/") && !strings.HasPrefix(u, "//"), "same-origin path: %s", u)
		if u == "/openapi.yaml" {
			continue // Served by Huma, not by this handler.
		}
		r, b := get(t, srv, u)
		assert.Equal(t, http.StatusOK, r.StatusCode, u)
		assert.NotEmpty(t, b, u)
	}
}

func TestPageUsesOptionsAndEscapesThem(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{
		Title:   `Ops <API> & "more"`,
		SpecURL: "/api/openapi.yaml",
		Prefix:  "/reference/",
	}))

	resp, body := get(t, srv, "/reference")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	html := string(body)
	assert.Contains(t, html, "<title>Ops &lt;API&gt; &amp; &#34;more&#34;</title>")
	assert.Contains(t, html, `apiDescriptionUrl="/api/openapi.yaml"`)
	assert.Contains(t, html, `href="/reference/assets/favicon.svg?v=`)
	assert.Contains(t, html, `src="/reference/assets/web-components.min.js?v=`)

	resp, _ = get(t, srv, "/reference/assets/styles.min.css")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = get(t, srv, "/docs")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestAssetsServedFromBinary(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{}))

	tests := []struct {
		file        string
		contentType string
		minSize     int
		startsWith  string
	}{
		{"web-components.min.js", "text/javascript; charset=utf-8", 100 << 10, "/*! For license information"},
		{"styles.min.css", "text/css; charset=utf-8", 100 << 10, ""},
		{"favicon.svg", "image/svg+xml", 100, "<svg"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			resp, body := get(t, srv, "/docs/assets/"+tt.file)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assertSecurityHeaders(t, resp)
			assert.Equal(t, tt.contentType, resp.Header.Get("Content-Type"))
			assert.Contains(t, resp.Header.Get("Cache-Control"), "max-age=31536000")
			assert.Greater(t, len(body), tt.minSize)
			assert.True(t, strings.HasPrefix(string(body), tt.startsWith), "body starts with %q", tt.startsWith)

			want, err := os.ReadFile("assets/" + tt.file)
			require.NoError(t, err)
			assert.Equal(t, want, body, "served bytes equal the vendored file")

			etag := resp.Header.Get("ETag")
			require.NotEmpty(t, etag)
			resp, body = do(t, srv, http.MethodGet, "/docs/assets/"+tt.file, http.Header{"If-None-Match": {etag}})
			assert.Equal(t, http.StatusNotModified, resp.StatusCode)
			assert.Empty(t, body)
		})
	}
}

func TestUnknownPathsAre404(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{}))

	for _, p := range []string{
		"/docs/assets/nope.js",
		"/docs/assets/",
		"/docs/assets",
		"/docs/assets/LICENSE-stoplight-elements",
		"/docs/assets/README.md",
		"/docs/assets/../docsui.go",
		"/docs/assets/web-components.min.js/",
		"/docs/other",
		"/docsx",
		"/",
	} {
		resp, _ := get(t, srv, p)
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, p)
		assertSecurityHeaders(t, resp)
	}
}

func TestOnlyGetAndHead(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{}))

	for _, p := range []string{"/docs", "/docs/assets/favicon.svg"} {
		resp, body := do(t, srv, http.MethodHead, p, nil)
		assert.Equal(t, http.StatusOK, resp.StatusCode, p)
		assert.Empty(t, body, p)
		assert.NotEmpty(t, resp.Header.Get("Content-Type"), p)

		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			resp, _ := do(t, srv, m, p, nil)
			assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "%s %s", m, p)
			assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))
			assertSecurityHeaders(t, resp)
		}
	}
}

func TestTrailingSlashRedirectsToPage(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{}))

	resp, _ := get(t, srv, "/docs/")
	assert.Equal(t, http.StatusMovedPermanently, resp.StatusCode)
	assert.Equal(t, "/docs", resp.Header.Get("Location"))
	assertSecurityHeaders(t, resp)
}

func TestRootPrefix(t *testing.T) {
	t.Parallel()
	srv := newServer(t, docsui.Handler(docsui.Options{Prefix: "/"}))

	resp, body := get(t, srv, "/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, string(body), `src="/assets/web-components.min.js?v=`)
	resp, _ = get(t, srv, "/assets/favicon.svg")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestOptionsWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   docsui.Options
		want docsui.Options
	}{
		{"zero", docsui.Options{}, docsui.Options{Title: "astro-runner API", SpecURL: "/openapi.yaml", Prefix: "/docs"}},
		{"kept", docsui.Options{Title: "T", SpecURL: "/s.json", Prefix: "/ref"}, docsui.Options{Title: "T", SpecURL: "/s.json", Prefix: "/ref"}},
		{"trailing slash", docsui.Options{Prefix: "/ref/"}, docsui.Options{Title: "astro-runner API", SpecURL: "/openapi.yaml", Prefix: "/ref"}},
		{"no leading slash", docsui.Options{Prefix: "ref"}, docsui.Options{Title: "astro-runner API", SpecURL: "/openapi.yaml", Prefix: "/ref"}},
		{"root", docsui.Options{Prefix: "/"}, docsui.Options{Title: "astro-runner API", SpecURL: "/openapi.yaml", Prefix: "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.in.WithDefaults()
			assert.Equal(t, tt.want, got)
			assert.Equal(t, got, got.WithDefaults(), "idempotent")
		})
	}
}

// TestVendoredAssetsMatchUpstreamHashes pins the vendored files to the SRI
// hashes that Huma v2.37.2 uses for @stoplight/elements@9.0.15 on the CDN, so
// an accidental edit fails here. Update them when refreshing (assets/README.md).
func TestVendoredAssetsMatchUpstreamHashes(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]string{
		"web-components.min.js": "sha384-xjOcq9PZ/k+pGtPS/xcsCRXGjKKfTlIa4H1IYEnC+97jNa6sAMWTNrV6hY08W3GL",
		"styles.min.css":        "sha384-iVQBHadsD+eV0M5+ubRCEVXrXEBj+BqcuwjUwPoVJc0Pb1fmrhYSAhL+BFProHdV",
	} {
		data, err := os.ReadFile("assets/" + file)
		require.NoError(t, err)
		sum := sha512.Sum384(data)
		assert.Equal(t, want, "sha384-"+base64.StdEncoding.EncodeToString(sum[:]), file)
	}
}
