package storage

import (
	"context"
	"regexp"
	"time"
)

// NamePattern is the syntax of environment and queue names: a lowercase
// slug of 1 to 63 characters, so that a name needs no escaping in a path,
// a query or a configuration list.
const NamePattern = `^[a-z0-9][a-z0-9_-]{0,62}$`

var nameRE = regexp.MustCompile(NamePattern)

// ValidName reports whether s matches NamePattern.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Environment is a named set of variables, global to the server. An
// execution that names it runs with its variables as they are when the run
// starts.
type Environment struct {
	Name        string
	Description string
	// Variables is never nil.
	Variables map[string]string
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EnvironmentCreateParams are the fields of a new environment. Revision
// starts at 1.
type EnvironmentCreateParams struct {
	Name        string
	Description string
	Variables   map[string]string
}

// EnvironmentUpdateParams replace an environment's fields when its revision
// is still ExpectedRevision. The name cannot change.
type EnvironmentUpdateParams struct {
	Name             string
	ExpectedRevision int64
	Description      string
	Variables        map[string]string
}

// EnvironmentListParams page an environment listing, ordered by name.
type EnvironmentListParams struct {
	// Limit is the page size. Defaults to 50; at most 200.
	Limit int
	// Cursor continues after the last environment of a previous page.
	Cursor string
}

// EnvironmentPage is one page of environments. NextCursor is empty on the
// last page.
type EnvironmentPage struct {
	Environments []*Environment
	NextCursor   string
}

// EnvironmentStore persists environments.
type EnvironmentStore interface {
	// EnvironmentCreate stores a new environment at revision 1. Returns
	// ErrConflict if an environment already has that name.
	EnvironmentCreate(ctx context.Context, p *EnvironmentCreateParams) (*Environment, error)
	// EnvironmentGetByName returns one environment. Returns ErrNotFound if
	// no environment has that name.
	EnvironmentGetByName(ctx context.Context, name string) (*Environment, error)
	// EnvironmentUpdate replaces an environment's description and
	// variables and bumps its revision. Returns ErrNotFound if no
	// environment has that name and ErrStaleRevision if its revision is not
	// p.ExpectedRevision.
	EnvironmentUpdate(ctx context.Context, p *EnvironmentUpdateParams) (*Environment, error)
	// EnvironmentDelete deletes an environment. Executions that name it
	// keep the name. Returns ErrNotFound if no environment has that name.
	EnvironmentDelete(ctx context.Context, name string) error
	// EnvironmentList returns one page of environments, ordered by name.
	// Returns ErrInvalidInput for a malformed cursor.
	EnvironmentList(ctx context.Context, p *EnvironmentListParams) (*EnvironmentPage, error)
}

// Decode checks p and returns the name to list after ("" for the first
// page) and the page size. Returns ErrInvalidInput for a malformed cursor.
func (p *EnvironmentListParams) Decode() (afterName string, limit int, err error) {
	if afterName, err = DecodeKeyCursor(p.Cursor, ListEnvironments); err != nil {
		return "", 0, err
	}
	return afterName, PageLimit(p.Limit), nil
}
