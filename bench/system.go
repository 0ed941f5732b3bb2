package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// queueSystem is one job queue under test. Each method starts from a clean
// queue of its own and closes everything it opened before it returns.
type queueSystem interface {
	// Burndown enqueues n no-op jobs, untimed, then works them to zero
	// with w workers and returns jobs/s, counted when the queue holds no
	// unfinished job.
	Burndown(ctx context.Context, n, w int) (float64, error)
	// EnqueueBatch inserts n jobs in batches of batch rows and returns
	// rows/s.
	EnqueueBatch(ctx context.Context, n, batch int) (float64, error)
	// EnqueueSingle inserts n jobs one at a time, one transaction each, from
	// one goroutine, and returns rows/s.
	EnqueueSingle(ctx context.Context, n int) (float64, error)
	// Latency enqueues one job at a time at rate jobs/s for d, with w
	// workers running, and returns the time from each enqueue call's
	// return to its handler's start.
	Latency(ctx context.Context, rate float64, d time.Duration, w int) (*latencies, error)
}

// noopKind is the job kind of every benchmark job.
const noopKind = "bench_noop"

// batchSize is the enqueue batch of the burn-down set-up, as in River's own
// benchmark.
const batchSize = 5000

// drainTimeout bounds one burn-down.
const drainTimeout = 30 * time.Minute

// burnDown counts a burn-down's handled jobs.
type burnDown struct {
	n       int64
	handled atomic.Int64
	all     chan struct{} // Closed when the n-th job is handled.
}

func newBurnDown(n int) *burnDown { return &burnDown{n: int64(n), all: make(chan struct{})} }

// handle counts one handled job.
func (b *burnDown) handle() {
	if b.handled.Add(1) == b.n {
		close(b.all)
	}
}

// wait waits until every job was handled and then until probe shows no
// unfinished job, so that the last outcomes written are counted, and
// returns when that was.
func (b *burnDown) wait(ctx context.Context, probe liveProbe) (time.Time, error) {
	select {
	case <-b.all:
	case <-time.After(drainTimeout):
		return time.Time{}, fmt.Errorf("burn-down timed out with %d of %d jobs handled", b.handled.Load(), b.n)
	}
	return waitDrained(ctx, probe, 5*time.Millisecond)
}

// pickups records, for the latency workload, when each job's enqueue call
// returned and when its handler started, in nanoseconds since start.
type pickups struct {
	start    time.Time
	enqueued []atomic.Int64
	started  []atomic.Int64
	left     atomic.Int64
	done     chan struct{}
}

func newPickups(n int) *pickups {
	p := &pickups{
		start:    time.Now(),
		enqueued: make([]atomic.Int64, n),
		started:  make([]atomic.Int64, n),
		done:     make(chan struct{}),
	}
	p.left.Store(int64(n))
	return p
}

// handled records the start of job seq's handler.
func (p *pickups) handled(seq int) {
	if seq < 0 || seq >= len(p.started) {
		return
	}
	if p.started[seq].CompareAndSwap(0, int64(time.Since(p.start))+1) && p.left.Add(-1) == 0 {
		close(p.done)
	}
}

// run calls enqueue(seq) n times at rate per second, paced from the start
// time, and records when each call returned. It then waits for every
// handler to have started.
func (p *pickups) run(ctx context.Context, rate float64, enqueue func(seq int) error) (*latencies, error) {
	n := len(p.enqueued)
	interval := time.Duration(float64(time.Second) / rate)
	begin := time.Now()
	for i := range n {
		if wait := time.Until(begin.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if err := enqueue(i); err != nil {
			return nil, fmt.Errorf("enqueue job %d: %w", i, err)
		}
		p.enqueued[i].Store(int64(time.Since(p.start)))
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%d of %d jobs never started", p.left.Load(), n)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l := &latencies{d: make([]time.Duration, n)}
	for i := range n {
		// A handler can start before the enqueue call has returned; that
		// counts as zero.
		l.d[i] = max(time.Duration(p.started[i].Load()-1-p.enqueued[i].Load()), 0)
	}
	slices.Sort(l.d)
	return l, nil
}

// latencies is a sorted sample of durations.
type latencies struct{ d []time.Duration }

// quantile returns the q-quantile by nearest rank.
func (l *latencies) quantile(q float64) time.Duration {
	if len(l.d) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(l.d)))) - 1
	return l.d[min(max(i, 0), len(l.d)-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
