package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// Limits on secret values.
const (
	// MinSecretValueBytes is the shortest secret value: 4 bytes. Shorter
	// values could not be redacted from results by value without garbling
	// unrelated text.
	MinSecretValueBytes = 4
	// MaxSecretValueBytes is the longest secret value: 64 KiB.
	MaxSecretValueBytes = 64 << 10
	// maxSecretBodyBytes caps the request body of put-secret: a value of
	// 64 KiB written with JSON escapes (\u0001 takes 6 bytes) fits.
	maxSecretBodyBytes = 6*MaxSecretValueBytes + 1024
)

// msgNoSecretKey answers secret routes on a server without a key.
const msgNoSecretKey = "secrets are disabled: this server has no secret key. Set ASTRO_SECRET_KEY to 32 random bytes " +
	"in base64 (for example the output of `openssl rand -base64 32`), or ASTRO_SECRET_KEY_FILE to a file holding it, " +
	"and restart the server. Keep the key: stored secrets cannot be read without it"

// msgKeyRotated answers put-secret on a server whose key is no longer the
// one the stored secrets are encrypted with.
const msgKeyRotated = "the secret key was rotated; restart with the new key: this server still has the old one, " +
	"and a secret stored under it could not be read after a restart"

// msgPlanNeedsKey is the message of a plan reference to a secret on a
// server without a key.
const msgPlanNeedsKey = "plans that use secrets need ASTRO_SECRET_KEY: this server has no secret key"

// Secret describes a stored secret. Its value is never returned.
type Secret struct {
	Name      string    `json:"name" doc:"Name of the secret, used in plans as {{secret.NAME}}." example:"API_TOKEN"`
	CreatedAt time.Time `json:"created_at" doc:"When the secret was first stored." example:"2026-01-02T15:04:05Z"`
	UpdatedAt time.Time `json:"updated_at" doc:"When the secret's value was last replaced (or re-encrypted by a key rotation)." example:"2026-01-02T15:04:05Z"`
}

// SecretList lists the stored secrets.
type SecretList struct {
	Secrets []Secret `json:"secrets" nullable:"false" doc:"Every stored secret, ordered by name, without values." example:"[]"`
}

// SecretBody is the body of put-secret.
type SecretBody struct {
	Value string `json:"value" required:"true" doc:"The secret value: 4 bytes to 64 KiB of UTF-8 text without NUL characters. It is stored encrypted and never returned." example:"s3cr3t-t0ken"`
}

type putSecretInput struct {
	Name string `path:"name" minLength:"1" maxLength:"100" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" doc:"Name of the secret: letters, digits and underscores, not starting with a digit, at most 100 characters." example:"API_TOKEN"`
	Body SecretBody
}

type putSecretOutput struct {
	Status int
	Body   Secret
}

type listSecretsOutput struct {
	Body SecretList
}

type deleteSecretInput struct {
	Name string `path:"name" minLength:"1" maxLength:"100" pattern:"^[A-Za-z_][A-Za-z0-9_]*$" doc:"Name of the secret: letters, digits and underscores, not starting with a digit, at most 100 characters." example:"API_TOKEN"`
}

// registerSecrets adds the secret operations.
func (s *server) registerSecrets(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "put-secret",
		Method:      http.MethodPut,
		Path:        "/secret/{name}",
		Summary:     "Store a secret",
		Description: "Creates the secret (201) or replaces its value (200). The value is encrypted with AES-256-GCM under the " +
			"server's key (ASTRO_SECRET_KEY) before it is stored, is never returned by any route, and is redacted by value " +
			"from every result of a run that uses it. Plans use it as {{secret.NAME}} in URLs, headers and bodies. " +
			"A server holds at most 1,000 secrets (409 past that). Without a key configured the answer is 409, and also when the key was " +
			"rotated since this server started (restart it with the new key).",
		Tags:         []string{tagSecrets},
		Security:     secured,
		MaxBodyBytes: maxSecretBodyBytes,
		Errors: []int{http.StatusUnauthorized, http.StatusConflict, http.StatusRequestEntityTooLarge,
			http.StatusServiceUnavailable},
	}, s.putSecret)

	huma.Register(api, huma.Operation{
		OperationID: "list-secrets",
		Method:      http.MethodGet,
		Path:        "/secret",
		Summary:     "List secrets",
		Description: "Returns every stored secret's name and times, ordered by name, never its value. Without a key configured the answer is 409.",
		Tags:        []string{tagSecrets},
		Security:    secured,
		Errors:      []int{http.StatusUnauthorized, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.listSecrets)

	huma.Register(api, huma.Operation{
		OperationID: "delete-secret",
		Method:      http.MethodDelete,
		Path:        "/secret/{name}",
		Summary:     "Delete a secret",
		Description: "Deletes a secret. Plans that still use it keep being accepted as saved, but their executions end in error " +
			"saying which secret is missing. Without a key configured the answer is 409.",
		Tags:          []string{tagSecrets},
		Security:      secured,
		DefaultStatus: http.StatusNoContent,
		Errors:        []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusConflict, http.StatusServiceUnavailable},
	}, s.deleteSecret)
}

// needKey answers 409 when the server has no secret key.
func (s *server) needKey() error {
	if s.deps.Secrets == nil {
		return huma.Error409Conflict(msgNoSecretKey)
	}
	return nil
}

// checkSecretValue checks a value's size and characters. Its errors never
// echo the value.
func checkSecretValue(value string) error {
	msg := ""
	switch {
	case len(value) < MinSecretValueBytes:
		msg = fmt.Sprintf("must be at least %d bytes, so that it can be redacted from results by value", MinSecretValueBytes)
	case len(value) > MaxSecretValueBytes:
		msg = fmt.Sprintf("must be at most %s, got %d bytes", plan.FormatSize(MaxSecretValueBytes), len(value))
	case strings.ContainsRune(value, 0):
		msg = "must not contain NUL characters"
	default:
		return nil
	}
	return huma.Error422UnprocessableEntity("validation failed", &huma.ErrorDetail{Location: "body.value", Message: msg})
}

func (s *server) putSecret(ctx context.Context, in *putSecretInput) (*putSecretOutput, error) {
	if err := s.needKey(); err != nil {
		return nil, err
	}
	if err := checkSecretValue(in.Body.Value); err != nil {
		return nil, err
	}
	sec, created, err := secret.Put(ctx, s.deps.Store, s.deps.Secrets, in.Name, in.Body.Value)
	if errors.Is(err, secret.ErrKeyRotated) {
		return nil, huma.Error409Conflict(msgKeyRotated)
	}
	if err != nil {
		return nil, s.httpError(ctx, explain(err, details{
			Conflict: fmt.Sprintf("a server holds at most %d secrets: delete one first", storage.MaxSecrets),
			Invalid:  "invalid secret name", InvalidLocation: "path.name", InvalidValue: in.Name,
		}))
	}
	out := &putSecretOutput{Status: http.StatusOK, Body: secretFromStorage(sec)}
	if created {
		out.Status = http.StatusCreated
	}
	return out, nil
}

func (s *server) listSecrets(ctx context.Context, _ *struct{}) (*listSecretsOutput, error) {
	if err := s.needKey(); err != nil {
		return nil, err
	}
	list, err := s.deps.Store.SecretList(ctx)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	out := &listSecretsOutput{Body: SecretList{Secrets: make([]Secret, 0, len(list))}}
	for _, sec := range list {
		out.Body.Secrets = append(out.Body.Secrets, secretFromStorage(sec))
	}
	return out, nil
}

func (s *server) deleteSecret(ctx context.Context, in *deleteSecretInput) (*struct{}, error) {
	if err := s.needKey(); err != nil {
		return nil, err
	}
	if err := s.deps.Store.SecretDelete(ctx, in.Name); err != nil {
		return nil, s.httpError(ctx, explain(err, details{NotFound: fmt.Sprintf("no secret is named %s", in.Name)}))
	}
	return nil, nil
}

func secretFromStorage(sec *storage.Secret) Secret {
	return Secret{Name: sec.Name, CreatedAt: sec.CreatedAt, UpdatedAt: sec.UpdatedAt}
}

// secretCheck returns the CheckSecretFunc that saving doc needs: nil when
// doc uses no secret; otherwise one that refuses every secret on a server
// without a key, and unknown secrets on one with a key.
func (s *server) secretCheck(ctx context.Context, doc *plan.Document) (func(string) error, error) {
	if len(doc.SecretNames()) == 0 {
		return nil, nil
	}
	if s.deps.Secrets == nil {
		return func(string) error { return fmt.Errorf("%s", msgPlanNeedsKey) }, nil
	}
	list, err := s.deps.Store.SecretList(ctx)
	if err != nil {
		return nil, s.httpError(ctx, err)
	}
	known := make(map[string]bool, len(list))
	for _, sec := range list {
		known[sec.Name] = true
	}
	return func(name string) error {
		if known[name] {
			return nil
		}
		return fmt.Errorf("secret %s does not exist; store it first with PUT /secret/%s", name, name)
	}, nil
}

// writeOnlyBodies are the operations whose request bodies hold write-only
// values.
var writeOnlyBodies = []string{"put-secret", "create-channel", "update-channel"}

// hideSecretBody drops the echoed values from the problems of the
// operations whose bodies hold write-only values (put-secret, and
// create-channel and update-channel with their secret, header values and
// Slack URL): Huma's validation errors echo the offending part of the
// body, which may be the whole body, value and all.
func hideSecretBody(ctx huma.Context, _ string, v any) (any, error) {
	em, ok := v.(*huma.ErrorModel)
	if !ok || ctx.Operation() == nil || !slices.Contains(writeOnlyBodies, ctx.Operation().OperationID) {
		return v, nil
	}
	for _, d := range em.Errors {
		if d != nil && strings.HasPrefix(d.Location, "body") {
			d.Value = nil
		}
	}
	return em, nil
}
