// Command astro-runner stores API test plans, runs them through a durable
// job queue, and keeps every result. It also runs plan files locally, for
// CI, without a server.
//
// Usage:
//
//	astro-runner [serve]              API and workers in one process (default)
//	astro-runner worker               workers only
//	astro-runner migrate up|down|status
//	astro-runner openapi              print the OpenAPI document (YAML)
//	astro-runner run FILE...          run plan files locally, no server
//	astro-runner exec PLAN            run a stored plan on a server and wait
//	astro-runner plan push FILE...    create or update stored plans by name
//
// Configuration comes from the environment; see README.md. Run
// `astro-runner help COMMAND` for each command's flags.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	// The time zone database is embedded (about 450 KB), so that every
	// node loads every zone a schedule names, whatever its system has.
	_ "time/tzdata"

	"github.com/spf13/cobra"

	"github.com/astro-runner/astro-runner/api"
	"github.com/astro-runner/astro-runner/internal/config"
	"github.com/astro-runner/astro-runner/internal/runprint"
)

// version is set at build time with -ldflags "-X main.version=...". It is
// the version the OpenAPI document states; --version prefers it and falls
// back to the build info.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// execute runs the command line args and returns the exit status: 0 for
// success, 1 for a failure (a failed plan, a server that could not start),
// 2 for bad usage, an invalid plan, or a server that exec or plan push
// cannot use. Errors are written to stderr.
func execute(ctx context.Context, args []string, lookup config.LookupFunc, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr, lookup)
	root.SetArgs(args)
	return exitCode(root.ExecuteContext(ctx), stderr)
}

// cli is what every command reads: the output streams and the
// environment.
type cli struct {
	stdout, stderr io.Writer
	lookup         config.LookupFunc
}

// newRootCmd builds the astro-runner command tree. Its output goes to
// stdout and stderr, and its configuration comes from lookup, so tests can
// drive it in-process.
func newRootCmd(stdout, stderr io.Writer, lookup config.LookupFunc) *cobra.Command {
	c := &cli{stdout: stdout, stderr: stderr, lookup: lookup}
	serveCmd := c.newServeCmd()
	root := &cobra.Command{
		Use:   "astro-runner",
		Short: "Store API test plans, run them through a durable job queue, keep every result",
		Long: `astro-runner stores API test plans, runs them through a durable job queue,
and keeps every result. With no command it serves the API and runs the
workers (astro-runner serve). "astro-runner run" runs plan files locally,
without a server, for CI; "astro-runner exec" runs a plan stored on a
server and waits for it; "astro-runner plan push" syncs plan files to a
server.

Configuration comes from environment variables (STORAGE_BACKEND,
ASTRO_ADDR, ASTRO_LOG_FORMAT...); see README.md for the full table.`,
		Version:       buildVersion(),
		Args:          usageArgs(cobra.NoArgs),
		RunE:          serveCmd.RunE,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetVersionTemplate("astro-runner {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
	root.AddCommand(serveCmd, c.newWorkerCmd(), c.newMigrateCmd(), c.newOpenAPICmd(), c.newRunCmd(),
		c.newExecCmd(), c.newPlanCmd(), c.newSecretsCmd())
	return root
}

func (c *cli) newServeCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the API and run the workers in one process (the default command)",
		Long: `Serve the HTTP API on ASTRO_ADDR and run ASTRO_WORKERS workers for each
queue of ASTRO_QUEUES (default: default) in the same process, until SIGINT or SIGTERM; then stop accepting requests, drain
them, and stop the workers. Plain "astro-runner" does the same.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return c.serve(cmd.Context(), true) },
	}
}

func (c *cli) newWorkerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the workers only, without the API",
		Long: `Run ASTRO_WORKERS workers for each queue of ASTRO_QUEUES (default:
default) that take jobs from the queue in the database, without serving the
API; a worker serves only the plans sent to its queues. It needs a shared database: STORAGE_BACKEND sqlite
(the same file as a server) or postgres. On the memory backend it refuses to
start, as its queue could never receive a job.`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error { return c.serve(cmd.Context(), false) },
	}
}

// serve loads the configuration, opens the store and serves: the API and
// the workers with withAPI, the workers alone without.
func (c *cli) serve(ctx context.Context, withAPI bool) error {
	cfg, log, err := c.load()
	if err != nil {
		return err
	}
	tr, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	defer stopTracing(tr, log)
	if !withAPI && cfg.Backend == config.BackendMemory {
		return fmt.Errorf("STORAGE_BACKEND=memory: a worker alone can never receive a job, because the in-memory queue " +
			"lives only in its own process; run `astro-runner serve`, or set STORAGE_BACKEND to sqlite or postgres")
	}
	store, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer store.Close()
	log.Info("store open", "backend", cfg.Backend)
	return serve(ctx, cfg, store, log, withAPI, tr.TracerProvider())
}

// load reads the configuration and builds the logger it describes.
func (c *cli) load() (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(c.lookup)
	if err != nil {
		return nil, nil, fmt.Errorf("configuration: %w", err)
	}
	return cfg, newLogger(c.stderr, cfg.LogLevel, cfg.LogFormat, isTerminal(c.stderr)), nil
}

func (c *cli) newMigrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate up|down|status",
		Short: "Apply, roll back or list the database schema migrations",
		Long: `Apply every pending migration (up), roll back the latest one (down), or
list them with their state (status), on the database that STORAGE_BACKEND
names (sqlite or postgres; memory keeps nothing to migrate). serve and
worker apply pending migrations themselves at start-up.`,
		Args: usageArgs(func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("unknown migrate direction %q: want up, down or status", args[0])
			}
			return nil
		}),
		RunE: func(*cobra.Command, []string) error {
			return usageError(fmt.Errorf("usage: astro-runner migrate up|down|status"))
		},
	}
	for _, d := range []struct{ name, short string }{
		{"up", "Apply every pending migration"},
		{"down", "Roll back the latest migration"},
		{"status", "List the migrations and whether each is applied"},
	} {
		cmd.AddCommand(&cobra.Command{
			Use:   d.name,
			Short: d.short,
			Args:  usageArgs(cobra.NoArgs),
			RunE: func(cmd *cobra.Command, _ []string) error {
				cfg, _, err := c.load()
				if err != nil {
					return err
				}
				return migrate(cmd.Context(), cfg, d.name, c.stdout)
			},
		})
	}
	return cmd
}

func (c *cli) newOpenAPICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "openapi",
		Short: "Print the OpenAPI 3.1 document of the API (YAML)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			spec, err := api.Spec(version)
			if err != nil {
				return err
			}
			_, err = c.stdout.Write(spec)
			return err
		},
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && runprint.IsTerminal(f)
}
