package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// maxExecuteBodyBytes caps the request body of execute-plan.
const maxExecuteBodyBytes = 1 << 20

// Resolve says why an execute-plan body may not name trigger schedule:
// the schema's enum (api, cli) already refuses it, with a message that
// does not say why. Only the scheduler creates executions with trigger
// schedule, each tied to its schedule and tick.
func (b *ExecuteBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	if b.Trigger != string(storage.TriggerSchedule) {
		return nil
	}
	return []error{&huma.ErrorDetail{
		Location: prefix.With("trigger"),
		Message:  "trigger schedule is set by the scheduler only; send api or cli, or create a schedule (POST /plan/{id}/schedule)",
		Value:    b.Trigger,
	}}
}

// checkRunInputs checks the variables and environment of an execute-plan
// body against plan p, in tx, and returns a 422 naming the field at fault:
//
//   - body.variables.NAME for a name that p does not declare, or a value
//     that is not valid text;
//   - body.environment for an unknown environment, or one whose variables
//     make p invalid (a URL, header or body over its expanded size);
//   - body.variables for variables that make p invalid.
//
// The merged document is checked like a saved plan, with the variables
// layered lowest first: p's, the environment's, the body's. A plan that
// fails those checks on its own (saved under other rules) is not blamed on
// the body: its run reports it.
func (s *server) checkRunInputs(ctx context.Context, tx storage.Store, p *storage.Plan, body *ExecuteBody) error {
	if len(body.Variables) == 0 && body.Environment == "" {
		return nil
	}
	// The variables' own names and values are checked first, whatever the
	// plan: they are stored with the execution.
	if errs := Variables(body.Variables).check("body.variables"); len(errs) > 0 {
		return huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	var doc plan.Document
	if err := json.Unmarshal(p.Document, &doc); err != nil {
		return fmt.Errorf("decode stored document of plan %s: %w", p.ID, err)
	}
	if errs := undeclared(&doc, body.Variables); len(errs) > 0 {
		return huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	opts := s.validateOptions("document")
	if doc.Validate(opts) != nil {
		return nil
	}
	var envVars map[string]string
	if body.Environment != "" {
		env, err := tx.EnvironmentGetByName(ctx, body.Environment)
		if storage.IsNotFound(err) {
			return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{
				Location: "body.environment", Message: noEnvironment(body.Environment), Value: body.Environment,
			})
		}
		if err != nil {
			return fmt.Errorf("execute plan: %w", err)
		}
		envVars = env.Variables
		if err := doc.WithVariables(envVars).Validate(opts); err != nil {
			return blame(err, "body.environment", fmt.Sprintf("with environment %q, ", body.Environment))
		}
	}
	if err := doc.WithVariables(envVars, body.Variables).Validate(opts); err != nil {
		return blame(err, "body.variables", "with these variables, ")
	}
	return nil
}

// undeclared returns an error detail for each variable in vars that doc
// does not declare.
func undeclared(doc *plan.Document, vars map[string]string) []error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if _, ok := doc.Variables[name]; ok {
			continue
		}
		errs = append(errs, &huma.ErrorDetail{
			Location: "body.variables." + name,
			Message:  "the plan does not declare this variable; only declared variables can be set at run time",
			Value:    name,
		})
	}
	return errs
}

// blame turns the problems plan.Validate found in the merged document into
// a 422 that names field: a problem with a variable's value keeps its own
// location under field when field is body.variables; any other is located
// at field, its message saying where in the document it arose.
func blame(err error, field, why string) error {
	var ve *plan.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate plan with run-time variables: %w", err)
	}
	details := make([]error, 0, len(ve.Errors))
	for _, fe := range ve.Errors {
		if name, ok := strings.CutPrefix(fe.Location, "document.variables."); ok && field == "body.variables" {
			details = append(details, &huma.ErrorDetail{Location: field + "." + name, Message: fe.Message, Value: fe.Value})
			continue
		}
		details = append(details, &huma.ErrorDetail{
			Location: field, Message: why + fe.Location + ": " + fe.Message, Value: fe.Value,
		})
	}
	return huma.Error422UnprocessableEntity("validation failed", details...)
}
