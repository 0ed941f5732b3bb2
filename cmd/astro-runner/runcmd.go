package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/spf13/cobra"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/runprint"
)

// runFlags are the flags of astro-runner run.
type runFlags struct {
	vars     []string
	varFiles []string
	junit    string
	json     string
	noColor  bool
}

func (c *cli) newRunCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run plan files locally, without a server, and report the results",
		Long: `Run each plan file in order, here, without a server: nothing is stored.
A plan file holds the JSON that POST /plan takes: name, description,
labels and document; it and each --var-file must be a regular file (not
a device or a pipe) of at most 1 MiB, the API's limit on a request body.
It is checked as the API checks it, and runs with the same runner and
network policy as the server's workers (ASTRO_TARGET_ALLOW,
ASTRO_TARGET_DENY, ASTRO_PLAN_ENV_ALLOW, ASTRO_SECRET_PATTERN,
ASTRO_RUN_TIMEOUT).

A --var-file holds a JSON object of strings, or NAME=VALUE lines with
blank lines and # comments. Spaces around NAME and VALUE are trimmed; a
VALUE that is a whole JSON string, such as " padded " or "tab\there", is
unquoted; any other VALUE, single quotes included, is taken literally.

Each step's outcome is printed, in colour on a terminal.

Exit status: 0 when every plan passed, 1 when any failed or errored,
2 for bad usage or an invalid or unreadable plan file. Every file runs
even when an earlier one failed; the status is the worst of them.`,
		Example: `  astro-runner run examples/plan.json
  astro-runner run plans/*.json --var base_url=http://127.0.0.1:9090 --junit report.xml`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, files []string) error {
			return c.runFiles(cmd.Context(), f, files)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.vars, "var", nil, "set a variable the plans declare, as `NAME=VALUE`; repeatable; wins over --var-file")
	fl.StringArrayVar(&f.varFiles, "var-file", nil, "read variables from `FILE`: a JSON object of strings, or NAME=VALUE lines (see above); repeatable")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML report to `FILE`: one test suite per plan, one test case per step")
	fl.StringVar(&f.json, "json", "", "write a JSON report to `FILE`: each plan's file, name and run result")
	fl.BoolVar(&f.noColor, "no-color", false, "never colour the output (it is coloured only on a terminal, and never when NO_COLOR is set)")
	return cmd
}

// loadedPlan is a plan file, read and checked, or the reason it cannot run.
type loadedPlan struct {
	file string
	// data is the file's content, as read.
	data []byte
	body *api.PlanBody
	// problem and details say why the file cannot run.
	problem string
	details []string
}

// planReport is one plan in the JSON report of astro-runner run, or the
// execution in that of astro-runner exec.
type planReport struct {
	// File is the plan file (run).
	File string `json:"file,omitempty"`
	Name string `json:"name,omitempty"`
	// PlanID and ExecutionID identify the plan and execution on the server
	// (exec).
	PlanID      string          `json:"plan_id,omitempty"`
	ExecutionID string          `json:"execution_id,omitempty"`
	Status      string          `json:"status"`
	Error       string          `json:"error,omitempty"`
	Errors      []string        `json:"errors,omitempty"`
	Result      *planrun.Result `json:"result,omitempty"`
}

// runReport is the JSON report of astro-runner run.
type runReport struct {
	// Status is passed when every plan passed, otherwise failed.
	Status string       `json:"status"`
	Plans  []planReport `json:"plans"`
}

// Statuses of a plan in the JSON report besides planrun's passed and
// failed.
const statusInvalid = "invalid"

// runFiles is astro-runner run.
func (c *cli) runFiles(ctx context.Context, f *runFlags, files []string) error {
	start := time.Now()
	cfg, _, err := c.load()
	if err != nil {
		return usageError(err)
	}
	runner, err := newRunner(cfg)
	if err != nil {
		return usageError(err)
	}
	vars, err := readVars(f.varFiles, f.vars)
	if err != nil {
		return usageError(err)
	}
	plans := make([]*loadedPlan, len(files))
	for i, file := range files {
		plans[i] = loadPlan(file, cfg.PlanEnvAllow)
	}
	if err := checkVars(vars, plans); err != nil {
		return usageError(err)
	}

	color := !f.noColor && !c.noColorEnv()
	out := &runprint.Printer{W: c.stdout, Color: color && isTerminal(c.stdout)}
	errOut := &runprint.Printer{W: c.stderr, Color: color && isTerminal(c.stderr)}
	report := &runReport{Status: planrun.StatusPassed}
	var suites []planrun.JUnitSuite
	var sum runprint.Summary
	code := exitOK
	for _, p := range plans {
		pr, suite, pcode := c.runPlan(ctx, runner, cfg.RunTimeout, p, vars, out, errOut)
		report.Plans = append(report.Plans, pr)
		suites = append(suites, suite)
		code = worst(code, pcode)
		switch pr.Status {
		case planrun.StatusPassed:
			sum.Passed++
		case statusInvalid:
			sum.Invalid++
		default:
			sum.Failed++
		}
	}
	if code != exitOK {
		report.Status = planrun.StatusFailed
	}
	if len(plans) > 1 {
		sum.Elapsed = time.Since(start)
		fmt.Fprintln(c.stdout)
		out.Summary(sum)
	}
	if err := writeReports(f.junit, f.json, report, suites); err != nil {
		fmt.Fprintln(c.stderr, "astro-runner:", err)
		code = worst(code, exitFailed)
	}
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}

// runPlan runs one loaded plan, prints its outcome, and returns its entries
// in the JSON and JUnit reports and its exit status.
func (c *cli) runPlan(ctx context.Context, runner *planrun.Runner, limit time.Duration, p *loadedPlan,
	vars map[string]string, out, errOut *runprint.Printer,
) (planReport, planrun.JUnitSuite, int) {
	invalid := func(problem string, details []string) (planReport, planrun.JUnitSuite, int) {
		errOut.Problem(p.file, problem, details)
		name := p.file
		if p.body != nil {
			name = p.body.Name
		}
		msg := strings.Join(append([]string{problem}, details...), "\n")
		return planReport{File: p.file, Name: name, Status: statusInvalid, Error: problem, Errors: details},
			planrun.JUnitSuite{Name: name, Error: msg}, exitUsage
	}
	if p.body == nil {
		return invalid(p.problem, p.details)
	}
	doc := p.body.Document
	doc.Variables = withVars(doc.Variables, vars)
	runCtx, cancel := context.WithTimeoutCause(ctx, limit,
		fmt.Errorf("the run took longer than the limit of %s (ASTRO_RUN_TIMEOUT)", limit))
	res, err := runner.Run(runCtx, &doc)
	cancel()
	var ve *plan.ValidationError
	if errors.As(err, &ve) {
		// The variables given on the command line broke a rule.
		return invalid("invalid plan with the given variables", validationLines(ve.Details()))
	}
	if res == nil {
		return invalid(err.Error(), nil)
	}
	out.Result(p.file, p.body.Name, res)
	pr := planReport{File: p.file, Name: p.body.Name, Status: res.Status, Result: res}
	code := statusExitCode(res.Status)
	if err != nil {
		// The run was stopped: interrupted, or over its time limit.
		pr.Status, pr.Error, code = planrun.StatusFailed, err.Error(), exitFailed
		fmt.Fprintf(c.stderr, "astro-runner: %s: %v\n", p.file, err)
	}
	return pr, planrun.JUnitSuite{Name: p.body.Name, Result: res}, code
}

// withVars returns the document's variables with the declared ones that vars
// names replaced. Names the document does not declare are left out: other
// plans of the run may declare them.
func withVars(declared, vars map[string]string) map[string]string {
	if len(vars) == 0 {
		return declared
	}
	out := make(map[string]string, len(declared))
	for k, v := range declared {
		if nv, ok := vars[k]; ok {
			v = nv
		}
		out[k] = v
	}
	return out
}

// loadPlan reads and checks a plan file as create-plan checks its body.
func loadPlan(file string, envAllow []string) *loadedPlan {
	p := &loadedPlan{file: file}
	data, err := readFile(file)
	if err != nil {
		p.problem = "cannot read the plan file: " + pathlessError(err)
		return p
	}
	body, err := api.ParsePlanBody(data, envAllow)
	var em *huma.ErrorModel
	switch {
	case errors.As(err, &em):
		p.problem = "invalid plan: " + em.Detail
		if em.Status == 400 {
			p.problem = "invalid plan: not a JSON plan body"
		}
		p.details = validationLines(em.Errors)
	case err != nil:
		p.problem = "invalid plan: " + err.Error()
	default:
		p.body, p.data = body, data
	}
	return p
}

// maxFileBytes bounds a plan file or --var-file: 1 MiB, the API's limit on
// a request body, such as create-plan's.
const maxFileBytes = 1 << 20

// errNotRegular is the error of a path that names a device, a pipe or a
// directory rather than a file: /dev/zero would never end.
var errNotRegular = errors.New("not a regular file")

// readFile reads a regular file of at most maxFileBytes. It refuses
// anything else before reading (a device such as /dev/zero, a pipe, a
// directory), and never reads more than one byte past the limit.
func readFile(file string) ([]byte, error) {
	// Stat first: opening a pipe would block until a writer comes.
	if fi, err := os.Stat(file); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The path may have been replaced between the two calls.
	if fi, err := f.Stat(); err != nil {
		return nil, err
	} else if !fi.Mode().IsRegular() {
		return nil, errNotRegular
	}
	data, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileBytes {
		return nil, errors.New("larger than 1 MiB, the API's limit")
	}
	return data, nil
}

// pathlessError returns the text of a file error without the path, which
// the message already names.
func pathlessError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// validationLines formats error details as the API's 422 gives them: the
// location and message, and a short value.
func validationLines[E error](details []E) []string {
	lines := make([]string, 0, len(details))
	for _, d := range details {
		var ed *huma.ErrorDetail
		if !errors.As(d, &ed) {
			lines = append(lines, d.Error())
			continue
		}
		line := ed.Message
		if ed.Location != "" {
			line = ed.Location + ": " + line
		}
		if v := shortValue(ed.Value); v != "" {
			line += " (value: " + v + ")"
		}
		lines = append(lines, line)
	}
	return lines
}

// shortValue formats a scalar value of an error detail, or returns "" for
// a value that is long, or an object or array (which the location names).
func shortValue(v any) string {
	var s string
	switch v := v.(type) {
	case string:
		s = strconv.Quote(v)
	case float64, bool, int, int64, json.Number:
		s = fmt.Sprint(v)
	}
	if len(s) > 80 {
		return ""
	}
	return s
}

// readVars reads the --var-file files in order, then the --var flags,
// each later value winning.
func readVars(files, flags []string) (map[string]string, error) {
	vars := map[string]string{}
	for _, file := range files {
		if err := readVarFile(file, vars); err != nil {
			return nil, err
		}
	}
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--var %q: want NAME=VALUE", kv)
		}
		vars[k] = v
	}
	return vars, nil
}

// readVarFile adds the variables of a --var-file to vars: a JSON object of
// strings, or NAME=VALUE lines with blank lines and # comments (see
// varValue).
func readVarFile(file string, vars map[string]string) error {
	data, err := readFile(file)
	if err != nil {
		return fmt.Errorf("--var-file %s: %s", file, pathlessError(err))
	}
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		var m map[string]string
		if err := json.Unmarshal(t, &m); err != nil {
			return fmt.Errorf("--var-file %s: want a JSON object of strings: %w", file, err)
		}
		for k, v := range m {
			vars[k] = v
		}
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), len(data)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if k = strings.TrimSpace(k); !ok || k == "" {
			return fmt.Errorf("--var-file %s:%d: want NAME=VALUE", file, n)
		}
		vars[k] = varValue(v)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("--var-file %s: %w", file, err)
	}
	return nil
}

// varValue is the value of a NAME=VALUE line of a --var-file: the text
// after the first '=', with spaces around it trimmed, then unquoted when
// the whole of it is one JSON string ("a \"b\"\n"). Anything else, single
// quotes included, is taken literally.
func varValue(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		var s string
		if err := json.Unmarshal([]byte(v), &s); err == nil {
			return s
		}
	}
	return v
}

// checkVars refuses a variable that no loaded plan declares: a typo would
// otherwise run the plans with their own values, unnoticed. When no plan
// loaded there is nothing to check against.
func checkVars(vars map[string]string, plans []*loadedPlan) error {
	declared := map[string]bool{}
	loaded := false
	for _, p := range plans {
		if p.body == nil {
			continue
		}
		loaded = true
		for k := range p.body.Document.Variables {
			declared[k] = true
		}
	}
	if !loaded {
		return nil
	}
	var unknown []string
	for k := range vars {
		if !declared[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	names := make([]string, 0, len(declared))
	for k := range declared {
		names = append(names, k)
	}
	slices.Sort(names)
	known := "none"
	if len(names) > 0 {
		known = strings.Join(names, ", ")
	}
	return fmt.Errorf("unknown variable %s: no plan declares it (declared: %s)", strings.Join(unknown, ", "), known)
}

// writeReports writes the --junit report to junitFile and the --json report
// to jsonFile, each unless its name is empty.
func writeReports(junitFile, jsonFile string, report *runReport, suites []planrun.JUnitSuite) error {
	var errs []error
	if junitFile != "" {
		b, err := planrun.JUnitSuites("astro-runner", suites)
		if err == nil {
			err = os.WriteFile(junitFile, b, 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--junit: %w", err))
		}
	}
	if jsonFile != "" {
		b, err := json.MarshalIndent(report, "", "  ")
		if err == nil {
			err = os.WriteFile(jsonFile, append(b, '\n'), 0o644)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("--json: %w", err))
		}
	}
	return errors.Join(errs...)
}

// noColorEnv reports whether NO_COLOR is set (https://no-color.org).
func (c *cli) noColorEnv() bool {
	v, ok := c.lookup("NO_COLOR")
	return ok && v != ""
}
