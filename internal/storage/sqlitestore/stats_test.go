package sqlitestore

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
	"github.com/astro-runner/astro-runner/internal/storage/storagetest"
)

// TestScanBatchesReadsEachExecutionOnce runs scanBatches over sorted finish
// times with long runs of equal times, longer than a batch, and checks
// that every execution is read exactly once, whatever the batch size.
func TestScanBatchesReadsEachExecutionOnce(t *testing.T) {
	t.Parallel()
	// Finish times from 100: ten at 100, one at 101, seven at 105, two at
	// 106, one at 110; the k-th has duration k, or none when k%5 == 0.
	var times []int64
	for _, run := range []struct{ at, n int64 }{{100, 10}, {101, 1}, {105, 7}, {106, 2}, {110, 1}} {
		for range run.n {
			times = append(times, run.at)
		}
	}
	for batch := int64(1); batch <= int64(len(times))+1; batch++ {
		t.Run(fmt.Sprint("Batch", batch), func(t *testing.T) {
			t.Parallel()
			// read packs the batch that PlanStatsScan would return. It
			// fails a scan that does not move on.
			calls := 0
			read := func(after, skip int64) (int64, string, error) {
				if calls++; calls > 2*len(times)+2 {
					return 0, "", fmt.Errorf("%d reads for %d executions: the scan does not move on", calls, len(times))
				}
				var recs []string
				for k, at := range times {
					if at < after {
						continue
					}
					if skip > 0 {
						skip--
						continue
					}
					if int64(len(recs)) == batch {
						break
					}
					d := ""
					if k%5 != 0 {
						d = fmt.Sprint(k)
					}
					recs = append(recs, fmt.Sprintf("%d,passed,%s", at, d))
				}
				return int64(len(recs)), strings.Join(recs, " "), nil
			}
			var got []int64
			var durations []int64
			err := scanBatches(100, batch, read, func(at int64, status storage.ExecutionStatus, d *int64) {
				assert.Equal(t, storage.ExecutionPassed, status)
				got = append(got, at)
				if d != nil {
					durations = append(durations, *d)
				}
			})
			require.NoError(t, err)
			assert.Equal(t, times, got)
			var want []int64
			for k := range times {
				if k%5 != 0 {
					want = append(want, int64(k))
				}
			}
			slices.Sort(durations)
			assert.Equal(t, want, durations)
		})
	}
}

func TestUnpackExecutionRejectsMalformedRecords(t *testing.T) {
	t.Parallel()
	for _, rec := range []string{"", "1", "1,passed", "x,passed,1", "1,passed,x"} {
		_, _, _, err := unpackExecution(rec)
		assert.Error(t, err, "%q", rec)
	}
	at, st, d, err := unpackExecution("1700000000000000,cancelled,")
	require.NoError(t, err)
	assert.Equal(t, int64(1700000000000000), at)
	assert.Equal(t, storage.ExecutionCancelled, st)
	assert.Nil(t, d)
}

// TestMigration00011BackfillsSummariesAsTheStoreWrites stores results
// through the store, which summarises them in Go, rolls migration 00011
// back and applies it again, so that its UPDATE summarises them in SQL,
// and checks that both give the same summaries.
func TestMigration00011BackfillsSummariesAsTheStoreWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, Config{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	p, err := s.PlanCreate(ctx, &storage.PlanCreateParams{Name: "backfill", Document: []byte(`{"steps":[]}`)})
	require.NoError(t, err)
	for _, doc := range storagetest.SummaryDocs {
		e, err := s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
		require.NoError(t, err)
		_, err = s.ExecutionSetStatus(ctx, &storage.ExecutionSetStatusParams{ID: e.ID, Status: storage.ExecutionError, Result: []byte(doc)})
		require.NoError(t, err)
	}
	// Without a result, no summary.
	_, err = s.ExecutionCreate(ctx, &storage.ExecutionCreateParams{PlanID: p.ID, PlanRevision: 1})
	require.NoError(t, err)

	summaries := func() map[string][2]string {
		rows, err := s.r.QueryContext(ctx, `SELECT id, COALESCE(duration_ms, 'null'), COALESCE(step_summary, 'null') FROM executions`)
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
	_, err = s.Migrate(ctx, MigrateDown)
	require.NoError(t, err)
	_, err = s.Migrate(ctx, MigrateUp)
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
