package metrics

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// TestQueueLabelsAreBounded checks that queue names, which API clients
// choose, give at most MaxQueueLabels series of their own.
func TestQueueLabelsAreBounded(t *testing.T) {
	t.Parallel()
	var l queueLabels
	for i := range MaxQueueLabels {
		require.Equal(t, fmt.Sprintf("q%d", i), l.label(fmt.Sprintf("q%d", i)))
	}
	assert.Equal(t, OtherQueue, l.label("one-too-many"))
	assert.Equal(t, "q0", l.label("q0"), "a queue seen before keeps its label")

	var stats []*storage.JobQueueStats
	for i := range MaxQueueLabels + 3 {
		stats = append(stats, &storage.JobQueueStats{
			Queue:              fmt.Sprintf("q%03d", i),
			Counts:             map[storage.JobState]int64{storage.JobAvailable: 2, storage.JobRunning: 1},
			OldestAvailableAge: time.Duration(i) * time.Second,
		})
	}
	got := boundQueues(stats)
	require.Len(t, got, MaxQueueLabels+1)
	other := got[MaxQueueLabels]
	assert.Equal(t, OtherQueue, other.Queue)
	assert.EqualValues(t, 6, other.Counts[storage.JobAvailable])
	assert.EqualValues(t, 3, other.Counts[storage.JobRunning])
	assert.Equal(t, time.Duration(MaxQueueLabels+2)*time.Second, other.OldestAvailableAge)
	assert.Len(t, boundQueues(stats[:5]), 5, "few queues pass as they are")
}
