//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	_ "github.com/ncruces/go-sqlite3/driver" // Registers the "sqlite3" driver for the integrity check.
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/planjob"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// crashChildEnv, when set to a database path, makes the test binary play
// the writer that TestSQLiteCrashDurability kills.
const crashChildEnv = "ASTRO_E2E_CRASH_CHILD"

// crashChildLifetime bounds a crash child whose parent died without
// killing it.
const crashChildLifetime = time.Minute

// runCrashChild opens the SQLite file through the store and writes until it
// is killed: a plan, then an execution and its job in one transaction, the
// way POST /plan/{id}/execute does. It reports each write on stdout only
// after its commit returned, which is when a server would acknowledge it to
// a client, so every reported write must survive the kill. It returns the
// exit code.
func runCrashChild(path string) int {
	time.AfterFunc(crashChildLifetime, func() { os.Exit(3) })
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	if err != nil {
		fmt.Fprintln(os.Stderr, "crash child: open:", err)
		return 2
	}
	// Each line is one write(2) of less than PIPE_BUF bytes, so the parent
	// reads whole lines or nothing; it ignores a last line without "\n".
	report := func(format string, args ...any) bool {
		_, err := fmt.Fprintf(os.Stdout, format+"\n", args...)
		return err == nil
	}
	if !report("ready") {
		return 2
	}
	doc := json.RawMessage(`{"steps":[{"name":"noop","request":{"method":"GET","url":"http://127.0.0.1:9/"}}]}`)
	prefix := fmt.Sprintf("crash-%d-%s", os.Getpid(), rand.Text()[:8])
	for n := 0; ; n++ {
		p, err := st.PlanCreate(ctx, &storage.PlanCreateParams{
			Name:     fmt.Sprintf("%s-%d", prefix, n),
			Labels:   map[string]string{"suite": "crash"},
			Document: doc,
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash child: create plan:", err)
			return 2
		}
		if !report("plan %s", p.ID) {
			return 2
		}
		var e *storage.Execution
		var j *storage.Job
		err = st.InTx(ctx, func(tx storage.Store) error {
			var err error
			if e, err = tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: p.Revision}); err != nil {
				return err
			}
			j, err = tx.JobEnqueue(ctx, planjob.EnqueueParams(e))
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "crash child: create execution:", err)
			return 2
		}
		if !report("exec %s job %d", e.ID, j.ID) {
			return 2
		}
	}
}

// reportedWrites are the writes a crash child reported as committed.
type reportedWrites struct {
	plans []uuid.UUID
	execs []reportedExec
}

type reportedExec struct {
	exec uuid.UUID
	job  int64
}

// parseReport reads the complete lines of a crash child's report.
func parseReport(t *testing.T, lines []string) reportedWrites {
	t.Helper()
	var w reportedWrites
	for _, line := range lines {
		f := strings.Fields(line)
		switch {
		case len(f) == 1 && f[0] == "ready":
		case len(f) == 2 && f[0] == "plan":
			w.plans = append(w.plans, uuid.MustParse(f[1]))
		case len(f) == 4 && f[0] == "exec" && f[2] == "job":
			id, err := strconv.ParseInt(f[3], 10, 64)
			require.NoError(t, err, "report line %q", line)
			w.execs = append(w.execs, reportedExec{exec: uuid.MustParse(f[1]), job: id})
		default:
			t.Fatalf("unexpected report line %q", line)
		}
	}
	return w
}

// TestSQLiteCrashDurability SIGKILLs a writer on one SQLite file 20 times
// at random points and checks, after each kill, that the file is intact and
// holds every write the writer reported as committed.
//
// The store runs SQLite in WAL mode with synchronous=NORMAL. That setting
// can lose the last transactions on power loss or an OS crash, because
// commits do not fsync the WAL; it cannot lose them when only the process
// dies, because a committed transaction is already in the WAL file in the
// OS page cache, and the next opener replays it. Process death is what
// this test checks; it does not simulate power loss.
func TestSQLiteCrashDurability(t *testing.T) {
	const rounds = 20
	path := filepath.Join(t.TempDir(), "crash.db")
	var all reportedWrites
	kills, emptyRounds := 0, 0
	for round := 1; round <= rounds; round++ {
		// The delay runs from the child's "ready" line, after it opened the
		// store, so that each kill lands in the middle of the write loop.
		delay := 50*time.Millisecond + mrand.N(350*time.Millisecond)
		lines := runCrashRound(t, path, round, delay)
		kills++
		w := parseReport(t, lines)
		if len(w.plans) == 0 {
			emptyRounds++
		}
		all.plans = append(all.plans, w.plans...)
		all.execs = append(all.execs, w.execs...)

		integrityCheck(t, path)
		verifyWrites(t, path, w, len(all.plans), len(all.execs))
		t.Logf("round %2d: killed after %3dms; %4d plans and %4d executions+jobs reported, all present",
			round, delay.Milliseconds(), len(w.plans), len(w.execs))
	}
	// Later rounds must not have lost earlier rounds' writes either.
	verifyWrites(t, path, all, len(all.plans), len(all.execs))
	t.Logf("%d SIGKILLs; %d plans and %d executions with their jobs reported and found after every kill; integrity_check ok %d times",
		kills, len(all.plans), len(all.execs), kills)
	require.Less(t, emptyRounds, rounds/2, "too many rounds were killed before any write; the test is not exercising anything")
}

// runCrashRound runs one crash child on path, SIGKILLs it delay after it
// is ready, and returns the complete lines it reported.
func runCrashRound(t *testing.T, path string, round int, delay time.Duration) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderrPath := filepath.Join(filepath.Dir(path), fmt.Sprintf("child-%02d.stderr", round))
	stderr, err := os.Create(stderrPath)
	require.NoError(t, err)
	defer stderr.Close()
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	pid := cmd.Process.Pid
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { _ = syscall.Kill(-pid, syscall.SIGKILL) }) }
	t.Cleanup(kill)

	var mu sync.Mutex
	var lines []string
	ready := make(chan struct{})
	eof := make(chan struct{})
	go func() {
		defer close(eof)
		r := bufio.NewReader(stdout)
		readyOnce := sync.Once{}
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				// io.EOF with a partial line: the kill cut it. It was never
				// reported, so it is dropped.
				if err != io.EOF {
					t.Errorf("read crash child report: %v", err)
				}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			mu.Lock()
			lines = append(lines, line)
			mu.Unlock()
			if line == "ready" {
				readyOnce.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-eof:
		kill()
		_ = cmd.Wait()
		t.Fatalf("round %d: crash child ended before it was ready\n%s", round, logTail(stderrPath, 20))
	case <-time.After(30 * time.Second):
		kill()
		t.Fatalf("round %d: crash child not ready within 30s\n%s", round, logTail(stderrPath, 20))
	}
	time.Sleep(delay)
	kill()
	select {
	case <-eof:
	case <-time.After(30 * time.Second):
		t.Fatalf("round %d: report pipe still open 30s after SIGKILL", round)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "round %d: crash child should have died of SIGKILL", round)
	ws, ok := ee.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL,
		"round %d: crash child ended by %v, not SIGKILL\n%s", round, err, logTail(stderrPath, 20))
	mu.Lock()
	defer mu.Unlock()
	return lines
}

// integrityCheck runs PRAGMA integrity_check on a plain connection.
func integrityCheck(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	require.NoError(t, err)
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		require.NoError(t, rows.Scan(&m))
		msgs = append(msgs, m)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"ok"}, msgs, "PRAGMA integrity_check")
}

// verifyWrites opens the file through the store and checks that every
// reported plan, execution and job is there, and that the tables hold at
// least as many rows as were reported in total.
func verifyWrites(t *testing.T, path string, w reportedWrites, totalPlans, totalExecs int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: path})
	require.NoError(t, err, "reopen after kill")
	defer st.Close()
	for _, id := range w.plans {
		p, err := st.PlanGetByID(ctx, id)
		require.NoError(t, err, "reported plan %s is missing", id)
		require.Equal(t, int64(1), p.Revision)
	}
	for _, r := range w.execs {
		e, err := st.ExecutionGetByID(ctx, r.exec)
		require.NoError(t, err, "reported execution %s is missing", r.exec)
		require.Equal(t, storage.ExecutionQueued, e.Status)
		j, err := st.JobGet(ctx, r.job)
		require.NoError(t, err, "reported job %d of execution %s is missing", r.job, r.exec)
		require.Equal(t, planjob.Kind, j.Kind)
		require.Equal(t, storage.ExecutionJobKey(r.exec), j.UniqueKey, "job %d belongs to another execution", r.job)
		require.Equal(t, storage.JobAvailable, j.State)
	}
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	require.NoError(t, err)
	defer db.Close()
	var plans, execs, jobs int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM plans").Scan(&plans))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM executions").Scan(&execs))
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM jobs").Scan(&jobs))
	require.GreaterOrEqual(t, plans, totalPlans)
	require.GreaterOrEqual(t, execs, totalExecs)
	require.Equal(t, execs, jobs, "every execution has exactly one job and no job is without one")
}
