package plan

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithVariablesLayersDeclaredNamesLowestFirst(t *testing.T) {
	t.Parallel()
	d := &Document{Variables: map[string]string{"a": "plan", "b": "plan", "c": "plan"}}
	got := d.WithVariables(
		map[string]string{"b": "env", "c": "env", "undeclared": "env"},
		map[string]string{"c": "exec", "other": "exec"},
	)
	assert.Equal(t, map[string]string{"a": "plan", "b": "env", "c": "exec"}, got.Variables)
	assert.Equal(t, map[string]string{"a": "plan", "b": "plan", "c": "plan"}, d.Variables, "d is not changed")
	assert.Nil(t, (&Document{}).WithVariables(map[string]string{"x": "y"}).Variables, "nothing declared, nothing taken")
}

func TestValidateVariables(t *testing.T) {
	t.Parallel()
	many := map[string]string{}
	for i := range MaxVariables + 1 {
		many["v"+strings.Repeat("x", i)] = ""
	}
	tests := []struct {
		name string
		vars map[string]string
		want string // substring of the error; "" for none
	}{
		{"Valid", map[string]string{"base_url": "https://x", "_t": ""}, ""},
		{"None", nil, ""},
		{"BadName", map[string]string{"1abc": "v"}, "env.1abc: name must match"},
		{"DashInName", map[string]string{"a-b": "v"}, "env.a-b: name must match"},
		{"LongName", map[string]string{strings.Repeat("a", MaxNameLength+1): "v"}, "name must be at most 100 characters"},
		{"NUL", map[string]string{"a": "x\x00y"}, "env.a: must not contain NUL"},
		{"BadUTF8", map[string]string{"a": "\xff"}, "env.a: must be valid UTF-8"},
		{"TooMany", many, "must have at most 100 variables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateVariables("env", tt.vars)
			if tt.want == "" {
				require.NoError(t, err)
				return
			}
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}
