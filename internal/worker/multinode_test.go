package worker_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	_ "github.com/ncruces/go-sqlite3/driver" // Registers the "sqlite3" database/sql driver.
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
	"github.com/astro-runner/astro-runner/internal/worker"
)

// The environment of a child worker process.
const (
	envChild   = "ASTRO_WORKER_CHILD"   // "1" runs the child instead of the tests.
	envBackend = "ASTRO_WORKER_BACKEND" // "postgres" or "sqlite".
	envDSN     = "ASTRO_WORKER_DSN"     // The Postgres URL or the SQLite file.
)

// multiNodeKind is the job kind the children handle.
const multiNodeKind = "multinode"

// createJobRuns is the table where each child records every run of a job.
const createJobRuns = `CREATE TABLE job_runs (job_id bigint NOT NULL, token bigint NOT NULL, pid int NOT NULL, at timestamp NOT NULL)`

func isChild() bool { return os.Getenv(envChild) == "1" }

// runChild is a worker process: it works the default queue until SIGTERM,
// recording each run in job_runs, and returns the exit code: 0, or 1 on
// error.
func runChild() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := child(ctx, log, os.Getenv(envBackend), os.Getenv(envDSN)); err != nil {
		log.Error("child worker failed", "error", err)
		return 1
	}
	return 0
}

func child(ctx context.Context, log *slog.Logger, backend, dsn string) error {
	pid := os.Getpid()
	var store worker.Store
	var record func(ctx context.Context, job *storage.Job) error
	switch backend {
	case "postgres":
		s, err := pgstore.Open(ctx, pgstore.Config{URL: dsn, MaxConns: 4, SkipMigrate: true, AsyncQueueCommit: true})
		if err != nil {
			return err
		}
		defer s.Close()
		runs, err := pgxpool.New(ctx, dsn)
		if err != nil {
			return err
		}
		defer runs.Close()
		store = s
		record = func(ctx context.Context, job *storage.Job) error {
			_, err := runs.Exec(ctx, `INSERT INTO job_runs (job_id, token, pid, at) VALUES ($1, $2, $3, now())`,
				job.ID, job.LeaseToken, pid)
			return err
		}
	case "sqlite":
		s, err := sqlitestore.Open(ctx, sqlitestore.Config{Path: dsn, SkipMigrate: true})
		if err != nil {
			return err
		}
		defer s.Close()
		runs, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: dsn}))
		if err != nil {
			return err
		}
		defer runs.Close()
		store = s
		record = func(ctx context.Context, job *storage.Job) error {
			_, err := runs.ExecContext(ctx, `INSERT INTO job_runs (job_id, token, pid, at) VALUES (?, ?, ?, CURRENT_TIMESTAMP)`,
				job.ID, job.LeaseToken, pid)
			return err
		}
	default:
		return fmt.Errorf("unknown backend %q", backend)
	}

	pool := worker.New(store, worker.Config{
		ID:                childID(pid),
		Workers:           8,
		Lease:             2 * time.Second,
		HeartbeatInterval: 500 * time.Millisecond,
		RescueInterval:    500 * time.Millisecond,
		PollInterval:      200 * time.Millisecond,
		// Vacuum often, so that it runs among the other nodes' claims.
		VacuumAfter:    200,
		VacuumInterval: 100 * time.Millisecond,
		Logger:         log,
	})
	pool.Handle(multiNodeKind, func(ctx context.Context, job *storage.Job) error {
		if err := record(ctx, job); err != nil {
			return fmt.Errorf("record run: %w", err)
		}
		time.Sleep(rand.N(5 * time.Millisecond))
		return nil
	})
	return pool.Run(ctx)
}

// childID is the lease owner a child uses.
func childID(pid int) string { return fmt.Sprintf("child-%d", pid) }

// node is a running child process.
type node struct {
	cmd  *exec.Cmd
	out  bytes.Buffer // Read only after done.
	done chan struct{}
	err  error // Set before done closes.
}

// startNode starts a child worker process; t's clean-up kills it if it
// still runs.
func startNode(t *testing.T, backend, dsn string) *node {
	t.Helper()
	n := &node{done: make(chan struct{})}
	n.cmd = exec.Command(os.Args[0], "-test.run=^$")
	n.cmd.Env = append(os.Environ(), envChild+"=1", envBackend+"="+backend, envDSN+"="+dsn)
	n.cmd.Stdout = &n.out
	n.cmd.Stderr = &n.out
	dieWithParent(n.cmd)
	require.NoError(t, n.cmd.Start())
	go func() { n.err = n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		_ = n.cmd.Process.Kill() // ErrProcessDone when it already ended.
		<-n.done
		if t.Failed() && n.out.Len() > 0 {
			t.Logf("output of child %d:\n%s", n.cmd.Process.Pid, n.out.String())
		}
	})
	return n
}

func (n *node) pid() int { return n.cmd.Process.Pid }

// stop sends SIGTERM and requires a clean exit.
func (n *node) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-n.done:
		require.NoError(t, n.err, "child %d did not exit cleanly:\n%s", n.pid(), n.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("child %d did not exit within 30s of SIGTERM", n.pid())
	}
}

// kill sends SIGKILL and waits for the process to end.
func (n *node) kill(t *testing.T) {
	t.Helper()
	require.NoError(t, n.cmd.Process.Kill())
	select {
	case <-n.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("child %d survived SIGKILL", n.pid())
	}
}

// cluster is what a multi-node test needs of one backend.
type cluster struct {
	backend  string
	dsn      string
	store    storage.Store
	db       *sql.DB // The same database, for job_runs and raw reads.
	jobs     int
	children int
	kill     bool
	deadline time.Time // Bounds every wait of run.
}

func newPostgresCluster(t *testing.T) *cluster {
	t.Helper()
	url := pgtest.URL(t)
	s, err := pgstore.Open(context.Background(), pgstore.Config{URL: url, MaxConns: 4})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	db := stdlib.OpenDBFromPool(s.Pool())
	t.Cleanup(func() { _ = db.Close() })
	return &cluster{backend: "postgres", dsn: url, store: s, db: db}
}

func newSQLiteCluster(t *testing.T) *cluster {
	t.Helper()
	path := filepath.Join(t.TempDir(), "astro.db")
	s, err := sqlitestore.Open(context.Background(), sqlitestore.Config{Path: path})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	db, err := sql.Open("sqlite3", sqlitestore.DSN(sqlitestore.Config{Path: path}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return &cluster{backend: "sqlite", dsn: path, store: s, db: db}
}

// jobRun is one row of job_runs.
type jobRun struct {
	token int64
	pid   int
}

// runsByJob reads job_runs.
func (c *cluster) runsByJob(t *testing.T) map[int64][]jobRun {
	t.Helper()
	rows, err := c.db.QueryContext(context.Background(), `SELECT job_id, token, pid FROM job_runs`)
	require.NoError(t, err)
	defer rows.Close()
	out := map[int64][]jobRun{}
	for rows.Next() {
		var id int64
		var r jobRun
		require.NoError(t, rows.Scan(&id, &r.token, &r.pid))
		out[id] = append(out[id], r)
	}
	require.NoError(t, rows.Err())
	return out
}

// heldBy returns the IDs of running jobs whose lease owner is the child.
func (c *cluster) heldBy(t *testing.T, pid int) []int64 {
	t.Helper()
	// The owner is built from a number, so it is safe to inline; this
	// keeps the query the same on both dialects.
	rows, err := c.db.QueryContext(context.Background(),
		fmt.Sprintf(`SELECT id FROM jobs WHERE state = 'running' AND lease_owner = '%s'`, childID(pid)))
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

// allJobs reads every job, by ID.
func (c *cluster) allJobs(t *testing.T) map[int64]*storage.Job {
	t.Helper()
	out := map[int64]*storage.Job{}
	p := &storage.JobListParams{Limit: storage.MaxPageLimit}
	for {
		page, err := c.store.JobList(context.Background(), p)
		require.NoError(t, err)
		for _, j := range page.Jobs {
			out[j.ID] = j
		}
		if page.NextCursor == "" {
			return out
		}
		p.Cursor = page.NextCursor
	}
}

// waitCompleted waits until n jobs have completed, failing at once if a
// child other than the killed one exits.
func (c *cluster) waitCompleted(t *testing.T, n int64, nodes []*node, victim *node) {
	t.Helper()
	for {
		if counts(t, c.store)[storage.JobCompleted] >= n {
			return
		}
		for _, nd := range nodes {
			select {
			case <-nd.done:
				if nd != victim {
					t.Fatalf("child %d exited early (%v):\n%s", nd.pid(), nd.err, nd.out.String())
				}
			default:
			}
		}
		if time.Now().After(c.deadline) {
			t.Fatalf("fewer than %d jobs completed within %s: %v", n, multiNodeBound, counts(t, c.store))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// run enqueues c.jobs jobs, starts c.children worker processes, kills one
// a third of the way through if c.kill, waits for every job to complete,
// stops the rest, and checks job_runs against the jobs' histories.
func (c *cluster) run(t *testing.T) {
	ctx := context.Background()
	_, err := c.db.ExecContext(ctx, createJobRuns)
	require.NoError(t, err)

	c.deadline = time.Now().Add(multiNodeBound)
	begin := time.Now()
	ps := make([]*storage.JobEnqueueParams, c.jobs)
	for i := range ps {
		ps[i] = &storage.JobEnqueueParams{Kind: multiNodeKind}
	}
	ids, err := c.store.JobEnqueueMany(ctx, ps)
	require.NoError(t, err)
	require.Len(t, ids, c.jobs)
	enqueued := time.Since(begin)

	begin = time.Now()
	nodes := make([]*node, c.children)
	for i := range nodes {
		nodes[i] = startNode(t, c.backend, c.dsn)
	}

	var victim *node
	held := map[int64]bool{}
	if c.kill {
		c.waitCompleted(t, int64(c.jobs/3), nodes, nil)
		victim = nodes[0]
		victim.kill(t)
		for _, id := range c.heldBy(t, victim.pid()) {
			held[id] = true
		}
		t.Logf("%s: killed child %d after %s; it held %d leases", c.backend, victim.pid(),
			time.Since(begin).Round(time.Millisecond), len(held))
		require.NotEmpty(t, held, "the killed child held no lease, so the test proves nothing")
	}

	c.waitCompleted(t, int64(c.jobs), nodes, victim)
	elapsed := time.Since(begin)
	for _, n := range nodes {
		if n != victim {
			n.stop(t)
		}
	}

	counts := counts(t, c.store)
	assert.EqualValues(t, c.jobs, counts[storage.JobCompleted])
	for _, st := range []storage.JobState{storage.JobAvailable, storage.JobRunning, storage.JobRetryable, storage.JobDiscarded, storage.JobCancelled} {
		assert.Zero(t, counts[st], "jobs %s", st)
	}

	runs := c.runsByJob(t)
	jobs := c.allJobs(t)
	want := make(map[int64]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	for id := range runs {
		assert.True(t, want[id], "job_runs names job %d, which the test did not enqueue", id)
	}

	total, dups, victimRuns, rerunHeld := 0, 0, 0, 0
	var unexplained []int64 // Run more than once, but not for the killed child.
	perNode := map[int]int{}
	isVictim := func(r jobRun) bool { return victim != nil && r.pid == victim.pid() }
	for _, id := range ids {
		rs, job := runs[id], jobs[id]
		require.NotNil(t, job, "job %d", id)
		assert.NotEmpty(t, rs, "job %d never ran", id)
		total += len(rs)
		tokens := map[int64]bool{}
		for _, r := range rs {
			perNode[r.pid]++
			if isVictim(r) {
				victimRuns++
			}
			assert.False(t, tokens[r.token], "job %d ran twice under one claim (token %d)", id, r.token)
			tokens[r.token] = true
		}
		// At least once, and never more than claimed: every attempt after
		// the first has a recorded reason (an expired lease or an error).
		assert.LessOrEqual(t, len(rs), job.Attempt, "job %d ran more often than it was claimed", id)
		assert.Len(t, job.Errors, job.Attempt-1, "job %d: attempts %d, errors %v", id, job.Attempt, job.Errors)
		if held[id] && job.Attempt > 1 {
			rerunHeld++
		}
		if len(rs) < 2 {
			continue
		}
		dups++
		survivors := 0
		for _, r := range rs {
			if !isVictim(r) {
				survivors++
			}
		}
		if !slices.ContainsFunc(rs, isVictim) || !held[id] || survivors != 1 {
			unexplained = append(unexplained, id)
		}
	}

	t.Logf("%s: %d jobs, %d children: enqueue %s, all complete %s after start; %d runs, %d jobs run more than once, runs per child %v",
		c.backend, c.jobs, c.children, enqueued.Round(time.Millisecond), elapsed.Round(time.Millisecond),
		total, dups, perNode)
	if victim != nil {
		t.Logf("%s: killed child %d ran %d jobs; %d of the %d leases it held at its death were rescued and run again",
			c.backend, victim.pid(), victimRuns, rerunHeld, len(held))
	}
	if len(unexplained) == 0 {
		return
	}
	// The jobs' histories explain each extra run (checked above), so these
	// are leases that live children failed to extend in time: correct
	// at-least-once behaviour, but not expected at these settings unless the
	// race detector slows everything down.
	detail := make([]string, 0, len(unexplained))
	for _, id := range unexplained[:min(len(unexplained), 10)] {
		detail = append(detail, fmt.Sprintf("job %d: runs %v, errors %v", id, runs[id], jobs[id].Errors))
	}
	msg := fmt.Sprintf("%d jobs ran more than once without being held by a killed child (live children lost leases):\n%s",
		len(unexplained), strings.Join(detail, "\n"))
	if raceDetector {
		t.Log(msg)
		return
	}
	t.Error(msg)
}

// multiNodeBound bounds each multi-node test, from the start of its
// children to the last check.
const multiNodeBound = 2 * time.Minute

func TestMultiNodePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	t.Parallel()
	c := newPostgresCluster(t)
	c.jobs, c.children = 5000, 3
	c.run(t)
}

func TestMultiNodePostgresSurvivesAKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	t.Parallel()
	c := newPostgresCluster(t)
	c.jobs, c.children, c.kill = 5000, 3, true
	c.run(t)
}

func TestMultiNodeSQLiteSurvivesAKilledNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes; skipped with -short")
	}
	t.Parallel()
	c := newSQLiteCluster(t)
	c.jobs, c.children, c.kill = 2000, 2, true
	if raceDetector {
		// SQLite is compiled to Go, so the race detector slows it down
		// many times over.
		c.jobs = 400
	}
	c.run(t)
}
