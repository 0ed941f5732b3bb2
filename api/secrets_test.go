package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
)

// withSecretKey gives the server a secret key.
func withSecretKey(t *testing.T) envOption {
	box, err := secret.New(bytes.Repeat([]byte{3}, secret.KeySize))
	require.NoError(t, err)
	return func(d *Deps) { d.Secrets = box }
}

func TestSecretRoutesWithoutAKeyAnswer409(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, r := range []struct{ method, path string }{
		{http.MethodPut, "/secret/API_TOKEN"},
		{http.MethodGet, "/secret"},
		{http.MethodDelete, "/secret/API_TOKEN"},
	} {
		var body any
		if r.method == http.MethodPut {
			body = map[string]string{"value": "abcdef"}
		}
		res := e.request(r.method, r.path, body)
		require.Equal(t, http.StatusConflict, res.Status, "%s %s: %s", r.method, r.path, res.Body)
		p := res.problem(t)
		assert.Contains(t, p.Detail, "ASTRO_SECRET_KEY", "%s %s", r.method, r.path)
		assert.Contains(t, p.Detail, "openssl rand -base64 32")
		assert.NotContains(t, string(res.Body), "abcdef")
	}
	list, err := e.raw.SecretList(context.Background())
	require.NoError(t, err)
	assert.Empty(t, list, "nothing stored")
}

func TestSecretPutListDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSecretKey(t))
	const value1, value2 = "first-Value-4e1c", "second-Value-8b2d"

	res := e.request(http.MethodPut, "/secret/API_TOKEN", map[string]string{"value": value1})
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	var created Secret
	res.decode(t, &created)
	assert.Equal(t, "API_TOKEN", created.Name)
	assert.NotContains(t, string(res.Body), value1)

	res = e.request(http.MethodPut, "/secret/API_TOKEN", map[string]string{"value": value2})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var updated Secret
	res.decode(t, &updated)
	assert.True(t, created.CreatedAt.Equal(updated.CreatedAt))

	require.Equal(t, http.StatusCreated, e.request(http.MethodPut, "/secret/DB_PASSWORD", map[string]string{"value": value1}).Status)

	res = e.request(http.MethodGet, "/secret", nil)
	require.Equal(t, http.StatusOK, res.Status)
	raw := string(res.Body)
	for _, v := range []string{value1, value2} {
		assert.NotContains(t, raw, v, "the listing never holds a value")
	}
	assert.NotContains(t, raw, "value")
	assert.NotContains(t, raw, "ciphertext")
	var list SecretList
	res.decode(t, &list)
	require.Len(t, list.Secrets, 2)
	assert.Equal(t, "API_TOKEN", list.Secrets[0].Name)
	assert.Equal(t, "DB_PASSWORD", list.Secrets[1].Name)

	// What is stored is ciphertext that opens to the latest value.
	sec, err := e.raw.SecretGet(context.Background(), "API_TOKEN")
	require.NoError(t, err)
	assert.NotContains(t, string(sec.Ciphertext), value2)
	got, err := secret.Lookup(context.Background(), e.raw, e.secrets(), "API_TOKEN")
	require.NoError(t, err)
	assert.Equal(t, value2, got)

	require.Equal(t, http.StatusNoContent, e.request(http.MethodDelete, "/secret/API_TOKEN", nil).Status)
	res = e.request(http.MethodDelete, "/secret/API_TOKEN", nil)
	require.Equal(t, http.StatusNotFound, res.Status)
	assert.Contains(t, res.problem(t).Detail, "API_TOKEN")
	res = e.request(http.MethodGet, "/secret", nil)
	res.decode(t, &list)
	require.Len(t, list.Secrets, 1)
	assert.NotContains(t, e.logs.String(), value1)
	assert.NotContains(t, e.logs.String(), value2)
}

// secrets returns the Box that withSecretKey installs.
func (e *testEnv) secrets() *secret.Box {
	box, _ := secret.New(bytes.Repeat([]byte{3}, secret.KeySize))
	return box
}

func TestSecretPutRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSecretKey(t))
	for _, tc := range []struct {
		name, path string
		body       any
		location   string
	}{
		{"short value", "/secret/A", map[string]string{"value": "abc"}, "body.value"},
		{"empty value", "/secret/A", map[string]string{"value": ""}, "body.value"},
		{"long value", "/secret/A", map[string]string{"value": strings.Repeat("v", MaxSecretValueBytes+1)}, "body.value"},
		{"NUL in value", "/secret/A", map[string]string{"value": "abc\x00def"}, "body.value"},
		{"missing value", "/secret/A", map[string]string{}, "body"},
		{"unknown field", "/secret/A", map[string]string{"value": "abcdef", "other": "x"}, "body.other"},
		{"name with a dash", "/secret/A-B", map[string]string{"value": "abcdef"}, "path.name"},
		{"name starting with a digit", "/secret/1A", map[string]string{"value": "abcdef"}, "path.name"},
		{"long name", "/secret/" + strings.Repeat("A", 101), map[string]string{"value": "abcdef"}, "path.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.request(http.MethodPut, tc.path, tc.body)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
			p := res.problem(t)
			assert.Contains(t, strings.Join(p.locations(), " "), tc.location, "%s", res.Body)
			if m, ok := tc.body.(map[string]string); ok && len(m["value"]) >= 3 && len(m["value"]) < 100 {
				assert.NotContains(t, string(res.Body), m["value"], "the value is never echoed")
			}
		})
	}
	res := e.request(http.MethodPut, "/secret/A", map[string]string{"value": strings.Repeat("v", MaxSecretValueBytes)})
	require.Equal(t, http.StatusCreated, res.Status, "64 KiB is accepted")
	list, err := e.raw.SecretList(context.Background())
	require.NoError(t, err)
	assert.Len(t, list, 1)
}

// secretPlan is a plan body whose step sends {{secret.NAME}} in a header.
func secretPlan(name, secretName string) map[string]any {
	doc := `{"steps":[{"name":"a","request":{"method":"GET","url":"https://x.example/",` +
		`"headers":{"Authorization":"Bearer {{secret.` + secretName + `}}"}}}]}`
	return map[string]any{"name": name, "document": json.RawMessage(doc)}
}

func TestPlanWithUnknownSecretIsRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSecretKey(t))
	res := e.request(http.MethodPost, "/plan", secretPlan("p", "API_TOKEN"))
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	p := res.problem(t)
	require.Len(t, p.Errors, 1)
	assert.Equal(t, "body.document.steps[0].request.headers.Authorization", p.Errors[0].Location)
	assert.Contains(t, p.Errors[0].Message, "secret API_TOKEN does not exist")
	assert.Zero(t, e.planCount())

	require.Equal(t, http.StatusCreated, e.request(http.MethodPut, "/secret/API_TOKEN", map[string]string{"value": "tok-value"}).Status)
	res = e.request(http.MethodPost, "/plan", secretPlan("p", "API_TOKEN"))
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	var pl Plan
	res.decode(t, &pl)

	// Updates are checked too.
	res = e.request(http.MethodPut, "/plan/"+pl.ID.String(), secretPlan("p", "OTHER"), "If-Match", `"1"`)
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	assert.Contains(t, res.problem(t).Errors[0].Message, "secret OTHER does not exist")
}

func TestPlanWithSecretWithoutAKeyIsRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	res := e.request(http.MethodPost, "/plan", secretPlan("p", "API_TOKEN"))
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	p := res.problem(t)
	require.Len(t, p.Errors, 1)
	assert.Contains(t, p.Errors[0].Message, "plans that use secrets need ASTRO_SECRET_KEY")
	assert.Zero(t, e.planCount())
}

// TestSecretPutAfterAKeyRotationAnswers409 is a server still running with
// the old key after `secrets rotate`: it must not store a secret under the
// old key, which no run could open after a restart with the new one.
func TestSecretPutAfterAKeyRotationAnswers409(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withSecretKey(t))
	ctx := context.Background()
	require.NoError(t, secret.CheckKey(ctx, e.raw, e.secrets()))
	next, err := secret.New(bytes.Repeat([]byte{4}, secret.KeySize))
	require.NoError(t, err)
	_, err = secret.Rotate(ctx, e.raw, e.secrets(), next)
	require.NoError(t, err)

	res := e.request(http.MethodPut, "/secret/API_TOKEN", map[string]string{"value": "late-value"})
	require.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
	assert.Contains(t, res.problem(t).Detail, "the secret key was rotated; restart with the new key")
	_, err = e.raw.SecretGet(ctx, "API_TOKEN")
	require.ErrorIs(t, err, storage.ErrNotFound, "nothing was stored under the old key")
}
