package plan_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// lookupMap returns a lookup function over m.
func lookupMap(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"host":     "api.example.com",
		"id":       "42",
		"env.HOME": "/home/ada",
		"loop":     "{{id}}",
		"empty":    "",
	}
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "NoTemplates", in: "https://example.com/a?b=c", want: "https://example.com/a?b=c"},
		{name: "Empty", in: "", want: ""},
		{name: "Simple", in: "https://{{host}}/users/{{id}}", want: "https://api.example.com/users/42"},
		{name: "Spaces", in: "{{ id }}-{{\tid\t}}", want: "42-42"},
		{name: "Env", in: "{{env.HOME}}/x", want: "/home/ada/x"},
		{name: "EnvWithSpaces", in: "{{ env.HOME }}", want: "/home/ada"},
		{name: "NoRecursion", in: "{{loop}}", want: "{{id}}"},
		{name: "EmptyValue", in: "a{{empty}}b", want: "ab"},
		{name: "Adjacent", in: "{{id}}{{id}}", want: "4242"},
		{name: "LoneClosing", in: "a}}b", want: "a}}b"},
		{name: "SingleBraces", in: "{id}", want: "{id}"},
		{name: "ExtraClosingBrace", in: "{{id}}}", want: "42}"},
		{name: "Unicode", in: "ünï{{id}}cödé", want: "ünï42cödé"},
		{name: "Unknown", in: "{{nope}}", wantErr: plan.ErrUnknownVariable},
		{name: "UnknownEnv", in: "{{env.PATH}}", wantErr: plan.ErrUnknownVariable},
		{name: "Unclosed", in: "abc {{id", wantErr: plan.ErrUnclosedTemplate},
		{name: "UnclosedAfterValid", in: "{{id}} {{", wantErr: plan.ErrUnclosedTemplate},
		{name: "EmptyReference", in: "{{}}", wantErr: plan.ErrInvalidReference},
		{name: "BlankReference", in: "{{  }}", wantErr: plan.ErrInvalidReference},
		{name: "DigitStart", in: "{{1abc}}", wantErr: plan.ErrInvalidReference},
		{name: "Dash", in: "{{a-b}}", wantErr: plan.ErrInvalidReference},
		{name: "NestedOpen", in: "{{{id}}}", wantErr: plan.ErrInvalidReference},
		{name: "EnvWithoutName", in: "{{env.}}", wantErr: plan.ErrInvalidReference},
		{name: "OtherPrefix", in: "{{vars.id}}", wantErr: plan.ErrInvalidReference},
		{name: "Newline", in: "{{\nid}}", wantErr: plan.ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := plan.Expand(tt.in, lookupMap(vars), noLimit)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestExpandUnknownNamesTheVariable(t *testing.T) {
	t.Parallel()
	_, err := plan.Expand("x {{ missing_one }} y", lookupMap(nil), noLimit)
	require.ErrorContains(t, err, `"missing_one"`)
}

func TestReferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error
	}{
		{name: "None", in: "plain text", want: nil},
		{name: "OrderAndDedup", in: "{{b}}{{a}}{{ b }}{{env.X}}", want: []string{"b", "a", "env.X"}},
		{name: "Unclosed", in: "{{a}}{{b", wantErr: plan.ErrUnclosedTemplate},
		{name: "Invalid", in: "{{a b}}", wantErr: plan.ErrInvalidReference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := plan.References(tt.in)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBodyExpand(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"name":  "Ada",
		"quote": `a"b\c`,
		"html":  "<b>&",
		"key":   "k",
	}
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{name: "Empty", in: "", want: ""},
		{name: "NoTemplates", in: `{ "a" : [1, 2.50, "x"] }`, want: `{ "a" : [1, 2.50, "x"] }`},
		{name: "StringBody", in: `"hello {{name}}"`, want: `"hello Ada"`},
		{name: "ObjectValue", in: `{"b":1,"a":"{{name}}"}`, want: `{"b":1,"a":"Ada"}`},
		{name: "ObjectKey", in: `{"{{key}}":true}`, want: `{"k":true}`},
		{name: "EscapedValueCannotBreakOut", in: `{"a":"{{quote}}"}`, want: `{"a":"a\"b\\c"}`},
		{name: "NoHTMLEscaping", in: `["{{html}}"]`, want: `["<b>&"]`},
		{name: "EscapedBracesInSource", in: `"\u007b\u007bname}}"`, want: `"Ada"`},
		{name: "EscapedQuoteBeforeTemplate", in: `"\"{{name}}\""`, want: `"\"Ada\""`},
		{name: "Unknown", in: `{"a":"{{nope}}"}`, wantErr: plan.ErrUnknownVariable},
		{name: "Unclosed", in: `{"a":"{{name"}`, wantErr: plan.ErrUnclosedTemplate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := plan.Body(tt.in).Expand(lookupMap(vars), noLimit)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
			if tt.in != "" {
				require.True(t, json.Valid(got), "expanded body must stay valid JSON")
			}
		})
	}
}

func TestBodyReferences(t *testing.T) {
	t.Parallel()
	refs, err := plan.Body(`{"{{k}}":["{{a}}", "x{{ b }}", 1, "{{a}}"], "n": "{{env.T}}"}`).References()
	require.NoError(t, err)
	require.Equal(t, []string{"k", "a", "b", "env.T"}, refs)

	_, err = plan.Body(`{"a":`).References()
	require.Error(t, err)
}

func TestBodyText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantText string
		wantOK   bool
		empty    bool
	}{
		{name: "String", in: `"a\nb"`, wantText: "a\nb", wantOK: true},
		{name: "Object", in: `{"a":1}`},
		{name: "Number", in: `12`},
		{name: "Null", in: `null`, empty: true},
		{name: "Missing", in: ``, empty: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			text, ok := plan.Body(tt.in).Text()
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.wantText, text)
			require.Equal(t, tt.empty, plan.Body(tt.in).IsEmpty())
		})
	}
}
