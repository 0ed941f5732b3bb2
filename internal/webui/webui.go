// Package webui serves the web dashboard: the files that the frontend in
// web/ builds into dist (cd web && npm run build), embedded in the binary so
// that the dashboard works with no internet access.
//
// The dashboard is a single-page application whose client routes live
// under /ui/, beside the API's root paths. Mount Handler for exactly these
// patterns and nothing else:
//
//	mux.Handle("GET /{$}", h)   // the overview
//	mux.Handle("GET /ui", h)
//	mux.Handle("GET /ui/", h)   // every client route: index.html
//	mux.Handle("GET /assets/", h)
//
// The files hold no data, so they need no token: the page asks for one
// when an API call answers 401.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// ContentSecurityPolicy is sent with every answer. Scripts, styles, fonts
// and API calls come only from this origin; the pages have no inline
// script or style attribute (styles set through the DOM's style object are
// allowed); images may also be data: URLs; nothing may frame the pages.
const ContentSecurityPolicy = "default-src 'self'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'; img-src 'self' data:"

// Cache-Control values. Vite names every built asset after a hash of its
// content, so an asset never changes under its name; index.html names the
// assets, so browsers must revalidate it to pick up a new build.
const (
	assetCacheControl = "public, max-age=31536000, immutable"
	indexCacheControl = "no-cache"
)

// assetPrefix is the path under which the built assets are served, and
// their folder in dist.
const assetPrefix = "/assets/"

//go:embed all:dist
var distFS embed.FS

// contentTypes maps the extensions of the files a Vite build writes to
// their Content-Type, so that the answer does not depend on the host's MIME
// tables. Other files are served as application/octet-stream.
var contentTypes = map[string]string{
	".html":  "text/html; charset=utf-8",
	".js":    "text/javascript; charset=utf-8",
	".mjs":   "text/javascript; charset=utf-8",
	".css":   "text/css; charset=utf-8",
	".json":  "application/json",
	".map":   "application/json",
	".svg":   "image/svg+xml",
	".png":   "image/png",
	".jpg":   "image/jpeg",
	".webp":  "image/webp",
	".ico":   "image/x-icon",
	".woff":  "font/woff",
	".woff2": "font/woff2",
	".txt":   "text/plain; charset=utf-8",
}

// file is one built file, ready to serve.
type file struct {
	name        string
	data        []byte
	contentType string
	etag        string
}

// handler serves index.html and the files under assets/.
type handler struct {
	index  *file
	assets map[string]*file // keyed by the path under assets/
}

// Handler returns the handler of the embedded dashboard. It answers GET
// and HEAD only (others get 405):
//
//   - "/", "/ui" and every path under "/ui/": index.html, with
//     Cache-Control no-cache, so that the client router takes over;
//   - "/assets/{path}": that built file, cached for a year as immutable,
//     or a 404 problem document when there is none;
//   - anything else: a 404 problem document.
//
// Every answer carries ContentSecurityPolicy, X-Content-Type-Options:
// nosniff, X-Frame-Options: DENY and Referrer-Policy: no-referrer; files
// carry a strong ETag and honour If-None-Match. Handler panics if the
// embedded dist has no index.html, which means the package was built
// without the dashboard.
func Handler() http.Handler {
	sub, err := fs.Sub(distFS, "dist")
	if err == nil {
		var h *handler
		if h, err = newHandler(sub); err == nil {
			return h
		}
	}
	panic(fmt.Errorf("webui: load the embedded dashboard: %w", err))
}

// newHandler reads index.html and every file under assets/ from fsys.
func newHandler(fsys fs.FS) (*handler, error) {
	data, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		return nil, fmt.Errorf("read index.html: %w", err)
	}
	h := &handler{index: newFile("index.html", data), assets: map[string]*file{}}
	err = fs.WalkDir(fsys, strings.Trim(assetPrefix, "/"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		h.assets[strings.TrimPrefix("/"+p, assetPrefix)] = newFile(p, data)
		return nil
	})
	// A dist without an assets folder (the placeholder) serves no assets.
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return h, nil
}

func newFile(name string, data []byte) *file {
	ct, ok := contentTypes[path.Ext(name)]
	if !ok {
		ct = "application/octet-stream"
	}
	sum := sha256.Sum256(data)
	return &file{name: name, data: data, contentType: ct, etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// ServeHTTP implements http.Handler.
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", ContentSecurityPolicy)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		writeProblem(w, http.StatusMethodNotAllowed, "the dashboard's files accept GET and HEAD only")
		return
	}
	p := r.URL.Path
	var (
		f            *file
		cacheControl string
	)
	switch {
	case p == "/" || p == "/ui" || strings.HasPrefix(p, "/ui/"):
		f, cacheControl = h.index, indexCacheControl
	case strings.HasPrefix(p, assetPrefix):
		f, cacheControl = h.assets[strings.TrimPrefix(p, assetPrefix)], assetCacheControl
	}
	if f == nil {
		hdr.Set("Cache-Control", "no-store")
		writeProblem(w, http.StatusNotFound, "no such file of the dashboard: a page built before an upgrade may name assets that are gone; reload it")
		return
	}
	hdr.Set("Content-Type", f.contentType)
	hdr.Set("Cache-Control", cacheControl)
	hdr.Set("ETag", f.etag)
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.data))
}

// problem is an RFC 9457 problem document, as the API's errors are.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// writeProblem answers with a problem document.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	b, err := json.Marshal(problem{Title: http.StatusText(status), Status: status, Detail: detail})
	if err != nil {
		// A struct of strings and an int always marshals.
		b = []byte(`{"title":"Internal Server Error","status":500}`)
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
