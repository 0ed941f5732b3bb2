package pgstore

import (
	"context"
	"fmt"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// EnvironmentCreate stores a new environment. See storage.EnvironmentStore.
func (s *Store) EnvironmentCreate(ctx context.Context, p *storage.EnvironmentCreateParams) (*storage.Environment, error) {
	vars, err := storage.MarshalLabels(p.Variables)
	if err != nil {
		return nil, fmt.Errorf("create environment: %w", err)
	}
	row, err := s.q.EnvironmentCreate(ctx, s.db, &postgres.EnvironmentCreateParams{
		Name:        p.Name,
		Description: p.Description,
		Variables:   vars,
	})
	if err != nil {
		return nil, fmt.Errorf("create environment %q: %w", p.Name, interpretError(err))
	}
	return environmentFromRow(row), nil
}

// EnvironmentGetByName returns one environment. See
// storage.EnvironmentStore.
func (s *Store) EnvironmentGetByName(ctx context.Context, name string) (*storage.Environment, error) {
	row, err := s.q.EnvironmentGetByName(ctx, s.db, name)
	if err != nil {
		return nil, fmt.Errorf("get environment %q: %w", name, interpretError(err))
	}
	return environmentFromRow(row), nil
}

// EnvironmentUpdate replaces an environment's fields. See
// storage.EnvironmentStore.
func (s *Store) EnvironmentUpdate(ctx context.Context, p *storage.EnvironmentUpdateParams) (*storage.Environment, error) {
	vars, err := storage.MarshalLabels(p.Variables)
	if err != nil {
		return nil, fmt.Errorf("update environment %q: %w", p.Name, err)
	}
	row, err := s.q.EnvironmentUpdate(ctx, s.db, &postgres.EnvironmentUpdateParams{
		Name:             p.Name,
		ExpectedRevision: p.ExpectedRevision,
		Description:      p.Description,
		Variables:        vars,
	})
	if err != nil {
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the environment is gone or its revision moved on.
			if _, gerr := s.q.EnvironmentGetByName(ctx, s.db, p.Name); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
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
	rows, err := s.q.EnvironmentList(ctx, s.db, &postgres.EnvironmentListParams{
		AfterName: after,
		MaxRows:   int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list environments: %w", interpretError(err))
	}
	page := &storage.EnvironmentPage{}
	page.Environments, page.NextCursor = storage.PageOf(rows, limit, environmentFromRow,
		func(r *postgres.Environment) storage.Cursor {
			return storage.Cursor{List: storage.ListEnvironments, ID: r.Name}
		})
	return page, nil
}

func environmentFromRow(r *postgres.Environment) *storage.Environment {
	return &storage.Environment{
		Name:        r.Name,
		Description: r.Description,
		Variables:   storage.UnmarshalLabels(r.Variables),
		Revision:    r.Revision,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
	}
}
