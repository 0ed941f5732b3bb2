package planjob

import (
	"context"
	"errors"
	"fmt"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// secretProblem is why a run cannot have the secrets its plan uses. Its
// text names secrets, never their values, and becomes the execution's
// error.
type secretProblem struct{ msg string }

func (p *secretProblem) Error() string { return p.msg }

// storedSecrets reads and decrypts the secrets that doc references. It
// returns a *secretProblem if one is missing, does not open, or there is no
// key; another attempt would fare no better. Other errors are the store's.
func (h *Handler) storedSecrets(ctx context.Context, doc *plan.Document) (map[string]string, error) {
	names := doc.SecretNames()
	if len(names) == 0 {
		return nil, nil
	}
	if h.SecretBox == nil {
		return nil, &secretProblem{"the plan uses secrets, but this worker has no secret key: set ASTRO_SECRET_KEY " +
			"or ASTRO_SECRET_KEY_FILE to the key the secrets were stored with"}
	}
	values := make(map[string]string, len(names))
	for _, name := range names {
		value, err := secret.Lookup(ctx, h.Store, h.SecretBox, name)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			return nil, &secretProblem{fmt.Sprintf("secret %s is missing: it was deleted after the plan was saved; "+
				"store it again with PUT /secret/%s", name, name)}
		case errors.Is(err, secret.ErrDecrypt):
			return nil, &secretProblem{fmt.Sprintf("secret %s could not be decrypted with this worker's key", name)}
		case err != nil:
			return nil, err
		}
		values[name] = value
	}
	return values, nil
}
