package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/yaml"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// This file holds what makes the OpenAPI description generate clean
// clients: one named schema for arbitrary JSON, correct $schema links, and
// the fixes applied to the document once every operation is registered.

// jsonValueSchema is the name of the component schema for arbitrary JSON.
const jsonValueSchema = "JSONValue"

// jsonValue stands for any JSON value in the schema registry. The Go types
// that hold arbitrary JSON (any, json.RawMessage and plan.Body) are aliased
// to it, so that every such field refers to one named, documented schema:
// generators give it a name (interface{} in Go, unknown in TypeScript)
// instead of an anonymous empty type.
type jsonValue struct{}

// Schema registers the JSONValue component and returns a reference to it.
// The component has no type, so it accepts any JSON value, null included.
func (jsonValue) Schema(r huma.Registry) *huma.Schema {
	if _, ok := r.Map()[jsonValueSchema]; !ok {
		r.Map()[jsonValueSchema] = &huma.Schema{
			Description: "Any JSON value: an object, an array, a string, a number, a boolean or null.",
			Examples:    []any{map[string]any{"id": 42}},
		}
	}
	return &huma.Schema{Ref: "#/components/schemas/" + jsonValueSchema}
}

// registerJSONValue aliases the Go types that hold arbitrary JSON to
// jsonValue in r.
func registerJSONValue(r huma.Registry) {
	for _, t := range []reflect.Type{reflect.TypeFor[any](), reflect.TypeFor[json.RawMessage](), reflect.TypeFor[plan.Body]()} {
		r.RegisterTypeAlias(t, reflect.TypeFor[jsonValue]())
	}
}

// schemaLinks replaces Huma's create hook that installs its schema link
// transformer, which builds a wrong $schema URL for a request to localhost
// (https:////schemas/Plan.json: it takes the host from the first server
// URL, which is "/") and assumes https for any host but localhost. Huma's
// transformer still adds the $schema property to the schemas and the
// relative Link: <...>; rel="describedBy" header to responses; the
// transform installed here then rewrites the $schema value with
// schemaBaseURL.
func schemaLinks(c huma.Config) huma.Config {
	link := huma.NewSchemaLinkTransformer("#/components/schemas/", c.SchemasPath)
	c.OnAddOperation = append(c.OnAddOperation, link.OnAddOperation)
	schemasPath := c.SchemasPath + "/"
	c.Transformers = append(c.Transformers, func(ctx huma.Context, status string, v any) (any, error) {
		out, err := link.Transform(ctx, status, v)
		if err != nil || out == v {
			return out, err
		}
		setSchemaLink(ctx, out, schemasPath)
		return out, nil
	})
	return c
}

// setSchemaLink rewrites the $schema field that Huma's transformer put
// first in v, a pointer to the struct it built, as schemaBaseURL followed
// by the schema's path (from schemasPath on).
func setSchemaLink(ctx huma.Context, v any, schemasPath string) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct || rv.Elem().NumField() == 0 {
		return
	}
	rv = rv.Elem()
	if tag, _, _ := strings.Cut(rv.Type().Field(0).Tag.Get("json"), ","); tag != "$schema" || rv.Field(0).Kind() != reflect.String {
		return
	}
	link := rv.Field(0).String()
	i := strings.LastIndex(link, schemasPath)
	if i < 0 {
		return
	}
	rv.Field(0).SetString(schemaBaseURL(ctx) + link[i:])
}

// schemaBaseURL returns the scheme and host that the client used, as far as
// the request tells: the host of X-Forwarded-Host or Forwarded (host=), else
// the Host header; https when the connection is TLS or X-Forwarded-Proto or
// Forwarded (proto=) says https, else http. A forwarded host that is not a
// plain host[:port] is ignored. With no usable host the link stays relative
// ("").
func schemaBaseURL(ctx huma.Context) string {
	host, proto := forwarded(ctx)
	if !validHost(host) {
		host = ctx.Host()
	}
	if !validHost(host) {
		return ""
	}
	scheme := "http"
	if ctx.TLS() != nil || strings.EqualFold(proto, "https") {
		scheme = "https"
	}
	return scheme + "://" + host
}

// forwarded returns the client-facing host and protocol that a proxy
// passed on, from X-Forwarded-Host and X-Forwarded-Proto or else the first
// element of Forwarded. Either may be empty.
func forwarded(ctx huma.Context) (host, proto string) {
	first := func(v string) string {
		v, _, _ = strings.Cut(v, ",")
		return strings.TrimSpace(v)
	}
	host, proto = first(ctx.Header("X-Forwarded-Host")), first(ctx.Header("X-Forwarded-Proto"))
	if fwd := first(ctx.Header("Forwarded")); fwd != "" {
		for _, pair := range strings.Split(fwd, ";") {
			k, v, _ := strings.Cut(strings.TrimSpace(pair), "=")
			v = strings.Trim(v, `"`)
			switch strings.ToLower(k) {
			case "host":
				if host == "" {
					host = v
				}
			case "proto":
				if proto == "" {
					proto = v
				}
			}
		}
	}
	return host, proto
}

// validHost reports whether h is a host or host:port that can go in a URL
// as is: not empty, at most 255 bytes, and only letters, digits and
// . - _ : [ ] (IPv6 literals).
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

// finishSpec adjusts the OpenAPI document once every operation is
// registered, for what Huma's struct tags cannot say. None of it changes
// how requests are validated or answered.
func finishSpec(oapi *huma.OpenAPI) {
	for _, name := range sortedKeys(oapi.Components.Schemas.Map()) {
		s := oapi.Components.Schemas.Map()[name]
		moveDefaultsToDescriptions(s)
		for _, prop := range sortedKeys(s.Properties) {
			nameEnumValues(name+camel(prop), s.Properties[prop])
		}
	}
	for _, op := range operations(oapi) {
		for _, p := range op.Parameters {
			nameEnumValues(camel(op.OperationID)+"Params"+camel(p.Name), p.Schema)
		}
	}
	nullableRef(oapi, "Execution", "result")
	nullableRef(oapi, "AlertEvent", "rule")
	nullableRef(oapi, "AlertFailedStep", "assertion")
	finishStatsSpec(oapi)
	runFieldsOptional(oapi.Components.Schemas.Map()["ExecutionResult"])
	// Huma omits an empty errors list rather than sending null.
	oapi.Components.Schemas.Map()["ErrorModel"].Properties["errors"].Nullable = false
	requireIfMatch(oapi)
}

// sortedKeys returns the keys of m in order, for a deterministic walk.
func sortedKeys(m map[string]*huma.Schema) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// moveDefaultsToDescriptions removes `default` from s and the schemas
// inside it, saying the default in the description instead. The values
// are still applied: Huma fills them in from the struct tags, not from the
// document. A `default` makes openapi-typescript (in its default mode)
// type the property as required, so a request body that leaves it out
// would not compile, while the server accepts it.
func moveDefaultsToDescriptions(s *huma.Schema) {
	if s == nil {
		return
	}
	if s.Default != nil {
		text := fmt.Sprint(s.Default)
		if b, err := json.Marshal(s.Default); err == nil {
			text = string(b)
		}
		if !strings.Contains(s.Description, text) {
			s.Description = strings.TrimSpace(s.Description + " Defaults to " + text + ".")
		}
		s.Default = nil
	}
	for _, k := range sortedKeys(s.Properties) {
		moveDefaultsToDescriptions(s.Properties[k])
	}
	moveDefaultsToDescriptions(s.Items)
	if ap, ok := s.AdditionalProperties.(*huma.Schema); ok {
		moveDefaultsToDescriptions(ap)
	}
	for _, list := range [][]*huma.Schema{s.OneOf, s.AnyOf, s.AllOf} {
		for _, sub := range list {
			moveDefaultsToDescriptions(sub)
		}
	}
}

// nameEnumValues gives a string enum schema s an x-enum-varnames list:
// typeName followed by each value in camel case (PlanRequestMethodGET,
// RunAssertionResultKindStatus). typeName is the name oapi-codegen gives the
// enum's type: the schema's name and the property's, or for a parameter the
// operation's, "Params" and the parameter's. Without the list oapi-codegen
// names the constants of an enum whose values no other enum shares after
// the bare values (GET, Status, Error, Ok), which collide easily in a client
// package; other generators ignore it.
func nameEnumValues(typeName string, s *huma.Schema) {
	if s == nil || s.Type != huma.TypeString || len(s.Enum) == 0 {
		return
	}
	names := make([]string, 0, len(s.Enum))
	for _, v := range s.Enum {
		names = append(names, typeName+camel(fmt.Sprint(v)))
	}
	if s.Extensions == nil {
		s.Extensions = map[string]any{}
	}
	s.Extensions["x-enum-varnames"] = names
}

// camel joins the words of s, split at '_', '-', '.' and spaces, each with
// its first letter upper-cased and the rest kept: "body_contains" gives
// BodyContains, "GET" gives GET.
func camel(s string) string {
	var b strings.Builder
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' || r == '.' || r == ' ' }) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// nullableRef makes the property prop of the component schema name, a
// reference to an object schema, nullable: anyOf the reference and null.
// Huma refuses `nullable` on object references; both generators read this
// form as a nullable reference (*T in Go, T | null in TypeScript).
func nullableRef(oapi *huma.OpenAPI, name, prop string) {
	s := oapi.Components.Schemas.Map()[name]
	p := s.Properties[prop]
	if p == nil || p.Ref == "" {
		panic(fmt.Sprintf("api: %s.%s is not a reference", name, prop))
	}
	s.Properties[prop] = &huma.Schema{
		Description: p.Description,
		Examples:    p.Examples,
		AnyOf:       []*huma.Schema{{Ref: p.Ref}, {Type: "null"}},
	}
}

// runFields are the fields of ExecutionResult that come from the run's
// result (planrun.Result, embedded in planjob.Result by pointer).
var runFields = []string{"status", "steps", "totals", "started_at", "finished_at"}

// runFieldsOptional makes the run's fields of the ExecutionResult schema
// optional: they are absent from the result of an execution whose run could
// not finish (status error, with only plan_revision and error), because
// planjob.Result embeds the run's result by pointer.
func runFieldsOptional(s *huma.Schema) {
	s.Required = slices.DeleteFunc(s.Required, func(name string) bool { return slices.Contains(runFields, name) })
	for _, name := range runFields {
		p := s.Properties[name]
		if p == nil {
			panic("api: ExecutionResult has no property " + name)
		}
		p.Description = strings.TrimSpace(p.Description + " Absent when the run could not finish; error then says why.")
	}
}

// requireIfMatch marks every If-Match header parameter of every operation
// required, in the document only. Every handler that takes If-Match reads
// it with parseIfMatch, which answers a missing one with 428 instead of the
// 422 that Huma gives for a missing required parameter; so the handler
// checks it itself and only the document says it is required.
func requireIfMatch(oapi *huma.OpenAPI) {
	for _, op := range operations(oapi) {
		for _, p := range op.Parameters {
			if p.In == "header" && strings.EqualFold(p.Name, "If-Match") {
				p.Required = true
			}
		}
	}
}

// spec30 serves the OpenAPI 3.0.3 downgrade at /openapi-3.0.json and
// /openapi-3.0.yaml in place of Huma's, which copies the 3.1 form of a
// nullable reference (anyOf with {type: "null"}) into 3.0, where "null" is
// not a type.
type spec30 struct {
	next http.Handler
	oapi *huma.OpenAPI
	once sync.Once
	json []byte
	yaml []byte
	err  error
}

// withSpec30 answers GET /openapi-3.0.json and /openapi-3.0.yaml with
// downgrade30 of oapi and passes every other request to next.
func withSpec30(next http.Handler, oapi *huma.OpenAPI) http.Handler {
	return &spec30{next: next, oapi: oapi}
}

// ServeHTTP serves the 3.0 documents, built on first use.
func (s *spec30) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead ||
		r.URL.Path != "/openapi-3.0.json" && r.URL.Path != "/openapi-3.0.yaml" {
		s.next.ServeHTTP(w, r)
		return
	}
	s.once.Do(func() {
		s.json, s.err = downgrade30(s.oapi)
		if s.err == nil {
			var buf bytes.Buffer
			s.err = yaml.Convert(&buf, bytes.NewReader(s.json))
			s.yaml = buf.Bytes()
		}
	})
	if s.err != nil {
		writeProblem(w, http.StatusInternalServerError, msgInternal)
		return
	}
	if strings.HasSuffix(r.URL.Path, ".yaml") {
		w.Header().Set("Content-Type", "application/openapi+yaml")
		_, _ = w.Write(s.yaml)
		return
	}
	w.Header().Set("Content-Type", "application/openapi+json")
	_, _ = w.Write(s.json)
}

// downgrade30 returns Huma's OpenAPI 3.0.3 downgrade of oapi as JSON, with
// the webhooks as x-webhooks and every nullable reference, anyOf [X, {type: "null"}], written the 3.0 way:
// allOf [X] with type object and nullable: true (nullableRef makes them only
// for references to objects).
func downgrade30(oapi *huma.OpenAPI) ([]byte, error) {
	b, err := oapi.Downgrade()
	if err != nil {
		return nil, fmt.Errorf("downgrade OpenAPI document: %w", err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decode downgraded OpenAPI document: %w", err)
	}
	nullableRefsTo30(doc)
	webhooksTo30(doc)
	b, err = json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("encode downgraded OpenAPI document: %w", err)
	}
	return b, nil
}

// webhooksTo30 renames the top-level webhooks of a decoded document, which
// OpenAPI 3.0 does not have, to x-webhooks, the extension that 3.0 tools
// such as Redoc read.
func webhooksTo30(doc any) {
	if m, ok := doc.(map[string]any); ok {
		if w, ok := m["webhooks"]; ok {
			delete(m, "webhooks")
			m["x-webhooks"] = w
		}
	}
}

// nullableRefsTo30 rewrites, in place, each anyOf [X, {type: "null"}] in a
// decoded document as allOf [X] with type object and nullable: true.
func nullableRefsTo30(v any) {
	switch v := v.(type) {
	case map[string]any:
		if anyOf, ok := v["anyOf"].([]any); ok && len(anyOf) == 2 {
			if null, ok := anyOf[1].(map[string]any); ok && len(null) == 1 && null["type"] == "null" {
				delete(v, "anyOf")
				v["allOf"] = anyOf[:1]
				v["type"] = "object"
				v["nullable"] = true
			}
		}
		for _, child := range v {
			nullableRefsTo30(child)
		}
	case []any:
		for _, child := range v {
			nullableRefsTo30(child)
		}
	}
}

// operations returns the document's operations, by path and then method.
func operations(oapi *huma.OpenAPI) []*huma.Operation {
	var ops []*huma.Operation
	for _, path := range slices.Sorted(maps.Keys(oapi.Paths)) {
		item := oapi.Paths[path]
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op != nil {
				ops = append(ops, op)
			}
		}
	}
	return ops
}
