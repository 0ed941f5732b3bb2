package planrun_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/plan"
	"github.com/astro-runner/astro-runner/internal/planrun"
)

// TestStoredSecretIsRedactedByValue sends a stored secret in a header whose
// name does not look secret and in the query, has the target echo it in its
// body and headers, captures the echoes under names that do not look
// secret, and fails assertions on them: the value appears nowhere in the
// result nor in its JUnit report.
func TestStoredSecretIsRedactedByValue(t *testing.T) {
	t.Parallel()
	const value = "stored-Secret-Value-7f3a"
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Custom")
		w.Header().Set("X-Echo", got)
		w.Header().Set("Content-Type", "application/json")
		body, _ := json.Marshal(map[string]string{"h": got, "q": r.URL.Query().Get("k"), "quoted": `"` + got + `"`})
		_, _ = w.Write(body)
	})
	srv := newServer(t, mux)

	step := get("echo", srv.URL+"/echo?k={{secret.TOKEN}}")
	step.Request.Headers = map[string]string{"X-Custom": "{{secret.TOKEN}}"}
	step.Assert = &plan.Assert{
		Headers:      []plan.HeaderAssert{{Name: "X-Echo", Equals: ptr("nope")}},
		BodyContains: []string{value, "absent-text"},
		JSONPath:     []plan.JSONPathAssert{{Path: "$.h", Equals: json.RawMessage(`"nope"`)}, {Path: "$", Exists: ptr(false)}},
	}
	step.Capture = []plan.Capture{
		{Name: "echoed", JSONPath: "$.h"},
		{Name: "from_header", Header: "X-Echo"},
		{Name: "around", Regex: `"q":"([^"]*)"`},
	}
	step.ContinueOnFailure = true
	next := get("uses capture", srv.URL+"/missing/{{echoed}}")
	next.Assert = &plan.Assert{Status: plan.StatusSpec{200}}

	res, err := newRunner().RunWithSecrets(context.Background(), &plan.Document{Steps: []plan.Step{step, next}},
		map[string]string{"TOKEN": value})
	require.NoError(t, err)
	require.Equal(t, planrun.StatusFailed, res.Steps[0].Status, "the secret reached the target and the checks failed: %+v", res.Steps[0])
	require.Contains(t, res.Steps[0].Captured, "echoed")

	data, err := json.Marshal(res)
	require.NoError(t, err)
	junit, err := planrun.JUnit("p", res)
	require.NoError(t, err)
	for what, text := range map[string]string{"result": string(data), "junit": string(junit)} {
		assert.NotContains(t, text, value, "%s", what)
		assert.NotContains(t, strings.ToLower(text), strings.ToLower(value)[:12], "%s holds a part of the secret", what)
	}
	assert.Contains(t, string(data), planrun.Redacted)
	assert.Equal(t, planrun.Redacted, res.Steps[0].Captured["echoed"], "a capture not named like a secret is scrubbed by value")
}

func TestMissingStoredSecretFailsTheStep(t *testing.T) {
	t.Parallel()
	step := get("s", "http://127.0.0.1:1/{{secret.GONE}}")
	res, err := newRunner().RunWithSecrets(context.Background(), &plan.Document{Steps: []plan.Step{step}}, nil)
	require.NoError(t, err)
	require.Equal(t, planrun.StatusError, res.Steps[0].Status)
	assert.Contains(t, res.Steps[0].Error, "secret.GONE")
}

// TestStoredSecretIsRedactedInEncodedForms has the target echo a secret
// holding + / = percent-encoded as a query string and as a path, and with
// the \/ escape of JSON: none of these forms may reach the result.
func TestStoredSecretIsRedactedInEncodedForms(t *testing.T) {
	t.Parallel()
	const value = "tok+en/Value=7f3a x"
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("X-Custom")
		w.Header().Set("Content-Type", "application/json")
		query := url.Values{"k": {got}}.Encode()
		_, _ = w.Write([]byte(`{"query":"` + query + `","path":"/x/` + url.PathEscape(got) +
			`","slashed":"` + strings.ReplaceAll(got, "/", `\/`) + `"}`))
	})
	srv := newServer(t, mux)

	step := get("echo", srv.URL+"/echo")
	step.Request.Headers = map[string]string{"X-Custom": "{{secret.TOKEN}}"}
	step.Assert = &plan.Assert{BodyContains: []string{"absent-text"}}
	step.Capture = []plan.Capture{
		{Name: "query", Regex: `"query":"([^"]*)"`},
		{Name: "path", Regex: `"path":"([^"]*)"`},
		{Name: "slashed", Regex: `"slashed":"([^"]*)"`},
	}
	step.ContinueOnFailure = true

	res, err := newRunner().RunWithSecrets(context.Background(), &plan.Document{Steps: []plan.Step{step}},
		map[string]string{"TOKEN": value})
	require.NoError(t, err)
	require.Len(t, res.Steps[0].Captured, 3, "%+v", res.Steps[0])

	data, err := json.Marshal(res)
	require.NoError(t, err)
	for _, form := range []string{url.QueryEscape(value), url.PathEscape(value), strings.ReplaceAll(value, "/", `\/`)} {
		assert.NotContains(t, string(data), form)
		assert.NotContains(t, string(data), jsonText(form))
	}
	for name, got := range res.Steps[0].Captured {
		assert.Contains(t, got, planrun.Redacted, "capture %s", name)
	}
}

// jsonText returns s as it appears inside a JSON string.
func jsonText(s string) string {
	b, _ := json.Marshal(s)
	return string(b[1 : len(b)-1])
}
