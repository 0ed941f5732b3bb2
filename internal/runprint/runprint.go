// Package runprint writes plan run results for people at a terminal: one
// line per step with its outcome, HTTP status and duration, the failed
// checks under a failed step, and a summary line per plan and for several
// plans. With Color it marks outcomes with ANSI colours; without, the text
// is the same, plain.
//
// astro-runner run prints local runs with it, and astro-runner exec prints
// the results of executions on a server the same way.
package runprint

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/astro-runner/astro-runner/internal/planrun"
)

// ANSI colour codes.
const (
	red    = "\x1b[31m"
	green  = "\x1b[32m"
	yellow = "\x1b[33m"
	dim    = "\x1b[2m"
	bold   = "\x1b[1m"
	reset  = "\x1b[0m"
)

// Printer writes results to W. The zero value is not usable: W is
// required.
type Printer struct {
	// W receives the text.
	W io.Writer
	// Color turns on ANSI colours. See IsTerminal.
	Color bool
}

// IsTerminal reports whether f is a character device, such as a terminal,
// rather than a file or a pipe.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// paint wraps s in the colour code when colours are on.
func (p *Printer) paint(code, s string) string {
	if !p.Color {
		return s
	}
	return code + s + reset
}

// label is the fixed-width outcome word of a step or plan.
func (p *Printer) label(status string) string {
	switch status {
	case planrun.StatusPassed:
		return p.paint(green, "PASS ")
	case planrun.StatusFailed:
		return p.paint(red, "FAIL ")
	case planrun.StatusError:
		return p.paint(red, "ERROR")
	case planrun.StatusSkipped:
		return p.paint(yellow, "SKIP ")
	default:
		return p.paint(red, fmt.Sprintf("%-5s", strings.ToUpper(Clean(status))))
	}
}

// Result writes one plan's result under a heading: title (such as the
// file name) and the plan's name. Every string, the result's included, is
// cleaned (see Clean).
func (p *Printer) Result(title, name string, res *planrun.Result) {
	name = Clean(name)
	p.heading(Clean(title), name)
	for i := range res.Steps {
		p.step(i, &res.Steps[i])
	}
	t := res.Totals
	fmt.Fprintf(p.W, "%s %s  %s\n", p.label(res.Status), p.paint(bold, name), p.counts(t))
}

// heading writes the line that opens a plan's output. Both strings are
// clean.
func (p *Printer) heading(title, name string) {
	if title == "" || title == name {
		fmt.Fprintf(p.W, "%s\n", p.paint(bold, name))
		return
	}
	fmt.Fprintf(p.W, "%s %s\n", p.paint(bold, name), p.paint(dim, "("+title+")"))
}

// counts formats a run's totals: "2 passed, 1 failed, 0 errors, 1 skipped
// in 1.234s".
func (p *Printer) counts(t planrun.Totals) string {
	return fmt.Sprintf("%d passed, %d failed, %d errors, %d skipped in %s",
		t.Passed, t.Failed, t.Errors, t.Skipped, Duration(t.DurationMS))
}

// step writes one step's line and, when it did not pass, why.
func (p *Printer) step(i int, sr *planrun.StepResult) {
	line := fmt.Sprintf("  %s %d. %s", p.label(sr.Status), i+1, Clean(sr.Name))
	if sr.HTTPStatus != 0 {
		line += fmt.Sprintf("  HTTP %d", sr.HTTPStatus)
	}
	if sr.Status != planrun.StatusSkipped {
		line += "  " + p.paint(dim, Duration(sr.DurationMS))
	}
	if sr.Attempts > 1 {
		line += p.paint(dim, fmt.Sprintf("  (%d attempts)", sr.Attempts))
	}
	fmt.Fprintln(p.W, line)
	if sr.Status == planrun.StatusPassed {
		return
	}
	failedChecks := 0
	for _, a := range sr.Assertions {
		if a.Passed {
			continue
		}
		failedChecks++
		what := Clean(a.Kind)
		if a.Target != "" {
			what += " " + Clean(a.Target)
		}
		fmt.Fprintf(p.W, "        %s: %s\n", what, Clean(a.Message))
	}
	if sr.Error != "" && (failedChecks == 0 || sr.Status != planrun.StatusFailed) {
		fmt.Fprintf(p.W, "        %s\n", Clean(sr.Error))
	}
}

// Problem writes why a plan could not run (an unreadable or invalid file,
// an execution that ended in error): a heading and one indented line per
// detail, every string cleaned (see Clean).
func (p *Printer) Problem(title, msg string, details []string) {
	fmt.Fprintf(p.W, "%s %s: %s\n", p.paint(red, "ERROR"), p.paint(bold, Clean(title)), Clean(msg))
	for _, d := range details {
		fmt.Fprintf(p.W, "        %s\n", Clean(d))
	}
}

// Summary is the outcome of several plans.
type Summary struct {
	// Passed, Failed and Invalid count the plans that passed, that failed
	// (or errored), and that could not run.
	Passed, Failed, Invalid int
	// Elapsed is the time all of them took.
	Elapsed time.Duration
}

// Summary writes the closing line of a run of several plans.
func (p *Printer) Summary(s Summary) {
	status := planrun.StatusPassed
	if s.Failed > 0 || s.Invalid > 0 {
		status = planrun.StatusFailed
	}
	line := fmt.Sprintf("%s %d plans: %d passed, %d failed", p.label(status), s.Passed+s.Failed+s.Invalid, s.Passed, s.Failed)
	if s.Invalid > 0 {
		line += fmt.Sprintf(", %d not run", s.Invalid)
	}
	fmt.Fprintf(p.W, "%s in %s\n", line, Duration(s.Elapsed.Milliseconds()))
}

// Duration formats milliseconds for people: "<1ms", "87ms", "1.234s",
// "2m5s".
func Duration(ms int64) string {
	if ms < 1 {
		return "<1ms"
	}
	d := time.Duration(ms) * time.Millisecond
	if d < time.Second {
		return d.String()
	}
	if d < time.Minute {
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// Clean returns text fit to print on a terminal: on one line, so that it
// cannot break the layout or forge lines, and without control characters,
// so that it cannot carry escape sequences. Line breaks and tabs become
// spaces, runs of spaces one space, and other C0 and C1 controls and DEL a
// '?'. Printer cleans every string it prints; text that may come from a
// server or a target must go through it elsewhere too.
func Clean(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			return ' '
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
			return '?'
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}
