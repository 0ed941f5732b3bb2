package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func secretCases() []testCase {
	return []testCase{
		{"PutCreatesThenReplaces", testSecretPutCreatesThenReplaces},
		{"GetReturnsErrNotFoundForUnknownName", testSecretGetNotFound},
		{"ListIsOrderedByNameWithoutValues", testSecretList},
		{"ListOfAnEmptyStoreIsEmpty", testSecretListEmpty},
		{"DeleteRemovesAndThenReturnsErrNotFound", testSecretDelete},
		{"PutRefusesMalformedNamesAndEmptyValues", testSecretPutInvalid},
		{"PutRefusesMoreThanMaxSecrets", testSecretPutLimit},
		{"KeyCheckIsNotFoundUntilSetThenReplaced", testSecretKeyCheck},
		{"ReencryptInOneTransactionRollsBackOnError", testSecretReencryptRollsBack},
		{"ReencryptInOneTransactionCommits", testSecretReencryptCommits},
		{"KeyCheckCreateKeepsTheFirstValue", testSecretKeyCheckCreate},
		{"KeyCheckGetForUpdateAndForShareReturnErrNotFoundUntilSet", testSecretKeyCheckLockNotFound},
		{"KeyCheckGetForShareWaitsForAnUpdateLockAndSeesItsWrite", testSecretKeyCheckLockSerialises},
	}
}

// putSecret stores a secret with a ciphertext and nonce made from value.
func putSecret(t *testing.T, ctx context.Context, s storage.Store, name, value string) (*storage.Secret, bool) {
	t.Helper()
	sec, created, err := s.SecretPut(ctx, &storage.SecretPutParams{
		Name: name, Ciphertext: []byte("ct:" + value), Nonce: []byte("nonce:" + value),
	})
	require.NoError(t, err, "put secret %s", name)
	return sec, created
}

func testSecretPutCreatesThenReplaces(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	first, created := putSecret(t, ctx, s, "API_TOKEN", "one")
	assert.True(t, created)
	assert.Equal(t, "API_TOKEN", first.Name)
	assertRecent(t, first.CreatedAt, "created_at")
	assertSameTime(t, first.CreatedAt, first.UpdatedAt, "a new secret's updated_at")

	second, created := putSecret(t, ctx, s, "API_TOKEN", "two")
	assert.False(t, created, "a second put replaces")
	assertSameTime(t, first.CreatedAt, second.CreatedAt, "created_at is kept")
	assert.False(t, second.UpdatedAt.Before(first.UpdatedAt), "updated_at does not go back")

	got, err := s.SecretGet(ctx, "API_TOKEN")
	require.NoError(t, err)
	assert.Equal(t, []byte("ct:two"), got.Ciphertext)
	assert.Equal(t, []byte("nonce:two"), got.Nonce)
	assertSameTime(t, first.CreatedAt, got.CreatedAt, "created_at")

	// Names are case-sensitive.
	_, created = putSecret(t, ctx, s, "api_token", "three")
	assert.True(t, created)
}

func testSecretGetNotFound(t *testing.T, s storage.Store) {
	_, err := s.SecretGet(testContext(t), "MISSING")
	require.ErrorIs(t, err, storage.ErrNotFound)
}

func testSecretList(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, name := range []string{"b", "_a", "A", "a1"} {
		putSecret(t, ctx, s, name, "value of "+name)
	}
	list, err := s.SecretList(ctx)
	require.NoError(t, err)
	var names []string
	for _, sec := range list {
		names = append(names, sec.Name)
		assert.Nil(t, sec.Ciphertext, "list carries no ciphertext")
		assert.Nil(t, sec.Nonce, "list carries no nonce")
		assertRecent(t, sec.CreatedAt, "created_at")
		assertRecent(t, sec.UpdatedAt, "updated_at")
	}
	assert.Equal(t, []string{"A", "_a", "a1", "b"}, names, "ordered by name, byte order")
}

func testSecretListEmpty(t *testing.T, s storage.Store) {
	list, err := s.SecretList(testContext(t))
	require.NoError(t, err)
	assert.Empty(t, list)
}

func testSecretDelete(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	putSecret(t, ctx, s, "GONE", "x")
	putSecret(t, ctx, s, "KEPT", "y")
	require.NoError(t, s.SecretDelete(ctx, "GONE"))
	_, err := s.SecretGet(ctx, "GONE")
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.SecretDelete(ctx, "GONE"), storage.ErrNotFound)
	_, err = s.SecretGet(ctx, "KEPT")
	require.NoError(t, err)
	// A deleted name can be created again.
	_, created := putSecret(t, ctx, s, "GONE", "z")
	assert.True(t, created)
}

func testSecretPutInvalid(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	for _, p := range []storage.SecretPutParams{
		{Name: "", Ciphertext: []byte("c"), Nonce: []byte("n")},
		{Name: "1ABC", Ciphertext: []byte("c"), Nonce: []byte("n")},
		{Name: "A-B", Ciphertext: []byte("c"), Nonce: []byte("n")},
		{Name: "a.b", Ciphertext: []byte("c"), Nonce: []byte("n")},
		{Name: "é", Ciphertext: []byte("c"), Nonce: []byte("n")},
		{Name: strings.Repeat("A", storage.MaxSecretNameLength+1), Ciphertext: []byte("c"), Nonce: []byte("n")},
		{Name: "OK", Ciphertext: nil, Nonce: []byte("n")},
		{Name: "OK", Ciphertext: []byte("c"), Nonce: nil},
	} {
		_, _, err := s.SecretPut(ctx, &p)
		assert.ErrorIs(t, err, storage.ErrInvalidInput, "name %q", p.Name)
	}
	_, created := putSecret(t, ctx, s, strings.Repeat("A", storage.MaxSecretNameLength), "v")
	assert.True(t, created, "a name of the maximum length is accepted")
	list, err := s.SecretList(ctx)
	require.NoError(t, err)
	assert.Len(t, list, 1, "nothing invalid was stored")
}

func testSecretPutLimit(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		for i := range storage.MaxSecrets {
			if _, _, err := tx.SecretPut(ctx, &storage.SecretPutParams{
				Name: fmt.Sprintf("S%04d", i), Ciphertext: []byte("c"), Nonce: []byte("n"),
			}); err != nil {
				return err
			}
		}
		return nil
	}))
	_, _, err := s.SecretPut(ctx, &storage.SecretPutParams{Name: "ONE_TOO_MANY", Ciphertext: []byte("c"), Nonce: []byte("n")})
	require.ErrorIs(t, err, storage.ErrTooManySecrets)
	require.ErrorIs(t, err, storage.ErrConflict)
	// Replacing a value at the limit still works.
	_, created := putSecret(t, ctx, s, "S0000", "new")
	assert.False(t, created)
	list, err := s.SecretList(ctx)
	require.NoError(t, err)
	assert.Len(t, list, storage.MaxSecrets)
	// After a delete there is room again.
	require.NoError(t, s.SecretDelete(ctx, "S0001"))
	_, created = putSecret(t, ctx, s, "ONE_MORE", "v")
	assert.True(t, created)
}

func testSecretKeyCheck(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.SecretKeyCheckGet(ctx)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.ErrorIs(t, s.SecretKeyCheckSet(ctx, nil, []byte("n")), storage.ErrInvalidInput)

	require.NoError(t, s.SecretKeyCheckSet(ctx, []byte("check-1"), []byte("nonce-1")))
	kc, err := s.SecretKeyCheckGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("check-1"), kc.Ciphertext)
	assert.Equal(t, []byte("nonce-1"), kc.Nonce)
	assertRecent(t, kc.UpdatedAt, "updated_at")

	require.NoError(t, s.SecretKeyCheckSet(ctx, []byte("check-2"), []byte("nonce-2")))
	kc, err = s.SecretKeyCheckGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("check-2"), kc.Ciphertext, "the one row is replaced")
	assert.Equal(t, []byte("nonce-2"), kc.Nonce)
}

// reencrypt replaces every secret's ciphertext and the key check in tx, as
// a key rotation does, and then returns fail.
func reencrypt(ctx context.Context, tx storage.Store, fail error) error {
	list, err := tx.SecretList(ctx)
	if err != nil {
		return err
	}
	for _, item := range list {
		sec, err := tx.SecretGet(ctx, item.Name)
		if err != nil {
			return err
		}
		if _, _, err := tx.SecretPut(ctx, &storage.SecretPutParams{
			Name: sec.Name, Ciphertext: append([]byte("new-"), sec.Ciphertext...), Nonce: []byte("new-nonce"),
		}); err != nil {
			return err
		}
	}
	if err := tx.SecretKeyCheckSet(ctx, []byte("new-check"), []byte("new-nonce")); err != nil {
		return err
	}
	return fail
}

func testSecretReencryptRollsBack(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	putSecret(t, ctx, s, "A", "a")
	putSecret(t, ctx, s, "B", "b")
	require.NoError(t, s.SecretKeyCheckSet(ctx, []byte("old-check"), []byte("old-nonce")))
	err := s.InTx(ctx, func(tx storage.Store) error { return reencrypt(ctx, tx, errRollback) })
	require.True(t, errors.Is(err, errRollback), "got %v", err)
	for _, name := range []string{"A", "B"} {
		sec, err := s.SecretGet(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, []byte("ct:"+strings.ToLower(name)), sec.Ciphertext, "secret %s is unchanged", name)
	}
	kc, err := s.SecretKeyCheckGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("old-check"), kc.Ciphertext, "key check is unchanged")
}

func testSecretReencryptCommits(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	putSecret(t, ctx, s, "A", "a")
	putSecret(t, ctx, s, "B", "b")
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error { return reencrypt(ctx, tx, nil) }))
	for _, name := range []string{"A", "B"} {
		sec, err := s.SecretGet(ctx, name)
		require.NoError(t, err)
		assert.Equal(t, []byte("new-ct:"+strings.ToLower(name)), sec.Ciphertext)
		assert.Equal(t, []byte("new-nonce"), sec.Nonce)
	}
	kc, err := s.SecretKeyCheckGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("new-check"), kc.Ciphertext)
}

func testSecretKeyCheckCreate(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.SecretKeyCheckCreate(ctx, nil, []byte("n"))
	require.ErrorIs(t, err, storage.ErrInvalidInput)
	created, err := s.SecretKeyCheckCreate(ctx, []byte("first"), []byte("nonce-1"))
	require.NoError(t, err)
	assert.True(t, created)
	created, err = s.SecretKeyCheckCreate(ctx, []byte("second"), []byte("nonce-2"))
	require.NoError(t, err)
	assert.False(t, created, "a second create writes nothing")
	kc, err := s.SecretKeyCheckGet(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("first"), kc.Ciphertext, "the first value is kept")
	assert.Equal(t, []byte("nonce-1"), kc.Nonce)
}

func testSecretKeyCheckLockNotFound(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	_, err := s.SecretKeyCheckGetForUpdate(ctx)
	require.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.SecretKeyCheckGetForShare(ctx)
	require.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, s.SecretKeyCheckSet(ctx, []byte("check"), []byte("nonce")))
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		for _, get := range []func(context.Context) (*storage.SecretKeyCheck, error){
			tx.SecretKeyCheckGetForUpdate, tx.SecretKeyCheckGetForShare,
		} {
			kc, err := get(ctx)
			require.NoError(t, err)
			assert.Equal(t, []byte("check"), kc.Ciphertext)
			assert.Equal(t, []byte("nonce"), kc.Nonce)
		}
		return nil
	}))
}

// testSecretKeyCheckLockSerialises holds the update lock while another
// transaction asks for the share lock: that one must wait and then see the
// value the first wrote, as a secret write racing a key rotation must see
// the new key. (Without the lock, the second read would return the old
// value during the pause; the pause only gives it the chance.)
func testSecretKeyCheckLockSerialises(t *testing.T, s storage.Store) {
	ctx := testContext(t)
	require.NoError(t, s.SecretKeyCheckSet(ctx, []byte("old"), []byte("nonce")))
	locked := make(chan struct{})
	read := make(chan []byte, 1)
	done := make(chan error, 1)
	go func() {
		<-locked
		done <- s.InTx(ctx, func(tx storage.Store) error {
			kc, err := tx.SecretKeyCheckGetForShare(ctx)
			if err != nil {
				return err
			}
			read <- kc.Ciphertext
			return nil
		})
	}()
	require.NoError(t, s.InTx(ctx, func(tx storage.Store) error {
		if _, err := tx.SecretKeyCheckGetForUpdate(ctx); err != nil {
			return err
		}
		close(locked)
		time.Sleep(200 * time.Millisecond)
		return tx.SecretKeyCheckSet(ctx, []byte("new"), []byte("nonce"))
	}))
	require.NoError(t, <-done)
	assert.Equal(t, []byte("new"), <-read, "the share lock waited for the update lock's transaction")
}
