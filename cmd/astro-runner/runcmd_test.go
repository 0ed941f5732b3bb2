package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// newTarget starts a loopback server for plans to test: /ok answers 200
// {"ok":true}, /missing 404, and /echo?v=X answers X.
func newTarget(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true}`)
	})
	mux.HandleFunc("GET /echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.URL.Query().Get("v"))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// writePlan writes a plan file with the given document and returns its
// path.
func writePlan(t *testing.T, dir, name, document string) string {
	t.Helper()
	path := filepath.Join(dir, name+".json")
	body := fmt.Sprintf(`{"name":%q,"labels":{"team":"qa"},"document":%s}`, name, document)
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	return path
}

func passingDoc(base string) string {
	return `{"variables":{"base_url":"` + base + `"},"steps":[
		{"name":"health","request":{"method":"GET","url":"{{base_url}}/ok"},
		 "assert":{"status":200,"jsonpath":[{"path":"$.ok","equals":true}]}},
		{"name":"echo","request":{"method":"GET","url":"{{base_url}}/echo?v=hi"},"assert":{"body_contains":["hi"]}}]}`
}

func failingDoc(base string) string {
	return `{"variables":{"base_url":"` + base + `"},"steps":[
		{"name":"missing page","request":{"method":"GET","url":"{{base_url}}/missing"},"assert":{"status":200}},
		{"name":"never runs","request":{"method":"GET","url":"{{base_url}}/ok"}}]}`
}

func TestRunPassingPlanWritesReports(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writePlan(t, dir, "smoke", passingDoc(newTarget(t)))
	junit, jsonOut := filepath.Join(dir, "report.xml"), filepath.Join(dir, "report.json")

	r := runCLI(t, nil, "run", file, "--junit", junit, "--json", jsonOut)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "PASS  1. health  HTTP 200")
	require.Contains(t, r.stdout, "PASS  2. echo  HTTP 200")
	require.Contains(t, r.stdout, "PASS  smoke  2 passed, 0 failed, 0 errors, 0 skipped in ")
	require.NotContains(t, r.stdout, "\x1b[", "no colour when stdout is not a terminal")

	var suites struct {
		Tests  int `xml:"tests,attr"`
		Suites []struct {
			Name  string `xml:"name,attr"`
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	b, err := os.ReadFile(junit)
	require.NoError(t, err)
	require.NoError(t, xml.Unmarshal(b, &suites))
	require.Equal(t, 2, suites.Tests)
	require.Len(t, suites.Suites, 1)
	require.Equal(t, "smoke", suites.Suites[0].Name)
	require.Equal(t, "1. health", suites.Suites[0].Cases[0].Name)

	var rep runReport
	b, err = os.ReadFile(jsonOut)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Equal(t, "passed", rep.Status)
	require.Len(t, rep.Plans, 1)
	require.Equal(t, file, rep.Plans[0].File)
	require.Equal(t, "smoke", rep.Plans[0].Name)
	require.Equal(t, "passed", rep.Plans[0].Result.Status)
	require.Equal(t, 2, rep.Plans[0].Result.Totals.Passed)
}

func TestRunFailingPlanExitsOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := newTarget(t)
	file := writePlan(t, dir, "broken", failingDoc(base))
	jsonOut := filepath.Join(dir, "report.json")

	r := runCLI(t, nil, "run", file, "--json", jsonOut)
	require.Equal(t, exitFailed, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, "FAIL  1. missing page  HTTP 404")
	require.Contains(t, r.stdout, "status: expected status 200, got 404")
	require.Contains(t, r.stdout, "SKIP  2. never runs")
	require.Contains(t, r.stdout, "FAIL  broken  0 passed, 1 failed, 0 errors, 1 skipped")
	var rep runReport
	b, err := os.ReadFile(jsonOut)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Equal(t, "failed", rep.Status)

	// Several files run in order, and the worst status wins.
	ok := writePlan(t, dir, "fine", passingDoc(base))
	r = runCLI(t, nil, "run", ok, file, ok)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stdout, "3 plans: 2 passed, 1 failed")
	bad := filepath.Join(dir, "nope.json")
	r = runCLI(t, nil, "run", ok, bad, file)
	require.Equal(t, exitUsage, r.code, "an invalid file outweighs a failed plan")
	require.Contains(t, r.stdout, "3 plans: 1 passed, 1 failed, 1 not run")
}

func TestRunBadInputExitsTwo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := newTarget(t)
	good := writePlan(t, dir, "good", passingDoc(base))
	notJSON := filepath.Join(dir, "notjson.json")
	require.NoError(t, os.WriteFile(notJSON, []byte(`{"name": "x",`), 0o600))
	invalid := filepath.Join(dir, "invalid.json")
	require.NoError(t, os.WriteFile(invalid, []byte(`{"name":"","labels":{"a:b":"c"},"extra":1,
		"document":{"steps":[{"name":"s","request":{"method":"FETCH","url":"{{nope}}/x"}}]}}`), 0o600))
	varFile := filepath.Join(dir, "vars.env")
	require.NoError(t, os.WriteFile(varFile, []byte("# comment\nbase_url="+base+"\n"), 0o600))
	// One byte over the limit: a plan body the API would refuse.
	large := filepath.Join(dir, "large.json")
	require.NoError(t, os.WriteFile(large, []byte(`{"name":"` + strings.Repeat("x", 1<<20) + `"}`)[:1<<20+1], 0o600))

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no file", []string{"run"}, []string{"requires at least 1 arg"}},
		{"missing file", []string{"run", filepath.Join(dir, "missing.json")}, []string{"missing.json: cannot read the plan file: no such file or directory"}},
		{"invalid JSON", []string{"run", notJSON}, []string{"notjson.json: invalid plan: not a JSON plan body", "body: unexpected end of JSON input"}},
		{"invalid plan", []string{"run", invalid}, []string{
			"invalid.json: invalid plan: validation failed",
			"body.name: expected length >= 1",
			"body.extra: unexpected property",
		}},
		{"invalid method", []string{"run", writePlan(t, dir, "badmethod", `{"steps":[{"name":"s","request":{"method":"FETCH","url":"http://127.0.0.1/x"}}]}`)}, []string{
			`body.document.steps[0].request.method: expected value to be one of "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" (value: "FETCH")`,
		}},
		{"invalid document", []string{"run", writePlan(t, dir, "baddoc", `{"steps":[{"name":"s","request":{"method":"GET","url":"{{nope}}/x"}}]}`)}, []string{
			"baddoc.json: invalid plan: validation failed",
			"body.document.steps[0].request.url:",
			"nope",
		}},
		{"unknown var", []string{"run", good, "--var", "base_url=" + base, "--var", "bsae_url=x"}, []string{"unknown variable bsae_url", "declared: base_url"}},
		{"bad var syntax", []string{"run", good, "--var", "base_url"}, []string{`--var "base_url": want NAME=VALUE`}},
		{"missing var file", []string{"run", good, "--var-file", filepath.Join(dir, "nope.env")}, []string{"--var-file", "no such file"}},
		{"device plan", []string{"run", "/dev/null"}, []string{"/dev/null: cannot read the plan file: not a regular file"}},
		{"endless plan", []string{"run", "/dev/zero"}, []string{"/dev/zero: cannot read the plan file: not a regular file"}},
		{"directory plan", []string{"run", dir}, []string{"cannot read the plan file: not a regular file"}},
		{"large plan", []string{"run", large}, []string{"large.json: cannot read the plan file: larger than 1 MiB, the API's limit"}},
		{"device var file", []string{"run", good, "--var-file", "/dev/null"}, []string{"--var-file /dev/null: not a regular file"}},
		{"endless var file", []string{"run", good, "--var-file", "/dev/zero"}, []string{"--var-file /dev/zero: not a regular file"}},
		{"large var file", []string{"run", good, "--var-file", large}, []string{"large.json: larger than 1 MiB, the API's limit"}},
		{"unknown flag", []string{"run", good, "--frobnicate"}, []string{"unknown flag: --frobnicate"}},
		{"bad policy", []string{"run", good}, []string{"ASTRO_TARGET_ALLOW"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := map[string]string{}
			if c.name == "bad policy" {
				env["ASTRO_TARGET_ALLOW"] = "not a cidr/99"
			}
			r := runCLI(t, env, c.args...)
			require.Equal(t, exitUsage, r.code, r.stdout+r.stderr)
			for _, w := range c.want {
				require.Contains(t, r.stderr, w)
			}
		})
	}

	// A var file sets declared variables.
	r := runCLI(t, nil, "run", writePlan(t, dir, "novar", passingDoc("http://127.0.0.1:1")), "--var-file", varFile)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
}

func TestRunVarOverridesTheDocument(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := newTarget(t)
	doc := `{"variables":{"base_url":"` + base + `","word":"plain"},"steps":[
		{"name":"echo","request":{"method":"GET","url":"{{base_url}}/echo?v={{word}}"},"assert":{"body_contains":["fancy"]}}]}`
	file := writePlan(t, dir, "vars", doc)
	require.Equal(t, exitFailed, runCLI(t, nil, "run", file).code)
	varFile := filepath.Join(dir, "words.json")
	require.NoError(t, os.WriteFile(varFile, []byte(`{"word":"dull"}`), 0o600))
	r := runCLI(t, nil, "run", file, "--var-file", varFile, "--var", "word=fancy")
	require.Equal(t, exitOK, r.code, "--var wins over --var-file: %s", r.stdout+r.stderr)
	r = runCLI(t, nil, "run", file, "--var-file", varFile)
	require.Equal(t, exitFailed, r.code)
}

func TestRunRespectsTheNetworkPolicy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := writePlan(t, dir, "denied", passingDoc(newTarget(t)))
	r := runCLI(t, map[string]string{"ASTRO_TARGET_DENY": "127.0.0.0/8"}, "run", file)
	require.Equal(t, exitFailed, r.code)
	require.Contains(t, r.stdout, "ERROR 1. health")
	require.True(t, strings.Contains(r.stdout, "denied") || strings.Contains(r.stdout, "not allowed"), r.stdout)
}

// TestVarFileLines checks the NAME=VALUE lines of a --var-file: spaces
// around the name and the value are trimmed, and a value that is a whole
// JSON string is unquoted; anything else is taken literally.
func TestVarFileLines(t *testing.T) {
	t.Parallel()
	cases := []struct {
		line, name, value string
	}{
		{`NAME=x`, "NAME", "x"},
		{`NAME = "x"`, "NAME", "x"},
		{"\tNAME\t=\t x y \t", "NAME", "x y"},
		{`NAME = " padded "`, "NAME", " padded "},
		{`NAME = "tab\there \"quoted\" \u00e9"`, "NAME", "tab\there \"quoted\" é"},
		{`NAME = ""`, "NAME", ""},
		{`NAME =`, "NAME", ""},
		{`NAME = 'single'`, "NAME", "'single'"},
		{`NAME = "a" "b"`, "NAME", `"a" "b"`},
		{`NAME = "unterminated`, "NAME", `"unterminated`},
		{`NAME = "bad \q escape"`, "NAME", `"bad \q escape"`},
		{`NAME = a=b`, "NAME", "a=b"},
	}
	for _, c := range cases {
		file := filepath.Join(t.TempDir(), "vars.env")
		require.NoError(t, os.WriteFile(file, []byte("# comment\n"+c.line+"\n"), 0o600))
		vars := map[string]string{}
		require.NoError(t, readVarFile(file, vars), c.line)
		require.Equal(t, map[string]string{c.name: c.value}, vars, c.line)
	}
}
