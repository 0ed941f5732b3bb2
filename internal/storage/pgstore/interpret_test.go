package pgstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/puddle/v2"
	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestInterpretError(t *testing.T) {
	t.Parallel()
	pgErr := func(code string) error {
		return fmt.Errorf("exec: %w", &pgconn.PgError{Code: code, Message: "test"})
	}
	for _, tc := range []struct {
		name string
		err  error
		want error // nil: passed through unchanged.
	}{
		{"no rows", pgx.ErrNoRows, storage.ErrNotFound},
		{"unique", pgErr(codeUniqueViolation), storage.ErrConflict},
		{"foreign key", pgErr(codeForeignKeyViolation), storage.ErrReferenced},
		{"NUL in text", pgErr(codeNotInRepertoire), storage.ErrInvalidInput},
		{"admin shutdown", pgErr("57P01"), storage.ErrUnavailable},
		{"connection failure", pgErr("08006"), storage.ErrUnavailable},
		// A primary that became a standby (failover) refuses writes.
		{"read-only transaction", pgErr("25006"), storage.ErrUnavailable},
		{"serialization failure", pgErr("40001"), storage.ErrUnavailable},
		{"deadlock", pgErr("40P01"), storage.ErrUnavailable},
		{"closed pool", fmt.Errorf("acquire: %w", puddle.ErrClosedPool), storage.ErrUnavailable},
		{"deadline", context.DeadlineExceeded, nil},
		{"other server error", pgErr("42601"), nil},
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
