package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/plan"
)

// planBodySchema is the schema of PlanBody that create-plan validates
// request bodies against, with the registry that resolves its references.
var planBodySchema = sync.OnceValues(func() (huma.Registry, *huma.Schema) {
	reg := huma.NewMapRegistry("#/components/schemas/", schemaNamer)
	return reg, reg.Schema(reflect.TypeFor[PlanBody](), true, "PlanBody")
})

// noStoredSecrets refuses {{secret.NAME}} in a plan file run locally.
func noStoredSecrets(string) error {
	return errors.New("stored secrets live on a server, and a local run cannot read them: " +
		"run the plan on a server (astro-runner exec), or pass the value with {{env.NAME}} and ASTRO_PLAN_ENV_ALLOW")
}

// ParsePlanBody decodes and checks a plan body, the JSON that create-plan
// takes, as create-plan does: the same size and nesting limits, the same
// schema, label and NUL checks, and the same document validation with
// envAllow as the variables plans may read. It lets tools that read plan
// files (astro-runner run) refuse what the API would refuse, with the same
// messages.
//
// On failure it returns a huma.StatusError, a *huma.ErrorModel whose
// Errors locate each problem under "body" as the API's response does:
// status 413 for a body over 1 MiB, 400 for one that is not JSON, too deep
// or not UTF-8, and 422 for one that breaks the schema or the document
// rules.
func ParsePlanBody(data []byte, envAllow []string) (*PlanBody, error) {
	if len(data) > maxPlanBodyBytes {
		return nil, huma.Error413RequestEntityTooLarge(fmt.Sprintf("request body is too large limit=%d bytes", maxPlanBodyBytes))
	}
	var parsed any
	if err := jsonFormat.Unmarshal(data, &parsed); err != nil {
		return nil, huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	reg, schema := planBodySchema()
	pb := huma.NewPathBuffer(make([]byte, 0, 128), 0)
	pb.Push("body")
	res := &huma.ValidateResult{}
	huma.Validate(reg, schema, pb, huma.ModeWriteToServer, parsed, res)
	if len(res.Errors) > 0 {
		return nil, huma.Error422UnprocessableEntity("validation failed", res.Errors...)
	}
	var body PlanBody
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, huma.Error400BadRequest("validation failed", &huma.ErrorDetail{Location: "body", Message: err.Error()})
	}
	pb.Reset()
	pb.Push("body")
	if errs := body.Resolve(nil, pb); len(errs) > 0 {
		return nil, huma.Error422UnprocessableEntity("validation failed", errs...)
	}
	err := body.Document.Validate(plan.ValidateOptions{EnvAllow: envAllow, CheckSecretFunc: noStoredSecrets, Location: "body.document"})
	var ve *plan.ValidationError
	switch {
	case errors.As(err, &ve):
		return nil, huma.Error422UnprocessableEntity("validation failed", ve.Details()...)
	case err != nil:
		return nil, fmt.Errorf("validate plan document: %w", err)
	}
	return &body, nil
}
