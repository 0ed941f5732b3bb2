package api

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// withTracing gives every request but the health checks a server span from
// tp (otelhttp), continuing the trace of an incoming W3C traceparent. The
// span is named for the route template that matches the request, such as
// "POST /plan/{id}/execute", never for the raw path; a request that
// matches no route is named for its method alone. A method that is not a
// standard one is named HTTP, as OpenTelemetry's HTTP conventions say: a
// client must not choose span names. The template is also the span's
// http.route. A nil tp adds nothing, so that tracing costs nothing when it
// is off.
func withTracing(next http.Handler, tp trace.TracerProvider, mux *http.ServeMux) http.Handler {
	if tp == nil {
		return next
	}
	named := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		span := trace.SpanFromContext(r.Context())
		if method, route := routeOf(mux, r); route != "" {
			span.SetName(method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
		}
		next.ServeHTTP(w, r)
	})
	return otelhttp.NewHandler(named, "http.server",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		// The metrics are Prometheus's (package metrics), not otelhttp's.
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !isHealthProbe(r.URL.Path) }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return spanMethod(r.Method) }),
	)
}

// routeOf returns the method and the path template of the mux pattern
// that r matches, such as "POST" and "/plan/{id}/execute". A pattern
// without a method (the docs and spec routes) gives r's method, as
// spanMethod names it. A request that matches no route gives an empty
// route.
func routeOf(mux *http.ServeMux, r *http.Request) (method, route string) {
	_, pattern := mux.Handler(r)
	if pattern == "" {
		return spanMethod(r.Method), ""
	}
	if m, path, ok := strings.Cut(pattern, " "); ok {
		return m, path
	}
	return spanMethod(r.Method), pattern
}

// spanMethod returns method for a span's name if it is a standard HTTP
// method, and "HTTP" otherwise.
func spanMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "HTTP"
}
