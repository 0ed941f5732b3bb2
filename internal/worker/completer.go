package worker

import (
	"context"
	"errors"
	"time"

	"github.com/astro-runner/astro-runner/internal/storage"
)

// complete writes outcomes in batches: when CompleteBatch have gathered or
// CompleteDelay has passed since the first, and once more when results is
// closed. Outcomes that meet an outage (storage.ErrUnavailable, a timeout)
// are kept and retried with backoff, so none is lost while the pool runs;
// the job's lease keeps being extended until its outcome is written. Any
// other error is tracked down to the outcome at fault (see flush), so one
// bad outcome cannot hold up the others.
func (p *Pool) complete() {
	var pending []outcome
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	backoff := time.Duration(0)
	for {
		var fire <-chan time.Time
		if len(pending) > 0 {
			fire = timer.C
		}
		select {
		case o, ok := <-p.results:
			if !ok {
				p.flushAtShutdown(pending)
				return
			}
			if len(pending) == 0 {
				timer.Reset(p.cfg.CompleteDelay)
			}
			pending = append(pending, o)
			if len(pending) < p.cfg.CompleteBatch {
				continue
			}
		case <-fire:
		}
		rest, err := p.flush(pending)
		pending = append(pending[:0], rest...)
		if err != nil {
			p.outage.fail("record job outcomes", err)
			backoff = min(max(2*backoff, 100*time.Millisecond), 2*time.Second)
			timer.Reset(backoff)
			continue
		}
		p.outage.ok()
		backoff = 0
	}
}

// flushAtShutdown writes the last outcomes, retrying for up to a minute
// (shutdownFlush).
func (p *Pool) flushAtShutdown(pending []outcome) {
	deadline := time.Now().Add(p.shutdownFlush)
	for len(pending) > 0 {
		rest, err := p.flush(pending)
		pending = rest
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.log.Error("could not record job outcomes at shutdown; their leases will expire and the jobs run again",
				"jobs", len(pending), "error", err)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// flush writes one batch of outcomes, one statement per kind (the jobs
// completed with a Finisher: one transaction, see finish), and returns
// the outcomes still to be written with the error that stopped them. A
// statement that fails with anything but an outage is retried outcome by
// outcome (see writeEach), so that only the outcome at fault is held back.
func (p *Pool) flush(batch []outcome) (rest []outcome, err error) {
	var groups [outcomeFinish + 1][]outcome
	for _, o := range batch {
		groups[o.kind] = append(groups[o.kind], o)
	}
	if g := groups[outcomeFinish]; len(g) > 0 {
		// First, since a finisher that has to write alone ends with an
		// outcome of another kind.
		alone, left, ferr := p.finish(g)
		for _, o := range alone {
			groups[o.kind] = append(groups[o.kind], o)
		}
		rest, err = left, ferr
	}
	p.forget(groups[outcomeDrop])
	for i := range groups[outcomeDrop] {
		p.observe(&groups[outcomeDrop][i], OutcomeLeaseLost)
	}
	for _, kind := range []outcomeKind{outcomeComplete, outcomeFail, outcomeRelease} {
		g := groups[kind]
		if len(g) == 0 {
			continue
		}
		if err != nil && outage(err) {
			rest = append(rest, g...)
			continue
		}
		ids, werr := p.write(kind, g)
		switch {
		case werr == nil:
			p.settle(g, ids)
		case outage(werr):
			err = werr
			rest = append(rest, g...)
		default:
			p.log.Warn("the store did not take a batch of job outcomes; writing them one by one",
				"jobs", len(g), "error", werr)
			left, werr := p.writeEach(g)
			rest = append(rest, left...)
			if werr != nil {
				err = werr
			}
		}
	}
	return rest, err
}

// maxOutcomeStrikes is how many times an outcome's own write may fail with
// an error that is neither a refusal nor an outage before it is dropped.
const maxOutcomeStrikes = 10

// writeEach writes outcomes of one kind one at a time. An outcome the
// store refuses is, for a failure, written again with its error text cut
// down to printable ASCII; if the store refuses that too, or the outcome is
// not a failure, it is dropped and logged: the job's lease then expires and
// the rescuer hands it to a worker again. An outage stops the writes and
// returns the outcomes not yet written, to be retried. Any other error (a
// driver error no adapter maps) counts a strike against that outcome, which
// is kept for the next flush, or dropped like a refused one at its
// maxOutcomeStrikes-th strike.
func (p *Pool) writeEach(g []outcome) (left []outcome, last error) {
	for i, o := range g {
		ids, err := p.write(o.kind, g[i:i+1])
		if refused(err) && o.kind == outcomeFail {
			p.log.Warn("the store refused a job's error text; recording a plain ASCII copy",
				"job_id", o.job.ID, "error", err)
			plain := *o.fail
			plain.Error = asciiErrorText(plain.Error)
			o.fail = &plain
			ids, err = p.write(o.kind, []outcome{o})
		}
		switch {
		case err == nil:
			p.settle([]outcome{o}, ids)
		case outage(err):
			return append(left, g[i:]...), err
		case !refused(err) && o.strikes+1 < maxOutcomeStrikes:
			o.strikes++
			left = append(left, o)
			last = err
		default:
			p.log.Error("the store did not take a job outcome; dropping it, the job runs again once its lease expires",
				"job_id", o.job.ID, "error", err)
			p.forget([]outcome{o})
		}
	}
	return left, last
}

// write writes outcomes of one kind in one statement, and returns the IDs
// of the jobs whose outcome was recorded.
func (p *Pool) write(kind outcomeKind, g []outcome) ([]int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), p.storeTimeout())
	defer cancel()
	if kind == outcomeFail {
		fails := make([]*storage.JobFailParams, len(g))
		for i, o := range g {
			fails[i] = o.fail
		}
		return p.store.JobFailMany(ctx, fails)
	}
	refs := make([]storage.JobRef, len(g))
	for i, o := range g {
		refs[i] = storage.JobRef{ID: o.job.ID, Token: o.job.LeaseToken}
	}
	if kind == outcomeComplete {
		return p.store.JobCompleteMany(ctx, refs)
	}
	return p.store.JobRelease(ctx, refs)
}

// settle forgets written outcomes' jobs, and logs those whose outcome the
// store did not record because the pool no longer held their lease.
func (p *Pool) settle(g []outcome, ids []int64) {
	p.unvacuumed.Add(int64(len(ids)))
	written := make(map[int64]bool, len(ids))
	for _, id := range ids {
		written[id] = true
	}
	for i := range g {
		o := &g[i]
		if !written[o.job.ID] {
			p.log.Warn("job outcome not recorded: lease lost, the job may run again", "job_id", o.job.ID)
			p.observe(o, OutcomeLeaseLost)
			continue
		}
		p.observe(o, o.ended)
	}
	p.forget(g)
}

// forget stops renewing the leases of the outcomes' jobs.
func (p *Pool) forget(g []outcome) {
	if len(g) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, o := range g {
		p.forgetLocked(storage.JobRef{ID: o.job.ID, Token: o.job.LeaseToken})
	}
}

// refused reports whether the store refused a write for what it was asked
// to write (storage.ErrInvalidInput), so that writing it again cannot
// succeed.
func refused(err error) bool {
	return errors.Is(err, storage.ErrInvalidInput)
}

// outage reports whether a write failed because the store could not be
// reached or did not answer in time (an outage, an interrupted statement, a
// failover), which writing it again later can cure.
func outage(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled)
}
