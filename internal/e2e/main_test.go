//go:build e2e

// Package e2e holds astro-runner's fault-injection, crash and soak tests.
// They build the real binary once per test process, run it as a child
// process on 127.0.0.1, and break things around it: SIGKILL, a database
// that goes away, a worker that dies mid-plan, sustained load, and planted
// secrets.
//
// They are behind the e2e build tag so that `go test ./...` stays quick:
//
//	go test -tags e2e -count=1 ./internal/e2e/...
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test -tags e2e -count=1 ./internal/e2e/...
//
// Postgres: TestPostgresOutageRecovers starts a throwaway cluster of its own
// (initdb and postgres from pg_config --bindir, run as the postgres user
// when the tests run as root) and never touches another server. TestSoak
// and TestWorkerCrashMidPlanIsRescued use a fresh schema from pgtest.URL.
// Without a database they skip their Postgres parts, or fail with
// ASTRO_REQUIRE_POSTGRES=1.
//
// ASTRO_SOAK_DURATION (a Go duration, default 60s) sets the length of each
// half of TestSoak. ASTRO_E2E_KEEP_LOGS=<dir> keeps the astro-runner logs
// of failed tests there.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	// binPath is the astro-runner binary built by TestMain.
	binPath string
	// buildErr says why the binary could not be built. Tests that need the
	// binary fail with it; the others (the SQLite crash test) still run.
	buildErr error
)

// TestMain either plays the child of TestSQLiteCrashDurability (when
// crashChildEnv is set) or builds the binary once and runs the tests.
//
// It does not use pgtest.Main, because that exits without letting us remove
// the binary. If pgtest had to start a Docker container (no
// TEST_DATABASE_URL), the container still removes itself: it is started
// with AutoRemove and expires after 300 s.
func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(runCrashChild(path))
	}
	dir, err := os.MkdirTemp("", "astro-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	binPath, buildErr = buildBinary(dir)
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildBinary builds ./cmd/astro-runner of the module that holds this
// package into dir.
func buildBinary(dir string) (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("go env GOMOD: not inside a module")
	}
	bin := filepath.Join(dir, "astro-runner")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/astro-runner")
	cmd.Dir = filepath.Dir(gomod)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/astro-runner: %w\n%s", err, out)
	}
	return bin, nil
}

// astroBinary returns the built binary, or fails t if it could not be built.
func astroBinary(t *testing.T) string {
	t.Helper()
	if buildErr != nil {
		t.Fatalf("astro-runner binary: %v", buildErr)
	}
	return binPath
}

// freeAddr returns 127.0.0.1:<port> with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// process is a child process in its own process group, whose stdout and
// stderr go to a log file. It is killed, with its group, when the test
// ends.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	err  error
	// groupKilled is set once the group was sent SIGKILL.
	groupKilled bool
}

// startProcess starts cmd in its own process group with its output
// appended to logPath, and registers a clean-up that SIGKILLs the group.
func startProcess(t *testing.T, name string, cmd *exec.Cmd, logPath string) *process {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	require.NoError(t, err)
	defer f.Close() // The child has its own copy of the descriptor.
	if cmd.Stdout == nil {
		cmd.Stdout = f
	}
	if cmd.Stderr == nil {
		cmd.Stderr = f
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	require.NoError(t, cmd.Start(), "start %s", name)
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(t) })
	return p
}

// pid returns the process ID.
func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill SIGKILLs the process group and waits for the process to end.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if p.groupKilled && p.exited() {
		return
	}
	// Kill the group even if the leader is gone: a postgres that died
	// leaves its backends.
	p.groupKilled = true
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Errorf("%s (pid %d) did not exit within 30s of SIGKILL", p.name, p.pid())
	}
}

// signal sends sig to the process and waits up to timeout for it to end.
// It reports whether the process ended.
func (p *process) signal(sig syscall.Signal, timeout time.Duration) bool {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// keepLogsEnv names a directory where the logs of failed tests are copied
// before their temporary directories are removed.
const keepLogsEnv = "ASTRO_E2E_KEEP_LOGS"

// keepLog copies a log file to $ASTRO_E2E_KEEP_LOGS if t failed.
func keepLog(t *testing.T, path string) {
	dir := os.Getenv(keepLogsEnv)
	if dir == "" || !t.Failed() {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	name := strings.NewReplacer("/", "_").Replace(t.Name()) + "-" + filepath.Base(path)
	if err := os.MkdirAll(dir, 0o755); err == nil {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err == nil {
			t.Logf("log kept at %s", filepath.Join(dir, name))
		}
	}
}

// logTail returns the last n lines of a log file, for failure messages.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logRecords parses a JSON log file, skipping lines that are not JSON.
func logRecords(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			out = append(out, rec)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// countLogMsg counts the records of a JSON log whose msg is exactly msg.
func countLogMsg(t *testing.T, path, msg string) int {
	t.Helper()
	n := 0
	for _, rec := range logRecords(t, path) {
		if rec["msg"] == msg {
			n++
		}
	}
	return n
}

// astro is one running astro-runner child process.
type astro struct {
	t      *testing.T
	proc   *process
	base   string // http://127.0.0.1:<port>, empty for a worker.
	token  string
	log    string
	client *http.Client
}

// astroConfig describes an astro-runner child.
type astroConfig struct {
	// name labels the process in logs and file names. Defaults to the
	// command.
	name string
	// command is serve (the default) or worker.
	command string
	// env overrides and adds to the defaults of baseEnv.
	env map[string]string
}

// astroEnvPrefixes are the variables of the test's own environment that
// must not reach the child, so that the host's settings cannot change it.
var astroEnvPrefixes = []string{"ASTRO_", "STORAGE_BACKEND=", "SQLITE_PATH=", "POSTGRESQL_URL="}

// startAstro starts astro-runner with the test settings (2 s leases, a
// rescuer every 500 ms, a 5 s shutdown, debug logs to a file) and waits
// until it is ready: /readyz answers 200 for serve, the workers have
// started for worker.
func startAstro(t *testing.T, cfg astroConfig) *astro {
	t.Helper()
	if cfg.command == "" {
		cfg.command = "serve"
	}
	if cfg.name == "" {
		cfg.name = cfg.command
	}
	env := map[string]string{
		"ASTRO_ADDR":             freeAddr(t),
		"STORAGE_BACKEND":        "memory",
		"ASTRO_JOB_LEASE":        "2s",
		"ASTRO_RESCUE_INTERVAL":  "500ms",
		"ASTRO_SHUTDOWN_TIMEOUT": "5s",
		"ASTRO_LOG_LEVEL":        "debug",
	}
	for k, v := range cfg.env {
		env[k] = v
	}
	var environ []string
outer:
	for _, kv := range os.Environ() {
		for _, p := range astroEnvPrefixes {
			if strings.HasPrefix(kv, p) {
				continue outer
			}
		}
		environ = append(environ, kv)
	}
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	logPath := filepath.Join(t.TempDir(), cfg.name+".log")
	cmd := exec.Command(astroBinary(t), cfg.command)
	cmd.Env = environ
	a := &astro{
		t:     t,
		proc:  startProcess(t, "astro-runner "+cfg.name, cmd, logPath),
		token: env["ASTRO_API_TOKEN"],
		log:   logPath,
		client: &http.Client{
			// Longer than the server's 15 s request deadline, so that a
			// request the server bounds is seen answered, not timed out.
			Timeout:   25 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 256},
		},
	}
	t.Cleanup(a.client.CloseIdleConnections)
	t.Cleanup(func() { keepLog(t, logPath) })
	if cfg.command == "serve" {
		a.base = "http://" + env["ASTRO_ADDR"]
		a.waitReady(60 * time.Second)
	} else {
		a.waitLog("workers started", 60*time.Second)
	}
	t.Logf("started astro-runner %s (pid %d), log %s", cfg.name, a.proc.pid(), logPath)
	return a
}

// waitReady polls /readyz until it answers 200.
func (a *astro) waitReady(timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if a.proc.exited() {
			a.t.Fatalf("%s exited before it was ready: %v\n%s", a.proc.name, a.proc.err, logTail(a.log, 30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		r, err := a.do(ctx, http.MethodGet, "/readyz", nil)
		cancel()
		if err == nil && r.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s not ready within %s (last: %v %v)\n%s", a.proc.name, timeout, r, err, logTail(a.log, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLog waits until the log holds a record with that msg.
func (a *astro) waitLog(msg string, timeout time.Duration) {
	a.t.Helper()
	deadline := time.Now().Add(timeout)
	for countLogMsg(a.t, a.log, msg) == 0 {
		if a.proc.exited() {
			a.t.Fatalf("%s exited: %v\n%s", a.proc.name, a.proc.err, logTail(a.log, 30))
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: no %q in its log within %s\n%s", a.proc.name, msg, timeout, logTail(a.log, 30))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) String() string {
	if r == nil {
		return "<no response>"
	}
	return fmt.Sprintf("%d %s", r.status, bytes.TrimSpace(r.body))
}

// isProblem reports whether the answer is an RFC 9457 problem document.
func (r *response) isProblem() bool {
	return strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") && json.Valid(r.body)
}

// decode unmarshals the body into v.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "decode %s", r)
}

// do sends one request, with the bearer token if the server has one, and
// reads the whole answer.
func (a *astro) do(ctx context.Context, method, path string, body any) (*response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b}, nil
}

// must sends one request and fails t unless the answer has status want.
func (a *astro) must(method, path string, body any, want int) *response {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := a.do(ctx, method, path, body)
	require.NoError(a.t, err, "%s %s", method, path)
	require.Equal(a.t, want, r.status, "%s %s: %s", method, path, r)
	return r
}

// apiPlan and apiExecution are the parts of the API's answers the tests read.
type apiPlan struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Revision int64  `json:"revision"`
}

type apiExecution struct {
	ID      string          `json:"id"`
	PlanID  string          `json:"plan_id"`
	Status  string          `json:"status"`
	Attempt int             `json:"attempt"`
	Result  json.RawMessage `json:"result"`
}

// finalStatus reports whether an execution status is final.
func finalStatus(s string) bool {
	switch s {
	case "passed", "failed", "error", "cancelled":
		return true
	}
	return false
}

// okPlan is a one-step plan that GETs target/ok and expects 200.
func okPlan(name, target string) map[string]any {
	return map[string]any{
		"name":   name,
		"labels": map[string]string{"suite": "e2e"},
		"document": map[string]any{
			"variables": map[string]string{"base_url": target},
			"steps": []any{map[string]any{
				"name":    "ok",
				"request": map[string]any{"method": "GET", "url": "{{base_url}}/ok"},
				"assert":  map[string]any{"status": 200},
			}},
		},
	}
}

// newOKTarget starts a target service on 127.0.0.1 that answers GET /ok
// with 200 and counts the requests.
func newOKTarget(t *testing.T) (url string, hits func() int64) {
	t.Helper()
	var mu sync.Mutex
	var n int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	srv := newLocalServer(t, mux)
	return srv, func() int64 { mu.Lock(); defer mu.Unlock(); return n }
}

// newLocalServer serves h on 127.0.0.1 until the test ends.
func newLocalServer(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// waitFinal polls the executions until each is final, or fails t after
// timeout with the ones still pending. It returns them by ID.
func (a *astro) waitFinal(ids []string, timeout time.Duration) map[string]apiExecution {
	a.t.Helper()
	out := make(map[string]apiExecution, len(ids))
	pending := append([]string(nil), ids...)
	deadline := time.Now().Add(timeout)
	for len(pending) > 0 {
		var still []string
		for _, id := range pending {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			r, err := a.do(ctx, http.MethodGet, "/execution/"+id, nil)
			cancel()
			if err != nil || r.status != http.StatusOK {
				a.t.Fatalf("GET /execution/%s: %v %v", id, r, err)
			}
			var e apiExecution
			r.decode(a.t, &e)
			out[id] = e
			if !finalStatus(e.Status) {
				still = append(still, id)
			}
		}
		pending = still
		if len(pending) == 0 {
			break
		}
		if time.Now().After(deadline) {
			sample := pending
			if len(sample) > 5 {
				sample = sample[:5]
			}
			for _, id := range sample {
				a.t.Logf("still pending: %s %+v", id, out[id])
			}
			a.t.Fatalf("%d of %d executions not final within %s\n%s", len(pending), len(ids), timeout, logTail(a.log, 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return out
}

// procStatus reads VmRSS (in kB) and Threads from /proc/<pid>/status.
func procStatus(pid int) (rssKB, threads int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			rssKB, _ = strconv.ParseInt(f[0], 10, 64)
		case "Threads":
			threads, _ = strconv.ParseInt(f[0], 10, 64)
		}
	}
	return rssKB, threads, nil
}
