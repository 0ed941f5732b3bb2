package sqlitestore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

func TestEnqueueManyStoresThePayloadAsGiven(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{})
	require.NoError(t, err)
	defer s.Close()
	payload := `{"b": 1,  "a":[2, "\u00e9"]}`
	ids, err := s.JobEnqueueMany(ctx, []*storage.JobEnqueueParams{{Kind: "k", Payload: []byte(payload)}})
	require.NoError(t, err)
	require.Len(t, ids, 1)
	j, err := s.JobGet(ctx, ids[0])
	require.NoError(t, err)
	require.Equal(t, payload, string(j.Payload))
}

func TestEnqueueManyThatFailsInALaterChunkAddsNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := Open(ctx, Config{})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.w.ExecContext(ctx, `CREATE TRIGGER poison BEFORE INSERT ON jobs
		WHEN NEW.kind = 'poison' BEGIN SELECT RAISE(ABORT, 'poisoned job'); END`)
	require.NoError(t, err)

	ps := make([]*storage.JobEnqueueParams, enqueueChunk+10)
	for i := range ps {
		ps[i] = &storage.JobEnqueueParams{Kind: "k"}
	}
	ps[len(ps)-1].Kind = "poison" // In the second chunk, after the first committed nothing yet.
	_, err = s.JobEnqueueMany(ctx, ps)
	require.ErrorContains(t, err, "poisoned job")

	stats, err := s.JobStats(ctx)
	require.NoError(t, err)
	require.Empty(t, stats, "the first chunk was rolled back with the second")
}
