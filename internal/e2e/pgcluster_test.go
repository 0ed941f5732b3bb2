//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/pgtest"
)

// pgCluster is a throwaway PostgreSQL cluster of this test alone, which the
// test may stop and start. It listens on 127.0.0.1 on a port of its own and
// never touches any other server (such as a shared one on 5432).
type pgCluster struct {
	t       *testing.T
	bindir  string
	dir     string // Owns data/ and the Unix socket; removed at the end.
	data    string
	port    int
	cred    *syscall.Credential // Set when running as root.
	logPath string
	proc    *process
}

// unavailablePG skips t, or fails it when ASTRO_REQUIRE_POSTGRES=1.
func unavailablePG(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv(pgtest.EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// pgBinDir finds the directory of initdb and postgres: pg_config --bindir,
// else the newest /usr/lib/postgresql/<version>/bin.
func pgBinDir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	for i := len(dirs) - 1; i >= 0; i-- {
		if has(dirs[i]) {
			return dirs[i], nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres): install them or put pg_config on PATH")
}

// newPGCluster runs initdb in a new temporary directory and starts the
// cluster. Postgres refuses to run as root, so as root the cluster belongs
// to the Debian "postgres" user and its processes run as that user.
func newPGCluster(t *testing.T) *pgCluster {
	t.Helper()
	bindir, err := pgBinDir()
	if err != nil {
		unavailablePG(t, "throwaway Postgres cluster: "+err.Error())
	}
	c := &pgCluster{t: t, bindir: bindir}
	// Not t.TempDir: its parent is private to root, and the postgres user
	// must reach the data directory.
	c.dir, err = os.MkdirTemp("", "astro-e2e-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(c.dir) })
	c.data = filepath.Join(c.dir, "data")
	require.NoError(t, os.Mkdir(c.data, 0o700))
	c.logPath = filepath.Join(c.dir, "postgres.log")
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			unavailablePG(t, "running as root and there is no postgres user to run a throwaway cluster as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, p := range []string{c.dir, c.data} {
			require.NoError(t, os.Chown(p, uid, gid))
		}
	}
	initdb := exec.Command(filepath.Join(bindir, "initdb"), "-D", c.data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--no-sync")
	initdb.Dir = c.dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	out, err := initdb.CombinedOutput()
	require.NoError(t, err, "initdb:\n%s", out)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	c.port, _ = strconv.Atoi(port)
	c.start()
	return c
}

// url is the connection URL of the cluster's postgres database.
func (c *pgCluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

// start starts the postmaster and waits until it accepts connections.
func (c *pgCluster) start() {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bindir, "postgres"), "-D", c.data, "-p", strconv.Itoa(c.port),
		"-k", c.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=100")
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	c.proc = startProcess(c.t, "postgres", cmd, c.logPath)
	// Registered after startProcess's SIGKILL, so it runs first: a fast
	// shutdown leaves no shared memory or stale pid file behind.
	p := c.proc
	c.t.Cleanup(func() { p.signal(syscall.SIGINT, 30*time.Second) })
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, c.url())
		if err == nil {
			err = conn.Ping(ctx)
			_ = conn.Close(ctx)
		}
		cancel()
		if err == nil {
			return
		}
		if p.exited() || time.Now().After(deadline) {
			c.t.Fatalf("throwaway postgres did not start: %v\n%s", err, logTail(c.logPath, 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop shuts the postmaster down with a fast shutdown (SIGINT: it
// terminates sessions and rolls back open transactions) and waits until it
// has exited.
func (c *pgCluster) stop() {
	c.t.Helper()
	if !c.proc.signal(syscall.SIGINT, 60*time.Second) {
		c.t.Fatalf("postgres did not stop within 60s of SIGINT\n%s", logTail(c.logPath, 30))
	}
}
