//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
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

	"github.com/stretchr/testify/require"
)

// TestStoredSecretNeverLeaks stores a secret through the API, uses it as
// {{secret.TARGET_TOKEN}} in a header of a plan whose target echoes it back
// in its body and headers, captures the echoes and fails assertions on
// them. The value then appears in no answer of the API, no report, no log
// line, and nowhere in the SQLite file (executions.result, jobs.payload,
// jobs.errors, plans, secrets: the whole file and its WAL are searched).
//
// It then checks the key handling of the binary: a wrong ASTRO_SECRET_KEY
// stops start-up with a clear message; `astro-runner secrets rotate` moves
// the secrets to a new key, after which the old key is refused and the new
// one runs the plan with the value intact.
func TestStoredSecretNeverLeaks(t *testing.T) {
	value := "planted-stored-" + rand.Text()
	key1, key2 := newKey(t), newKey(t)

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

	dir := t.TempDir()
	dbPath := filepath.Join(dir, "astro.db")
	env := map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": dbPath, "ASTRO_SECRET_KEY": key1}
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
	require.NotContains(t, string(log), value, "the secret appears in the server log")
	for _, a := range answers {
		require.NotContains(t, a, value, "the secret appears in an answer:\n%s", a)
	}
	var fileBytes int
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		fileBytes += len(data)
		require.False(t, bytes.Contains(data, []byte(value)), "the secret is stored in clear in %s", f)
	}
	require.Positive(t, fileBytes)

	// A wrong key stops start-up with a clear message.
	out, code := runAstro(t, env, map[string]string{"ASTRO_SECRET_KEY": key2}, "serve")
	require.NotZero(t, code, "%s", out)
	require.Contains(t, out, "ASTRO_SECRET_KEY does not match the key the stored secrets were encrypted with")
	require.NotContains(t, out, value)

	// Rotation: the old key stops working, the new one works, values intact.
	out, code = runAstro(t, env, map[string]string{"ASTRO_NEW_SECRET_KEY": key2}, "secrets", "rotate")
	require.Zero(t, code, "%s", out)
	require.Contains(t, out, "re-encrypted 1 secrets")
	out, code = runAstro(t, env, nil, "serve")
	require.NotZero(t, code, "the old key is refused after rotation: %s", out)
	require.Contains(t, out, "does not match")

	env2 := map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": dbPath, "ASTRO_SECRET_KEY": key2}
	srv2 := startAstro(t, astroConfig{name: "stored-secrets-rotated", env: env2})
	var eRot apiExecution
	keep("execute after rotation", srv2.must(http.MethodPost, "/plan/"+ok.ID+"/execute", nil, http.StatusAccepted)).decode(t, &eRot)
	rot := srv2.waitFinal([]string{eRot.ID}, 60*time.Second)[eRot.ID]
	require.Equal(t, "passed", rot.Status, "the value survived the rotation: %s", rot.Result)
	for _, a := range answers {
		require.NotContains(t, a, value)
	}
	t.Logf("searched %d answers, %d bytes of log and %d bytes of database: the secret appears in none", len(answers), len(log), fileBytes)
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
