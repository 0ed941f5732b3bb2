package api

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite ../openapi.yaml from Spec")

// specVersion is the version in the committed openapi.yaml: the version an
// unstamped build reports.
const specVersion = "dev"

// regenerate is the command that rewrites the committed spec.
const regenerate = "run: go run ./cmd/astro-runner openapi > openapi.yaml (or: go test ./api -run TestOpenAPISpecIsCurrent -update)"

func TestOpenAPISpecIsCurrent(t *testing.T) {
	got, err := Spec(specVersion)
	require.NoError(t, err)
	path := filepath.Join("..", "openapi.yaml")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		t.Logf("wrote %s", path)
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("openapi.yaml is missing; %s", regenerate)
	}
	require.NoError(t, err)
	if !bytes.Equal(want, got) {
		wl, gl := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
		for i := 0; i < max(len(wl), len(gl)); i++ {
			var w, g string
			if i < len(wl) {
				w = wl[i]
			}
			if i < len(gl) {
				g = gl[i]
			}
			if w != g {
				t.Errorf("openapi.yaml is stale; first difference at line %d:\n  committed: %q\n  generated: %q", i+1, w, g)
				break
			}
		}
		t.Fatalf("openapi.yaml is stale; %s", regenerate)
	}
}

func TestSpecIsDeterministic(t *testing.T) {
	t.Parallel()
	a, err := Spec(specVersion)
	require.NoError(t, err)
	b, err := Spec(specVersion)
	require.NoError(t, err)
	assert.Equal(t, string(a), string(b))
	assert.Contains(t, string(a), "openapi: 3.1.0")
}

// specAPI builds the API the way Spec does and returns its document.
func specAPI() *huma.OpenAPI {
	api := humago.New(http.NewServeMux(), Config(specVersion))
	Register(api, Deps{})
	return api.OpenAPI()
}

func TestOperationsFollowConventions(t *testing.T) {
	t.Parallel()
	oapi := specAPI()
	kebab := regexp.MustCompile(`^[a-z]+(-[a-z]+)*$`)
	var ids []string
	for path, item := range oapi.Paths {
		for method, op := range map[string]*huma.Operation{
			"GET": item.Get, "POST": item.Post, "PUT": item.Put, "DELETE": item.Delete, "PATCH": item.Patch,
		} {
			if op == nil {
				continue
			}
			where := method + " " + path
			ids = append(ids, op.OperationID)
			assert.Regexp(t, kebab, op.OperationID, where)
			assert.NotEmpty(t, op.Summary, where)
			assert.NotEmpty(t, op.Description, where)
			require.Len(t, op.Tags, 1, where)
			assert.True(t, slices.ContainsFunc(oapi.Tags, func(tag *huma.Tag) bool {
				return tag.Name == op.Tags[0] && tag.Description != ""
			}), "%s: tag %q is declared with a description", where, op.Tags[0])
			public := op.OperationID == "healthz" || op.OperationID == "readyz"
			if public {
				assert.Equal(t, []map[string][]string{{}}, op.Security, where)
			} else {
				assert.Equal(t, []map[string][]string{{"bearerAuth": {}}}, op.Security, where)
				assert.Contains(t, op.Responses, "401", "%s lists 401", where)
			}
			for _, p := range op.Parameters {
				assert.NotEmpty(t, p.Description, "%s parameter %s", where, p.Name)
				assert.NotEmpty(t, p.Schema.Examples, "%s parameter %s has an example", where, p.Name)
			}
			for code, res := range op.Responses {
				for name, h := range res.Headers {
					assert.NotEmpty(t, h.Schema.Description, "%s %s header %s", where, code, name)
					assert.NotEmpty(t, h.Schema.Examples, "%s %s header %s has an example", where, code, name)
				}
			}
		}
	}
	slices.Sort(ids)
	assert.Equal(t, []string{
		"cancel-execution", "create-alert-rule", "create-channel", "create-environment", "create-plan", "create-schedule",
		"delete-alert-rule", "delete-channel", "delete-environment", "delete-plan", "delete-schedule", "delete-secret",
		"execute-plan", "get-alert-rule", "get-channel", "get-environment", "get-execution", "get-execution-report",
		"get-execution-report-junit", "get-job", "get-overview", "get-plan", "get-plan-stats", "get-queue-stats", "get-schedule", "get-stats", "healthz",
		"list-alert-rules", "list-channel-deliveries", "list-channels", "list-environments", "list-executions",
		"list-jobs", "list-plans", "list-schedules", "list-secrets", "pause-schedule", "put-secret", "readyz", "resume-schedule",
		"test-channel", "update-alert-rule", "update-channel", "update-environment", "update-plan", "update-schedule",
	}, ids)

	scheme := oapi.Components.SecuritySchemes["bearerAuth"]
	require.NotNil(t, scheme)
	assert.Equal(t, "http", scheme.Type)
	assert.Equal(t, "bearer", scheme.Scheme)
}

func TestSchemaFieldsHaveDocAndExample(t *testing.T) {
	t.Parallel()
	oapi := specAPI()
	for name, s := range oapi.Components.Schemas.Map() {
		if name == "ErrorModel" || name == "ErrorDetail" {
			continue // Huma's own problem types.
		}
		for prop, ps := range s.Properties {
			if prop == "$schema" {
				continue // Added by Huma's schema link transformer.
			}
			assert.NotEmpty(t, ps.Description, "%s.%s has a doc tag", name, prop)
			assert.NotEmpty(t, ps.Examples, "%s.%s has an example tag", name, prop)
		}
	}
}

func TestConfig(t *testing.T) {
	t.Parallel()
	cfg := Config("1.2.3")
	assert.Equal(t, "3.1.0", cfg.OpenAPI.OpenAPI)
	assert.Equal(t, "astro-runner", cfg.Info.Title)
	assert.Equal(t, "1.2.3", cfg.Info.Version)
	assert.NotEmpty(t, cfg.Info.Description)
	assert.Empty(t, cfg.DocsPath, "the docs page is served by docsui")
	assert.Equal(t, "/openapi", cfg.OpenAPIPath)
	assert.True(t, cfg.RejectUnknownQueryParameters)
}
