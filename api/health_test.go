package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestHealthz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/healthz", nil)
	require.Equal(t, http.StatusOK, res.Status)
	var h Health
	res.decode(t, &h)
	assert.Equal(t, "ok", h.Status)
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/readyz", nil)
	require.Equal(t, http.StatusOK, res.Status, "body: %s", res.Body)
	var h Health
	res.decode(t, &h)
	assert.Equal(t, "ok", h.Status)
}

// downStore answers Ping with ErrUnavailable.
type downStore struct{ storage.Store }

func (downStore) Ping(context.Context) error {
	return fmt.Errorf("ping postgres: dial tcp 10.0.0.5:5432: %w", storage.ErrUnavailable)
}

// hungStore never answers Ping, whatever its context says, until release
// is closed.
type hungStore struct {
	storage.Store
	release chan struct{}
}

func (s hungStore) Ping(context.Context) error {
	<-s.release
	return nil
}

// readOnlyStore answers Ping as a store whose reads work but whose write
// path does not: a plain error, not marked ErrUnavailable. It records the
// deadline it was given.
type readOnlyStore struct {
	storage.Store
	deadline chan time.Duration
}

func (s readOnlyStore) Ping(ctx context.Context) error {
	d, ok := ctx.Deadline()
	if !ok {
		s.deadline <- -1
	} else {
		s.deadline <- time.Until(d)
	}
	return errors.New("ping write path: acquire writer connection: database is locked (SQLITE_BUSY)")
}

func TestReadyzStoreDown(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	cases := map[string]func(storage.Store) storage.Store{
		"unavailable": func(s storage.Store) storage.Store { return downStore{s} },
		"hung":        func(s storage.Store) storage.Store { return hungStore{Store: s, release: release} },
		"cannot write": func(s storage.Store) storage.Store {
			return readOnlyStore{Store: s, deadline: make(chan time.Duration, 1)}
		},
	}
	for name, wrap := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, wrapStore(wrap))
			res := e.request(http.MethodGet, "/readyz", nil)
			require.Equal(t, http.StatusServiceUnavailable, res.Status, "body: %s", res.Body)
			assert.Equal(t, "storage unavailable", res.problem(t).Detail)
			assert.Equal(t, retryAfterSeconds, res.Header.Get("Retry-After"))
			assert.NotContains(t, string(res.Body), "10.0.0.5")
			assert.NotContains(t, string(res.Body), "SQLITE_BUSY")
			if ro, ok := e.store.(readOnlyStore); ok {
				d := <-ro.deadline
				assert.Greater(t, d, time.Duration(0), "Ping gets a deadline")
				assert.LessOrEqual(t, d, readyTimeout)
			}

			// Liveness does not depend on the store.
			assert.Equal(t, http.StatusOK, e.request(http.MethodGet, "/healthz", nil).Status)
		})
	}
}

func TestDocsPageServedFromBinary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodGet, "/docs", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/html")
	page := string(res.Body)
	assert.Contains(t, page, "<elements-api")
	assert.Contains(t, page, `apiDescriptionUrl="/openapi.yaml"`)
	assert.Contains(t, page, "/docs/assets/web-components.min.js")
	assert.NotContains(t, page, "unpkg.com", "no CDN")

	res = e.request(http.MethodGet, "/docs/assets/web-components.min.js", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Contains(t, res.Header.Get("Content-Type"), "javascript")
	assert.Greater(t, len(res.Body), 1<<20, "the real bundle, not a stub")

	res = e.request(http.MethodGet, "/docs/assets/styles.min.css", nil)
	require.Equal(t, http.StatusOK, res.Status)
	assert.Contains(t, res.Header.Get("Content-Type"), "text/css")
}

func TestSpecRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cases := map[string]string{
		"/openapi.json":      `"openapi":"3.1.0"`,
		"/openapi.yaml":      "openapi: 3.1.0",
		"/openapi-3.0.json":  `"openapi":"3.0.3"`,
		"/openapi-3.0.yaml":  "openapi: 3.0.3",
		"/schemas/Plan.json": `"revision"`,
	}
	for path, want := range cases {
		res := e.request(http.MethodGet, path, nil)
		require.Equal(t, http.StatusOK, res.Status, path)
		assert.Contains(t, string(res.Body), want, path)
	}
	res := e.request(http.MethodGet, "/openapi.yaml", nil)
	assert.True(t, strings.Contains(string(res.Body), "operationId: create-plan"))
}
