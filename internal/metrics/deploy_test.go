package metrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/astro-runner/astro-runner/internal/metrics"
	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/planrun"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// The deployment files, from this package's directory.
var (
	dashboardFile = filepath.Join("..", "..", "deploy", "grafana", "astro-runner.json")
	alertsFile    = filepath.Join("..", "..", "deploy", "prometheus", "alerts.yml")
)

// TestDeployFilesUseOnlyServedMetrics checks that every metric the Grafana
// dashboard and the alert rules use is in a real /metrics response, of a
// store and worker pool that have run jobs and plan executions.
func TestDeployFilesUseOnlyServedMetrics(t *testing.T) {
	t.Parallel()
	served := names(servedMetrics(t))

	used := map[string][]string{} // Metric name: the files that use it.
	for file, exprs := range map[string][]string{
		dashboardFile: dashboardExprs(t, dashboardFile),
		alertsFile:    ruleExprs(t, alertsFile),
	} {
		require.NotEmpty(t, exprs, "%s has no queries", file)
		n := 0
		for _, e := range exprs {
			for _, name := range promqlMetricNames(e) {
				used[name] = append(used[name], filepath.Base(file))
				n++
			}
		}
		require.Positive(t, n, "no metric names found in %s", file)
	}
	for _, name := range missingMetrics(used, served) {
		t.Errorf("%s, used by %s, is not in the /metrics response", name, strings.Join(slices.Compact(used[name]), ", "))
	}
}

// missingMetrics returns the names of used that are not served, sorted.
func missingMetrics(used map[string][]string, served map[string]bool) []string {
	var missing []string
	for name := range used {
		if !served[name] {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	return missing
}

func TestMissingMetricsReportsAMisspelledName(t *testing.T) {
	t.Parallel()
	served := map[string]bool{"astro_jobs_completed_total": true, "astro_job_pickup_latency_seconds_bucket": true}
	used := map[string][]string{}
	for _, e := range []string{
		`sum(rate(astro_jobs_completed_total[5m]))`,
		`histogram_quantile(0.99, sum by (le) (rate(astro_job_pickup_latency_second_bucket[5m])))`,
	} {
		for _, name := range promqlMetricNames(e) {
			used[name] = append(used[name], "test")
		}
	}
	assert.Equal(t, []string{"astro_job_pickup_latency_second_bucket"}, missingMetrics(used, served))
}

func TestPromQLMetricNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`astro_jobs_claimed_total`, []string{"astro_jobs_claimed_total"}},
		{`sum by (queue) (rate(astro_jobs_failed_total{job=~"$job", queue=~"$queue"}[$__rate_interval]))`,
			[]string{"astro_jobs_failed_total"}},
		{`histogram_quantile(0.99, sum by (le, queue) (rate(astro_job_pickup_latency_seconds_bucket[5m]))) > 5`,
			[]string{"astro_job_pickup_latency_seconds_bucket"}},
		{"sum(increase(astro_executions_finished_total{status=~\"failed|error\"}[30m]))\n/\n" +
			"sum(increase(astro_executions_finished_total{status=~'passed|failed|error'}[30m])) > 0.2\nand\nsum(x_total) >= 5",
			[]string{"astro_executions_finished_total", "x_total"}},
		{`sum(rate(a_total[5m])) without (instance) / on (queue) group_left (kind) b offset 1h unless c_total`,
			[]string{"a_total", "b", "c_total"}},
		{`max_over_time(up{job="x"}[1h:5m]) * 1e3 + inf`, []string{"up"}},
		{`{__name__="astro_workers"}`, nil},
		{`sum(rate(astro_workers{state="by (queue) rate(fake_total[5m])"}[5m]))`, []string{"astro_workers"}},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, promqlMetricNames(tc.expr))
		})
	}
}

// servedMetrics returns the samples of a /metrics response of a server
// that has run jobs and plan executions: an in-memory store, a worker pool
// with the queue observer, running the planjob handler with the runs
// observer against a loopback target, and other jobs. It scrapes while the
// pool runs.
func servedMetrics(t *testing.T) map[string]float64 {
	t.Helper()
	ctx := context.Background()
	m := metrics.New(metrics.Options{})
	raw, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = raw.Close() })
	// As serve wires them: the store decorator, the queue state read at
	// scrape time, and one API request observed.
	st := metrics.InstrumentStore(raw, "memory", m.Store)
	m.CollectQueueState(st, metrics.QueueStateOptions{})
	m.HTTP.Observe(http.MethodGet, "GET /plan/{id}", http.StatusOK, time.Millisecond)
	_, err = st.PlanGetByID(ctx, uuid.Must(uuid.NewV7()))
	require.ErrorIs(t, err, storage.ErrNotFound, "a store error, for astro_store_errors_total")
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/down" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	t.Cleanup(target.Close)

	log := slog.New(slog.DiscardHandler)
	pool := worker.New(st, worker.Config{
		Observer: m.Queue, Logger: log, PollInterval: 20 * time.Millisecond,
		Retry: storage.RetryPolicy{Base: time.Millisecond, Max: time.Millisecond},
	})
	(&planjob.Handler{Store: st, Runner: &planrun.Runner{}, Logger: log, Observer: m.Runs}).Register(pool)
	pool.Handle("probe", func(context.Context, *storage.Job) error { return nil })
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = pool.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })

	step := func(name, path string) map[string]any {
		return map[string]any{"name": name, "request": map[string]any{"method": "GET", "url": target.URL + path},
			"assert": map[string]any{"status": []int{200}, "jsonpath": []any{map[string]any{"path": "$.ok", "equals": true}}}}
	}
	execs := []*storage.Execution{
		createExecution(t, st, "passes", step("up", "/up")),
		createExecution(t, st, "fails", step("up", "/up"), step("down", "/down")),
	}
	for range 3 {
		_, err := st.JobEnqueue(ctx, &storage.JobEnqueueParams{Kind: "probe"})
		require.NoError(t, err)
	}
	pool.Wake()
	for _, e := range execs {
		require.Eventually(t, func() bool {
			got, err := st.ExecutionGetByID(ctx, e.ID)
			return err == nil && got.Status.Final()
		}, 30*time.Second, 10*time.Millisecond, "execution %s never finished", e.ID)
	}
	var samples map[string]float64
	require.Eventually(t, func() bool {
		samples = scrape(t, m.Handler())
		return samples[fmt.Sprintf("astro_jobs_completed_total{queue=%q}", storage.DefaultQueue)] == 5
	}, 30*time.Second, 10*time.Millisecond, "the jobs' completions were never counted")
	require.Equal(t, 1.0, samples[`astro_executions_finished_total{status="passed",trigger="api"}`])
	require.Equal(t, 1.0, samples[`astro_executions_finished_total{status="failed",trigger="api"}`])
	require.Equal(t, 2.0, samples[`astro_assertions_failed_total{kind="status"}`]+samples[`astro_assertions_failed_total{kind="jsonpath_equals"}`])
	return samples
}

// createExecution saves a plan with the given steps, and creates its
// execution and job in one transaction, as the API does.
func createExecution(t *testing.T, st storage.Store, name string, steps ...map[string]any) *storage.Execution {
	t.Helper()
	ctx := context.Background()
	doc, err := json.Marshal(map[string]any{"steps": steps})
	require.NoError(t, err)
	p, err := st.PlanCreate(ctx, &storage.PlanCreateParams{Name: name, Document: doc})
	require.NoError(t, err)
	var exec *storage.Execution
	require.NoError(t, st.InTx(ctx, func(tx storage.Store) error {
		if exec, err = tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision, Trigger: storage.TriggerAPI}); err != nil {
			return err
		}
		_, err = tx.JobEnqueue(ctx, planjob.EnqueueParams(exec))
		return err
	}))
	return exec
}

// dashboard is the part of a Grafana dashboard that the test reads.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // A collapsed row's.
}

// labelValues matches a Grafana label_values(selector, label) query.
var labelValues = regexp.MustCompile(`^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// dashboardExprs reads the dashboard and returns the PromQL of its panels'
// targets and of its template variables' queries.
func dashboardExprs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var d dashboard
	dec := json.NewDecoder(bytes.NewReader(b))
	require.NoError(t, dec.Decode(&d), "%s is not a dashboard", file)
	require.NotEmpty(t, d.UID, "uid")
	require.NotEmpty(t, d.Title, "title")
	var exprs []string
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			assert.NotEmpty(t, p.Targets, "panel %q has no queries", p.Title)
			assert.Contains(t, string(p.Datasource), "${datasource}", "panel %q should use the datasource variable", p.Title)
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.Expr, "panel %q has an empty query", p.Title)
				exprs = append(exprs, tg.Expr)
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			require.NoError(t, json.Unmarshal(v.Query, &q.Query), "variable %s", v.Name)
		}
		m := labelValues.FindStringSubmatch(q.Query)
		require.NotNil(t, m, "variable %s: want label_values(selector, label), not %q", v.Name, q.Query)
		exprs = append(exprs, m[1])
	}
	return exprs
}

// ruleFile is a Prometheus rule file, as far as its structure goes.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Limit    int    `yaml:"limit"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

var (
	promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	promName     = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// ruleExprs reads the rule file, checks its structure as Prometheus would
// (known fields only; named, unique groups; each rule an alert or a record
// with an expression; durations, label names, severities and summaries)
// and returns the rules' expressions.
func ruleExprs(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&rf), "%s is not a Prometheus rule file", file)
	require.NotEmpty(t, rf.Groups, "groups")
	var exprs []string
	groups := map[string]bool{}
	for _, g := range rf.Groups {
		require.NotEmpty(t, g.Name, "a group has no name")
		assert.False(t, groups[g.Name], "group %q appears twice", g.Name)
		groups[g.Name] = true
		if g.Interval != "" {
			assert.Regexp(t, promDuration, g.Interval, "group %q interval", g.Name)
		}
		require.NotEmpty(t, g.Rules, "group %q has no rules", g.Name)
		for _, r := range g.Rules {
			name := r.Alert + r.Record
			assert.True(t, (r.Alert == "") != (r.Record == ""), "rule %q in %q: want exactly one of alert and record", name, g.Name)
			assert.NotEmpty(t, strings.TrimSpace(r.Expr), "rule %q has no expr", name)
			assert.True(t, balanced(r.Expr), "rule %q: unbalanced brackets in %q", name, r.Expr)
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if d != "" {
					assert.Regexp(t, promDuration, d, "rule %q duration", name)
				}
			}
			for k := range r.Labels {
				assert.Regexp(t, promName, k, "rule %q label", name)
			}
			if r.Alert != "" {
				assert.Regexp(t, promName, r.Alert, "alert name")
				assert.Contains(t, []string{"critical", "warning", "info"}, r.Labels["severity"], "alert %q severity", name)
				assert.NotEmpty(t, r.Annotations["summary"], "alert %q summary", name)
				assert.NotEmpty(t, r.Annotations["description"], "alert %q description", name)
			} else {
				assert.Empty(t, r.For, "recording rule %q has for", name)
				assert.Empty(t, r.Annotations, "recording rule %q has annotations", name)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	return exprs
}

// balanced reports whether the brackets of a PromQL expression, outside
// its strings, pair up.
func balanced(expr string) bool {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	for _, c := range stripStrings(expr) {
		switch c {
		case '(', '[', '{':
			stack = append(stack, c)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return false
			}
			stack = stack[:len(stack)-1]
		}
	}
	return len(stack) == 0
}

var (
	promqlStrings = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	// Grafana's variables: $name, ${name} and [[name]].
	grafanaVars   = regexp.MustCompile(`\$\{[^}]*\}|\$[a-zA-Z_][a-zA-Z0-9_]*|\[\[[^\]]*\]\]`)
	promqlMatcher = regexp.MustCompile(`\{[^{}]*\}`)
	promqlRange   = regexp.MustCompile(`\[[^\[\]]*\]`)
	// Label lists of aggregations and vector matching.
	promqlLabelList = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	promqlOffset    = regexp.MustCompile(`\boffset\s+-?[0-9a-z]+`)
	promqlNumber    = regexp.MustCompile(`(^|[^a-zA-Z0-9_:])([0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|0x[0-9a-fA-F]+)`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	// Words of PromQL that are not metric names when no '(' follows.
	promqlKeywords = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool",
		"and", "or", "unless", "offset", "inf", "nan", "Inf", "NaN", "atan2", "start", "end"}
)

// stripStrings replaces the string literals of a PromQL expression with "".
func stripStrings(expr string) string { return promqlStrings.ReplaceAllString(expr, `""`) }

// promqlMetricNames returns the metric names that a PromQL expression (a
// Grafana one, with $variables) selects, in order of first use. It is not
// a full parser, but knows enough of PromQL for the dashboard and rules:
// strings, label matchers, ranges, label lists, offsets and numbers are
// dropped, then every identifier not followed by "(" (a function or
// aggregation) and not a keyword is a metric name.
func promqlMetricNames(expr string) []string {
	s := stripStrings(expr)
	s = grafanaVars.ReplaceAllString(s, "5m")
	for {
		next := promqlMatcher.ReplaceAllString(s, " ")
		next = promqlRange.ReplaceAllString(next, " ")
		if next == s {
			break
		}
		s = next
	}
	s = promqlLabelList.ReplaceAllString(s, " ")
	s = promqlOffset.ReplaceAllString(s, " ")
	s = promqlNumber.ReplaceAllString(s, "$1 ")
	var out []string
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if rest := strings.TrimLeft(s[loc[1]:], " \t\n"); strings.HasPrefix(rest, "(") {
			continue
		}
		if slices.Contains(promqlKeywords, name) || slices.Contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}
