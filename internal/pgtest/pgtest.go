// Package pgtest gives tests a fresh PostgreSQL schema of their own, so that
// Postgres tests can run in parallel against one database without seeing
// each other's rows.
//
// The database comes from TEST_DATABASE_URL when it is set, for example
//
//	TEST_DATABASE_URL='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' go test ./...
//
// Otherwise pgtest starts one postgres:17 container per test process with
// dockertest, if a Docker engine answers. With neither, or when the
// container does not start, tests that call URL are skipped with the reason,
// or fail when ASTRO_REQUIRE_POSTGRES=1 (set it in CI so that a missing
// database cannot pass silently). A TEST_DATABASE_URL that does not answer
// always fails the test.
//
// A package whose tests may start the container should remove it at the
// end with Main:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without Main the container still removes itself: it is started with
// AutoRemove and expires after 300 seconds.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

const (
	// EnvURL names the variable that points the tests at an existing
	// database. pgtest only creates and drops its own schemas in it.
	EnvURL = "TEST_DATABASE_URL"
	// EnvRequire names the variable that, when set to 1, turns a skip for
	// want of a database into a failure.
	EnvRequire = "ASTRO_REQUIRE_POSTGRES"

	skipMessage = "Postgres tests skipped: set TEST_DATABASE_URL=postgres://... or start Docker; see README"

	// image and tag are the container started when no URL is given.
	image = "postgres"
	tag   = "17"
	// containerUser, containerPassword and containerDB configure the
	// throwaway container; it listens on 127.0.0.1 only.
	containerUser     = "postgres"
	containerPassword = "astro-test"
	containerDB       = "astro_test"
	// expireSeconds bounds the container's life if Main is not called.
	expireSeconds = 300
	// dockerPingTimeout keeps a TCP DOCKER_HOST that does not answer from
	// hanging the tests.
	dockerPingTimeout = 2 * time.Second
	// adminTimeout bounds each schema create or drop.
	adminTimeout = 30 * time.Second
)

// container is the Postgres container shared by every test of the process.
var container struct {
	once sync.Once
	// url is the base URL of the container's database, when it started.
	url string
	// skip explains why there is no container when url is empty.
	skip string
	// err is set when Docker answered but the container could not start.
	err  error
	pool *dockertest.Pool
	res  *dockertest.Resource
}

// URL returns a connection URL for a new, empty schema, which it drops with
// CASCADE when t ends. The URL carries search_path=<schema> as a query
// parameter, which pgx sends to the server as a run-time parameter, so
// unqualified names in migrations and queries land in that schema.
//
// It never drops anything it did not create and does not assume the
// database is otherwise empty. It skips t when no database is available,
// or fails t when ASTRO_REQUIRE_POSTGRES=1.
func URL(t testing.TB) string {
	t.Helper()
	base := baseURL(t)

	schema := "t_" + randomHex(t, 8)
	ident := pgx.Identifier{schema}.Sanitize()
	if err := exec(base, "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if err := exec(base, "DROP SCHEMA IF EXISTS "+ident+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})

	u, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// Main runs the tests of a package and then removes the Postgres container
// if URL started one. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	code := m.Run()
	if container.res != nil {
		if err := container.pool.Purge(container.res); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: remove postgres container: %v\n", err)
		}
	}
	os.Exit(code)
}

// baseURL returns the URL of the database to create schemas in, or skips
// or fails t when there is none.
func baseURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	container.once.Do(startContainer)
	switch {
	case container.url != "":
		return container.url
	case container.err != nil:
		unavailable(t, fmt.Sprintf("%s (Docker answered, but: %v)", skipMessage, container.err))
	default:
		unavailable(t, fmt.Sprintf("%s (%s)", skipMessage, container.skip))
	}
	return ""
}

// unavailable skips t, or fails it when a database is required.
func unavailable(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(EnvRequire) == "1" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// startContainer starts postgres:17 and waits until it accepts
// connections. It records why it could not in container.skip or
// container.err.
func startContainer() {
	pool, err := dockertest.NewPool("")
	if err != nil {
		container.skip = "no Docker client: " + err.Error()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), dockerPingTimeout)
	defer cancel()
	if err := pool.Client.PingWithContext(ctx); err != nil {
		container.skip = "Docker does not answer: " + err.Error()
		return
	}
	pool.MaxWait = 2 * time.Minute

	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: image,
		Tag:        tag,
		Env: []string{
			"POSTGRES_USER=" + containerUser,
			"POSTGRES_PASSWORD=" + containerPassword,
			"POSTGRES_DB=" + containerDB,
		},
		// The tests' own durability does not matter, and every parallel
		// test holds a pool of connections.
		Cmd:          []string{"postgres", "-c", "fsync=off", "-c", "max_connections=400"},
		ExposedPorts: []string{"5432/tcp"},
		PortBindings: map[docker.Port][]docker.PortBinding{
			"5432/tcp": {{HostIP: "127.0.0.1", HostPort: ""}},
		},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.NeverRestart()
	})
	if err != nil {
		container.err = fmt.Errorf("start %s:%s: %w", image, tag, err)
		return
	}
	container.pool, container.res = pool, res
	if err := res.Expire(expireSeconds); err != nil {
		container.err = fmt.Errorf("set container expiry: %w", err)
		return
	}

	u := (&url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(containerUser, containerPassword),
		Host:     "127.0.0.1:" + res.GetPort("5432/tcp"),
		Path:     "/" + containerDB,
		RawQuery: "sslmode=disable",
	}).String()
	err = pool.Retry(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		return conn.Ping(ctx)
	})
	if err != nil {
		container.err = fmt.Errorf("wait for postgres: %w", err)
		return
	}
	container.url = u
}

// exec runs one statement on a short-lived admin connection.
func exec(connURL, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, connURL)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	// A schema still locked by a forgotten transaction should fail the
	// clean-up rather than hang it.
	if _, err := conn.Exec(ctx, "SET lock_timeout = '10s'"); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, sql)
	return err
}

// withSearchPath adds search_path=schema to a URL or to a keyword/value
// connection string, replacing any search_path already there.
func withSearchPath(base, schema string) (string, error) {
	if strings.HasPrefix(base, "postgres://") || strings.HasPrefix(base, "postgresql://") {
		u, err := url.Parse(base)
		if err != nil {
			// url.Error quotes the URL, which may hold a password.
			return "", errors.New("parse database URL: malformed URL")
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// Keyword/value form: a later keyword overrides an earlier one.
	return strings.TrimSpace(base) + " search_path=" + schema, nil
}

// randomHex returns n random bytes as hex.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: random schema name: %v", err)
	}
	return hex.EncodeToString(b)
}
