package config

import (
	"fmt"

	"github.com/astro-runner/astro-runner/internal/secret"
)

// LoadSecretKey reads a secret key from the variable keyVar (base64 of 32
// bytes) or from the file that fileVar names (32 raw bytes, or base64 of
// them; see secret.ReadKeyFile). fileVar may be empty when there is no
// file form. It returns nil, and no error, when neither is set, and an
// error naming the variable when a value is bad or both are set. Its
// errors never quote a key.
func LoadSecretKey(lookup LookupFunc, keyVar, fileVar string) ([]byte, error) {
	text, hasKey := lookup(keyVar)
	hasKey = hasKey && text != ""
	path := ""
	if fileVar != "" {
		path, _ = lookup(fileVar)
	}
	switch {
	case hasKey && path != "":
		return nil, fmt.Errorf("%s and %s are both set: set only one", keyVar, fileVar)
	case hasKey:
		key, err := secret.ParseKey(text)
		if err != nil {
			return nil, fmt.Errorf("%s %w", keyVar, err)
		}
		return key, nil
	case path != "":
		key, err := secret.ReadKeyFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fileVar, err)
		}
		return key, nil
	}
	return nil, nil
}

// secretKey reads ASTRO_SECRET_KEY or ASTRO_SECRET_KEY_FILE.
func (r *reader) secretKey() []byte {
	key, err := LoadSecretKey(r.lookup, "ASTRO_SECRET_KEY", "ASTRO_SECRET_KEY_FILE")
	if err != nil {
		r.errs = append(r.errs, err)
	}
	return key
}
