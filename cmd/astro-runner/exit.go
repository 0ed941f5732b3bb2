package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/runprint"
)

// The exit statuses of astro-runner. run and exec share them, so that CI
// can read them alike.
const (
	// exitOK: the command succeeded; every plan passed.
	exitOK = 0
	// exitFailed: a plan failed or errored (or an execution was cancelled
	// or did not finish in time), or the command could not do its work (a
	// server that would not start).
	exitFailed = 1
	// exitUsage: bad usage (an unknown command or flag, a missing or
	// unknown argument, variable or plan) or an invalid plan; for exec and
	// plan push also a server that cannot be reached, refuses the token or
	// answers with an error, as no verdict on the plans could be had.
	exitUsage = 2
)

// exitError carries the exit status of a command that ended other than
// with success. With a nil err it has already said why on its own output
// (run prints each plan's outcome), and exitCode prints nothing more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as bad usage: exit status 2.
func usageError(err error) error {
	return &exitError{code: exitUsage, err: err}
}

// usageArgs wraps a cobra argument check so that its errors are usage
// errors.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(fmt.Errorf("%w (see %s --help)", err, cmd.CommandPath()))
		}
		return nil
	}
}

// statusExitCode is the exit status for a run that ended with status, a
// planrun or execution status: 0 for passed, 1 for anything else (failed,
// error, cancelled).
func statusExitCode(status string) int {
	if status == planrun.StatusPassed {
		return exitOK
	}
	return exitFailed
}

// worst returns the more severe of two exit statuses: usage (2) over
// failure (1) over success (0).
func worst(a, b int) int {
	return max(a, b)
}

// exitCode returns the exit status for a command's error, and writes the
// error to stderr unless the command already reported it. The message may
// hold a server's text (a problem's detail, or the start of a body that is
// not one), so each of its lines is cleaned of control characters, and the
// lines after the first (as errors.Join gives them, such as one per bad
// setting) are indented so that none can pass for a message of its own.
func exitCode(err error, stderr io.Writer) int {
	if err == nil {
		return exitOK
	}
	code := exitFailed
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
	for i, line := range lines {
		lines[i] = runprint.Clean(line)
	}
	fmt.Fprintln(stderr, "astro-runner: "+strings.Join(lines, "\n  "))
	return code
}
