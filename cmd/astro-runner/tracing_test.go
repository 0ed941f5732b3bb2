package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/tracing/tracingtest"
)

// These tests set OTEL_ variables, which the OpenTelemetry SDK reads from
// the process's environment, so they do not run in parallel.

var clearOTELEnv = tracingtest.ClearOTELEnv

func TestServeRefusesAnOTELValueTheSDKRefuses(t *testing.T) {
	clearOTELEnv(t)
	_, url := tracingtest.NewCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)
	t.Setenv("OTEL_TRACES_SAMPLER", "sometimes")
	r := runCLI(t, map[string]string{"ASTRO_ADDR": "127.0.0.1:0"}, "serve")
	require.Equal(t, exitFailed, r.code, r.stderr)
	assert.Contains(t, r.stderr, "OTEL_TRACES_SAMPLER")
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// TestServeTracesARunAndFlushesOnExit serves with OTEL_EXPORTER_OTLP_ENDPOINT
// pointing at a loopback collector, runs a plan against a loopback target,
// stops the server, and finds the spans of the request, the job, the
// execution and the step at the collector, and the run's trace at the
// target.
func TestServeTracesARunAndFlushesOnExit(t *testing.T) {
	clearOTELEnv(t)
	collector, url := tracingtest.NewCollector(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", url)

	var mu sync.Mutex
	var seen []string
	target := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Traceparent"))
		mu.Unlock()
	}))
	t.Cleanup(target.Close)

	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- execute(ctx, []string{"serve"}, envOf(map[string]string{"ASTRO_ADDR": addr, "ASTRO_LOG_FORMAT": "json"}),
			io.Discard, &stderr)
	}()
	base := "http://" + addr
	require.Eventually(t, func() bool {
		res, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		_ = res.Body.Close()
		return res.StatusCode == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond)

	call := func(method, path string, body any, out any) {
		t.Helper()
		b, err := json.Marshal(body)
		require.NoError(t, err)
		req, err := http.NewRequest(method, base+path, bytes.NewReader(b))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		require.Less(t, res.StatusCode, 300)
		require.NoError(t, json.NewDecoder(res.Body).Decode(out))
	}
	var plan struct{ ID string }
	call(http.MethodPost, "/plan", map[string]any{"name": "traced", "document": map[string]any{"steps": []any{
		map[string]any{"name": "one", "request": map[string]any{"method": "GET", "url": target.URL}},
	}}}, &plan)
	var exec struct {
		ID     string
		Status string
		Result *struct {
			TraceID string `json:"trace_id"`
		}
	}
	call(http.MethodPost, "/plan/"+plan.ID+"/execute", map[string]any{}, &exec)
	require.Eventually(t, func() bool {
		call(http.MethodGet, "/execution/"+exec.ID, nil, &exec)
		return exec.Status == "passed"
	}, 30*time.Second, 20*time.Millisecond)
	require.NotNil(t, exec.Result)
	require.Regexp(t, `^[0-9a-f]{32}$`, exec.Result.TraceID)

	cancel()
	select {
	case c := <-code:
		require.Equal(t, 0, c, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}

	// The batch processor's delay (5 s) has not passed: what arrived was
	// flushed at exit.
	names, resources := collector.Spans()
	for _, name := range []string{"POST /plan", "POST /plan/{id}/execute", "job execute_plan", "execution", "step one", "GET"} {
		assert.Contains(t, names, name)
	}
	services := map[string]bool{}
	for _, r := range resources {
		services[r["service.name"]] = true
	}
	assert.Equal(t, map[string]bool{"astro-runner": true}, services)
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, seen, 1)
	assert.Contains(t, seen[0], "-"+exec.Result.TraceID+"-", "the target saw the run's trace")
	assert.Contains(t, stderr.String(), "tracing on", "logged at start-up")
}

func TestRunnerFollowsASTROTraceTargets(t *testing.T) {
	for v, wantOff := range map[string]bool{"": false, "true": false, "false": true} {
		cfg, err := config.Load(envOf(map[string]string{"ASTRO_TRACE_TARGETS": v}))
		require.NoError(t, err)
		r, err := newRunner(cfg)
		require.NoError(t, err)
		assert.Equal(t, wantOff, r.NoTracePropagation, "ASTRO_TRACE_TARGETS=%q", v)
	}
}
