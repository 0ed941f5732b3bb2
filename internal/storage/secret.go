package storage

import (
	"context"
	"fmt"
	"regexp"
	"time"
)

// MaxSecrets is how many secrets a store holds at most: 1,000. SecretPut
// refuses to create more with ErrTooManySecrets. (On Postgres, creates
// that race at the limit may each pass it; SecretList still returns every
// secret.)
const MaxSecrets = 1000

// ErrTooManySecrets is a conflict where a new secret would pass
// MaxSecrets. errors.Is(err, ErrConflict) is also true.
var ErrTooManySecrets = fmt.Errorf("%w: too many secrets", ErrConflict)

// Secret is a named secret value, stored encrypted. The store never sees
// the value in clear: Ciphertext and Nonce are what package secret made
// of it. SecretList leaves them nil.
type Secret struct {
	Name       string
	Ciphertext []byte
	Nonce      []byte
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// SecretPutParams are the fields of a secret to create or replace.
type SecretPutParams struct {
	// Name matches ^[A-Za-z_][A-Za-z0-9_]*$ and is at most 100 bytes.
	Name       string
	Ciphertext []byte
	Nonce      []byte
}

// SecretKeyCheck is a known text encrypted under the current secret key,
// which tells at start-up whether the configured key is the one the stored
// secrets were encrypted with.
type SecretKeyCheck struct {
	Ciphertext []byte
	Nonce      []byte
	UpdatedAt  time.Time
}

// SecretStore persists encrypted secrets and the key check value.
type SecretStore interface {
	// SecretPut creates the secret or replaces its value, and reports
	// whether it created it. Returns ErrInvalidInput for a malformed name
	// and ErrTooManySecrets if creating it would pass MaxSecrets.
	SecretPut(ctx context.Context, p *SecretPutParams) (s *Secret, created bool, err error)
	// SecretGet returns one secret with its ciphertext. Returns
	// ErrNotFound if no secret has that name.
	SecretGet(ctx context.Context, name string) (*Secret, error)
	// SecretList returns every secret, ordered by name, with its times but
	// without its ciphertext. There are at most about MaxSecrets.
	SecretList(ctx context.Context) ([]*Secret, error)
	// SecretDelete deletes a secret. Returns ErrNotFound if no secret has
	// that name.
	SecretDelete(ctx context.Context, name string) error
	// SecretKeyCheckGet returns the key check value. Returns ErrNotFound if
	// none was written yet.
	SecretKeyCheckGet(ctx context.Context) (*SecretKeyCheck, error)
	// SecretKeyCheckSet writes the key check value, replacing any.
	SecretKeyCheckSet(ctx context.Context, ciphertext, nonce []byte) error
	// SecretKeyCheckCreate writes the key check value unless one exists,
	// and reports whether it wrote it. Of two first starts that race, one
	// writes and the other keeps what the first wrote.
	SecretKeyCheckCreate(ctx context.Context, ciphertext, nonce []byte) (created bool, err error)
	// SecretKeyCheckGetForUpdate returns the key check value and, inside
	// InTx, keeps every other transaction from reading it with
	// SecretKeyCheckGetForShare or changing it until this one ends (on
	// Postgres a row lock; on SQLite the one writer serialises write
	// transactions). A key rotation takes it first. Returns ErrNotFound if
	// none was written yet.
	SecretKeyCheckGetForUpdate(ctx context.Context) (*SecretKeyCheck, error)
	// SecretKeyCheckGetForShare returns the key check value and, inside
	// InTx, keeps a rotation (SecretKeyCheckGetForUpdate) from changing it
	// until this transaction ends; a secret write takes it to check that
	// its key is still the current one. Returns ErrNotFound if none was
	// written yet.
	SecretKeyCheckGetForShare(ctx context.Context) (*SecretKeyCheck, error)
}

// SecretListLimit is the most rows an adapter's SecretList reads: well
// past MaxSecrets, which only racing creates on Postgres can pass, so that
// no secret is left out (a rotation must see them all), yet bounded.
const SecretListLimit = 2 * MaxSecrets

// secretName is the form of a secret's name.
var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// MaxSecretNameLength is the longest secret name, in bytes: 100.
const MaxSecretNameLength = 100

// ValidSecretName reports whether name can name a secret: letters, digits
// and underscores, not starting with a digit, at most 100 bytes.
func ValidSecretName(name string) bool {
	return len(name) <= MaxSecretNameLength && secretName.MatchString(name)
}

// Validate checks the name and that the encrypted value is not empty.
// Returns an error wrapping ErrInvalidInput.
func (p *SecretPutParams) Validate() error {
	if !ValidSecretName(p.Name) {
		return fmt.Errorf("%w: malformed secret name", ErrInvalidInput)
	}
	return checkSealed(p.Ciphertext, p.Nonce)
}

// CheckKeyCheck checks a key check value before it is written. Returns an
// error wrapping ErrInvalidInput if it is empty.
func CheckKeyCheck(ciphertext, nonce []byte) error { return checkSealed(ciphertext, nonce) }

func checkSealed(ciphertext, nonce []byte) error {
	if len(ciphertext) == 0 || len(nonce) == 0 {
		return fmt.Errorf("%w: empty ciphertext or nonce", ErrInvalidInput)
	}
	return nil
}
