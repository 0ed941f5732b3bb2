package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// PlanCreate stores a new plan. See storage.PlanStore.
func (s *Store) PlanCreate(ctx context.Context, p *storage.PlanCreateParams) (*storage.Plan, error) {
	id := p.ID
	if id == uuid.Nil {
		id = uuid.Must(uuid.NewV7())
	}
	labels, err := storage.MarshalLabels(p.Labels)
	if err == nil {
		err = checkPlanNoNUL(p.Name, p.Description, labels, p.Document)
	}
	var retention *int64
	if err == nil {
		retention, err = storage.RetentionSeconds(p.Retention)
	}
	if err != nil {
		return nil, fmt.Errorf("create plan: %w", err)
	}
	row, err := s.q.PlanCreate(ctx, s.db, &sqlite.PlanCreateParams{
		ID:               id.String(),
		Name:             p.Name,
		Description:      p.Description,
		Labels:           string(labels),
		Document:         string(p.Document),
		RetentionSeconds: nullInt64Of(retention),
		Now:              now(),
	})
	if err != nil {
		return nil, fmt.Errorf("create plan %q: %w", p.Name, interpretError(err))
	}
	return planFromRow(row), nil
}

// PlanGetByID returns one plan. See storage.PlanStore.
func (s *Store) PlanGetByID(ctx context.Context, id uuid.UUID) (*storage.Plan, error) {
	row, err := s.q.PlanGetByID(ctx, s.read, id.String())
	if err != nil {
		return nil, fmt.Errorf("get plan %s: %w", id, interpretError(err))
	}
	return planFromRow(row), nil
}

// PlanUpdate replaces a plan's fields. See storage.PlanStore.
func (s *Store) PlanUpdate(ctx context.Context, p *storage.PlanUpdateParams) (*storage.Plan, error) {
	labels, err := storage.MarshalLabels(p.Labels)
	if err == nil {
		err = checkPlanNoNUL(p.Name, p.Description, labels, p.Document)
	}
	var retention *int64
	if err == nil {
		retention, err = storage.RetentionSeconds(p.Retention)
	}
	if err != nil {
		return nil, fmt.Errorf("update plan %s: %w", p.ID, err)
	}
	var row *sqlite.Plan
	err = s.inWriteTx(ctx, func(tx *Store) error {
		var err error
		row, err = tx.q.PlanUpdate(ctx, tx.db, &sqlite.PlanUpdateParams{
			ID:               p.ID.String(),
			ExpectedRevision: p.ExpectedRevision,
			Name:             p.Name,
			Description:      p.Description,
			Labels:           string(labels),
			Document:         string(p.Document),
			RetentionSeconds: nullInt64Of(retention),
			Now:              now(),
		})
		err = interpretError(err)
		if storage.IsNotFound(err) {
			// Either the plan is gone or its revision moved on.
			if _, gerr := tx.q.PlanGetByID(ctx, tx.db, p.ID.String()); gerr == nil {
				err = storage.ErrStaleRevision
			}
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("update plan %s: %w", p.ID, err)
	}
	return planFromRow(row), nil
}

// PlanDelete deletes a plan. See storage.PlanStore.
func (s *Store) PlanDelete(ctx context.Context, id uuid.UUID) error {
	n, err := s.q.PlanDelete(ctx, s.db, id.String())
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
	if err == nil {
		err = errors.Join(checkNoNUL("name prefix", p.NamePrefix), checkJSONNoNUL("labels", labels))
	}
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", err)
	}
	rows, err := s.q.PlanList(ctx, s.read, &sqlite.PlanListParams{
		AfterID:    after.String(),
		NamePrefix: p.NamePrefix,
		Labels:     string(labels),
		MaxRows:    int64(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list plans: %w", interpretError(err))
	}
	page := &storage.PlanPage{}
	page.Plans, page.NextCursor = storage.PageOf(rows, limit, planFromRow,
		func(r *sqlite.Plan) storage.Cursor { return storage.Cursor{List: storage.ListPlans, ID: r.ID} })
	return page, nil
}

// checkPlanNoNUL refuses NUL in a plan's fields, as Postgres does.
func checkPlanNoNUL(name, description string, labels, document []byte) error {
	return errors.Join(
		checkNoNUL("name", name),
		checkNoNUL("description", description),
		checkJSONNoNUL("labels", labels),
		checkJSONNoNUL("document", document),
	)
}

func planFromRow(r *sqlite.Plan) *storage.Plan {
	return &storage.Plan{
		ID:          uuid.MustParse(r.ID),
		Name:        r.Name,
		Description: r.Description,
		Labels:      storage.UnmarshalLabels([]byte(r.Labels)),
		Document:    json.RawMessage(r.Document),
		Retention:   storage.RetentionFromSeconds(r.RetentionSeconds.Int64, r.RetentionSeconds.Valid),
		Revision:    r.Revision,
		CreatedAt:   fromMicros(r.CreatedAt),
		UpdatedAt:   fromMicros(r.UpdatedAt),
	}
}

// nullInt64Of returns v as a nullable integer.
func nullInt64Of(v *int64) sql.NullInt64 {
	if v == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: *v, Valid: true}
}
