package main

import (
	"bytes"
	"context"
	"io/fs"
	"net"
	"path/filepath"
	"runtime/debug"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	sqlitemigrations "github.com/astro-runner/astro-runner/sql/sqlite/migrations"
)

// TestMain removes the Postgres container that the Postgres tests may
// start.
func TestMain(m *testing.M) { pgtest.Main(m) }

func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := kv[k]
		return v, ok
	}
}

// cliResult is what one in-process run of astro-runner gave.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs astro-runner in-process with args and the environment env.
func runCLI(t *testing.T, env map[string]string, args ...string) cliResult {
	t.Helper()
	var out, errOut bytes.Buffer
	code := execute(context.Background(), args, envOf(env), &out, &errOut)
	return cliResult{code: code, stdout: out.String(), stderr: errOut.String()}
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
		{"bad log format", map[string]string{"ASTRO_LOG_FORMAT": "xml"}, "ASTRO_LOG_FORMAT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runCLI(t, c.env, "serve")
			require.Equal(t, exitFailed, r.code)
			require.Contains(t, r.stderr, c.want)
		})
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "frobnicate")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "unknown command")
	r = runCLI(t, nil, "serve", "--frobnicate")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "unknown flag: --frobnicate")
}

func TestOpenAPICommandPrintsTheSpec(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "openapi")
	require.Equal(t, exitOK, r.code, r.stderr)
	want, err := api.Spec(version)
	require.NoError(t, err)
	require.Equal(t, string(want), r.stdout)
}

func TestMigrateOnSQLiteFile(t *testing.T) {
	t.Parallel()
	env := map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": filepath.Join(t.TempDir(), "astro.db")}
	r := runCLI(t, env, "migrate", "up")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "00002_jobs.sql")
	r = runCLI(t, env, "migrate", "status")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "applied")
	r = runCLI(t, env, "migrate", "down")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, "down "+latestSQLiteMigration(t), "down rolls back the latest migration")
	r = runCLI(t, env, "migrate", "sideways")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "sideways")
	r = runCLI(t, env, "migrate")
	require.Equal(t, exitUsage, r.code)
	require.Contains(t, r.stderr, "migrate up|down|status")
	r = runCLI(t, nil, "migrate", "up")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "STORAGE_BACKEND=memory")
}

// TestHelpDoesNotStartAnything asks every command for its help. serve and
// the default command would otherwise open a store and listen; ASTRO_ADDR
// points at an address that cannot be bound, so starting would fail.
func TestHelpDoesNotStartAnything(t *testing.T) {
	t.Parallel()
	env := map[string]string{"ASTRO_ADDR": "256.0.0.1:1"}
	for _, args := range [][]string{
		{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"help", "serve"}, {"worker", "--help"},
		{"migrate", "--help"}, {"migrate", "up", "--help"}, {"openapi", "--help"}, {"run", "--help"},
		{"secrets", "rotate", "--help"},
	} {
		r := runCLI(t, env, args...)
		require.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
		require.Contains(t, r.stdout, "Usage:", args)
		require.NotContains(t, r.stderr, "listening", args)
		require.Empty(t, r.stderr, args)
	}
	r := runCLI(t, env, "serve", "--help")
	require.Contains(t, r.stdout, "Serve the HTTP API")
	r = runCLI(t, env, "run", "--help")
	for _, flag := range []string{"--var", "--var-file", "--junit", "--json", "--no-color"} {
		require.Contains(t, r.stdout, flag)
	}
}

func TestVersionFlag(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "--version")
	require.Equal(t, exitOK, r.code, r.stderr)
	require.Regexp(t, `^astro-runner \S+`, r.stdout)
	require.Empty(t, r.stderr)
}

func TestWorkerOnMemoryRefusesToStart(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "worker")
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stderr, "STORAGE_BACKEND=memory")
	require.Contains(t, r.stderr, "can never receive a job")
}

// TestNoCommandServes checks that plain astro-runner is serve: with
// ASTRO_ADDR taken by another listener, both fail to listen, naming it.
func TestNoCommandServes(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	env := map[string]string{"ASTRO_ADDR": l.Addr().String(), "ASTRO_LOG_FORMAT": "json"}
	for _, args := range [][]string{nil, {"serve"}} {
		r := runCLI(t, env, args...)
		require.Equal(t, exitFailed, r.code, args)
		require.Contains(t, r.stderr, "ASTRO_ADDR "+l.Addr().String(), args)
		require.Contains(t, r.stderr, `"msg":"workers started"`, args)
	}
}

func TestDescribeBuild(t *testing.T) {
	t.Parallel()
	vcs := func(rev, modified string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
		}}
	}
	cases := []struct {
		name, ldflags string
		info          *debug.BuildInfo
		want          string
	}{
		{"ldflags win", "v1.4.0", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.4.0"},
		{"module version", "dev", &debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0"},
		{"clean revision", "dev", vcs("0123456789abcdef0123", "false"), "dev-0123456789ab (2026-01-02T03:04:05Z)"},
		{"modified revision", "dev", vcs("0123456789abcdef0123", "true"), "dev-0123456789ab+modified (2026-01-02T03:04:05Z)"},
		{"nothing", "dev", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev (no version or VCS information in this build)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, c.want, describeBuild(c.ldflags, c.info))
		})
	}
}

// latestSQLiteMigration returns the file name of the newest SQLite
// migration.
func latestSQLiteMigration(t *testing.T) string {
	t.Helper()
	names, err := fs.Glob(sqlitemigrations.FS, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	return slices.Max(names)
}
