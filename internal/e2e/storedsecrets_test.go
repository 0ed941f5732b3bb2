//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
)

// TestStoredSecretNeverLeaks stores a secret through the API, uses it as
// {{secret.TARGET_TOKEN}} in a header of a plan whose target echoes it back
// in its body and headers, captures the echoes and fails assertions on
// them. The value then appears in no answer of the API, no report, no log
// line, and nowhere in the database: on SQLite the whole file and its WAL
// are searched; on Postgres every row of every table of the schema, as
// text. Neither the value nor its hex or base64 forms may appear.
//
// It then checks the key handling of the binary: a wrong ASTRO_SECRET_KEY
// stops start-up with a clear message; `astro-runner secrets rotate` moves
// the secrets to a new key, after which the old key is refused and the new
// one runs the plan with the value intact; the database is searched again.
func TestStoredSecretNeverLeaks(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		dbPath := filepath.Join(t.TempDir(), "astro.db")
		testStoredSecret(t, storedSecretBackend{
			env:  map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": dbPath},
			scan: func(t *testing.T, forms []leakForm) ([]string, string) { return scanSQLiteFiles(t, dbPath, forms) },
		})
	})
	t.Run("postgres", func(t *testing.T) {
		// Skips with a message, or fails with ASTRO_REQUIRE_POSTGRES=1,
		// when there is no database.
		url := pgtest.URL(t)
		scan := func(t *testing.T, forms []leakForm) ([]string, string) { return scanPostgresSchema(t, url, forms) }
		value := testStoredSecret(t, storedSecretBackend{
			env:  map[string]string{"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": url},
			scan: scan,
		})
		checkPostgresScannerFindsPlanted(t, url, value, scan)
	})
}

// storedSecretBackend is what testStoredSecret needs of a backend: the
// environment that selects it, without the key, and a scan of its raw
// storage, which returns where any of the forms was found and what was
// searched.
type storedSecretBackend struct {
	env  map[string]string
	scan func(t *testing.T, forms []leakForm) (hits []string, searched string)
}

// testStoredSecret runs the scenario of TestStoredSecretNeverLeaks on one
// backend and returns the planted value.
func testStoredSecret(t *testing.T, b storedSecretBackend) string {
	value := "planted-stored-" + rand.Text()
	forms := leakForms(value)
	key1, key2 := newKey(t), newKey(t)
	withKey := func(key string) map[string]string {
		env := map[string]string{"ASTRO_SECRET_KEY": key}
		for k, v := range b.env {
			env[k] = v
		}
		return env
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		w.Header().Set("X-Echo", auth)
		w.Header().Set("Content-Type", "application/json")
		if auth != "Bearer "+value {
			w.WriteHeader(http.StatusUnauthorized)
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"you_sent": auth, "token": strings.TrimPrefix(auth, "Bearer ")})
	})
	target := newLocalServer(t, mux)

	env := withKey(key1)
	srv := startAstro(t, astroConfig{name: "stored-secrets", env: env})

	var answers []string
	keep := func(what string, r *response) *response {
		var b strings.Builder
		fmt.Fprintf(&b, "%s → %d\n", what, r.status)
		for k, vs := range r.header {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(vs, ", "))
		}
		b.Write(r.body)
		answers = append(answers, b.String())
		return r
	}
	call := func(method, path string, body any, want int) *response {
		t.Helper()
		return keep(method+" "+path, srv.must(method, path, body, want))
	}

	call(http.MethodPut, "/secret/TARGET_TOKEN", map[string]string{"value": value}, http.StatusCreated)
	call(http.MethodPut, "/secret/TARGET_TOKEN", map[string]string{"value": value}, http.StatusOK)
	call(http.MethodGet, "/secret", nil, http.StatusOK)
	// A bad request echoes nothing of the value either.
	call(http.MethodPut, "/secret/TARGET_TOKEN", map[string]any{"value": value, "extra": 1}, http.StatusUnprocessableEntity)

	echoStep := func(asserts map[string]any) map[string]any {
		return map[string]any{
			"name": "echo",
			"request": map[string]any{"method": "GET", "url": target + "/echo",
				"headers": map[string]string{"Authorization": "Bearer {{secret.TARGET_TOKEN}}", "X-Copy": "{{secret.TARGET_TOKEN}}"}},
			"assert": asserts,
			"capture": []any{
				map[string]any{"name": "echoed", "jsonpath": "$.token"},
				map[string]any{"name": "header_copy", "header": "X-Echo"},
			},
		}
	}
	var leaky, ok apiPlan
	call(http.MethodPost, "/plan", map[string]any{"name": "leaky", "document": map[string]any{"steps": []any{
		echoStep(map[string]any{
			"status":   200,
			"jsonpath": []any{map[string]any{"path": "$.token", "equals": "wrong"}},
			"headers":  []any{map[string]any{"name": "X-Echo", "equals": "nope"}},
		}),
	}}}, http.StatusCreated).decode(t, &leaky)
	call(http.MethodPost, "/plan", map[string]any{"name": "ok", "document": map[string]any{"steps": []any{
		echoStep(map[string]any{"status": 200}),
	}}}, http.StatusCreated).decode(t, &ok)
	call(http.MethodPost, "/plan", map[string]any{"name": "unknown", "document": map[string]any{"steps": []any{
		map[string]any{"name": "x", "request": map[string]any{"method": "GET", "url": target + "/echo",
			"headers": map[string]string{"Authorization": "{{secret.NOPE}}"}}},
	}}}, http.StatusUnprocessableEntity)

	var e, eOK apiExecution
	call(http.MethodPost, "/plan/"+leaky.ID+"/execute", nil, http.StatusAccepted).decode(t, &e)
	call(http.MethodPost, "/plan/"+ok.ID+"/execute", nil, http.StatusAccepted).decode(t, &eOK)
	finals := srv.waitFinal([]string{e.ID, eOK.ID}, 60*time.Second)
	require.Equal(t, "failed", finals[e.ID].Status, "result %s", finals[e.ID].Result)
	require.Equal(t, "passed", finals[eOK.ID].Status, "the secret reached the target: result %s", finals[eOK.ID].Result)
	r := call(http.MethodGet, "/execution/"+e.ID, nil, http.StatusOK)
	require.Contains(t, string(r.body), "[REDACTED]")
	require.Contains(t, string(r.body), `"echoed":"[REDACTED]"`, "a capture not named like a secret is redacted by value")
	call(http.MethodGet, "/execution?plan_id="+leaky.ID, nil, http.StatusOK)
	for _, path := range []string{"/execution/" + e.ID + "/report", "/execution/" + e.ID + "/report?format=junit", "/execution/" + e.ID + "/report/junit"} {
		call(http.MethodGet, path, nil, http.StatusOK)
	}
	for id := 1; id <= 5; id++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := srv.do(ctx, http.MethodGet, fmt.Sprintf("/job/%d", id), nil)
		cancel()
		require.NoError(t, err)
		keep(fmt.Sprintf("GET /job/%d", id), r)
	}
	call(http.MethodGet, "/plan/"+leaky.ID, nil, http.StatusOK)

	// Deleting the secret makes the next run end in error, naming it.
	call(http.MethodDelete, "/secret/TARGET_TOKEN", nil, http.StatusNoContent)
	var eGone apiExecution
	call(http.MethodPost, "/plan/"+ok.ID+"/execute", nil, http.StatusAccepted).decode(t, &eGone)
	gone := srv.waitFinal([]string{eGone.ID}, 60*time.Second)[eGone.ID]
	require.Equal(t, "error", gone.Status)
	require.Contains(t, string(gone.Result), "secret TARGET_TOKEN is missing")
	call(http.MethodPut, "/secret/TARGET_TOKEN", map[string]string{"value": value}, http.StatusCreated)

	require.True(t, srv.proc.signal(syscall.SIGTERM, 30*time.Second), "server stops")

	log, err := os.ReadFile(srv.log)
	require.NoError(t, err)
	requireNoLeak(t, string(log), forms, "the server log")
	for _, a := range answers {
		requireNoLeak(t, a, forms, "an answer:\n"+a)
	}
	hits, searched := b.scan(t, forms)
	require.Empty(t, hits, "the secret is stored in clear")

	// A wrong key stops start-up with a clear message.
	out, code := runAstro(t, env, map[string]string{"ASTRO_SECRET_KEY": key2}, "serve")
	require.NotZero(t, code, "%s", out)
	require.Contains(t, out, "ASTRO_SECRET_KEY does not match the key the stored secrets were encrypted with")
	requireNoLeak(t, out, forms, "the output of a refused start-up")

	// Rotation: the old key stops working, the new one works, values intact.
	out, code = runAstro(t, env, map[string]string{"ASTRO_NEW_SECRET_KEY": key2}, "secrets", "rotate")
	require.Zero(t, code, "%s", out)
	require.Contains(t, out, "re-encrypted 1 secrets")
	requireNoLeak(t, out, forms, "the output of secrets rotate")
	out, code = runAstro(t, env, nil, "serve")
	require.NotZero(t, code, "the old key is refused after rotation: %s", out)
	require.Contains(t, out, "does not match")

	srv2 := startAstro(t, astroConfig{name: "stored-secrets-rotated", env: withKey(key2)})
	var eRot apiExecution
	keep("execute after rotation", srv2.must(http.MethodPost, "/plan/"+ok.ID+"/execute", nil, http.StatusAccepted)).decode(t, &eRot)
	rot := srv2.waitFinal([]string{eRot.ID}, 60*time.Second)[eRot.ID]
	require.Equal(t, "passed", rot.Status, "the value survived the rotation: %s", rot.Result)
	require.True(t, srv2.proc.signal(syscall.SIGTERM, 30*time.Second), "rotated server stops")
	for _, a := range answers {
		requireNoLeak(t, a, forms, "an answer:\n"+a)
	}
	log2, err := os.ReadFile(srv2.log)
	require.NoError(t, err)
	requireNoLeak(t, string(log2), forms, "the log of the server after rotation")
	hits, _ = b.scan(t, forms)
	require.Empty(t, hits, "the secret is stored in clear after rotation")
	t.Logf("searched %d answers, %d bytes of log and %s: the secret appears in none", len(answers), len(log)+len(log2), searched)
	return value
}

// leakForm is one spelling of the secret to search for.
type leakForm struct {
	name, text string
}

// leakForms returns the value, its hex (both cases) and its base64 (standard
// and URL alphabets) at each of the three byte alignments, so that the
// value is found inside a longer hex or base64 text, not only alone. (A
// bytea column read as text is \x and lowercase hex.)
func leakForms(value string) []leakForm {
	forms := []leakForm{
		{"plain", value},
		{"hex", hex.EncodeToString([]byte(value))},
		{"HEX", strings.ToUpper(hex.EncodeToString([]byte(value)))},
	}
	for off := range 3 {
		// The characters that encode whole groups of value[off:] appear in
		// any base64 text of data holding value at that alignment.
		b := []byte(value)[off:]
		b = b[:len(b)/3*3]
		forms = append(forms,
			leakForm{fmt.Sprintf("base64+%d", off), base64.RawStdEncoding.EncodeToString(b)},
			leakForm{fmt.Sprintf("base64url+%d", off), base64.RawURLEncoding.EncodeToString(b)})
	}
	return forms
}

// findLeaks returns the names of the forms that appear in data.
func findLeaks(data []byte, forms []leakForm) []string {
	var found []string
	for _, f := range forms {
		if bytes.Contains(data, []byte(f.text)) {
			found = append(found, f.name)
		}
	}
	return found
}

// requireNoLeak fails t if any form of the secret appears in s.
func requireNoLeak(t *testing.T, s string, forms []leakForm, where string) {
	t.Helper()
	require.Empty(t, findLeaks([]byte(s), forms), "the secret appears in %s", where)
}

// scanSQLiteFiles searches the whole SQLite file and its WAL.
func scanSQLiteFiles(t *testing.T, dbPath string, forms []leakForm) ([]string, string) {
	t.Helper()
	var hits []string
	var fileBytes int
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		fileBytes += len(data)
		for _, form := range findLeaks(data, forms) {
			hits = append(hits, fmt.Sprintf("%s: %s", f, form))
		}
	}
	require.Positive(t, fileBytes)
	return hits, fmt.Sprintf("%d bytes of SQLite file and WAL", fileBytes)
}

// scanPostgresSchema reads every row of every table of the schema that
// connURL's search_path names, as text (SELECT t::text FROM schema.table
// t), and returns the tables and forms of the secret it finds. It checks
// that the tables the secret could reach were among those read.
func scanPostgresSchema(t *testing.T, connURL string, forms []leakForm) ([]string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())

	var schema string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	require.True(t, strings.HasPrefix(schema, "t_"), "scanning %q, not a pgtest schema", schema)
	rows, err := conn.Query(ctx,
		"SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name", schema)
	require.NoError(t, err)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	for _, want := range []string{"secrets", "secret_keycheck", "plans", "executions", "jobs"} {
		require.Contains(t, tables, want, "the schema %s has its tables", schema)
	}

	var hits []string
	var nRows, nBytes int
	for _, table := range tables {
		q := fmt.Sprintf("SELECT t::text FROM %s t", pgx.Identifier{schema, table}.Sanitize())
		rows, err := conn.Query(ctx, q)
		require.NoError(t, err, "%s", q)
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, "%s", q)
		for i, text := range texts {
			nRows++
			nBytes += len(text)
			for _, form := range findLeaks([]byte(text), forms) {
				hits = append(hits, fmt.Sprintf("%s row %d: %s", table, i, form))
			}
		}
	}
	require.Positive(t, nRows)
	return hits, fmt.Sprintf("%d rows (%d bytes as text) of %d Postgres tables", nRows, nBytes, len(tables))
}

// checkPostgresScannerFindsPlanted shows that scan can fail: it plants the
// value in a scratch table of the schema, in clear in jsonb, raw in bytea
// (seen as hex) and as base64 in text, and requires scan to find each.
func checkPostgresScannerFindsPlanted(t *testing.T, connURL, value string,
	scan func(*testing.T, []leakForm) ([]string, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, "CREATE TABLE zz_leak_probe (doc jsonb, raw bytea, note text)")
	require.NoError(t, err)
	defer func() {
		_, err := conn.Exec(context.Background(), "DROP TABLE zz_leak_probe")
		require.NoError(t, err)
	}()

	forms := leakForms(value)
	for _, c := range []struct {
		name, insert string
		arg          any
		want         string
	}{
		{"jsonb", "INSERT INTO zz_leak_probe (doc) VALUES (jsonb_build_object('token', $1::text))", value, "plain"},
		{"bytea", "INSERT INTO zz_leak_probe (raw) VALUES ($1)", []byte("xx" + value), "hex"},
		{"base64", "INSERT INTO zz_leak_probe (note) VALUES ($1)", base64.StdEncoding.EncodeToString([]byte("ab" + value)), "base64+1"},
	} {
		_, err := conn.Exec(ctx, "TRUNCATE zz_leak_probe")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, c.insert, c.arg)
		require.NoError(t, err, c.name)
		hits, _ := scan(t, forms)
		require.Contains(t, hits, "zz_leak_probe row 0: "+c.want, "the scanner misses a value planted in %s", c.name)
	}
}

// newKey returns a random key in base64.
func newKey(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(b)
}

// runAstro runs the binary with env plus extra until it exits, at most 60 s,
// and returns its combined output and exit code. serve, if it starts,
// would not exit: it must fail at start-up.
func runAstro(t *testing.T, env, extra map[string]string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, astroBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "ASTRO_ADDR=" + freeAddr(t)}
	for _, m := range []map[string]string{env, extra} {
		for k, v := range m {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, ctx.Err(), "astro-runner %v did not exit: %s", args, out)
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return string(out), code
}
