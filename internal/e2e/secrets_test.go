//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestPlantedSecretNeverLogged plants three secrets and checks that none
// of them appears in the server's debug log or in any answer of the API:
//
//   - the API token the server is started with (ASTRO_API_TOKEN), sent on
//     every request, and once with a wrong suffix;
//   - a credential the plan sends to the target as
//     "Authorization: Bearer <secret>". It comes from the server's
//     environment through {{env.NAME}}, as a real plan would do it: a
//     literal in the plan document would be echoed by GET /plan, as it is
//     the client's own document. The target echoes the header back in its
//     body;
//   - a token the target returns, captured as api_token (a name that the
//     default ASTRO_SECRET_PATTERN redacts), sent on by the next step as
//     X-Api-Key, and echoed by the target again.
func TestPlantedSecretNeverLogged(t *testing.T) {
	apiToken := "planted-api-" + rand.Text()
	targetCred := "planted-cred-" + rand.Text()
	capturedTok := "planted-capt-" + rand.Text()
	secrets := map[string]string{"API token": apiToken, "target credential": targetCred, "captured token": capturedTok}

	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+targetCred {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "bad credential"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"api_token": capturedTok, "you_sent": r.Header.Get("Authorization")})
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != capturedTok {
			writeJSON(w, http.StatusForbidden, map[string]string{"error": "bad key"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "your_key": capturedTok})
	})
	target := newLocalServer(t, mux)

	const credEnv = "ASTRO_E2E_TARGET_CREDENTIAL"
	srv := startAstro(t, astroConfig{name: "secrets", env: map[string]string{
		"ASTRO_API_TOKEN":      apiToken,
		"ASTRO_PLAN_ENV_ALLOW": credEnv,
		credEnv:                targetCred,
	}})

	// Every answer, headers and body, is searched at the end.
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
	callAs := func(token, path string, want int) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, srv.base+path, nil)
		require.NoError(t, err)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := srv.client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		r := keep("GET "+path+" (token "+map[bool]string{true: "none", false: "wrong"}[token == ""]+")",
			&response{status: resp.StatusCode, header: resp.Header, body: b})
		require.Equal(t, want, r.status, "%s", r)
		require.True(t, r.isProblem(), "%s", r)
	}

	callAs("", "/plan", http.StatusUnauthorized)
	callAs(apiToken+"-wrong", "/plan", http.StatusUnauthorized)

	var p apiPlan
	call(http.MethodPost, "/plan", map[string]any{
		"name": "secrets",
		"document": map[string]any{"steps": []any{
			map[string]any{
				"name": "log in",
				"request": map[string]any{"method": "GET", "url": target + "/login",
					"headers": map[string]string{"Authorization": "Bearer {{env." + credEnv + "}}"}},
				"assert":  map[string]any{"status": 200},
				"capture": []any{map[string]any{"name": "api_token", "jsonpath": "$.api_token"}},
			},
			map[string]any{
				"name": "use the token",
				"request": map[string]any{"method": "GET", "url": target + "/me",
					"headers": map[string]string{"X-Api-Key": "{{api_token}}"}},
				"assert": map[string]any{"status": 200, "jsonpath": []any{map[string]any{"path": "$.ok", "equals": true}}},
			},
		}},
	}, http.StatusCreated).decode(t, &p)
	call(http.MethodGet, "/plan/"+p.ID, nil, http.StatusOK)
	call(http.MethodGet, "/plan?name=secrets", nil, http.StatusOK)

	var e apiExecution
	call(http.MethodPost, "/plan/"+p.ID+"/execute", nil, http.StatusAccepted).decode(t, &e)
	final := srv.waitFinal([]string{e.ID}, 60*time.Second)[e.ID]
	require.Equal(t, "passed", final.Status, "the plan should pass: the credential and the captured token reached the target; result %s", final.Result)
	r := call(http.MethodGet, "/execution/"+e.ID, nil, http.StatusOK)
	var got struct {
		Result struct {
			Steps []struct {
				Name        string            `json:"name"`
				Captured    map[string]string `json:"captured"`
				BodyExcerpt string            `json:"body_excerpt"`
			} `json:"steps"`
		} `json:"result"`
	}
	r.decode(t, &got)
	require.Len(t, got.Result.Steps, 2)
	require.Equal(t, "[REDACTED]", got.Result.Steps[0].Captured["api_token"], "captured secret is shown redacted")
	require.Contains(t, got.Result.Steps[0].BodyExcerpt, "[REDACTED]", "the echoed secrets are scrubbed from the body excerpt")
	require.Contains(t, got.Result.Steps[1].BodyExcerpt, "[REDACTED]")
	call(http.MethodGet, "/execution?plan_id="+p.ID, nil, http.StatusOK)
	for _, path := range []string{"/execution/" + e.ID + "/report", "/execution/" + e.ID + "/report?format=junit", "/execution/" + e.ID + "/report/junit"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := srv.do(ctx, http.MethodGet, path, nil)
		cancel()
		require.NoError(t, err)
		keep("GET "+path, r)
		require.Equal(t, http.StatusOK, r.status, "GET %s", path)
	}

	// The job: the store is fresh, so its ID is small.
	foundJob := false
	for id := 1; id <= 20 && !foundJob; id++ {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		r, err := srv.do(ctx, http.MethodGet, fmt.Sprintf("/job/%d", id), nil)
		cancel()
		require.NoError(t, err)
		keep(fmt.Sprintf("GET /job/%d", id), r)
		if r.status == http.StatusNotFound {
			break
		}
		require.Equal(t, http.StatusOK, r.status, "%s", r)
		var j struct {
			UniqueKey string `json:"unique_key"`
			State     string `json:"state"`
		}
		r.decode(t, &j)
		if j.UniqueKey == "execution:"+e.ID {
			require.Equal(t, "completed", j.State)
			foundJob = true
		}
	}
	require.True(t, foundJob, "the execution's job was not found under /job/{id}")
	call(http.MethodGet, "/queue/stats", nil, http.StatusOK)

	log, err := os.ReadFile(srv.log)
	require.NoError(t, err)
	require.Positive(t, bytes.Count(log, []byte(`"msg":"http request"`)), "the request log is in the file searched")
	for what, secret := range secrets {
		require.NotContains(t, string(log), secret, "the %s appears in the server log", what)
		for _, a := range answers {
			require.NotContains(t, a, secret, "the %s appears in an answer:\n%s", what, a)
		}
	}
	t.Logf("3 planted secrets; searched %d log lines (%d bytes, debug level) and %d answers: none found; captured api_token shown as [REDACTED]",
		bytes.Count(log, []byte("\n")), len(log), len(answers))
}
