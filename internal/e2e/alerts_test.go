//go:build e2e

package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// The alert tests run the real binary with a loopback receiver that
// records every request it gets and answers from a script, and a loopback
// target whose answer the test flips so that a plan passes or fails on
// demand. They check what a receiver sees (events, bodies, signatures,
// delivery ids), the deliveries log of GET /channel/{id}/deliveries, and
// the alert queue (astro.alerts) through GET /queue/stats.
//
// A check that nothing was sent waits until the execution that could have
// sent it is final (its jobs commit with its final status) and the alert
// queue has settled: no job of astro.alerts is available, running or
// retryable. Each scenario gets its own server, so that the queue holds
// only its own jobs.

// The alert queue and its job kinds.
const (
	alertQueue  = "astro.alerts"
	deliverKind = "deliver_alert"
	flushKind   = "flush_alerts"
)

// alertWait bounds every wait for a delivery. Retries back off 1 s, 2 s…
// with jitter, so three attempts take about 3 s.
const alertWait = 45 * time.Second

// alertDB is one fresh database for a scenario: the environment that
// selects it, and a way to open it directly.
type alertDB struct {
	name string
	env  map[string]string
	open func(context.Context) (storage.Store, error)
}

// alertBackends runs fn as parallel subtests on a fresh SQLite file and on
// a fresh Postgres schema.
func alertBackends(t *testing.T, fn func(t *testing.T, db alertDB)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		fn(t, sqliteAlertDB(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		fn(t, postgresAlertDB(t))
	})
}

// sqliteAlertDB returns a SQLite file in the test's directory.
func sqliteAlertDB(t *testing.T) alertDB {
	path := filepath.Join(t.TempDir(), "astro.db")
	return alertDB{
		name: "sqlite",
		env:  map[string]string{"STORAGE_BACKEND": "sqlite", "SQLITE_PATH": path},
		open: func(ctx context.Context) (storage.Store, error) {
			return sqlitestore.Open(ctx, sqlitestore.Config{Path: path, SkipMigrate: true, MaxReaders: 2})
		},
	}
}

// postgresAlertDB returns a fresh Postgres schema. It skips t, or fails it
// with ASTRO_REQUIRE_POSTGRES=1, when there is no database.
func postgresAlertDB(t *testing.T) alertDB {
	u := pgtest.URL(t)
	return alertDB{
		name: "postgres",
		env:  map[string]string{"STORAGE_BACKEND": "postgres", "POSTGRESQL_URL": u},
		open: func(ctx context.Context) (storage.Store, error) {
			return pgstore.Open(ctx, pgstore.Config{URL: u, SkipMigrate: true, MaxConns: 2})
		},
	}
}

// alertRig is one astro-runner serve process with a flip target.
type alertRig struct {
	t      *testing.T
	srv    *astro
	db     alertDB
	public string // ASTRO_PUBLIC_URL
	target *flipTarget
	st     storage.Store // see alertStore
}

// startAlertRig starts a serve process on db with the settings of extra
// and ASTRO_PUBLIC_URL set to its own address.
func startAlertRig(t *testing.T, db alertDB, extra map[string]string) *alertRig {
	t.Helper()
	addr := freeAddr(t)
	env := map[string]string{"ASTRO_ADDR": addr, "ASTRO_PUBLIC_URL": "http://" + addr}
	for k, v := range db.env {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return &alertRig{
		t:      t,
		srv:    startAstro(t, astroConfig{name: "alerts-" + db.name, env: env}),
		db:     db,
		public: "http://" + addr,
		target: newFlipTarget(t),
	}
}

// flipTarget answers GET /check with 200 or 500, as the test sets it.
type flipTarget struct {
	url  string
	pass atomic.Bool
}

func newFlipTarget(t *testing.T) *flipTarget {
	t.Helper()
	ft := &flipTarget{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /check", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if ft.pass.Load() {
			_, _ = io.WriteString(w, `{"ok":true}`)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"ok":false}`)
	})
	ft.url = newLocalServer(t, mux)
	return ft
}

// newPlan creates a one-step plan, step "check", that GETs the flip target
// and expects 200, and returns its ID.
func (r *alertRig) newPlan(name string) string {
	r.t.Helper()
	var p apiPlan
	r.srv.must(http.MethodPost, "/plan", map[string]any{
		"name": name,
		"document": map[string]any{"steps": []any{map[string]any{
			"name":    "check",
			"request": map[string]any{"method": "GET", "url": r.target.url + "/check"},
			"assert":  map[string]any{"status": 200},
		}}},
	}, http.StatusCreated).decode(r.t, &p)
	return p.ID
}

// run executes a plan with the target passing or failing, waits until the
// execution is final and requires it passed or failed accordingly.
func (r *alertRig) run(planID string, pass bool) apiExecution {
	r.t.Helper()
	r.target.pass.Store(pass)
	return r.execute(planID, map[bool]string{true: "passed", false: "failed"}[pass])
}

// execute executes a plan, waits until the execution is final and
// requires the status want.
func (r *alertRig) execute(planID, want string) apiExecution {
	r.t.Helper()
	var e apiExecution
	r.srv.must(http.MethodPost, "/plan/"+planID+"/execute", nil, http.StatusAccepted).decode(r.t, &e)
	final := r.srv.waitFinal([]string{e.ID}, 60*time.Second)[e.ID]
	require.Equal(r.t, want, final.Status, "execution %s: %s", e.ID, final.Result)
	return final
}

// apiChannel is the part of a channel answer the tests read.
type apiChannel struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Kind        string   `json:"kind"`
	URL         string   `json:"url"`
	HeaderNames []string `json:"header_names"`
	HasSecret   bool     `json:"has_secret"`
}

// webhook creates a webhook channel and returns it.
func (r *alertRig) webhook(name, u, secret string, headers map[string]string) apiChannel {
	r.t.Helper()
	body := map[string]any{"name": name, "kind": "webhook", "url": u}
	if secret != "" {
		body["secret"] = secret
	}
	if headers != nil {
		body["headers"] = headers
	}
	var ch apiChannel
	r.srv.must(http.MethodPost, "/channel", body, http.StatusCreated).decode(r.t, &ch)
	require.NotEmpty(r.t, ch.ID)
	require.Equal(r.t, secret != "", ch.HasSecret)
	return ch
}

// rule creates an alert rule and returns its ID.
func (r *alertRig) rule(body map[string]any) string {
	r.t.Helper()
	var rule struct {
		ID string `json:"id"`
	}
	r.srv.must(http.MethodPost, "/alert-rule", body, http.StatusCreated).decode(r.t, &rule)
	require.NotEmpty(r.t, rule.ID)
	return rule.ID
}

// apiDelivery is one attempt of GET /channel/{id}/deliveries, or the
// answer of POST /channel/{id}/test.
type apiDelivery struct {
	ID          string          `json:"id"`
	DeliveryID  string          `json:"delivery_id"`
	RuleID      *string         `json:"rule_id"`
	ExecutionID *string         `json:"execution_id"`
	Event       string          `json:"event"`
	Attempt     int             `json:"attempt"`
	Outcome     string          `json:"outcome"`
	StatusCode  *int            `json:"status_code"`
	LatencyMS   int64           `json:"latency_ms"`
	Error       string          `json:"error"`
	Payload     json.RawMessage `json:"payload"`
	Response    string          `json:"response"`
	CreatedAt   time.Time       `json:"created_at"`
}

// deliveries returns every attempt of a channel's deliveries log, of one
// message if deliveryID is not empty, newest first, following the pages.
// It also returns the raw answers.
func (r *alertRig) deliveries(channelID, deliveryID string) ([]apiDelivery, [][]byte) {
	r.t.Helper()
	var all []apiDelivery
	var raw [][]byte
	cursor := ""
	for {
		q := url.Values{"limit": {"2"}}
		if deliveryID != "" {
			q.Set("delivery_id", deliveryID)
		}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		resp := r.srv.must(http.MethodGet, "/channel/"+channelID+"/deliveries?"+q.Encode(), nil, http.StatusOK)
		raw = append(raw, resp.body)
		var page struct {
			Deliveries []apiDelivery `json:"deliveries"`
			NextCursor string        `json:"next_cursor"`
		}
		var keys map[string]json.RawMessage
		resp.decode(r.t, &keys)
		require.Contains(r.t, keys, "deliveries", "the deliveries listing: %s", resp)
		resp.decode(r.t, &page)
		all = append(all, page.Deliveries...)
		if cursor = page.NextCursor; cursor == "" {
			break
		}
		require.Less(r.t, len(raw), 100, "the deliveries listing does not end")
	}
	return all, raw
}

// alertStore opens the rig's database directly, once, for the job
// listing the API does not have. It is closed when the test ends.
func (r *alertRig) alertStore() storage.Store {
	r.t.Helper()
	if r.st == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := r.db.open(ctx)
		require.NoError(r.t, err, "open the database")
		r.t.Cleanup(func() { _ = st.Close() })
		r.st = st
	}
	return r.st
}

// alertJobs returns every job of the alert queue of one kind, oldest
// first.
func (r *alertRig) alertJobs(kind string) []*storage.Job {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var jobs []*storage.Job
	cursor := ""
	for {
		page, err := r.alertStore().JobList(ctx, &storage.JobListParams{
			Queue: alertQueue, Kind: kind, Limit: storage.MaxPageLimit, Cursor: cursor})
		require.NoError(r.t, err)
		jobs = append(jobs, page.Jobs...)
		if cursor = page.NextCursor; cursor == "" {
			slices.Reverse(jobs) // JobList is newest first.
			return jobs
		}
	}
}

// jobCounts counts jobs by state.
func jobCounts(jobs []*storage.Job) map[storage.JobState]int {
	out := map[storage.JobState]int{}
	for _, j := range jobs {
		out[j.State]++
	}
	return out
}

// waitAlertsSettled waits until every deliver_alert and flush_alerts job
// is final, and returns the deliver_alert jobs by state.
func (r *alertRig) waitAlertsSettled() map[storage.JobState]int {
	r.t.Helper()
	var deliver, flush []*storage.Job
	waitUntil(r.t, alertWait, "the alert jobs are final", func() bool {
		deliver, flush = r.alertJobs(deliverKind), r.alertJobs(flushKind)
		for _, j := range append(slices.Clone(deliver), flush...) {
			if !j.State.Final() {
				return false
			}
		}
		return true
	}, func() string {
		return fmt.Sprintf("deliver_alert %v, flush_alerts %v\n%s", jobCounts(deliver), jobCounts(flush), logTail(r.srv.log, 30))
	})
	return jobCounts(deliver)
}

// waitUntil polls cond every 100 ms, on the test's goroutine, until it
// holds, and fails t after timeout with what and detail().
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, detail func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting until %s: %s", timeout, what, detail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// receivedRequest is one request the receiver got.
type receivedRequest struct {
	method, path string
	header       http.Header
	body         []byte
	at           time.Time
	answered     int
}

// String summarises the request for failure messages.
func (r receivedRequest) String() string {
	body := string(r.body)
	if len(body) > 300 {
		body = body[:300] + "…"
	}
	return fmt.Sprintf("%s %s (event %q, delivery %q, answered %d): %s", r.method, r.path,
		r.header.Get("X-Astro-Event"), r.header.Get("X-Astro-Delivery"), r.answered, body)
}

// alertReceiver records every request and answers with the statuses of
// its script in turn, then 200.
type alertReceiver struct {
	url    string
	mu     sync.Mutex
	reqs   []receivedRequest
	script []int
}

func newAlertReceiver(t *testing.T, script ...int) *alertReceiver {
	t.Helper()
	rc := &alertReceiver{script: script}
	rc.url = newLocalServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rc.mu.Lock()
		status := http.StatusOK
		if len(rc.script) > 0 {
			status, rc.script = rc.script[0], rc.script[1:]
		}
		rc.reqs = append(rc.reqs, receivedRequest{
			method: req.Method, path: req.URL.Path, header: req.Header.Clone(), body: body,
			at: time.Now(), answered: status,
		})
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, `{"receiver":"answered %d"}`, status)
	}))
	return rc
}

// setScript replaces the statuses still to answer.
func (rc *alertReceiver) setScript(script ...int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.script = script
}

// requests returns a copy of the requests received so far.
func (rc *alertReceiver) requests() []receivedRequest {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// waitCount waits until the receiver got at least n requests and returns
// them.
func (rc *alertReceiver) waitCount(t *testing.T, r *alertRig, n int) []receivedRequest {
	t.Helper()
	waitUntil(t, alertWait, fmt.Sprintf("the receiver gets %d requests", n), func() bool {
		return len(rc.requests()) >= n
	}, func() string {
		return fmt.Sprintf("got %d\n%s", len(rc.requests()), logTail(r.srv.log, 30))
	})
	return rc.requests()
}

// verifySignature checks an X-Astro-Signature header, "t=<unix>,v1=<hex
// HMAC-SHA256(secret, "<t>.<body>")>", as a receiver would, with the
// standard library only and independently of internal/alert. It returns
// the signature's time.
func verifySignature(secret, header string, body []byte) (time.Time, error) {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return time.Time{}, fmt.Errorf("malformed signature part %q", part)
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("signature time %q: %w", ts, err)
	}
	if len(sigs) == 0 {
		return time.Time{}, errors.New("no v1 signature")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return time.Unix(unix, 0), nil
		}
	}
	return time.Time{}, errors.New("no v1 signature matches")
}

// TestAlertSignatureVerifierSelfCheck checks the test's own verifier
// against a signature made with openssl (printf '%s' '1700000000.{"event":"test"}' |
// openssl dgst -sha256 -hmac whsec-0123456789abcdef), so that its verdicts on
// real deliveries mean something.
func TestAlertSignatureVerifierSelfCheck(t *testing.T) {
	t.Parallel()
	const secret = "whsec-0123456789abcdef"
	body := []byte(`{"event":"test"}`)
	header := "t=1700000000,v1=b988d128e149191238e2483bda5f6b7b6b6120fd7e9e5b2833656e1b7a269bea"
	at, err := verifySignature(secret, header, body)
	require.NoError(t, err)
	require.Equal(t, time.Unix(1700000000, 0), at)
	for name, c := range map[string]struct {
		secret, header string
		body           []byte
	}{
		"another secret":  {"whsec-0123456789abcdeg", header, body},
		"another body":    {secret, header, []byte(`{"event":"test" }`)},
		"another time":    {secret, strings.Replace(header, "t=1700000000", "t=1700000001", 1), body},
		"no v1":           {secret, "t=1700000000", body},
		"no time":         {secret, "v1=b988d128e149191238e2483bda5f6b7b6b6120fd7e9e5b2833656e1b7a269bea", body},
		"malformed":       {secret, "garbage", body},
		"empty signature": {secret, "t=1700000000,v1=", body},
	} {
		_, err := verifySignature(c.secret, c.header, c.body)
		require.Error(t, err, name)
	}
}

// alertEvent is the webhook document, as a receiver decodes it.
type alertEvent struct {
	Version    string    `json:"version"`
	Event      string    `json:"event"`
	DeliveryID string    `json:"delivery_id"`
	CreatedAt  time.Time `json:"created_at"`
	Rule       *struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"rule"`
	Plan struct {
		ID       string `json:"id"`
		Name     string `json:"name"`
		Revision int64  `json:"revision"`
	} `json:"plan"`
	Execution struct {
		ID         string     `json:"id"`
		URL        string     `json:"url"`
		Status     string     `json:"status"`
		Trigger    string     `json:"trigger"`
		FinishedAt *time.Time `json:"finished_at"`
	} `json:"execution"`
	ConsecutiveFailures int `json:"consecutive_failures"`
	Suppressed          int `json:"suppressed"`
	FailedSteps         []struct {
		Index     int    `json:"index"`
		Name      string `json:"name"`
		Status    string `json:"status"`
		Error     string `json:"error"`
		Assertion *struct {
			Kind     string `json:"kind"`
			Target   string `json:"target"`
			Expected string `json:"expected"`
			Actual   string `json:"actual"`
			Message  string `json:"message"`
		} `json:"assertion"`
	} `json:"failed_steps"`
	MoreFailedSteps int `json:"more_failed_steps"`
}

// checkSigned checks one webhook request as a receiver would: a JSON POST
// whose signature verifies with secret and with no other secret, nor for
// another body, whose X-Astro-Delivery and X-Astro-Event match its body.
// It returns the decoded document.
func checkSigned(t *testing.T, req receivedRequest, secret string) alertEvent {
	t.Helper()
	require.Equal(t, http.MethodPost, req.method)
	require.True(t, strings.HasPrefix(req.header.Get("Content-Type"), "application/json"), "Content-Type %q", req.header.Get("Content-Type"))
	sig := req.header.Get("X-Astro-Signature")
	require.NotEmpty(t, sig, "X-Astro-Signature")
	signedAt, err := verifySignature(secret, sig, req.body)
	require.NoError(t, err, "the signature %q verifies with the channel's secret", sig)
	// The signature is made for this attempt: its time is the attempt's,
	// give or take the clocks of one machine and generous slack.
	require.WithinDuration(t, req.at, signedAt, 10*time.Minute)
	_, err = verifySignature(secret+"x", sig, req.body)
	require.Error(t, err, "the signature verifies with another secret")
	_, err = verifySignature("another-secret-0123456789", sig, req.body)
	require.Error(t, err, "the signature verifies with another secret")
	_, err = verifySignature(secret, sig, append(slices.Clone(req.body), ' '))
	require.Error(t, err, "the signature verifies for another body")

	var ev alertEvent
	require.NoError(t, json.Unmarshal(req.body, &ev), "body %s", req.body)
	require.Equal(t, "1", ev.Version, "body %s", req.body)
	require.NotEmpty(t, ev.DeliveryID)
	require.Equal(t, ev.DeliveryID, req.header.Get("X-Astro-Delivery"), "X-Astro-Delivery is the body's delivery_id")
	require.Equal(t, ev.Event, req.header.Get("X-Astro-Event"), "X-Astro-Event is the body's event")
	return ev
}

// requireDelivered requires that a message's attempts in the log are
// exactly one, delivered with status 200, about execID, with the payload
// the receiver got.
func requireDelivered(t *testing.T, log []apiDelivery, req receivedRequest, ev alertEvent, ruleID, execID string) {
	t.Helper()
	var mine []apiDelivery
	for _, d := range log {
		if d.DeliveryID == ev.DeliveryID {
			mine = append(mine, d)
		}
	}
	require.Len(t, mine, 1, "one attempt of delivery %s in %+v", ev.DeliveryID, log)
	d := mine[0]
	require.Equal(t, "delivered", d.Outcome)
	require.Equal(t, 1, d.Attempt)
	require.Equal(t, ev.Event, d.Event)
	require.NotNil(t, d.StatusCode)
	require.Equal(t, http.StatusOK, *d.StatusCode)
	require.Empty(t, d.Error)
	require.NotNil(t, d.ExecutionID)
	require.Equal(t, execID, *d.ExecutionID)
	require.NotNil(t, d.RuleID)
	require.Equal(t, ruleID, *d.RuleID)
	require.JSONEq(t, string(req.body), string(d.Payload), "the log's payload is what was sent")
	require.Contains(t, d.Response, "answered 200")
}

// TestAlertSequence checks, with no minimum interval, a webhook channel
// with a secret and a rule with the defaults on a plan: fail → exactly one
// execution.failed; fail again → nothing; pass → exactly one
// execution.recovered. Each message is checked as a receiver would.
func TestAlertSequence(t *testing.T) {
	t.Parallel()
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0"})
		rc := newAlertReceiver(t)
		secret := "whsec-" + rand.Text()
		ch := r.webhook("ops", rc.url+"/hook", secret, map[string]string{"X-Team": "ops"})
		planID := r.newPlan("checkout")
		ruleID := r.rule(map[string]any{"name": "checkout is down", "plan_id": planID, "channels": []string{ch.ID}})

		// Fail: one execution.failed.
		e1 := r.run(planID, false)
		reqs := rc.waitCount(t, r, 1)
		failed := checkSigned(t, reqs[0], secret)
		require.Equal(t, "/hook", reqs[0].path)
		require.Equal(t, "ops", reqs[0].header.Get("X-Team"), "the channel's extra header")
		require.Equal(t, "execution.failed", failed.Event)
		require.Equal(t, planID, failed.Plan.ID)
		require.Equal(t, "checkout", failed.Plan.Name)
		require.Equal(t, e1.ID, failed.Execution.ID)
		require.Equal(t, "failed", failed.Execution.Status)
		require.Equal(t, "api", failed.Execution.Trigger)
		require.Equal(t, r.public+"/execution/"+e1.ID, failed.Execution.URL)
		require.NotNil(t, failed.Rule)
		require.Equal(t, ruleID, failed.Rule.ID)
		require.Equal(t, "checkout is down", failed.Rule.Name)
		require.Equal(t, 1, failed.ConsecutiveFailures)
		require.Zero(t, failed.Suppressed)
		require.Len(t, failed.FailedSteps, 1, "body %s", reqs[0].body)
		step := failed.FailedSteps[0]
		require.Equal(t, 0, step.Index)
		require.Equal(t, "check", step.Name)
		require.Equal(t, "failed", step.Status)
		require.NotNil(t, step.Assertion, "body %s", reqs[0].body)
		require.Equal(t, "status", step.Assertion.Kind)
		require.Equal(t, "200", step.Assertion.Expected)
		require.Equal(t, "500", step.Assertion.Actual)
		// The execution link works.
		resp, err := r.srv.client.Get(failed.Execution.URL)
		require.NoError(t, err)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", failed.Execution.URL)

		counts := r.waitAlertsSettled()
		require.Equal(t, map[storage.JobState]int{storage.JobCompleted: 1}, counts, "one deliver_alert job")
		log, _ := r.deliveries(ch.ID, "")
		require.Len(t, log, 1, "%+v", log)
		requireDelivered(t, log, reqs[0], failed, ruleID, e1.ID)

		// Fail again: nothing. The job would have committed with e2's
		// final status, and the queue has settled.
		r.run(planID, false)
		counts = r.waitAlertsSettled()
		require.Len(t, rc.requests(), 1, "a second failure in a row sends nothing")
		require.Equal(t, map[storage.JobState]int{storage.JobCompleted: 1}, counts, "no job for the second failure")

		// Pass: one execution.recovered.
		e3 := r.run(planID, true)
		reqs = rc.waitCount(t, r, 2)
		recovered := checkSigned(t, reqs[1], secret)
		require.Equal(t, "execution.recovered", recovered.Event)
		require.Equal(t, e3.ID, recovered.Execution.ID)
		require.Equal(t, "passed", recovered.Execution.Status)
		require.Equal(t, planID, recovered.Plan.ID)
		require.Empty(t, recovered.FailedSteps)
		require.Zero(t, recovered.ConsecutiveFailures)
		require.NotEqual(t, failed.DeliveryID, recovered.DeliveryID, "each message has its own delivery id")

		counts = r.waitAlertsSettled()
		require.Len(t, rc.requests(), 2, "exactly one recovery")
		require.Equal(t, map[storage.JobState]int{storage.JobCompleted: 2}, counts, "one job per message")
		log, _ = r.deliveries(ch.ID, "")
		require.Len(t, log, 2, "%+v", log)
		requireDelivered(t, log, reqs[0], failed, ruleID, e1.ID)
		requireDelivered(t, log, reqs[1], recovered, ruleID, e3.ID)
		require.Equal(t, recovered.DeliveryID, log[0].DeliveryID, "the log is newest first")

		// Another pass: nothing.
		r.run(planID, true)
		r.waitAlertsSettled()
		require.Len(t, rc.requests(), 2, "a pass after a recovery sends nothing")
	})
}

// TestAlertAfterConsecutiveFailures checks that a rule with
// after_consecutive_failures 3 sends one message, on the third failure in
// a row, and none on the fourth.
func TestAlertAfterConsecutiveFailures(t *testing.T) {
	t.Parallel()
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0"})
		rc := newAlertReceiver(t)
		secret := "whsec-" + rand.Text()
		ch := r.webhook("ops", rc.url+"/hook", secret, nil)
		planID := r.newPlan("flaky")
		ruleID := r.rule(map[string]any{"plan_id": planID, "channels": []string{ch.ID}, "after_consecutive_failures": 3})

		var execs []apiExecution
		for i := 1; i <= 2; i++ {
			execs = append(execs, r.run(planID, false))
			r.waitAlertsSettled()
			require.Empty(t, rc.requests(), "failure %d of 3 sends nothing", i)
		}
		execs = append(execs, r.run(planID, false))
		reqs := rc.waitCount(t, r, 1)
		ev := checkSigned(t, reqs[0], secret)
		require.Equal(t, "execution.failed", ev.Event)
		require.Equal(t, execs[2].ID, ev.Execution.ID, "the message is about the third failure")
		require.Equal(t, 3, ev.ConsecutiveFailures)

		r.run(planID, false)
		r.waitAlertsSettled()
		require.Len(t, rc.requests(), 1, "the fourth failure sends nothing")
		log, _ := r.deliveries(ch.ID, "")
		require.Len(t, log, 1, "%+v", log)
		requireDelivered(t, log, reqs[0], ev, ruleID, execs[2].ID)
	})
}

// TestAlertRetriesUntilDelivered checks a receiver that answers 500, 500,
// then 200: three attempts of one message, the last delivered, all with the same
// delivery id, the same body and a valid signature.
func TestAlertRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0"})
		rc := newAlertReceiver(t, http.StatusInternalServerError, http.StatusInternalServerError)
		secret := "whsec-" + rand.Text()
		ch := r.webhook("ops", rc.url+"/hook", secret, nil)
		planID := r.newPlan("retried")
		r.rule(map[string]any{"plan_id": planID, "channels": []string{ch.ID}})

		e := r.run(planID, false)
		reqs := rc.waitCount(t, r, 3)
		counts := r.waitAlertsSettled()
		reqs = rc.requests()
		require.Len(t, reqs, 3, "two failed attempts and one delivered")
		var first alertEvent
		for i, req := range reqs {
			ev := checkSigned(t, req, secret)
			if i == 0 {
				first = ev
				continue
			}
			require.Equal(t, first.DeliveryID, req.header.Get("X-Astro-Delivery"), "attempt %d", i+1)
			require.Equal(t, string(reqs[0].body), string(req.body), "attempt %d sends the same bytes", i+1)
		}
		require.Equal(t, e.ID, first.Execution.ID)
		require.Equal(t, []int{500, 500, 200}, []int{reqs[0].answered, reqs[1].answered, reqs[2].answered})
		require.Equal(t, map[storage.JobState]int{storage.JobCompleted: 1}, counts, "one job, completed")

		log, _ := r.deliveries(ch.ID, first.DeliveryID)
		require.Len(t, log, 3, "three attempts recorded: %+v", log)
		sort.Slice(log, func(i, j int) bool { return log[i].Attempt < log[j].Attempt })
		for i, d := range log {
			require.Equal(t, i+1, d.Attempt)
			require.Equal(t, first.DeliveryID, d.DeliveryID)
			require.NotNil(t, d.StatusCode)
			require.Equal(t, reqs[i].answered, *d.StatusCode)
			require.JSONEq(t, string(reqs[i].body), string(d.Payload))
		}
		require.Equal(t, []string{"retrying", "retrying", "delivered"}, []string{log[0].Outcome, log[1].Outcome, log[2].Outcome})
		require.NotEmpty(t, log[0].Error, "a failed attempt says why")
		require.Contains(t, log[0].Error, "500")
		require.Empty(t, log[2].Error)
		all, _ := r.deliveries(ch.ID, "")
		require.Len(t, all, 3, "the filter by delivery_id keeps every attempt: %+v", all)
	})
}

// TestAlertReceiverDownIsDiscarded checks a receiver whose port is closed,
// with ASTRO_ALERT_MAX_ATTEMPTS=3: after three attempts the delivery is
// discarded, and the log and the job say why.
func TestAlertReceiverDownIsDiscarded(t *testing.T) {
	t.Parallel()
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0", "ASTRO_ALERT_MAX_ATTEMPTS": "3"})
		// A port that was free a moment ago and that nothing listens on.
		down := "http://" + freeAddr(t) + "/hook"
		ch := r.webhook("down", down, "whsec-"+rand.Text(), nil)
		planID := r.newPlan("unheard")
		r.rule(map[string]any{"plan_id": planID, "channels": []string{ch.ID}})

		e := r.run(planID, false)
		var log []apiDelivery
		waitUntil(t, alertWait, "three attempts are recorded, the last discarded", func() bool {
			log, _ = r.deliveries(ch.ID, "")
			return len(log) >= 3 && log[0].Outcome == "discarded"
		}, func() string { return fmt.Sprintf("log %+v\n%s", log, logTail(r.srv.log, 30)) })
		counts := r.waitAlertsSettled()
		log, _ = r.deliveries(ch.ID, "")
		require.Len(t, log, 3, "%+v", log)
		sort.Slice(log, func(i, j int) bool { return log[i].Attempt < log[j].Attempt })
		for i, d := range log {
			require.Equal(t, i+1, d.Attempt)
			require.Equal(t, log[0].DeliveryID, d.DeliveryID, "one message")
			require.True(t, d.StatusCode == nil || *d.StatusCode == 0, "no answer came: %+v", d)
			require.NotEmpty(t, d.Error, "attempt %d says why", d.Attempt)
			require.NotNil(t, d.ExecutionID)
			require.Equal(t, e.ID, *d.ExecutionID)
			require.Equal(t, "execution.failed", d.Event)
		}
		require.Equal(t, []string{"retrying", "retrying", "discarded"}, []string{log[0].Outcome, log[1].Outcome, log[2].Outcome})
		last := log[2]
		require.Contains(t, strings.ToLower(last.Error), "refused", "a readable reason: %q", last.Error)
		require.LessOrEqual(t, len(last.Error), 1024)
		require.NotContains(t, last.Error, "\n")
		require.Equal(t, map[storage.JobState]int{storage.JobDiscarded: 1}, counts, "one job, discarded")

		// The job, as the API shows it.
		jobs := r.alertJobs(deliverKind)
		require.Len(t, jobs, 1)
		var job apiJob
		r.srv.must(http.MethodGet, fmt.Sprintf("/job/%d", jobs[0].ID), nil, http.StatusOK).decode(t, &job)
		require.Equal(t, alertQueue, job.Queue)
		require.Equal(t, "discarded", job.State)
		require.Equal(t, 3, job.Attempt)
		require.Equal(t, 3, job.MaxAttempts)
		require.Contains(t, strings.ToLower(job.LastError), "refused", "the job says why: %q", job.LastError)
		require.Len(t, job.Errors, 3)
	})
}

// apiJob is the part of GET /job/{id} the alert tests read.
type apiJob struct {
	Queue       string `json:"queue"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	LastError   string `json:"last_error"`
	Errors      []struct {
		Attempt int    `json:"attempt"`
		Error   string `json:"error"`
	} `json:"errors"`
}

// TestAlertMinInterval checks that, with ASTRO_ALERT_MIN_INTERVAL=3s, a
// plan that flaps (fail, pass, fail, pass) sends the first failure at once, holds
// the rest back, and tells the recovery late, once the interval has
// passed, with the count of the messages it suppressed.
func TestAlertMinInterval(t *testing.T) {
	t.Parallel()
	const interval = 3 * time.Second
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": interval.String()})
		rc := newAlertReceiver(t)
		secret := "whsec-" + rand.Text()
		ch := r.webhook("ops", rc.url+"/hook", secret, nil)
		planID := r.newPlan("flapping")
		r.rule(map[string]any{"plan_id": planID, "channels": []string{ch.ID}})

		e1 := r.run(planID, false)
		reqs := rc.waitCount(t, r, 1)
		first := checkSigned(t, reqs[0], secret)
		require.Equal(t, "execution.failed", first.Event)
		require.Equal(t, e1.ID, first.Execution.ID)
		require.Zero(t, first.Suppressed)

		r.run(planID, true)
		r.run(planID, false)
		e4 := r.run(planID, true)
		var finishedAt struct {
			FinishedAt time.Time `json:"finished_at"`
		}
		r.srv.must(http.MethodGet, "/execution/"+e4.ID, nil, http.StatusOK).decode(t, &finishedAt)

		// The recovery comes late, from the flush job; then the queue
		// settles.
		waitUntil(t, alertWait, "a recovery arrives", func() bool {
			reqs = rc.requests()
			return len(reqs) >= 2 && checkSigned(t, reqs[len(reqs)-1], secret).Event == "execution.recovered"
		}, func() string { return fmt.Sprintf("%d requests\n%s", len(rc.requests()), logTail(r.srv.log, 30)) })
		r.waitAlertsSettled()
		reqs = rc.requests()
		var events []alertEvent
		for _, req := range reqs {
			events = append(events, checkSigned(t, req, secret))
		}
		last := events[len(events)-1]
		require.Equal(t, "execution.recovered", last.Event)
		require.Equal(t, e4.ID, last.Execution.ID, "the late message is about the last execution")
		require.GreaterOrEqual(t, last.Suppressed, 1, "the late message counts what it held back")
		// At most one message per interval: messages were made at least
		// the interval apart (server clocks of one machine; the slack
		// covers the gap between an execution's end and its evaluation).
		for i := 1; i < len(events); i++ {
			gap := events[i].CreatedAt.Sub(events[i-1].CreatedAt)
			require.GreaterOrEqual(t, gap, interval-250*time.Millisecond, "messages %d and %d: %s apart", i, i+1, gap)
		}
		// When the flapping all happened within the interval after the
		// first message, exactly one more message tells it: the recovery,
		// with the three messages it held back (a recovery, a failure, a
		// recovery).
		if finishedAt.FinishedAt.Before(first.CreatedAt.Add(interval - 250*time.Millisecond)) {
			require.Len(t, events, 2, "one message per interval")
			require.Equal(t, 3, last.Suppressed)
		} else {
			t.Logf("the flapping took longer than the interval (last finished %s after the first message): not checking the exact count",
				finishedAt.FinishedAt.Sub(first.CreatedAt))
		}
		log, _ := r.deliveries(ch.ID, "")
		require.Len(t, log, len(events), "%+v", log)
	})
}

// TestAlertExactlyOnceAcrossProcesses runs a serve and a worker process
// that share one Postgres database and both serve the alert queue: each
// failure of
// several plans failing at once produces exactly one delivery.
func TestAlertExactlyOnceAcrossProcesses(t *testing.T) {
	t.Parallel()
	db := postgresAlertDB(t)
	r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0"})
	wenv := map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0", "ASTRO_PUBLIC_URL": r.public}
	for k, v := range db.env {
		wenv[k] = v
	}
	startAstro(t, astroConfig{name: "alerts-worker", command: "worker", env: wenv})
	rc := newAlertReceiver(t)
	secret := "whsec-" + rand.Text()
	ch := r.webhook("ops", rc.url+"/hook", secret, nil)

	const plans = 8
	var planIDs []string
	for i := range plans {
		planIDs = append(planIDs, r.newPlan(fmt.Sprintf("plan-%d", i)))
	}
	// One rule for every plan.
	r.rule(map[string]any{"name": "everything", "channels": []string{ch.ID}})

	r.target.pass.Store(false)
	var ids []string
	for _, id := range planIDs {
		var e apiExecution
		r.srv.must(http.MethodPost, "/plan/"+id+"/execute", nil, http.StatusAccepted).decode(t, &e)
		ids = append(ids, e.ID)
	}
	for id, e := range r.srv.waitFinal(ids, 60*time.Second) {
		require.Equal(t, "failed", e.Status, "execution %s", id)
	}
	rc.waitCount(t, r, plans)
	counts := r.waitAlertsSettled()
	reqs := rc.requests()
	perExec := map[string]int{}
	for _, req := range reqs {
		ev := checkSigned(t, req, secret)
		require.Equal(t, "execution.failed", ev.Event)
		perExec[ev.Execution.ID]++
	}
	for _, id := range ids {
		require.Equal(t, 1, perExec[id], "execution %s: receiver requests", id)
	}
	require.Len(t, reqs, plans, "one request per failure")
	require.Equal(t, map[storage.JobState]int{storage.JobCompleted: plans}, counts, "one job per failure")
	log, _ := r.deliveries(ch.ID, "")
	require.Len(t, log, plans, "one attempt per failure: %+v", log)
	for _, d := range log {
		require.Equal(t, "delivered", d.Outcome)
		require.Equal(t, 1, d.Attempt)
	}
}

// TestAlertSecretsStayOut runs a failing plan that sends a stored secret in its
// request headers, gets it echoed back with a session value it captures
// under a name that looks secret, fails assertions on both, reuses the
// session in a later step's URL and header, and errors on a closed port
// with the session in the URL. Neither value appears in any request the
// receiver got, nor in the deliveries log, though the message does carry
// the failed steps.
func TestAlertSecretsStayOut(t *testing.T) {
	t.Parallel()
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0", "ASTRO_SECRET_KEY": newKey(t)})
		stored := "planted-stored-" + rand.Text()
		session := "planted-session-" + rand.Text()
		chSecret := "whsec-" + rand.Text()
		chHeader := "planted-header-" + rand.Text()

		mux := http.NewServeMux()
		mux.HandleFunc("GET /echo", func(w http.ResponseWriter, req *http.Request) {
			auth := req.Header.Get("Authorization")
			w.Header().Set("X-Echo", auth)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"token": strings.TrimPrefix(auth, "Bearer "), "session": session})
		})
		mux.HandleFunc("GET /reflect", func(w http.ResponseWriter, req *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadGateway)
			_ = json.NewEncoder(w).Encode(map[string]string{"session": req.Header.Get("X-Session"), "q": req.URL.Query().Get("s")})
		})
		target := newLocalServer(t, mux)
		closed := "http://" + freeAddr(t)

		r.srv.must(http.MethodPut, "/secret/TARGET_TOKEN", map[string]string{"value": stored}, http.StatusCreated)
		var p apiPlan
		r.srv.must(http.MethodPost, "/plan", map[string]any{"name": "leaky", "document": map[string]any{"steps": []any{
			map[string]any{
				"name":                "echo",
				"continue_on_failure": true,
				"request": map[string]any{"method": "GET", "url": target + "/echo",
					"headers": map[string]string{"Authorization": "Bearer {{secret.TARGET_TOKEN}}", "X-Copy": "{{secret.TARGET_TOKEN}}"}},
				"capture": []any{
					map[string]any{"name": "session_token", "jsonpath": "$.session"},
					map[string]any{"name": "echoed", "jsonpath": "$.token"},
				},
				"assert": map[string]any{
					"status": 200,
					"jsonpath": []any{
						map[string]any{"path": "$.token", "equals": "wrong"},
						map[string]any{"path": "$.session", "equals": "nope"},
					},
					"headers": []any{map[string]any{"name": "X-Echo", "equals": "nope"}},
				},
			},
			map[string]any{
				"name":                "reuse",
				"continue_on_failure": true,
				"request": map[string]any{"method": "GET", "url": target + "/reflect?s={{session_token}}",
					"headers": map[string]string{"X-Session": "{{session_token}}"}},
				"assert": map[string]any{
					"status":   200,
					"jsonpath": []any{map[string]any{"path": "$.session", "equals": "nope"}},
				},
			},
			map[string]any{
				"name":    "unreachable",
				"request": map[string]any{"method": "GET", "url": closed + "/x?s={{session_token}}&t={{secret.TARGET_TOKEN}}"},
				"assert":  map[string]any{"status": 200},
			},
		}}}, http.StatusCreated).decode(t, &p)

		rc := newAlertReceiver(t)
		ch := r.webhook("ops", rc.url+"/hook", chSecret, map[string]string{"X-Team-Token": chHeader})
		r.rule(map[string]any{"plan_id": p.ID, "channels": []string{ch.ID}})

		e := r.execute(p.ID, "failed")
		require.Contains(t, string(e.Result), "[REDACTED]", "precondition: the result holds redacted values")
		reqs := rc.waitCount(t, r, 1)
		r.waitAlertsSettled()
		reqs = rc.requests()
		require.Len(t, reqs, 1)
		ev := checkSigned(t, reqs[0], chSecret)
		require.Equal(t, "execution.failed", ev.Event)
		// The message does describe the failures, so that the absence of
		// the values below means something.
		require.Len(t, ev.FailedSteps, 3, "body %s", reqs[0].body)
		require.Equal(t, []string{"echo", "reuse", "unreachable"},
			[]string{ev.FailedSteps[0].Name, ev.FailedSteps[1].Name, ev.FailedSteps[2].Name})
		require.NotNil(t, ev.FailedSteps[0].Assertion, "body %s", reqs[0].body)
		require.Equal(t, "error", ev.FailedSteps[2].Status)
		require.NotEmpty(t, ev.FailedSteps[2].Error)

		var sent strings.Builder
		for _, req := range reqs {
			fmt.Fprintf(&sent, "%s %s\n", req.method, req.path)
			for k, vs := range req.header {
				fmt.Fprintf(&sent, "%s: %s\n", k, strings.Join(vs, ", "))
			}
			sent.Write(req.body)
		}
		// The channel's own header is sent, as it should be.
		require.Equal(t, chHeader, reqs[0].header.Get("X-Team-Token"))
		_, raw := r.deliveries(ch.ID, "")
		for name, value := range map[string]string{"the stored secret": stored, "the captured session": session} {
			forms := leakForms(value)
			requireNoLeak(t, sent.String(), forms, "a request the receiver got ("+name+"):\n"+sent.String())
			for _, b := range raw {
				requireNoLeak(t, string(b), forms, "the deliveries log ("+name+"):\n"+string(b))
			}
		}

		// The channel's write-only fields stay out of the API's answers.
		test := r.srv.must(http.MethodPost, "/channel/"+ch.ID+"/test", nil, http.StatusOK)
		answers := [][]byte{
			r.srv.must(http.MethodGet, "/channel/"+ch.ID, nil, http.StatusOK).body,
			r.srv.must(http.MethodGet, "/channel", nil, http.StatusOK).body,
			test.body,
		}
		_, raw = r.deliveries(ch.ID, "")
		answers = append(answers, raw...)
		for _, b := range answers {
			requireNoLeak(t, string(b), leakForms(chSecret), "an answer (the channel's secret):\n"+string(b))
			requireNoLeak(t, string(b), leakForms(chHeader), "an answer (the channel's header value):\n"+string(b))
		}
	})
}

// TestAlertChannelTest checks that POST /channel/{id}/test sends one
// signed sample message with X-Astro-Event: test and answers with what the receiver
// said, including a failure (no retry).
func TestAlertChannelTest(t *testing.T) {
	t.Parallel()
	alertBackends(t, func(t *testing.T, db alertDB) {
		r := startAlertRig(t, db, map[string]string{"ASTRO_ALERT_MIN_INTERVAL": "0"})
		rc := newAlertReceiver(t)
		secret := "whsec-" + rand.Text()
		ch := r.webhook("ops", rc.url+"/hook", secret, nil)

		var got apiDelivery
		r.srv.must(http.MethodPost, "/channel/"+ch.ID+"/test", nil, http.StatusOK).decode(t, &got)
		reqs := rc.requests()
		require.Len(t, reqs, 1, "the test is sent before the answer")
		require.Equal(t, "test", reqs[0].header.Get("X-Astro-Event"))
		ev := checkSigned(t, reqs[0], secret)
		require.Equal(t, "test", ev.Event)
		require.Nil(t, ev.Rule, "a test has no rule")
		require.Equal(t, ev.DeliveryID, got.DeliveryID)
		require.Equal(t, "delivered", got.Outcome)
		require.NotNil(t, got.StatusCode)
		require.Equal(t, http.StatusOK, *got.StatusCode)
		require.Contains(t, got.Response, "answered 200")
		require.JSONEq(t, string(reqs[0].body), string(got.Payload))

		// A receiver that fails: the answer says so; nothing is retried.
		rc.setScript(http.StatusServiceUnavailable)
		var failed apiDelivery
		r.srv.must(http.MethodPost, "/channel/"+ch.ID+"/test", nil, http.StatusOK).decode(t, &failed)
		require.NotNil(t, failed.StatusCode)
		require.Equal(t, http.StatusServiceUnavailable, *failed.StatusCode)
		require.Equal(t, "discarded", failed.Outcome)
		require.Contains(t, failed.Error, "503")
		require.NotEqual(t, got.DeliveryID, failed.DeliveryID)
		r.waitAlertsSettled()
		require.Len(t, rc.requests(), 2, "a failed test is not retried")
		checkSigned(t, rc.requests()[1], secret)

		log, _ := r.deliveries(ch.ID, "")
		require.Len(t, log, 2, "%+v", log)
		for _, d := range log {
			require.Equal(t, "test", d.Event)
			require.Nil(t, d.RuleID)
		}

		// An unknown channel is 404.
		r.srv.must(http.MethodPost, "/channel/0190c1f0-3d4e-7f50-9a60-7c8d9e0f1a2b/test", nil, http.StatusNotFound)
	})
}
