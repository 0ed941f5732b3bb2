package sqlitestore

import (
	"fmt"
	"strings"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Postgres refuses the byte 0x00 in text and the escape \u0000 in jsonb.
// SQLite would store both, so the same input would be accepted here and
// refused there. These checks make SQLite refuse it too, with the error that
// pgstore maps those refusals to.

// checkNoNUL returns storage.ErrInvalidInput, naming the field, if a text
// field holds a NUL byte.
func checkNoNUL(field, text string) error {
	if strings.IndexByte(text, 0) >= 0 {
		return fmt.Errorf("%w: %s contains a NUL byte", storage.ErrInvalidInput, field)
	}
	return nil
}

// checkJSONNoNUL returns storage.ErrInvalidInput, naming the field, if a
// JSON document holds the escape \u0000 in any string, or a raw NUL byte.
// An escaped backslash followed by u0000 (`\\u0000`) is plain text and
// passes.
func checkJSONNoNUL(field string, doc []byte) error {
	for i := 0; i < len(doc); i++ {
		switch doc[i] {
		case 0:
			return fmt.Errorf("%w: %s contains a NUL byte", storage.ErrInvalidInput, field)
		case '\\':
			if i+5 < len(doc) && doc[i+1] == 'u' && string(doc[i+2:i+6]) == "0000" {
				return fmt.Errorf("%w: %s contains the escape \\u0000", storage.ErrInvalidInput, field)
			}
			i++ // Skip the escaped character, which may be a backslash.
		}
	}
	return nil
}
