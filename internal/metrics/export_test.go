package metrics

import (
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// SetClock replaces the collector's clock.
func SetClock(c *QueueStateCollector, now func() time.Time) { c.now = now }

// AddedByQueue exposes addedByQueue.
func AddedByQueue(ps []*storage.JobEnqueueParams, added int) map[string]int {
	return addedByQueue(ps, added)
}
