package sqlitestore

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestCheckJSONNoNUL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		doc    string
		refuse bool
	}{
		{"Empty", ``, false},
		{"Plain", `{"a":"b"}`, false},
		{"OtherEscapes", `{"a":"\n\"\u0001\u00e9"}`, false},
		{"EscapeInValue", `{"a":"x\u0000y"}`, true},
		{"EscapeInKey", `{"\u0000":1}`, true},
		{"EscapedBackslashThenText", `{"a":"\\u0000"}`, false},
		{"TwoBackslashesThenEscape", `{"a":"\\\u0000"}`, true},
		{"RawNULByte", "{\"a\":\"\x00\"}", true},
		{"TruncatedEscape", `"\u000`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := checkJSONNoNUL("doc", []byte(tc.doc))
			if tc.refuse {
				assert.ErrorIs(t, err, storage.ErrInvalidInput)
			} else {
				assert.NoError(t, err)
			}
		})
	}
}

func TestCheckNoNUL(t *testing.T) {
	t.Parallel()
	assert.NoError(t, checkNoNUL("name", `a\u0000b`))
	assert.ErrorIs(t, checkNoNUL("name", "a\x00b"), storage.ErrInvalidInput)
}
