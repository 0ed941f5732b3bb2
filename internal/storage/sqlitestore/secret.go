package sqlitestore

import (
	"context"
	"fmt"

	"github.com/astro-runner/astro-runner/gen/sqlite"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// SecretPut creates or replaces a secret. See storage.SecretStore.
func (s *Store) SecretPut(ctx context.Context, p *storage.SecretPutParams) (*storage.Secret, bool, error) {
	if err := p.Validate(); err != nil {
		return nil, false, fmt.Errorf("put secret: %w", err)
	}
	// Insert, or else update; a delete between the two makes the insert
	// worth another try.
	for range 2 {
		row, err := s.q.SecretCreate(ctx, s.db, &sqlite.SecretCreateParams{
			Name: p.Name, Ciphertext: p.Ciphertext, Nonce: p.Nonce, Now: now(), MaxSecrets: storage.MaxSecrets,
		})
		if err = interpretError(err); err == nil {
			return secretFromRow(row), true, nil
		} else if !storage.IsNotFound(err) {
			return nil, false, fmt.Errorf("create secret %q: %w", p.Name, err)
		}
		row, err = s.q.SecretUpdate(ctx, s.db, &sqlite.SecretUpdateParams{
			Name: p.Name, Ciphertext: p.Ciphertext, Nonce: p.Nonce, Now: now(),
		})
		if err = interpretError(err); err == nil {
			return secretFromRow(row), false, nil
		} else if !storage.IsNotFound(err) {
			return nil, false, fmt.Errorf("update secret %q: %w", p.Name, err)
		}
	}
	return nil, false, fmt.Errorf("create secret %q: %w", p.Name, storage.ErrTooManySecrets)
}

// SecretGet returns one secret. See storage.SecretStore.
func (s *Store) SecretGet(ctx context.Context, name string) (*storage.Secret, error) {
	row, err := s.q.SecretGet(ctx, s.read, name)
	if err != nil {
		return nil, fmt.Errorf("get secret %q: %w", name, interpretError(err))
	}
	return secretFromRow(row), nil
}

// SecretList returns every secret without its value. See
// storage.SecretStore.
func (s *Store) SecretList(ctx context.Context) ([]*storage.Secret, error) {
	rows, err := s.q.SecretList(ctx, s.read, storage.SecretListLimit)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", interpretError(err))
	}
	out := make([]*storage.Secret, len(rows))
	for i, r := range rows {
		out[i] = &storage.Secret{Name: r.Name, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt)}
	}
	return out, nil
}

// SecretDelete deletes a secret. See storage.SecretStore.
func (s *Store) SecretDelete(ctx context.Context, name string) error {
	n, err := s.q.SecretDelete(ctx, s.db, name)
	if err != nil {
		return fmt.Errorf("delete secret %q: %w", name, interpretError(err))
	}
	if n == 0 {
		return fmt.Errorf("delete secret %q: %w", name, storage.ErrNotFound)
	}
	return nil
}

// SecretKeyCheckGet returns the key check value. See storage.SecretStore.
func (s *Store) SecretKeyCheckGet(ctx context.Context) (*storage.SecretKeyCheck, error) {
	row, err := s.q.SecretKeyCheckGet(ctx, s.read)
	if err != nil {
		return nil, fmt.Errorf("get secret key check: %w", interpretError(err))
	}
	return &storage.SecretKeyCheck{Ciphertext: row.Ciphertext, Nonce: row.Nonce, UpdatedAt: fromMicros(row.UpdatedAt)}, nil
}

// SecretKeyCheckSet writes the key check value. See storage.SecretStore.
func (s *Store) SecretKeyCheckSet(ctx context.Context, ciphertext, nonce []byte) error {
	if err := storage.CheckKeyCheck(ciphertext, nonce); err != nil {
		return fmt.Errorf("set secret key check: %w", err)
	}
	err := s.q.SecretKeyCheckSet(ctx, s.db, &sqlite.SecretKeyCheckSetParams{Ciphertext: ciphertext, Nonce: nonce, Now: now()})
	if err != nil {
		return fmt.Errorf("set secret key check: %w", interpretError(err))
	}
	return nil
}

// SecretKeyCheckCreate writes the key check value unless one exists. See
// storage.SecretStore.
func (s *Store) SecretKeyCheckCreate(ctx context.Context, ciphertext, nonce []byte) (bool, error) {
	if err := storage.CheckKeyCheck(ciphertext, nonce); err != nil {
		return false, fmt.Errorf("create secret key check: %w", err)
	}
	n, err := s.q.SecretKeyCheckCreate(ctx, s.db, &sqlite.SecretKeyCheckCreateParams{Ciphertext: ciphertext, Nonce: nonce, Now: now()})
	if err != nil {
		return false, fmt.Errorf("create secret key check: %w", interpretError(err))
	}
	return n > 0, nil
}

// SecretKeyCheckGetForUpdate returns the key check value, locked against
// every other reader that locks it. See storage.SecretStore.
func (s *Store) SecretKeyCheckGetForUpdate(ctx context.Context) (*storage.SecretKeyCheck, error) {
	row, err := s.q.SecretKeyCheckGetForUpdate(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("lock secret key check: %w", interpretError(err))
	}
	return &storage.SecretKeyCheck{Ciphertext: row.Ciphertext, Nonce: row.Nonce, UpdatedAt: fromMicros(row.UpdatedAt)}, nil
}

// SecretKeyCheckGetForShare returns the key check value, locked against
// changes. See storage.SecretStore.
func (s *Store) SecretKeyCheckGetForShare(ctx context.Context) (*storage.SecretKeyCheck, error) {
	row, err := s.q.SecretKeyCheckGetForShare(ctx, s.db)
	if err != nil {
		return nil, fmt.Errorf("lock secret key check: %w", interpretError(err))
	}
	return &storage.SecretKeyCheck{Ciphertext: row.Ciphertext, Nonce: row.Nonce, UpdatedAt: fromMicros(row.UpdatedAt)}, nil
}

func secretFromRow(r *sqlite.Secret) *storage.Secret {
	return &storage.Secret{
		Name: r.Name, Ciphertext: r.Ciphertext, Nonce: r.Nonce, CreatedAt: fromMicros(r.CreatedAt), UpdatedAt: fromMicros(r.UpdatedAt),
	}
}
