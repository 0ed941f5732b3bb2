package retention_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/retention"
	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestParse(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"0", 0, ""},
		{"0d", 0, ""},
		{"30d", 30 * 24 * time.Hour, ""},
		{"720h", 720 * time.Hour, ""},
		{"1h", time.Hour, ""},
		{"90m", 90 * time.Minute, ""},
		{" 14d ", 14 * 24 * time.Hour, ""},
		{"59m", 0, "shorter than 1h0m0s"},
		{"1s", 0, "shorter than"},
		{"-1h", 0, "negative"},
		{"-3d", 0, "whole number of days"},
		{"1.5d", 0, "whole number of days"},
		{"d", 0, "whole number of days"},
		{"forever", 0, "not a duration"},
		{"", 0, "not a duration"},
		{"36600d", 0, "longer than 100 years"},
		{"1000000h", 0, "longer than 100 years"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := retention.Parse(tc.in)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestFormatRoundTrips(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, time.Hour, 36 * time.Hour, 30 * 24 * time.Hour, 90 * time.Minute} {
		got, err := retention.Parse(retention.Format(d))
		require.NoError(t, err, retention.Format(d))
		assert.Equal(t, d, got)
	}
	assert.Equal(t, "30d", retention.Format(30*24*time.Hour))
	assert.Equal(t, "36h0m0s", retention.Format(36*time.Hour))
}

// fakeStore answers ExecutionPrune and AlertDeliveryPrune with counts
// from a script each and records the parameters they were called with.
type fakeStore struct {
	counts []int64
	err    error
	calls  []storage.ExecutionPruneParams

	deliveryCounts []int64
	deliveryErr    error
	deliveryCalls  []deliveryPruneCall
}

// deliveryPruneCall is one call of AlertDeliveryPrune.
type deliveryPruneCall struct {
	before time.Time
	limit  int
}

func (f *fakeStore) AlertDeliveryPrune(ctx context.Context, before time.Time, limit int) (int64, error) {
	f.deliveryCalls = append(f.deliveryCalls, deliveryPruneCall{before, limit})
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("store call without a deadline")
	}
	if len(f.deliveryCounts) == 0 {
		return 0, f.deliveryErr
	}
	n := f.deliveryCounts[0]
	f.deliveryCounts = f.deliveryCounts[1:]
	return n, nil
}

func (f *fakeStore) ExecutionPrune(ctx context.Context, p *storage.ExecutionPruneParams) (int64, error) {
	f.calls = append(f.calls, *p)
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("store call without a deadline")
	}
	if len(f.counts) == 0 {
		return 0, f.err
	}
	n := f.counts[0]
	f.counts = f.counts[1:]
	return n, nil
}

func TestPruneLoopsUntilABatchIsShort(t *testing.T) {
	t.Parallel()
	store := &fakeStore{counts: []int64{10, 10, 3, 10}}
	p := retention.New(store, retention.Config{Retention: 48 * time.Hour, BatchSize: 10, Pause: time.Microsecond})
	n, err := p.Prune(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(23), n)
	require.Len(t, store.calls, 3, "stops after the short batch")
	assert.Equal(t, storage.ExecutionPruneParams{
		DefaultRetention: 48 * time.Hour, KeepNewest: storage.DefaultKeepNewest, Limit: 10,
	}, store.calls[0])
}

func TestPruneReturnsTheCountSoFarOnError(t *testing.T) {
	t.Parallel()
	store := &fakeStore{counts: []int64{10}, err: errors.New("db down")}
	p := retention.New(store, retention.Config{BatchSize: 10, Pause: time.Microsecond})
	n, err := p.Prune(t.Context())
	require.ErrorContains(t, err, "db down")
	assert.Equal(t, int64(10), n)
}

func TestPruneStopsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	store := &fakeStore{counts: []int64{10, 10, 10}}
	p := retention.New(store, retention.Config{BatchSize: 10, Pause: time.Hour})
	cancel()
	n, err := p.Prune(ctx)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int64(10), n, "one batch, then the pause sees the context end")
}

func TestPruneDeliveriesDeletesAttemptsOlderThanRetentionInBatches(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	store := &fakeStore{deliveryCounts: []int64{10, 10, 3, 10}}
	p := retention.New(store, retention.Config{
		Retention: 48 * time.Hour, BatchSize: 10, Pause: time.Microsecond,
		NowFunc: func() time.Time { return now },
	})
	n, err := p.PruneDeliveries(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(23), n)
	want := deliveryPruneCall{before: now.Add(-48 * time.Hour), limit: 10}
	assert.Equal(t, []deliveryPruneCall{want, want, want}, store.deliveryCalls, "stops after the short batch")
	assert.Empty(t, store.calls, "pruning deliveries prunes no executions")
}

func TestPruneDeliveriesKeepsEverythingWhenRetentionIsZero(t *testing.T) {
	t.Parallel()
	store := &fakeStore{deliveryCounts: []int64{10}}
	p := retention.New(store, retention.Config{BatchSize: 10, Pause: time.Microsecond})
	n, err := p.PruneDeliveries(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	assert.Empty(t, store.deliveryCalls)
}

func TestPruneDeliveriesReturnsTheCountSoFarOnError(t *testing.T) {
	t.Parallel()
	store := &fakeStore{deliveryCounts: []int64{10}, deliveryErr: errors.New("db down")}
	p := retention.New(store, retention.Config{Retention: time.Hour, BatchSize: 10, Pause: time.Microsecond})
	n, err := p.PruneDeliveries(t.Context())
	require.ErrorContains(t, err, "db down")
	assert.Equal(t, int64(10), n)
	require.Len(t, store.deliveryCalls, 2)
	assert.WithinDuration(t, time.Now().Add(-time.Hour), store.deliveryCalls[0].before, time.Hour,
		"without NowFunc the cutoff is this node's clock minus the retention")
}
