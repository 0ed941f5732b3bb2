package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// planFile is the part of examples/plan.json the collection must match.
type planFile struct {
	Document struct {
		Variables map[string]string `json:"variables"`
		Steps     []struct {
			Name    string `json:"name"`
			Request struct {
				Method string          `json:"method"`
				URL    string          `json:"url"`
				Body   json.RawMessage `json:"body"`
			} `json:"request"`
			Assert struct {
				Status       []int             `json:"status"`
				Headers      []json.RawMessage `json:"headers"`
				JSONPath     []json.RawMessage `json:"jsonpath"`
				BodyContains []string          `json:"body_contains"`
				MaxLatencyMS int               `json:"max_latency_ms"`
			} `json:"assert"`
			Capture []struct {
				Name string `json:"name"`
			} `json:"capture"`
		} `json:"steps"`
	} `json:"document"`
}

// collectionFile is the part of the Postman v2.1 collection the test reads.
type collectionFile struct {
	Info struct {
		Schema string `json:"schema"`
	} `json:"info"`
	Variable []struct {
		Key, Value string
	} `json:"variable"`
	Item []struct {
		Name    string `json:"name"`
		Request struct {
			Method string `json:"method"`
			URL    string `json:"url"`
			Body   *struct {
				Mode string `json:"mode"`
				Raw  string `json:"raw"`
			} `json:"body"`
		} `json:"request"`
		Event []struct {
			Listen string `json:"listen"`
			Script struct {
				Exec []string `json:"exec"`
			} `json:"script"`
		} `json:"event"`
	} `json:"item"`
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestCollectionMatchesPlan checks that the Newman collection makes the
// requests of examples/plan.json, in order, with one pm.test per assertion
// of the plan and the same captures, so that the side-by-side rows compare
// the same work.
func TestCollectionMatchesPlan(t *testing.T) {
	t.Parallel()
	var plan planFile
	readJSON(t, filepath.Join("..", "examples", "plan.json"), &plan)
	var coll collectionFile
	readJSON(t, filepath.Join(newmanDir, "collection.json"), &coll)

	if !strings.Contains(coll.Info.Schema, "v2.1") {
		t.Errorf("collection schema %q, want Postman v2.1", coll.Info.Schema)
	}
	vars := map[string]string{}
	for _, v := range coll.Variable {
		vars[v.Key] = v.Value
	}
	for k, v := range plan.Document.Variables {
		if vars[k] != v {
			t.Errorf("collection variable %s = %q, want the plan's %q", k, vars[k], v)
		}
	}
	if len(coll.Item) != len(plan.Document.Steps) || len(plan.Document.Steps) != stepsPerRun {
		t.Fatalf("collection has %d requests, the plan %d steps, stepsPerRun is %d", len(coll.Item), len(plan.Document.Steps), stepsPerRun)
	}
	pmTest := regexp.MustCompile(`pm\.test\(`)
	capture := regexp.MustCompile(`pm\.collectionVariables\.set\("([^"]+)"`)
	total := 0
	for i, step := range plan.Document.Steps {
		item := coll.Item[i]
		if item.Name != step.Name || item.Request.Method != step.Request.Method || item.Request.URL != step.Request.URL {
			t.Errorf("request %d is %q %s %s, want the plan's %q %s %s", i+1, item.Name, item.Request.Method, item.Request.URL,
				step.Name, step.Request.Method, step.Request.URL)
		}
		switch {
		case step.Request.Body == nil && item.Request.Body != nil:
			t.Errorf("request %d has a body, the plan's step has none", i+1)
		case step.Request.Body != nil:
			if item.Request.Body == nil || item.Request.Body.Mode != "raw" {
				t.Fatalf("request %d: want a raw body", i+1)
			}
			var want, got any
			_ = json.Unmarshal(step.Request.Body, &want)
			if err := json.Unmarshal([]byte(item.Request.Body.Raw), &got); err != nil {
				t.Fatalf("request %d body: %v", i+1, err)
			}
			if w, g := mustJSON(t, want), mustJSON(t, got); w != g {
				t.Errorf("request %d body %s, want the plan's %s", i+1, g, w)
			}
		}
		a := step.Assert
		want := len(a.Headers) + len(a.JSONPath) + len(a.BodyContains)
		if len(a.Status) > 0 {
			want++
		}
		if a.MaxLatencyMS > 0 {
			want++
		}
		var script string
		for _, e := range item.Event {
			if e.Listen == "test" {
				script += strings.Join(e.Script.Exec, "\n")
			}
		}
		if got := len(pmTest.FindAllString(script, -1)); got != want {
			t.Errorf("request %d has %d pm.test, want one per assertion of the plan: %d", i+1, got, want)
		}
		total += want
		var captured []string
		for _, m := range capture.FindAllStringSubmatch(script, -1) {
			captured = append(captured, m[1])
		}
		var wantCaptured []string
		for _, c := range step.Capture {
			wantCaptured = append(wantCaptured, c.Name)
		}
		if strings.Join(captured, ",") != strings.Join(wantCaptured, ",") {
			t.Errorf("request %d captures %v, want the plan's %v", i+1, captured, wantCaptured)
		}
	}
	if total != assertionsPerRun {
		t.Errorf("the plan has %d assertions, assertionsPerRun is %d", total, assertionsPerRun)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExamplePlanPointsAtTarget(t *testing.T) {
	t.Parallel()
	body, err := examplePlan("..", "127.0.0.1:4242")
	if err != nil {
		t.Fatal(err)
	}
	var p planFile
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatal(err)
	}
	if got := p.Document.Variables["base_url"]; got != "http://127.0.0.1:4242" {
		t.Errorf("base_url = %q", got)
	}
	if len(p.Document.Steps) != stepsPerRun {
		t.Errorf("%d steps, want %d", len(p.Document.Steps), stepsPerRun)
	}
}

// execution returns an execution of the example plan that took d, with
// the given status and step statuses.
func execution(status string, d time.Duration, steps ...string) apiExecution {
	created := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	finished := created.Add(d)
	e := apiExecution{ID: "e", Status: status, CreatedAt: created, FinishedAt: &finished}
	var raw strings.Builder
	raw.WriteString(`{"status":"` + status + `","steps":[`)
	for i, s := range steps {
		if i > 0 {
			raw.WriteString(",")
		}
		raw.WriteString(`{"name":"s","status":"` + s + `"}`)
	}
	raw.WriteString("]}")
	if err := json.Unmarshal([]byte(`{"result":`+raw.String()+`}`), &e); err != nil {
		panic(err)
	}
	return e
}

func TestCheckRuns(t *testing.T) {
	t.Parallel()
	passed := func(ms int) apiExecution {
		return execution("passed", time.Duration(ms)*time.Millisecond, "passed", "passed", "passed")
	}
	queued := apiExecution{ID: "q", Status: "queued", CreatedAt: time.Now()}
	for _, tc := range []struct {
		name    string
		execs   []apiExecution
		n       int
		wantErr string
	}{
		{"AllPassed", []apiExecution{passed(30), passed(10), passed(20)}, 3, ""},
		{"OneFailed", []apiExecution{passed(10), execution("failed", time.Millisecond, "passed", "failed", "skipped")}, 2, "1 of 2 executions did not pass"},
		{"PassedWithAFailedStep", []apiExecution{execution("passed", time.Millisecond, "passed", "error")}, 1, "did not pass"},
		{"NotFinal", []apiExecution{passed(10), queued}, 2, "q status queued"},
		{"NoSteps", []apiExecution{execution("passed", time.Millisecond)}, 1, "did not pass"},
		{"Missing", []apiExecution{passed(10)}, 2, "found 1 executions of the plan, want 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := checkRuns(tc.execs, tc.n)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.steps != 9 || res.n != 3 {
				t.Errorf("steps %d, n %d; want 9 and 3", res.steps, res.n)
			}
			if q := res.quantiles(); q[0] != 20 || q[1] != 30 {
				t.Errorf("p50, p99 = %v ms, want 20 and 30", q)
			}
			if want := time.Date(2026, 11, 29, 12, 0, 0, 30e6, time.UTC); !res.lastFinished.Equal(want) {
				t.Errorf("last finished at %v, want %v (the 30 ms one)", res.lastFinished, want)
			}
		})
	}
}

func TestParseFlagsRuns(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"-workloads", "runs", "-runs-workers", "4, 16", "-newman-procs", "1,3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !o.workloads["runs"] || len(o.workloads) != 1 {
		t.Errorf("workloads = %v", o.workloads)
	}
	if jsonOf(o.runsWorkers) != "[4,16]" || jsonOf(o.newmanProcs) != "[1,3]" {
		t.Errorf("runs workers %v, newman procs %v", o.runsWorkers, o.newmanProcs)
	}
	d, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !d.workloads["runs"] || d.runsN != 3000 || d.runsHistory != 100000 || d.runsLastPage != 400 {
		t.Errorf("defaults: runs in workloads %v, N %d, history %d, page %d", d.workloads["runs"], d.runsN, d.runsHistory, d.runsLastPage)
	}
	for _, args := range [][]string{
		{"-runs-workers", "0"},
		{"-newman-procs", "two"},
		{"-runs-n", "0"},
		{"-runs-history", "-1"},
		{"-runs-history", "1000"}, // Fewer than 400 pages of 50.
	} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) gave no error", args)
		}
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
