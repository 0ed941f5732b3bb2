package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// hangGuard bounds each test, so that a wedged writer fails the test
// instead of hanging the binary. It is not a performance bound.
const hangGuard = 30 * time.Second

// openBoth returns a fresh in-memory store and a fresh file store.
func openBoth(t *testing.T, cfg Config) map[string]*Store {
	t.Helper()
	stores := map[string]*Store{}
	for name, path := range map[string]string{"Memory": "", "File": filepath.Join(t.TempDir(), "astro.db")} {
		c := cfg
		c.Path = path
		s, err := Open(t.Context(), c)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		stores[name] = s
	}
	return stores
}

// guardContext returns the test's context, bounded by hangGuard.
func guardContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangGuard)
	t.Cleanup(cancel)
	return ctx
}

// addPanickingFunction defines boom() on the writer's connection: calling
// it panics inside the driver, as an allocation failure would.
func addPanickingFunction(t *testing.T, ctx context.Context, s *Store) {
	t.Helper()
	conn, err := s.w.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Raw(func(dc any) error {
		return dc.(interface{ Raw() *sqlite3.Conn }).Raw().CreateFunction("boom", 0, 0,
			func(sqlite3.Context, ...sqlite3.Value) { panic("boom") })
	}))
}

func createPlanNamed(ctx context.Context, s storage.Store, name string) error {
	_, err := s.PlanCreate(ctx, &storage.PlanCreateParams{Name: name, Document: []byte(`{}`)})
	return err
}

func TestDriverPanicInAPreparedStatementFreesTheWriter(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			addPanickingFunction(t, ctx, s)
			// The statement cache runs prepared statements, whose panics
			// database/sql does not release the connection after.
			_, err := s.wc.ExecContext(ctx, "SELECT boom()")
			require.ErrorIs(t, err, errDriverPanic)
			require.NoError(t, createPlanNamed(ctx, s, "after"))
		})
	}
}

func TestDriverPanicInATransactionRollsBackAndFreesTheWriter(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			addPanickingFunction(t, ctx, s)
			_, err := s.wc.stmt(ctx, "SELECT boom()") // Prepared, as a hot query is.
			require.NoError(t, err)
			err = s.InTx(ctx, func(tx storage.Store) error {
				if err := createPlanNamed(ctx, tx, "rolled-back"); err != nil {
					return err
				}
				_, err := tx.(*Store).db.ExecContext(ctx, "SELECT boom()")
				return err
			})
			require.ErrorIs(t, err, errDriverPanic)
			require.NoError(t, createPlanNamed(ctx, s, "after"))
			page, err := s.PlanList(ctx, &storage.PlanListParams{})
			require.NoError(t, err)
			require.Len(t, page.Plans, 1)
			require.Equal(t, "after", page.Plans[0].Name)
		})
	}
}

func TestWriteTimeoutInterruptsALongStatement(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{WriteTimeout: 100 * time.Millisecond}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			// Counts for ever unless interrupted.
			_, err := s.wc.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c)
				SELECT count(*) FROM c`)
			require.ErrorIs(t, interpretError(err), storage.ErrUnavailable, "an interrupted write is temporary")
			require.NoError(t, createPlanNamed(ctx, s, "after"))
		})
	}
}

func TestWriteTimeoutEndsATransactionThatHoldsTheWriter(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{WriteTimeout: 100 * time.Millisecond}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			release := make(chan struct{})
			held := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- s.InTx(ctx, func(tx storage.Store) error {
					if err := createPlanNamed(ctx, tx, "abandoned"); err != nil {
						return err
					}
					close(held)
					<-release
					return nil
				})
			}()
			<-held
			// Without the bound this waits for release, which never comes
			// before the write.
			require.NoError(t, createPlanNamed(ctx, s, "after"))
			close(release)
			require.Error(t, <-done, "the abandoned transaction must not commit")
			page, err := s.PlanList(ctx, &storage.PlanListParams{})
			require.NoError(t, err)
			require.Len(t, page.Plans, 1)
		})
	}
}

func TestPingFailsWhileTheWriterIsHeld(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			release := make(chan struct{})
			held := make(chan struct{})
			done := make(chan error, 1)
			go func() {
				done <- s.InTx(ctx, func(storage.Store) error {
					close(held)
					<-release
					return nil
				})
			}()
			<-held
			pingCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			require.ErrorIs(t, s.Ping(pingCtx), storage.ErrUnavailable)
			close(release)
			require.NoError(t, <-done)
			require.NoError(t, s.Ping(ctx))
		})
	}
}

func TestPanicInTxFuncRollsBackAndFreesTheWriter(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			func() {
				defer func() { require.Equal(t, "in fn", recover()) }()
				_ = s.InTx(ctx, func(tx storage.Store) error {
					require.NoError(t, createPlanNamed(ctx, tx, "rolled-back"))
					panic("in fn")
				})
			}()
			require.NoError(t, createPlanNamed(ctx, s, "after"))
			page, err := s.PlanList(ctx, &storage.PlanListParams{})
			require.NoError(t, err)
			require.Len(t, page.Plans, 1)
			require.Equal(t, "after", page.Plans[0].Name)
		})
	}
}

// TestWriteTimeoutInterruptsAStatementThatOutlivesItsTransaction runs, in a
// transaction, a statement that never ends. The statement's own bound is
// set far beyond the transaction's (an hour against 300 ms), so only the
// transaction's bound can end it: without that, the statement would hold
// the writer until the test's hang guard.
func TestWriteTimeoutInterruptsAStatementThatOutlivesItsTransaction(t *testing.T) {
	t.Parallel()
	for name, s := range openBoth(t, Config{WriteTimeout: time.Hour}) {
		t.Run(name, func(t *testing.T) {
			ctx := guardContext(t)
			s.limit = 300 * time.Millisecond // The transaction's bound only.
			err := s.InTx(ctx, func(tx storage.Store) error {
				if err := createPlanNamed(ctx, tx, "rolled-back"); err != nil {
					return err
				}
				_, err := tx.(*Store).db.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c)
					SELECT count(*) FROM c`)
				return err
			})
			require.NoError(t, ctx.Err(), "the statement ran until the test's hang guard")
			require.ErrorIs(t, interpretError(err), storage.ErrUnavailable)
			require.NoError(t, createPlanNamed(ctx, s, "after"), "the writer is free")
			page, err := s.PlanList(ctx, &storage.PlanListParams{})
			require.NoError(t, err)
			require.Len(t, page.Plans, 1)
			require.Equal(t, "after", page.Plans[0].Name)
		})
	}
}
