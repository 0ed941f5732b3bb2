package plan_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
)

func TestSecretReferences(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		text string
		want []string
		ok   bool
	}{
		{"Bearer {{secret.API_TOKEN}}", []string{"secret.API_TOKEN"}, true},
		{"{{ secret._x1 }}/{{env.HOME}}/{{v}}", []string{"secret._x1", "env.HOME", "v"}, true},
		{"{{secret.}}", nil, false},
		{"{{secret.1A}}", nil, false},
		{"{{secret.A-B}}", nil, false},
		{"{{secret.env.A}}", nil, false},
		{"{{env.secret.A}}", nil, false},
		{"{{secrets.A}}", nil, false},
	} {
		got, err := plan.References(tc.text)
		if !tc.ok {
			assert.ErrorIs(t, err, plan.ErrInvalidReference, "%q", tc.text)
			continue
		}
		require.NoError(t, err, "%q", tc.text)
		assert.Equal(t, tc.want, got, "%q", tc.text)
	}
}

func TestExpandSecret(t *testing.T) {
	t.Parallel()
	got, err := plan.Expand("Bearer {{secret.TOK}}", func(name string) (string, bool) {
		return map[string]string{"secret.TOK": "abc"}[name], name == "secret.TOK"
	}, 100)
	require.NoError(t, err)
	assert.Equal(t, "Bearer abc", got)
	_, err = plan.Expand("{{secret.TOK}}", func(string) (string, bool) { return "0123456789", true }, 5)
	require.ErrorIs(t, err, plan.ErrTooLarge, "secret values count against the expanded-size limits")
}

// secretDoc uses three secrets: in a URL, a header and a body.
func secretDoc() *plan.Document {
	return &plan.Document{Steps: []plan.Step{{
		Name: "s",
		Request: plan.Request{
			Method:  "POST",
			URL:     "https://example.com/{{secret.PATH_KEY}}",
			Headers: map[string]string{"Authorization": "Bearer {{secret.TOKEN}}"},
			Body:    plan.Body(`{"k":"{{secret.BODY_KEY}}","t":"{{secret.TOKEN}}"}`),
		},
	}}}
}

func TestSecretNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"BODY_KEY", "PATH_KEY", "TOKEN"}, secretDoc().SecretNames())
	assert.Empty(t, validDoc().SecretNames())
}

func TestValidateChecksSecrets(t *testing.T) {
	t.Parallel()
	doc := secretDoc()
	require.NoError(t, doc.Validate(plan.ValidateOptions{}), "without a check every secret is accepted")

	known := map[string]bool{"TOKEN": true}
	err := doc.Validate(plan.ValidateOptions{CheckSecretFunc: func(name string) error {
		if known[name] {
			return nil
		}
		return errors.New("secret " + name + " does not exist")
	}})
	var ve *plan.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Len(t, ve.Errors, 2)
	assert.Equal(t, "document.steps[0].request.url", ve.Errors[0].Location)
	assert.Equal(t, "{{secret.PATH_KEY}}: secret PATH_KEY does not exist", ve.Errors[0].Message)
	assert.Equal(t, "secret.PATH_KEY", ve.Errors[0].Value)
	assert.Equal(t, "document.steps[0].request.body", ve.Errors[1].Location)
	assert.Contains(t, ve.Errors[1].Message, "BODY_KEY")
}
