package config

import (
	"fmt"
	"strings"
)

// traceTargets reads ASTRO_TRACE_TARGETS: whether each step's request
// carries the W3C traceparent of its span when tracing is on. true (the
// default) or false, in any case.
func (r *reader) traceTargets() bool {
	const name = "ASTRO_TRACE_TARGETS"
	switch v := r.str(name, "true"); strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		return true
	case "false":
		return false
	default:
		r.fail(name, fmt.Sprintf("must be true or false, got %q", v))
		return true
	}
}
