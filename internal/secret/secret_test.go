package secret_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/secret"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// newBox returns a Box with a fresh random key.
func newBox(t *testing.T) *secret.Box {
	t.Helper()
	box, err := secret.New(bytes.Clone(randomKey()))
	require.NoError(t, err)
	return box
}

func randomKey() []byte {
	key := make([]byte, secret.KeySize)
	_, _ = rand.Read(key)
	return key
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	for _, value := range []string{"", "s3cr3t", strings.Repeat("x", 64<<10), "ünïcode ✓", "\xff\xfe"} {
		ct, nonce, err := box.Seal("API_TOKEN", []byte(value))
		require.NoError(t, err)
		assert.Len(t, nonce, 12)
		if len(value) >= 4 {
			assert.NotContains(t, string(ct), value, "the ciphertext does not hold the value")
		}
		got, err := box.Open("API_TOKEN", ct, nonce)
		require.NoError(t, err)
		assert.Equal(t, value, string(got))
	}
}

func TestSealUsesAFreshNonceEachTime(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	ct1, n1, err := box.Seal("A", []byte("same"))
	require.NoError(t, err)
	ct2, n2, err := box.Seal("A", []byte("same"))
	require.NoError(t, err)
	assert.NotEqual(t, n1, n2)
	assert.NotEqual(t, ct1, ct2)
}

func TestOpenRefuses(t *testing.T) {
	t.Parallel()
	box := newBox(t)
	ct, nonce, err := box.Seal("API_TOKEN", []byte("s3cr3t"))
	require.NoError(t, err)
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 1
		return b
	}
	for _, tc := range []struct {
		name      string
		box       *secret.Box
		secret    string
		ct, nonce []byte
	}{
		{"wrong key", newBox(t), "API_TOKEN", ct, nonce},
		{"another name (name is additional data)", box, "OTHER", ct, nonce},
		{"name differing in case", box, "api_token", ct, nonce},
		{"tampered ciphertext", box, "API_TOKEN", flip(ct, 0), nonce},
		{"tampered tag", box, "API_TOKEN", flip(ct, len(ct)-1), nonce},
		{"truncated ciphertext", box, "API_TOKEN", ct[:len(ct)-1], nonce},
		{"tampered nonce", box, "API_TOKEN", ct, flip(nonce, 3)},
		{"short nonce", box, "API_TOKEN", ct, nonce[:8]},
		{"empty", box, "API_TOKEN", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.box.Open(tc.secret, tc.ct, tc.nonce)
			require.ErrorIs(t, err, secret.ErrDecrypt)
			assert.NotContains(t, err.Error(), "s3cr3t")
		})
	}
}

func TestNewRefusesWrongKeySize(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 16, 24, 31, 33} {
		_, err := secret.New(make([]byte, n))
		assert.Error(t, err, "%d bytes", n)
	}
}

func TestParseKey(t *testing.T) {
	t.Parallel()
	key := randomKey()
	std := base64.StdEncoding.EncodeToString(key)
	for _, tc := range []struct {
		name, text string
		ok         bool
	}{
		{"padded base64", std, true},
		{"unpadded base64", base64.RawStdEncoding.EncodeToString(key), true},
		{"with a trailing newline", std + "\n", true},
		{"16 bytes", base64.StdEncoding.EncodeToString(key[:16]), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(bytes.Clone(key), 0)), false},
		{"not base64", "this is not base64!!", false},
		{"URL alphabet", strings.NewReplacer("+", "-", "/", "_").Replace(std) + "-_", false},
		{"empty", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := secret.ParseKey(tc.text)
			if !tc.ok {
				require.Error(t, err)
				if tc.text != "" {
					assert.NotContains(t, err.Error(), strings.TrimSpace(tc.text), "the error never quotes the key")
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, key, got)
		})
	}
}

func TestReadKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := randomKey()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	got, err := secret.ReadKeyFile(write("raw", key))
	require.NoError(t, err)
	assert.Equal(t, key, got, "32 raw bytes")

	got, err = secret.ReadKeyFile(write("b64", []byte(base64.StdEncoding.EncodeToString(key)+"\n")))
	require.NoError(t, err)
	assert.Equal(t, key, got, "base64 with a newline, as openssl rand -base64 32 writes it")

	_, err = secret.ReadKeyFile(write("short", key[:31]))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "32 raw bytes")

	_, err = secret.ReadKeyFile(filepath.Join(dir, "missing"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing")
}

// openStore returns a fresh in-memory store.
func openStore(t *testing.T) storage.Store {
	t.Helper()
	s, err := sqlitestore.Open(t.Context(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// put stores a secret sealed by box.
func put(t *testing.T, s storage.Store, box *secret.Box, name, value string) {
	t.Helper()
	ct, nonce, err := box.Seal(name, []byte(value))
	require.NoError(t, err)
	_, _, err = s.SecretPut(t.Context(), &storage.SecretPutParams{Name: name, Ciphertext: ct, Nonce: nonce})
	require.NoError(t, err)
}

func TestCheckKey(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	box := newBox(t)
	require.NoError(t, secret.CheckKey(t.Context(), s, box), "first start writes the check value")
	kc, err := s.SecretKeyCheckGet(t.Context())
	require.NoError(t, err)
	require.NoError(t, secret.CheckKey(t.Context(), s, box), "the same key passes")
	kc2, err := s.SecretKeyCheckGet(t.Context())
	require.NoError(t, err)
	assert.Equal(t, kc.Ciphertext, kc2.Ciphertext, "a passing check does not rewrite the value")

	require.ErrorIs(t, secret.CheckKey(t.Context(), s, newBox(t)), secret.ErrWrongKey)
}

func TestLookup(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	box := newBox(t)
	put(t, s, box, "TOKEN", "tok-value")
	got, err := secret.Lookup(t.Context(), s, box, "TOKEN")
	require.NoError(t, err)
	assert.Equal(t, "tok-value", got)
	_, err = secret.Lookup(t.Context(), s, box, "MISSING")
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = secret.Lookup(t.Context(), s, newBox(t), "TOKEN")
	require.ErrorIs(t, err, secret.ErrDecrypt)
}

func TestRotate(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	old, next := newBox(t), newBox(t)
	require.NoError(t, secret.CheckKey(t.Context(), s, old))
	values := map[string]string{"A": "alpha-value", "B": "beta-value", "C": ""}
	for name, v := range values {
		put(t, s, old, name, v)
	}

	_, err := secret.Rotate(t.Context(), s, newBox(t), next)
	require.ErrorIs(t, err, secret.ErrWrongKey, "a wrong current key changes nothing")
	require.NoError(t, secret.CheckKey(t.Context(), s, old))

	n, err := secret.Rotate(t.Context(), s, old, next)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	require.ErrorIs(t, secret.CheckKey(t.Context(), s, old), secret.ErrWrongKey, "the old key stops working")
	require.NoError(t, secret.CheckKey(t.Context(), s, next), "the new key works")
	for name, v := range values {
		got, err := secret.Lookup(t.Context(), s, next, name)
		require.NoError(t, err)
		assert.Equal(t, v, got, "value of %s intact", name)
		_, err = secret.Lookup(t.Context(), s, old, name)
		require.ErrorIs(t, err, secret.ErrDecrypt)
	}
}

func TestRotateChangesNothingIfAValueDoesNotOpen(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	old, next := newBox(t), newBox(t)
	put(t, s, old, "GOOD", "good-value")
	put(t, s, newBox(t), "ROGUE", "sealed under another key")
	_, err := secret.Rotate(t.Context(), s, old, next)
	require.ErrorIs(t, err, secret.ErrDecrypt)
	got, err := secret.Lookup(t.Context(), s, old, "GOOD")
	require.NoError(t, err, "the transaction rolled back")
	assert.Equal(t, "good-value", got)
	_, err = s.SecretKeyCheckGet(t.Context())
	require.ErrorIs(t, err, storage.ErrNotFound)
}

// racedKeyCheck is a store on which the first SecretKeyCheckGet reports no
// key check value, as it does to a server that reads just before another
// one, starting at the same time, writes its own.
type racedKeyCheck struct {
	storage.Store
	read bool
}

func (r *racedKeyCheck) SecretKeyCheckGet(ctx context.Context) (*storage.SecretKeyCheck, error) {
	if !r.read {
		r.read = true
		return nil, storage.ErrNotFound
	}
	return r.Store.SecretKeyCheckGet(ctx)
}

func TestCheckKeyOfTwoFirstStartsWithDifferentKeysRefusesTheSecond(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	first, second := newBox(t), newBox(t)
	require.NoError(t, secret.CheckKey(t.Context(), s, first))
	require.ErrorIs(t, secret.CheckKey(t.Context(), &racedKeyCheck{Store: s}, second), secret.ErrWrongKey,
		"the second start's key does not replace the first's")
	require.NoError(t, secret.CheckKey(t.Context(), s, first), "the first key still works")
}

func TestPut(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	box := newBox(t)
	_, created, err := secret.Put(t.Context(), s, box, "TOKEN", "tok-value")
	require.NoError(t, err)
	assert.True(t, created)
	require.NoError(t, secret.CheckKey(t.Context(), s, box), "a first put writes the key check value")
	_, created, err = secret.Put(t.Context(), s, box, "TOKEN", "tok-value-2")
	require.NoError(t, err)
	assert.False(t, created)
	got, err := secret.Lookup(t.Context(), s, box, "TOKEN")
	require.NoError(t, err)
	assert.Equal(t, "tok-value-2", got)
	_, _, err = secret.Put(t.Context(), s, box, "1BAD", "tok-value")
	require.ErrorIs(t, err, storage.ErrInvalidInput)
}

// TestPutAfterARotateRefusesTheOldKey is scenario A: a server still
// running with the old key must not store a secret under it once the
// stored secrets moved to the new key.
func TestPutAfterARotateRefusesTheOldKey(t *testing.T) {
	t.Parallel()
	s := openStore(t)
	old, next := newBox(t), newBox(t)
	require.NoError(t, secret.CheckKey(t.Context(), s, old))
	_, _, err := secret.Put(t.Context(), s, old, "KEPT", "kept-value")
	require.NoError(t, err)
	_, err = secret.Rotate(t.Context(), s, old, next)
	require.NoError(t, err)

	_, _, err = secret.Put(t.Context(), s, old, "LATE", "late-value")
	require.ErrorIs(t, err, secret.ErrKeyRotated)
	require.ErrorIs(t, err, storage.ErrConflict)
	_, err = s.SecretGet(t.Context(), "LATE")
	require.ErrorIs(t, err, storage.ErrNotFound, "nothing was stored under the old key")
	_, _, err = secret.Put(t.Context(), s, old, "KEPT", "replaced")
	require.ErrorIs(t, err, secret.ErrKeyRotated)
	got, err := secret.Lookup(t.Context(), s, next, "KEPT")
	require.NoError(t, err)
	assert.Equal(t, "kept-value", got, "the rotated value is kept")

	_, _, err = secret.Put(t.Context(), s, next, "LATE", "late-value")
	require.NoError(t, err, "the new key stores")
}
