package planrun_test

import (
	"reflect"
	"testing"

	"github.com/danielgtaylor/huma/v2"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planrun"
)

func TestResultSchemaDocumentsEveryField(t *testing.T) {
	t.Parallel()
	registry := huma.NewMapRegistry("#/components/schemas/", huma.DefaultSchemaNamer)
	registry.Schema(reflect.TypeFor[planrun.Result](), true, "")
	schemas := registry.Map()
	for _, name := range []string{"Result", "Totals", "StepResult", "AssertionResult"} {
		s, ok := schemas[name]
		require.True(t, ok, "schema %s is missing", name)
		require.NotEmpty(t, s.Properties, name)
		for prop, ps := range s.Properties {
			require.NotEmpty(t, ps.Description, "%s.%s has no doc", name, prop)
			require.NotEmpty(t, ps.Examples, "%s.%s has no example", name, prop)
		}
	}
	require.Equal(t, []any{"passed", "failed"}, schemas["Result"].Properties["status"].Enum)
}
