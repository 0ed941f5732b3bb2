package pgstore_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/pgstore"
	"github.com/astro-runner/astro-runner/internal/storage/storagetest"
)

// TestMigration00011BackfillsSummariesAsTheStoreWrites stores results
// through the store, which summarises them in Go, rolls migration 00011
// back and applies it again, so that its UPDATE summarises them in SQL,
// and checks that both give the same summaries.
func TestMigration00011BackfillsSummariesAsTheStoreWrites(t *testing.T) {
	t.Parallel()
	s := open(t)
	ctx := context.Background()
	p, err := s.PlanCreate(ctx, &storage.PlanCreateParams{Name: "backfill", Document: []byte(`{"steps":[]}`)})
	require.NoError(t, err)
	for _, doc := range storagetest.SummaryDocs {
		e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
		require.NoError(t, err)
		_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionError, Result: []byte(doc)})
		require.NoError(t, err)
	}
	_, err = s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
	require.NoError(t, err)

	summaries := func() map[string][2]string {
		rows, err := s.Pool().Query(ctx,
			`SELECT id::text, COALESCE(duration_ms::text, 'null'), COALESCE(step_summary::text, 'null') FROM executions`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string][2]string{}
		for rows.Next() {
			var id, d, steps string
			require.NoError(t, rows.Scan(&id, &d, &steps))
			out[id] = [2]string{d, steps}
		}
		require.NoError(t, rows.Err())
		return out
	}
	written := summaries()
	require.Len(t, written, len(storagetest.SummaryDocs)+1)
	_, err = s.Migrate(ctx, pgstore.MigrateDown)
	require.NoError(t, err)
	_, err = s.Migrate(ctx, pgstore.MigrateUp)
	require.NoError(t, err)
	backfilled := summaries()
	for id, w := range written {
		b := backfilled[id]
		assert.Equal(t, w[0], b[0], "duration of %s", id)
		if w[1] == "null" || b[1] == "null" {
			assert.Equal(t, w[1], b[1], "steps of %s", id)
		} else {
			assert.JSONEq(t, w[1], b[1], "steps of %s", id)
		}
	}
}
