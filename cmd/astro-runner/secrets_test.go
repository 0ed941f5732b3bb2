package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

func TestSecretsRotate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "astro.db")
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	oldBox, err := secret.New(oldKey)
	require.NoError(t, err)
	newBox, err := secret.New(newKey)
	require.NoError(t, err)

	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: dbPath})
	require.NoError(t, err)
	require.NoError(t, secret.CheckKey(ctx, st, oldBox))
	values := map[string]string{"A": "alpha-secret", "B": "beta-secret"}
	for name, v := range values {
		ct, nonce, err := oldBox.Seal(name, []byte(v))
		require.NoError(t, err)
		_, _, err = st.SecretPut(ctx, &storage.SecretPutParams{Name: name, Ciphertext: ct, Nonce: nonce})
		require.NoError(t, err)
	}
	require.NoError(t, st.Close())

	newKeyFile := filepath.Join(dir, "new.key")
	require.NoError(t, os.WriteFile(newKeyFile, []byte(base64.StdEncoding.EncodeToString(newKey)+"\n"), 0o600))
	run := func(key []byte, args ...string) (int, string, string) {
		env := map[string]string{
			"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": dbPath,
			"ASTRO_SECRET_KEY": base64.StdEncoding.EncodeToString(key),
		}
		var stdout, stderr bytes.Buffer
		code := execute(ctx, args, func(n string) (string, bool) { v, ok := env[n]; return v, ok }, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, _, stderr := run(oldKey, "secrets", "rotate")
	assert.NotZero(t, code)
	assert.Contains(t, stderr, "--new-key-file")

	code, _, stderr = run(newKey, "secrets", "rotate", "--new-key-file", newKeyFile)
	assert.NotZero(t, code, "a wrong current key changes nothing")
	assert.Contains(t, stderr, "does not match")

	code, stdout, stderr := run(oldKey, "secrets", "rotate", "--new-key-file", newKeyFile)
	require.Zero(t, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "re-encrypted 2 secrets")

	st, err = sqlitestore.Open(ctx, sqlitestore.Config{Path: dbPath})
	require.NoError(t, err)
	defer st.Close()
	require.ErrorIs(t, secret.CheckKey(ctx, st, oldBox), secret.ErrWrongKey, "the old key stops working")
	require.NoError(t, secret.CheckKey(ctx, st, newBox))
	for name, v := range values {
		got, err := secret.Lookup(ctx, st, newBox, name)
		require.NoError(t, err)
		assert.Equal(t, v, got)
	}
}

func TestOpenSecretBoxRefusesAWrongKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	defer st.Close()
	cfg := mustLoad(t, map[string]string{"ASTRO_SECRET_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))})
	box, err := openSecretBox(ctx, cfg, st, discardLogger())
	require.NoError(t, err)
	require.NotNil(t, box, "first start records the key")

	cfg = mustLoad(t, map[string]string{"ASTRO_SECRET_KEY": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{2}, 32))})
	_, err = openSecretBox(ctx, cfg, st, discardLogger())
	require.ErrorContains(t, err, "ASTRO_SECRET_KEY does not match the key the stored secrets were encrypted with")

	box, err = openSecretBox(ctx, mustLoad(t, nil), st, discardLogger())
	require.NoError(t, err, "without a key the server starts")
	assert.Nil(t, box)
}

// mustLoad loads the configuration from env.
func mustLoad(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(func(n string) (string, bool) { v, ok := env[n]; return v, ok })
	require.NoError(t, err)
	return cfg
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
