package runprint_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/runprint"
)

func sample() *planrun.Result {
	return &planrun.Result{
		Status: planrun.StatusFailed,
		Steps: []planrun.StepResult{
			{Name: "login", Status: planrun.StatusPassed, Attempts: 1, HTTPStatus: 200, DurationMS: 12},
			{Name: "create", Status: planrun.StatusFailed, Attempts: 3, HTTPStatus: 500, DurationMS: 1534,
				Error: "1 of 2 checks failed", Assertions: []planrun.AssertionResult{
					{Kind: planrun.KindStatus, Passed: false, Message: "expected status 201, got 500"},
					{Kind: planrun.KindJSONPathExists, Target: "$.id", Passed: false, Message: "no match\n\x1b[31mforged"},
				}},
			{Name: "timeout", Status: planrun.StatusError, Attempts: 1, DurationMS: 0, Error: "timed out after 10000 ms"},
			{Name: "cleanup", Status: planrun.StatusSkipped, Error: `step 2 ("create") failed`},
		},
		Totals: planrun.Totals{Passed: 1, Failed: 1, Errors: 1, Skipped: 1, DurationMS: 125000},
	}
}

func TestResultPlain(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	(&runprint.Printer{W: &buf}).Result("plans/a.json", "checkout", sample())
	want := `checkout (plans/a.json)
  PASS  1. login  HTTP 200  12ms
  FAIL  2. create  HTTP 500  1.534s  (3 attempts)
        status: expected status 201, got 500
        jsonpath_exists $.id: no match ?[31mforged
  ERROR 3. timeout  <1ms
        timed out after 10000 ms
  SKIP  4. cleanup
        step 2 ("create") failed
FAIL  checkout  1 passed, 1 failed, 1 errors, 1 skipped in 2m5s
`
	require.Equal(t, want, buf.String())
}

func TestResultColour(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	(&runprint.Printer{W: &buf, Color: true}).Result("a.json", "checkout", sample())
	out := buf.String()
	require.Contains(t, out, "\x1b[32mPASS \x1b[0m")
	require.Contains(t, out, "\x1b[31mFAIL \x1b[0m")
	require.Contains(t, out, "\x1b[33mSKIP \x1b[0m")
	require.NotContains(t, out, "\x1b[31mforged", "text from the target cannot carry escapes")
}

func TestSummaryAndProblem(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	p := &runprint.Printer{W: &buf}
	p.Summary(runprint.Summary{Passed: 2, Failed: 1, Invalid: 1, Elapsed: 2 * time.Second})
	p.Summary(runprint.Summary{Passed: 2, Elapsed: 20 * time.Millisecond})
	p.Problem("b.json", "invalid plan: validation failed", []string{"body.name: expected length >= 1"})
	require.Equal(t, strings.Join([]string{
		"FAIL  4 plans: 2 passed, 1 failed, 1 not run in 2.000s",
		"PASS  2 plans: 2 passed, 0 failed in 20ms",
		"ERROR b.json: invalid plan: validation failed",
		"        body.name: expected length >= 1",
		"",
	}, "\n"), buf.String())
}

// TestEveryPrintedStringIsCleaned checks that text that may come from a
// server (through exec) or a target cannot carry escape sequences or break
// lines, whichever field it is in.
func TestEveryPrintedStringIsCleaned(t *testing.T) {
	t.Parallel()
	const esc = "\x1b]0;owned\x07\x1b[2J"
	res := &planrun.Result{
		Status: "weird" + esc,
		Steps: []planrun.StepResult{{
			Name: "login" + esc + "\nPASS  forged", Status: planrun.StatusFailed, Attempts: 1,
			Assertions: []planrun.AssertionResult{{Kind: "status" + esc, Target: "$.x" + esc, Message: "bad" + esc}},
		}},
	}
	for _, color := range []bool{false, true} {
		var buf bytes.Buffer
		p := &runprint.Printer{W: &buf, Color: color}
		p.Result("execution 1"+esc, "plan"+esc, res)
		p.Problem("plan"+esc, "execution 1 ended error: "+esc+"boom", []string{"detail" + esc})
		out := buf.String()
		require.NotContains(t, out, "\x07")
		require.NotContains(t, out, "\x1b]")
		require.NotContains(t, out, "\x1b[2J")
		require.NotContains(t, out, "\nPASS  forged")
		require.Contains(t, out, "login?]0;owned??[2J PASS forged")
	}
}

func TestClean(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"two\nlines\r\n", "two lines"},
		{"tab\there", "tab here"},
		{"\x1b[31mred\x1b[0m", "?[31mred?[0m"},
		{"del\x7f c1\u009b", "del? c1?"},
		{"  spaced   out  ", "spaced out"},
		{"ünïcode ✓", "ünïcode ✓"},
	}
	for _, c := range cases {
		require.Equal(t, c.want, runprint.Clean(c.in), "%q", c.in)
	}
}
