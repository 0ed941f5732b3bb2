package plan_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
)

func TestExpandLimit(t *testing.T) {
	t.Parallel()
	vars := lookupMap(map[string]string{"a": "12345", "q": `"`})
	tests := []struct {
		name  string
		in    string
		limit int
		ok    bool
	}{
		{name: "NoTemplateAtLimit", in: "abc", limit: 3, ok: true},
		{name: "NoTemplateOverLimit", in: "abcd", limit: 3},
		{name: "TemplateAtLimit", in: "x{{a}}y", limit: 7, ok: true},
		{name: "TemplateOneOver", in: "x{{a}}y", limit: 6},
		{name: "ValueOverLimit", in: "{{a}}", limit: 4},
		{name: "ManyUsesAtLimit", in: "{{a}}{{a}}{{a}}", limit: 15, ok: true},
		{name: "ManyUsesOneOver", in: "{{a}}{{a}}{{a}}", limit: 14},
		{name: "ZeroLimitEmpty", in: "", limit: 0, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := plan.Expand(tt.in, vars, tt.limit)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, plan.ErrTooLarge)
		})
	}
}

func TestBodyExpandLimit(t *testing.T) {
	t.Parallel()
	vars := lookupMap(map[string]string{"a": "12345", "q": `"`})
	tests := []struct {
		name  string
		in    string
		limit int
		ok    bool
	}{
		// A text body counts its decoded text: "x12345" is 6 bytes.
		{name: "TextAtLimit", in: `"x{{a}}"`, limit: 6, ok: true},
		{name: "TextOneOver", in: `"x{{a}}"`, limit: 5},
		{name: "TextNoTemplateOver", in: `"abcdef"`, limit: 5},
		// A JSON body counts its JSON text: {"k":"12345"} is 13 bytes.
		{name: "JSONAtLimit", in: `{"k":"{{a}}"}`, limit: 13, ok: true},
		{name: "JSONOneOver", in: `{"k":"{{a}}"}`, limit: 12},
		// The escaped quote takes two bytes: {"k":"\""} is 10 bytes.
		{name: "JSONEscapesCount", in: `{"k":"{{q}}"}`, limit: 10, ok: true},
		{name: "JSONEscapesOneOver", in: `{"k":"{{q}}"}`, limit: 9},
		{name: "JSONTailCounts", in: `{"k":"{{a}}","n":[1,2,3]}`, limit: 24},
		{name: "JSONNoTemplateOver", in: `[1,2,3]`, limit: 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := plan.Body(tt.in).Expand(vars, tt.limit)
			if tt.ok {
				require.NoError(t, err)
				size, err := plan.Body(tt.in).SentSize(vars)
				require.NoError(t, err)
				require.Equal(t, tt.limit, size)
				if text, ok := got.Text(); ok {
					require.Len(t, text, tt.limit)
				} else {
					require.Len(t, got, tt.limit)
				}
				return
			}
			require.ErrorIs(t, err, plan.ErrTooLarge)
		})
	}
}

func TestExpandErrorNamesTheLimit(t *testing.T) {
	t.Parallel()
	_, err := plan.Expand("{{a}}", lookupMap(map[string]string{"a": strings.Repeat("x", 9000)}), plan.MaxExpandedURLBytes)
	require.ErrorIs(t, err, plan.ErrTooLarge)
	require.ErrorContains(t, err, "larger than 8 KiB")
	require.Equal(t, "1 MiB", plan.FormatSize(plan.MaxExpandedBodyBytes))
	require.Equal(t, "100 bytes", plan.FormatSize(100))
}

// TestExpandHugeStopsEarly is the reported attack: a 450,000-character
// variable used 20,000 times (9 GB expanded). Expansion must stop at the
// limit without building the big string. It does not run in parallel so that
// the allocation count is its own.
func TestExpandHugeStopsEarly(t *testing.T) {
	huge := strings.Repeat("A", 450_000)
	vars := lookupMap(map[string]string{"v": huge})
	uses := strings.Repeat("{{v}}", 20_000)
	cases := map[string]func() error{
		"Text": func() error {
			_, err := plan.Expand(uses, vars, plan.MaxExpandedBodyBytes)
			return err
		},
		"TextBody": func() error {
			_, err := plan.Body(`"`+uses+`"`).Expand(vars, plan.MaxExpandedBodyBytes)
			return err
		},
		"JSONBody": func() error {
			_, err := plan.Body(`{"a":"`+uses+`"}`).Expand(vars, plan.MaxExpandedBodyBytes)
			return err
		},
	}
	for name, expand := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			err := expand()
			runtime.ReadMemStats(&after)
			require.ErrorIs(t, err, plan.ErrTooLarge)
			// The body text itself is 100 KB and the limit 1 MiB; a few MiB
			// covers the builder's growth. The unbounded expansion was 9 GB.
			require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20))
		})
	}
}

func TestValidateHugeVariableDoesNotExpand(t *testing.T) {
	d := &plan.Document{
		Variables: map[string]string{"v": strings.Repeat("A", 450_000)},
		Steps: []plan.Step{{
			Name: "a",
			Request: plan.Request{
				Method:  "POST",
				URL:     "http://127.0.0.1/" + strings.Repeat("{{v}}", 300),
				Headers: map[string]string{"X-A": strings.Repeat("{{v}}", 20_000)},
				Body:    plan.Body(`"` + strings.Repeat("{{v}}", 20_000) + `"`),
			},
		}},
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := d.Validate(plan.ValidateOptions{})
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20))
	for _, loc := range []string{"document.steps[0].request.url", "document.steps[0].request.headers.X-A", "document.steps[0].request.body"} {
		require.Contains(t, err.Error(), loc+": ")
	}
}
