package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// logField returns the field of the first JSON log record with message
// msg, or "" if there is none yet.
func logField(t *testing.T, log, msg, field string) string {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != msg {
			continue
		}
		s, _ := rec[field].(string)
		return s
	}
	return ""
}

// TestServeWiresMetrics starts serve with ASTRO_METRICS_ADDR and an API
// token, and scrapes the metrics listener without one: it shows the store
// operations of the running process, recorded by the decorator around the
// store, and the queue state read at scrape time.
func TestServeWiresMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := config.Load(envOf(map[string]string{
		"ASTRO_ADDR": "127.0.0.1:0", "ASTRO_METRICS_ADDR": "127.0.0.1:0", "ASTRO_API_TOKEN": "secret-token",
		"ASTRO_SCHEDULER": "off",
	}))
	require.NoError(t, err)
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	// A job on a queue no pool serves stays available.
	_, err = st.JobEnqueue(ctx, &storage.JobEnqueueParams{Queue: "nowhere", Kind: "noop"})
	require.NoError(t, err)

	var logs lockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- serve(runCtx, cfg, st, log, true, nil) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()

	// serve logs "listening" once it has opened the secret box (a
	// SecretList call) and started everything.
	var addr string
	require.Eventually(t, func() bool {
		addr = logField(t, logs.String(), "metrics listener", "addr")
		return addr != "" && logField(t, logs.String(), "listening", "addr") != ""
	}, 10*time.Second, 10*time.Millisecond, "serve starts: %s", logs.String())

	res, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.NoError(t, res.Body.Close())
	require.Equal(t, http.StatusOK, res.StatusCode, "no token on the metrics listener: %s", body)
	text := string(body)
	require.Contains(t, text, `astro_store_operation_duration_seconds_count{backend="memory",operation="SecretList"}`,
		"serve's own store calls are recorded")
	require.Contains(t, text, `astro_jobs{queue="nowhere",state="available"} 1`)
	require.Contains(t, text, `astro_queue_oldest_available_age_seconds{queue="nowhere"}`)
	require.Contains(t, text, "go_goroutines", "the Go runtime collector")
}
