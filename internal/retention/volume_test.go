package retention_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// TestPruneAtVolume runs the Pruner over 10,200 executions of 50 plans in
// a real (in-memory SQLite) store, in batches far smaller than the work,
// and checks exactly what is left: per-plan retention, the newest 100 of
// each plan, and unfinished executions, however old.
func TestPruneAtVolume(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })

	const plans, finished = 50, 200
	forever, threeHours := time.Duration(0), 3*time.Hour
	type planRun struct {
		retention *time.Duration
		running   []uuid.UUID // Created first: the oldest, never finished.
		finished  []uuid.UUID // Oldest first.
	}
	runs := map[uuid.UUID]*planRun{}
	// One transaction per plan: a single one for all of them would hold the
	// SQLite writer close to its 10 s limit on a loaded machine.
	for i := range plans {
		require.NoError(t, store.InTx(ctx, func(tx storage.Store) error {
			r := &planRun{}
			switch {
			case i < 10:
				r.retention = &forever
			case i < 20:
				r.retention = &threeHours
			}
			p, err := tx.PlanCreate(ctx, &storage.PlanCreateParams{
				Name: fmt.Sprintf("plan-%d", i), Document: []byte(`{"steps":[]}`), Retention: r.retention,
			})
			if err != nil {
				return err
			}
			runs[p.ID] = r
			for j := range 2 + finished {
				e, err := tx.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
				if err != nil {
					return err
				}
				if _, err := tx.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionRunning}); err != nil {
					return err
				}
				if j < 2 {
					r.running = append(r.running, e.ID)
					continue
				}
				if _, err := tx.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionFailed}); err != nil {
					return err
				}
				r.finished = append(r.finished, e.ID)
			}
			return nil
		}))
	}

	p := retention.New(store, retention.Config{
		Retention: time.Hour, BatchSize: 64, Pause: time.Microsecond,
		NowFunc: func() time.Time { return time.Now().Add(2 * time.Hour) },
	})
	n, err := p.Prune(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(30*(finished-storage.DefaultKeepNewest)), n,
		"30 plans on the 1h default lose all but their newest 100 finished")
	n, err = p.Prune(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a second run finds nothing")

	for id, r := range runs {
		want := append(append([]uuid.UUID{}, r.running...), r.finished...)
		if r.retention == nil {
			want = append(append([]uuid.UUID{}, r.running...), r.finished[finished-storage.DefaultKeepNewest:]...)
		}
		page, err := store.ExecutionList(ctx, &storage.ExecutionListParams{PlanID: id, Limit: 200})
		require.NoError(t, err)
		var got []uuid.UUID
		for _, e := range page.Executions {
			got = append(got, e.ID)
		}
		if page.NextCursor != "" {
			more, err := store.ExecutionList(ctx, &storage.ExecutionListParams{PlanID: id, Limit: 200, Cursor: page.NextCursor})
			require.NoError(t, err)
			for _, e := range more.Executions {
				got = append(got, e.ID)
			}
		}
		assert.ElementsMatch(t, want, got, "plan %s (retention %v)", id, r.retention)
	}
}
