// Package docsui serves the API reference page (Stoplight Elements) with every
// asset embedded in the binary, so the page works with no internet access.
//
// Huma's own docs page loads Elements from a CDN. Turn it off with
// config.DocsPath = "" and mount Handler instead:
//
//	h := docsui.Handler(docsui.Options{})
//	mux.Handle("/docs", h)
//	mux.Handle("/docs/", h)
package docsui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"path"
	"strings"
	"time"
)

// contentSecurityPolicy is sent with every response. Scripts come only from
// this origin and the page has no inline script. Elements injects <style>
// elements and style attributes at run time, so style-src needs
// 'unsafe-inline' (without it the icons render at full page size). img-src
// allows data: URLs for images embedded in spec descriptions and blob: URLs,
// which Elements uses to show images returned by "try it". connect-src 'self'
// lets the page fetch the spec and send "try it" requests to this server.
const contentSecurityPolicy = "default-src 'none'; " +
	"base-uri 'none'; " +
	"connect-src 'self'; " +
	"form-action 'none'; " +
	"frame-ancestors 'none'; " +
	"img-src 'self' data: blob:; " +
	"script-src 'self'; " +
	"style-src 'self' 'unsafe-inline'"

// assetCacheControl is sent with assets. The page links them with a
// content-hash query, so a changed asset gets a new URL.
const assetCacheControl = "public, max-age=31536000, immutable"

// pageCacheControl makes browsers revalidate the page, so they pick up new
// asset URLs after an upgrade.
const pageCacheControl = "no-cache"

//go:embed assets/web-components.min.js assets/styles.min.css assets/favicon.svg
var assetFS embed.FS

// contentTypes maps each embedded asset to its Content-Type. Only these files
// are served.
var contentTypes = map[string]string{
	"web-components.min.js": "text/javascript; charset=utf-8",
	"styles.min.css":        "text/css; charset=utf-8",
	"favicon.svg":           "image/svg+xml",
}

// Options configures Handler. The zero value serves the page at /docs.
type Options struct {
	// Title is the page's <title>. Defaults to "astro-runner API".
	Title string
	// SpecURL is the URL of the OpenAPI document that the page renders.
	// Defaults to "/openapi.yaml".
	SpecURL string
	// Prefix is the path of the page; assets are served under
	// Prefix + "/assets/". It is cleaned like a path, so a trailing slash is
	// dropped and a leading one added; "/" serves the page at the root.
	// Defaults to "/docs".
	Prefix string
}

// WithDefaults returns a copy of o with empty fields set to their defaults and
// Prefix cleaned with path.Clean after adding a leading "/".
func (o Options) WithDefaults() Options {
	if o.Title == "" {
		o.Title = "astro-runner API"
	}
	if o.SpecURL == "" {
		o.SpecURL = "/openapi.yaml"
	}
	if o.Prefix == "" {
		o.Prefix = "/docs"
	}
	o.Prefix = path.Clean("/" + o.Prefix)
	return o
}

// asset is one embedded file, ready to serve.
type asset struct {
	name        string
	data        []byte
	contentType string
	etag        string
}

// assets holds the embedded files, keyed by file name.
var assets = mustLoadAssets()

// mustLoadAssets reads every file in contentTypes from assetFS. It panics if
// one is missing, which means the package was built without its assets.
func mustLoadAssets() map[string]*asset {
	out := make(map[string]*asset, len(contentTypes))
	for name, ct := range contentTypes {
		data, err := assetFS.ReadFile("assets/" + name)
		if err != nil {
			panic(fmt.Errorf("docsui: read embedded asset %s: %w", name, err))
		}
		out[name] = &asset{name: name, data: data, contentType: ct, etag: contentETag(data)}
	}
	return out
}

// contentETag returns a strong ETag derived from data's SHA-256.
func contentETag(data []byte) string {
	sum := sha256.Sum256(data)
	return `"` + hex.EncodeToString(sum[:8]) + `"`
}

// pageData is what pageTemplate renders.
type pageData struct {
	Title     string
	SpecURL   string
	ScriptURL string
	StyleURL  string
	IconURL   string
}

// pageTemplate is the docs page. It must keep no inline script, because the
// Content-Security-Policy allows scripts from 'self' only.
var pageTemplate = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="referrer" content="no-referrer">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{{.Title}}</title>
    <link rel="icon" type="image/svg+xml" href="{{.IconURL}}">
    <link rel="stylesheet" href="{{.StyleURL}}">
    <script src="{{.ScriptURL}}"></script>
  </head>
  <body style="height: 100vh; margin: 0;">
    <elements-api
      apiDescriptionUrl="{{.SpecURL}}"
      router="hash"
      layout="sidebar"
      tryItCredentialsPolicy="same-origin"
    ></elements-api>
  </body>
</html>
`))

// handler serves the page and its assets.
type handler struct {
	pagePath  string
	assetBase string
	page      *asset
}

// Handler returns an http.Handler that serves the Stoplight Elements page at
// opts.Prefix and its embedded assets at opts.Prefix + "/assets/{file}".
// A request for opts.Prefix + "/" is redirected to the page; any other path
// gets 404, and methods other than GET and HEAD get 405. Every response carries
// a Content-Security-Policy that allows only this origin, and
// X-Content-Type-Options: nosniff. Mount it for both the prefix and the prefix
// followed by "/". Handler panics only if the page template fails to render,
// which the package's tests rule out.
func Handler(opts Options) http.Handler {
	h, err := newHandler(opts.WithDefaults())
	if err != nil {
		panic(err)
	}
	return h
}

// newHandler renders the page for opts, which must already have defaults.
func newHandler(opts Options) (*handler, error) {
	assetBase := strings.TrimSuffix(opts.Prefix, "/") + "/assets/"
	assetURL := func(name string) string {
		return assetBase + name + "?v=" + strings.Trim(assets[name].etag, `"`)
	}
	var buf bytes.Buffer
	err := pageTemplate.Execute(&buf, pageData{
		Title:     opts.Title,
		SpecURL:   opts.SpecURL,
		ScriptURL: assetURL("web-components.min.js"),
		StyleURL:  assetURL("styles.min.css"),
		IconURL:   assetURL("favicon.svg"),
	})
	if err != nil {
		return nil, fmt.Errorf("docsui: render page for %s: %w", opts.Prefix, err)
	}
	return &handler{
		pagePath:  opts.Prefix,
		assetBase: assetBase,
		page: &asset{
			name:        "docs.html",
			data:        buf.Bytes(),
			contentType: "text/html; charset=utf-8",
			etag:        contentETag(buf.Bytes()),
		},
	}, nil
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", contentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")

	var (
		a            *asset
		cacheControl string
	)
	p := r.URL.Path
	switch {
	case p == h.pagePath:
		a, cacheControl = h.page, pageCacheControl
	case p == h.pagePath+"/" && h.pagePath != "/":
		if !allowedMethod(w, r) {
			return
		}
		http.Redirect(w, r, h.pagePath, http.StatusMovedPermanently)
		return
	case strings.HasPrefix(p, h.assetBase):
		a = assets[strings.TrimPrefix(p, h.assetBase)]
		cacheControl = assetCacheControl
	}
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if !allowedMethod(w, r) {
		return
	}
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
}

// allowedMethod reports whether r is a GET or HEAD. If not, it writes a 405
// response.
func allowedMethod(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
	return false
}
