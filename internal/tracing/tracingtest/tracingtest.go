// Package tracingtest helps tests of OpenTelemetry set-up: it clears the
// OTEL_ variables of the process and serves a loopback OTLP/HTTP collector
// that keeps what it receives.
package tracingtest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// ClearOTELEnv unsets every OTEL_ variable for the test, restoring them
// after it. Tests that call it must not run in parallel: the SDK reads the
// process's environment.
func ClearOTELEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "OTEL_") {
			t.Setenv(name, "")
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// Collector is a loopback OTLP/HTTP trace receiver that keeps the export
// requests it gets.
type Collector struct {
	mu       sync.Mutex
	paths    []string
	requests []*coltrace.ExportTraceServiceRequest
}

// NewCollector starts a collector on 127.0.0.1, stopped when the test
// ends, and returns it with its base URL (an OTEL_EXPORTER_OTLP_ENDPOINT).
func NewCollector(t *testing.T) (*Collector, string) {
	t.Helper()
	c := &Collector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		req := &coltrace.ExportTraceServiceRequest{}
		if err != nil || proto.Unmarshal(body, req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.paths = append(c.paths, r.Method+" "+r.URL.Path)
		c.requests = append(c.requests, req)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

// Paths returns the method and path of every export request received.
func (c *Collector) Paths() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.paths...)
}

// Spans returns, for every span received, its name and its resource's
// attributes.
func (c *Collector) Spans() (names []string, resources []map[string]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, req := range c.requests {
		for _, rs := range req.GetResourceSpans() {
			attrs := map[string]string{}
			for _, kv := range rs.GetResource().GetAttributes() {
				attrs[kv.GetKey()] = kv.GetValue().GetStringValue()
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
					resources = append(resources, attrs)
				}
			}
		}
	}
	return names, resources
}
