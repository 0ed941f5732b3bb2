package sdkcheck

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// readmeExample is the README's Go SDK example, between the markers, run by
// TestReadmeGoExample against a real server. TestReadmeShowsTheExamples
// checks that the README shows these lines as they are.
func readmeExample(ctx context.Context, server string, body astro.PlanBody) (string, error) {
	// README:begin
	c, err := astro.New(server, astro.WithToken(os.Getenv("ASTRO_API_TOKEN")))
	if err != nil {
		return "", err
	}
	plan, err := c.CreatePlan(ctx, body) // a *astro.Problem on a 4xx, with errors[].location
	if err != nil {
		return "", err
	}
	exec, err := c.RunPlan(ctx, plan.Id, astro.RunOptions{IdempotencyKey: "deploy-42"})
	if err != nil {
		return "", err
	}
	return string(exec.Status), nil // passed, failed, error or cancelled
	// README:end
}

func TestReadmeGoExample(t *testing.T) {
	t.Parallel()
	s := startServer(t, memoryStore(t), "")
	status, err := readmeExample(context.Background(), s.url, planBody(t, "readme", s.target, "/health"))
	require.NoError(t, err)
	require.Equal(t, "passed", status)
}

// TestReadmeShowsTheExamples checks that the README shows, line for line, the
// Go example above, the TypeScript one that sdk/ts's tests run
// (sdk/ts/test/readme-example.ts), and the webhook signature check that
// internal/alert's tests run against real signatures.
func TestReadmeShowsTheExamples(t *testing.T) {
	t.Parallel()
	readme := readFile(t, "../../README.md")
	for _, tc := range []struct{ file, lang, marker string }{
		{"readme_test.go", "go", ""},
		{"../../sdk/ts/test/readme-example.ts", "ts", ""},
		// The receiver's check of an alert's signature.
		{"../alert/sign_test.go", "go", " verify"},
	} {
		example := between(t, readFile(t, tc.file), "README:begin"+tc.marker, "README:end"+tc.marker)
		block := fmt.Sprintf("```%s\n%s```\n", tc.lang, example)
		require.True(t, strings.Contains(readme, block), "README.md must show the lines between the markers of %s:\n%s", tc.file, block)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	require.NoError(t, err)
	return string(b)
}

// between returns the lines strictly between the comment lines
// "// begin" and "// end", without trailing blank lines, with their common
// indentation removed.
func between(t *testing.T, text, begin, end string) string {
	t.Helper()
	var out []string
	in := false
	for _, l := range strings.Split(text, "\n") {
		switch strings.TrimSpace(l) {
		case "// " + begin:
			in = true
		case "// " + end:
			in = false
		default:
			if in {
				out = append(out, l)
			}
		}
	}
	for len(out) > 0 && strings.TrimSpace(out[len(out)-1]) == "" {
		out = out[:len(out)-1] // gofmt keeps a blank line before a comment after a function.
	}
	require.NotEmpty(t, out, "no lines between %s and %s", begin, end)
	indent := ""
	for i, l := range out {
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if i == 0 || len(lead) < len(indent) {
			indent = lead
		}
	}
	for i, l := range out {
		out[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(out, "\n") + "\n"
}
