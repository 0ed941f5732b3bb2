package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// maxEnvironmentBodyBytes caps the request body of create-environment and
// update-environment, like a plan's: it bounds the size of the variables.
const maxEnvironmentBodyBytes = 1 << 20

// Variables are named string values, by the rules of a plan document's
// variables: at most 100, names matching ^[A-Za-z_][A-Za-z0-9_]*$ of at
// most 100 characters, values without NUL characters.
type Variables map[string]string

// Schema describes Variables. Huma cannot check map keys, so the bodies
// that hold variables check them in Resolve.
func (Variables) Schema(huma.Registry) *huma.Schema {
	maxProps := plan.MaxVariables
	return &huma.Schema{
		Type: huma.TypeObject,
		Description: "Variables by name: at most 100; names match ^[A-Za-z_][A-Za-z0-9_]*$ and are at most 100 characters; " +
			"values are strings without NUL characters, used as written.",
		MaxProperties:        &maxProps,
		AdditionalProperties: &huma.Schema{Type: huma.TypeString},
	}
}

// check returns an error detail for each problem plan.ValidateVariables
// finds in v, located under prefix.
func (v Variables) check(prefix string) []error {
	var ve *plan.ValidationError
	if !errors.As(plan.ValidateVariables(prefix, v), &ve) {
		return nil
	}
	errs := make([]error, 0, len(ve.Errors))
	for i := range ve.Errors {
		errs = append(errs, ve.Errors[i].ErrorDetail())
	}
	return errs
}

// EnvironmentBody is the writable part of an environment, sent to
// update-environment. The name is in the path and cannot change.
type EnvironmentBody struct {
	Description string    `json:"description,omitempty" maxLength:"2000" doc:"What the environment is for. No NUL characters." example:"The staging stack in eu-west-1."`
	Variables   Variables `json:"variables,omitempty" doc:"The environment's variables. An execution that names the environment runs with them over the plan's own, for the names the plan declares." example:"{\"base_url\":\"https://staging.example.com\"}"`
}

// Resolve checks what the schema cannot: the variables' names and values,
// and NUL in the description.
func (b *EnvironmentBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return checkEnvironment(prefix, b.Description, b.Variables)
}

// EnvironmentCreateBody is a new environment, sent to create-environment.
type EnvironmentCreateBody struct {
	Name        string    `json:"name" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Name of the environment, unique: 1 to 63 lowercase letters, digits, '-' and '_', starting with a letter or digit." example:"staging"`
	Description string    `json:"description,omitempty" maxLength:"2000" doc:"What the environment is for. No NUL characters." example:"The staging stack in eu-west-1."`
	Variables   Variables `json:"variables,omitempty" doc:"The environment's variables. An execution that names the environment runs with them over the plan's own, for the names the plan declares." example:"{\"base_url\":\"https://staging.example.com\"}"`
}

// Resolve checks what the schema cannot: the variables' names and values,
// and NUL in the description.
func (b *EnvironmentCreateBody) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	return checkEnvironment(prefix, b.Description, b.Variables)
}

// checkEnvironment returns an error detail for NUL in an environment's
// description and for each problem with its variables.
func checkEnvironment(prefix *huma.PathBuffer, description string, vars Variables) []error {
	errs := checkNUL(prefix, "description", description)
	return append(errs, vars.check(prefix.With("variables"))...)
}

// Environment is a stored environment.
type Environment struct {
	Name        string            `json:"name" doc:"Name of the environment." example:"staging"`
	Description string            `json:"description" doc:"What the environment is for." example:"The staging stack in eu-west-1."`
	Variables   map[string]string `json:"variables" doc:"The environment's variables; {} when it has none." example:"{\"base_url\":\"https://staging.example.com\"}"`
	Revision    int64             `json:"revision" doc:"Revision of the environment: 1 when created, bumped by every update. The ETag header carries it." example:"2"`
	CreatedAt   time.Time         `json:"created_at" doc:"When the environment was created." example:"2025-01-02T15:04:05Z"`
	UpdatedAt   time.Time         `json:"updated_at" doc:"When the environment was last changed." example:"2025-01-03T09:30:00Z"`
}

// EnvironmentList is one page of environments.
type EnvironmentList struct {
	Environments []Environment `json:"environments" nullable:"false" doc:"The environments of this page, by name." example:"[]"`
	NextCursor   string        `json:"next_cursor" doc:"Cursor of the next page, to pass as ?cursor=. Empty on the last page." example:"eyJsIjoiZW52aXJvbm1lbnRzIiwiaSI6InN0YWdpbmcifQ"`
}

type createEnvironmentInput struct {
	Body EnvironmentCreateBody
}

type createEnvironmentOutput struct {
	Location string `header:"Location" doc:"Path of the new environment." example:"/environment/staging"`
	ETag     string `header:"ETag" doc:"Revision of the environment as an entity tag. Send it in If-Match to update the environment." example:"\"1\""`
	Body     Environment
}

type environmentNameInput struct {
	Name string `path:"name" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Name of the environment." example:"staging"`
}

type environmentOutput struct {
	ETag string `header:"ETag" doc:"Revision of the environment as an entity tag. Send it in If-Match to update the environment." example:"\"2\""`
	Body Environment
}

type listEnvironmentsInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50" doc:"Largest number of environments to return." example:"50"`
	Cursor string `query:"cursor" maxLength:"256" doc:"The next_cursor of the previous page. Empty for the first page." example:"eyJsIjoiZW52aXJvbm1lbnRzIiwiaSI6InN0YWdpbmcifQ"`
}

type listEnvironmentsOutput struct {
	Link []string `header:"Link" doc:"Link to the next page, with rel=\"next\", when there is one." example:"</environment?cursor=eyJsIjoiZW52aXJvbm1lbnRzIiwiaSI6InN0YWdpbmcifQ&limit=50>; rel=\"next\""`
	Body EnvironmentList
}

type updateEnvironmentInput struct {
	Name    string `path:"name" pattern:"^[a-z0-9][a-z0-9_-]{0,62}$" maxLength:"63" doc:"Name of the environment." example:"staging"`
	IfMatch string `header:"If-Match" doc:"The environment's current ETag, from a previous read. Required: the update fails with 412 if the environment changed since." example:"\"2\""`
	Body    EnvironmentBody
}

// registerEnvironments adds the environment operations.
func (s *server) registerEnvironments(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-environment",
		Method:      http.MethodPost,
		Path:        "/environment",
		Summary:     "Create an environment",
		Description: "Stores a new environment at revision 1: a named set of variables that an execution may run with " +
			"(POST /plan/{id}/execute with {\"environment\": name}). The body may be at most 1 MiB (413).",
		Tags:          []string{tagEnvironments},
		Security:      secured,
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  maxEnvironmentBodyBytes,
		Errors:        []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
	}, s.createEnvironment)

	huma.Register(api, huma.Operation{
		OperationID: "get-environment",
		Method:      http.MethodGet,
		Path:        "/environment/{name}",
		Summary:     "Get an environment",
		Description: "Returns one environment, with its revision in the ETag header.",
		Tags:        []string{tagEnvironments},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusServiceUnavailable},
	}, s.getEnvironment)

	huma.Register(api, huma.Operation{
		OperationID: "list-environments",
		Method:      http.MethodGet,
		Path:        "/environment",
		Summary:     "List environments",
		Description: "Returns one page of environments, ordered by name. " +
			"Follow next_cursor, or the Link header with rel=\"next\", for the next page. A malformed cursor gives 400.",
		Tags:     []string{tagEnvironments},
		Security: secured,
		Errors:   []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable},
	}, s.listEnvironments)

	huma.Register(api, huma.Operation{
		OperationID: "update-environment",
		Method:      http.MethodPut,
		Path:        "/environment/{name}",
		Summary:     "Replace an environment",
		Description: "Replaces an environment's description and variables and bumps its revision. Executions that name it and " +
			"have not started yet run with the new variables. If-Match must carry the ETag of the revision being replaced, " +
			"quoted (\"3\") or bare (3): without it the answer is 428, and if the environment changed since, 412. " +
			"A weak tag (W/\"3\") never matches and also gives 412. The body may be at most 1 MiB (413).",
		Tags:         []string{tagEnvironments},
		Security:     secured,
		MaxBodyBytes: maxEnvironmentBodyBytes,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusPreconditionFailed,
			http.StatusRequestEntityTooLarge, http.StatusPreconditionRequired, http.StatusServiceUnavailable},
	}, s.updateEnvironment)

	huma.Register(api, huma.Operation{
		OperationID: "delete-environment",
		Method:      http.MethodDelete,
		Path:        "/environment/{name}",
		Summary:     "Delete an environment",
		Description: "Deletes an environment. Executions that name it keep the name; one that has not started yet ends in " +
			"error when it runs, saying that the environment no longer exists. While schedules (paused or not) still use " +
			"the environment the answer is 409: change their environment or delete them first.",
		Tags:          []string{tagEnvironments},
		Security:      secured,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.deleteEnvironment)
}

// environmentFromStorage returns the API form of a stored environment.
func environmentFromStorage(e *storage.Environment) Environment {
	vars := e.Variables
	if vars == nil {
		vars = map[string]string{}
	}
	return Environment{
		Name:        e.Name,
		Description: e.Description,
		Variables:   vars,
		Revision:    e.Revision,
		CreatedAt:   e.CreatedAt,
		UpdatedAt:   e.UpdatedAt,
	}
}

// noEnvironment is the 404 text for an unknown environment name.
func noEnvironment(name string) string { return fmt.Sprintf("no environment is named %q", name) }

func (s *server) createEnvironment(ctx context.Context, in *createEnvironmentInput) (*createEnvironmentOutput, error) {
	e, err := s.deps.Store.EnvironmentCreate(ctx, &storage.EnvironmentCreateParams{
		Name:        in.Body.Name,
		Description: in.Body.Description,
		Variables:   in.Body.Variables,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			Conflict: fmt.Sprintf("an environment named %q already exists", in.Body.Name),
		}))
	}
	return &createEnvironmentOutput{
		Location: "/environment/" + e.Name, ETag: etag(e.Revision), Body: environmentFromStorage(e),
	}, nil
}

func (s *server) getEnvironment(ctx context.Context, in *environmentNameInput) (*environmentOutput, error) {
	e, err := s.deps.Store.EnvironmentGetByName(ctx, in.Name)
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noEnvironment(in.Name)}))
	}
	return &environmentOutput{ETag: etag(e.Revision), Body: environmentFromStorage(e)}, nil
}

func (s *server) listEnvironments(ctx context.Context, in *listEnvironmentsInput) (*listEnvironmentsOutput, error) {
	page, err := s.deps.Store.EnvironmentList(ctx, &storage.EnvironmentListParams{Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, badCursor(in.Cursor)))
	}
	out := &listEnvironmentsOutput{Body: EnvironmentList{
		Environments: make([]Environment, 0, len(page.Environments)),
		NextCursor:   page.NextCursor,
	}}
	for _, e := range page.Environments {
		out.Body.Environments = append(out.Body.Environments, environmentFromStorage(e))
	}
	out.Link = nextLink("/environment", nil, in.Limit, page.NextCursor)
	return out, nil
}

func (s *server) updateEnvironment(ctx context.Context, in *updateEnvironmentInput) (*environmentOutput, error) {
	rev, err := parseIfMatch(in.IfMatch, "environment")
	if err != nil {
		return nil, err
	}
	e, err := s.deps.Store.EnvironmentUpdate(ctx, &storage.EnvironmentUpdateParams{
		Name:             in.Name,
		ExpectedRevision: rev,
		Description:      in.Body.Description,
		Variables:        in.Body.Variables,
	})
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			NotFound: noEnvironment(in.Name),
			Stale:    fmt.Sprintf("environment %q is no longer at revision %d: fetch it again and retry with its new ETag", in.Name, rev),
		}))
	}
	return &environmentOutput{ETag: etag(e.Revision), Body: environmentFromStorage(e)}, nil
}

// errEnvironmentInUse rolls back the delete of an environment that
// schedules still use.
var errEnvironmentInUse = errors.New("environment in use by schedules")

// deleteEnvironment deletes the environment unless schedules still use
// it, in one transaction: they would fail at every tick without it.
func (s *server) deleteEnvironment(ctx context.Context, in *environmentNameInput) (*struct{}, error) {
	used := 0
	err := s.deps.Store.InTx(ctx, func(tx storage.Store) error {
		if err := tx.EnvironmentDelete(ctx, in.Name); err != nil {
			return err
		}
		n, err := tx.ScheduleCountByEnvironment(ctx, in.Name)
		if err != nil {
			return err
		}
		if n > 0 {
			used = n
			return errEnvironmentInUse
		}
		return nil
	})
	if errors.Is(err, errEnvironmentInUse) {
		return nil, huma.Error409Conflict(fmt.Sprintf("environment %q is still used by %d schedule(s), which would "+
			"fail at every tick without it: change their environment or delete them first "+
			"(GET /schedule lists every schedule with its environment)", in.Name, used))
	}
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: noEnvironment(in.Name)}))
	}
	return &struct{}{}, nil
}
