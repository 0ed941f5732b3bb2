package planjob_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// secretWorker is the ID of newSecretHarness's pool.
const secretWorker = "secret-worker"

// newSecretHarness is newPathHarness with a handler that has box (nil: no
// key), and a log buffer, which the pool writes from its goroutines.
func newSecretHarness(t *testing.T, path handlerPath, box *secret.Box) (*harness, *lockedBuffer) {
	t.Helper()
	st := openStore(t)
	log := &lockedBuffer{}
	logger := slog.New(slog.NewJSONHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	pool := worker.New(st, worker.Config{
		ID: secretWorker, Logger: logger, PollInterval: 20 * time.Millisecond,
		Retry: storage.RetryPolicy{Base: time.Millisecond, Max: time.Millisecond},
	})
	path.register(pool, &planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: logger, SecretBox: box})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &harness{t: t, store: st, pool: pool}, log
}

func newBox(t *testing.T) *secret.Box {
	t.Helper()
	box, err := secret.New(bytes.Repeat([]byte{9}, secret.KeySize))
	require.NoError(t, err)
	return box
}

// putSecret stores a secret sealed by box.
func putSecret(t *testing.T, st storage.Store, box *secret.Box, name, value string) {
	t.Helper()
	ct, nonce, err := box.Seal(name, []byte(value))
	require.NoError(t, err)
	_, _, err = st.SecretPut(context.Background(), &storage.SecretPutParams{Name: name, Ciphertext: ct, Nonce: nonce})
	require.NoError(t, err)
}

// secretStep sends {{secret.TOKEN}} as a bearer token.
func secretStep(url string) map[string]any {
	s := step("auth", url)
	s["request"].(map[string]any)["headers"] = map[string]string{"Authorization": "Bearer {{secret.TOKEN}}"}
	return s
}

func TestStoredSecretReachesTheTargetAndNotTheResult(t *testing.T) {
	t.Parallel()
	const value = "tok-5d1e-planjob-secret"
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+value {
			w.WriteHeader(http.StatusUnauthorized)
		}
		_, _ = w.Write([]byte(`{"you_sent":"` + r.Header.Get("Authorization") + `"}`))
	}))
	t.Cleanup(target.Close)
	registerEach(t, func(t *testing.T, path handlerPath) {
		box := newBox(t)
		h, log := newSecretHarness(t, path, box)
		putSecret(t, h.store, box, "TOKEN", value)
		e := h.waitFinal(h.execute(secretStep(target.URL)))
		require.Equal(t, storage.ExecutionPassed, e.Status, "%s", e.Result)
		assert.NotContains(t, string(e.Result), value)
		assert.Contains(t, string(e.Result), planrun.Redacted, "the echo is redacted")
		// The finish line is logged once the final status has committed,
		// which may be a moment after a reader sees it.
		require.Eventually(t, func() bool { return strings.Contains(log.String(), `"msg":"execution finished"`) },
			10*time.Second, 5*time.Millisecond)
		assert.NotContains(t, log.String(), value)
	})
}

func TestDeletedSecretEndsTheExecutionInError(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		box := newBox(t)
		h, _ := newSecretHarness(t, path, box)
		e := h.waitFinal(h.execute(secretStep("http://127.0.0.1:1/")))
		require.Equal(t, storage.ExecutionError, e.Status)
		assert.Contains(t, result(t, e).Error, "secret TOKEN is missing")
		path.assertAttemptBeforeRun(t, e, secretWorker)
		jobs, err := h.store.JobList(context.Background(), &storage.JobListParams{})
		require.NoError(t, err)
		require.Len(t, jobs.Jobs, 1)
		assert.Equal(t, 1, jobs.Jobs[0].Attempt, "not retried")
	})
}

func TestSecretsWithoutAKeyEndTheExecutionInError(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		h, _ := newSecretHarness(t, path, nil)
		putSecret(t, h.store, newBox(t), "TOKEN", "some-value")
		e := h.waitFinal(h.execute(secretStep("http://127.0.0.1:1/")))
		require.Equal(t, storage.ExecutionError, e.Status)
		assert.Contains(t, result(t, e).Error, "ASTRO_SECRET_KEY")
		path.assertAttemptBeforeRun(t, e, secretWorker)
	})
}

func TestSecretUnderAnotherKeyEndsTheExecutionInError(t *testing.T) {
	t.Parallel()
	registerEach(t, func(t *testing.T, path handlerPath) {
		h, _ := newSecretHarness(t, path, newBox(t))
		other, err := secret.New(bytes.Repeat([]byte{1}, secret.KeySize))
		require.NoError(t, err)
		putSecret(t, h.store, other, "TOKEN", "some-value")
		e := h.waitFinal(h.execute(secretStep("http://127.0.0.1:1/")))
		require.Equal(t, storage.ExecutionError, e.Status)
		assert.Contains(t, result(t, e).Error, "secret TOKEN could not be decrypted")
		path.assertAttemptBeforeRun(t, e, secretWorker)
	})
}
