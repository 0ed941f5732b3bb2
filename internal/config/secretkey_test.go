package config_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/config"
)

func TestSecretKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	b64 := base64.StdEncoding.EncodeToString(key)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, data, 0o600))
		return p
	}
	rawFile := write("raw", key)
	b64File := write("b64", []byte(b64+"\n"))
	badFile := write("bad", []byte("not a key at all"))

	for _, tc := range []struct {
		name string
		env  map[string]string
		want []byte
		err  []string // substrings of the error; nil for success
	}{
		{"none", nil, nil, nil},
		{"empty key is unset", map[string]string{"ASTRO_SECRET_KEY": ""}, nil, nil},
		{"base64 key", map[string]string{"ASTRO_SECRET_KEY": b64}, key, nil},
		{"raw key file", map[string]string{"ASTRO_SECRET_KEY_FILE": rawFile}, key, nil},
		{"base64 key file", map[string]string{"ASTRO_SECRET_KEY_FILE": b64File}, key, nil},
		{"both set", map[string]string{"ASTRO_SECRET_KEY": b64, "ASTRO_SECRET_KEY_FILE": rawFile}, nil,
			[]string{"ASTRO_SECRET_KEY and ASTRO_SECRET_KEY_FILE are both set"}},
		{"short key", map[string]string{"ASTRO_SECRET_KEY": base64.StdEncoding.EncodeToString(key[:16])}, nil,
			[]string{"ASTRO_SECRET_KEY", "32 bytes, got 16"}},
		{"not base64", map[string]string{"ASTRO_SECRET_KEY": "hunter2!"}, nil,
			[]string{"ASTRO_SECRET_KEY", "base64"}},
		{"missing file", map[string]string{"ASTRO_SECRET_KEY_FILE": filepath.Join(dir, "nope")}, nil,
			[]string{"ASTRO_SECRET_KEY_FILE", "nope"}},
		{"bad file", map[string]string{"ASTRO_SECRET_KEY_FILE": badFile}, nil,
			[]string{"ASTRO_SECRET_KEY_FILE", "base64"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := config.Load(env(tc.env))
			if tc.err != nil {
				require.Error(t, err)
				for _, want := range tc.err {
					assert.Contains(t, err.Error(), want)
				}
				assert.NotContains(t, err.Error(), "hunter2")
				assert.NotContains(t, err.Error(), "not a key at all")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.SecretKey)
		})
	}
}

func TestLoadSecretKeyOtherVariable(t *testing.T) {
	t.Parallel()
	key, err := config.LoadSecretKey(env(map[string]string{"ASTRO_NEW_SECRET_KEY": strings.Repeat("A", 43) + "="}), "ASTRO_NEW_SECRET_KEY", "")
	require.NoError(t, err)
	assert.Len(t, key, 32)
	_, err = config.LoadSecretKey(env(map[string]string{"ASTRO_NEW_SECRET_KEY": "short"}), "ASTRO_NEW_SECRET_KEY", "")
	require.ErrorContains(t, err, "ASTRO_NEW_SECRET_KEY")
}
