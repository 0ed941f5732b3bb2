package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// TestExitCodeCleansTheMessage checks that a server's text in an error
// (here a problem's detail, as a proxy's HTML page gives it) reaches stderr
// without escape sequences or lines of its own.
func TestExitCodeCleansTheMessage(t *testing.T) {
	t.Parallel()
	problem := &astro.Problem{Status: 502, Title: "Bad Gateway",
		Detail: "<html>\x1b]0;owned\x07\x1b[2J\r\nastro-runner: all plans passed</html>"}
	var out strings.Builder
	code := exitCode(usageError(fmt.Errorf("execute plan %q: %w", "smoke", problem)), &out)
	require.Equal(t, exitUsage, code)
	// Its line break stays, but the next line is indented: it cannot pass
	// for a message of its own.
	require.Equal(t, `astro-runner: execute plan "smoke": astro: 502 Bad Gateway: <html>?]0;owned??[2J`+"\n"+
		"  astro-runner: all plans passed</html>\n", out.String())

	// Several errors keep a line each, indented after the first.
	out.Reset()
	code = exitCode(errors.Join(errors.New("ASTRO_WORKERS: bad"), errors.New("ASTRO_LOG_FORMAT: \x1b[31mxml")), &out)
	require.Equal(t, exitFailed, code)
	require.Equal(t, "astro-runner: ASTRO_WORKERS: bad\n  ASTRO_LOG_FORMAT: ?[31mxml\n", out.String())
}
