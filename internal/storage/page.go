package storage

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

const (
	// DefaultPageLimit is the page size used when a listing asks for none.
	DefaultPageLimit = 50
	// MaxPageLimit is the largest page size a listing returns.
	MaxPageLimit = 200
)

// PageLimit returns n filled in with DefaultPageLimit and capped at
// MaxPageLimit.
func PageLimit(n int) int {
	switch {
	case n <= 0:
		return DefaultPageLimit
	case n > MaxPageLimit:
		return MaxPageLimit
	default:
		return n
	}
}

// The listings that issue cursors. A cursor names its listing, so that one
// listing's cursor is refused by another.
const (
	ListPlans      = "plans"
	ListExecutions = "executions"
	ListJobs       = "jobs"
	// ListEnvironments is keyed by name, in Cursor.ID.
	ListEnvironments = "environments"
	ListSchedules    = "schedules"
	ListChannels     = "channels"
	ListAlertRules   = "alert-rules"
	// ListAlertDeliveries is newest first, keyed by the attempt's ID.
	ListAlertDeliveries = "alert-deliveries"
	// ListOverview is the overview's plans, keyed by plan ID.
	ListOverview = "overview"
)

// Cursor is the decoded position of a keyset page: the listing and the sort
// key of the last row returned. Exactly one of ID and Seq is used by a
// given listing.
type Cursor struct {
	// List names the listing that issued the cursor.
	List string `json:"l,omitempty"`
	// ID is a text key: a UUID, or a name.
	ID string `json:"i,omitempty"`
	// Seq is an integer key.
	Seq int64 `json:"s,omitempty"`
}

// EncodeCursor returns the opaque form of c.
func EncodeCursor(c Cursor) string {
	b, err := json.Marshal(c)
	if err != nil {
		// A struct of a string and an int always marshals.
		panic(fmt.Sprintf("encode cursor: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses an opaque cursor. The empty string is the first page.
// Returns ErrInvalidInput for anything EncodeCursor did not produce.
func DecodeCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	if len(s) > 256 {
		return c, fmt.Errorf("%w: cursor too long", ErrInvalidInput)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("%w: malformed cursor", ErrInvalidInput)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return Cursor{}, fmt.Errorf("%w: malformed cursor", ErrInvalidInput)
	}
	if c.ID == "" && c.Seq <= 0 {
		return Cursor{}, fmt.Errorf("%w: malformed cursor", ErrInvalidInput)
	}
	return c, nil
}

// DecodeUUIDCursor parses an opaque cursor of the named listing whose key is
// a UUID. The empty string gives uuid.Nil, meaning the first page. Returns
// ErrInvalidInput for a malformed cursor or one of another listing.
func DecodeUUIDCursor(s, list string) (uuid.UUID, error) {
	c, err := DecodeCursor(s)
	if err != nil || s == "" {
		return uuid.Nil, err
	}
	id, err := uuid.Parse(c.ID)
	if err != nil || c.Seq != 0 || c.List != list {
		return uuid.Nil, fmt.Errorf("%w: malformed cursor", ErrInvalidInput)
	}
	return id, nil
}

// DecodeKeyCursor parses an opaque cursor of the named listing whose key is
// text, such as a name. The empty string gives "", meaning the first page.
// Returns ErrInvalidInput for a malformed cursor or one of another listing.
func DecodeKeyCursor(s, list string) (string, error) {
	c, err := DecodeCursor(s)
	if err != nil || s == "" {
		return "", err
	}
	if c.ID == "" || c.Seq != 0 || c.List != list || strings.IndexByte(c.ID, 0) >= 0 {
		return "", fmt.Errorf("%w: malformed cursor", ErrInvalidInput)
	}
	return c.ID, nil
}

// DecodeSeqCursor parses an opaque cursor of the named listing whose key is
// an integer. The empty string gives 0, meaning the first page. Returns
// ErrInvalidInput for a malformed cursor or one of another listing.
func DecodeSeqCursor(s, list string) (int64, error) {
	c, err := DecodeCursor(s)
	if err != nil || s == "" {
		return 0, err
	}
	if c.ID != "" || c.List != list {
		return 0, fmt.Errorf("%w: malformed cursor", ErrInvalidInput)
	}
	return c.Seq, nil
}

// PageOf turns the rows of a keyset query that asked for limit+1 rows into
// one page: the first limit rows, converted, and the cursor of the last of
// them when a further row shows that another page follows.
func PageOf[R, T any](rows []R, limit int, convert func(R) T, key func(R) Cursor) (items []T, next string) {
	items = make([]T, 0, min(len(rows), limit))
	for i, r := range rows {
		if i == limit {
			return items, EncodeCursor(key(rows[i-1]))
		}
		items = append(items, convert(r))
	}
	return items, ""
}
