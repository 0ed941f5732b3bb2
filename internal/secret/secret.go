// Package secret encrypts the values of stored secrets with AES-256-GCM
// under the server's key, checks at start-up that the key is the one the
// stored secrets were encrypted with, resolves secrets for runs, and
// re-encrypts them all under a new key.
//
// Each value is sealed with a fresh random 12-byte nonce and with the
// secret's name as additional data, so a ciphertext copied to another name
// does not open.
package secret

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// KeySize is the size of a key in bytes: 32, for AES-256.
const KeySize = 32

// Errors returned, wrapped, by this package.
var (
	// ErrDecrypt means a value did not open: it was encrypted under
	// another key or for another name, or it was altered.
	ErrDecrypt = errors.New("cannot decrypt: wrong key, or the stored value was altered")
	// ErrWrongKey means the configured key is not the one the stored
	// secrets were encrypted with.
	ErrWrongKey = errors.New("the key does not match the key the stored secrets were encrypted with")
	// ErrKeyRotated means a secret was not stored because the stored
	// secrets are now encrypted under another key than this process's:
	// the key was rotated since it started. errors.Is(err,
	// storage.ErrConflict) is also true.
	ErrKeyRotated = fmt.Errorf("%w: the secret key was rotated; restart with the new key", storage.ErrConflict)
)

// Box seals and opens secret values under one key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a key of KeySize bytes.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("new GCM: %w", err)
	}
	return &Box{aead: aead}, nil
}

// ParseKey decodes a key written in standard base64 (padded or not), as
// ASTRO_SECRET_KEY holds it. Surrounding white space is ignored. The
// decoded key must be exactly KeySize bytes. Its errors never quote the
// key.
func ParseKey(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	key, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(text)
	}
	if err != nil {
		return nil, errors.New("is not valid base64; make a key with: openssl rand -base64 32")
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("must decode to %d bytes, got %d; make a key with: openssl rand -base64 32", KeySize, len(key))
	}
	return key, nil
}

// ReadKeyFile reads a key file, as ASTRO_SECRET_KEY_FILE names it: a file
// of exactly KeySize bytes is the raw key; any other file must hold the
// key in base64 (as ParseKey reads it), such as the output of
// `openssl rand -base64 32`. Its errors never quote the file's content.
func ReadKeyFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, errors.Unwrap(err))
	}
	if len(data) == KeySize {
		return data, nil
	}
	key, err := ParseKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("file %s %w (or hold exactly %d raw bytes)", path, err, KeySize)
	}
	return key, nil
}

// Seal encrypts value for the secret name and returns the ciphertext and
// the random nonce it used.
func (b *Box) Seal(name string, value []byte) (ciphertext, nonce []byte, err error) {
	nonce = make([]byte, b.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("read random nonce: %w", err)
	}
	return b.aead.Seal(nil, nonce, value, []byte(name)), nonce, nil
}

// Open decrypts the value of the secret name. Returns an error wrapping
// ErrDecrypt if the ciphertext was sealed under another key or name, or
// was altered.
func (b *Box) Open(name string, ciphertext, nonce []byte) ([]byte, error) {
	if len(nonce) != b.aead.NonceSize() {
		return nil, fmt.Errorf("secret %q: %w", name, ErrDecrypt)
	}
	value, err := b.aead.Open(nil, nonce, ciphertext, []byte(name))
	if err != nil {
		return nil, fmt.Errorf("secret %q: %w", name, ErrDecrypt)
	}
	return value, nil
}

// keyCheckName is the additional data of the key check value. It is not a
// valid secret name, so no secret's ciphertext can pass for it.
const keyCheckName = "astro-runner key check"

// keyCheckText is the known text the key check value holds.
var keyCheckText = []byte("astro-runner secret key check v1")

// sealKeyCheck returns a new key check value.
func (b *Box) sealKeyCheck() (ciphertext, nonce []byte, err error) {
	return b.Seal(keyCheckName, keyCheckText)
}

// opensKeyCheck reports whether a key check value was sealed under b's key.
func (b *Box) opensKeyCheck(kc *storage.SecretKeyCheck) bool {
	text, err := b.Open(keyCheckName, kc.Ciphertext, kc.Nonce)
	return err == nil && bytes.Equal(text, keyCheckText)
}

// KeyCheckStore is what CheckKey needs from the store.
type KeyCheckStore interface {
	SecretKeyCheckGet(ctx context.Context) (*storage.SecretKeyCheck, error)
	SecretKeyCheckCreate(ctx context.Context, ciphertext, nonce []byte) (bool, error)
}

// CheckKey checks, at start-up, that box's key is the one the stored
// secrets were encrypted with: it writes a key check value if there is
// none yet, then opens the stored one. Returns an error wrapping
// ErrWrongKey if it does not open, as when another server started first
// at the same time with another key.
func CheckKey(ctx context.Context, store KeyCheckStore, box *Box) error {
	kc, err := store.SecretKeyCheckGet(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		ct, nonce, serr := box.sealKeyCheck()
		if serr != nil {
			return serr
		}
		if _, serr := store.SecretKeyCheckCreate(ctx, ct, nonce); serr != nil {
			return fmt.Errorf("write secret key check: %w", serr)
		}
		kc, err = store.SecretKeyCheckGet(ctx)
	}
	if err != nil {
		return fmt.Errorf("read secret key check: %w", err)
	}
	if !box.opensKeyCheck(kc) {
		return ErrWrongKey
	}
	return nil
}

// Put encrypts value under box's key and stores it as the secret name,
// and reports whether it created the secret. In the same transaction it
// reads the key check value under a share lock (writing one if there is
// none yet) and refuses with ErrKeyRotated if box's key does not open it,
// so that no secret is ever stored under another key than the others,
// even while a rotation runs. Store errors are those of SecretPut.
func Put(ctx context.Context, store storage.Store, box *Box, name, value string) (sec *storage.Secret, created bool, err error) {
	ct, nonce, err := box.Seal(name, []byte(value))
	if err != nil {
		return nil, false, err
	}
	err = store.InTx(ctx, func(tx storage.Store) error {
		kc, err := tx.SecretKeyCheckGetForShare(ctx)
		if errors.Is(err, storage.ErrNotFound) {
			kct, kcn, serr := box.sealKeyCheck()
			if serr != nil {
				return serr
			}
			if _, serr := tx.SecretKeyCheckCreate(ctx, kct, kcn); serr != nil {
				return fmt.Errorf("write secret key check: %w", serr)
			}
			kc, err = tx.SecretKeyCheckGetForShare(ctx)
		}
		if err != nil {
			return fmt.Errorf("read secret key check: %w", err)
		}
		if !box.opensKeyCheck(kc) {
			return ErrKeyRotated
		}
		sec, created, err = tx.SecretPut(ctx, &storage.SecretPutParams{Name: name, Ciphertext: ct, Nonce: nonce})
		return err
	})
	if err != nil {
		return nil, false, err
	}
	return sec, created, nil
}

// Reader is what Lookup needs from the store.
type Reader interface {
	SecretGet(ctx context.Context, name string) (*storage.Secret, error)
}

// Lookup reads and decrypts the value of the secret name. Returns an
// error wrapping storage.ErrNotFound if there is no such secret, and one
// wrapping ErrDecrypt if it does not open.
func Lookup(ctx context.Context, store Reader, box *Box, name string) (string, error) {
	sec, err := store.SecretGet(ctx, name)
	if err != nil {
		return "", err
	}
	value, err := box.Open(name, sec.Ciphertext, sec.Nonce)
	if err != nil {
		return "", err
	}
	return string(value), nil
}

// Rotate re-encrypts every stored secret and the key check value from the
// key of old to the key of next, in one transaction, and returns how many
// secrets it re-encrypted. It first locks the key check value
// (SecretKeyCheckGetForUpdate), so that no secret is written by Put until
// it ends, and checks that old's key is the current one (ErrWrongKey if
// not). If any value does not open, nothing changes.
func Rotate(ctx context.Context, store storage.Store, old, next *Box) (int, error) {
	n := 0
	err := store.InTx(ctx, func(tx storage.Store) error {
		kc, err := tx.SecretKeyCheckGetForUpdate(ctx)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			// No server has checked a key yet; the values themselves
			// show whether old is right.
		case err != nil:
			return fmt.Errorf("read secret key check: %w", err)
		case !old.opensKeyCheck(kc):
			return ErrWrongKey
		}
		list, err := tx.SecretList(ctx)
		if err != nil {
			return err
		}
		for _, item := range list {
			value, err := Lookup(ctx, tx, old, item.Name)
			if err != nil {
				return fmt.Errorf("re-encrypt: %w", err)
			}
			ct, nonce, err := next.Seal(item.Name, []byte(value))
			if err != nil {
				return err
			}
			if _, _, err := tx.SecretPut(ctx, &storage.SecretPutParams{Name: item.Name, Ciphertext: ct, Nonce: nonce}); err != nil {
				return fmt.Errorf("re-encrypt: %w", err)
			}
			n++
		}
		ct, nonce, err := next.sealKeyCheck()
		if err != nil {
			return err
		}
		if err := tx.SecretKeyCheckSet(ctx, ct, nonce); err != nil {
			return fmt.Errorf("write secret key check: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
