package pgstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/astro-runner/astro-runner/gen/postgres"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// PlanCreate stores a new plan. See storage.PlanStore.
func (s *Store) PlanCreate(ctx context.Context, p *storage.PlanCreateParams) (*storage.Plan, error) {
	id := p.ID
	if id == uuid.Nil {
		id = uuid.Must(uuid.NewV7())
	}
	labels, err := storage.MarshalLabels(p.Labels)
	var retention *int64
	if err == nil {
		retention, err = storage.RetentionSeconds(p.Retention)
	}
	if err != nil {
		return nil, fmt.Errorf("create plan: %w", err)
	}
	row, err := s.q.PlanCreate(ctx, s.db, &postgres.PlanCreateParams{
		ID:               id,
		Name:             p.Name,
		Description:      p.Description,
		Labels:           labels,
		Document:         p.Document,
		RetentionSeconds: int8Of(retention),
	})
	if err != nil {
		return nil, fmt.Errorf("create plan %q: %w", p.Name, interpretError(err))
	}
	return planFromRow(row), nil
}

// PlanGetByID returns one plan. See storage.PlanStore.
func (s *Store) PlanGetByID(ctx context.Context, id uuid.UUID) (*storage.Plan, error) {
	row, err := s.q.PlanGetByID(ctx, s.db, id)
	if err != nil {
		return nil, fmt.Errorf("get plan %s: %w", id, interpretError(err))
	}
	return planFromRow(row), nil
}

// PlanUpdate replaces a plan's fields. See storage.PlanStore.
func (s *Store) PlanUpdate(ctx context.Context, p *storage.PlanUpdateParams) (*storage.Plan, error) {
	labels, err := storage.MarshalLabels(p.Labels)
	var retention *int64
	if err == nil {
		retention, err = storage.RetentionSeconds(p.Retention)
	}
	if err != nil {
		return nil, fmt.Errorf("update plan %s: %w", p.ID, err)
	}
	row, err := s.q.PlanUpdate(ctx, s.db, &postgres.PlanUpdateParams{
		ID:               p.ID,
		ExpectedRevision: p.ExpectedRevision,
		Name:             p.Name,
		Description:      p.Description,
		Labels:           labels,
		Document:         p.Document,
		RetentionSeconds: int8Of(retention),
	})
	if err != nil {
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the plan is gone or its revision moved on.
			if _, gerr := s.q.PlanGetByID(ctx, s.db, p.ID); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return nil, fmt.Errorf("update plan %s: %w", p.ID, err)
	}
	return planFromRow(row), nil
}

// PlanDelete deletes a plan. See storage.PlanStore.
func (s *Store) PlanDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.PlanDelete(ctx, s.db, id)
	if err != nil {
		return fmt.Errorf("delete plan %s: %w", id, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("delete plan %s: %w", id, storage.ErrNotFound)
	}
	return nil
}

// PlanList returns one page of plans. See storage.PlanStore.
func (s *Store) PlanList(ctx context.Context, p *storage.PlanListParams) (*storage.PlanPage, error) {
	after, labels, limit, err := p.Decode()
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	rows, err := s.q.PlanList(ctx, s.db, &postgres.PlanListParams{
		AfterID:    after,
		NamePrefix: p.NamePrefix,
		Labels:     labels,
		MaxRows:    int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", interpretError(err))
	}
	page := &storage.PlanPage{}
	page.Plans, page.NextCursor = storage.PageOf(rows, limit, planFromRow,
		func(r *postgres.Plan) storage.Cursor {
			return storage.Cursor{List: storage.ListPlans, ID: r.ID.String()}
		})
	return page, nil
}

func planFromRow(r *postgres.Plan) *storage.Plan {
	return &storage.Plan{
		ID:          r.ID,
		Name:        r.Name,
		Description: r.Description,
		Labels:      storage.UnmarshalLabels(r.Labels),
		Document:    json.RawMessage(r.Document),
		Retention:   storage.RetentionFromSeconds(r.RetentionSeconds.Int64, r.RetentionSeconds.Valid),
		Revision:    r.Revision,
		CreatedAt:   r.CreatedAt,
		UpdatedAt:   r.UpdatedAt,
	}
}

// int8Of returns v as a nullable bigint.
func int8Of(v *int64) pgtype.Int8 {
	if v == nil {
		return pgtype.Int8{}
	}
	return pgtype.Int8{Int64: *v, Valid: true}
}
