package main

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/api"
)

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

func TestStartupErrorsNameTheVariable(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unknown backend", map[string]string{"STORAGE_BACKEND": "oracle"}, "STORAGE_BACKEND"},
		{"missing url", map[string]string{"STORAGE_BACKEND": "postgres"}, "POSTGRESQL_URL"},
		{"unreachable postgres", map[string]string{
			"STORAGE_BACKEND": "postgres",
			// Port 1 on loopback refuses at once.
			"POSTGRESQL_URL": "postgres://postgres@127.0.0.1:1/astro?connect_timeout=2",
		}, "POSTGRESQL_URL"},
		{"bad worker count", map[string]string{"ASTRO_WORKERS": "-3"}, "ASTRO_WORKERS"},
		{"sqlite dir missing", map[string]string{
			"STORAGE_BACKEND": "sqlite",
			"SQLITE_PATH":     filepath.Join(t.TempDir(), "no", "such", "dir", "astro.db"),
		}, "SQLITE_PATH"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out, errOut bytes.Buffer
			err := run([]string{"serve"}, envOf(c.env), &out, &errOut)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
		})
	}
}

func TestUnknownCommandFails(t *testing.T) {
	t.Parallel()
	err := run([]string{"frobnicate"}, envOf(nil), &bytes.Buffer{}, &bytes.Buffer{})
	require.ErrorContains(t, err, "unknown command")
}

func TestOpenAPICommandPrintsTheSpec(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	require.NoError(t, run([]string{"openapi"}, envOf(nil), &out, &bytes.Buffer{}))
	want, err := api.Spec(version)
	require.NoError(t, err)
	require.Equal(t, string(want), out.String())
}

func TestMigrateOnSQLiteFile(t *testing.T) {
	t.Parallel()
	env := envOf(map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": filepath.Join(t.TempDir(), "astro.db")})
	var out bytes.Buffer
	require.NoError(t, run([]string{"migrate", "up"}, env, &out, &bytes.Buffer{}))
	require.Contains(t, out.String(), "00002_jobs.sql")
	out.Reset()
	require.NoError(t, run([]string{"migrate", "status"}, env, &out, &bytes.Buffer{}))
	require.Contains(t, out.String(), "applied")
	out.Reset()
	require.NoError(t, run([]string{"migrate", "down"}, env, &out, &bytes.Buffer{}))
	require.Contains(t, out.String(), "00003_jobs_drop_state_index.sql", "down rolls back the latest migration")
	require.ErrorContains(t, run([]string{"migrate", "sideways"}, env, &out, &bytes.Buffer{}), "sideways")
	require.ErrorContains(t, run([]string{"migrate", "up"}, envOf(nil), &out, &bytes.Buffer{}), "STORAGE_BACKEND=memory")
}
