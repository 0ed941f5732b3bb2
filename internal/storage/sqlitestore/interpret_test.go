package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestInterpretError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: passed through unchanged.
	}{
		{"no rows", sql.ErrNoRows, storage.ErrNotFound},
		{"unique", sqlite3.CONSTRAINT_UNIQUE, storage.ErrConflict},
		{"check", sqlite3.CONSTRAINT_CHECK, storage.ErrInvalidInput},
		{"too big", sqlite3.TOOBIG, storage.ErrInvalidInput},
		{"busy", sqlite3.BUSY, storage.ErrUnavailable},
		// An interrupted statement: the writer's statement or transaction
		// bound ran out.
		{"interrupted", fmt.Errorf("exec: %w", sqlite3.INTERRUPT), storage.ErrUnavailable},
		{"driver panic", fmt.Errorf("%w: out of memory", errDriverPanic), storage.ErrUnavailable},
		{"connection done", sql.ErrConnDone, storage.ErrUnavailable},
		{"transaction done", fmt.Errorf("commit: %w", sql.ErrTxDone), storage.ErrUnavailable},
		{"bad connection", driver.ErrBadConn, storage.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, nil},
		{"other", errors.New("something else"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := interpretError(tc.err)
			if tc.want == nil {
				assert.Equal(t, tc.err, got)
				return
			}
			assert.ErrorIs(t, got, tc.want)
			if tc.want != storage.ErrNotFound {
				assert.ErrorIs(t, got, tc.err, "the original error stays in the chain")
			}
		})
	}
}
