package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/runprint"
	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// defaultExecTimeout is the default of exec --timeout.
const defaultExecTimeout = 15 * time.Minute

// execFlags are the flags of astro-runner exec.
type execFlags struct {
	remote         remoteFlags
	timeout        time.Duration
	noWait         bool
	idempotencyKey string
	junit          string
	json           string
	noColor        bool
}

func (c *cli) newExecCmd() *cobra.Command {
	f := &execFlags{}
	cmd := &cobra.Command{
		Use:   "exec --server URL [--token TOKEN] PLAN",
		Short: "Run a plan stored on a server, wait for it, and report the result",
		Long: `Ask a running astro-runner server to execute a stored plan, wait until the
execution is final, and print each step's outcome as "astro-runner run"
does. PLAN is a plan's id, or its exact name. The execution shows trigger
cli (GET /execution?trigger=cli lists them).

The token comes from --token, or else from $ASTRO_API_TOKEN (the variable
the server reads its own token from).

Waiting ends after --timeout, or at Ctrl-C; either stops only the wait:
the execution goes on on the server, and its id is printed to follow it
(GET /execution/{id}). --no-wait prints the execution's id alone and
returns at once.

Exit status: 0 when the execution passed (or was queued, with --no-wait);
1 when it failed, errored or was cancelled, or did not finish within
--timeout or before Ctrl-C; 2 for bad usage, an unknown plan, a token the
server refuses, a server that cannot be reached, or any other error answer
from the server.`,
		Example: `  astro-runner exec --server http://127.0.0.1:8080 "Checkout smoke test"
  ASTRO_API_TOKEN=s3cret astro-runner exec --server https://astro.example.com 0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d --junit report.xml
  id=$(astro-runner exec --server http://127.0.0.1:8080 --no-wait smoke)`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.exec(cmd.Context(), f, args[0])
		},
	}
	addRemoteFlags(cmd, &f.remote)
	fl := cmd.Flags()
	fl.DurationVar(&f.timeout, "timeout", defaultExecTimeout, "how long to wait for the execution to finish, such as 90s or 30m; the execution goes on on the server after it")
	fl.BoolVar(&f.noWait, "no-wait", false, "print the execution's id and exit at once, without waiting for it")
	fl.StringVar(&f.idempotencyKey, "idempotency-key", "", "send `KEY` as the Idempotency-Key header: a retry with the same key returns the plan's execution made with it instead of starting another")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML report to `FILE`: one test suite, one test case per step")
	fl.StringVar(&f.json, "json", "", "write a JSON report to `FILE`, in the shape of run's: the execution's plan, status and result")
	fl.BoolVar(&f.noColor, "no-color", false, "never colour the output (it is coloured only on a terminal, and never when NO_COLOR is set)")
	return cmd
}

// execView is the part of an execution that exec reads, decoded from the
// SDK's execution through JSON, the wire format.
type execView struct {
	ID     string          `json:"id"`
	PlanID string          `json:"plan_id"`
	Status string          `json:"status"`
	Result *execViewResult `json:"result"`
}

// execViewResult is an execution's result: the run's result, when the run
// finished, and why it could not, for status error.
type execViewResult struct {
	planrun.Result
	Error string `json:"error,omitempty"`
}

// viewOf decodes an execution into an execView.
func viewOf(e *astro.Execution) (*execView, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("read execution: %w", err)
	}
	var v execView
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("read execution: %w", err)
	}
	return &v, nil
}

// runResult returns the run's result, or nil when the execution has none:
// it never ran, or ended in error before its steps.
func (v *execView) runResult() *planrun.Result {
	if v.Result == nil || v.Result.Status == "" {
		return nil
	}
	return &v.Result.Result
}

// exec is astro-runner exec.
func (c *cli) exec(ctx context.Context, f *execFlags, ref string) error {
	if f.timeout <= 0 {
		return usageError(fmt.Errorf("--timeout %s: want a positive duration, such as 15m", f.timeout))
	}
	r, err := c.newRemote(&f.remote)
	if err != nil {
		return err
	}
	pl, err := r.resolvePlan(ctx, ref)
	if err != nil {
		return err
	}
	e, err := r.client.ExecutePlanWith(ctx, pl.Id, astro.ExecuteOptions{IdempotencyKey: f.idempotencyKey, Trigger: string(astro.ExecuteBodyTriggerCli)})
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitFailed, err: fmt.Errorf("interrupted before plan %q was started", pl.Name)}
		}
		return r.fail(fmt.Sprintf("execute plan %q", pl.Name), err)
	}
	if f.noWait {
		fmt.Fprintln(c.stdout, e.Id)
		return nil
	}
	if !astro.IsFinal(e) {
		waitCtx, cancel := context.WithTimeout(ctx, f.timeout)
		final, err := r.client.WaitExecution(waitCtx, e.Id)
		cancel()
		switch {
		case err != nil && ctx.Err() != nil:
			return &exitError{code: exitFailed, err: fmt.Errorf(
				"interrupted: stopped waiting for execution %s of plan %q; it goes on on the server", e.Id, pl.Name)}
		case err != nil && waitCtx.Err() != nil:
			return &exitError{code: exitFailed, err: fmt.Errorf(
				"execution %s of plan %q did not finish within --timeout %s; it goes on on the server", e.Id, pl.Name, f.timeout)}
		case err != nil:
			return r.fail(fmt.Sprintf("wait for execution %s", e.Id), err)
		}
		e = final
	}
	return c.reportExecution(f, pl.Name, e)
}

// resolvePlan finds the plan that ref names: by id when ref is a UUID,
// else by exact name. An unknown plan is a usage error.
func (r *remote) resolvePlan(ctx context.Context, ref string) (*astro.Plan, error) {
	if id, err := astro.ParseUUID(ref); err == nil {
		pl, err := r.client.GetPlan(ctx, id)
		if isStatus(err, http.StatusNotFound) {
			return nil, usageError(fmt.Errorf("no plan with id %s on %s", ref, r.server))
		}
		if err != nil {
			return nil, r.fail("get plan "+ref, err)
		}
		return pl, nil
	}
	pl, err := r.findPlan(ctx, ref)
	if err != nil {
		return nil, r.fail(fmt.Sprintf("find plan %q", ref), err)
	}
	if pl == nil {
		return nil, usageError(fmt.Errorf("no plan named %q on %s (names are exact and case-sensitive)", ref, r.server))
	}
	return pl, nil
}

// reportExecution prints a final execution, writes the reports that f asks
// for, and returns the exit status the execution's status gives.
func (c *cli) reportExecution(f *execFlags, name string, e *astro.Execution) error {
	v, err := viewOf(e)
	if err != nil {
		return err
	}
	color := !f.noColor && !c.noColorEnv()
	out := &runprint.Printer{W: c.stdout, Color: color && isTerminal(c.stdout)}
	title := "execution " + v.ID
	res := v.runResult()
	if res != nil {
		out.Result(title, name, res)
	}
	pr := planReport{Name: name, PlanID: v.PlanID, ExecutionID: v.ID, Status: v.Status, Result: res}
	suite := planrun.JUnitSuite{Name: name, Result: res}
	if v.Status != planrun.StatusPassed && v.Status != planrun.StatusFailed {
		why := ""
		if v.Result != nil {
			why = v.Result.Error
		}
		msg := fmt.Sprintf("%s ended %s", title, v.Status)
		if why != "" {
			msg += ": " + why
		}
		out.Problem(name, msg, nil)
		pr.Error = msg
		if res == nil {
			suite = planrun.JUnitSuite{Name: name, Error: msg}
		}
	}
	code := statusExitCode(v.Status)
	report := &runReport{Status: planrun.StatusPassed, Plans: []planReport{pr}}
	if code != exitOK {
		report.Status = planrun.StatusFailed
	}
	if err := writeReports(f.junit, f.json, report, []planrun.JUnitSuite{suite}); err != nil {
		fmt.Fprintln(c.stderr, "astro-runner:", err)
		code = worst(code, exitFailed)
	}
	if code != exitOK {
		return &exitError{code: code}
	}
	return nil
}
