package sqlitestore

import (
	"context"
	"errors"
	"fmt"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// EnvironmentCreate stores a new environment. See storage.EnvironmentStore.
func (s *Store) EnvironmentCreate(ctx context.Context, p *storage.EnvironmentCreateParams) (*storage.Environment, error) {
	vars, err := storage.MarshalLabels(p.Variables)
	if err == nil {
		err = checkEnvironmentNoNUL(p.Name, p.Description, vars)
	}
	if err != nil {
		return nil, fmt.Errorf("create environment: %w", err)
	}
	row, err := s.q.EnvironmentCreate(ctx, s.db, &sqlite.EnvironmentCreateParams{
		Name:        p.Name,
		Description: p.Description,
		Variables:   string(vars),
		Now:         now(),
	})
	if err != nil {
		return nil, fmt.Errorf("create environment %q: %w", p.Name, interpretError(err))
	}
	return environmentFromRow(row), nil
}

// EnvironmentGetByName returns one environment. See
// storage.EnvironmentStore.
func (s *Store) EnvironmentGetByName(ctx context.Context, name string) (*storage.Environment, error) {
	row, err := s.q.EnvironmentGetByName(ctx, s.read, name)
	if err != nil {
		return nil, fmt.Errorf("get environment %q: %w", name, interpretError(err))
	}
	return environmentFromRow(row), nil
}

// EnvironmentUpdate replaces an environment's fields. See
// storage.EnvironmentStore.
func (s *Store) EnvironmentUpdate(ctx context.Context, p *storage.EnvironmentUpdateParams) (*storage.Environment, error) {
	vars, err := storage.MarshalLabels(p.Variables)
	if err == nil {
		err = checkEnvironmentNoNUL(p.Name, p.Description, vars)
	}
	if err != nil {
		return nil, fmt.Errorf("update environment %q: %w", p.Name, err)
	}
	var row *sqlite.Environment
	err = s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.EnvironmentUpdate(ctx, tx.db, &sqlite.EnvironmentUpdateParams{
			Name:             p.Name,
			ExpectedRevision: p.ExpectedRevision,
			Description:      p.Description,
			Variables:        string(vars),
			Now:              now(),
		})
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the environment is gone or its revision moved on.
			if _, gerr := tx.q.EnvironmentGetByName(ctx, tx.db, p.Name); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update environment %q: %w", p.Name, err)
	}
	return environmentFromRow(row), nil
}

// EnvironmentDelete deletes an environment. See storage.EnvironmentStore.
func (s *Store) EnvironmentDelete(ctx context.Context, name string) error {
	n, err := s.q.EnvironmentDelete(ctx, s.db, name)
	if err != nil {
		return fmt.Errorf("delete environment %q: %w", name, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("delete environment %q: %w", name, storage.ErrNotFound)
	}
	return nil
}

// EnvironmentList returns one page of environments. See
// storage.EnvironmentStore.
func (s *Store) EnvironmentList(ctx context.Context, p *storage.EnvironmentListParams) (*storage.EnvironmentPage, error) {
	after, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", err)
	}
	rows, err := s.q.EnvironmentList(ctx, s.read, &sqlite.EnvironmentListParams{
		AfterName: after,
		MaxRows:   int64(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", interpretError(err))
	}
	page := &storage.EnvironmentPage{}
	page.Environments, page.NextCursor = storage.PageOf(rows, limit, environmentFromRow,
		func(r *sqlite.Environment) storage.Cursor {
			return storage.Cursor{List: storage.ListEnvironments, ID: r.Name}
		})
	return page, nil
}

// checkEnvironmentNoNUL refuses NUL in an environment's fields, as
// Postgres does.
func checkEnvironmentNoNUL(name, description string, variables []byte) error {
	return errors.Join(
		checkNoNUL("name", name),
		checkNoNUL("description", description),
		checkJSONNoNUL("variables", variables),
	)
}

func environmentFromRow(r *sqlite.Environment) *storage.Environment {
	return &storage.Environment{
		Name:        r.Name,
		Description: r.Description,
		Variables:   storage.UnmarshalLabels([]byte(r.Variables)),
		Revision:    r.Revision,
		CreatedAt:   fromMicros(r.CreatedAt),
		UpdatedAt:   fromMicros(r.UpdatedAt),
	}
}
