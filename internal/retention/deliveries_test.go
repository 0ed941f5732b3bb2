package retention_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/sqlitestore"
)

// TestPruneDeliveriesOnARealStore runs PruneDeliveries over a real
// (in-memory SQLite) store, in batches smaller than the work, and checks
// that exactly the attempts older than the retention are gone, and that a
// retention of zero keeps them all.
func TestPruneDeliveriesOnARealStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store, err := sqlitestore.Open(ctx, sqlitestore.Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	ch, err := store.ChannelCreate(ctx, &storage.ChannelCreateParams{Name: "ops", Kind: storage.ChannelWebhook, URL: "https://hooks.example.com/x"})
	require.NoError(t, err)
	recordAt := func(at time.Time) uuid.UUID {
		t.Helper()
		d, err := store.AlertDeliveryRecord(ctx, &storage.AlertDeliveryRecordParams{
			DeliveryID: uuid.Must(uuid.NewV7()), ChannelID: ch.ID, Event: "execution.failed", Attempt: 1,
			Outcome: storage.DeliveryDelivered, CreatedAt: at,
		})
		require.NoError(t, err)
		return d.ID
	}
	now := time.Now()
	for i := range 7 {
		recordAt(now.Add(-time.Duration(3+i) * time.Hour))
	}
	kept := []uuid.UUID{recordAt(now.Add(-30 * time.Minute)), recordAt(time.Time{})}

	forever := retention.New(store, retention.Config{Retention: 0, BatchSize: 2, Pause: time.Microsecond})
	n, err := forever.PruneDeliveries(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a retention of zero keeps every attempt")

	p := retention.New(store, retention.Config{Retention: time.Hour, BatchSize: 2, Pause: time.Microsecond})
	n, err = p.PruneDeliveries(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(7), n)
	n, err = p.PruneDeliveries(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "a second run finds nothing")

	page, err := store.AlertDeliveryList(ctx, &storage.AlertDeliveryListParams{ChannelID: ch.ID})
	require.NoError(t, err)
	var got []uuid.UUID
	for _, d := range page.Deliveries {
		got = append(got, d.ID)
	}
	assert.ElementsMatch(t, kept, got)
}
