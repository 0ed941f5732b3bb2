package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Plan is a named, versioned test plan. Document holds the plan document v1
// as JSON; the storage layer does not interpret it.
type Plan struct {
	ID          uuid.UUID
	Name        string
	Description string
	Labels      map[string]string
	Document    json.RawMessage
	// Retention is how long the plan's finished executions are kept: nil
	// follows the server's default, zero keeps them forever. See
	// ExecutionStore.ExecutionPrune.
	Retention *time.Duration
	Revision  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// PlanCreateParams are the fields of a new plan. Revision starts at 1.
type PlanCreateParams struct {
	// ID is the plan's identity. Defaults to a new UUIDv7.
	ID          uuid.UUID
	Name        string
	Description string
	Labels      map[string]string
	Document    json.RawMessage
	// Retention is the plan's own retention of finished executions, stored
	// in whole seconds: nil follows the server's default, zero keeps them
	// forever.
	Retention *time.Duration
}

// PlanUpdateParams replace a plan's fields when its revision is still
// ExpectedRevision.
type PlanUpdateParams struct {
	ID               uuid.UUID
	ExpectedRevision int64
	Name             string
	Description      string
	Labels           map[string]string
	Document         json.RawMessage
	// Retention replaces the plan's own retention, as in PlanCreateParams.
	Retention *time.Duration
}

// PlanListParams filter and page a plan listing, ordered by ID (creation
// order for UUIDv7 IDs).
type PlanListParams struct {
	// NamePrefix keeps plans whose name starts with it, byte for byte.
	NamePrefix string
	// Labels keeps plans that carry every one of these key/value pairs.
	Labels map[string]string
	// Limit is the page size. Defaults to 50; at most 200.
	Limit int
	// Cursor continues after the last plan of a previous page.
	Cursor string
}

// PlanPage is one page of plans. NextCursor is empty on the last page.
type PlanPage struct {
	Plans      []*Plan
	NextCursor string
}

// PlanStore persists plans.
type PlanStore interface {
	// PlanCreate stores a new plan at revision 1. Returns ErrConflict if a
	// plan already has that name or ID.
	PlanCreate(ctx context.Context, p *PlanCreateParams) (*Plan, error)
	// PlanGetByID returns one plan. Returns ErrNotFound if no plan has that ID.
	PlanGetByID(ctx context.Context, id uuid.UUID) (*Plan, error)
	// PlanUpdate replaces a plan's fields and bumps its revision. Returns
	// ErrNotFound if no plan has that ID, ErrStaleRevision if its revision
	// is not p.ExpectedRevision, and ErrConflict if the new name is taken.
	PlanUpdate(ctx context.Context, p *PlanUpdateParams) (*Plan, error)
	// PlanDelete deletes a plan. Returns ErrNotFound if no plan has that ID
	// and ErrReferenced if executions still refer to it.
	PlanDelete(ctx context.Context, id uuid.UUID) error
	// PlanList returns one page of plans. Returns ErrInvalidInput for a
	// malformed cursor.
	PlanList(ctx context.Context, p *PlanListParams) (*PlanPage, error)
}

// Decode checks p and returns the ID to list after (uuid.Nil for the first
// page), the labels as stored, and the page size. Returns ErrInvalidInput
// for a malformed cursor.
func (p *PlanListParams) Decode() (afterID uuid.UUID, labels []byte, limit int, err error) {
	if afterID, err = DecodeUUIDCursor(p.Cursor, ListPlans); err != nil {
		return uuid.Nil, nil, 0, err
	}
	if labels, err = MarshalLabels(p.Labels); err != nil {
		return uuid.Nil, nil, 0, err
	}
	return afterID, labels, PageLimit(p.Limit), nil
}

// MarshalLabels encodes labels as a JSON object; nil gives {}.
func MarshalLabels(labels map[string]string) ([]byte, error) {
	if labels == nil {
		return []byte("{}"), nil
	}
	b, err := json.Marshal(labels)
	if err != nil {
		return nil, fmt.Errorf("encode labels: %w", err)
	}
	return b, nil
}

// UnmarshalLabels decodes a JSON object of labels as stored by
// MarshalLabels. It never returns nil.
func UnmarshalLabels(b []byte) map[string]string {
	labels := map[string]string{}
	_ = json.Unmarshal(b, &labels)
	return labels
}

// RetentionSeconds returns a plan's retention as stored: whole seconds,
// rounded up, or nil for the server's default. Returns ErrInvalidInput for
// a negative retention.
func RetentionSeconds(d *time.Duration) (*int64, error) {
	if d == nil {
		return nil, nil
	}
	if *d < 0 {
		return nil, fmt.Errorf("%w: negative retention %s", ErrInvalidInput, *d)
	}
	s := int64((*d + time.Second - 1) / time.Second)
	return &s, nil
}

// RetentionFromSeconds returns a stored retention as a duration, or nil
// when valid is false.
func RetentionFromSeconds(seconds int64, valid bool) *time.Duration {
	if !valid {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

// IsNotFound reports whether err is or wraps ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
