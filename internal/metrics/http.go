package metrics

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// RouteUnmatched is the route label of a request that matched no route: a
// 404 for an unknown path, or a 405 for a path without the method.
const RouteUnmatched = "unmatched"

// MethodOther is the method label of a request whose method is not one of
// the standard ones, so that clients cannot invent label values.
const MethodOther = "other"

// HTTPMetrics observes the API's requests. Its series are:
//
//   - astro_http_requests_total{method,route,code}, the requests answered;
//   - astro_http_request_duration_seconds{method,route}, a histogram of
//     the time from receiving a request to the end of its handler.
//
// route is the route template that matched, such as "/plan/{id}", never
// the raw path; "unmatched" when no route did. method is the request's
// method when it is a standard one, "other" otherwise. code is the status
// sent. Every label so takes a bounded set of values.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "astro_http_requests_total",
			Help: "HTTP requests answered, by method, route template and status code.",
		}, []string{"method", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "astro_http_request_duration_seconds",
			Help:    "Duration of HTTP requests, by method and route template.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// Observe records one answered request. pattern is the http.ServeMux
// pattern that matched it ("GET /plan/{id}"), or empty if none did; its
// method and host are dropped, leaving the path template. It fits
// api.Deps.ObserveRequestFunc.
func (m *HTTPMetrics) Observe(method, pattern string, status int, elapsed time.Duration) {
	method = methodLabel(method)
	route := RouteLabel(pattern)
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(method, route).Observe(elapsed.Seconds())
}

// RouteLabel returns the route label of a ServeMux pattern: its path
// ("GET /plan/{id}" gives "/plan/{id}"), or RouteUnmatched for an empty
// pattern.
func RouteLabel(pattern string) string {
	if pattern == "" {
		return RouteUnmatched
	}
	// A pattern is [METHOD ][HOST]/[PATH]: the path starts at the first
	// slash after the method.
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i > 0 {
		pattern = pattern[i:]
	}
	return pattern
}

// methodLabel returns method if it is a standard HTTP method, and
// MethodOther otherwise.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return MethodOther
}
