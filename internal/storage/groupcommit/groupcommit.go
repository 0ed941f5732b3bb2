// Package groupcommit runs the transactions of concurrent callers in one
// database transaction (group commit): on Postgres one synchronous WAL flush,
// on SQLite one write transaction, for many calls.
//
// A Group has no goroutine and no timer of its own. A call joins a FIFO
// queue; if no batch is running it leads at once, so a lone call waits for
// nothing. Otherwise it waits, and the calls that queue up while a batch
// commits form the next batch, led by the oldest of them: batches grow with
// the load by themselves.
package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Group batches InTx calls over one store. Its zero value is not usable;
// make one with New. It is safe for concurrent use.
type Group struct {
	store storage.Store
	max   int

	mu      sync.Mutex
	queue   []*call // Calls no batch has taken yet, oldest first.
	running bool    // A batch is running; its leader will hand on.
}

// call is one InTx call that waits. Before it signals wake, the leader of
// its batch sets alone and err, or the leader of the batch before sets
// lead.
type call struct {
	ctx  context.Context
	fn   func(tx storage.Store) error
	wake chan struct{} // Signalled once, by the leader that set the fields below.

	lead  bool  // The call leads the next batch.
	alone bool  // The call has not run to a commit: it must run alone.
	err   error // The call's result, when alone is false.
}

// New returns a Group that runs up to maxBatch calls in one transaction of
// store. A maxBatch below 1 is taken as 1, which runs every call alone.
func New(store storage.Store, maxBatch int) *Group {
	return &Group{store: store, max: max(maxBatch, 1)}
}

// InTx runs fn in a transaction of the Group's store, as storage.Store's
// InTx does, but possibly in the same transaction as the fns of concurrent
// calls, each with the Store bound to that transaction. Its result is fn's
// own: nil once the transaction that holds fn's writes has committed, or
// the error of fn, of its transaction, or of ctx if ctx is done before fn
// runs, in which case fn does not run (a call whose ctx ends while it waits
// in the queue returns at once).
//
// fn may run more than once, as in any transaction that is retried: when a
// shared transaction fails, for any call's error (but a Refuse) or at a
// commit that rolled back, it rolls back and each of its calls runs again
// alone. fn
// must therefore set what it captures afresh on each run. What commits is
// at most one successful run of fn, the one whose result InTx returns; a
// call that fails commits nothing. When the store is unavailable at the
// shared BEGIN or COMMIT (storage.ErrUnavailable), the commit's outcome is
// unknown, so nothing runs again: every call of the batch gets that error,
// as a transaction of its own would have given it. fn should use ctx for
// its statements, not the context its transaction began with.
//
// If fn panics, InTx panics too, in the caller's goroutine, after the
// transaction rolled back: when fn panicked in a shared transaction, its
// neighbours run again alone, and so does fn, in its own caller's goroutine,
// where it may panic again.
func (g *Group) InTx(ctx context.Context, fn func(tx storage.Store) error) error {
	c := &call{ctx: ctx, fn: fn, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		if err := g.wait(c); err != nil {
			return err
		}
		lead = c.lead
	}
	if lead {
		g.lead()
	}
	if c.alone {
		return g.store.InTx(ctx, fn)
	}
	return c.err
}

// wait waits for the wake-up of c, a queued call. If c's context ends
// first while c is still in the queue, and has not been handed the lead,
// c leaves the queue and wait returns the context's error: c has not run,
// and its caller need not wait for the batches ahead of it. Once a batch
// has taken c, or c leads the next one, it waits for that as before.
func (g *Group) wait(c *call) error {
	select {
	case <-c.wake:
		return nil
	case <-c.ctx.Done():
	}
	g.mu.Lock()
	i := slices.Index(g.queue, c)
	if i < 0 || c.lead {
		// A batch took c, or handOff made it the next leader (and
		// signalled wake, under g.mu).
		g.mu.Unlock()
		<-c.wake
		return nil
	}
	g.queue = slices.Delete(g.queue, i, i+1)
	g.mu.Unlock()
	return fmt.Errorf("transaction not started: %w", c.ctx.Err())
}

// Queued returns how many calls wait for a batch to take them, behind the
// one that is running. It is for tests and metrics.
func (g *Group) Queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// lead takes up to max calls from the head of the queue, the first being
// the leader's own, runs them, and hands the lead on, even if a call
// panics.
func (g *Group) lead() {
	g.mu.Lock()
	n := min(len(g.queue), g.max)
	batch := slices.Clone(g.queue[:n])
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()
	defer g.handOff()
	g.run(batch)
}

// handOff makes the oldest queued call the leader of the next batch, or
// marks the Group idle when none waits.
func (g *Group) handOff() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.queue) == 0 {
		g.running = false
		return
	}
	next := g.queue[0]
	next.lead = true
	next.wake <- struct{}{}
}

// run runs a batch whose first call is the running goroutine's own. The
// others (followers) are woken when it returns, however it returns; any
// call that has not run to a commit by then is left to run alone, in its
// own goroutine, so that no call is lost and a panic surfaces in the
// goroutine whose fn panicked.
func (g *Group) run(batch []*call) {
	for _, c := range batch {
		c.alone = true
	}
	defer func() {
		for _, c := range batch[1:] {
			c.wake <- struct{}{}
		}
	}()

	live := make([]*call, 0, len(batch))
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.alone, c.err = false, fmt.Errorf("transaction not started: %w", err)
			continue
		}
		live = append(live, c)
	}
	switch {
	case len(live) == 0:
		return
	case len(live) == 1:
		if c := live[0]; c == batch[0] {
			// The leader's own call, alone: a plain transaction, in the
			// goroutine that made the call, so a panic needs no care.
			c.alone, c.err = false, g.store.InTx(c.ctx, c.fn)
		}
		return
	}

	ctx, cancel := sharedContext(live)
	defer cancel()
	fnFailed := false
	refused := map[*call]error{}
	err := g.store.InTx(ctx, func(tx storage.Store) error {
		shared := &sharedTx{Store: tx}
		clear(refused)
		for _, c := range live {
			collected := shared.items()
			err := c.runIn(shared)
			if err == nil {
				continue
			}
			if _, ok := errors.AsType[*refusal](err); ok && shared.items() == collected {
				refused[c] = err // Wrote nothing: the others go on.
				continue
			}
			fnFailed = true
			return err
		}
		if err := shared.flush(ctx); err != nil {
			fnFailed = true
			return err
		}
		return nil
	})
	switch {
	case err == nil:
		for _, c := range live {
			c.alone, c.err = false, refused[c]
		}
	case !fnFailed && (errors.Is(err, storage.ErrUnavailable) || ctx.Err() != nil):
		// Every fn ran, and the store failed to begin or to commit, or
		// the shared deadline (the calls' latest) passed meanwhile: the
		// transaction may have committed after all. Each call gets the
		// error, as its own transaction would have given it, and runs
		// no more, so that no write is made twice. (A call's own
		// context, with that same deadline, may not report it yet, so
		// a rerun's BEGIN could still go through.)
		for _, c := range live {
			c.alone, c.err = false, err
			if r := refused[c]; r != nil {
				c.err = r // It wrote nothing either way.
			}
		}
	default:
		// Rolled back: every live call runs again alone.
	}
}

// runIn runs c.fn in the shared transaction tx. A panic becomes an error,
// which rolls tx back; c then runs again alone in its caller's goroutine.
func (c *call) runIn(tx storage.Store) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("transaction function panicked: %v", p)
		}
	}()
	return c.fn(tx)
}

// sharedContext returns the context of a transaction shared by calls: the
// values of the first call's context, but no call's cancellation, so that
// no caller that goes away ends its neighbours' transaction. It ends at the
// latest of the calls' deadlines, when each has one. Each fn still uses its
// own caller's context for its statements.
func sharedContext(calls []*call) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(calls[0].ctx)
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return ctx, func() {}
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(ctx, latest)
}

// sharedTx is the Store that the fns of a shared transaction get: the
// transaction's, and the items they hand to Collect, by Collector, to be
// written when every fn has run.
type sharedTx struct {
	storage.Store
	pending []pending
}

// pending is what one Collector has been given in a shared transaction.
type pending interface {
	flush(ctx context.Context, tx storage.Store) error
	len() int
}

// items returns how many items the fns have handed to Collect so far.
func (t *sharedTx) items() int {
	n := 0
	for _, p := range t.pending {
		n += p.len()
	}
	return n
}

// flush writes what the fns collected, Collector by Collector in the order
// each was first used.
func (t *sharedTx) flush(ctx context.Context) error {
	for _, p := range t.pending {
		if err := p.flush(ctx, t.Store); err != nil {
			return err
		}
	}
	return nil
}

// Collector writes, with one Write, the items that the fns of a shared
// transaction hand it with Collect: many rows in one statement instead of
// one each. Use one Collector, made once, for each kind of item.
type Collector[T any] struct {
	// Write writes items, in the order they were collected, in tx. Its
	// error fails the shared transaction, whose calls then run again
	// alone. It must leave in each item what its fn's caller reads.
	Write func(ctx context.Context, tx storage.Store, items []T) error
}

// collected is a Collector's items in one shared transaction.
type collected[T any] struct {
	c     *Collector[T]
	items []T
}

func (p *collected[T]) flush(ctx context.Context, tx storage.Store) error {
	return p.c.Write(ctx, tx, p.items)
}

func (p *collected[T]) len() int { return len(p.items) }

// Refuse wraps err, the error of a fn that refused its call before it
// wrote anything, collected nothing, and ran no statement that failed:
// a row it read is missing, or input it checked is bad. In a shared
// transaction, that call gets err and the other calls go on without it,
// instead of all of them running again alone; the transaction stays usable,
// since nothing of the call's is in it. Any other error of a fn, or a
// refusal after Collect, rolls the shared transaction back. Outside one, it
// is an error like any other. The wrapper changes neither err's text nor
// what errors.Is and errors.As find in it.
func Refuse(err error) error {
	if err == nil {
		return nil
	}
	return &refusal{err: err}
}

// refusal is an error that Refuse wrapped.
type refusal struct{ err error }

func (r *refusal) Error() string { return r.err.Error() }

func (r *refusal) Unwrap() error { return r.err }

// Collect hands item to c, to be written in tx. In a shared transaction
// of a Group, the Write comes after every fn of the batch has run, with
// the items of all of them, and Collect returns nil; the item holds what
// Write leaves in it once InTx has returned nil. Otherwise (tx is not a
// Group's shared transaction, as for a lone call), it writes item at once,
// with a Write of its own, and returns Write's error.
func Collect[T any](ctx context.Context, tx storage.Store, c *Collector[T], item T) error {
	shared, ok := tx.(*sharedTx)
	if !ok {
		return c.Write(ctx, tx, []T{item})
	}
	for _, p := range shared.pending {
		if mine, ok := p.(*collected[T]); ok && mine.c == c {
			mine.items = append(mine.items, item)
			return nil
		}
	}
	shared.pending = append(shared.pending, &collected[T]{c: c, items: []T{item}})
	return nil
}
