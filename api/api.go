// Package api is astro-runner's HTTP API: Huma operations over a
// storage.Store, one file per resource (plans, executions, the job queue and
// health), plus the HTTP middleware that every request passes through.
//
// Register adds the operations to any huma.API and is shared by main and the
// tests. NewHandler builds the complete handler that main serves: the
// operations, the OpenAPI routes, the embedded docs page, and the
// middleware. Spec returns the OpenAPI description without a store, for the
// `astro-runner openapi` subcommand and the golden test.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"go.opentelemetry.io/otel/trace"

	"github.com/astro-runner/astro-runner/internal/alert"
	"github.com/astro-runner/astro-runner/internal/netguard"
	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/groupcommit"
)

// Deps are what the API needs from the rest of the program.
type Deps struct {
	// Store persists plans, executions and jobs. Register does not use it,
	// so Spec can build the API without one; every request does.
	Store storage.Store
	// Logger receives the request log and internal errors. Defaults to
	// slog.Default().
	Logger *slog.Logger
	// APIToken, when set, is the bearer token that every route except the
	// health checks, the docs page and the OpenAPI and schema documents
	// requires. Empty turns authentication off.
	APIToken string
	// PlanEnvAllow lists the environment variables that plan documents may
	// read with {{env.NAME}}. Defaults to none.
	PlanEnvAllow []string
	// Secrets encrypts the values of stored secrets. Nil means the server
	// has no secret key: the secret routes answer 409 and plans that use
	// secrets are refused.
	Secrets *secret.Box
	// Version is the program's version, shown in the OpenAPI description.
	Version string
	// WakeFunc, when set, is called after an execution and its job commit,
	// to wake local workers instead of waiting for their next poll. It must
	// not block.
	WakeFunc func()
	// CancelFunc, when set, is called after jobs were asked to cancel (a
	// cancelled running execution, a plan deleted with its executions), to
	// make local workers notice now instead of at their next heartbeat. It
	// must not block.
	CancelFunc func()
	// ScheduleMinInterval is the shortest gap allowed between two ticks of
	// a schedule (ASTRO_SCHEDULE_MIN_INTERVAL). Defaults to
	// schedule.DefaultMinInterval.
	ScheduleMinInterval time.Duration
	// TargetPolicy is the network policy that channel URLs must pass when
	// they are saved, the one plan targets obey (ASTRO_TARGET_ALLOW,
	// ASTRO_TARGET_DENY). Nil is netguard's default policy, as
	// netguard.ParsePolicy("", "") gives.
	TargetPolicy *netguard.Policy
	// ChannelTester sends the sample message of POST /channel/{id}/test;
	// the real one is *alert.Deliverer. Nil answers that route with 503.
	ChannelTester ChannelTester
	// Metrics, when set, is served at GET /metrics (the Prometheus text
	// format), behind APIToken like every route but the health checks and
	// the documents. It is not an operation of the OpenAPI document. Nil
	// leaves /metrics unrouted.
	Metrics http.Handler
	// ObserveRequestFunc, when set, is called once per request after it
	// was answered, with its method, the ServeMux pattern that matched it
	// ("GET /plan/{id}", or empty when none did), the status sent and the
	// time taken; (*metrics.HTTPMetrics).Observe fits. It must not block.
	ObserveRequestFunc func(method, pattern string, status int, elapsed time.Duration)
	// TracerProvider, when set, gives every request but the health checks
	// a server span, and the job of each execution it creates the trace
	// context of that span, so that the job's span links to it. Nil (the
	// default, and tracing.Tracing's when tracing is off) traces nothing.
	TracerProvider trace.TracerProvider
	// ExecuteGroup runs the transactions of execute-plan, so that
	// concurrent requests share one (group commit). It must be over Store.
	// Nil makes one over Store, of up to maxExecuteBatch requests a
	// transaction.
	ExecuteGroup *groupcommit.Group
}

// maxExecuteBatch is the most execute-plan requests that share one
// transaction. Under load a batch holds the requests that arrived while
// the one before committed: 64 lets every waiting request of 64 concurrent
// clients join the next batch, and bounds the work redone when a request
// that fails after it began writing rolls a batch back (a refused one, 404
// or 422, leaves it without).
const maxExecuteBatch = 64

// withDefaults returns a copy of d with defaults filled in.
func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.ExecuteGroup == nil && d.Store != nil {
		d.ExecuteGroup = groupcommit.New(d.Store, maxExecuteBatch)
	}
	return d
}

// securityScheme is the name of the bearer token scheme in the OpenAPI
// components.
const securityScheme = "bearerAuth"

// The operation tags.
const (
	tagPlans        = "Plans"
	tagExecutions   = "Executions"
	tagEnvironments = "Environments"
	tagSecrets      = "Secrets"
	tagSchedules    = "Schedules"
	tagAlerts       = "Alerts"
	tagStats        = "Statistics"
	tagQueue        = "Queue"
	tagHealth       = "Health"
)

// apiDescription is the description at the top of the OpenAPI document.
const apiDescription = `astro-runner stores API test plans and runs them through a durable job queue.

Create a plan with ` + "`POST /plan`" + `, start a run with ` + "`POST /plan/{id}/execute`" + ` and poll
` + "`GET /execution/{id}`" + ` until its status is final (passed, failed, error or cancelled).

Every error is an RFC 9457 problem document (` + "`application/problem+json`" + `). When the server
is started with an API token, every operation except the health checks requires
` + "`Authorization: Bearer <token>`" + `. Every response carries an ` + "`X-Request-ID`" + ` header; send
your own to correlate logs.`

// Config returns the Huma configuration of the API: OpenAPI 3.1 with the
// bearer security scheme, the spec routes (/openapi.json, /openapi.yaml and
// their 3.0 downgrades) and the JSON schemas under /schemas, but no docs
// page, because NewHandler serves an embedded one. Unknown query parameters
// are rejected, and so are request bodies that are not valid UTF-8. Error
// responses echo bounded values only (see boundProblem).
func Config(version string) huma.Config {
	cfg := huma.DefaultConfig("astro-runner", version)
	// A new map: DefaultConfig shares huma.DefaultFormats.
	cfg.Formats = map[string]huma.Format{"application/json": jsonFormat, "json": jsonFormat}
	cfg.Components.Schemas = huma.NewMapRegistry("#/components/schemas/", schemaNamer)
	registerJSONValue(cfg.Components.Schemas)
	// DefaultConfig's only create hook installs Huma's schema link
	// transformer; schemaLinks installs it with correct links.
	cfg.CreateHooks = []func(huma.Config) huma.Config{schemaLinks}
	cfg.Info.Description = apiDescription
	cfg.Servers = []*huma.Server{{URL: "/", Description: "The server that serves this document."}}
	cfg.Tags = []*huma.Tag{
		{Name: tagPlans, Description: "Test plans: named, versioned documents of HTTP steps and the checks made on their responses."},
		{Name: tagExecutions, Description: "Runs of a plan. An execution is queued, runs on a worker, and ends passed, failed, error or cancelled."},
		{Name: tagEnvironments, Description: "Named sets of variables, global to the server, that an execution may run with."},
		{Name: tagSchedules, Description: "Runs of a plan on a cron expression, in a time zone. Every node fires due schedules; each tick creates exactly one execution."},
		{Name: tagAlerts, Description: "Alerts when plans start failing and when they recover: channels (signed webhooks, Slack incoming webhooks) with their delivery logs, and the rules that say which executions alert which channels, and when. The webhook \"alert\" of this document describes what a webhook channel receives."},
		{Name: tagStats, Description: "Run-history trends: how often plans passed over a window of time, how long their runs and steps took, and which plans fail most."},
		{Name: tagQueue, Description: "The durable job queue that runs executions."},
		{Name: tagSecrets, Description: "Secret values that plans use as {{secret.NAME}}: stored encrypted, never returned, redacted from results."},
		{Name: tagHealth, Description: "Liveness and readiness checks. They never require a token."},
	}
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {
			Type:        "http",
			Scheme:      "bearer",
			Description: "The API token the server was started with, sent as `Authorization: Bearer <token>`.",
		},
	}
	cfg.DocsPath = ""
	cfg.RejectUnknownQueryParameters = true
	cfg.Transformers = append(cfg.Transformers, boundProblem, hideSecretBody)
	return cfg
}

// init makes Huma match body field names case-sensitively. Huma's default
// accepts "Name" for "name" but, when both are sent, validates only "name",
// while encoding/json stores whichever comes last: {"name":"ok","Name":""}
// would store an empty name past the schema. With strict casing "Name" is an
// unknown field (422), so the schema sees every value that is stored. It is
// set once, here, because Huma reads it on every request.
func init() {
	huma.ValidateStrictCasing = true
}

// errInvalidUTF8 rejects a request body that is not valid UTF-8.
var errInvalidUTF8 = errors.New("request body must be valid UTF-8")

// maxBodyDepth is the deepest nesting of arrays and objects allowed in a
// request body, counted from the body itself: {"a":[1]} is 2 deep. In a
// plan body a step's request body starts at depth 6, so it may itself nest
// 59 deep. (encoding/json's own limit is 10,000.)
const maxBodyDepth = 64

// errTooDeep rejects a request body nested deeper than maxBodyDepth.
var errTooDeep = fmt.Errorf("request body nests arrays and objects more than %d deep", maxBodyDepth)

// jsonFormat is huma.DefaultJSONFormat, except that it rejects a request
// body that is not valid UTF-8 (400) instead of silently replacing the bad
// bytes with U+FFFD, as encoding/json does: the replacement would hide them
// from plan.Validate's UTF-8 checks and store text the client never sent.
// It also rejects a body nested deeper than maxBodyDepth (400), before
// decoding it.
var jsonFormat = huma.Format{
	Marshal: huma.DefaultJSONFormat.Marshal,
	Unmarshal: func(data []byte, v any) error {
		if !utf8.Valid(data) {
			return errInvalidUTF8
		}
		if jsonDepthOver(data, maxBodyDepth) {
			return errTooDeep
		}
		if err := json.Unmarshal(data, v); err != nil {
			return err
		}
		if p, ok := v.(*any); ok {
			// Huma decodes a request body into an any to validate it: let
			// a plan's assert.status shorthand pass as the array the
			// schema describes.
			normalizeShorthands(*p)
		}
		return nil
	},
}

// normalizeShorthands rewrites, in a request body decoded into an any, the
// compatibility shorthands that the schema does not describe into the form
// it does: a plan's document.steps[].assert.status written as a bare
// integer becomes an array of it. Bodies of other shapes are left alone.
func normalizeShorthands(body any) {
	if m, ok := body.(map[string]any); ok {
		plan.NormalizeStatusShorthand(m["document"])
	}
}

// jsonDepthOver reports whether the JSON text data nests arrays and objects
// more than limit deep. It only counts brackets outside strings, so it
// needs no valid JSON: the decoder reports any other fault.
func jsonDepthOver(data []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range data {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > limit {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// Import paths of the packages whose types appear in the spec.
var (
	planPkgPath    = reflect.TypeFor[plan.Document]().PkgPath()
	planrunPkgPath = reflect.TypeFor[planrun.Result]().PkgPath()
	planjobPkgPath = reflect.TypeFor[planjob.Result]().PkgPath()
	alertPkgPath   = reflect.TypeFor[alert.Event]().PkgPath()
)

// schemaNamer names component schemas like huma.DefaultSchemaNamer, but
// prefixes the types of package plan with "Plan" (PlanDocument, PlanStep,
// PlanRequest...) and those of the run results with "Run" (RunStepResult,
// RunTotals...), so that their generic names cannot collide with the API's
// own types and read clearly in the reference, and those of the webhook
// document with "Alert" (AlertEvent, AlertFailedStep...).
func schemaNamer(t reflect.Type, hint string) string {
	name := huma.DefaultSchemaNamer(t, hint)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	prefix := ""
	switch t.PkgPath() {
	case planPkgPath:
		prefix = "Plan"
	case planrunPkgPath:
		prefix = "Run"
	case alertPkgPath:
		prefix = "Alert"
	case planjobPkgPath:
		if name == "Result" {
			return "ExecutionResult"
		}
	}
	if prefix != "" && !strings.HasPrefix(name, prefix) {
		return prefix + name
	}
	return name
}

// Register adds every operation of the API to api. It does not touch
// deps.Store, so it can run without one.
func Register(api huma.API, deps Deps) {
	s := &server{deps: deps.withDefaults()}
	s.registerPlans(api)
	s.registerExecutions(api)
	s.registerEnvironments(api)
	s.registerJobs(api)
	s.registerSecrets(api)
	s.registerSchedules(api)
	s.registerChannels(api)
	s.registerAlertRules(api)
	s.registerStats(api)
	s.registerOverview(api)
	registerAlertWebhook(api.OpenAPI())
	s.registerHealth(api)
	finishSpec(api.OpenAPI())
}

// Spec returns the OpenAPI 3.1 description of the API as YAML, built without
// a store.
func Spec(version string) ([]byte, error) {
	api := humago.New(http.NewServeMux(), Config(version))
	Register(api, Deps{Version: version})
	b, err := api.OpenAPI().YAML()
	if err != nil {
		return nil, fmt.Errorf("render OpenAPI document: %w", err)
	}
	return b, nil
}

// server holds the dependencies of the operations' handlers.
type server struct {
	deps Deps
}

// secured is the security requirement of an operation that needs the token.
var secured = []map[string][]string{{securityScheme: {}}}

// public is the security requirement of an operation open to anyone: one
// empty requirement, which OpenAPI reads as "no authentication".
var public = []map[string][]string{{}}
