package metrics

import "sync"

// MaxQueueLabels is how many queue names one process gives series of
// their own in the queue metrics that read queue names from the database
// (astro_jobs, astro_queue_oldest_available_age_seconds,
// astro_jobs_enqueued_total). Queue names come from API clients, so they
// are not bounded by configuration; past this many, a queue is counted
// under queue="other".
const MaxQueueLabels = 100

// OtherQueue is the queue label of the queues past MaxQueueLabels.
const OtherQueue = "other"

// queueLabels gives the first MaxQueueLabels queue names it sees their own
// label, and OtherQueue to the rest, for the life of the process.
type queueLabels struct {
	mu   sync.Mutex
	seen map[string]bool
}

// label returns the label of queue.
func (l *queueLabels) label(queue string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[queue] {
		return queue
	}
	if len(l.seen) >= MaxQueueLabels {
		return OtherQueue
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[queue] = true
	return queue
}
