package worker

import (
	"context"
	"errors"
	"slices"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// Finisher is a handler's last write, which the pool commits in the
// transaction that completes the job. The completer gathers the finishers
// of many jobs into one transaction, where their FinishBatch writes them
// with as few statements as it can, so that a batch of jobs costs one
// durable commit instead of one each, and each write commits exactly when
// its job counts as completed.
//
// A handler hands one over by returning CompleteWith(f), which it may do
// only when CanFinishLater(ctx) reports true. Its methods are called from
// the completer's goroutine, after the handler has returned, one at a time.
type Finisher interface {
	// Batch returns what writes this finisher: the finishers of one
	// flush whose Batch is the same are written by one FinishMany call.
	Batch() FinishBatch
	// Committed is called once the transaction that held the write, and
	// completed the job, has committed.
	Committed()
	// Alone is called when the write could not commit with a batch, for
	// a reason that is not an outage. err is the error that FinishMany
	// blamed on this finisher, whose write rolled back: Alone handles it
	// as the handler would have handled it from a write of its own. err
	// is nil when the batch failed as a whole: Alone then makes the write
	// by itself, as the handler would have without the pool's help. It
	// returns what the handler would then have returned: nil completes
	// the job, an error fails the attempt as a handler's error does.
	Alone(ctx context.Context, err error) error
}

// FinishBatch writes the finishers of many jobs in one transaction.
type FinishBatch interface {
	// FinishMany makes the writes of fs, whose Batch is this one, in tx.
	// Every write must be fenced by its job's lease token (as
	// storage.ExecutionSetStatusParams.Job fences one), so that nothing
	// is written for a job whose lease was lost; such a job is not
	// completed either. It may be called more than once for a finisher,
	// when a batch is rolled back and written again. When the write of
	// one finisher fails, FinishMany returns its index in fs with the
	// error: the transaction is rolled back, the others are written again
	// without it, and its Alone is called with the error. Any other error
	// (bad is -1) rolls back the batch too: after an outage it is written
	// again later, otherwise each finisher's Alone is called with nil.
	FinishMany(ctx context.Context, tx storage.Store, fs []Finisher) (bad int, err error)
}

// CompleteWith returns what a handler returns to complete its job with f's
// write, committed in one transaction with the job's completion (see
// Finisher). Call it only when CanFinishLater(ctx) is true.
func CompleteWith(f Finisher) error { return &completeWith{f: f} }

// completeWith is the handler result that CompleteWith returns. It is an
// error only so that it fits HandlerFunc; it means success.
type completeWith struct{ f Finisher }

func (c *completeWith) Error() string { return "complete with the handler's last write" }

// IsCompleteWith reports whether err is a handler's CompleteWith, which
// completes the job, as nil does.
func IsCompleteWith(err error) bool {
	_, ok := errors.AsType[*completeWith](err)
	return ok
}

// finishLaterKey marks the context of a handler that may return
// CompleteWith.
type finishLaterKey struct{}

// CanFinishLater reports whether the handler that ctx was given to runs in
// a pool that commits a Finisher, so that it may return CompleteWith. It
// is false for a handler called any other way (such as by a test), which
// must then make its last write itself.
func CanFinishLater(ctx context.Context) bool {
	ok, _ := ctx.Value(finishLaterKey{}).(bool)
	return ok
}

// txStore is a pool store that runs transactions: what the completer needs
// to commit finishers. A store without InTx has each Finisher write alone.
type txStore interface {
	InTx(ctx context.Context, fn func(tx storage.Store) error) error
}

// finish commits the finishers of g, with their jobs' completions, in one
// transaction. A finisher that FinishMany blames for an error is taken out
// of the batch, which is then written again without it, and handles the
// error alone; every finisher of a batch that fails as a whole, for a
// reason that is not an outage, writes alone. It returns the outcomes the
// finishers that went alone ended with, to be written as any other
// (complete, fail or drop), and, after an outage, the outcomes still to be
// written with the error.
func (p *Pool) finish(g []outcome) (alone, left []outcome, err error) {
	st, ok := p.store.(txStore)
	if !ok {
		return p.finishAlone(g, nil), nil, nil
	}
	// The finishers of one batch side by side, batches in the order they
	// first appear.
	first := map[FinishBatch]int{}
	for i, o := range g {
		if _, ok := first[o.finisher.Batch()]; !ok {
			first[o.finisher.Batch()] = i
		}
	}
	g = slices.Clone(g)
	slices.SortStableFunc(g, func(a, b outcome) int { return first[a.finisher.Batch()] - first[b.finisher.Batch()] })
	for len(g) > 0 {
		ids, bad, err := p.finishTx(st, g)
		switch {
		case err == nil:
			written := make(map[int64]bool, len(ids))
			for _, id := range ids {
				written[id] = true
			}
			for _, o := range g {
				if written[o.job.ID] {
					o.finisher.Committed()
				}
			}
			p.settle(g, ids)
			return alone, nil, nil
		case bad >= 0:
			// Blamed on one finisher, even when the error looks like an
			// outage: a failure of that finisher's own writes (its alert
			// rules, say) that repeats must not hold back the batch, and
			// every later one, for ever. Written alone, it fails its
			// attempt if the store is really down, and its job runs again.
			p.log.Info("a job's last write failed in a batch; the others are written without it",
				"job_id", g[bad].job.ID, "error", err)
			alone = append(alone, p.finishAlone(g[bad:bad+1], err)...)
			g = slices.Delete(g, bad, bad+1)
		case outage(err):
			return alone, g, err
		default:
			p.log.Warn("the store did not take a batch of jobs' last writes; writing them one by one",
				"jobs", len(g), "error", err)
			return append(alone, p.finishAlone(g, nil)...), nil, nil
		}
	}
	return alone, nil, nil
}

// finishTx has the batches of g, whose finishers of one batch are side by
// side, write them, and completes their jobs, in one transaction; it
// returns the IDs of the jobs it completed. When FinishMany blamed a
// finisher, bad is its index in g; otherwise it is -1.
func (p *Pool) finishTx(st txStore, g []outcome) (ids []int64, bad int, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.storeTimeout())
	defer cancel()
	bad = -1
	err = st.InTx(ctx, func(tx storage.Store) error {
		refs := make([]storage.JobRef, len(g))
		for i, o := range g {
			refs[i] = storage.JobRef{ID: o.job.ID, Token: o.job.LeaseToken}
		}
		for start := 0; start < len(g); {
			b := g[start].finisher.Batch()
			end := start + 1
			for end < len(g) && g[end].finisher.Batch() == b {
				end++
			}
			fs := make([]Finisher, end-start)
			for i := range fs {
				fs[i] = g[start+i].finisher
			}
			if i, err := b.FinishMany(ctx, tx, fs); err != nil {
				if i >= 0 && i < len(fs) {
					bad = start + i
				}
				return err
			}
			start = end
		}
		var err error
		ids, err = tx.JobCompleteMany(ctx, refs)
		return err
	})
	if err != nil {
		return nil, bad, err
	}
	return ids, -1, nil
}

// finishAlone calls Alone of each finisher of g with err, the error of
// its Finish or nil, and returns the outcome of each, as the handler's
// result would have made it.
func (p *Pool) finishAlone(g []outcome, ferr error) []outcome {
	out := make([]outcome, len(g))
	for i, o := range g {
		ctx, cancel := context.WithTimeout(context.Background(), p.storeTimeout())
		err := o.finisher.Alone(ctx, ferr)
		cancel()
		if IsCompleteWith(err) {
			err = errors.New("a job's last write, written alone, asked to be written later")
		}
		next := p.outcomeOf(o.job, err, o.cause)
		next.took = o.took
		out[i] = next
	}
	return out
}
