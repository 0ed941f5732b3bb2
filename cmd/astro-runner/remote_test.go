package main

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/apitest"
	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	astro "github.com/astro-runner/astro-runner/sdk/go"
)

// startServer serves the API over a fresh in-memory store on 127.0.0.1,
// with workers that run executions. A non-empty token is required of
// clients. wrap, when not nil, wraps the API handler, to meddle with
// requests.
func startServer(t *testing.T, token string, wrap func(http.Handler) http.Handler) string {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return apitest.Serve(t, st, apitest.Options{Token: token, WrapFunc: wrap})
}

// createPlan stores the plan of a plan file on the server and returns its
// id.
func createPlan(t *testing.T, server, token, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	body, err := sdkBody(data)
	require.NoError(t, err)
	c, err := astro.New(server, astro.WithToken(token))
	require.NoError(t, err)
	p, err := c.CreatePlan(context.Background(), body)
	require.NoError(t, err)
	return p.Id.String()
}

// listPlans returns the plans stored on the server, by name, as the
// server sends them.
func listPlans(t *testing.T, server string) map[string]storedPlan {
	t.Helper()
	resp, err := http.Get(server + "/plan?limit=200")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct{ Plans []storedPlan }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	out := map[string]storedPlan{}
	for _, p := range list.Plans {
		out[p.Name] = p
	}
	return out
}

// closedPort returns a 127.0.0.1 address where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

var uuidLine = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\n$`)

func TestExec(t *testing.T) {
	t.Parallel()
	server := startServer(t, "", nil)
	dir := t.TempDir()
	base := newTarget(t)
	// "smoke test" comes first in a list of names that start with "smoke".
	createPlan(t, server, "", writePlan(t, dir, "smoke test", failingDoc(base)))
	smokeID := createPlan(t, server, "", writePlan(t, dir, "smoke", passingDoc(base)))

	t.Run("by id", func(t *testing.T) {
		t.Parallel()
		junit, jsonOut := filepath.Join(t.TempDir(), "report.xml"), filepath.Join(t.TempDir(), "report.json")
		r := runCLI(t, nil, "exec", "--server", server, smokeID, "--junit", junit, "--json", jsonOut)
		require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
		require.Contains(t, r.stdout, "smoke (execution ")
		require.Contains(t, r.stdout, "PASS  1. health  HTTP 200")
		require.Contains(t, r.stdout, "PASS  smoke  2 passed, 0 failed, 0 errors, 0 skipped in ")
		require.Empty(t, r.stderr)

		var suites struct {
			Tests  int `xml:"tests,attr"`
			Suites []struct {
				Name string `xml:"name,attr"`
			} `xml:"testsuite"`
		}
		b, err := os.ReadFile(junit)
		require.NoError(t, err)
		require.NoError(t, xml.Unmarshal(b, &suites))
		require.Equal(t, 2, suites.Tests)
		require.Equal(t, "smoke", suites.Suites[0].Name)

		var rep runReport
		b, err = os.ReadFile(jsonOut)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &rep))
		require.Equal(t, "passed", rep.Status)
		require.Len(t, rep.Plans, 1)
		require.Equal(t, smokeID, rep.Plans[0].PlanID)
		require.NotEmpty(t, rep.Plans[0].ExecutionID)
		require.Equal(t, "passed", rep.Plans[0].Status)
		require.Equal(t, 2, rep.Plans[0].Result.Totals.Passed)
	})

	t.Run("by exact name", func(t *testing.T) {
		t.Parallel()
		// "smoke" is a prefix of "smoke test": the exact name wins.
		r := runCLI(t, nil, "exec", "--server", server, "smoke")
		require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
		require.Contains(t, r.stdout, "PASS  smoke  2 passed")
	})

	t.Run("failing plan exits 1", func(t *testing.T) {
		t.Parallel()
		jsonOut := filepath.Join(t.TempDir(), "report.json")
		r := runCLI(t, nil, "exec", "--server", server, "smoke test", "--json", jsonOut)
		require.Equal(t, exitFailed, r.code, r.stdout+r.stderr)
		require.Contains(t, r.stdout, "FAIL  1. missing page  HTTP 404")
		require.Contains(t, r.stdout, "SKIP  2. never runs")
		require.Contains(t, r.stdout, "FAIL  smoke test  0 passed, 1 failed")
		b, err := os.ReadFile(jsonOut)
		require.NoError(t, err)
		var rep runReport
		require.NoError(t, json.Unmarshal(b, &rep))
		require.Equal(t, "failed", rep.Status)
	})

	t.Run("no wait prints the id", func(t *testing.T) {
		t.Parallel()
		args := []string{"exec", "--server", server, "--no-wait", "--idempotency-key", "deploy-42", smokeID}
		r := runCLI(t, nil, args...)
		require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
		require.Regexp(t, uuidLine, r.stdout)
		again := runCLI(t, nil, args...)
		require.Equal(t, r.stdout, again.stdout, "the same idempotency key gives the same execution")
		other := runCLI(t, nil, "exec", "--server", server, "--no-wait", smokeID)
		require.Regexp(t, uuidLine, other.stdout)
		require.NotEqual(t, r.stdout, other.stdout)
	})

	t.Run("timeout exits 1 and names the execution", func(t *testing.T) {
		t.Parallel()
		r := runCLI(t, nil, "exec", "--server", server, "--timeout", "1ns", smokeID)
		require.Equal(t, exitFailed, r.code, r.stdout+r.stderr)
		require.Regexp(t, `execution [0-9a-f-]{36} of plan "smoke" did not finish within --timeout 1ns; it goes on on the server`, r.stderr)
	})

	t.Run("bad input exits 2", func(t *testing.T) {
		t.Parallel()
		cases := []struct {
			name string
			args []string
			want string
		}{
			{"unknown name", []string{"exec", "--server", server, "smoke tes"}, `no plan named "smoke tes" on ` + server},
			{"unknown id", []string{"exec", "--server", server, "0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"}, "no plan with id 0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d"},
			{"no server", []string{"exec", "smoke"}, "--server is required"},
			{"bad server", []string{"exec", "--server", "127.0.0.1:8080", "smoke"}, "want an http or https URL"},
			{"no plan", []string{"exec", "--server", server}, "accepts 1 arg(s), received 0"},
			{"bad timeout", []string{"exec", "--server", server, "--timeout", "0s", "smoke"}, "--timeout 0s: want a positive duration"},
			{"unreachable", []string{"exec", "--server", "http://" + closedPort(t), "smoke"}, "cannot reach the server at http://127.0.0.1:"},
		}
		for _, c := range cases {
			r := runCLI(t, nil, c.args...)
			require.Equal(t, exitUsage, r.code, "%s: %s", c.name, r.stdout+r.stderr)
			require.Contains(t, r.stderr, c.want, c.name)
			require.Empty(t, r.stdout, c.name)
		}
	})
}

// TestExecRecordsTriggerCLI checks that the executions astro-runner exec
// creates show trigger cli, as GET /execution sends them, both when it
// waits and with --no-wait.
func TestExecRecordsTriggerCLI(t *testing.T) {
	t.Parallel()
	server := startServer(t, "", nil)
	id := createPlan(t, server, "", writePlan(t, t.TempDir(), "smoke", passingDoc(newTarget(t))))

	r := runCLI(t, nil, "exec", "--server", server, "--no-wait", id)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	noWait := strings.TrimSpace(r.stdout)
	r = runCLI(t, nil, "exec", "--server", server, "--json", filepath.Join(t.TempDir(), "report.json"), id)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)

	resp, err := http.Get(server + "/execution?plan_id=" + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var list struct {
		Executions []struct {
			ID         string  `json:"id"`
			Trigger    string  `json:"trigger"`
			ScheduleID *string `json:"schedule_id"`
		} `json:"executions"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	require.Len(t, list.Executions, 2)
	ids := []string{}
	for _, e := range list.Executions {
		require.Equal(t, "cli", e.Trigger, "execution %s", e.ID)
		require.Nil(t, e.ScheduleID, "execution %s", e.ID)
		ids = append(ids, e.ID)
	}
	require.Contains(t, ids, noWait)
}

func TestExecToken(t *testing.T) {
	t.Parallel()
	server := startServer(t, "s3cret", nil)
	dir := t.TempDir()
	id := createPlan(t, server, "s3cret", writePlan(t, dir, "smoke", passingDoc(newTarget(t))))

	r := runCLI(t, nil, "exec", "--server", server, id)
	require.Equal(t, exitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "refused the token (401 missing bearer token")
	require.Contains(t, r.stderr, "--token or $ASTRO_API_TOKEN")

	r = runCLI(t, nil, "exec", "--server", server, "--token", "wrong", "smoke")
	require.Equal(t, exitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "refused the token (401 invalid bearer token)")

	r = runCLI(t, map[string]string{"ASTRO_API_TOKEN": "s3cret"}, "exec", "--server", server, "smoke")
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	r = runCLI(t, map[string]string{"ASTRO_API_TOKEN": "wrong"}, "exec", "--server", server, "--token", "s3cret", id)
	require.Equal(t, exitOK, r.code, "--token wins over the environment: %s", r.stdout+r.stderr)
}

// pushDoc is a plan document that leaves out the defaults the server fills
// in (a step's timeout, a capture's group), holds a number too large for a
// float64 to keep exactly, and free JSON values (a request body, an
// expected value) whose keys and numbers Postgres's jsonb rewrites: it
// sorts the keys and writes 1e2 as 100.
func pushDoc(base, id string) string {
	return `{"variables":{"base_url":"` + base + `"},"steps":[
		{"name":"echo","request":{"method":"POST","url":"{{base_url}}/echo?v=hi",
		  "body":{"zeta":1e2,"id":` + id + `,"alpha":{"b":2.50,"a":[1E1,-0.0]}}},
		 "assert":{"jsonpath":[{"path":"$.x","equals":{"yy":1e-2,"x":"s"}}]},
		 "capture":[{"name":"word","regex":"(h.)"}]}]}`
}

// postgresStore returns a store in a fresh Postgres schema, closed when the
// test ends. It skips without a database, or fails with
// ASTRO_REQUIRE_POSTGRES=1.
func postgresStore(t *testing.T) storage.Store {
	t.Helper()
	st, err := pgstore.Open(context.Background(), pgstore.Config{URL: pgtest.URL(t), MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, st.Close()) })
	return st
}

// TestPlanPush runs on both kinds of store, since they send a stored plan
// back differently: SQLite keeps the text of free JSON values, Postgres
// rewrites it.
func TestPlanPush(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) {
		t.Parallel()
		testPlanPush(t, startServer(t, "", nil))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testPlanPush(t, apitest.Serve(t, postgresStore(t), apitest.Options{}))
	})
}

func testPlanPush(t *testing.T, server string) {
	dir := t.TempDir()
	base := newTarget(t)
	a := writePlan(t, dir, "alpha", pushDoc(base, "12345678901234567890"))
	b := writePlan(t, dir, "beta", passingDoc(base))

	r := runCLI(t, nil, "plan", "push", "--server", server, "--dry-run", a, b)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, a+`: would create plan "alpha"`)
	require.Empty(t, listPlans(t, server), "a dry run writes nothing")

	r = runCLI(t, nil, "plan", "push", "--server", server, a, b)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Regexp(t, `(?m)^`+regexp.QuoteMeta(a)+`: created plan "alpha" \(id [0-9a-f-]{36}, revision 1\)$`, r.stdout)
	require.Contains(t, r.stdout, b+`: created plan "beta"`)
	plans := listPlans(t, server)
	require.Len(t, plans, 2)
	require.Contains(t, string(plans["alpha"].Document), "12345678901234567890", "numbers keep their text")

	r = runCLI(t, nil, "plan", "push", "--server", server, a, b)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, a+`: unchanged plan "alpha"`, "defaults the server filled in, and keys and numbers it rewrote, are no change")
	require.Contains(t, r.stdout, `revision 1)`)
	require.Contains(t, r.stdout, b+`: unchanged plan "beta"`)

	// A change only a float64 would miss is a change.
	require.NoError(t, os.WriteFile(a, []byte(strings.Replace(mustRead(t, a), "12345678901234567890", "12345678901234567891", 1)), 0o600))
	r = runCLI(t, nil, "plan", "push", "--server", server, "--dry-run", a)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, `would update plan "alpha"`)
	require.EqualValues(t, 1, listPlans(t, server)["alpha"].Revision, "a dry run writes nothing")
	r = runCLI(t, nil, "plan", "push", "--server", server, a)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Regexp(t, `updated plan "alpha" \(id [0-9a-f-]{36}, revision 1 -> 2\)`, r.stdout)
	require.Contains(t, string(listPlans(t, server)["alpha"].Document), "12345678901234567891")

	// A number in a free value written another way is no change; another
	// value is.
	for _, c := range []struct {
		from, to string
		changed  bool
	}{
		{`"zeta":1e2`, `"zeta":100.0`, false},
		{`"zeta":100.0`, `"zeta":10E+1`, false},
		{`"zeta":10E+1`, `"zeta":1e3`, true},
		{`"yy":1e-2`, `"yy":0.010`, false},
		{`"yy":0.010`, `"yy":0.011`, true},
	} {
		require.NoError(t, os.WriteFile(a, []byte(strings.Replace(mustRead(t, a), c.from, c.to, 1)), 0o600))
		r = runCLI(t, nil, "plan", "push", "--server", server, a)
		require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
		want := `unchanged plan "alpha"`
		if c.changed {
			want = `updated plan "alpha"`
		}
		require.Contains(t, r.stdout, want, "%s -> %s", c.from, c.to)
	}

	// Labels and description are compared too.
	require.NoError(t, os.WriteFile(b, []byte(strings.Replace(mustRead(t, b), `"team":"qa"`, `"team":"ops"`, 1)), 0o600))
	r = runCLI(t, nil, "plan", "push", "--server", server, a, b)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, `unchanged plan "alpha"`)
	require.Contains(t, r.stdout, `updated plan "beta"`)
	require.Equal(t, "ops", listPlans(t, server)["beta"].Labels["team"])

	// So is the retention, by meaning; leaving it out of the file sets it
	// back to the server's.
	plain := mustRead(t, b)
	for _, c := range []struct {
		retention string // "" leaves it out
		want      string
		stored    *string
	}{
		{"14d", "updated", ptr("14d")},
		{"336h", "unchanged", ptr("14d")},
		{"30d", "updated", ptr("30d")},
		{"", "updated", nil},
		{"", "unchanged", nil},
	} {
		content := plain
		if c.retention != "" {
			content = strings.Replace(plain, "{", `{"retention":"`+c.retention+`",`, 1)
		}
		require.NoError(t, os.WriteFile(b, []byte(content), 0o600))
		r = runCLI(t, nil, "plan", "push", "--server", server, b)
		require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
		require.Contains(t, r.stdout, c.want+` plan "beta"`, "retention %q", c.retention)
		require.Equal(t, c.stored, listPlans(t, server)["beta"].Retention, "retention %q", c.retention)
	}
}

func ptr[T any](v T) *T { return &v }

func mustRead(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	return string(b)
}

func TestPlanPushBadInputSendsNothing(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	server := startServer(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			h.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	good := writePlan(t, dir, "good", passingDoc(newTarget(t)))
	invalid := writePlan(t, dir, "bad", `{"steps":[{"name":"s","request":{"method":"FETCH","url":"{{nope}}/x"}}]}`)
	twin := filepath.Join(dir, "twin.json")
	require.NoError(t, os.WriteFile(twin, []byte(mustRead(t, good)), 0o600))

	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"invalid plan", []string{"plan", "push", "--server", server, good, invalid}, []string{
			"bad.json: invalid plan: validation failed",
			`body.document.steps[0].request.method: expected value to be one of`,
			"1 of 2 plan files cannot be pushed; nothing was sent",
		}},
		{"missing file", []string{"plan", "push", "--server", server, good, filepath.Join(dir, "nope.json")}, []string{"nope.json: cannot read the plan file"}},
		{"endless file", []string{"plan", "push", "--server", server, good, "/dev/zero"}, []string{"/dev/zero: cannot read the plan file: not a regular file"}},
		{"same name twice", []string{"plan", "push", "--server", server, good, twin}, []string{`plan "good" is also in ` + good}},
		{"no file", []string{"plan", "push", "--server", server}, []string{"requires at least 1 arg"}},
		{"no server", []string{"plan", "push", good}, []string{"--server is required"}},
		{"no subcommand", []string{"plan"}, []string{"usage: astro-runner plan push"}},
		{"unknown subcommand", []string{"plan", "pull"}, []string{`unknown plan command "pull"`}},
	}
	for _, c := range cases {
		r := runCLI(t, nil, c.args...)
		require.Equal(t, exitUsage, r.code, "%s: %s", c.name, r.stdout+r.stderr)
		for _, w := range c.want {
			require.Contains(t, r.stderr, w, c.name)
		}
		require.Empty(t, r.stdout, c.name)
	}
	require.Zero(t, requests.Load(), "nothing reached the server")

	r := runCLI(t, nil, "plan", "push", "--server", "http://"+closedPort(t), good)
	require.Equal(t, exitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, `push plan "good": cannot reach the server at http://127.0.0.1:`)
}

func TestPlanPushToken(t *testing.T) {
	t.Parallel()
	server := startServer(t, "s3cret", nil)
	file := writePlan(t, t.TempDir(), "smoke", passingDoc(newTarget(t)))
	r := runCLI(t, nil, "plan", "push", "--server", server, "--token", "wrong", file)
	require.Equal(t, exitUsage, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "refused the token (401 invalid bearer token)")
	r = runCLI(t, map[string]string{"ASTRO_API_TOKEN": "s3cret"}, "plan", "push", "--server", server, file)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, `created plan "smoke"`)
}

// TestPlanPushRetriesAStaleRevisionOnce makes the server see a stale
// If-Match, as when another writer updated the plan between push's read
// and write: push reads again and retries once, and gives up with exit 1
// when it happens again.
func TestPlanPushRetriesAStaleRevisionOnce(t *testing.T) {
	t.Parallel()
	var stale atomic.Int64 // how many more updates get a stale If-Match
	var updates atomic.Int64
	server := startServer(t, "", func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				updates.Add(1)
				if stale.Add(-1) >= 0 {
					r.Header.Set("If-Match", `"0"`)
				}
			}
			h.ServeHTTP(w, r)
		})
	})
	dir := t.TempDir()
	base := newTarget(t)
	file := writePlan(t, dir, "smoke", passingDoc(base))
	require.Equal(t, exitOK, runCLI(t, nil, "plan", "push", "--server", server, file).code)

	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(mustRead(t, file), "/echo?v=hi", "/echo?v=hi2", 1)), 0o600))
	stale.Store(1)
	r := runCLI(t, nil, "plan", "push", "--server", server, file)
	require.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stdout, `updated plan "smoke"`)
	require.Contains(t, r.stdout, "revision 1 -> 2)")
	require.EqualValues(t, 2, updates.Load())

	require.NoError(t, os.WriteFile(file, []byte(strings.Replace(mustRead(t, file), "/echo?v=hi2", "/echo?v=hi3", 1)), 0o600))
	stale.Store(2)
	r = runCLI(t, nil, "plan", "push", "--server", server, file)
	require.Equal(t, exitFailed, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, `plan "smoke": the plan changed on the server while it was being pushed, twice in a row`)
	require.EqualValues(t, 2, listPlans(t, server)["smoke"].Revision)
}

func TestRemoteCommandsHaveHelp(t *testing.T) {
	t.Parallel()
	r := runCLI(t, nil, "exec", "--help")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, flag := range []string{"--server", "--token", "ASTRO_API_TOKEN", "--timeout", "--no-wait", "--idempotency-key", "--junit", "--json", "--no-color", "Exit status"} {
		require.Contains(t, r.stdout, flag)
	}
	r = runCLI(t, nil, "plan", "push", "--help")
	require.Equal(t, exitOK, r.code, r.stderr)
	for _, flag := range []string{"--server", "--token", "ASTRO_API_TOKEN", "--dry-run", "Exit status"} {
		require.Contains(t, r.stdout, flag)
	}
	r = runCLI(t, nil, "--help")
	require.Contains(t, r.stdout, "exec")
	require.Contains(t, r.stdout, "plan")
}

func TestExecReportsAnExecutionWithoutSteps(t *testing.T) {
	t.Parallel()
	var e astro.Execution
	require.NoError(t, json.Unmarshal([]byte(`{"id":"0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f",
		"plan_id":"0190c1c2-7a1b-7cc0-8f00-3d5e2b1a9c4d","status":"error","created_at":"2026-01-02T15:04:05Z",
		"result":{"plan_revision":1,"error":"plan no longer exists"}}`), &e))
	var out, errOut strings.Builder
	c := &cli{stdout: &out, stderr: &errOut, lookup: envOf(nil)}
	junit, jsonOut := filepath.Join(t.TempDir(), "report.xml"), filepath.Join(t.TempDir(), "report.json")
	err := c.reportExecution(&execFlags{junit: junit, json: jsonOut}, "smoke", &e)
	require.Equal(t, exitFailed, exitCode(err, &errOut))
	require.Equal(t, "ERROR smoke: execution 0190c1d0-1b2c-7d3e-9f40-5a6b7c8d9e0f ended error: plan no longer exists\n", out.String())
	require.Empty(t, errOut.String())
	require.Contains(t, mustRead(t, junit), "plan no longer exists")
	var rep runReport
	require.NoError(t, json.Unmarshal([]byte(mustRead(t, jsonOut)), &rep))
	require.Equal(t, "failed", rep.Status)
	require.Equal(t, "error", rep.Plans[0].Status)
	require.Nil(t, rep.Plans[0].Result)
}
