// Package config reads astro-runner's settings from the environment. Every
// unknown or invalid value is an error that names its variable, so that a
// bad deployment stops at start-up instead of misbehaving later.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Backend names a storage backend.
type Backend string

// The storage backends.
const (
	BackendMemory   Backend = "memory"
	BackendSQLite   Backend = "sqlite"
	BackendPostgres Backend = "postgres"
)

// DefaultSecretPattern matches the names of captured variables whose
// values are redacted from results and logs.
const DefaultSecretPattern = `(?i)token|secret|password|key`

// Config is the whole of astro-runner's configuration.
type Config struct {
	// Backend is STORAGE_BACKEND: memory (default), sqlite or postgres.
	Backend Backend
	// SQLitePath is SQLITE_PATH, the database file of the sqlite backend.
	// Defaults to ./astro.db.
	SQLitePath string
	// PostgresURL is POSTGRESQL_URL, required by the postgres backend.
	PostgresURL string
	// Addr is ASTRO_ADDR, the HTTP listen address. Defaults to :8080.
	Addr string
	// APIToken is ASTRO_API_TOKEN. When set, the API requires it as a
	// bearer token.
	APIToken string
	// Workers is ASTRO_WORKERS, how many jobs run at once per queue in
	// each process. Defaults to 8.
	Workers int
	// Queues is ASTRO_QUEUES, the comma-separated queues whose jobs this
	// process runs, one worker pool each. Names match storage.NamePattern.
	// Defaults to storage.DefaultQueue.
	Queues []string
	// PlanEnvAllow is ASTRO_PLAN_ENV_ALLOW, a comma-separated list of the
	// environment variables plans may read as {{env.NAME}}.
	PlanEnvAllow []string
	// SecretPattern is ASTRO_SECRET_PATTERN, a regular expression for the
	// names of captured variables to redact. Defaults to
	// DefaultSecretPattern.
	SecretPattern *regexp.Regexp
	// TargetAllow is ASTRO_TARGET_ALLOW, the CIDRs, addresses and host
	// patterns, each optionally with a port, that plans may send requests
	// to. Empty allows all but the denied; otherwise a destination no entry
	// matches is denied. The most specific entry wins; see package netguard.
	TargetAllow string
	// TargetDeny is ASTRO_TARGET_DENY, the entries plans may not send
	// requests to, on top of netguard's built-in deny entries (unspecified,
	// link-local and cloud metadata addresses).
	TargetDeny string
	// JobLease is ASTRO_JOB_LEASE, how long a claimed job is held between
	// heartbeats before the rescuer may take it back. Defaults to 30s.
	JobLease time.Duration
	// RescueInterval is ASTRO_RESCUE_INTERVAL, how often each node takes
	// back jobs whose lease expired. Defaults to 10s.
	RescueInterval time.Duration
	// RunTimeout is ASTRO_RUN_TIMEOUT, how long one run of a plan may
	// take. A run that takes longer ends its execution in error, without
	// a retry. Defaults to 15m.
	RunTimeout time.Duration
	// ShutdownTimeout is ASTRO_SHUTDOWN_TIMEOUT, how long a graceful stop
	// waits for requests and jobs. Defaults to 30s.
	ShutdownTimeout time.Duration
	// DebugAddr is ASTRO_DEBUG_ADDR. When set, a second listener there
	// serves Go's runtime profiles (/debug/pprof/) and variables
	// (/debug/vars, including the goroutine count). Bind it to loopback.
	DebugAddr string
	// LogLevel is ASTRO_LOG_LEVEL: debug, info (default), warn or error.
	LogLevel string
	// LogFormat is ASTRO_LOG_FORMAT: auto (default), text or json. Auto
	// writes human-readable text when stderr is a terminal and JSON
	// otherwise.
	LogFormat LogFormat
	// QueueCommit is ASTRO_QUEUE_COMMIT, how the worker's own queue writes
	// (claims, outcomes, heartbeats) commit on Postgres: async (default,
	// synchronous_commit=off) or sync. See pgstore.Config.AsyncQueueCommit.
	QueueCommit string
	// SecretKey is the 32-byte key that encrypts stored secrets, from
	// ASTRO_SECRET_KEY (base64) or ASTRO_SECRET_KEY_FILE (a file of 32 raw
	// bytes or of their base64). Nil when neither is set: secrets are
	// then unavailable.
	SecretKey []byte
	// ExecutionRetention is ASTRO_EXECUTION_RETENTION, how long finished
	// executions of a plan without its own retention are kept: a Go
	// duration of at least 1h, or whole days such as 30d. 0 keeps them
	// forever. Defaults to 30d. See package retention.
	ExecutionRetention time.Duration
	// Scheduler is ASTRO_SCHEDULER: on (default) runs the scheduler in
	// this process (serve and worker), off does not. Every node may run it.
	Scheduler bool
	// SchedulerInterval is ASTRO_SCHEDULER_INTERVAL, the longest the
	// scheduler sleeps between looks for due schedules; it also wakes at
	// the earliest next run. Defaults to 1s.
	SchedulerInterval time.Duration
	// ScheduleMinInterval is ASTRO_SCHEDULE_MIN_INTERVAL, the shortest gap
	// allowed between two ticks of a schedule. Defaults to 10s; at least 1s.
	ScheduleMinInterval time.Duration
	// AlertMinInterval is ASTRO_ALERT_MIN_INTERVAL, the shortest gap
	// between two messages of one alert rule about one plan; what comes
	// sooner is held back and summed up in a later message. 0 sends every
	// message at once. Defaults to 5m (alert.DefaultMinInterval).
	AlertMinInterval time.Duration
	// AlertMaxAttempts is ASTRO_ALERT_MAX_ATTEMPTS, how many times one
	// alert message is tried before it is discarded. Defaults to 12
	// (alert.DefaultMaxAttempts): the queue's backoff waits 1s, 2s, …,
	// 512s, then 10m between them, about 27 minutes in all (up to a fifth
	// more with jitter).
	AlertMaxAttempts int
	// PublicURL is ASTRO_PUBLIC_URL, the address people reach the API at,
	// for the links in alert messages. Defaults to http://localhost and
	// the port of ASTRO_ADDR.
	PublicURL string
	// MetricsAddr is ASTRO_METRICS_ADDR. When set, a second listener there
	// serves the Prometheus metrics at /metrics without a token, for a
	// scrape that stays inside a private network; the API serves them at
	// /metrics either way, behind ASTRO_API_TOKEN. The worker command
	// serves them only there.
	MetricsAddr string
	// MetricsPlanLabels is ASTRO_METRICS_PLAN_LABELS: true adds the plan's
	// name as a label to the run metrics, false (default) does not, as
	// plan names are unbounded.
	MetricsPlanLabels bool
	// TraceTargets is ASTRO_TRACE_TARGETS: when tracing is on (see package
	// tracing), each step's request carries the W3C traceparent of its
	// HTTP client span, so that the targets' spans join the run's trace.
	// true (default) or false; a plan can also turn it off per step.
	TraceTargets bool
}

// LogFormat names a log format.
type LogFormat string

// The log formats.
const (
	LogFormatAuto LogFormat = "auto"
	LogFormatText LogFormat = "text"
	LogFormatJSON LogFormat = "json"
)

// LookupFunc reads one environment variable, like os.LookupEnv.
type LookupFunc func(name string) (string, bool)

// Load reads the configuration through lookup and checks it. The error
// lists every bad variable by name.
func Load(lookup LookupFunc) (*Config, error) {
	r := reader{lookup: lookup}
	c := &Config{
		Backend:         Backend(r.str("STORAGE_BACKEND", string(BackendMemory))),
		SQLitePath:      r.str("SQLITE_PATH", "./astro.db"),
		PostgresURL:     r.str("POSTGRESQL_URL", ""),
		Addr:            r.str("ASTRO_ADDR", ":8080"),
		APIToken:        r.str("ASTRO_API_TOKEN", ""),
		Workers:         r.integer("ASTRO_WORKERS", 8, 1, 1000),
		PlanEnvAllow:    r.list("ASTRO_PLAN_ENV_ALLOW"),
		Queues:          r.list("ASTRO_QUEUES"),
		SecretPattern:   r.regexp("ASTRO_SECRET_PATTERN", DefaultSecretPattern),
		TargetAllow:     r.str("ASTRO_TARGET_ALLOW", ""),
		TargetDeny:      r.str("ASTRO_TARGET_DENY", ""),
		JobLease:        r.duration("ASTRO_JOB_LEASE", 30*time.Second, time.Second),
		RescueInterval:  r.duration("ASTRO_RESCUE_INTERVAL", 10*time.Second, 100*time.Millisecond),
		RunTimeout:      r.duration("ASTRO_RUN_TIMEOUT", 15*time.Minute, time.Second),
		ShutdownTimeout: r.duration("ASTRO_SHUTDOWN_TIMEOUT", 30*time.Second, 0),
		DebugAddr:       r.str("ASTRO_DEBUG_ADDR", ""),
		LogLevel:        r.str("ASTRO_LOG_LEVEL", "info"),
		LogFormat:       LogFormat(r.str("ASTRO_LOG_FORMAT", string(LogFormatAuto))),
		QueueCommit:     r.str("ASTRO_QUEUE_COMMIT", "async"),
		SecretKey:       r.secretKey(),

		SchedulerInterval:   r.duration("ASTRO_SCHEDULER_INTERVAL", time.Second, 10*time.Millisecond),
		ScheduleMinInterval: r.duration("ASTRO_SCHEDULE_MIN_INTERVAL", 10*time.Second, time.Second),
		AlertMinInterval:    r.duration("ASTRO_ALERT_MIN_INTERVAL", 5*time.Minute, 0),
		AlertMaxAttempts:    r.integer("ASTRO_ALERT_MAX_ATTEMPTS", 12, 1, 50),
		TraceTargets:        r.traceTargets(),
	}
	switch v := r.str("ASTRO_SCHEDULER", "on"); v {
	case "on":
		c.Scheduler = true
	case "off":
	default:
		r.fail("ASTRO_SCHEDULER", fmt.Sprintf("unknown value %q: want on or off", v))
	}
	c.ExecutionRetention = r.retention("ASTRO_EXECUTION_RETENTION")
	c.MetricsAddr = r.str("ASTRO_METRICS_ADDR", "")
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			r.fail("ASTRO_METRICS_ADDR", fmt.Sprintf("%q is not host:port", c.MetricsAddr))
		} else if _, port, _ := net.SplitHostPort(c.MetricsAddr); c.MetricsAddr == c.Addr && port != "0" {
			r.fail("ASTRO_METRICS_ADDR", fmt.Sprintf("%q must differ from ASTRO_ADDR: the API serves /metrics there already", c.MetricsAddr))
		}
	}
	switch v := r.str("ASTRO_METRICS_PLAN_LABELS", "false"); v {
	case "true":
		c.MetricsPlanLabels = true
	case "false":
	default:
		r.fail("ASTRO_METRICS_PLAN_LABELS", fmt.Sprintf("unknown value %q: want true or false", v))
	}
	switch c.Backend {
	case BackendMemory, BackendSQLite:
	case BackendPostgres:
		if c.PostgresURL == "" {
			r.fail("POSTGRESQL_URL", "is required when STORAGE_BACKEND=postgres")
		}
	default:
		r.fail("STORAGE_BACKEND", fmt.Sprintf("unknown backend %q: want memory, sqlite or postgres", c.Backend))
	}
	if c.Backend == BackendSQLite && strings.TrimSpace(c.SQLitePath) == "" {
		r.fail("SQLITE_PATH", "must not be empty")
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		r.fail("ASTRO_ADDR", fmt.Sprintf("%q is not host:port", c.Addr))
	}
	if c.DebugAddr != "" {
		if _, _, err := net.SplitHostPort(c.DebugAddr); err != nil {
			r.fail("ASTRO_DEBUG_ADDR", fmt.Sprintf("%q is not host:port", c.DebugAddr))
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		r.fail("ASTRO_LOG_LEVEL", fmt.Sprintf("unknown level %q: want debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case LogFormatAuto, LogFormatText, LogFormatJSON:
	default:
		r.fail("ASTRO_LOG_FORMAT", fmt.Sprintf("unknown format %q: want auto, text or json", c.LogFormat))
	}
	if c.QueueCommit != "async" && c.QueueCommit != "sync" {
		r.fail("ASTRO_QUEUE_COMMIT", fmt.Sprintf("unknown mode %q: want async or sync", c.QueueCommit))
	}
	c.Queues = r.queues(c.Queues)
	c.PublicURL = r.publicURL("ASTRO_PUBLIC_URL", c.Addr)
	for _, name := range c.PlanEnvAllow {
		if !envName.MatchString(name) {
			r.fail("ASTRO_PLAN_ENV_ALLOW", fmt.Sprintf("%q is not a variable name", name))
		}
	}
	if len(r.errs) > 0 {
		return nil, errors.Join(r.errs...)
	}
	return c, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

type reader struct {
	lookup LookupFunc
	errs   []error
}

func (r *reader) fail(name, msg string) {
	r.errs = append(r.errs, fmt.Errorf("%s %s", name, msg))
}

func (r *reader) str(name, def string) string {
	if v, ok := r.lookup(name); ok && v != "" {
		return v
	}
	return def
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, fmt.Sprintf("must be an integer from %d to %d, got %q", lo, hi, v))
		return def
	}
	return n
}

func (r *reader) duration(name string, def, lo time.Duration) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < lo {
		r.fail(name, fmt.Sprintf("must be a duration of at least %s such as 30s, got %q", lo, v))
		return def
	}
	return d
}

func (r *reader) retention(name string) time.Duration {
	v := r.str(name, "")
	if v == "" {
		return retention.Default
	}
	d, err := retention.Parse(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("must be 0 (keep forever) or a duration of at least %s such as 720h or 30d: %v", retention.Minimum, err))
		return retention.Default
	}
	return d
}

func (r *reader) list(name string) []string {
	var out []string
	for _, item := range strings.Split(r.str(name, ""), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// queues checks the names of ASTRO_QUEUES and returns them without
// duplicates, in order, or the default queue when there are none.
func (r *reader) queues(names []string) []string {
	if len(names) == 0 {
		return []string{storage.DefaultQueue}
	}
	var out []string
	for _, name := range names {
		switch {
		case !storage.ValidName(name):
			r.fail("ASTRO_QUEUES", fmt.Sprintf("%q is not a queue name: want 1 to 63 lowercase letters, digits, '-' and '_', starting with a letter or digit", name))
		case !slices.Contains(out, name):
			out = append(out, name)
		}
	}
	return out
}

// publicURL reads an absolute http or https URL without query or fragment,
// and returns it without a trailing slash. It defaults to http://localhost
// with the port of addr.
func (r *reader) publicURL(name, addr string) string {
	v := r.str(name, "")
	if v == "" {
		_, port, err := net.SplitHostPort(addr)
		if err != nil || port == "" {
			port = "8080"
		}
		return "http://localhost:" + port
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		r.fail(name, fmt.Sprintf("must be an http or https URL such as https://astro.example.com, without query or fragment, got %q", v))
		return ""
	}
	return strings.TrimRight(v, "/")
}

func (r *reader) regexp(name, def string) *regexp.Regexp {
	v := r.str(name, def)
	re, err := regexp.Compile(v)
	if err != nil {
		r.fail(name, fmt.Sprintf("is not a valid regular expression: %v", err))
		return regexp.MustCompile(def)
	}
	return re
}
